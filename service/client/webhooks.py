"""Signing and checking docsum's webhook calls (what a receiver needs, and what the server uses).

A call is a POST of JSON with ``X-Docsum-Timestamp`` (Unix seconds) and ``X-Docsum-Signature:
sha256=HEX``, HEX being the HMAC-SHA256, keyed with the server's ``DOCSUM_WEBHOOK_SECRET``, of
``"{timestamp}." + body``. Signing the timestamp with the body lets a receiver refuse a replayed
call: :func:`verify` rejects one older than ``tolerance`` seconds::

    from service.client.webhooks import verify
    if not verify(secret, request.body, request.headers):
        return 401
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "sign", "verify"]

SIGNATURE_HEADER = "X-Docsum-Signature"
TIMESTAMP_HEADER = "X-Docsum-Timestamp"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    secret: str, body: bytes, headers: Mapping[str, str], *, tolerance: float = 300.0, now: float | None = None
) -> bool:
    """Whether the call is docsum's (the signature matches) and recent (its timestamp within ``tolerance``)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    stamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
    signature = lowered.get(SIGNATURE_HEADER.lower(), "")
    if not stamp.isdigit() or not signature:
        return False
    if abs((time.time() if now is None else now) - int(stamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, int(stamp), body), signature)
