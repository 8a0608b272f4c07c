"""What GET /v1/models answers."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ModelInfo(BaseModel):
    name: str
    kind: str
    source: str
    loaded: bool
    available: bool
    reason: str | None
    max_input_tokens: int | None
    default: bool
    accelerated: bool | None = Field(
        None, description="Loaded models: whether every speed path meant for this model runs (checked at load)."
    )
    acceleration: str | None = Field(
        None, description="Loaded models that are not accelerated: why (a speed path that did not engage, or none)."
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
