"""GrpcClient: Vecstream's gRPC API (proto/vecstream/v1/vecstream.proto) with the same methods,
arguments and results as the REST Client (rest.py), on python3-grpcio.

    from vecstream import GrpcClient
    c = GrpcClient("127.0.0.1:50051", api_key=None)
    c.search("docs", [0.1, 0.2, 0.3], k=5)

The stubs are generated on first use (stubs.py). Errors are VecstreamError with the gRPC status
code's name (INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE when the server cannot be reached,
DEADLINE_EXCEEDED after ``timeout``...) and the server's message.

Threading: a GrpcClient may be shared by threads (gRPC channels are thread-safe).
"""

import json

from .batching import send_in_batches
from .collection import Collection
from .errors import VecstreamError
from .models import (Point, ScoredPoint, SearchResult, WriteAck, as_point, as_vector, batch_queries,
                     check_id, search_options)

DEFAULT_ADDRESS = "127.0.0.1:50051"  # `vecstream serve`'s default grpc.address


def _import_grpc():
    try:
        import grpc  # noqa: PLC0415 -- only the gRPC client needs it
    except ImportError as e:
        raise ImportError("the gRPC client needs grpcio (Debian: apt-get install python3-grpcio "
                          "python3-protobuf)") from e
    return grpc


