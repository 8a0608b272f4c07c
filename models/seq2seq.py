"""Abstractive summaries from any ``AutoModelForSeq2SeqLM`` (BART, PEGASUS, T5, LED, mBART).

transformers 5 removed ``pipeline("summarization")``; this is its replacement,
split like a pipeline into pure steps: ``preprocess`` (prefix, tokenize, head
truncation with the full count kept), ``forward`` (the generator's ``generate``) and
``postprocess`` (decode, count, render). Defaults come from the checkpoint:
its ``generation_config`` and ``task_specific_params["summarization"]`` (T5's
``summarize: `` prefix lives there); request options override them.

The pipeline runs no model itself: it is given a generator (``models.generator``), a
transformers model (:meth:`Seq2SeqSummarizer.load`) or another backend's
(``models.backends.ctranslate2``), and calls it with the same keyword arguments.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import torch
from transformers import TextStreamer
from transformers.generation.streamers import BaseStreamer

from models.errors import UnsupportedOption
from models.generator import ModelInputs, Seq2SeqGenerator, TransformersGenerator
from models.grounding import attach_grounding
from models.loading import LoadSettings, load_model_and_tokenizer
from models.longdoc import reindexed, summarize_by_length
from models.options import check_options as check_bounds
from models.text import render, split_sentences
from models.types import DEFAULT_MAX_CHUNKS, EventSink, LengthPreset, ModelKind, Summary, SummaryOptions, TokenEvent

if TYPE_CHECKING:
    from models.acceleration import Acceleration

# Summary lengths in generated tokens for the ``length`` presets: (min, max).
LENGTH_PRESETS: dict[LengthPreset, tuple[int, int]] = {
    "short": (10, 60),
    "medium": (40, 142),
    "long": (100, 300),
}
# Position limits beyond this are "unlimited" placeholders (tokenizers use 1e30).
_NO_LIMIT = 1_000_000
_BEAM_ONLY_KEYS = ("early_stopping", "length_penalty", "num_beam_groups", "diversity_penalty")
# Options of instruct models that seq2seq models refuse, and why. transformers' generate could sample a
# seq2seq model, but docsum decodes them as their checkpoints were tuned (beam search), and neither the
# speed paths (models._speed) nor CTranslate2 are checked to sample the same way; a summary's language is
# the one its checkpoint was trained on, and nothing in the input can ask for another.
_INSTRUCT_ONLY = {
    "language": "a seq2seq model writes in the language it was trained on and takes no instruction",
    "temperature": "seq2seq models are decoded as their checkpoints set (beam search), not sampled",
    "seed": "seq2seq models are decoded as their checkpoints set (beam search), not sampled",
}

G = TypeVar("G", bound=Seq2SeqGenerator)


class Seq2SeqSummarizer(Generic[G]):
    """One loaded checkpoint: its generator (``G``) and tokenizer. Thread-safe: a lock keeps one batch
    in flight, since fast tokenizers fail with "Already borrowed" when two threads share them."""

    kind: ModelKind = "seq2seq"

    def __init__(
        self,
        name: str,
        generator: G,
        tokenizer: Any,
        *,
        chunk_overlap_tokens: int = 0,
        map_batch_tokens: int = 16_384,
        max_chunks: int | None = DEFAULT_MAX_CHUNKS,
    ) -> None:
        self.name = name
        # Long documents: tokens of context repeated across a chunk cut, how many input
        # tokens one batched map call may take (chunks per call = this / window), and how
        # many map chunks one document may take (more is refused before any model call).
        self.chunk_overlap_tokens = chunk_overlap_tokens
        self.map_batch_tokens = map_batch_tokens
        self.max_chunks = max_chunks
        self.generator = generator
        self.tokenizer = tokenizer
        # Reentrant: a call may run another between its decoding steps (models.yielding), on this thread.
        self._lock = threading.RLock()
        config, generation_config = generator.config, generator.generation_config
        summarization = (getattr(config, "task_specific_params", None) or {}).get("summarization", {})
        self.prefix: str = summarization.get("prefix", "")
        self.task_defaults: dict[str, Any] = {k: v for k, v in summarization.items() if k != "prefix"}
        self._max_input_tokens = _input_window(config, tokenizer)
        self.max_output_tokens = _output_window(config)
        default_length = self.task_defaults.get("max_length") or generation_config.max_length
        # max_length counts the decoder start token; checkpoints without one get a news-summary length.
        default_new = default_length - 1 if default_length else 128
        self.default_max_new_tokens: int = _clamp(default_new, self.max_output_tokens)

    @staticmethod
    def load(name: str, source: str, settings: LoadSettings | None = None) -> Seq2SeqSummarizer[TransformersGenerator]:
        """A Hugging Face checkpoint (hub id or directory) run by transformers: the default backend."""
        settings = settings or LoadSettings()
        model, tokenizer, device, plan = load_model_and_tokenizer(source, settings)
        generator = TransformersGenerator(model, device, plan)
        return Seq2SeqSummarizer(name, generator, tokenizer, max_chunks=settings.limits.max_chunks)

    @property
    def max_input_tokens(self) -> int:
        return self._max_input_tokens

    @property
    def acceleration(self) -> Acceleration:
        """The generator's speed paths (``models.acceleration``), shown in GET /v1/models."""
        return self.generator.acceleration

    @property
    def default_num_beams(self) -> int:
        """The checkpoint's beam width; 1 where its generation_config does not say."""
        return int(self.generator.generation_config.num_beams or 1)

    def rows_per_document(self, options: SummaryOptions) -> int:
        """Decoder rows per document in a call: the beam width these options give."""
        return int(self.generation_kwargs(options).get("num_beams", self.default_num_beams))

    def check_options(self, options: SummaryOptions) -> None:
        check_bounds(options)
        for name in ("sentences", "query"):
            if options.is_set(name):
                raise UnsupportedOption(f"`{name}` is for extractive models; {self.name} writes new text", param=name)
        for name, reason in _INSTRUCT_ONLY.items():
            if options.is_set(name):
                raise UnsupportedOption(f"`{name}` is for instruct models: {reason}", param=name)
        limit = self.max_output_tokens
        for name in ("max_tokens", "min_tokens"):
            value = getattr(options, name)
            if limit is not None and value is not None and value > limit:
                raise UnsupportedOption(f"{self.name} generates at most {limit} tokens", param=name)

    def summarize(
        self, texts: Sequence[str], options: SummaryOptions, *, on_event: EventSink | None = None
    ) -> list[Summary]:
        """Summaries in input order. Inputs over the window follow ``options.truncation``:
        chunked map-reduce (see ``models.longdoc``), head truncation, or ``InputTooLong``."""
        self.check_options(options)
        with self._lock:
            return attach_grounding(texts, summarize_by_length(self, texts, options, on_event), options)

    def summarize_fitting(
        self, texts: Sequence[str], options: SummaryOptions, on_event: EventSink | None = None
    ) -> list[Summary]:
        """One pass, inputs cut at the head to fit. The caller holds the lock.

        A text with nothing but white space (a reduce step over partial summaries that all came
        out empty) gets an empty summary without a model call: some tokenizers make no tokens of
        it at all, and no model takes an input of zero tokens.
        """
        blank = [i for i, text in enumerate(texts) if not text.strip()]
        if not blank:
            inputs = self.preprocess(texts)
            generated = self.forward(inputs, self.generation_kwargs(options), self._streamer(on_event, len(texts)))
            return self.postprocess(generated, inputs, options)
        written = [i for i in range(len(texts)) if i not in set(blank)]
        results: dict[int, Summary] = {}
        if written:
            subset = [texts[i] for i in written]
            results.update(
                zip(written, self.summarize_fitting(subset, options, reindexed(on_event, written)), strict=True)
            )
        counts = self.count_input_tokens([texts[i] for i in blank])
        results.update(
            (i, Summary(summary="", input_tokens=n, output_tokens=0)) for i, n in zip(blank, counts, strict=True)
        )
        return [results[i] for i in range(len(texts))]

    def count_input_tokens(self, texts: Sequence[str]) -> list[int]:
        """Each text's length as the model would take it: prefix and special tokens included."""
        if not texts:
            return []
        prefixed = [self.prefix + text for text in texts]
        return [len(ids) for ids in self.tokenizer(prefixed, verbose=False)["input_ids"]]

    def generate_texts(self, texts: Sequence[str], options: SummaryOptions) -> list[str]:
        """Plain summaries of texts that fit the window, for the map and reduce steps; "" for a blank text."""
        written = [i for i, text in enumerate(texts) if text.strip()]
        results = [""] * len(texts)
        if written:
            inputs = self.preprocess([texts[i] for i in written])
            generated = self.forward(inputs, self.generation_kwargs(options))
            decoded = self.tokenizer.batch_decode(generated, skip_special_tokens=True)
            for i, text in zip(written, decoded, strict=True):
                results[i] = " ".join(text.split())
        return results

    def preprocess(self, texts: Sequence[str]) -> ModelInputs:
        """Tokenize with the prefix; cut inputs longer than the window at the head."""
        prefixed = [self.prefix + text for text in texts]
        window = self.max_input_tokens
        # Counted before truncation so usage reports the whole document.
        full_lengths = tuple(self.count_input_tokens(texts))
        encoded = self.tokenizer(
            prefixed, truncation=True, max_length=window, padding=True, return_tensors="pt", verbose=False
        )
        return ModelInputs(
            input_ids=encoded["input_ids"],
            attention_mask=encoded["attention_mask"],
            input_tokens=full_lengths,
            truncated=tuple(n > window for n in full_lengths),
        )

    def forward(
        self, inputs: ModelInputs, generation_kwargs: dict[str, Any], streamer: BaseStreamer | None = None
    ) -> torch.Tensor:
        """The generator's token ids for the batch (on the CPU, laid out as ``generate`` lays them out)."""
        return self.generator.generate(inputs, generation_kwargs, streamer)

    def postprocess(self, generated: torch.Tensor, inputs: ModelInputs, options: SummaryOptions) -> list[Summary]:
        texts = self.tokenizer.batch_decode(generated, skip_special_tokens=True)
        return [
            Summary(
                summary=_render_generated(text, options),
                input_tokens=input_tokens,
                output_tokens=self._count_generated(row),
                truncated=truncated,
            )
            for text, row, input_tokens, truncated in zip(
                texts, generated, inputs.input_tokens, inputs.truncated, strict=True
            )
        ]

    def generation_kwargs(self, options: SummaryOptions) -> dict[str, Any]:
        """The checkpoint's summarization defaults, overridden by the request."""
        kwargs = dict(self.task_defaults)
        min_tokens, max_tokens = LENGTH_PRESETS[options.length] if options.length else (None, None)
        max_tokens = options.max_tokens if options.max_tokens is not None else max_tokens
        min_tokens = options.min_tokens if options.min_tokens is not None else min_tokens
        # Lengths are given as max_length/min_length, which count the decoder start token
        # (hence + 1): the same as max_new_tokens, without transformers logging that both are set.
        if max_tokens is not None:
            max_tokens = _clamp(max_tokens, self.max_output_tokens)
            kwargs["max_length"] = max_tokens + 1
            checkpoint_min = kwargs.get("min_length", self.generator.generation_config.min_length) or 0
            if min_tokens is None and checkpoint_min > max_tokens + 1:
                min_tokens = max_tokens  # a checkpoint minimum above the new maximum would override it
        if min_tokens is not None:
            kwargs["min_length"] = (min_tokens if max_tokens is None else min(min_tokens, max_tokens)) + 1
        elif "max_length" not in kwargs and self.generator.generation_config.max_length is None:
            kwargs["max_length"] = self.default_max_new_tokens + 1  # else transformers' 20, with a warning
        for name in ("num_beams", "length_penalty", "no_repeat_ngram_size"):
            value = getattr(options, name)
            if value is not None:
                kwargs[name] = value
        if kwargs.get("num_beams", self.default_num_beams) == 1:
            _drop_beam_only_settings(kwargs)
        return kwargs

    def _streamer(self, on_event: EventSink | None, batch_size: int) -> BaseStreamer | None:
        """Token events for a lone document; a batch is not streamed token by token."""
        if on_event is None or batch_size != 1:
            return None
        return _DeltaStreamer(self.tokenizer, lambda text: on_event(TokenEvent(0, text)))

    def _count_generated(self, row: torch.Tensor) -> int:
        """Generated tokens up to the first end-of-sequence, the decoder start token aside.

        Not "tokens other than padding": batched beam search fills finished rows with
        the EOS id where the pad id is 0 (T5), which would overcount.
        """
        body = row[1:]
        eos = (body == self.tokenizer.eos_token_id).nonzero()
        if len(eos):
            return int(eos[0, 0]) + 1
        pad = self.tokenizer.pad_token_id
        return int((body != pad).sum()) if pad is not None else int(body.numel())


