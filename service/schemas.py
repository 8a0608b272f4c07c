"""The HTTP protocol: request and response bodies. Unknown fields are refused."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.runner import DocumentResult
from models.types import Summary, SummaryOptions

_MODEL_NAME = r"^[A-Za-z0-9._-]{1,100}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SummaryParams(_Strict):
    """Options shared by every summarize call."""

    model: str | None = Field(None, pattern=_MODEL_NAME, description="Catalog name; the default model if omitted.")
    length: Literal["short", "medium", "long"] | None = Field(None, description="A length preset.")
    max_tokens: int | None = Field(None, ge=1, le=4096, description="Most tokens (words for extractive) to output.")
    min_tokens: int | None = Field(None, ge=0, le=4096, description="Fewest tokens (words for extractive) to output.")
    num_beams: int | None = Field(None, ge=1, le=16, description="Beam search width (seq2seq only).")
    length_penalty: float | None = Field(None, ge=-10, le=10, description="Beam length penalty (seq2seq only).")
    no_repeat_ngram_size: int | None = Field(None, ge=0, le=16, description="Block repeated n-grams (seq2seq only).")
    sentences: int | None = Field(None, ge=1, le=200, description="Exact sentence count (extractive only).")
    format: Literal["paragraph", "bullets"] = Field("paragraph", description="One paragraph, or one `- ` line each.")
    query: str | None = Field(
        None, min_length=1, description="Favour sentences relevant to this text (extractive only)."
    )
    truncation: Literal["chunk", "head", "error"] = Field(
        "chunk",
        description="Input longer than the model's window: summarize it in chunks (map-reduce), keep its head, "
        "or refuse it (422 input_too_long).",
    )

    @model_validator(mode="after")
    def _check_lengths(self) -> SummaryParams:
        if self.min_tokens is not None and self.max_tokens is not None and self.min_tokens > self.max_tokens:
            raise ValueError("min_tokens must not exceed max_tokens")
        return self

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
        )


class SummarizeRequest(SummaryParams):
    text: str = Field(min_length=1, description="The document.")
    stream: bool = Field(
        False,
        description="Answer with server-sent events: `progress` per chunk, `token` text deltas (greedy single pass), "
        "then `summary` (this same response) or `error` (the error envelope).",
    )


class BatchDocument(_Strict):
    id: str = Field(min_length=1, max_length=256)
    # Not checked here: an empty or oversized document fails alone, not the batch.
    text: str


class BatchRequest(SummaryParams):
    documents: list[BatchDocument] = Field(min_length=1)


class SentenceOut(BaseModel):
    text: str
    offset: int = Field(description="Start in the submitted text, in characters (Unicode code points).")
    length: int = Field(description="Length in characters; text == input[offset:offset + length].")
    score: float


class ChunkOut(BaseModel):
    offset: int = Field(description="Start of the chunk in the submitted text, in characters.")
    length: int = Field(description="Length in characters; the chunk is input[offset:offset + length].")
    summary: str = Field(description="What the map step made of this chunk.")


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

    @classmethod
    def build(cls, summary: Summary, model: str, options: SummaryOptions) -> SummarizeResponse:
        sentences = chunks = None
        if summary.chunks is not None:
            chunks = [ChunkOut(offset=c.offset, length=c.length, summary=c.summary) for c in summary.chunks]
        if summary.sentences is not None:
            sentences = [
                SentenceOut(text=s.text, offset=s.offset, length=s.length, score=s.score) for s in summary.sentences
            ]
        return cls(
            summary=summary.summary,
            model=model,
            format=options.format,
            sentences=sentences,
            usage=Usage(input_tokens=summary.input_tokens, output_tokens=summary.output_tokens),
            truncated=summary.truncated,
            chunks=chunks,
            reduce_rounds=summary.reduce_rounds,
        )


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
