"""Summaries from a model on an OpenAI-compatible server (``models.upstream``): docsum's prompts, options,
map-reduce with provenance and grounding; the server only generates.

The chat is ``models.instruct_prompt``'s, sent as messages (the server applies its model's
template); the answer is rendered the same way as an in-process instruct model's. The
documents of one call fan out to the server at once, at most ``concurrency`` in flight per
model (the server's own batching does the rest); each answer is streamed, so token events
pass through as they come and a call whose callers left closes its streams.

What the server is (its model, its window, how it counts tokens) is asked once it
answers (``discover``): a server that is down when the model loads is asked again
on the next call.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from models.acceleration import Acceleration
from models.errors import ModelError, UnsupportedOption, UpstreamUnavailable
from models.grounding import attach_grounding
from models.instruct_prompt import DEFAULT_MAX_NEW_TOKENS, messages, render_answer, token_limits
from models.longdoc import OptionsWindow, summarize_by_length
from models.options import check_options as check_bounds
from models.remote_discovery import RemoteConfig, ServerInfo, discover
from models.remote_tokens import MARGIN, CachedCounter, Estimate
from models.types import (
    DEFAULT_MAX_CHUNKS,
    EventSink,
    ModelKind,
    Summary,
    SummaryEvent,
    SummaryOptions,
    TokenEvent,
    UpstreamHealth,
)
from models.upstream import Answer, Upstream
from models.yielding import check_abandoned

__all__ = ["RemoteConfig", "RemoteSummarizer"]

logger = logging.getLogger(__name__)

REMOTE = Acceleration(note="generation runs on the remote server")
_MIN_DOCUMENT_TOKENS = 32
_POLL_S = 0.05  # how often a waiting call looks for gone callers and passes token events on
_HEALTH_TIMEOUT_S = 2.0
_HEALTH_TTL_S = 5.0  # GET /v1/models and /ready ask the server at most this often


class RemoteSummarizer:
    """A remote chat model. Thread-safe; each call's documents run concurrently upstream."""

    kind: ModelKind = "instruct"
    acceleration = REMOTE

    def __init__(
        self,
        name: str,
        upstream: Upstream,
        config: RemoteConfig,
        *,
        map_batch_tokens: int = 16_384,
        max_chunks: int | None = DEFAULT_MAX_CHUNKS,
    ) -> None:
        self.name = name
        self.upstream = upstream
        self.config = config
        self.default_max_new_tokens = DEFAULT_MAX_NEW_TOKENS
        self.chunk_overlap_tokens = 0
        self.map_batch_tokens = map_batch_tokens
        self.max_chunks = max_chunks
        self._pool = ThreadPoolExecutor(config.concurrency, thread_name_prefix=f"docsum-upstream-{name}")
        self._info: ServerInfo | None = None
        self._info_lock = threading.Lock()
        self._overheads: dict[SummaryOptions, int] = {}
        self._health: tuple[float, UpstreamHealth] | None = None
        # Calls the engine may run side by side (service.overlap): the server batches; the pool bounds the total.
        self.concurrent_calls = config.concurrency
        self.keep_alive: object = None  # what must live as long as the summarizer (an in-process server)

    def discover(self, *, retry: bool = True) -> ServerInfo:
        """What the server is, asked once it answers (``UpstreamUnavailable`` while it does not)."""
        with self._info_lock:
            if self._info is None:
                self._info = discover(self.upstream, self.config, retry=retry)
                logger.info(
                    "%s: %s serves %s, window %d tokens, counted by %s",
                    self.name,
                    self.upstream.base_url,
                    self._info.model or "its one model",
                    self._info.context_tokens,
                    self._info.counter.name,
                )
            return self._info

    def upstream_health(self) -> UpstreamHealth:
        """Whether the server answers as expected now (asked at most every few seconds, briefly)."""
        now = time.monotonic()
        if self._health is not None and now - self._health[0] < _HEALTH_TTL_S:
            return self._health[1]
        url = self.upstream.base_url
        try:
            self.upstream.get_json("/v1/models", retry=False, timeout_s=_HEALTH_TIMEOUT_S)
        except UpstreamUnavailable as exc:
            health = UpstreamHealth(url, False, self.context_tokens, exc.message)
        except ModelError:
            health = UpstreamHealth(url, True, self.context_tokens, None)  # no model list: it answers all the same
        else:
            try:
                health = UpstreamHealth(url, True, self.discover(retry=False).context_tokens, None)
            except ModelError as exc:
                health = UpstreamHealth(url, not isinstance(exc, UpstreamUnavailable), self.context_tokens, exc.message)
        self._health = (now, health)
        return health

    @property
    def info(self) -> ServerInfo | None:
        return self._info

    @property
    def context_tokens(self) -> int | None:
        return self._info.context_tokens if self._info else self.config.context_tokens

    @property
    def max_input_tokens(self) -> int | None:
        """The prompt's room under the default options; None while the window is unknown (never asks the server)."""
        context = self.context_tokens
        return None if context is None else context - self.default_max_new_tokens

    def window(self, options: SummaryOptions) -> int:
        """Prompt tokens that fit under these options: the answer's room is kept free."""
        context = self.discover().context_tokens
        return context - max(token_limits(options)[1], self.default_max_new_tokens)

    def rows_per_document(self, options: SummaryOptions) -> int:
        return 1

    def check_options(self, options: SummaryOptions) -> None:
        check_bounds(options)
        for param, why in (
            ("sentences", "is for extractive models"),
            ("length_penalty", "applies to beam search"),
            ("no_repeat_ngram_size", "has no OpenAI-compatible equivalent"),
        ):
            if options.is_set(param):
                raise UnsupportedOption(f"`{param}` {why}; {self.name} is a remote chat model", param=param)
        if options.num_beams not in (None, 1):
            raise UnsupportedOption(f"{self.name} decodes greedily; beam search is not offered", param="num_beams")
        # Checked without the server (callers check on any thread): 256 tokens for the chat template and the
        # instruction, more than any common template takes, and the query's characters as its most tokens.
        if self.context_tokens is not None:
            room = self.context_tokens - max(token_limits(options)[1], self.default_max_new_tokens)
            if room - len(options.query or "") - 256 < _MIN_DOCUMENT_TOKENS:
                param = "max_tokens" if options.is_set("max_tokens") else "query"
                raise UnsupportedOption(
                    f"{self.name}'s window of {self.context_tokens} tokens has no room left", param=param
                )

    def count_input_tokens(self, texts: Sequence[str]) -> list[int]:
        """Each text's prompt under the default options; the estimate while the server does not answer (the
        engine's planner sizes calls by these, and must not fail)."""
        try:
            return self.count_prompts(texts, SummaryOptions())
        except ModelError:
            estimate = Estimate()
            return [estimate.chat_tokens(messages(text, SummaryOptions())) + MARGIN for text in texts]

    def count_prompts(self, texts: Sequence[str], options: SummaryOptions) -> list[int]:
        counter = self._counter()
        overhead = self._overhead(options)
        counts = list(self._pool.map(counter.text_tokens, texts)) if len(texts) > 1 else counter.many(texts)
        return [overhead + n + MARGIN for n in counts]

    def summarize(
        self, texts: Sequence[str], options: SummaryOptions, *, on_event: EventSink | None = None
    ) -> list[Summary]:
        self.check_options(options)
        self.discover()
        # A map call as large as the server takes at once: the fan-out bound, not a padded batch, limits it.
        view = OptionsWindow(self, options, map_batch_tokens=self.window(options) * self.config.concurrency)
        return attach_grounding(texts, summarize_by_length(view, texts, options, on_event), options)

    def summarize_fitting(
        self, texts: Sequence[str], options: SummaryOptions, on_event: EventSink | None = None
    ) -> list[Summary]:
        """One pass, documents cut at the head to fit; a blank text gets "" without a call."""
        window = self.window(options)
        written = [i for i, text in enumerate(texts) if text.strip()]
        counts = self.count_prompts([texts[i] for i in written], options)
        fitted = [
            texts[i] if n <= window else self._head(texts[i], options, window)
            for i, n in zip(written, counts, strict=True)
        ]
        answers = self._gather([self._body(text, options) for text in fitted], on_event)
        results = [Summary(summary="", input_tokens=0, output_tokens=0) for _ in texts]
        for i, answer, n in zip(written, answers, counts, strict=True):
            output = (
                answer.output_tokens if answer.output_tokens is not None else self._counter().text_tokens(answer.text)
            )
            text = render_answer(answer.text, options, cut=answer.cut)
            results[i] = Summary(summary=text, input_tokens=n, output_tokens=output, truncated=n > window)
        return results

    def generate_texts(self, texts: Sequence[str], options: SummaryOptions) -> list[str]:
        return [summary.summary for summary in self.summarize_fitting(texts, options)]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.upstream.close()

    def _body(self, text: str, options: SummaryOptions) -> dict[str, Any]:
        """The chat completion request: greedy unless a ``temperature`` option says otherwise."""
        low, high = token_limits(options)
        body: dict[str, Any] = {"messages": messages(text, options), "max_tokens": high, "temperature": 0.0}
        if self.discover().model:
            body["model"] = self.discover().model
        if low:
            body["min_tokens"] = low  # vLLM honours it; servers without it ignore it
        for name in ("temperature", "seed"):  # options some docsum versions have
            if getattr(options, name, None) is not None:
                body[name] = getattr(options, name)
        return body

    def _gather(self, bodies: Sequence[dict[str, Any]], on_event: EventSink | None) -> list[Answer]:
        """Every request at once (at most ``concurrency`` in flight); token events and the check for gone
        callers on this thread while they run. Stopped callers close their streams."""
        events: queue.SimpleQueue[SummaryEvent] = queue.SimpleQueue()
        cancelled = threading.Event()

        def one(index: int, body: dict[str, Any]) -> Answer:
            sink = (lambda text: events.put(TokenEvent(index, text))) if on_event is not None else None
            return self.upstream.chat(body, on_delta=sink, cancelled=cancelled)

        futures = [self._pool.submit(one, i, body) for i, body in enumerate(bodies)]
        try:
            _wait(futures, events, on_event)
        except BaseException:
            cancelled.set()
            for future in futures:
                future.cancel()
            raise
        return [future.result() for future in futures]

    def _counter(self) -> CachedCounter:
        return self.discover().counter

    def _overhead(self, options: SummaryOptions) -> int:
        if options not in self._overheads:
            self._overheads[options] = self._counter().chat_tokens(messages("", options))
        return self._overheads[options]

    def _head(self, text: str, options: SummaryOptions, window: int) -> str:
        """The longest head (cut at a whitespace) whose prompt fits, found in a few counts."""
        head = text
        for _ in range(12):
            [n] = self.count_prompts([head], options)
            if n <= window:
                return head
            room = window - self._overhead(options) - MARGIN
            keep = int(len(head) * max(0.0, room) / max(1, n - self._overhead(options)) * 0.95)
            head = head[:keep].rsplit(None, 1)[0] if " " in head[:keep] else head[:keep]
        return ""


def _wait(futures: list[Future[Answer]], events: queue.SimpleQueue[SummaryEvent], on_event: EventSink | None) -> None:
    def drain() -> None:
        while not events.empty():
            event = events.get()
            if on_event is not None:
                on_event(event)

    while True:
        pending = [future for future in futures if not future.done()]
        drain()
        if not pending:
            return
        check_abandoned()  # models.yielding: Cancelled once every caller has gone
        wait(pending, timeout=_POLL_S, return_when=FIRST_COMPLETED)