class _DeltaStreamer(TextStreamer):  # type: ignore[misc]
    """Hands each newly finished piece of text to a callback instead of printing it."""

    def __init__(self, tokenizer: Any, emit: Callable[[str], None]) -> None:
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self._emit = emit

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        if text:
            self._emit(text)


def _render_generated(text: str, options: SummaryOptions) -> str:
    text = text.strip()
    if options.format == "bullets":
        return render([s.text for s in split_sentences(text)], "bullets")
    return " ".join(text.split())


def _drop_beam_only_settings(kwargs: dict[str, Any]) -> None:
    """Greedy search: unset beam-search settings rather than let transformers warn about them
    (the checkpoint's own values are overridden by these)."""
    for key in _BEAM_ONLY_KEYS:
        kwargs.pop(key, None)
    kwargs["early_stopping"] = False
    kwargs["length_penalty"] = 1.0


def _clamp(value: int, limit: int | None) -> int:
    return value if limit is None else min(value, limit)


def _input_window(config: Any, tokenizer: Any) -> int:
    """How many input tokens the encoder takes: the tighter of tokenizer and positions."""
    limits = [
        limit
        for limit in (
            getattr(tokenizer, "model_max_length", None),
            getattr(config, "max_encoder_position_embeddings", None),
            getattr(config, "max_position_embeddings", None),
            getattr(config, "n_positions", None),
        )
        if isinstance(limit, int) and 0 < limit < _NO_LIMIT
    ]
    return min(limits) if limits else 512


def _output_window(config: Any) -> int | None:
    """Absolute decoder positions cap the output; relative ones (T5) do not."""
    for name in ("max_decoder_position_embeddings", "max_position_embeddings"):
        limit = getattr(config, name, None)
        if isinstance(limit, int) and 0 < limit < _NO_LIMIT:
            return limit
    return None
