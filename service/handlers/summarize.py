"""The work behind the summarize endpoints: limits, model choice, engine, response."""

from __future__ import annotations

from collections import Counter

from fastapi.sse import EventSourceResponse

from models.errors import ModelUnavailable
from models.runner import Document
from models.types import SummaryOptions
from service.engine import Engine
from service.errors import InvalidRequest, PayloadTooLarge
from service.handlers.streaming import summary_events
from service.schemas import BatchRequest, BatchResponse, SummarizeRequest, SummarizeResponse, SummaryParams, batch_item
from service.settings import Settings


class SummarizeHandler:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    async def summarize(self, request: SummarizeRequest) -> SummarizeResponse:
        self._check_length(request.text)
        model, options = self._model_and_options(request)
        [summary] = await self.engine.summarize(model, [request.text], options)
        return SummarizeResponse.build(summary, model, options)

    async def stream(self, request: SummarizeRequest, request_id: str | None) -> EventSourceResponse:
        """Refuse up front what can be refused; everything later arrives as an `error` event."""
        self._check_length(request.text)
        model, options = self._model_and_options(request)
        status = self.engine.registry.status(model)
        if status.state == "unavailable":
            raise ModelUnavailable(f"model {model!r} is unavailable: {status.reason}", param="model")
        return EventSourceResponse(summary_events(self.engine, model, request.text, options, request_id))

    def _check_length(self, text: str) -> None:
        limit = self.settings.max_document_chars
        if len(text) > limit:
            raise PayloadTooLarge(
                f"text has {len(text)} characters; the limit is {limit}", code="document_too_large", param="text"
            )

    async def summarize_batch(self, request: BatchRequest) -> BatchResponse:
        if len(request.documents) > self.settings.max_batch_documents:
            raise InvalidRequest(
                f"{len(request.documents)} documents; a batch takes at most {self.settings.max_batch_documents}",
                code="too_many_documents",
                param="documents",
            )
        duplicates = [doc_id for doc_id, n in Counter(d.id for d in request.documents).items() if n > 1]
        if duplicates:
            raise InvalidRequest(
                f"duplicate document ids: {', '.join(duplicates[:5])}", code="duplicate_id", param="documents"
            )
        model, options = self._model_and_options(request)
        documents = [Document(d.id, d.text) for d in request.documents]
        results = await self.engine.summarize_documents(model, documents, options)
        return BatchResponse(results=[batch_item(result, model, options) for result in results])

    def _model_and_options(self, params: SummaryParams) -> tuple[str, SummaryOptions]:
        if params.query is not None and len(params.query) > self.settings.max_query_chars:
            raise InvalidRequest(
                f"query has {len(params.query)} characters; the limit is {self.settings.max_query_chars}",
                code="query_too_long",
                param="query",
            )
        return params.model or self.settings.default_model, params.to_options()
