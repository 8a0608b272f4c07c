"""A synchronous client for one OpenAI-compatible server (vLLM, TGI, llama.cpp, Ollama): chat completions,
token counts and what the server says of its model, with the resilience a remote engine needs.

- **Timeouts** on connecting and on every read (``UpstreamPolicy.timeout_s``).
- **Retries** with exponential backoff and full jitter on connection errors, timeouts, 429 and 5xx,
  waiting at least what a ``Retry-After`` header asks; never on another 4xx (the request itself is
  wrong: ``UpstreamError``, 502 ``upstream_error``).
- **A circuit breaker**: after ``breaker_failures`` failed attempts in a row the upstream is taken for
  dead for ``breaker_cooldown_s``; calls meanwhile fail at once with ``UpstreamUnavailable`` (503
  ``upstream_unavailable``) instead of piling up; then one trial call decides.
- **Cancellation**: a call gives up (``models.yielding.Cancelled``) between retries and between the
  chunks of a streamed answer once its ``cancelled`` event is set; closing the stream tells the server
  to stop generating.

The API key is read from the environment variable the catalog entry names, sent as a bearer token,
and never logged or put in a URL.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx

from models.errors import UpstreamError, UpstreamUnavailable
from models.yielding import Cancelled

logger = logging.getLogger(__name__)

T = TypeVar("T")
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_MAX_RETRY_AFTER_S = 60.0


@dataclass(frozen=True, slots=True)
class UpstreamPolicy:
    timeout_s: float = 120.0  # per read: the longest silence of a working server
    connect_timeout_s: float = 5.0
    retries: int = 3  # attempts after the first
    backoff_s: float = 0.5  # the first retry's largest wait; doubled each time, capped at backoff_cap_s
    backoff_cap_s: float = 8.0
    breaker_failures: int = 5
    breaker_cooldown_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Answer:
    """One chat completion: its text, whether the token cap cut it, and its new tokens (None: not told)."""

    text: str
    cut: bool
    output_tokens: int | None


class CircuitBreaker:
    """Open after ``failures`` failed attempts in a row; closed again by one successful trial after ``cooldown_s``."""

    def __init__(self, failures: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = failures
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._lock = threading.Lock()
        self._streak = 0
        self._open_until = 0.0
        self._trial = False

    def allow(self) -> bool:
        """Whether a call may go out now (while open: none; once the cooldown is over: one trial at a time)."""
        with self._lock:
            if self._streak < self.failures:
                return True
            if self.clock() < self._open_until or self._trial:
                return False
            self._trial = True
            return True

    def succeeded(self) -> None:
        with self._lock:
            self._streak, self._trial = 0, False

    def failed(self) -> None:
        with self._lock:
            self._streak += 1
            self._trial = False
            if self._streak >= self.failures:
                self._open_until = self.clock() + self.cooldown_s

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._streak >= self.failures and self.clock() < self._open_until


class _Retryable(Exception):
    """One attempt failed in a way another attempt may not: wait ``retry_after`` (or back off) and retry."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class Upstream:
    """One server at ``base_url`` (``http://host:8000/v1``); thread-safe (httpx's client pools connections)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        policy: UpstreamPolicy | None = None,
        connections: int = 16,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.policy = policy = policy or UpstreamPolicy()
        self.breaker = CircuitBreaker(policy.breaker_failures, policy.breaker_cooldown_s)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(policy.timeout_s, connect=policy.connect_timeout_s),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            trust_env=False,  # a loopback or cluster address: no proxy from the environment
        )

    def close(self) -> None:
        self._client.close()

    def url(self, path: str) -> str:
        """``/v1/...`` paths hang off the base URL; a root path (``/props``) off its server's root."""
        if path.startswith("/v1/") or not path.startswith("/"):
            return f"{self.base_url}/{path.removeprefix('/v1/').lstrip('/')}"
        root = self.base_url.removesuffix("/v1")
        return f"{root}{path}"

    def get_json(self, path: str, *, retry: bool = True, timeout_s: float | None = None) -> Any:
        """``timeout_s``: this request's limit on each phase, instead of the policy's."""
        limit = httpx.Timeout(timeout_s) if timeout_s is not None else httpx.USE_CLIENT_DEFAULT
        return self._with_retries(lambda: self._json(self._client.get(self.url(path), timeout=limit)), None, retry)

    def post_json(self, path: str, body: dict[str, Any], *, cancelled: threading.Event | None = None) -> Any:
        return self._with_retries(lambda: self._json(self._client.post(self.url(path), json=body)), cancelled)

    def chat(
        self,
        body: dict[str, Any],
        *,
        on_delta: Callable[[str], None] | None = None,
        cancelled: threading.Event | None = None,
    ) -> Answer:
        """One chat completion, streamed (so a cancelled call closes its connection and the server stops).
        A stream cut in the middle is retried when no text was passed on yet, else ``UpstreamUnavailable``."""
        passed_on = [False]

        def deliver(text: str) -> None:
            if on_delta is not None:
                passed_on[0] = True
                on_delta(text)

        def attempt() -> Answer:
            try:
                return self._stream_chat(body, deliver, cancelled)
            except _Retryable as exc:
                if passed_on[0]:
                    raise UpstreamUnavailable(
                        f"the upstream stopped in the middle of an answer: {exc.message}"
                    ) from exc
                raise

        return self._with_retries(attempt, cancelled)

    def _stream_chat(
        self, body: dict[str, Any], deliver: Callable[[str], None], cancelled: threading.Event | None
    ) -> Answer:
        request = {**body, "stream": True, "stream_options": {"include_usage": True}}
        parts: list[str] = []
        finish: str | None = None
        usage: int | None = None
        with self._client.stream("POST", self.url("/v1/chat/completions"), json=request) as response:
            self._check_status(response)
            if "json" in response.headers.get("content-type", ""):  # a server that does not stream answers whole
                return _whole_answer(_parse(_read(response)), deliver)
            for data in _events(response.iter_lines()):
                if cancelled is not None and cancelled.is_set():
                    raise Cancelled("every caller of this upstream call has gone")
                if data == "[DONE]":
                    break
                chunk = _parse(data)
                usage = _usage(chunk) if _usage(chunk) is not None else usage
                for choice in chunk.get("choices") or []:
                    delta = (choice.get("delta") or {}).get("content")
                    if isinstance(delta, str) and delta:
                        parts.append(delta)
                        deliver(delta)
                    finish = choice.get("finish_reason") or finish
        if finish is None:
            raise _Retryable("the answer's stream ended before the answer did")
        return Answer("".join(parts), cut=finish == "length", output_tokens=usage)

    def _with_retries(self, attempt: Callable[[], T], cancelled: threading.Event | None, retry: bool = True) -> T:
        policy = self.policy
        last = "no attempt was made"
        for number in range(policy.retries + 1 if retry else 1):
            if not self.breaker.allow():
                raise UpstreamUnavailable(f"the upstream {self.base_url} is not answering ({last}); try again later")
            try:
                result = _once(attempt)
            except _Retryable as exc:
                self.breaker.failed()
                last = exc.message
                if number == policy.retries or not retry:
                    break
                backoff = random.uniform(0, min(policy.backoff_cap_s, policy.backoff_s * 2**number))
                logger.warning("upstream %s: %s; retrying in %.1f s", self.base_url, exc.message, backoff)
                _sleep(max(backoff, min(exc.retry_after or 0.0, _MAX_RETRY_AFTER_S)), cancelled)
                continue
            except (UpstreamError, Cancelled):
                self.breaker.succeeded()  # it answered: alive, if wrong (or nobody waits any more)
                raise
            except Exception:
                self.breaker.failed()  # never leave a trial call open
                raise
            self.breaker.succeeded()
            return result
        raise UpstreamUnavailable(f"the upstream {self.base_url} is not answering: {last}")

    def _json(self, response: httpx.Response) -> Any:
        self._check_status(response)
        return _parse(response.text)

    def _check_status(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        if response.is_stream_consumed is False:
            response.read()
        if response.status_code in _RETRY_STATUSES:
            retry_after = _retry_after(response.headers.get("retry-after"))
            raise _Retryable(f"HTTP {response.status_code}", retry_after)
        raise UpstreamError(f"the upstream refused the request: HTTP {response.status_code}: {response.text[:200]}")


def _once(attempt: Callable[[], T]) -> T:
    """One attempt; a transport failure (refused, reset, timed out) is retryable."""
    try:
        return attempt()
    except httpx.TransportError as exc:
        raise _Retryable(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc


def _events(lines: Iterator[str]) -> Iterator[str]:
    """The data of each server-sent event (one ``data:`` line each, as OpenAI-compatible servers send)."""
    try:
        for line in lines:
            if line.startswith("data:"):
                yield line.removeprefix("data:").strip()
            elif line and not line.startswith((":", "event:", "id:", "retry:")):
                raise UpstreamError(f"the upstream's stream holds something else than events: {line[:200]!r}")
    except (httpx.TransportError, httpx.DecodingError) as exc:
        raise _Retryable(f"{type(exc).__name__}: {exc}") from exc


def _read(response: httpx.Response) -> str:
    try:
        return response.read().decode("utf-8", "replace")
    except httpx.TransportError as exc:
        raise _Retryable(f"{type(exc).__name__}: {exc}") from exc


def _whole_answer(answer: Any, deliver: Callable[[str], None]) -> Answer:
    """A chat completion answered in one piece (``stream`` ignored)."""
    try:
        choice = answer["choices"][0]
        text = choice["message"]["content"] or ""
        finish = choice.get("finish_reason")
    except (KeyError, IndexError, TypeError):
        raise UpstreamError("the upstream's answer is not a chat completion") from None
    if not isinstance(text, str):
        raise UpstreamError("the upstream's answer is not a chat completion")
    if text:
        deliver(text)
    return Answer(text, cut=finish == "length", output_tokens=_usage(answer))


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise UpstreamError(f"the upstream's answer is not JSON: {text[:100]!r}") from None


def _usage(chunk: Any) -> int | None:
    usage = chunk.get("usage") if isinstance(chunk, dict) else None
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    return tokens if isinstance(tokens, int) else None


def _retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (a number or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _sleep(seconds: float, cancelled: threading.Event | None) -> None:
    if cancelled is None:
        time.sleep(seconds)
    elif cancelled.wait(seconds):
        raise Cancelled("every caller of this upstream call has gone")
