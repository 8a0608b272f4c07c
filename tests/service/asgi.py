"""Driving the app at the ASGI level, for tests that need what a client library hides (a client that leaves)."""

from __future__ import annotations

from typing import Any


def summarize_scope(payload: bytes) -> dict[str, Any]:
    """The ASGI scope of a POST /v1/summarize with a JSON body of ``payload``."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/summarize",
        "raw_path": b"/v1/summarize",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        "client": ("127.0.0.1", 1234),
        "server": ("docsum", 80),
        "state": {},
    }
