"""The work behind POST /v1/ground: the checks every feature makes, then ``models.grounding``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.concurrency import run_in_threadpool

from models.grounding import ground
from service.auth.gate import Caller
from service.features.base import ServingBase
from service.features.ground.protocol import GroundingOut, GroundRequest
from service.provider import dependency


class GroundServing(ServingBase):
    async def ground(self, request: GroundRequest, caller: Caller) -> GroundingOut:
        for name, value in (("text", request.text), ("summary", request.summary)):
            self.check_size(value, name)
        self.check_not_blank(request.text)
        await caller.tokens([request.text, request.summary])  # 429 past the key's tokens per minute
        # Linear in the text, a few ms for an article; off the event loop all the same (200,000 characters).
        grounding = await run_in_threadpool(ground, request.text, request.summary)
        return GroundingOut.build(grounding)


# A route's typed parameter: ``serving: GroundServingDep`` (``service.provider``).
GroundServingDep = Annotated[GroundServing, Depends(dependency(GroundServing))]
