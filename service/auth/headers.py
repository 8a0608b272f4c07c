"""The IETF ``RateLimit-Policy`` and ``RateLimit`` fields (draft-ietf-httpapi-ratelimit-headers) on every
response whose request counted against a limit, refused (429) or not.

    RateLimit-Policy: "requests";q=10;w=1;qu="requests", "documents";q=5000;w=86400;qu="documents"
    RateLimit: "requests";r=9;t=1, "documents";r=4990;t=51234

``q`` is the quota, ``w`` the window in seconds, ``r`` what is left of it and ``t`` the seconds until
the window ends. ``qu`` is the unit: the draft's ``requests``, ``content-bytes`` and
``concurrent-requests``, and docsum's own ``tokens`` and ``documents``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.auth.gate import COUNTS_STATE
from service.auth.limits import POLICIES
from service.auth.usage import Count


def ratelimit_fields(counts: Sequence[Count]) -> list[tuple[bytes, bytes]]:
    """The two fields for these counts (the last count of each policy), or none."""
    latest = {count.metric: count for count in counts}
    if not latest:
        return []
    policies, states = [], []
    for count in latest.values():
        policy = POLICIES[count.metric]
        window = f";w={policy.window}" if policy.window else ""
        policies.append(f'"{policy.name}";q={count.quota}{window};qu="{policy.unit}"')
        states.append(f'"{policy.name}";r={count.remaining};t={max(0, math.ceil(count.reset))}')
    return [(b"ratelimit-policy", ", ".join(policies).encode()), (b"ratelimit", ", ".join(states).encode())]


class RateLimitHeadersMiddleware:
    """Adds the fields for what the request counted (``Caller.counts``) when its response starts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_fields(message: Message) -> None:
            if message["type"] == "http.response.start":
                counts = scope.get("state", {}).get(COUNTS_STATE) or ()
                message["headers"] = [*message.get("headers", []), *ratelimit_fields(counts)]
            await send(message)

        await self.app(scope, receive, send_with_fields)
