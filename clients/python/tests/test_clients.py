"""Both clients against a real `vecstream serve`: the same contract, run once over REST and once
over gRPC. Checks answers against a brute-force scan, errors by code, and that every refused
request changed nothing."""

import math
import unittest

from tests import support
from vecstream import Client, GrpcClient, Point, VecstreamError, WriteAck

DIM = 8
N = 200


class ClientContract:
    """The tests; a subclass says which client (make_client) and names its collections."""

    prefix = ""

    def make_client(self, api_key=None, **kwargs):
        raise NotImplementedError

    @classmethod
    def setUpClass(cls):
        cls.env = support.server_env()
        cls.vectors = support.random_vectors(N, DIM, seed=11)

    def setUp(self):
        self.client = self.make_client(api_key=self.env["VECSTREAM_TEST_ADMIN_KEY"])

    def tearDown(self):
        self.client.close()

    def fresh_collection(self, name, dim=DIM, **kwargs):
        """A new collection named prefix + name (dropped first if a previous run left it)."""
        full = self.prefix + name
        try:
            self.client.drop_collection(full)
        except VecstreamError as e:
            self.assertEqual(e.code, "NOT_FOUND")
        self.client.create_collection(full, dim=dim, **kwargs)
        return full

    def fill(self, name):
        points = [{"id": i, "vector": v, "payload": {"group": i % 3, "name": f"p{i}"}}
                  for i, v in enumerate(self.vectors)]
        return self.client.upsert(name, points, batch_size=64)

    def live(self, name):
        return self.client.describe_collection(name)["stats"]["live"]

    def assertCode(self, code, fn, *args, **kwargs):
        with self.assertRaises(VecstreamError) as cm:
            fn(*args, **kwargs)
        self.assertEqual(cm.exception.code, code, cm.exception.message)
        self.assertTrue(cm.exception.message)
        return cm.exception

    # ---- collections ----

    def test_collections_lifecycle(self):
        name = self.fresh_collection("life", dim=4, metric="cosine", shards=2, index="flat")
        names = [c["config"]["name"] for c in self.client.list_collections()]
        self.assertIn(name, names)
        info = self.client.describe_collection(name)
        self.assertEqual(info["config"]["dim"], 4)
        self.assertEqual(info["config"]["metric"], "cosine")
        self.assertEqual(info["config"]["shards"], 2)
        self.assertEqual(info["stats"]["live"], 0)
        self.assertCode("ALREADY_EXISTS", self.client.create_collection, name, dim=4)
        self.assertCode("INVALID_ARGUMENT", self.client.create_collection, self.prefix + "bad", dim=0)
        self.assertCode("INVALID_ARGUMENT", self.client.create_collection, "no spaces allowed", dim=4)
        self.client.drop_collection(name)
        self.assertCode("NOT_FOUND", self.client.describe_collection, name)
        self.assertCode("NOT_FOUND", self.client.drop_collection, name)

    # ---- points and search ----

    def test_upsert_search_get_delete(self):
        name = self.fresh_collection("points")
        ack = self.fill(name)
        self.assertIsInstance(ack, WriteAck)
        self.assertEqual(ack.applied, N)
        self.assertGreater(ack.seq, 0)
        self.assertEqual(self.live(name), N)

        # A stored vector finds its own point first; exact search equals a brute-force scan.
        hits = self.client.search(name, self.vectors[17], k=5)
        self.assertEqual(len(hits), 5)
        self.assertEqual(hits[0].id, 17)
        self.assertAlmostEqual(hits[0].distance, 0.0, places=5)
        for q in support.random_vectors(4, DIM, seed=5):
            self.assertEqual(self.client.search(name, q, k=10, exact=True).ids,
                             support.brute_force(self.vectors, q, 10))
            self.assertEqual(self.client.search(name, q, k=1, ef=64, use_cache=False).ids,
                             support.brute_force(self.vectors, q, 1))

        # Filter, payload and vector.
        q = self.vectors[40]
        hits = self.client.search(name, q, k=6, exact=True, filter={"field": "group", "eq": 1},
                                  with_payload=True, with_vector=True)
        self.assertEqual(hits.ids, support.brute_force(self.vectors, q, 6, keep=lambda i: i % 3 == 1))
        for h in hits:
            self.assertEqual(h.payload["group"], 1)
            self.assertEqual(h.payload["name"], f"p{h.id}")
            self.assertEqual(len(h.vector), DIM)
            for a, b in zip(h.vector, self.vectors[h.id]):
                self.assertAlmostEqual(a, b, places=5)
        self.assertIsNone(self.client.search(name, q, k=1)[0].payload)

        # The result cache: the same query again comes from it, unless use_cache=False.
        self.client.search(name, self.vectors[3], k=3)
        self.assertTrue(self.client.search(name, self.vectors[3], k=3).cached)
        self.assertFalse(self.client.search(name, self.vectors[3], k=3, use_cache=False).cached)

        # get: numbers and strings are distinct ids.
        p = self.client.get(name, 5)
        self.assertIsInstance(p, Point)
        self.assertEqual(p.id, 5)
        self.assertEqual(p.payload, {"group": 2, "name": "p5"})
        for a, b in zip(p.vector, self.vectors[5]):
            self.assertAlmostEqual(a, b, places=5)
        self.client.upsert(name, [("five", self.vectors[5], {"s": True})])
        self.assertEqual(self.client.get(name, "five").payload, {"s": True})
        self.assertEqual(self.client.get(name, 5).payload["name"], "p5")
        self.assertCode("NOT_FOUND", self.client.get, name, 12345)
        self.assertCode("NOT_FOUND", self.client.get, name, "5")

        # delete by ids (only existing ones count), then by filter.
        ack = self.client.delete(name, ids=[0, 1, 2, 999999])
        self.assertEqual(ack.applied, 3)
        self.assertCode("NOT_FOUND", self.client.get, name, 1)
        self.assertNotIn(1, self.client.search(name, self.vectors[1], k=5).ids)
        ack = self.client.delete(name, filter={"field": "group", "eq": 0})
        self.assertEqual(ack.applied, len([i for i in range(3, N) if i % 3 == 0]))
        hits = self.client.search(name, self.vectors[30], k=20, with_payload=True)
        self.assertTrue(all(h.payload is None or h.payload.get("group") != 0 for h in hits))
        self.assertEqual(self.live(name), N + 1 - 3 - ack.applied)

        # The handle binds the name.
        docs = self.client.collection(name)
        self.assertEqual(docs.search(self.vectors[50], k=1).ids, [50])
        self.assertEqual(docs.get(50).id, 50)

    def test_search_batch(self):
        name = self.fresh_collection("batch")
        self.fill(name)
        queries = [self.vectors[1],
                   {"vector": self.vectors[2], "k": 2},
                   {"vector": self.vectors[3], "filter": {"field": "group", "eq": 2}},
                   self.vectors[4], self.vectors[5], self.vectors[6]]
        # More queries than the server takes in one batch: the client splits.
        self.assertGreater(len(queries), int(self.env["VECSTREAM_TEST_MAX_BATCH"]))
        results = self.client.search_batch(name, queries, k=4, exact=True, with_payload=True)
        self.assertEqual(len(results), len(queries))
        self.assertEqual(results[0].ids[0], 1)
        self.assertEqual(len(results[1]), 2)
        self.assertEqual(results[1].ids[0], 2)
        self.assertEqual(results[2].ids, support.brute_force(self.vectors, self.vectors[3], 4,
                                                             keep=lambda i: i % 3 == 2))
        self.assertEqual([r.ids[0] for r in results[3:]], [4, 5, 6])
        self.assertEqual(results[0][0].payload["name"], "p1")

    def test_upsert_respects_server_limit(self):
        name = self.fresh_collection("limits")
        limit = int(self.env["VECSTREAM_TEST_MAX_UPSERT"])
        self.assertGreater(N, limit)
        ack = self.client.upsert(name, [(i, v) for i, v in enumerate(self.vectors)], batch_size=10 * N)
        self.assertEqual(ack.applied, N)
        self.assertEqual(self.live(name), N)

    # ---- bad input: a clear error, nothing changed ----

    def test_bad_input_changes_nothing(self):
        name = self.fresh_collection("strict", dim=4)
        self.client.upsert(name, [(1, [1, 2, 3, 4])])
        good = (2, [0.5, 0.5, 0.5, 0.5])
        e = self.assertCode("INVALID_ARGUMENT", self.client.upsert, name, [good, (3, [1, 2, 3])])
        self.assertIn("dim", e.message)
        self.assertCode("INVALID_ARGUMENT", self.client.upsert, name, [good, (3, [1, math.nan, 3, 4])])
        self.assertCode("INVALID_ARGUMENT", self.client.upsert, name, [good, (3, [1, math.inf, 3, 4])])
        self.assertCode("INVALID_ARGUMENT", self.client.upsert, name, [good, (3, [1, 2, 3, 4], ["not", "an", "object"])])
        self.assertEqual(self.live(name), 1)
        self.assertCode("NOT_FOUND", self.client.get, name, 2)

        e = self.assertCode("INVALID_ARGUMENT", self.client.search, name, [1, 2, 3])
        self.assertIn("dimension", e.message)
        self.assertCode("INVALID_ARGUMENT", self.client.search, name, [1, math.nan, 3, 4])
        self.assertCode("INVALID_ARGUMENT", self.client.search, name, [1, 2, 3, 4], filter={"field": "x", "frobnicate": 1})
        self.assertCode("INVALID_ARGUMENT", self.client.search, name, [1, 2, 3, 4], k=100000)
        self.assertCode("INVALID_ARGUMENT", self.client.search_batch, name, [[1, 2, 3, 4], [1, 2]])
        self.assertCode("INVALID_ARGUMENT", self.client.delete, name, filter={"nonsense": True})

        self.assertCode("NOT_FOUND", self.client.search, self.prefix + "nosuch", [1, 2, 3, 4])
        self.assertCode("NOT_FOUND", self.client.upsert, self.prefix + "nosuch", [good])
        self.assertCode("NOT_FOUND", self.client.describe_collection, self.prefix + "nosuch")
        self.assertEqual(self.live(name), 1)

        # Refused before sending: wrong types.
        with self.assertRaises(TypeError):
            self.client.upsert(name, [(1.5, [1, 2, 3, 4])])
        with self.assertRaises(ValueError):
            self.client.search(name, [1, 2, 3, 4], k=0)
        with self.assertRaises(ValueError):
            self.client.delete(name)
        self.assertEqual(self.live(name), 1)

    def test_api_keys(self):
        name = self.fresh_collection("keyed", dim=2)
        self.client.upsert(name, [(1, [1, 2])])
        anonymous = self.make_client()
        wrong = self.make_client(api_key="wrong-key-0123456789")
        reader = self.make_client(api_key=self.env["VECSTREAM_TEST_READ_KEY"])
        try:
            self.assertCode("UNAUTHENTICATED", anonymous.list_collections)
            self.assertCode("UNAUTHENTICATED", wrong.search, name, [1, 2])
            self.assertEqual(reader.search(name, [1, 2], k=1).ids, [1])
            self.assertCode("PERMISSION_DENIED", reader.upsert, name, [(2, [3, 4])])
            self.assertCode("PERMISSION_DENIED", reader.drop_collection, name)
            self.assertEqual(self.live(name), 1)
        finally:
            for c in (anonymous, wrong, reader):
                c.close()

    def test_no_server(self):
        c = self.make_client(port=support.free_port(), timeout=5)
        try:
            self.assertCode("UNAVAILABLE", c.list_collections)
        finally:
            c.close()


