"""Client: Vecstream's REST API (routes under /v1, openapi/vecstream.yaml) with nothing but the
Python standard library (http.client, ssl, json).

    from vecstream import Client, VecstreamError
    c = Client("http://127.0.0.1:8080", api_key=None)
    c.create_collection("docs", dim=3, metric="cosine")
    c.upsert("docs", [{"id": 1, "vector": [0.1, 0.2, 0.3], "payload": {"lang": "en"}}])
    hits = c.search("docs", [0.1, 0.2, 0.3], k=5, filter={"field": "lang", "eq": "en"})

Every method raises VecstreamError (code, message, http_status) for an error answer, and
VecstreamError("UNAVAILABLE", ...) when the server cannot be reached; nothing else escapes but
TypeError/ValueError for arguments that are wrong before anything is sent.

Threading: a Client may be shared by threads; each thread keeps its own kept-alive connection.
"""

import http.client
import json
import math
import socket
import ssl
import threading
import urllib.parse

from .batching import send_in_batches
from .collection import Collection
from .errors import VecstreamError, code_for_http_status
from .models import (Point, ScoredPoint, SearchResult, WriteAck, as_point, as_vector, batch_queries,
                     check_id, search_options)

DEFAULT_URL = "http://127.0.0.1:8080"  # `vecstream serve`'s default http.host and http.port


def _segment(s):
    return urllib.parse.quote(str(s), safe="")


def _search_body(vector, o):
    """One query as the REST API's SearchRequest (unset knobs left to the server)."""
    body = {"vector": vector, "k": o["k"]}
    if o["filter"] is not None:
        body["filter"] = o["filter"]
    for key, wire in (("ef", "ef"), ("nprobe", "nprobe"), ("rerank", "rerank_factor")):
        if o[key] is not None:
            body[wire] = o[key]
    for key in ("exact", "with_payload", "with_vector", "streaming"):
        if o[key]:
            body[key] = True
    if not o["use_cache"]:
        body["use_cache"] = False
    return body


def _number(x):
    """A float of the answer; the server writes a non-finite float as null."""
    return math.nan if x is None else float(x)


def _search_result(r):
    pts = [ScoredPoint(id=p["id"], score=_number(p["score"]), distance=_number(p["distance"]),
                       payload=p.get("payload"),
                       vector=[_number(x) for x in p["vector"]] if "vector" in p else None)
           for p in r.get("points", [])]
    return SearchResult(points=pts, server_seconds=r.get("server_seconds", 0.0),
                        cached=r.get("cached", False))


