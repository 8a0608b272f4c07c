"""POST /v1/ground: check any summary against its source, whoever wrote it (models.grounding)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from models.grounding import ground
from service.errors import InvalidRequest, PayloadTooLarge
from service.routes.body import JsonBodyRoute
from service.routes.responses import error_responses
from service.schemas import GroundingOut, GroundRequest
from service.settings import Settings

router = APIRouter(prefix="/v1", tags=["ground"], route_class=JsonBodyRoute)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]


@router.post("/ground", response_model=GroundingOut, responses=error_responses(413, 415, 422))
async def ground_summary(body: GroundRequest, settings: SettingsDep) -> GroundingOut:
    """Evidence in `text` for each sentence of `summary`, what `text` does not support, and a consistency score.

    Offsets of `support` are ranges of `text`; a sentence's and an unsupported span's are ranges of `summary`.
    """
    limit = settings.max_document_chars
    for name, value in (("text", body.text), ("summary", body.summary)):
        if len(value) > limit:
            message = f"{name} has {len(value)} characters; the limit is {limit}"
            raise PayloadTooLarge(message, code="document_too_large", param=name)
    if not body.text.strip():
        raise InvalidRequest("the document has no text", code="empty_document", param="text")
    # Linear in the text, a few ms for an article; off the event loop all the same (200,000 characters).
    grounding = await run_in_threadpool(ground, body.text, body.summary)
    return GroundingOut.build(grounding)
