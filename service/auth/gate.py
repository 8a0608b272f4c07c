"""Every route but /health and /ready asks for a ``Caller``: the key's name, checked, and its limits.

``DOCSUM_AUTH``:
- ``keys``: a request carries a key from ``DOCSUM_API_KEYS_FILE`` as ``Authorization: Bearer KEY``
  or ``X-API-Key: KEY``; without one it is 401 ``missing_api_key``, with an unknown one 401
  ``invalid_api_key``. The key's name owns the jobs it submits.
- ``open``: no keys; every caller is ``anonymous`` and shares the jobs and the limits. For one
  machine: docsum refuses to start in this mode on an address other than loopback unless
  ``DOCSUM_AUTH=open`` is said outright.
- ``auto`` (the default): ``keys`` when a key file is set, else ``open``.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Literal

from fastapi import Depends, Request
from sqlalchemy.engine import Engine as Database

from service.auth.keys import KeyFileError, KeyRing
from service.auth.limits import Limiter, Limits
from service.auth.usage import Count, UsageCounters
from service.errors import LimitExceeded, Unauthorized
from service.provider import provided
from service.settings import Settings

logger = logging.getLogger(__name__)

OPEN_OWNER = "anonymous"
# Where a request's counts wait for its response (service.auth.headers writes them as RateLimit fields).
COUNTS_STATE = "ratelimit_counts"


class AuthConfigError(ValueError):
    """The auth settings contradict each other, or would expose an open server."""


Mode = Literal["open", "keys"]


def auth_mode(settings: Settings) -> Mode:
    if settings.auth == "keys" and settings.api_keys_file is None:
        raise AuthConfigError("DOCSUM_AUTH=keys needs DOCSUM_API_KEYS_FILE (`docsum keys new NAME` makes a key)")
    if settings.auth == "open" and settings.api_keys_file is not None:
        raise AuthConfigError("DOCSUM_AUTH=open and DOCSUM_API_KEYS_FILE contradict each other: choose one")
    return "keys" if settings.api_keys_file is not None else "open"


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def check_exposure(settings: Settings, mode: Mode) -> None:
    """Refuse to serve everyone on the network without keys, unless told so outright (then warn)."""
    if mode == "keys" or is_loopback(settings.host):
        return
    if settings.auth != "open":
        raise AuthConfigError(
            f"refusing to serve on {settings.host} without API keys: anyone who can reach it could use it and "
            "read every job. Set DOCSUM_API_KEYS_FILE (`docsum keys new NAME` makes a key), or DOCSUM_AUTH=open "
            "if something in front of docsum checks callers"
        )
    logger.warning(
        "DOCSUM_AUTH=open on %s: NO AUTHENTICATION, every caller who can reach this address shares all jobs",
        settings.host,
    )


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: a key's name (``anonymous`` in open mode), what owns its jobs, and its limits."""

    name: str
    owner: str
    limiter: Limiter
    counts: list[Count] = field(default_factory=list)  # what this request counted, for its RateLimit fields

    async def documents(self, texts: list[str]) -> None:
        """Documents summarized now: input tokens per minute, documents per day."""
        self.counts.extend(await self.counted(self.limiter.documents(self.owner, texts)))

    async def tokens(self, texts: list[str]) -> None:
        self.counts.extend(await self.counted(self.limiter.tokens(self.owner, texts)))

    async def job(self, documents: int, stored_bytes: int) -> None:
        self.counts.extend(await self.counted(self.limiter.job(self.owner, documents, stored_bytes)))

    async def give_back_job(self, documents: int, stored_bytes: int) -> None:
        """The job was not stored after all: what ``job`` took goes back."""
        await self.limiter.give_back_job(self.owner, documents, stored_bytes)

    def open_stream(self) -> None:
        try:
            count = self.limiter.open_stream(self.owner)
        except LimitExceeded as exc:
            self.counts.extend(exc.counts)
            raise
        if count is not None:
            self.counts.append(count)

    def close_stream(self) -> None:
        self.limiter.close_stream(self.owner)

    async def counted(self, work: Awaitable[list[Count]]) -> list[Count]:
        """What ``work`` (a take from the limiter) counted; refused, how the counts stand, then the 429."""
        try:
            return await work
        except LimitExceeded as exc:
            self.counts.extend(exc.counts)
            raise


def configured_keys(settings: Settings) -> KeyRing | None:
    """The keys to check (None: open mode); refuses contradictory settings and an open server on the network."""
    mode = auth_mode(settings)
    check_exposure(settings, mode)
    if settings.api_keys_file is None:
        return None
    try:
        keys = KeyRing.load(settings.api_keys_file)
    except KeyFileError as exc:
        raise AuthConfigError(str(exc)) from None
    logger.info("API keys on: %d keys from %s", len(keys.entries), settings.api_keys_file)
    return keys


def key_owner(name: str) -> str:
    """What owns the jobs of the key of this name (and counts its limits)."""
    return f"key:{name}"


def build_gate(
    keys: KeyRing | None, settings: Settings, database: Database, clock: Callable[[], float] = time.time
) -> Gate:
    """The gate, with limits counted in ``database`` (the job store's): the settings', or a key's own."""
    limits = Limits.of(settings)
    own = {key_owner(name): limits.but(changes) for name, changes in (keys.limits if keys else {}).items()}
    return Gate(keys, Limiter(UsageCounters(database), limits, clock, own=own))


class Gate:
    """Checks keys and the requests-per-second limit; built once per app."""

    def __init__(self, keys: KeyRing | None, limiter: Limiter) -> None:
        self.keys = keys
        self.limiter = limiter

    @property
    def mode(self) -> Mode:
        return "open" if self.keys is None else "keys"

    async def admit(self, request: Request) -> Caller:
        name = self.identify(request)
        owner = OPEN_OWNER if self.keys is None else key_owner(name)
        caller = Caller(name, owner, self.limiter)
        request.state.ratelimit_counts = caller.counts
        caller.counts.extend(await caller.counted(self.limiter.request(owner)))
        return caller

    def identify(self, request: Request) -> str:
        if self.keys is None:
            return OPEN_OWNER
        key = _key_of(request)
        if key is None:
            raise Unauthorized(
                "this server needs an API key: send Authorization: Bearer KEY or X-API-Key: KEY",
                code="missing_api_key",
                param="Authorization",
            )
        name = self.keys.find(key)
        if name is None:
            raise Unauthorized("the API key is not valid", code="invalid_api_key", param="Authorization")
        return name


def _key_of(request: Request) -> str | None:
    """X-API-Key, else ``Authorization: Bearer`` (X-API-Key first: Authorization may be a proxy's)."""
    key = request.headers.get("x-api-key")
    if key and key.strip():
        return key.strip()
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise Unauthorized(
                "Authorization must be `Bearer KEY` (or send X-API-Key: KEY)",
                code="invalid_api_key",
                param="Authorization",
            )
        return credentials.strip()
    return None


async def require_caller(request: Request) -> Caller:
    """The route's caller (cached per request, so a route and its router share one)."""
    return await provided(request.app, Gate).admit(request)


# A route's typed parameter: ``caller: CallerDep``. Routers that need no caller object still run it:
# ``app.include_router(router, dependencies=[Depends(require_caller)])``.
CallerDep = Annotated[Caller, Depends(require_caller)]
