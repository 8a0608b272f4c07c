"""The asynchronous client: ``AsyncClient``, the same methods as ``Client`` (``sync.py``) to ``await``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from tqdm import tqdm

from service.client.core import (
    DEFAULT_URL,
    FINAL_STATUSES,
    Event,
    ResultsWriter,
    RetryPolicy,
    SSEParser,
    Upload,
    check_job,
    client_headers,
    documents_body,
    job_body,
    options_body,
)
from service.client.errors import DocsumError, error_from_response

__all__ = ["AsyncClient"]

Documents = Iterable[Mapping[str, str] | tuple[str, str] | str]


class AsyncClient:
    """docsum over HTTP, for asyncio; see ``Client`` for what each method does."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        timeout: float = 300.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._http = httpx.AsyncClient(
            base_url=url.rstrip("/"), headers=client_headers(api_key), timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object | TracebackType) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def summarize(self, text: str, *, model: str | None = None, **options: Any) -> dict[str, Any]:
        body = {**options_body(model, options), "text": text}
        answer: dict[str, Any] = await self._json("POST", "/v1/summarize", json=body)
        return answer

    async def batch(self, documents: Documents, *, model: str | None = None, **options: Any) -> list[dict[str, Any]]:
        body = {**options_body(model, options), "documents": documents_body(documents)}
        results: list[dict[str, Any]] = (await self._json("POST", "/v1/summarize/batch", json=body))["results"]
        return results

    async def stream(self, text: str, *, model: str | None = None, **options: Any) -> AsyncIterator[Event]:
        body = {**options_body(model, options), "text": text, "stream": True}
        async with self._streaming("POST", "/v1/summarize", json=body) as response:
            parser = SSEParser()
            async for line in response.aiter_lines():
                for event in parser.feed(line):
                    yield event
            for event in parser.close():
                yield event

    async def models(self) -> list[dict[str, Any]]:
        models: list[dict[str, Any]] = (await self._json("GET", "/v1/models"))["models"]
        return models

    async def submit_job(
        self,
        documents: Documents | None = None,
        *,
        file: Path | str | None = None,
        model: str | None = None,
        idempotency_key: str | None = None,
        webhook_url: str | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        request = job_body(documents, file, model, webhook_url, options)
        return check_job(await self._json("POST", "/v1/jobs", headers=headers, **request))

    async def job(self, job_id: str) -> dict[str, Any]:
        return check_job(await self._json("GET", f"/v1/jobs/{job_id}"))

    async def cancel_job(self, job_id: str) -> dict[str, Any]:
        return check_job(await self._json("DELETE", f"/v1/jobs/{job_id}"))

    async def follow(
        self, job_id: str, *, progress: bool = True, interval: float = 1.0, timeout: float | None = None
    ) -> dict[str, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        job = await self.job(job_id)
        with tqdm(total=job["progress"]["total"], unit="doc", desc=job_id[:12], disable=not progress) as bar:
            while True:
                bar.update(job["progress"]["done"] - bar.n)
                bar.set_postfix(status=job["status"], failed=job["progress"]["failed"], refresh=False)
                if job["status"] in FINAL_STATUSES:
                    return job
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"job {job_id} is still {job['status']} after {timeout} s")
                await asyncio.sleep(interval)
                job = await self.job(job_id)

    async def download(self, job_id: str, path: Path | str, *, resume: bool = True) -> int:
        writer = ResultsWriter(Path(path), resume)
        try:
            async with self._streaming("GET", f"/v1/jobs/{job_id}/results") as response:
                async for line in response.aiter_lines():
                    writer.line(line)
        except BaseException:
            writer.close()
            raise
        writer.finish()
        return writer.seen

    async def run_job(
        self, documents: Documents | None = None, *, output: Path | str, progress: bool = True, **submit: Any
    ) -> dict[str, Any]:
        job = await self.submit_job(documents, **submit)
        job = await self.follow(job["id"], progress=progress)
        await self.download(job["id"], output)
        return job

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self._send(method, path, **kwargs)).json()

    @contextlib.asynccontextmanager
    async def _streaming(self, method: str, path: str, **kwargs: Any) -> AsyncIterator[httpx.Response]:
        for attempt in range(self.retry.attempts):
            try:
                response = await self._http.send(self._http.build_request(method, path, **kwargs), stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                delay = self.retry.delay(attempt, None)
                if delay is None:
                    raise
            else:
                if response.is_success:
                    try:
                        yield response
                    finally:
                        await response.aclose()
                    return
                await response.aread()
                await response.aclose()
                delay = self.retry.delay(attempt, response)
                if delay is None:
                    raise error_from_response(response)
            await asyncio.sleep(delay)
        raise DocsumError("no attempt was made (RetryPolicy.attempts < 1)")

    async def _send(self, method: str, path: str, *, upload: Upload | None = None, **kwargs: Any) -> httpx.Response:
        for attempt in range(self.retry.attempts):
            try:
                if upload is not None:
                    with upload.open() as files:
                        response = await self._http.request(method, path, files=files, data=upload.fields, **kwargs)
                else:
                    response = await self._http.request(method, path, **kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                delay = self.retry.delay(attempt, None)
                if delay is None:
                    raise
            else:
                if response.is_success:
                    return response
                delay = self.retry.delay(attempt, response)
                if delay is None:
                    raise error_from_response(response)
            await asyncio.sleep(delay)
        raise DocsumError("no attempt was made (RetryPolicy.attempts < 1)")
