"""The parts of the clients that need no server: argument checks, batching, stub generation."""

import os
import pathlib
import tempfile
import unittest
from unittest import mock

from vecstream import Client, Point, VecstreamError, stubs
from vecstream.batching import send_in_batches
from vecstream.errors import code_for_http_status
from vecstream.models import as_point, batch_queries, search_options


class PointsTest(unittest.TestCase):
    def test_accepted_forms(self):
        self.assertEqual(as_point({"id": 1, "vector": (1, 2)}), Point(1, [1.0, 2.0], None))
        self.assertEqual(as_point(("a", [3], {"x": 1})), Point("a", [3.0], {"x": 1}))
        self.assertEqual(as_point(Point(7, [1, 2])), Point(7, [1.0, 2.0], None))

    def test_refused_forms(self):
        with self.assertRaises(TypeError):
            as_point((True, [1.0]))  # a bool is no id
        with self.assertRaises(TypeError):
            as_point((1.5, [1.0]))
        with self.assertRaises(TypeError):
            as_point((1, ["x"]))
        with self.assertRaises(ValueError):
            as_point({"id": 1})
        with self.assertRaises(ValueError):
            as_point({"id": 1, "vector": [1], "colour": "red"})
        with self.assertRaises(TypeError):
            as_point(42)

    def test_search_options(self):
        self.assertEqual(search_options()["k"], 10)
        with self.assertRaises(ValueError):
            search_options(k=0)
        with self.assertRaises(TypeError):
            search_options(filter="lang=en")
        pairs = batch_queries([[1, 2], {"vector": [3, 4], "k": 2}], search_options(k=5))
        self.assertEqual(pairs[0], ([1.0, 2.0], search_options(k=5)))
        self.assertEqual(pairs[1][1]["k"], 2)
        with self.assertRaises(ValueError):
            batch_queries([{"vector": [1], "kk": 2}], search_options())
        with self.assertRaises(ValueError):
            batch_queries([], search_options())


class BatchingTest(unittest.TestCase):
    def test_splits_on_resource_exhausted_only(self):
        sent = []

        def send(chunk):
            if len(chunk) > 3:
                raise VecstreamError("RESOURCE_EXHAUSTED", "at most 3")
            sent.append(list(chunk))
            return len(chunk)

        self.assertEqual(sum(send_in_batches(list(range(10)), 8, send)), 10)
        self.assertEqual([x for c in sent for x in c], list(range(10)))
        self.assertTrue(all(len(c) <= 3 for c in sent))

        def refuse(chunk):
            raise VecstreamError("INVALID_ARGUMENT", "bad")

        with self.assertRaises(VecstreamError) as cm:
            send_in_batches([1, 2, 3], 2, refuse)
        self.assertEqual(cm.exception.code, "INVALID_ARGUMENT")

        def always_full(chunk):
            raise VecstreamError("RESOURCE_EXHAUSTED", "full")

        with self.assertRaises(VecstreamError):
            send_in_batches([1, 2, 3], 2, always_full)  # down to one item, then it gives up

    def test_http_codes(self):
        self.assertEqual(code_for_http_status(404), "NOT_FOUND")
        self.assertEqual(code_for_http_status(502), "INTERNAL")


class UrlTest(unittest.TestCase):
    def test_bad_urls(self):
        for url in ("ftp://127.0.0.1:1", "127.0.0.1:8080", "http://", "http://127.0.0.1:99999",
                    "http://127.0.0.1:8080/?q=1"):
            with self.subTest(url=url), self.assertRaises(ValueError):
                Client(url)
        with self.assertRaises(ValueError):
            Client("http://127.0.0.1:8080", ca_cert="/ca.pem")
        self.assertEqual(Client("http://127.0.0.1:8080/").url, "http://127.0.0.1:8080")


class StubsTest(unittest.TestCase):
    def test_generates_into_a_folder_named_for_the_proto(self):
        with tempfile.TemporaryDirectory() as out:
            with mock.patch.dict(os.environ, {"VECSTREAM_STUBS_DIR": out}):
                pb2, pb2_grpc = stubs.load()
                folders = list(pathlib.Path(out).iterdir())
                self.assertEqual(len(folders), 1)
                self.assertTrue((folders[0] / "vecstream" / "v1" / "vecstream_pb2.py").is_file())
                self.assertTrue(hasattr(pb2_grpc, "VecstreamStub"))
                r = pb2.SearchRequest(collection="c", k=3)
                self.assertFalse(r.HasField("use_cache"))  # proto3 optional survived
                stubs.load()  # the second time reuses them
                self.assertEqual(list(pathlib.Path(out).iterdir()), folders)

    def test_missing_proto_dir_is_an_import_error(self):
        with mock.patch.dict(os.environ, {"VECSTREAM_PROTO_DIR": "/nonexistent"}):
            with self.assertRaises(ImportError):
                stubs.load()


if __name__ == "__main__":
    unittest.main()
