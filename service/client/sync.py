"""The synchronous client: ``Client(url, api_key=...)``; ``AsyncClient`` (``aio.py``) is the same with ``await``."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping
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

__all__ = ["Client"]

Documents = Iterable[Mapping[str, str] | tuple[str, str] | str]


class Client:
    """docsum over HTTP. ``api_key`` is sent as ``Authorization: Bearer``; errors raise
    :class:`~service.client.errors.DocsumError` subclasses; 429 and 503 are retried (``retry``)."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        timeout: float = 300.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(
            base_url=url.rstrip("/"), headers=client_headers(api_key), timeout=timeout, transport=transport
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- summaries ------------------------------------------------------------------------

    def summarize(self, text: str, *, model: str | None = None, **options: Any) -> dict[str, Any]:
        """One summary (the response of POST /v1/summarize, as a dict)."""
        body = {**options_body(model, options), "text": text}
        answer: dict[str, Any] = self._json("POST", "/v1/summarize", json=body)
        return answer

    def batch(self, documents: Documents, *, model: str | None = None, **options: Any) -> list[dict[str, Any]]:
        """One result per document, in order: a summary with its ``id``, or ``{"id", "error"}``."""
        body = {**options_body(model, options), "documents": documents_body(documents)}
        results: list[dict[str, Any]] = self._json("POST", "/v1/summarize/batch", json=body)["results"]
        return results

    def stream(self, text: str, *, model: str | None = None, **options: Any) -> Iterator[Event]:
        """The summary as it is made: ``progress`` and ``token`` events, then one ``summary`` event.
        A failure before the stream starts raises as a plain error; after, as ``StreamError``."""
        body = {**options_body(model, options), "text": text, "stream": True}
        with self._streaming("POST", "/v1/summarize", json=body) as response:
            parser = SSEParser()
            for line in response.iter_lines():
                yield from parser.feed(line)
            yield from parser.close()

    def models(self) -> list[dict[str, Any]]:
        models: list[dict[str, Any]] = self._json("GET", "/v1/models")["models"]
        return models

    # -- jobs -----------------------------------------------------------------------------

    def submit_job(
        self,
        documents: Documents | None = None,
        *,
        file: Path | str | None = None,
        model: str | None = None,
        idempotency_key: str | None = None,
        webhook_url: str | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """Store a job: ``documents``, or a JSONL (or CSV) ``file`` uploaded as it is. With an
        ``idempotency_key``, submitting again (after a crash, say) gives back the same job."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        request = job_body(documents, file, model, webhook_url, options)
        return check_job(self._json("POST", "/v1/jobs", headers=headers, **request))

    def job(self, job_id: str) -> dict[str, Any]:
        return check_job(self._json("GET", f"/v1/jobs/{job_id}"))

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        return check_job(self._json("DELETE", f"/v1/jobs/{job_id}"))

    def follow(
        self, job_id: str, *, progress: bool = True, interval: float = 1.0, timeout: float | None = None
    ) -> dict[str, Any]:
        """Wait for the job to end, with a progress bar (on stderr) unless ``progress=False``; the
        final job. Interrupted, call it again with the same id: following keeps no state."""
        deadline = None if timeout is None else time.monotonic() + timeout
        job = self.job(job_id)
        with tqdm(total=job["progress"]["total"], unit="doc", desc=job_id[:12], disable=not progress) as bar:
            while True:
                bar.update(job["progress"]["done"] - bar.n)
                bar.set_postfix(status=job["status"], failed=job["progress"]["failed"], refresh=False)
                if job["status"] in FINAL_STATUSES:
                    return job
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"job {job_id} is still {job['status']} after {timeout} s")
                time.sleep(interval)
                job = self.job(job_id)

    def download(self, job_id: str, path: Path | str, *, resume: bool = True) -> int:
        """Write the job's result lines (JSONL, input order) to ``path``; the number of lines it holds.
        With ``resume``, lines an interrupted download already wrote are kept, not written again."""
        writer = ResultsWriter(Path(path), resume)
        try:
            with self._streaming("GET", f"/v1/jobs/{job_id}/results") as response:
                for line in response.iter_lines():
                    writer.line(line)
        except BaseException:
            writer.close()
            raise
        writer.finish()
        return writer.seen

    def run_job(
        self, documents: Documents | None = None, *, output: Path | str, progress: bool = True, **submit: Any
    ) -> dict[str, Any]:
        """Submit, follow and download in one call; the final job."""
        job = self.submit_job(documents, **submit)
        job = self.follow(job["id"], progress=progress)
        self.download(job["id"], output)
        return job

    # -- the one way requests go out ------------------------------------------------------

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._send(method, path, **kwargs).json()

    @contextlib.contextmanager
    def _streaming(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """A successful response whose body is read as it comes; retried as ``_send`` retries."""
        for attempt in range(self.retry.attempts):
            try:
                response = self._http.send(self._http.build_request(method, path, **kwargs), stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                delay = self.retry.delay(attempt, None)
                if delay is None:
                    raise
            else:
                if response.is_success:
                    try:
                        yield response
                    finally:
                        response.close()
                    return
                response.read()
                response.close()
                delay = self.retry.delay(attempt, response)
                if delay is None:
                    raise error_from_response(response)
            time.sleep(delay)
        raise DocsumError("no attempt was made (RetryPolicy.attempts < 1)")

    def _send(self, method: str, path: str, *, upload: Upload | None = None, **kwargs: Any) -> httpx.Response:
        for attempt in range(self.retry.attempts):
            try:
                if upload is not None:
                    with upload.open() as files:
                        response = self._http.request(method, path, files=files, data=upload.fields, **kwargs)
                else:
                    response = self._http.request(method, path, **kwargs)
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
            time.sleep(delay)
        raise DocsumError("no attempt was made (RetryPolicy.attempts < 1)")
