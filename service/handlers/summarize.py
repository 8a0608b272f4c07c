"""The work behind the summarize endpoints: limits, model choice, engine, response."""

from __future__ import annotations

from collections import Counter

from models.runner import Document
from models.types import SummaryOptions
from service.engine import Engine
from service.errors import InvalidRequest, PayloadTooLarge
from service.schemas import BatchRequest, BatchResponse, SummarizeRequest, SummarizeResponse, SummaryParams, batch_item
from service.settings import Settings


class SummarizeHandler:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    async def summarize(self, request: SummarizeRequest) -> SummarizeResponse:
        limit = self.settings.max_document_chars
        if len(request.text) > limit:
            raise PayloadTooLarge(
                f"text has {len(request.text)} characters; the limit is {limit}",
                code="document_too_large",
                param="text",
            )
        model, options = self._model_and_options(request)
        [summary] = await self.engine.summarize(model, [request.text], options)
        return SummarizeResponse.build(summary, model, options)

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
