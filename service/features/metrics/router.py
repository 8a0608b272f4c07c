"""GET /metrics: this replica's Prometheus metrics (``service.observability.metrics``).

A router of its own, included only while ``DOCSUM_METRICS`` is on, so that access rules
can be put on it alone. Synchronous: a scrape counts jobs in the job store, off the event loop.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST

from service.features.protocol import error_responses
from service.observability.metrics import Metrics
from service.provider import dependency

MetricsDep = Annotated[Metrics, Depends(dependency(Metrics))]

router = APIRouter(tags=["operations"])


_TEXT: dict[int | str, dict[str, Any]] = {
    200: {"description": "The Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}
}


@router.get("/metrics", response_class=Response, responses={**_TEXT, **error_responses()})
def metrics(registry: MetricsDep) -> Response:
    """This replica's metrics in the Prometheus text format (README, "Metrics"); `DOCSUM_METRICS=false` turns
    the route off."""
    return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)
