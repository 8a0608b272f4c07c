"""What GET /v1/models answers."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ModelInfo(BaseModel):
    name: str
    kind: str = Field(description="extractive, seq2seq or instruct (a chat LLM).")
    source: str
    loaded: bool
    available: bool
    reason: str | None
    max_input_tokens: int | None
    context_window: int | None = Field(
        None,
        description="Loaded models: the tokens the model reads at once: an instruct model's context (prompt and "
        "answer together, capped by the operator), a seq2seq model's encoder window; null for extractive models, "
        "which read any length, and for models not loaded yet.",
    )
    default: bool
    accelerated: bool | None = Field(
        None, description="Loaded models: whether every speed path meant for this model runs (checked at load)."
    )
    acceleration: str | None = Field(
        None, description="Loaded models that are not accelerated: why (a speed path that did not engage, or none)."
    )
    loadable: bool = Field(True, description="Whether a request may cause it to load (DOCSUM_LOADABLE).")
    memory_bytes: int | None = Field(
        None,
        description="Loaded models: bytes of their torch parameters and buffers, counted once at load (weights "
        "only: not activations, caches or the allocator's slack); null when not loaded or not a torch model.",
    )
    upstream: UpstreamInfo | None = Field(
        None, description="Loaded remote models (openai:, llamacpp:): the server that generates for them."
    )


class UpstreamInfo(BaseModel):
    url: str = Field(description="The OpenAI-compatible server's base URL (never with credentials).")
    answering: bool = Field(description="Whether the server answered just now (or within a few seconds).")
    context_tokens: int | None = Field(description="The model's window, as the server says it or the entry gives it.")
    reason: str | None = Field(description="Why the model cannot be used now: the server is away or answers wrongly.")


class ModelList(BaseModel):
    models: list[ModelInfo]
