"""Changes to how transformers' ``generate`` runs an encoder-decoder model, for speed and memory.

For reduced-precision models only (plain fp32 keeps exactly transformers' outputs),
installed per model instance by :func:`models.loading.use_shared_kv_attention`.
"""

from __future__ import annotations

import functools
import itertools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

_BEAM_SHARED_INPUTS = ("encoder_outputs", "attention_mask")
# Set on a model whose CPU batches go through :func:`generate_in_parts`.
GENERATES_IN_PARTS = "_docsum_generates_in_parts"
# Input tokens per encoder call: the activations of 2 documents x 500 tokens. 16 documents
# (two parts at once, see generate_in_parts) peaked at 1.36-1.38 GiB against 1.67 with
# 2048-token slices and more unsliced; no slower (the int8 matmuls have rows enough).
ENCODER_SLICE_TOKENS = 1024


def share_encoder_outputs_across_beams(model: Any) -> None:
    """``generate`` keeps one copy of the encoder output and its mask per document, not per beam.

    It copies them once per beam, so cross-attention projected and cached the same
    keys and values ``num_beams`` times and read every copy at every step.
    Everything else (decoder inputs, self-attention caches, scores) is still
    expanded per beam; cross-attention (``models.attention.docsum_sdpa``) maps each
    beam to its document. Needs the cross-attention cache never to be reordered
    (``models.loading.skip_cross_attention_reorder``) and cross-attention to run
    through ``docsum_sdpa``: the caller checks the latter with a beam-search call and
    undoes this (:func:`stop_sharing_encoder_outputs`) if it fails.
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


def encode_in_slices(model: Any, max_tokens: int = ENCODER_SLICE_TOKENS) -> None:
    """The encoder runs a few documents at a time, each slice cut to its own longest input.

    Peak memory follows the slice, not the batch; inputs are sorted by length, so a
    slice of short documents also skips the padding of the longest.
    """
    encoder = model.get_encoder()
    forward = encoder.forward

    @functools.wraps(forward)  # generate reads the signature to pick the arguments it passes
    def sliced(*args: Any, input_ids: Any = None, attention_mask: Any = None, **kwargs: Any) -> Any:
        plain = args or input_ids is None or attention_mask is None or input_ids.dim() != 2
        if plain or kwargs.get("output_attentions") or kwargs.get("output_hidden_states"):
            return forward(*args, input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        rows, length = input_ids.shape
        step = max(1, max_tokens // length)
        if rows <= step:
            return forward(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        hidden = None
        for first in range(0, rows, step):
            mask = attention_mask[first : first + step]
            used = _used_length(mask)  # trailing columns that are padding in every row of the slice
            out = forward(input_ids=input_ids[first : first + step, :used], attention_mask=mask[:, :used], **kwargs)
            state = out.last_hidden_state
            if hidden is None:
                hidden = state.new_zeros((rows, length, state.shape[-1]))
            hidden[first : first + step, :used] = state
        return type(out)(last_hidden_state=hidden)

    encoder.forward = sliced


def _used_length(mask: torch.Tensor) -> int:
    columns = mask.any(dim=0).nonzero()
    return int(columns[-1]) + 1 if len(columns) else mask.shape[1]


def generate_in_parts(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs: Any) -> torch.Tensor:
    """``generate`` on a CPU batch cut into one part per torch thread, each part on its own single-threaded worker.

    With one intra-op team of threads, every op of a decoding step ends in a barrier,
    and with idle threads sleeping (``OMP_WAIT_POLICY=PASSIVE``, as docsum's service
    sets it) each of the hundreds of small ops per step wakes the other thread:
    measured here, 2 parts x 1 thread ran 8 documents x 4 beams in 6.2-6.7 s against
    7.6-8.2 s for one call on 2 threads (16 documents greedy: 8.4-9.2 s against
    9.8-10.3 s), and 10.1-10.4 s against 10.9-11.9 s with another process busy on one
    of the two cores. Rows are independent, so the parts give what one call gives,
    up to int8's per-call activation scales.
    """
    threads = torch.get_num_threads()
    parts = min(threads, len(input_ids))
    if parts < 2:
        with torch.inference_mode():
            output: torch.Tensor = model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        return output
    bounds = [len(input_ids) * part // parts for part in range(parts + 1)]
    pieces = [(input_ids[a:b], attention_mask[a:b]) for a, b in itertools.pairwise(bounds)]
    try:
        futures = [_pool(parts).submit(_generate_single_threaded, model, ids, mask, kwargs) for ids, mask in pieces]
        outputs = [future.result() for future in futures]
    finally:
        torch.set_num_threads(threads)  # the workers' setting reaches MKL's process-wide one
    width = max(output.shape[1] for output in outputs)
    pad = _pad_token_id(model)
    return torch.cat([torch.nn.functional.pad(output, (0, width - output.shape[1]), value=pad) for output in outputs])


@functools.cache
def _pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers, thread_name_prefix="docsum-generate")


def _generate_single_threaded(
    model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, kwargs: dict[str, Any]
) -> torch.Tensor:
    torch.set_num_threads(1)  # this thread's OpenMP team
    with torch.inference_mode():  # thread-local, like the thread count
        output: torch.Tensor = model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
    return output


def _pad_token_id(model: Any) -> int:
    config = model.generation_config
    for candidate in (config.pad_token_id, config.eos_token_id):
        token = (candidate[0] if candidate else None) if isinstance(candidate, list) else candidate
        if token is not None:
            return int(token)
    return 0
