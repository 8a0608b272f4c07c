"""A Python client for docsum's HTTP API, sync (``Client``) and async (``AsyncClient``).

Light on purpose: it needs httpx and tqdm only, never torch, transformers or the server's
modules (an import-linter contract in pyproject.toml, and ``tests/service/client``)::

    from service.client import Client

    with Client("http://127.0.0.1:8000", api_key=os.environ["DOCSUM_API_KEY"]) as docsum:
        print(docsum.summarize(text)["summary"])
        job = docsum.run_job(file="docs.jsonl", output="summaries.jsonl")
"""

from service.client.aio import AsyncClient
from service.client.core import Event, RetryPolicy
from service.client.errors import (
    AuthenticationError,
    ConflictError,
    DocsumError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    StreamError,
    UnavailableError,
)
from service.client.sync import Client

__all__ = [
    "AsyncClient",
    "AuthenticationError",
    "Client",
    "ConflictError",
    "DocsumError",
    "Event",
    "InvalidRequestError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RetryPolicy",
    "ServerError",
    "StreamError",
    "UnavailableError",
]
