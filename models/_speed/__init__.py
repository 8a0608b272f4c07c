"""docsum's speed paths: private to ``models``, entered through this module alone.

Nothing outside ``models/_speed/`` imports its inner modules (tests of them aside). What the
library asks of it: :func:`accelerate` sets up and checks the speed paths of a loaded model
and returns its :class:`SpeedPlan` (which paths engaged and why others did not, as
``models.acceleration.Acceleration``, and ``plan.generate`` for the summarizer);
:func:`quantize_int8` and :func:`release_loading_memory` make an int8 model lean at load;
:func:`return_free_heap` gives an idle process's free heap back (``models.resources``).
``LoadSettings.accelerate=False`` (``DOCSUM_ACCELERATE=false``) calls none of them but
:func:`turned_off` (and :func:`return_free_heap`, which changes no setting): no method replaced, nothing registered
with transformers, no allocator settings.

Importing this package changes nothing in the process: every change is made on a call, to
the model it is given, or (the allocator's settings, the attention function's registration
with transformers) when a model is accelerated.

Layout: ``plan`` (what to set up, in which order), ``checks`` (the load-time checks),
``patches`` (every method replaced on a model instance), ``arch`` (each architecture's fast
path, by ``config.model_type``), ``attention``, ``generation``, ``decoding_step`` and
``scripted_layers``, ``invariance``, ``int8``, ``memory``; for decoder-only (instruct) models
``causal`` (what they take), ``causal_forward`` (docsum's forward for Llama-family layers),
``causal_step`` (its scripted decoding steps) and ``reserved_cache``.
"""

from __future__ import annotations

from typing import Any

from models._speed.causal import accelerate_causal
from models._speed.int8 import quantize_linear_int8
from models._speed.memory import read_checkpoints_sparsely, release_free_memory, return_free_heap
from models._speed.plan import PLAIN, SpeedPlan, turned_off
from models._speed.plan import accelerate as accelerate_seq2seq

__all__ = [
    "PLAIN",
    "SpeedPlan",
    "accelerate",
    "quantize_int8",
    "release_loading_memory",
    "return_free_heap",
    "turned_off",
]


def accelerate(model: Any, *, int8: bool, batch_invariant: bool) -> SpeedPlan:
    """Set up and check every speed path this model takes; its plan: encoder-decoder models'
    (``models._speed.plan``) or decoder-only ones' (``models._speed.causal``)."""
    if getattr(model.config, "is_encoder_decoder", False):
        return accelerate_seq2seq(model, int8=int8, batch_invariant=batch_invariant)
    return accelerate_causal(model, int8=int8, batch_invariant=batch_invariant)


def quantize_int8(model: Any, *, per_row: bool) -> None:
    """Every ``nn.Linear`` of the model dynamically quantized to int8, in place (``models._speed.int8``);
    ``per_row``: activations scaled per row, so no batchmate changes a document's rounding."""
    quantize_linear_int8(model, per_row=per_row)


def release_loading_memory(model: Any, *, int8: bool) -> None:
    """Give back what loading no longer needs; an int8 model's mapped checkpoint is then read a page at a time."""
    release_free_memory()
    if int8:  # what stays mapped is the embedding, read a row at a time (other dtypes read all of their weights)
        read_checkpoints_sparsely(tensor.data_ptr() for tensor in (*model.parameters(), *model.buffers()))
