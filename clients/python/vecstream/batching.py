"""Sending many items (points, queries) in requests that fit the server's limits.

The server's limits (points per upsert, queries per batch, bytes per request) are its own
configuration and not advertised. A request above one is refused with RESOURCE_EXHAUSTED and
changes nothing, so the clients send batches of ``batch_size`` items and, when one is refused
that way, split it in halves and go on with the smaller size. Upserts and deletes are idempotent
by id, so nothing is applied twice.
"""

from .errors import VecstreamError


def send_in_batches(items, batch_size, send):
    """Calls ``send(chunk)`` on consecutive chunks of ``items`` and returns the list of its
    results, in order. ``send`` raises VecstreamError; RESOURCE_EXHAUSTED on a chunk of more than
    one item splits it, any other error propagates (chunks sent before it stay applied)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    results = []
    size = batch_size
    pos = 0
    while pos < len(items):
        chunk = items[pos:pos + size]
        try:
            results.append(send(chunk))
            pos += len(chunk)
        except VecstreamError as e:
            if e.code != "RESOURCE_EXHAUSTED" or len(chunk) == 1:
                raise
            size = max(1, len(chunk) // 2)
    return results
