"""What the server-backed tests share: the server's addresses and keys from the environment, set
by tests/app/python_client_test.cc (which starts `vecstream serve` on free loopback ports):

    VECSTREAM_TEST_REST_URL       http://127.0.0.1:PORT
    VECSTREAM_TEST_GRPC_ADDRESS   127.0.0.1:PORT
    VECSTREAM_TEST_ADMIN_KEY      an admin API key configured on that server
    VECSTREAM_TEST_READ_KEY       a read-only API key
    VECSTREAM_TEST_MAX_UPSERT     the server's query.max_upsert_points
    VECSTREAM_TEST_MAX_BATCH      the server's query.max_batch_queries

Without them the server-backed tests are skipped (the wrapper test fails on any skip).
"""

import os
import random
import socket
import unittest

ENV = ("VECSTREAM_TEST_REST_URL", "VECSTREAM_TEST_GRPC_ADDRESS", "VECSTREAM_TEST_ADMIN_KEY",
       "VECSTREAM_TEST_READ_KEY", "VECSTREAM_TEST_MAX_UPSERT", "VECSTREAM_TEST_MAX_BATCH")


def server_env():
    """The environment above as a dict; unittest.SkipTest when it is not set."""
    missing = [k for k in ENV if not os.environ.get(k)]
    if missing:
        raise unittest.SkipTest(f"no server: {', '.join(missing)} unset "
                                "(run `ctest -R app_python_client_test`)")
    return {k: os.environ[k] for k in ENV}


def free_port():
    """A loopback port nobody listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def random_vectors(n, dim, seed):
    rng = random.Random(seed)
    return [[rng.uniform(-1.0, 1.0) for _ in range(dim)] for _ in range(n)]


def brute_force(vectors, query, k, keep=lambda i: True):
    """Ids (indexes) of the k nearest vectors by squared L2, among those keep() accepts."""
    scored = sorted((sum((a - b) ** 2 for a, b in zip(v, query)), i)
                    for i, v in enumerate(vectors) if keep(i))
    return [i for _, i in scored[:k]]
