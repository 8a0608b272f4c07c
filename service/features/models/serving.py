"""The catalog as the service reports it: every model's state, and whether the default one is ready."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from models.catalog import ModelRegistry
from service.features.models.protocol import ModelInfo, ModelList
from service.provider import dependency


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    model: str
    message: str  # why not, when not ready


class ModelsServing:
    def __init__(self, registry: ModelRegistry, default_model: str) -> None:
        self.registry = registry
        self.default_model = default_model

    def list_models(self) -> ModelList:
        infos = []
        for name in self.registry.names:
            status = self.registry.status(name)
            infos.append(
                ModelInfo(
                    name=name,
                    kind=status.kind,
                    source=status.source,
                    loaded=status.state == "loaded",
                    available=status.available,
                    reason=status.reason,
                    max_input_tokens=status.max_input_tokens,
                    context_window=status.context_window,
                    default=name == self.default_model,
                    accelerated=status.accelerated,
                    acceleration=status.acceleration,
                )
            )
        return ModelList(models=infos)

    def readiness(self) -> Readiness:
        """Ready once the default model is loaded."""
        default = self.default_model
        status = self.registry.status(default)
        if status.state == "loaded":
            return Readiness(True, default, "")
        message = f"default model {default!r} is {status.state.replace('_', ' ')}"
        if status.reason:
            message += f": {status.reason}"
        return Readiness(False, default, message)


# A route's typed parameter: ``serving: ModelsServingDep`` (``service.provider``).
ModelsServingDep = Annotated[ModelsServing, Depends(dependency(ModelsServing))]
