"""The catalog as the service reports it: every model's state, and whether the default one is ready."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends

from models.catalog import ModelRegistry
from models.loading import is_local_source
from service.features.models.protocol import ModelInfo, ModelList, UpstreamInfo
from service.provider import dependency


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    model: str
    message: str  # why not, when not ready


class ModelsServing:
    def __init__(self, registry: ModelRegistry, default_model: str, *, show_paths: bool = False) -> None:
        """``show_paths``: say where local checkpoints are (``DOCSUM_EXPOSE_MODEL_PATHS``); otherwise ``local``."""
        self.registry = registry
        self.default_model = default_model
        self.show_paths = show_paths

    def list_models(self) -> ModelList:
        """Every model's state; a remote model's server is asked (briefly): call off the event loop."""
        infos = []
        for name in self.registry.names:
            status = self.registry.status(name)
            source, reason = status.source, status.reason
            if not self.show_paths and is_local_source(source):
                source, reason = LOCAL, _without(reason, status.source)
            health = self.registry.upstream_health(name)
            infos.append(
                ModelInfo(
                    name=name,
                    kind=status.kind,
                    source=source,
                    loaded=status.state == "loaded",
                    available=status.available,
                    reason=reason,
                    max_input_tokens=status.max_input_tokens,
                    context_window=status.context_window,
                    default=name == self.default_model,
                    accelerated=status.accelerated,
                    acceleration=status.acceleration,
                    loadable=status.loadable,
                    memory_bytes=status.memory_bytes,
                    upstream=UpstreamInfo(
                        url=health.url,
                        answering=health.answering,
                        context_tokens=health.context_tokens,
                        reason=health.reason,
                    )
                    if health
                    else None,
                )
            )
        return ModelList(models=infos)

    def readiness(self) -> Readiness:
        """Ready once the default model is loaded, and, for a remote model, its server answers as expected
        (asked briefly: call off the event loop)."""
        default = self.default_model
        status = self.registry.status(default)
        health = self.registry.upstream_health(default)
        if health is not None and not health.ok:
            return Readiness(False, default, f"default model {default!r}'s server {health.url}: {health.reason}")
        if status.state == "loaded":
            return Readiness(True, default, "")
        message = f"default model {default!r} is {status.state.replace('_', ' ')}"
        if status.reason:
            message += f": {status.reason}"
        return Readiness(False, default, message)


LOCAL = "local"


def _without(reason: str | None, path: str) -> str | None:
    """The reason with the local path (as configured, and expanded) left out."""
    if reason is None:
        return None
    for form in sorted({path, str(Path(path).expanduser()), str(Path(path).expanduser().resolve())}, key=len)[::-1]:
        reason = reason.replace(form, "<local path>")
    return reason


# A route's typed parameter: ``serving: ModelsServingDep`` (``service.provider``).
ModelsServingDep = Annotated[ModelsServing, Depends(dependency(ModelsServing))]
