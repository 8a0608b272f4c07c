"""What the seq2seq pipeline (``models.seq2seq``) needs of a model, and transformers' models as one.

The pipeline turns options into ``generate`` keyword arguments, tokenizes, windows,
chunks long documents and decodes; the model call itself is a generator's
(:class:`Seq2SeqGenerator`). A generator shows the pipeline its checkpoint's
``config`` (position limits, ``task_specific_params``) and ``generation_config``
(beams, lengths, special tokens: the defaults the pipeline starts from), says which
speed paths it runs (``acceleration``), and generates token ids from a tokenized batch.
:class:`TransformersGenerator` is a transformers model with its speed plan
(``models._speed``); ``models.backends.ctranslate2`` has one that runs CTranslate2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import torch

from models._speed import PLAIN, SpeedPlan

if TYPE_CHECKING:
    from transformers.generation.streamers import BaseStreamer

    from models.acceleration import Acceleration


@dataclass(frozen=True, slots=True)
class ModelInputs:
    """The tokenized batch and, per document, its full length and whether it was cut."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    input_tokens: tuple[int, ...]
    truncated: tuple[bool, ...]


class Seq2SeqGenerator(Protocol):
    """A seq2seq model as the pipeline calls it."""

    @property
    def config(self) -> Any:
        """The checkpoint's model config (``PretrainedConfig``): its windows and ``task_specific_params``."""
        ...

    @property
    def generation_config(self) -> Any:
        """Its generation defaults (``GenerationConfig``), special tokens completed at load."""
        ...

    @property
    def acceleration(self) -> Acceleration:
        """Which speed paths its calls take, checked at load (``models.acceleration``)."""
        ...

    def generate(
        self, inputs: ModelInputs, generation_kwargs: dict[str, Any], streamer: BaseStreamer | None = None
    ) -> torch.Tensor:
        """Token ids on the CPU, one row per document, as transformers' ``generate`` lays them out: the decoder
        start token first, padding after the end. ``generation_kwargs`` are ``generate``'s, over the
        ``generation_config``; ``streamer`` hears a lone document's tokens where the generator can stream."""
        ...


class TransformersGenerator:
    """A transformers ``AutoModelForSeq2SeqLM`` on its device, generating as its speed plan says."""

    def __init__(self, model: Any, device: torch.device, speed: SpeedPlan = PLAIN) -> None:
        self.model = model
        self.device = device
        # How generate runs (docsum's speed paths, models._speed), and which engaged as checked at load.
        self.speed = speed

    @property
    def config(self) -> Any:
        return self.model.config

    @property
    def generation_config(self) -> Any:
        return self.model.generation_config

    @property
    def acceleration(self) -> Acceleration:
        return self.speed.report

    def generate(
        self, inputs: ModelInputs, generation_kwargs: dict[str, Any], streamer: BaseStreamer | None = None
    ) -> torch.Tensor:
        if streamer is not None and generation_kwargs.get("num_beams", self.generation_config.num_beams or 1) > 1:
            streamer = None  # transformers streams greedy and sampled search only
        input_ids = inputs.input_ids.to(self.device)
        attention_mask = inputs.attention_mask.to(self.device)
        # Background work pauses for urgent work after each decoding step and encoder layer.
        with torch.inference_mode():
            return self.speed.generate(
                self.model, input_ids, attention_mask, streamer=streamer, **generation_kwargs
            ).cpu()
