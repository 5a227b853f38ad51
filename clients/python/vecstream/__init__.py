"""Python clients of Vecstream, the real-time vector search engine.

    Client      the REST API, standard library only (rest.py)
    GrpcClient  the gRPC API, on python3-grpcio (grpc_client.py; stubs generated on first use)

Both have the same methods and results and raise VecstreamError (code, message). See
clients/python/README.md.
"""

from .collection import Collection
from .errors import VecstreamError
from .models import Point, ScoredPoint, SearchResult, WriteAck
from .grpc_client import GrpcClient  # imports grpc only when a GrpcClient is made
from .rest import Client

__all__ = ["Client", "GrpcClient", "Collection", "VecstreamError", "Point", "ScoredPoint",
           "SearchResult", "WriteAck"]
__version__ = "0.1.0"
