"""The summarize protocol: the options every summary takes, and the bodies of /v1/summarize and its batch.

Unknown fields are refused. A job (``service.features.jobs.protocol``) takes the same options."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from models.options import LANGUAGE_PATTERN, MAX_LANGUAGE_CHARS, MAX_SEED, MAX_TEMPERATURE
from models.runner import DocumentResult
from models.types import Summary, SummaryOptions
from service.features.ground.protocol import EvidenceOut, GroundingOut
from service.features.protocol import NOT_BLANK, PAGES, StrictModel
from service.features.summarize.source import DocumentOut, Source

_MODEL_NAME = r"^[A-Za-z0-9._-]{1,100}$"
_GENERATIVE = "seq2seq only: extractive and instruct models refuse it (422 unsupported_option)."
_EXTRACTIVE = "extractive only: seq2seq and instruct models refuse it (422 unsupported_option)."
_INSTRUCT = "instruct models only: extractive and seq2seq models refuse it (422 unsupported_option)."


class SummaryParams(StrictModel):
    """Options shared by every summarize call."""

    model: str | None = Field(None, pattern=_MODEL_NAME, description="Catalog name; the default model if omitted.")
    length: Literal["short", "medium", "long"] | None = Field(None, description="A length preset.")
    max_tokens: int | None = Field(None, ge=1, le=4096, description="Most tokens (words for extractive) to output.")
    min_tokens: int | None = Field(
        None,
        ge=0,
        le=4096,
        description="Fewest tokens (words for extractive) to output; at most max_tokens (else 422 invalid_request).",
    )
    num_beams: int | None = Field(
        None,
        ge=1,
        le=16,
        description="Beam search width; seq2seq only: extractive models refuse it, instruct models take only 1 "
        "(422 unsupported_option).",
    )
    length_penalty: float | None = Field(None, ge=-10, le=10, description=f"Beam length penalty; {_GENERATIVE}")
    no_repeat_ngram_size: int | None = Field(
        None,
        ge=0,
        le=16,
        description="Block repeated n-grams; seq2seq and instruct models: extractive models refuse it "
        "(422 unsupported_option).",
    )
    sentences: int | None = Field(None, ge=1, le=200, description=f"Exact sentence count; {_EXTRACTIVE}")
    format: Literal["paragraph", "bullets"] = Field("paragraph", description="One paragraph, or one `- ` line each.")
    query: str | None = Field(
        None,
        min_length=1,
        description="Favour sentences relevant to this text (extractive); focus the summary on it (instruct); "
        "seq2seq models refuse it (422 unsupported_option).",
    )
    truncation: Literal["chunk", "head", "error"] = Field(
        "chunk",
        description="Input longer than the model's window: summarize it in chunks (map-reduce), keep its head, "
        "or refuse it (422 input_too_long).",
    )
    grounding: bool | None = Field(
        None,
        description="Evidence for every sentence a model writes, and what the source does not support (the "
        "response's `grounding`, as POST /v1/ground gives it). On by default for seq2seq models (a few ms a "
        "summary); extractive sentences are copied, with their offsets in `sentences`.",
    )
    language: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_LANGUAGE_CHARS,
        pattern=LANGUAGE_PATTERN,
        description="Write the summary in this language: a name (`French`) or a BCP-47 tag (`fr`, `pt-BR`); "
        f"default: the document's. {_INSTRUCT}",
    )
    temperature: float | None = Field(
        None,
        ge=0,
        le=MAX_TEMPERATURE,
        description=f"Sample at this temperature; 0 or omitted: greedy, the same summary every time. {_INSTRUCT}",
    )
    seed: int | None = Field(
        None,
        ge=0,
        le=MAX_SEED,
        description="Seed for sampling: the same seed, document and options give the same summary, alone or "
        f"batched with any other documents (same docsum, model and hardware). {_INSTRUCT}",
    )

    @field_validator("min_tokens")
    @classmethod
    def _at_most_max_tokens(cls, value: int | None, info: ValidationInfo) -> int | None:
        maximum = info.data.get("max_tokens")
        if value is not None and maximum is not None and value > maximum:
            raise ValueError("min_tokens must not exceed max_tokens")
        return value

    def to_options(self) -> SummaryOptions:
        return SummaryOptions(
            length=self.length,
            max_tokens=self.max_tokens,
            min_tokens=self.min_tokens,
            num_beams=self.num_beams,
            length_penalty=self.length_penalty,
            no_repeat_ngram_size=self.no_repeat_ngram_size,
            sentences=self.sentences,
            format=self.format,
            query=self.query,
            truncation=self.truncation,
            grounding=self.grounding,
            language=self.language,
            temperature=self.temperature,
            seed=self.seed,
        )


class SummarizeRequest(SummaryParams):
    # Blank text is refused by the handler with 422 empty_document, as on every other path.
    text: str = Field(
        description="The document: at least one character other than white space (else 422 empty_document).",
        json_schema_extra=NOT_BLANK,
    )
    include_text: bool = Field(
        False,
        description="Return the text every offset points into as `text`: the text sent, or a file's extracted text.",
    )
    stream: bool = Field(
        False,
        description="Answer with server-sent events: `progress` per chunk, `token` text deltas (greedy single pass), "
        "then `summary` (this same response) or `error` (the error envelope) if the model fails mid-way. "
        "The stream starts once the model has begun: a request refused before that gets a plain error status.",
    )


class BatchDocument(StrictModel):
    id: str = Field(min_length=1, max_length=256)
    # Not checked here: an empty or oversized document fails alone, not the batch.
    text: str = Field(description="A blank or oversized document fails alone: its item carries the error.")


class BatchRequest(SummaryParams):
    documents: list[BatchDocument] = Field(min_length=1)


class SentenceOut(BaseModel):
    text: str
    offset: int = Field(description="Start in the submitted text, in characters (Unicode code points).")
    length: int = Field(description="Length in characters; text == input[offset:offset + length].")
    score: float
    pages: list[int] | None = Field(None, description=PAGES, exclude_if=lambda pages: pages is None)


class ChunkOut(BaseModel):
    offset: int = Field(description="Start of the chunk in the submitted text, in characters.")
    length: int = Field(description="Length in characters; the chunk is input[offset:offset + length].")
    summary: str = Field(description="What the map step made of this chunk.")
    pages: list[int] | None = Field(None, description=PAGES, exclude_if=lambda pages: pages is None)


class Usage(BaseModel):
    input_tokens: int = Field(description="Tokens in the whole input, including any part cut off.")
    output_tokens: int


class SummarizeResponse(BaseModel):
    summary: str
    model: str
    format: Literal["paragraph", "bullets"]
    sentences: list[SentenceOut] | None = Field(None, description="Extractive models: the chosen sentences.")
    usage: Usage
    truncated: bool = Field(description="Whether the input was cut to fit the model's window.")
    chunks: list[ChunkOut] | None = Field(None, description="Long input summarized in chunks: where each came from.")
    reduce_rounds: int = Field(0, description="Reduce passes after the map step, the final one included.")
    grounding: GroundingOut | None = Field(
        None, description="Summaries a model wrote: each sentence's evidence in the submitted text (`grounding`)."
    )
    text: str | None = Field(
        None,
        description="With `include_text`: the text every offset points into (a file's extracted text).",
        exclude_if=lambda text: text is None,
    )
    document: DocumentOut | None = Field(
        None, description="An uploaded file: what it was read as.", exclude_if=lambda document: document is None
    )

    @classmethod
    def build(
        cls, summary: Summary, model: str, options: SummaryOptions, source: Source | None = None
    ) -> SummarizeResponse:
        sentences = chunks = None
        if summary.chunks is not None:
            chunks = [ChunkOut(offset=c.offset, length=c.length, summary=c.summary) for c in summary.chunks]
        if summary.sentences is not None:
            sentences = [
                SentenceOut(text=s.text, offset=s.offset, length=s.length, score=s.score) for s in summary.sentences
            ]
        response = cls(
            summary=summary.summary,
            model=model,
            format=options.format,
            sentences=sentences,
            usage=Usage(input_tokens=summary.input_tokens, output_tokens=summary.output_tokens),
            truncated=summary.truncated,
            chunks=chunks,
            reduce_rounds=summary.reduce_rounds,
            grounding=GroundingOut.build(summary.grounding) if summary.grounding is not None else None,
        )
        return _annotate(response, source) if source is not None else response


def _annotate(response: SummarizeResponse, source: Source) -> SummarizeResponse:
    """The response with ``text``, ``document`` and the ranges' ``pages`` its source gives it."""
    if source.include_text:
        response.text = source.text
    response.document = source.document_out()
    document = source.document
    if document is not None and document.pages is not None:
        ranges: list[SentenceOut | ChunkOut | EvidenceOut] = [*(response.sentences or []), *(response.chunks or [])]
        for sentence in response.grounding.sentences if response.grounding else []:
            ranges.extend(sentence.support)
        for item in ranges:
            item.pages = document.pages_of(item.offset, item.length)
    return response


class BatchItem(SummarizeResponse):
    id: str


class ItemError(BaseModel):
    code: str
    message: str


class BatchItemError(BaseModel):
    id: str
    error: ItemError


class BatchResponse(BaseModel):
    results: list[BatchItem | BatchItemError]


def batch_item(result: DocumentResult, model: str, options: SummaryOptions) -> BatchItem | BatchItemError:
    """One document's outcome as the batch endpoint and ``docsum batch`` write it."""
    if result.summary is None:
        assert result.error is not None
        return BatchItemError(id=result.id, error=ItemError(code=result.error.code, message=result.error.message))
    response = SummarizeResponse.build(result.summary, model, options)
    return BatchItem(id=result.id, **response.model_dump())