class Client:
    """A connection to ``vecstream serve``'s REST API.

    Args:
        url: ``http://host:port`` or ``https://host:port``, optionally with a base path.
        api_key: sent as ``Authorization: Bearer <key>`` when the server has keys configured.
        ca_cert: PEM file of the CA that signed an https server's certificate (default: the
            system's trust store).
        timeout: seconds to connect and to wait for each answer.
        batch_size: points per upsert request and queries per batch request (split further if
            the server answers RESOURCE_EXHAUSTED).
        ssl_context: an ssl.SSLContext to use instead of one built from ca_cert.
    """

    def __init__(self, url=DEFAULT_URL, api_key=None, ca_cert=None, timeout=30.0, batch_size=1000,
                 ssl_context=None):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url {url!r}: expected http://HOST[:PORT] or https://HOST[:PORT]")
        if parts.query or parts.fragment:
            raise ValueError(f"url {url!r}: no query or fragment allowed")
        try:
            port = parts.port
        except ValueError as e:
            raise ValueError(f"url {url!r}: {e}") from None
        self.url = url.rstrip("/")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = port or (443 if self._https else 80)
        self._base = parts.path.rstrip("/")
        self._timeout = timeout
        self._batch_size = batch_size
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._ssl = None
        if self._https:
            self._ssl = ssl_context or ssl.create_default_context(cafile=ca_cert)
        elif ca_cert or ssl_context:
            raise ValueError("ca_cert / ssl_context are for https:// URLs")
        self._local = threading.local()

    # ---- transport ----

    def _connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._https:
                conn = http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout,
                                                   context=self._ssl)
            else:
                conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
            self._local.conn = conn
            self._local.used = False
        return conn

    def _drop_connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    def _request(self, method, path, body=None):
        """Sends one request; the parsed JSON of a 2xx answer, else raises VecstreamError."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        target = self._base + path
        for attempt in range(2):
            conn = self._connection()
            reused = self._local.used
            try:
                conn.request(method, target, body=data, headers=self._headers)
                resp = conn.getresponse()
                raw = resp.read()
                self._local.used = True
                if resp.will_close:
                    self._drop_connection()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                # A kept-alive connection the server closed while it was idle: once more on a
                # fresh one. A fresh connection failing this way is a real failure.
                self._drop_connection()
                if reused and attempt == 0:
                    continue
                raise VecstreamError("UNAVAILABLE", f"{self.url}: connection lost ({e})") from None
            except ssl.SSLError as e:
                self._drop_connection()
                raise VecstreamError("UNAVAILABLE", f"{self.url}: TLS failed ({e})") from None
            except socket.timeout:
                self._drop_connection()
                raise VecstreamError("DEADLINE_EXCEEDED",
                                     f"{self.url}: no answer within {self._timeout} s") from None
            except OSError as e:
                self._drop_connection()
                raise VecstreamError("UNAVAILABLE", f"cannot connect to {self.url}: {e}") from None
        text = raw.decode("utf-8", errors="replace")
        try:
            doc = json.loads(text) if text else None
        except ValueError:
            doc = None
        if 200 <= resp.status < 300:
            if doc is None:
                raise VecstreamError("INTERNAL", f"the server's answer is not JSON: {text[:200]}",
                                     resp.status)
            return doc
        err = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(err, dict) and "code" in err:
            raise VecstreamError(err["code"], err.get("message", ""), resp.status)
        raise VecstreamError(code_for_http_status(resp.status),
                             f"HTTP {resp.status}: {text[:200]}", resp.status)

    def close(self):
        """Closes this thread's connection (others close when their threads end)."""
        self._drop_connection()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- operations ----

    def ready(self):
        """Whether the server answers /readyz with 200 (collections recovered, serving)."""
        try:
            self._request("GET", "/readyz")
            return True
        except VecstreamError:
            return False

    def stats(self):
        """Statistics of every collection the caller may read (and of the result cache)."""
        return self._request("GET", "/v1/stats")

    # ---- collections ----

    def create_collection(self, name, dim, metric=None, shards=None, index=None, **config):
        """Creates a collection; returns its description {"config": ..., "stats": ...}.
        ``index`` is a kind ("hnsw", "flat", ...) or a dict {"kind": ..., "m": ...}; other keys of
        the collection configuration (fsync, seal_rows, ...) go in ``config``."""
        body = {"name": name, "dim": dim}
        if metric is not None:
            body["metric"] = metric
        if shards is not None:
            body["shards"] = shards
        if index is not None:
            body["index"] = {"kind": index} if isinstance(index, str) else index
        body.update(config)
        return self._request("POST", "/v1/collections", body)

    def list_collections(self):
        """Descriptions of the collections the caller may read."""
        return self._request("GET", "/v1/collections")["collections"]

    def describe_collection(self, name):
        """{"config": {...}, "stats": {"live": ..., ...}}; NOT_FOUND if there is none."""
        return self._request("GET", "/v1/collections/" + _segment(name))

    def drop_collection(self, name):
        """Drops the collection and its data."""
        self._request("DELETE", "/v1/collections/" + _segment(name))

    def collection(self, name):
        """A handle whose methods need no collection argument: c.collection("docs").search(v)."""
        return Collection(self, name)

    # ---- points ----

    def upsert(self, collection, points, batch_size=None):
        """Inserts or replaces points (see models.py for the accepted forms); returns the total
        WriteAck. Sent in batches; a refused batch raises, the batches before it stay applied."""
        pts = [as_point(p) for p in points]
        if not pts:
            raise ValueError("no points to upsert")
        path = f"/v1/collections/{_segment(collection)}/points"

        def send(chunk):
            body = {"points": [{"id": p.id, "vector": p.vector, "payload": p.payload} for p in chunk]}
            return self._request("PUT", path, body)

        acks = send_in_batches(pts, batch_size or self._batch_size, send)
        return WriteAck(seq=max(a["seq"] for a in acks), applied=sum(a["applied"] for a in acks))

    def delete(self, collection, ids=None, filter=None):
        """Deletes points by id or every point whose payload matches ``filter`` (exactly one of
        the two); ``applied`` counts those that existed."""
        if (ids is None) == (filter is None):
            raise ValueError("give exactly one of ids and filter")
        body = {"ids": [check_id(i) for i in ids]} if ids is not None else {"filter": filter}
        r = self._request("POST", f"/v1/collections/{_segment(collection)}/points/delete", body)
        return WriteAck(seq=r["seq"], applied=r["applied"])

    def get(self, collection, id):
        """The point with this id; NOT_FOUND if there is none."""
        check_id(id)
        id_type = "string" if isinstance(id, str) else "number"
        r = self._request("GET", f"/v1/collections/{_segment(collection)}/points/{_segment(id)}"
                                 f"?id_type={id_type}")
        return Point(id=r["id"], vector=[_number(x) for x in r["vector"]], payload=r.get("payload"))

    # ---- search ----

    def search(self, collection, vector, k=10, filter=None, ef=None, nprobe=None, rerank=None,
               exact=False, with_payload=False, with_vector=False, use_cache=True, streaming=False):
        """The k nearest points to ``vector``, closest first, as a SearchResult.

        filter: a payload filter, e.g. {"field": "lang", "eq": "en"}; ef / nprobe: the HNSW
        width / IVF lists for this query; rerank: re-score k x rerank candidates exactly
        (quantized indexes); exact: scan everything (ground truth); use_cache=False: never
        answer from the result cache; streaming: bypass the server's micro-batching."""
        o = search_options(k, filter, ef, nprobe, rerank, exact, with_payload, with_vector,
                           use_cache, streaming)
        r = self._request("POST", f"/v1/collections/{_segment(collection)}/search",
                          _search_body(as_vector(vector), o))
        return _search_result(r)

    def search_batch(self, collection, queries, batch_size=None, **options):
        """Several searches; a list of SearchResult in the order of ``queries``. Each query is a
        vector or a dict {"vector": ..., <search() options>} whose options win over ``options``."""
        pairs = batch_queries(queries, search_options(**options))
        path = f"/v1/collections/{_segment(collection)}/search/batch"

        def send(chunk):
            body = {"queries": [_search_body(v, o) for v, o in chunk]}
            return [_search_result(r) for r in self._request("POST", path, body)["results"]]

        return [r for chunk in send_in_batches(pairs, batch_size or self._batch_size, send)
                for r in chunk]
