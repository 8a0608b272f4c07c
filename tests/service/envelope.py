"""The error envelope every error response carries, checked one way by every test."""

from __future__ import annotations

from typing import Any


def assert_envelope(response: Any, status: int, code: str, param: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "request_id"}
    assert set(body["error"]) == {"code", "message", "param"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    if param is not None:
        assert body["error"]["param"] == param
    assert "Traceback" not in response.text
    return body
