"""The grounding protocol: what POST /v1/ground takes, and the `grounding` it (and a summary) answers with."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from models.grounding import Grounding
from service.features.protocol import NOT_BLANK, PAGES, StrictModel


class EvidenceOut(BaseModel):
    offset: int = Field(description="Start in the submitted text, in characters.")
    length: int = Field(description="Length in characters: the evidence is input[offset:offset + length].")
    score: float = Field(description="Share of the sentence's content words (weighted by rarity) found there.")
    pages: list[int] | None = Field(None, description=PAGES, exclude_if=lambda pages: pages is None)


class UnsupportedOut(BaseModel):
    text: str
    offset: int = Field(description="Start in the summary, in characters.")
    length: int = Field(description="Length in characters: text == summary[offset:offset + length].")
    kind: Literal["name", "number", "date", "quote", "word"]


class GroundedSentenceOut(BaseModel):
    text: str
    offset: int = Field(description="Start of the sentence in the summary, in characters.")
    length: int = Field(description="Length in characters: text == summary[offset:offset + length].")
    support: list[EvidenceOut] = Field(description="Ranges of the submitted text that hold its content, best first.")
    supported: float = Field(description="How well the source supports the sentence, 0 to 1.")
    unsupported: list[UnsupportedOut] = Field(description="Names, numbers, dates and quotes the source lacks.")


class GroundingOut(BaseModel):
    consistency: float = Field(description="The mean `supported` of the summary's sentences, 0 to 1.")
    sentences: list[GroundedSentenceOut]

    @classmethod
    def build(cls, grounding: Grounding) -> GroundingOut:
        return cls.model_validate(grounding.to_dict())


class GroundRequest(StrictModel):
    text: str = Field(description="The source document (else 422 empty_document).", json_schema_extra=NOT_BLANK)
    summary: str = Field(description="The summary to check: written by a person, a service or a model.")
