"""Sampling with a temperature and a seed, one random stream per document (``models.instruct``).

transformers' ``do_sample`` draws from torch's global generator: two threads sampling at
once would share it, and a document's draws would depend on its batchmates (row ``i``
takes the ``i``-th share of each step's randomness). :class:`SeededSampler` is a logits
processor that samples each row itself, from a ``torch.Generator`` of its own seeded with
the request's ``seed``, and leaves only the chosen token standing; greedy search then
takes it. So a document's summary under a seed depends on the document, the options and
the seed alone: the same alone, in any batch, at any position in it, on any thread (up to
the floating-point noise of the model's batched logits, which docsum's batch planner and
speed paths keep out of greedy results too). Without a seed every row gets a fresh one.
"""

from __future__ import annotations

import secrets
from typing import Any

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from models.types import SummaryOptions


def samples(options: SummaryOptions) -> bool:
    """Whether these options sample (a temperature above 0) rather than decode greedily."""
    return bool(options.temperature)


class SeededSampler(LogitsProcessor):  # type: ignore[misc]
    """Draws each row's next token at ``temperature`` from that row's own generator; every other token of the
    row gets ``-inf``, so greedy search picks the drawn one. Runs after transformers' own processors (minimum
    length, repeated n-grams), so what they forbid is never drawn."""

    def __init__(self, temperature: float, seeds: list[int], device: torch.device) -> None:
        self.temperature = temperature
        self.generators = [torch.Generator(device=device).manual_seed(seed) for seed in seeds]

    def for_rows(self, rows: list[int]) -> SeededSampler:
        """The sampler of these rows only (their own generators, shared): for a batch generated in parts
        (``models._speed``), each part gets the streams of its own documents."""
        part = SeededSampler(self.temperature, [], torch.device("cpu"))
        part.generators = [self.generators[row] for row in rows]
        return part

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        probabilities = torch.softmax(scores.float() / self.temperature, dim=-1)
        rows = zip(probabilities, self.generators, strict=True)  # one generator a document, never shared
        drawn = torch.cat([torch.multinomial(row, 1, generator=generator) for row, generator in rows])
        chosen = torch.full_like(scores, float("-inf"))
        chosen[torch.arange(scores.shape[0], device=scores.device), drawn] = 0.0
        return chosen


def sampling_kwargs(options: SummaryOptions, rows: int, device: torch.device) -> dict[str, Any]:
    """``generate`` arguments that sample ``rows`` documents under these options; none when they are greedy."""
    if not samples(options):
        return {}
    assert options.temperature is not None
    seeds = [options.seed if options.seed is not None else secrets.randbits(63) for _ in range(rows)]
    return {"logits_processor": LogitsProcessorList([SeededSampler(options.temperature, seeds, device)])}
