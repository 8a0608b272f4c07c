"""The checks every feature makes, made one way: which model, how long a document, how long a query.

Each feature's serving (``SummarizeServing``, ``GroundServing``, ``JobsServing``) is a
``ServingBase``, so a mistake gets the same status, code and message on every endpoint:

- a document over ``DOCSUM_MAX_DOCUMENT_CHARS`` is 413 ``document_too_large`` (in a job,
  a ``document_too_large`` problem of its 422, with the same reason); a blank one is 422
  ``empty_document``;
- a query over ``DOCSUM_MAX_QUERY_CHARS`` is 422 ``query_too_long``;
- a model is the one named, or the default; unknown is 404 ``model_not_found``, one that
  cannot load 503 ``model_unavailable``.

A batch item over the limit fails alone, inside a 200: the engine checks each document
(``models.runner.precheck``) against the same setting.
"""

from __future__ import annotations

from models.errors import ModelUnavailable
from models.types import Summarizer
from service.engine import Engine
from service.errors import InvalidRequest, PayloadTooLarge
from service.request_context import note_model
from service.settings import Settings


def over_limit(value: str, limit: int) -> str | None:
    """Why ``value`` is too long ("has N characters; the limit is L"), or None if it is not."""
    return f"has {len(value)} characters; the limit is {limit}" if len(value) > limit else None


class ServingBase:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    # -- documents and queries ----------------------------------------------------------------

    def document_too_large(self, text: str) -> str | None:
        """Why ``text`` is over the document limit, or None."""
        return over_limit(text, self.settings.max_document_chars)

    def check_size(self, text: str, param: str) -> None:
        """413 document_too_large when ``text`` (the field ``param``) is over the document limit."""
        reason = self.document_too_large(text)
        if reason is not None:
            raise PayloadTooLarge(f"{param} {reason}", code="document_too_large", param=param)

    def check_not_blank(self, text: str, param: str = "text") -> None:
        if not text.strip():
            raise InvalidRequest("the document has no text", code="empty_document", param=param)

    def check_document(self, text: str, param: str = "text") -> None:
        """A document to summarize or ground against: within the limit (413), not blank (422)."""
        self.check_size(text, param)
        self.check_not_blank(text, param)

    def check_query(self, query: str | None) -> None:
        if query is not None and len(query) > self.settings.max_query_chars:
            raise InvalidRequest(
                f"query has {len(query)} characters; the limit is {self.settings.max_query_chars}",
                code="query_too_long",
                param="query",
            )

    # -- models ---------------------------------------------------------------------------------

    def model_name(self, requested: str | None) -> str:
        """The model a request names, or the default (noted for the request's metrics and span)."""
        model = requested or self.settings.default_model
        if model in self.engine.registry.names:  # a name the caller made up never becomes a metric label
            note_model(model)
        return model

    def check_available(self, model: str) -> None:
        """404 for a model not in the catalog, 403 for one callers may not load, 503 for one known to be
        unavailable; without loading it."""
        status = self.engine.registry.status(model)
        self.engine.registry.check_loadable(model)
        if status.state == "unavailable":
            raise ModelUnavailable(f"model {model!r} is unavailable: {status.reason}", param="model")

    async def summarizer(self, model: str) -> Summarizer:
        """The model (404 unknown, 503 unavailable): from the registry once loaded, not through its busy worker."""
        if self.engine.registry.status(model).state == "loaded":
            return self.engine.registry.get(model)
        return await self.engine.load(model)
