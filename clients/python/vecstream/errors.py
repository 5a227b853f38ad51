"""VecstreamError: the one exception both clients raise.

The server answers every error with a code and a message (REST: the body
``{"error": {"code", "message"}}`` with an HTTP status; gRPC: the status code and its
details). The clients keep both, so callers branch on ``err.code`` -- the same names on both
transports: INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, UNAUTHENTICATED, PERMISSION_DENIED,
RESOURCE_EXHAUSTED, UNAVAILABLE (no answer: connection refused, TLS failure), DEADLINE_EXCEEDED,
INTERNAL, ...
"""


class VecstreamError(Exception):
    """An error answered by the server, or the absence of an answer.

    Attributes:
        code: the error's code name, e.g. ``"INVALID_ARGUMENT"``.
        message: the server's message (or why there was no answer).
        http_status: the HTTP status (REST client), or None.
    """

    def __init__(self, code, message, http_status=None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status


# HTTP statuses the server uses, for answers whose body carries no code (a proxy's, say).
_HTTP_CODES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    413: "RESOURCE_EXHAUSTED",
    429: "RESOURCE_EXHAUSTED",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def code_for_http_status(status):
    """The code name an HTTP status stands for when the body does not say."""
    return _HTTP_CODES.get(status, "INTERNAL" if status >= 500 else "UNKNOWN")
