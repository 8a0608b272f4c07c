"""Summaries from instruct (decoder-only, chat) models: any ``AutoModelForCausalLM`` with a chat template.

Split like a pipeline into pure steps: ``preprocess`` (the chat prompt of
``models.instruct_prompt``, the document cut at its head only where the options say so,
left padding), ``forward`` (transformers' ``generate``: greedy, or sampled per document with
``temperature`` and ``seed``, ``models.sampling``) and ``postprocess``
(the new tokens only, reasoning dropped, rendered). Options map onto the instruction
and onto token caps: ``length``/``max_tokens``/``min_tokens`` ask for a length in words
and cap ``max_new_tokens``/``min_new_tokens``; ``format``, ``query`` and ``language`` are
asked for in words. Beam search and ``sentences`` are refused (``UnsupportedOption``).

The prompt and the answer share the model's context: positions up to the checkpoint's
``max_position_embeddings``, capped by ``LoadSettings.max_context_tokens``. A document
whose prompt does not fit with room for the answer goes through ``models.longdoc``
(map-reduce, exact chunk provenance), through a view of the model bound to the
request's options (``models.longdoc.OptionsWindow``), since the prompt's length depends on them.
Generation goes through the model's speed plan (``models._speed.causal``: int8 Linear
layers, last-position logits, single-threaded parts, per-document attention), set up and
checked at load (``models.backends.instruct``); ``acceleration`` reports it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import torch
from transformers import TextStreamer

from models._speed import PLAIN, SpeedPlan
from models.acceleration import Acceleration
from models.errors import UnsupportedOption
from models.generator import ModelInputs
from models.grounding import attach_grounding
from models.instruct_prompt import DEFAULT_MAX_NEW_TOKENS, messages, render_answer, render_prompt, token_limits
from models.longdoc import OptionsWindow, summarize_by_length
from models.options import check_options as check_bounds
from models.sampling import sampling_kwargs
from models.types import DEFAULT_MAX_CHUNKS, EventSink, ModelKind, Summary, SummaryOptions, TokenEvent

# The least room a document must keep in the window once the prompt and the answer are placed.
_MIN_DOCUMENT_TOKENS = 32


class InstructSummarizer:
    """One loaded causal LM and its tokenizer (left padding). Thread-safe: one batch at a time."""

    kind: ModelKind = "instruct"

    def __init__(
        self,
        name: str,
        model: Any,
        tokenizer: Any,
        *,
        context_tokens: int,
        map_batch_tokens: int = 16_384,
        max_chunks: int | None = DEFAULT_MAX_CHUNKS,
        plan: SpeedPlan = PLAIN,
    ) -> None:
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        tokenizer.padding_side = "left"  # decoder-only: every row's prompt ends where generation starts
        self.context_tokens = context_tokens  # prompt and answer together
        self.default_max_new_tokens = DEFAULT_MAX_NEW_TOKENS
        self.chunk_overlap_tokens = 0
        self.map_batch_tokens = map_batch_tokens
        self.max_chunks = max_chunks
        self.device = next(model.parameters()).device
        self.plan = plan
        self._lock = threading.RLock()
        longest = SummaryOptions(format="bullets", max_tokens=4096, min_tokens=4096)
        self._most_overhead = self.prompt_tokens("", longest)
        eos = model.generation_config.eos_token_id
        self.eos_ids = frozenset({*(eos if isinstance(eos, list) else [eos]), tokenizer.eos_token_id} - {None})

    @property
    def acceleration(self) -> Acceleration:
        """The speed paths the model runs (``models.acceleration``), shown in GET /v1/models."""
        return self.plan.report

    @property
    def max_input_tokens(self) -> int:
        """Prompt tokens that fit under the default options: the context less the default answer's room."""
        return self.window(SummaryOptions())

    def window(self, options: SummaryOptions) -> int:
        """Prompt tokens that fit under these options: the answer's room is kept free (at least the default's,
        which map-reduce's partial summaries use)."""
        return self.context_tokens - max(token_limits(options)[1], self.default_max_new_tokens)

    def rows_per_document(self, options: SummaryOptions) -> int:
        return 1  # greedy search or sampling: no beams

    def check_options(self, options: SummaryOptions) -> None:
        check_bounds(options)
        if options.is_set("sentences"):
            raise UnsupportedOption(
                f"`sentences` is for extractive models; {self.name} writes new text", param="sentences"
            )
        if options.num_beams not in (None, 1):
            raise UnsupportedOption(f"{self.name} decodes greedily; beam search is not offered", param="num_beams")
        if options.is_set("length_penalty"):
            raise UnsupportedOption(
                "`length_penalty` applies to beam search, which instruct models do not run", param="length_penalty"
            )
        # No tokenizer here (callers check on other threads than the model's): the longest fixed prompt, and
        # the query's characters as its most tokens.
        room = self.window(options) - self._most_overhead - len(options.query or "")
        if room < _MIN_DOCUMENT_TOKENS:
            param = "max_tokens" if options.is_set("max_tokens") else "query"
            raise UnsupportedOption(
                f"{self.name}'s context of {self.context_tokens} tokens has no room left", param=param
            )

    def prompt(self, text: str, options: SummaryOptions) -> str:
        """The chat prompt for one document, as the model takes it (special tokens included)."""
        return render_prompt(self.tokenizer, messages(text, options))

    def prompt_tokens(self, text: str, options: SummaryOptions) -> int:
        return len(self._encode([self.prompt(text, options)])[0])

    def count_input_tokens(self, texts: Sequence[str]) -> list[int]:
        """Each text's whole prompt under the default options."""
        return self.count_prompts(texts, SummaryOptions())

    def count_prompts(self, texts: Sequence[str], options: SummaryOptions) -> list[int]:
        if not texts:
            return []
        return [len(ids) for ids in self._encode([self.prompt(text, options) for text in texts])]

    def summarize(
        self, texts: Sequence[str], options: SummaryOptions, *, on_event: EventSink | None = None
    ) -> list[Summary]:
        """Summaries in input order; a prompt over the window follows ``options.truncation``."""
        self.check_options(options)
        with self._lock:
            # Windows and counts of the longest prompt any step of this request builds (longdoc.OptionsWindow).
            view = OptionsWindow(self, options, map_batch_tokens=self.map_batch_tokens)
            return attach_grounding(texts, summarize_by_length(view, texts, options, on_event), options)

    def summarize_fitting(
        self, texts: Sequence[str], options: SummaryOptions, on_event: EventSink | None = None
    ) -> list[Summary]:
        """One pass, documents cut at the head to fit; a blank text gets "" without a model call."""
        written = [i for i, text in enumerate(texts) if text.strip()]
        results = [Summary(summary="", input_tokens=0, output_tokens=0) for _ in texts]
        if written:
            inputs = self.preprocess([texts[i] for i in written], options)
            streamer = _streamer(self.tokenizer, on_event) if len(written) == 1 else None
            kwargs = {**self.generation_kwargs(options), **sampling_kwargs(options, len(written), self.device)}
            generated = self.forward(inputs, kwargs, streamer)
            for i, summary in zip(written, self.postprocess(generated, inputs, options), strict=True):
                results[i] = summary
        return results

    def generate_texts(self, texts: Sequence[str], options: SummaryOptions) -> list[str]:
        """Plain summaries for map-reduce's map and reduce steps."""
        return [summary.summary for summary in self.summarize_fitting(texts, options)]

    def preprocess(self, texts: Sequence[str], options: SummaryOptions) -> ModelInputs:
        """Prompts, left-padded; a document whose prompt overflows the window is cut at its head."""
        window = self.window(options)
        full = self.count_prompts(texts, options)
        fitted = [
            text if n <= window else self._head(text, options, window) for text, n in zip(texts, full, strict=True)
        ]
        encoded = self.tokenizer(
            [self.prompt(text, options) for text in fitted],
            add_special_tokens=False,
            padding=True,
            return_tensors="pt",
            verbose=False,
        )
        return ModelInputs(
            input_ids=encoded["input_ids"],
            attention_mask=encoded["attention_mask"],
            input_tokens=tuple(full),
            truncated=tuple(n > window for n in full),
        )

    def forward(self, inputs: ModelInputs, generation_kwargs: dict[str, Any], streamer: Any = None) -> torch.Tensor:
        """The new tokens only, one row per document (padding after an early end)."""
        with torch.inference_mode():  # pause points after every step (urgent work, abandoned calls) either way
            out = self.plan.generate(
                self.model,
                inputs.input_ids.to(self.device),
                inputs.attention_mask.to(self.device),
                streamer=streamer,
                **generation_kwargs,
            )
        return out[:, inputs.input_ids.shape[1] :].cpu()

    def postprocess(self, generated: torch.Tensor, inputs: ModelInputs, options: SummaryOptions) -> list[Summary]:
        rows = [row[: self._generated_length(row)] for row in generated]
        texts = self.tokenizer.batch_decode(rows, skip_special_tokens=True)
        return [
            Summary(
                summary=render_answer(text, options, cut=not self._ended(row)),
                input_tokens=input_tokens,
                output_tokens=self._generated_length(row),
                truncated=truncated,
            )
            for text, row, input_tokens, truncated in zip(
                texts, generated, inputs.input_tokens, inputs.truncated, strict=True
            )
        ]

    def generation_kwargs(self, options: SummaryOptions) -> dict[str, Any]:
        """``generate``'s arguments: greedy search (sampling is a logits processor on it: ``models.sampling``),
        the token caps of the options."""
        low, high = token_limits(options)
        kwargs: dict[str, Any] = {
            "do_sample": False,
            "num_beams": 1,
            "max_new_tokens": high,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": sorted(self.eos_ids),
        }
        if low:
            kwargs["min_new_tokens"] = low
        if options.no_repeat_ngram_size:
            kwargs["no_repeat_ngram_size"] = options.no_repeat_ngram_size
        return kwargs

    def _generated_length(self, row: torch.Tensor) -> int:
        """Tokens up to and including the first end token."""
        for position, token in enumerate(row.tolist()):
            if token in self.eos_ids:
                return position + 1
        return int(row.numel())

    def _ended(self, row: torch.Tensor) -> bool:
        return any(token in self.eos_ids for token in row.tolist())

    def _encode(self, prompts: Sequence[str]) -> list[list[int]]:
        ids: list[list[int]] = self.tokenizer(list(prompts), add_special_tokens=False, verbose=False)["input_ids"]
        return ids

    def _head(self, text: str, options: SummaryOptions, window: int) -> str:
        """The longest head of the text (at a token boundary) whose prompt fits the window."""
        budget = window - self.prompt_tokens("", options)
        offsets = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        while budget > 0:
            head = text[: offsets[min(budget, len(offsets)) - 1][1]]
            if self.prompt_tokens(head, options) <= window:
                return head
            budget -= 1 + (self.prompt_tokens(head, options) - window)
        return ""


class _DeltaStreamer(TextStreamer):  # type: ignore[misc]
    """Hands each newly finished piece of the answer to a callback (the prompt is skipped)."""

    def __init__(self, tokenizer: Any, emit: Callable[[str], None]) -> None:
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self._emit = emit

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        if text:
            self._emit(text)


def _streamer(tokenizer: Any, on_event: EventSink | None) -> _DeltaStreamer | None:
    if on_event is None:
        return None
    return _DeltaStreamer(tokenizer, lambda text: on_event(TokenEvent(0, text)))
