"""Reading POST /v1/summarize: a JSON body, or a multipart form with the document as the file ``file``
(options as form fields named as the JSON body's), whose text ``service.documents`` extracts."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.documents import read_document
from service.errors import InvalidRequest
from service.features.body import is_json
from service.features.summarize.protocol import SummarizeRequest
from service.features.summarize.source import Source
from service.settings import Settings

# Stands for the file's text while the options are checked, before the (costlier) extraction.
_PENDING = "(the file's text)"


def validate_request(fields: Any, *, strict: bool) -> SummarizeRequest:
    try:
        return SummarizeRequest.model_validate(fields, strict=strict)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


async def read_summarize_request(request: Request, settings: Settings) -> tuple[SummarizeRequest, Source]:
    """The request and the source of its text; a file's problems are 4xx ``DocumentFileError``s."""
    if is_json(request):
        body = validate_request(await request.json(), strict=True)  # parsed once, by JsonBodyRoute
        return body, Source(body.text, body.include_text)
    form = await read_form(request, max_files=1)
    try:
        upload = form.get("file")
        # Form fields are strings: read with coercion ("60" is 60, "true" is true), as a job upload's.
        fields = {name: value for name, value in form.items() if name != "file" and isinstance(value, str)}
        if not isinstance(upload, UploadFile):
            if "text" not in fields:
                raise InvalidRequest("the form has no `file` part (the document) and no `text` field", param="file")
            body = validate_request(fields, strict=False)
            return body, Source(body.text, body.include_text)
        if "text" in fields:
            raise InvalidRequest("send the document as a `file` or as `text`, not both", param="text")
        body = validate_request({**fields, "text": _PENDING}, strict=False)
        document = await read_document(settings, await upload.read(), upload.filename)
        name = upload.filename
    finally:
        await form.close()  # the spooled upload
    source = Source(document.text, body.include_text, document, name)
    return body.model_copy(update={"text": document.text}), source


async def read_form(request: Request, *, max_files: int) -> FormData:
    """The multipart form; a malformed one is 422 (a body over the limit stays 413)."""
    try:
        return await request.form(max_files=max_files, max_fields=32)
    except StarletteHTTPException as exc:
        if exc.status_code != 400:
            raise  # 413 from the body limit
        raise InvalidRequest(f"the multipart body is malformed: {exc.detail}", param="file") from None
