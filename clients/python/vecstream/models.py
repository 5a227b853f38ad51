"""The values both clients take and return, and the checks they share.

Points are given as ``{"id": ..., "vector": [...], "payload": {...}}`` dicts, ``(id, vector)``
or ``(id, vector, payload)`` tuples, or :class:`Point` objects. An id is a non-negative int or a
non-empty str (7 and "7" are different points). Vectors are any sequence of numbers (lists,
tuples, numpy arrays); the server checks their dimension and values, so a NaN or a wrong length
comes back as a VecstreamError with code INVALID_ARGUMENT from either transport.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

PointId = Union[int, str]


@dataclass
class Point:
    """A stored point, as get() returns it (and as upsert() accepts it)."""

    id: PointId
    vector: List[float]
    payload: Optional[Dict[str, Any]] = None


@dataclass
class ScoredPoint:
    """One search hit. ``score`` is what users expect (L2/L1: the distance; ip and cosine: the
    similarity); ``distance`` is smaller-is-closer for every metric."""

    id: PointId
    score: float
    distance: float
    payload: Optional[Dict[str, Any]] = None
    vector: Optional[List[float]] = None


@dataclass
class SearchResult:
    """The answer to one query: hits closest first, plus the server's timing and whether the
    answer came from its result cache. Iterating or indexing it walks the hits."""

    points: List[ScoredPoint] = field(default_factory=list)
    server_seconds: float = 0.0
    cached: bool = False

    def __iter__(self):
        return iter(self.points)

    def __len__(self):
        return len(self.points)

    def __getitem__(self, i):
        return self.points[i]

    @property
    def ids(self):
        """The hits' ids, closest first."""
        return [p.id for p in self.points]


@dataclass
class WriteAck:
    """An acknowledged write: the largest WAL sequence number it wrote, and how many points it
    applied (upsert: written; delete: those that existed)."""

    seq: int
    applied: int


def check_id(point_id):
    """An id as the server takes it: a non-negative int or a non-empty str. bool is refused
    (True is an int to Python, never meant as an id)."""
    if isinstance(point_id, bool) or not isinstance(point_id, (int, str)):
        raise TypeError(f"a point id is an int or a str, got {type(point_id).__name__}")
    return point_id


def as_vector(vector):
    """Any sequence of numbers as a list of floats (NaN and infinity pass: the server judges)."""
    try:
        return [float(x) for x in vector]
    except (TypeError, ValueError) as e:
        raise TypeError(f"a vector is a sequence of numbers: {e}") from None


def as_point(p):
    """A dict, tuple or Point as a Point."""
    if isinstance(p, Point):
        return Point(check_id(p.id), as_vector(p.vector), p.payload)
    if isinstance(p, dict):
        unknown = set(p) - {"id", "vector", "payload"}
        if unknown:
            raise ValueError(f"unknown point fields {sorted(unknown)} (allowed: id, vector, payload)")
        if "id" not in p or "vector" not in p:
            raise ValueError("a point needs an id and a vector")
        return Point(check_id(p["id"]), as_vector(p["vector"]), p.get("payload"))
    if isinstance(p, (tuple, list)) and len(p) in (2, 3):
        return Point(check_id(p[0]), as_vector(p[1]), p[2] if len(p) == 3 else None)
    raise TypeError("a point is a dict {id, vector, payload}, a tuple (id, vector[, payload]) or a Point")


# The per-query knobs of search() and search_batch(), with the server's defaults.
SEARCH_OPTIONS = ("k", "filter", "ef", "nprobe", "rerank", "exact", "with_payload", "with_vector",
                  "use_cache", "streaming")


def search_options(k=10, filter=None, ef=None, nprobe=None, rerank=None, exact=False,
                   with_payload=False, with_vector=False, use_cache=True, streaming=False):
    """The knobs of one query as a dict (None = the server's default)."""
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError("k is an int")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if filter is not None and not isinstance(filter, dict):
        raise TypeError("filter is a dict, e.g. {'field': 'lang', 'eq': 'en'}")
    return {"k": k, "filter": filter, "ef": ef, "nprobe": nprobe, "rerank": rerank,
            "exact": bool(exact), "with_payload": bool(with_payload),
            "with_vector": bool(with_vector), "use_cache": bool(use_cache),
            "streaming": bool(streaming)}


def batch_queries(queries, defaults):
    """search_batch()'s queries -- vectors, or dicts {"vector": ..., <any search option>} whose
    options win over ``defaults`` -- as (vector, options) pairs."""
    out = []
    for i, q in enumerate(queries):
        if isinstance(q, dict):
            unknown = set(q) - {"vector"} - set(SEARCH_OPTIONS)
            if unknown:
                raise ValueError(f"queries[{i}]: unknown fields {sorted(unknown)}")
            if "vector" not in q:
                raise ValueError(f"queries[{i}]: no vector")
            opts = dict(defaults)
            opts.update({k: v for k, v in q.items() if k != "vector"})
            out.append((as_vector(q["vector"]), search_options(**opts)))
        else:
            out.append((as_vector(q), defaults))
    if not out:
        raise ValueError("search_batch needs at least one query")
    return out
