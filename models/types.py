"""The vocabulary shared by every summarizer: options in, summaries out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from models.acceleration import Acceleration
from models.grounding_result import Grounding

LengthPreset = Literal["short", "medium", "long"]
SummaryFormat = Literal["paragraph", "bullets"]
ModelKind = Literal["extractive", "seq2seq", "instruct"]
# What to do with input longer than the model's window: summarize it in chunks
# (map-reduce), keep its head, or refuse it.
Truncation = Literal["chunk", "head", "error"]


@dataclass(frozen=True, slots=True)
class SummaryOptions:
    """What a caller may ask of one summary. ``None`` means "the model's default"."""

    length: LengthPreset | None = None
    max_tokens: int | None = None
    min_tokens: int | None = None
    num_beams: int | None = None
    length_penalty: float | None = None
    no_repeat_ngram_size: int | None = None
    sentences: int | None = None
    format: SummaryFormat = "paragraph"
    query: str | None = None
    truncation: Truncation = "chunk"
    # Evidence for each sentence a model writes (models.grounding); None: on, for models that write new text.
    grounding: bool | None = None
    # The summary's language (a name or BCP-47 tag, models.options); None: the document's.
    language: str | None = None
    # None or 0: greedy (reproducible); above 0: sampling at this temperature.
    temperature: float | None = None
    # Seeds sampling: the same seed, document and options give the same summary, alone or in any batch.
    seed: int | None = None

    def is_set(self, name: str) -> bool:
        return getattr(self, name) is not None


DEFAULT_MAX_CHUNKS = 256
DEFAULT_MAX_SENTENCES = 5000


@dataclass(frozen=True, slots=True)
class WorkLimits:
    """The most work one document may cause, refused before the model runs (``models.errors``).

    ``max_chunks``: map chunks of a document over a seq2seq window (the reduce rounds
    after them are fewer and capped). ``max_sentences``: sentences the extractive model
    scores, which costs their square (5,000 take about a second on one core; prose of
    200,000 characters has 2,000-3,500). ``None`` lifts a limit.
    """

    max_chunks: int | None = DEFAULT_MAX_CHUNKS
    max_sentences: int | None = DEFAULT_MAX_SENTENCES


@dataclass(frozen=True, slots=True)
class ScoredSentence:
    """A sentence taken from the source: ``source[offset:offset + length] == text``."""

    text: str
    offset: int
    length: int
    score: float


@dataclass(frozen=True, slots=True)
class ChunkSummary:
    """Provenance of a long document's summary: ``source[offset:offset + length]`` was summarized as ``summary``."""

    offset: int
    length: int
    summary: str


@dataclass(frozen=True, slots=True)
class Summary:
    """One document's summary, already rendered in the requested format.

    ``chunks`` and ``reduce_rounds`` are set when the document was summarized in
    chunks: the map step's chunks, and how many reduce passes followed (the final
    pass included). ``grounding`` is set for summaries a model wrote (not copied): each
    sentence's evidence in the source and what the source does not support.
    """

    summary: str
    input_tokens: int
    output_tokens: int
    truncated: bool = False
    sentences: tuple[ScoredSentence, ...] | None = None
    chunks: tuple[ChunkSummary, ...] | None = None
    reduce_rounds: int = 0
    grounding: Grounding | None = None


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """A chunk of document ``index`` is summarized: ``done`` of ``total`` in reduce ``round`` (0 is the map)."""

    index: int
    done: int
    total: int
    round: int


@dataclass(frozen=True, slots=True)
class TokenEvent:
    """New text of document ``index``'s summary while it is generated."""

    index: int
    text: str


SummaryEvent = ProgressEvent | TokenEvent
EventSink = Callable[[SummaryEvent], None]


@dataclass(frozen=True, slots=True)
class UpstreamHealth:
    """A remote model's server as last seen: whether it answers, whether as expected, and its window."""

    url: str
    answering: bool
    context_tokens: int | None
    reason: str | None  # why it is not usable: away, or answering wrongly (a wrong model)

    @property
    def ok(self) -> bool:
        return self.answering and self.reason is None


@runtime_checkable
class RemoteModel(Protocol):
    """A summarizer whose model runs on another server (``models.remote``)."""

    def upstream_health(self) -> UpstreamHealth:
        """Asked of the server (a few seconds at most; remembered a few seconds): call off the event loop."""
        ...


@runtime_checkable
class Summarizer(Protocol):
    """What the service and the CLI need from a summarizer.

    ``summarize`` takes a batch and returns one summary per text, in order. It is
    synchronous and may be slow; callers decide which thread runs it.
    ``check_options`` raises :class:`models.errors.UnsupportedOption` for an
    option the summarizer cannot honour, before any work is done. ``on_event``,
    when given, hears progress and token events as they happen (on the calling
    thread); a summarizer with nothing to report in between may stay silent.
    """

    name: str
    kind: ModelKind

    @property
    def max_input_tokens(self) -> int | None: ...

    @property
    def acceleration(self) -> Acceleration:
        """Which of docsum's speed paths its model calls take, checked at load (``models.acceleration``;
        shown in GET /v1/models): ``NOT_APPLICABLE`` for a summarizer with none."""
        ...

    def check_options(self, options: SummaryOptions) -> None: ...

    def count_input_tokens(self, texts: Sequence[str]) -> list[int]:
        """Each text's input tokens as the model takes them (before its window cuts them); an estimate where
        it has no tokenizer. The batch planner (``models.planning``) sizes calls by these."""
        ...

    def rows_per_document(self, options: SummaryOptions) -> int:
        """Rows one document takes in a model call under these options: its beam width (1 if it does not search)."""
        ...

    def summarize(
        self, texts: Sequence[str], options: SummaryOptions, *, on_event: EventSink | None = None
    ) -> list[Summary]: ...
