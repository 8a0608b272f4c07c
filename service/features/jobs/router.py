"""/v1/jobs: submit, watch, read and cancel durable batch jobs. Thin; ``JobsServing`` does the work."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from service.auth.gate import CallerDep
from service.features.jobs.protocol import JobList, JobOut, JobRequest, JobStatus
from service.features.jobs.serving import JobsServingDep
from service.features.protocol import error_responses

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

_UPLOAD_FORM = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {
            "type": "array",
            "items": {"type": "string", "format": "binary"},
            "description": "JSONL, {id, text} per line, as docsum batch; or a filename ending .csv: CSV with a header; "
            "or documents (PDF, DOCX, HTML, Markdown, text, e-mail), one per `file` part, each named by its file name",
        },
        "model": {"type": "string"},
        "max_tokens": {"type": "integer"},
        "truncation": {"type": "string", "enum": ["chunk", "head", "error"]},
        "webhook_url": {"type": "string", "description": "Called when the job ends (see the JSON body)"},
    },
    "additionalProperties": {"type": "string", "description": "any other summary option, as in the JSON body"},
}
# JobDocument joins the components in service.openapi, so the reference resolves.
_JSON_BODY = {
    key: value
    for key, value in JobRequest.model_json_schema(ref_template="#/components/schemas/{model}").items()
    if key != "$defs"
}
_SUBMIT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _JSON_BODY},
            "multipart/form-data": {"schema": _UPLOAD_FORM},
        },
    }
}
_NOT_FOUND = error_responses(404, s404="No such job, or it expired, or another caller's (job_not_found)")


@router.post(
    "",
    status_code=202,
    response_model=JobOut,
    openapi_extra=_SUBMIT_BODY,
    responses=error_responses(
        404,
        413,
        415,
        422,
        503,
        s415="Neither JSON nor a multipart upload (unsupported_media_type)",
        s422="Invalid JSON, options or documents (invalid_documents lists every bad one); Idempotency-Key reused; "
        "a webhook_url the server may not call (webhook_not_allowed)",
    ),
)
async def submit_job(request: Request, response: Response, serving: JobsServingDep, caller: CallerDep) -> JobOut:
    """Store a job of many documents (JSON, a JSONL or CSV upload, or document files) and run it in the background.

    With an `Idempotency-Key` header, repeating the same request returns the same job.
    """
    job, created = await serving.create(request, caller)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return job


@router.get("", response_model=JobList, responses=error_responses(422))
async def list_jobs(
    caller: CallerDep,
    serving: JobsServingDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    status: JobStatus | None = None,
) -> JobList:
    """The caller's jobs, newest first."""
    return await serving.list_jobs(caller.owner, limit, offset, status)


@router.get("/{job_id}", response_model=JobOut, responses=_NOT_FOUND)
async def get_job(job_id: str, caller: CallerDep, serving: JobsServingDep) -> JobOut:
    return await serving.get(caller.owner, job_id)


@router.get(
    "/{job_id}/results",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/jsonl": {}}}, **_NOT_FOUND},
)
async def job_results(job_id: str, caller: CallerDep, serving: JobsServingDep) -> StreamingResponse:
    """One JSON line per finished document, in input order, as `docsum batch` writes them; also while running."""
    job, lines = await serving.results(caller.owner, job_id)
    headers = {"X-Job-Status": job.status}
    return StreamingResponse(lines, media_type="application/jsonl", headers=headers)


@router.delete("/{job_id}", response_model=JobOut, responses=_NOT_FOUND)
async def cancel_job(job_id: str, caller: CallerDep, serving: JobsServingDep) -> JobOut:
    """Cancel a queued or running job. The job stays readable until it expires: its status, and the results of
    documents finished before the cancel (GET .../results answers 200)."""
    return await serving.delete(caller.owner, job_id)
