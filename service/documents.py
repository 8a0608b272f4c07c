"""Uploaded files to text, off the event loop and bounded: ``models.documents`` in a killable child.

One ``BoundedExtractor`` per ``Settings`` (shared by the summarize and jobs features, so
``DOCSUM_EXTRACTION_WORKERS`` bounds them together); the blocking call runs in a thread.
"""

from __future__ import annotations

import asyncio
import atexit
import functools

from models.documents import ExtractedDocument
from models.documents.bounded import BoundedExtractor
from service.settings import Settings


@functools.cache
def extractor_for(settings: Settings) -> BoundedExtractor:
    extractor = BoundedExtractor(
        settings.extract_limits(),
        timeout=settings.extraction_timeout_seconds,
        memory_bytes=settings.extraction_memory_mb * 1024 * 1024,
        workers=settings.extraction_workers,
    )
    # Idle workers end by themselves when this process does (their pipe closes); this reaps them first.
    atexit.register(extractor.close)
    return extractor


async def read_document(settings: Settings, data: bytes, name: str | None) -> ExtractedDocument:
    """The text of an uploaded file, or the ``DocumentFileError`` (a 4xx) that says why not."""
    return await asyncio.to_thread(extractor_for(settings).extract, data, name)
