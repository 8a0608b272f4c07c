"""The work behind the summarize endpoints: limits, model choice, engine, response.

Streaming or not, a request goes through the same checks; a blank document is 422
``empty_document`` on every path (a batch item gets that code in its own error).
"""

from __future__ import annotations

from collections import Counter

from fastapi.sse import EventSourceResponse

from models.errors import ModelUnavailable
from models.runner import Document
from models.types import Summarizer, SummaryOptions
from service.engine import Engine
from service.errors import InvalidRequest, PayloadTooLarge, shorten
from service.handlers.streaming import start_summary_events
from service.schemas import BatchRequest, BatchResponse, SummarizeRequest, SummarizeResponse, SummaryParams, batch_item
from service.settings import Settings


class SummarizeHandler:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    async def summarize(self, request: SummarizeRequest) -> SummarizeResponse:
        self._check_text(request.text)
        model, options = self._model_and_options(request)
        [summary] = await self.engine.summarize(model, [request.text], options)
        return SummarizeResponse.build(summary, model, options)

    async def stream(self, request: SummarizeRequest, request_id: str | None) -> EventSourceResponse:
        """The same checks as ``summarize``; the response starts once the model has begun."""
        self._check_text(request.text)
        model, options = self._model_and_options(request)
        status = self.engine.registry.status(model)
        if status.state == "unavailable":
            raise ModelUnavailable(f"model {model!r} is unavailable: {status.reason}", param="model")
        events = await start_summary_events(self.engine, model, request.text, options, request_id)
        return EventSourceResponse(events)

    def _check_text(self, text: str) -> None:
        limit = self.settings.max_document_chars
        if len(text) > limit:
            raise PayloadTooLarge(
                f"text has {len(text)} characters; the limit is {limit}", code="document_too_large", param="text"
            )
        if not text.strip():
            raise InvalidRequest("the document has no text", code="empty_document", param="text")

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
                f"duplicate document ids: {', '.join(shorten(d) for d in duplicates[:5])}",
                code="duplicate_id",
                param="documents",
            )
        model, options = self._model_and_options(request)
        # Refused as a whole like a single call (404, 503, 422), even when every document would fail alone.
        (await self._summarizer(model)).check_options(options)
        documents = [Document(d.id, d.text) for d in request.documents]
        results = await self.engine.summarize_documents(model, documents, options)
        return BatchResponse(results=[batch_item(result, model, options) for result in results])

    async def _summarizer(self, model: str) -> Summarizer:
        """The model (404 unknown, 503 unavailable): from the registry once loaded, not through its busy worker."""
        if self.engine.registry.status(model).state == "loaded":
            return self.engine.registry.get(model)
        return await self.engine.load(model)

    def _model_and_options(self, params: SummaryParams) -> tuple[str, SummaryOptions]:
        if params.query is not None and len(params.query) > self.settings.max_query_chars:
            raise InvalidRequest(
                f"query has {len(params.query)} characters; the limit is {self.settings.max_query_chars}",
                code="query_too_long",
                param="query",
            )
        return params.model or self.settings.default_model, params.to_options()
