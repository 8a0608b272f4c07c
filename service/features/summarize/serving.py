"""The work behind the summarize endpoints: checks, model choice, engine, response.

Streaming or not, a request goes through the same checks (``service.features.base``);
a blank document is 422 ``empty_document`` on every path (a batch item gets that code
in its own error).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.sse import EventSourceResponse

from models.runner import Document
from models.types import SummaryOptions
from service.auth.gate import Caller
from service.errors import InvalidRequest, shorten
from service.features.base import ServingBase
from service.features.summarize.protocol import (
    BatchRequest,
    BatchResponse,
    SummarizeRequest,
    SummarizeResponse,
    SummaryParams,
    batch_item,
)
from service.features.summarize.source import Source
from service.features.summarize.streaming import start_summary_events
from service.features.summarize.upload import read_summarize_request
from service.provider import dependency


class SummarizeServing(ServingBase):
    async def read(self, request: Request) -> tuple[SummarizeRequest, Source]:
        """The request, JSON or a multipart upload (a file's text extracted), and where its text came from."""
        return await read_summarize_request(request, self.settings)

    async def summarize(
        self, request: SummarizeRequest, caller: Caller, source: Source | None = None
    ) -> SummarizeResponse:
        self.check_document(request.text)
        model, options = self._model_and_options(request)
        await caller.documents([request.text])  # 429 past the key's tokens per minute or documents per day
        [summary] = await self.engine.summarize(model, [request.text], options)
        return SummarizeResponse.build(summary, model, options, source)

    async def stream(
        self, request: SummarizeRequest, caller: Caller, request_id: str | None, source: Source | None = None
    ) -> EventSourceResponse:
        """The same checks as ``summarize``; the response starts once the model has begun.

        The stream holds one of its key's stream slots until it ends (``DOCSUM_LIMIT_CONCURRENT_STREAMS``)."""
        self.check_document(request.text)
        model, options = self._model_and_options(request)
        self.check_available(model)
        caller.open_stream()
        try:
            await caller.documents([request.text])
            events = await start_summary_events(self.engine, model, request.text, options, request_id, source)
        except BaseException:
            caller.close_stream()
            raise
        return EventSourceResponse(_holding(events, caller))

    async def summarize_batch(self, request: BatchRequest, caller: Caller) -> BatchResponse:
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
        (await self.summarizer(model)).check_options(options)
        await caller.documents([d.text for d in request.documents])
        documents = [Document(d.id, d.text) for d in request.documents]
        results = await self.engine.summarize_documents(model, documents, options)
        return BatchResponse(results=[batch_item(result, model, options) for result in results])

    def _model_and_options(self, params: SummaryParams) -> tuple[str, SummaryOptions]:
        self.check_query(params.query)
        return self.model_name(params.model), params.to_options()


async def _holding(events: AsyncIterator[bytes], caller: Caller) -> AsyncIterator[bytes]:
    """The stream's frames; its slot goes back when it ends, however it ends."""
    try:
        async for frame in events:
            yield frame
    finally:
        caller.close_stream()


# A route's typed parameter: ``serving: SummarizeServingDep`` (``service.provider``).
SummarizeServingDep = Annotated[SummarizeServing, Depends(dependency(SummarizeServing))]
