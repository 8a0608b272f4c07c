"""Where seq2seq generation reaches ``models.yielding``'s pause points: after every decoding step and every
encoder layer.

Part of every model call, accelerated or not (``LoadSettings.accelerate``): pausing for
urgent work and stopping abandoned work are features, not speed. Both go through
transformers' and torch's own extension points, a stopping criterion and forward hooks.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from models.yielding import has_pause_points, step_done


def with_pause_points(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``generate`` arguments that call ``models.yielding.step_done`` after every decoding step, under a
    callback or an ``abandoned`` check."""
    if not has_pause_points():
        return kwargs
    return {**kwargs, "stopping_criteria": StoppingCriteriaList([StepHook()])}


class StepHook(StoppingCriteria):  # type: ignore[misc]
    """Never stops generation; calls ``models.yielding.step_done`` after every step."""

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        step_done()
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


def pause_between_encoder_layers(model: Any) -> None:
    """Every encoder layer ends in a pause point (``models.yielding.step_done``), like a decoding step.

    An encoder slice on one thread of a CPU is about a second for 2 documents of 500
    tokens; urgent work waiting on background work waits for one layer instead.
    Without an installed callback a pause point is one thread-local lookup.
    """
    encoder = model.get_encoder()
    for stack in (module for module in encoder.children() if isinstance(module, torch.nn.ModuleList)):
        for layer in stack:
            layer.register_forward_hook(_pause_point)


def _pause_point(module: Any, args: Any, output: Any) -> None:
    step_done()