class RestClientTest(ClientContract, unittest.TestCase):
    prefix = "rest_"

    def make_client(self, api_key=None, port=None, **kwargs):
        url = self.env["VECSTREAM_TEST_REST_URL"]
        if port is not None:
            url = f"http://127.0.0.1:{port}"
        return Client(url, api_key=api_key, **kwargs)

    def test_error_carries_http_status(self):
        e = self.assertCode("NOT_FOUND", self.client.describe_collection, "rest_nosuch")
        self.assertEqual(e.http_status, 404)


class GrpcClientTest(ClientContract, unittest.TestCase):
    prefix = "grpc_"

    def make_client(self, api_key=None, port=None, **kwargs):
        address = self.env["VECSTREAM_TEST_GRPC_ADDRESS"]
        if port is not None:
            address = f"127.0.0.1:{port}"
        return GrpcClient(address, api_key=api_key, **kwargs)

    def test_search_stream(self):
        name = self.fresh_collection("stream")
        self.fill(name)
        qs = support.random_vectors(20, DIM, seed=11)
        want = [self.client.search(name, q, k=5, with_payload=True, use_cache=False) for q in qs]
        got = list(self.client.search_stream(name, iter(qs), k=5, with_payload=True, use_cache=False))
        self.assertEqual([r.ids for r in got], [r.ids for r in want])
        self.assertEqual([[p.payload for p in r] for r in got], [[p.payload for p in r] for r in want])
        # A bad query: raised by default; yielded in place, with the stream going on, on request.
        mixed = [qs[0], [1.0, 2.0], qs[1], {"vector": qs[2], "k": 2}]
        with self.assertRaises(VecstreamError) as cm:
            list(self.client.search_stream(name, mixed))
        self.assertEqual(cm.exception.code, "INVALID_ARGUMENT")
        out = list(self.client.search_stream(name, mixed, return_errors=True))
        self.assertEqual(len(out), 4)
        self.assertIsInstance(out[1], VecstreamError)
        self.assertEqual(out[1].code, "INVALID_ARGUMENT")
        self.assertEqual(out[2].ids, self.client.search(name, qs[1]).ids)
        self.assertEqual(len(out[3].ids), 2)
        unknown = list(self.client.search_stream("no-such-collection", [qs[0]], return_errors=True))
        self.assertEqual(unknown[0].code, "NOT_FOUND")
        # Without a valid key the stream itself is refused.
        anon = self.make_client(api_key="wrong-key")
        try:
            with self.assertRaises(VecstreamError) as cm:
                list(anon.search_stream(name, [qs[0]]))
            self.assertEqual(cm.exception.code, "UNAUTHENTICATED")
        finally:
            anon.close()

    def test_same_answers_as_rest(self):
        name = self.fresh_collection("same")
        self.fill(name)
        rest = Client(self.env["VECSTREAM_TEST_REST_URL"], api_key=self.env["VECSTREAM_TEST_ADMIN_KEY"])
        try:
            for q in support.random_vectors(3, DIM, seed=9):
                a = self.client.search(name, q, k=7, with_payload=True, use_cache=False)
                b = rest.search(name, q, k=7, with_payload=True, use_cache=False)
                self.assertEqual(a.ids, b.ids)
                self.assertEqual([p.payload for p in a], [p.payload for p in b])
                for x, y in zip(a, b):
                    self.assertAlmostEqual(x.distance, y.distance, places=4)
        finally:
            rest.close()


if __name__ == "__main__":
    unittest.main()
