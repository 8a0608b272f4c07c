"""A job's summary options as the store keeps them: a versioned record, not the HTTP request.

A job may wait in the store across upgrades, so what it was asked to do is written
in a form of its own, with a ``version``, and read back by this module alone:
changing the HTTP protocol (``service.features.summarize.protocol``) leaves stored
jobs as they were. Reading takes every version ever written; each older form is
migrated, one version at a time, to the current one.

- Version 1 (docsum 0.1.0, before this module): the request's options without
  ``model``, those left at their defaults omitted, and no ``version``:
  ``{"max_tokens": 40}``; ``{}`` for none.
- Version 2: every option spelt out, and ``"version": 2``.
- Version 3 (current): version 2 and ``language``, ``temperature`` and ``seed`` (``null`` in every
  version 2 record: the document's language, greedy).

Options that cannot be read (a version this docsum does not know, a value no
summarizer takes) raise ``UnreadableOptions``: the store fails such a job once,
with ``invalid_job_options``, instead of handing it out again and again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from models.types import SummaryOptions

CURRENT_VERSION: Final = 3
INVALID_OPTIONS = "invalid_job_options"


class UnreadableOptions(ValueError):
    """Stored options that no version of the record describes, or that no summarizer could run."""


class JobOptions(BaseModel):
    """What a job asks of each summary; the fields of ``models.types.SummaryOptions``."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    version: Literal[3] = CURRENT_VERSION
    length: Literal["short", "medium", "long"] | None = None
    max_tokens: int | None = Field(None, ge=1)
    min_tokens: int | None = Field(None, ge=0)
    num_beams: int | None = Field(None, ge=1)
    length_penalty: float | None = None
    no_repeat_ngram_size: int | None = Field(None, ge=0)
    sentences: int | None = Field(None, ge=1)
    format: Literal["paragraph", "bullets"] = "paragraph"
    query: str | None = None
    truncation: Literal["chunk", "head", "error"] = "chunk"
    grounding: bool | None = None
    language: str | None = None
    temperature: float | None = Field(None, ge=0)
    seed: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _min_at_most_max(self) -> Self:
        if self.min_tokens is not None and self.max_tokens is not None and self.min_tokens > self.max_tokens:
            raise ValueError("min_tokens must not exceed max_tokens")
        return self

    @classmethod
    def of(cls, options: SummaryOptions) -> JobOptions:
        return cls(
            length=options.length,
            max_tokens=options.max_tokens,
            min_tokens=options.min_tokens,
            num_beams=options.num_beams,
            length_penalty=options.length_penalty,
            no_repeat_ngram_size=options.no_repeat_ngram_size,
            sentences=options.sentences,
            format=options.format,
            query=options.query,
            truncation=options.truncation,
            grounding=options.grounding,
            language=options.language,
            temperature=options.temperature,
            seed=options.seed,
        )

    def to_summary_options(self) -> SummaryOptions:
        return SummaryOptions(**self.model_dump(exclude={"version"}))

    def encode(self) -> str:
        """The stored form: JSON of every field, ``version`` included."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True)

    @classmethod
    def decode(cls, stored: str) -> JobOptions:
        """Options as any version stored them; ``UnreadableOptions`` if they cannot be run."""
        try:
            raw = json.loads(stored)
        except ValueError as exc:
            raise UnreadableOptions(f"the stored options are not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise UnreadableOptions("the stored options are not a JSON object")
        version = raw.get("version", 1)  # version 1 had no version field
        if type(version) is not int or not 1 <= version <= CURRENT_VERSION:
            raise UnreadableOptions(
                f"the stored options have version {version!r}; this docsum reads versions 1 to {CURRENT_VERSION}"
            )
        for migrate in _MIGRATIONS[version - 1 :]:
            raw = migrate(raw)
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(_problem(error) for error in exc.errors())
            raise UnreadableOptions(f"the stored options (version {version}) cannot run: {problems}") from None


def _v1_to_v2(raw: dict[str, Any]) -> dict[str, Any]:
    """Version 1 omitted options left at the defaults of the time; spell them out."""
    return {"format": "paragraph", "truncation": "chunk", **raw, "version": 2}


def _v2_to_v3(raw: dict[str, Any]) -> dict[str, Any]:
    """Version 3 added language, temperature and seed; version 2 jobs ran in the document's language, greedy."""
    return {"language": None, "temperature": None, "seed": None, **raw, "version": 3}


# _MIGRATIONS[n - 1] turns version n into version n + 1.
_MIGRATIONS: list[Callable[[dict[str, Any]], dict[str, Any]]] = [_v1_to_v2, _v2_to_v3]
assert len(_MIGRATIONS) == CURRENT_VERSION - 1


def _problem(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])
