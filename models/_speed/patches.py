"""Every method docsum's speed paths replace on a loaded model, installed and undone here and nowhere else.

Each replacement is an attribute of one model instance (never of a transformers class),
so two models in one process, or one loaded with ``accelerate=False``, are untouched; it
shadows the class's method, and deleting it restores transformers' own
(:func:`replaced_methods` lists what a model has). Where transformers or torch offers an
extension point, docsum uses it instead of a replacement: its attention runs through
``AttentionInterface`` (``models._speed.attention``), bf16 caches and pause points are
forward hooks, and the fused GELU and int8 Linear layers are module swaps. What is left
here has none:

* ``model.forward`` (the scripted decoding step, ``models._speed.decoding_step``, and
  instruct models' forward, ``models._speed.causal_forward``): a whole decoding step in
  TorchScript, or a batch's prompts one at a time, must see ``generate``'s arguments and
  answer with its output type; no hook replaces a forward call, and a subclass would mean
  changing a loaded model's class, the same replacement less visibly.
* ``encoder.forward`` (``models._speed.generation.encode_in_slices``): one call becomes
  several slices; a hook can change inputs and outputs, not split the call. Direct callers
  of ``model.generate`` (tests, a notebook) get the slicing too, which batch invariance needs.
* ``model._expand_inputs_for_generation`` (:func:`share_encoder_outputs_across_beams`):
  ``generate``'s own copying of inputs per beam; no argument turns it off for some inputs.
* ``model._reorder_cache`` (:func:`skip_cross_attention_reorder`): the model-level hook
  ``generate`` asks for before reordering a cache (as RAG's models define it); a cache
  subclass would have to be made by every caller of ``generate`` and is not the
  ``EncoderDecoderCache`` the scripted steps check for.
* ``linear.forward`` (``models._speed.invariance.linear_in_blocks``): the same Linear,
  weights shared (tied heads stay tied), multiplied in fixed blocks of rows.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

# The encoder's own forward, kept where the sliced one replaces it, so slicing can be installed again.
_PLAIN_ENCODER_FORWARD = "_docsum_plain_forward"
# Inputs a document's beams share: one copy per document, not per beam.
_BEAM_SHARED_INPUTS = ("encoder_outputs", "attention_mask")
_REPLACEABLE = ("forward", "_expand_inputs_for_generation", "_reorder_cache")

Wrapper = Callable[[Callable[..., Any]], Callable[..., Any]]


def replace_model_forward(model: Any, wrapper: Wrapper) -> None:
    """``model.forward`` becomes ``wrapper(transformers' forward)``, with its signature (generate reads it)."""
    forward = model.forward
    model.forward = functools.wraps(forward)(wrapper(forward))


def restore_model_forward(model: Any) -> None:
    model.__dict__.pop("forward", None)


def replace_encoder_forward(model: Any, wrapper: Wrapper) -> None:
    """The encoder's forward becomes ``wrapper(its own forward)``; installed again, it replaces the one before."""
    encoder = model.get_encoder()
    forward = encoder.__dict__.setdefault(_PLAIN_ENCODER_FORWARD, encoder.forward)
    encoder.forward = functools.wraps(forward)(wrapper(forward))  # generate reads the signature


def replace_linear_forward(linear: Any, forward: Callable[[Any], Any]) -> None:
    linear.forward = forward


def share_encoder_outputs_across_beams(model: Any) -> None:
    """``generate`` keeps one copy of the encoder output and its mask per document, not per beam.

    It copies them once per beam, so cross-attention projected and cached the same
    keys and values ``num_beams`` times and read every copy at every step.
    Everything else (decoder inputs, self-attention caches, scores) is still
    expanded per beam; cross-attention (``models._speed.attention.docsum_sdpa``) maps each
    beam to its document. Needs the cross-attention cache never to be reordered
    (:func:`skip_cross_attention_reorder`) and cross-attention to run through
    ``docsum_sdpa``: the caller checks the latter with a beam-search call and undoes this
    (:func:`stop_sharing_encoder_outputs`) if it fails.
    """
    original = model._expand_inputs_for_generation

    def expand(
        expand_size: int = 1, is_encoder_decoder: bool = False, input_ids: Any = None, **model_kwargs: Any
    ) -> tuple[Any, dict[str, Any]]:
        kept = {name: model_kwargs.pop(name) for name in _BEAM_SHARED_INPUTS if name in model_kwargs}
        input_ids, model_kwargs = original(expand_size=expand_size, input_ids=input_ids, **model_kwargs)
        model_kwargs.update(kept)
        return input_ids, model_kwargs

    model._expand_inputs_for_generation = expand


def stop_sharing_encoder_outputs(model: Any) -> None:
    model.__dict__.pop("_expand_inputs_for_generation", None)


def skip_cross_attention_reorder(model: Any) -> None:
    """Beam search without copying the cross-attention cache at every step.

    After each step ``generate`` reorders the whole cache by the surviving beams.
    For the cross-attention part that is a no-op in value, since every beam of a
    document holds the same encoder keys and values and beams never move between
    documents, yet it copies all of it (6 layers x 2 x beams x documents x input
    length x d_model: ~400 MB per step for 8 documents x 4 beams of 500 tokens).
    Only the self-attention cache is reordered here; outputs are unchanged.
    """
    if not getattr(model.config, "is_encoder_decoder", False) or hasattr(model, "_reorder_cache"):
        return

    def reorder(cache: Any, beam_idx: Any) -> Any:
        inner = getattr(cache, "self_attention_cache", None)
        if inner is not None and hasattr(inner, "reorder_cache"):
            inner.reorder_cache(beam_idx)
        else:
            cache.reorder_cache(beam_idx)
        return cache

    model._reorder_cache = reorder


def replaced_methods(model: Any) -> list[str]:
    """The methods of the model and its modules that an instance attribute replaces ("decoder.forward", ...)."""
    found = []
    for path, module in model.named_modules():
        for name in _REPLACEABLE:
            if name in vars(module) and callable(vars(module)[name]):
                found.append(f"{path}.{name}" if path else name)
    return found