class GrpcClient:
    """A channel to ``vecstream serve``'s gRPC API.

    Args:
        address: ``host:port``.
        api_key: sent as ``authorization: Bearer <key>`` metadata.
        tls: use TLS (implied by ca_cert or client_cert).
        ca_cert: PEM file of the CA that signed the server's certificate (default: gRPC's roots).
        client_cert, client_key: PEM files for mutual TLS.
        timeout: seconds each call may take (DEADLINE_EXCEEDED after that).
        batch_size: points per Upsert call and queries per SearchBatch call.
        max_message_bytes: the largest message sent or received.
    """

    def __init__(self, address=DEFAULT_ADDRESS, api_key=None, tls=False, ca_cert=None,
                 client_cert=None, client_key=None, timeout=30.0, batch_size=1000,
                 max_message_bytes=64 << 20):
        grpc = _import_grpc()
        from . import stubs  # noqa: PLC0415 -- generating stubs waits until a client is made

        self._grpc = grpc
        self._pb, pb_grpc = stubs.load()
        self.address = address
        options = [("grpc.max_send_message_length", max_message_bytes),
                   ("grpc.max_receive_message_length", max_message_bytes)]
        if tls or ca_cert or client_cert:
            def read(path):
                if path is None:
                    return None
                with open(path, "rb") as f:
                    return f.read()
            creds = grpc.ssl_channel_credentials(root_certificates=read(ca_cert),
                                                 private_key=read(client_key),
                                                 certificate_chain=read(client_cert))
            self._channel = grpc.secure_channel(address, creds, options=options)
        else:
            self._channel = grpc.insecure_channel(address, options=options)
        self._stub = pb_grpc.VecstreamStub(self._channel)
        self._metadata = (("authorization", f"Bearer {api_key}"),) if api_key else None
        self._timeout = timeout
        self._batch_size = batch_size

    def _call(self, method, request):
        try:
            return getattr(self._stub, method)(request, timeout=self._timeout,
                                               metadata=self._metadata)
        except self._grpc.RpcError as e:
            code = e.code().name if e.code() is not None else "UNKNOWN"
            raise VecstreamError(code, e.details() or "") from None

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- conversions ----

    def _id(self, point_id):
        check_id(point_id)
        return self._pb.PointId(str=point_id) if isinstance(point_id, str) else self._pb.PointId(num=point_id)

    @staticmethod
    def _from_id(pid):
        return pid.str if pid.WhichOneof("kind") == "str" else pid.num

    @staticmethod
    def _payload(text):
        return json.loads(text) if text else None

    def _search_request(self, collection, vector, o):
        r = self._pb.SearchRequest(collection=collection, vector=vector, k=o["k"],
                                   exact=o["exact"], with_payload=o["with_payload"],
                                   with_vector=o["with_vector"], streaming=o["streaming"])
        if o["filter"] is not None:
            r.filter_json = json.dumps(o["filter"])
        if o["ef"] is not None:
            r.ef = o["ef"]
        if o["nprobe"] is not None:
            r.nprobe = o["nprobe"]
        if o["rerank"] is not None:
            r.rerank_factor = o["rerank"]
        if not o["use_cache"]:
            r.use_cache = False
        return r

    def _search_result(self, r, o):
        pts = [ScoredPoint(id=self._from_id(p.id), score=p.score, distance=p.distance,
                           payload=self._payload(p.payload_json) if o["with_payload"] else None,
                           vector=list(p.vector) if o["with_vector"] else None)
               for p in r.points]
        return SearchResult(points=pts, server_seconds=r.server_seconds, cached=r.cached)

    # ---- operations ----

    def ready(self):
        """Whether the server answers (a Stats call succeeds or is refused for lack of a key)."""
        try:
            self._call("Stats", self._pb.StatsRequest())
            return True
        except VecstreamError as e:
            return e.code in ("UNAUTHENTICATED", "PERMISSION_DENIED")

    def stats(self):
        return json.loads(self._call("Stats", self._pb.StatsRequest()).stats_json)

    # ---- collections ----

    def create_collection(self, name, dim, metric=None, shards=None, index=None, **config):
        body = {"name": name, "dim": dim}
        if metric is not None:
            body["metric"] = metric
        if shards is not None:
            body["shards"] = shards
        if index is not None:
            body["index"] = {"kind": index} if isinstance(index, str) else index
        body.update(config)
        info = self._call("CreateCollection", self._pb.CreateCollectionRequest(config_json=json.dumps(body)))
        return json.loads(info.info_json)

    def list_collections(self):
        r = self._call("ListCollections", self._pb.ListCollectionsRequest())
        return [json.loads(c.info_json) for c in r.collections]

    def describe_collection(self, name):
        return json.loads(self._call("DescribeCollection",
                                     self._pb.DescribeCollectionRequest(name=name)).info_json)

    def drop_collection(self, name):
        self._call("DropCollection", self._pb.DropCollectionRequest(name=name))

    def collection(self, name):
        return Collection(self, name)

    # ---- points ----

    def upsert(self, collection, points, batch_size=None):
        pts = [as_point(p) for p in points]
        if not pts:
            raise ValueError("no points to upsert")

        def send(chunk):
            req = self._pb.UpsertRequest(collection=collection)
            for p in chunk:
                req.points.add(id=self._id(p.id), vector=p.vector,
                               payload_json=json.dumps(p.payload) if p.payload is not None else "")
            return self._call("Upsert", req)

        acks = send_in_batches(pts, batch_size or self._batch_size, send)
        return WriteAck(seq=max(a.seq for a in acks), applied=sum(a.applied for a in acks))

    def delete(self, collection, ids=None, filter=None):
        if (ids is None) == (filter is None):
            raise ValueError("give exactly one of ids and filter")
        req = self._pb.DeleteRequest(collection=collection)
        if ids is not None:
            if not ids:
                raise ValueError("no ids to delete")
            req.ids.extend(self._id(i) for i in ids)
        else:
            req.filter_json = json.dumps(filter)
        r = self._call("Delete", req)
        return WriteAck(seq=r.seq, applied=r.deleted)

    def get(self, collection, id):
        p = self._call("Get", self._pb.GetRequest(collection=collection, id=self._id(id)))
        return Point(id=self._from_id(p.id), vector=list(p.vector), payload=self._payload(p.payload_json))

    # ---- search ----

    def search(self, collection, vector, k=10, filter=None, ef=None, nprobe=None, rerank=None,
               exact=False, with_payload=False, with_vector=False, use_cache=True, streaming=False):
        o = search_options(k, filter, ef, nprobe, rerank, exact, with_payload, with_vector,
                           use_cache, streaming)
        r = self._call("Search", self._search_request(collection, as_vector(vector), o))
        return self._search_result(r, o)

    def search_stream(self, collection, queries, return_errors=False, **options):
        """Searches ``queries`` (vectors, or dicts as in search_batch) one after another on a
        single SearchStream -- far cheaper per query than separate Search calls -- and yields
        one SearchResult per query, in order, as the answers arrive. ``queries`` may be any
        iterable, a generator included: it is read as the stream goes.

        A query the server refuses raises VecstreamError (and ends the iteration), or, with
        ``return_errors``, is yielded as that VecstreamError while the stream goes on."""
        defaults = search_options(**options)
        sent = []  # the options of each query sent, to read its answer with

        def requests():
            for q in queries:
                ((vector, o),) = batch_queries([q], defaults)
                sent.append(o)
                yield self._search_request(collection, vector, o)

        call = self._stub.SearchStream(requests(), timeout=self._timeout, metadata=self._metadata)
        try:
            for i, answer in enumerate(call):
                if answer.HasField("error"):
                    code = next((c.name for c in self._grpc.StatusCode
                                 if c.value[0] == answer.error.code), "UNKNOWN")
                    err = VecstreamError(code, answer.error.message)
                    if not return_errors:
                        raise err
                    yield err
                    continue
                yield self._search_result(answer.result, sent[i])
        except self._grpc.RpcError as e:
            code = e.code().name if e.code() is not None else "UNKNOWN"
            raise VecstreamError(code, e.details() or "") from None
        finally:
            call.cancel()

    def search_batch(self, collection, queries, batch_size=None, **options):
        pairs = batch_queries(queries, search_options(**options))

        def send(chunk):
            req = self._pb.SearchBatchRequest()
            req.queries.extend(self._search_request(collection, v, o) for v, o in chunk)
            r = self._call("SearchBatch", req)
            return [self._search_result(res, o) for res, (_, o) in zip(r.results, chunk)]

        return [r for chunk in send_in_batches(pairs, batch_size or self._batch_size, send)
                for r in chunk]
