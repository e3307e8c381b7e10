"""HTTP answers as plain values, and the canned ones every route shares.

A route is a function of the WSGI environ that returns ``(status, headers, body)``; only
``wsgi.FeedApp`` turns that into a WSGI response, so the routes (feeds, ``/healthz``,
``/metrics``) stay plain functions that tests can call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

Response = tuple[str, list[tuple[str, str]], bytes]
Environ = Mapping[str, Any]
Route = Callable[[Environ], Response]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_TEXT = [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")]


def _canned(status: str, text: str, extra: Iterable[tuple[str, str]] = ()) -> Response:
    body = (text + "\n").encode("utf-8")
    return status, [*_TEXT, ("Content-Length", str(len(body))), *extra], body


NOT_FOUND = _canned("404 Not Found", "Not found")
BAD_REQUEST = _canned("400 Bad Request", "Bad request")
URI_TOO_LONG = _canned("414 URI Too Long", "URI too long")
METHOD_NOT_ALLOWED = _canned(
    "405 Method Not Allowed", "Method not allowed", [("Allow", "GET, HEAD")]
)
INTERNAL_ERROR = _canned("500 Internal Server Error", "Internal server error")
