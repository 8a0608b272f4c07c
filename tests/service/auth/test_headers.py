"""The RateLimit-Policy and RateLimit fields, as draft-ietf-httpapi-ratelimit-headers writes them."""

from __future__ import annotations

from service.auth.headers import ratelimit_fields
from service.auth.usage import Count


def test_each_policy_once_with_its_latest_count() -> None:
    counts = [
        Count("requests", 10, 1, 0.4),
        Count("documents", 5000, 10, 51233.2),
        Count("requests", 10, 2, 0.4),  # counted again later in the request: the later count stands
        Count("streams", 2, 2, 0.0),
    ]
    assert dict(ratelimit_fields(counts)) == {
        b"ratelimit-policy": b'"requests";q=10;w=1;qu="requests", "documents";q=5000;w=86400;qu="documents", '
        b'"streams";q=2;qu="concurrent-requests"',
        b"ratelimit": b'"requests";r=8;t=1, "documents";r=4990;t=51234, "streams";r=0;t=0',
    }


def test_no_counts_no_fields() -> None:
    assert ratelimit_fields([]) == []
