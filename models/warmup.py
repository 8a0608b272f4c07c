"""The warm-up call at load, which the load-time checks of the speed paths also make."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def warm_up(model: object, device: torch.device, beams: int = 1) -> None:
    """A tiny generate call, so the first request does not pay for kernel selection and allocation."""
    import torch

    generation = model.generation_config  # type: ignore[attr-defined]
    start = next((i for i in (generation.decoder_start_token_id, generation.bos_token_id) if i is not None), 0)
    start = start[0] if isinstance(start, list) else start
    ids = torch.full((2, 8), start, dtype=torch.long, device=device)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0  # padding, so masks are made and used
    with torch.inference_mode():
        model.generate(  # type: ignore[attr-defined]
            input_ids=ids, attention_mask=mask, max_length=3, min_length=3, num_beams=beams
        )
