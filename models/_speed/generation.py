"""Changes to how transformers' ``generate`` runs an encoder-decoder model, for speed and memory.

For reduced-precision models only (plain fp32 keeps exactly transformers' outputs; batch-invariant
fp32 encodes one document at a time, ``models._speed.invariance``), set up per model instance by
``models._speed.plan``: the encoder in slices (:func:`encode_in_slices`), and CPU batches cut in
single-threaded parts (:func:`generate_in_parts`).
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

from models._speed.patches import replace_encoder_forward
from models.pause_points import with_pause_points
from models.yielding import PauseGate

# Input tokens per encoder call: the activations of 2 documents x 500 tokens. 16 documents
# (two parts at once, see generate_in_parts) peaked at 1.36-1.38 GiB against 1.67 with
# 2048-token slices and more unsliced; no slower (the int8 matmuls have rows enough).
ENCODER_SLICE_TOKENS = 1024


def encode_in_slices(model: Any, max_tokens: int = ENCODER_SLICE_TOKENS, *, one_document: bool = False) -> None:
    """The encoder runs a few documents at a time, each slice cut to its own longest input.

    Peak memory follows the slice, not the batch; inputs are sorted by length, so a
    slice of short documents also skips the padding of the longest. ``one_document``:
    every slice is one document, so no padding and no batchmate changes its rounding
    (``models._speed.invariance``). Installed again, it replaces the slicing installed before.
    """

    def slicing(forward: Any) -> Any:
        def sliced(*args: Any, **kwargs: Any) -> Any:
            return _sliced(forward, max_tokens, one_document, *args, **kwargs)

        return sliced

    replace_encoder_forward(model, slicing)


def _sliced(
    forward: Any,
    max_tokens: int,
    one_document: bool,
    *args: Any,
    input_ids: Any = None,
    attention_mask: Any = None,
    **kwargs: Any,
) -> Any:
    """The encoder's forward, a slice of documents at a time (:func:`encode_in_slices`)."""
    plain = args or input_ids is None or attention_mask is None or input_ids.dim() != 2
    if plain or kwargs.get("output_attentions") or kwargs.get("output_hidden_states"):
        return forward(*args, input_ids=input_ids, attention_mask=attention_mask, **kwargs)
    rows, length = input_ids.shape
    step = 1 if one_document else max(1, max_tokens // max(1, length))
    if rows <= step and not one_document:  # one document still sheds its padding (a part of a batch)
        return forward(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
    hidden = None
    for first in range(0, rows, step):  # pauses come from the layers (models.pause_points)
        mask = attention_mask[first : first + step]
        used = _used_length(mask)  # trailing columns that are padding in every row of the slice
        out = forward(input_ids=input_ids[first : first + step, :used], attention_mask=mask[:, :used], **kwargs)
        state = out.last_hidden_state
        if hidden is None:
            hidden = state.new_zeros((rows, length, state.shape[-1]))
        hidden[first : first + step, :used] = state
    return type(out)(last_hidden_state=hidden)


def _used_length(mask: torch.Tensor) -> int:
    columns = mask.any(dim=0).nonzero()
    return int(columns[-1]) + 1 if len(columns) else mask.shape[1]


def generate_in_parts(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    encodes_on_the_caller: bool = False,
    **kwargs: Any,
) -> torch.Tensor:
    """``generate`` on a CPU batch cut into one part per torch thread, each part on its own single-threaded worker.

    With one intra-op team of threads, every op of a decoding step ends in a barrier,
    and with idle threads sleeping (``OMP_WAIT_POLICY=PASSIVE``, as docsum's service
    sets it) each of the hundreds of small ops per step wakes the other thread.
    Measured here with PASSIVE, 2 threads: 8 documents x 4 beams in 6.1-6.2 s against
    8.7-9.0 s as one call, 16 documents greedy 8.1-10.4 s against 10.4-10.8 s, and
    (an earlier version) 10.1-10.4 s against 10.9-11.9 s with another process busy on
    one of the two cores. Rows are independent, so the parts give what one call gives,
    up to int8's per-call activation scales.

    One document has rows enough for the whole team only in its encoder pass, which
    runs on this thread (as every batch's of a batch-invariant float model: a product's
    rounding depends on how many threads share it); its decoding steps then run on one worker. 500 tokens, 60
    tokens forced, 2 threads: 1.03-1.33 s against 1.61-1.98 s greedy, 1.29-1.91 s
    against 1.86-2.46 s with 4 beams, the same output.

    Under ``models.yielding.between_steps`` (background work) every part parks at its
    next step when urgent work is pending, and the callback runs on this thread with
    its whole team of threads. ``encodes_on_the_caller``: every batch's encoder pass runs on
    this thread (batch-invariant float models, ``models._speed.invariance``).
    """
    kwargs = with_pause_points(kwargs)
    threads = torch.get_num_threads()
    if threads < 2 or _openmp() is None:  # it pauses on this thread, as a plain call does
        with torch.inference_mode():
            output: torch.Tensor = model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        return output
    parts = min(threads, len(input_ids))
    rows = balanced_parts(attention_mask, parts)
    pieces = [
        (input_ids[part], attention_mask[part], arguments)
        for part, arguments in _parts_kwargs(model, rows, kwargs, input_ids, attention_mask, encodes_on_the_caller)
    ]
    gate = PauseGate(parts)
    # Work the gate's callback runs (urgent requests) gets its own workers: these are parked.
    depth = getattr(_nesting, "depth", 0)
    pool = _pool(parts, depth)
    futures = [pool.submit(_generate_single_threaded, model, *piece, gate) for piece in pieces]
    _nesting.depth = depth + 1
    try:
        gate.wait()
    finally:
        _nesting.depth = depth
    outputs = [future.result() for future in futures]
    width = max(output.shape[1] for output in outputs)
    pad = _pad_token_id(model)
    joined = torch.cat([torch.nn.functional.pad(output, (0, width - output.shape[1]), value=pad) for output in outputs])
    in_order = torch.empty_like(joined)
    in_order[torch.cat(rows)] = joined
    return in_order


def _parts_kwargs(
    model: Any,
    rows: list[torch.Tensor],
    kwargs: dict[str, Any],
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    encodes_on_the_caller: bool,
) -> list[tuple[torch.Tensor, dict[str, Any]]]:
    """Each part's rows and ``generate`` arguments: with the encoder's output for its rows, where this thread's
    whole team encoded them (one document; every batch of a batch-invariant float model, models._speed.invariance)."""
    encoder_decoder = getattr(model.config, "is_encoder_decoder", False)
    if not encoder_decoder or (len(rows) > 1 and not encodes_on_the_caller):
        return [(part, _for_rows(kwargs, part)) for part in rows]
    encoded = _encode(model, input_ids, attention_mask)
    hidden = encoded.last_hidden_state
    return [
        (part, {**_for_rows(kwargs, part), "encoder_outputs": type(encoded)(last_hidden_state=hidden[part])})
        for part in rows
    ]


def _for_rows(kwargs: dict[str, Any], part: torch.Tensor) -> dict[str, Any]:
    """A part's ``generate`` arguments: logits processors that keep state per row (``for_rows``, such as
    models.sampling's seeded sampler) get the state of the part's rows."""
    processors = kwargs.get("logits_processor")
    if not processors or not any(hasattr(processor, "for_rows") for processor in processors):
        return kwargs
    rows = part.tolist()
    sliced = [p.for_rows(rows) if hasattr(p, "for_rows") else p for p in processors]
    return {**kwargs, "logits_processor": type(processors)(sliced)}


def balanced_parts(attention_mask: torch.Tensor, parts: int) -> list[torch.Tensor]:
    """The rows of each part: as many documents each (one more for the first few), and about as many tokens.

    A call waits for its slowest part. Its encoder pass costs about its input tokens,
    its decoding steps about its rows; consecutive rows of a length-sorted batch would
    give one part all the long documents (8 documents of 502, 502, 502, 502, 353, 330,
    139 and 136 tokens: 2008 against 958 input tokens). Longest first, each document
    goes to the part with the fewest tokens that still has room; within a part, rows
    keep the caller's order.
    """
    lengths = attention_mask.sum(dim=1).tolist()
    room = [len(lengths) // parts + (part < len(lengths) % parts) for part in range(parts)]
    tokens = [0] * parts
    members: list[list[int]] = [[] for _ in range(parts)]
    for row in sorted(range(len(lengths)), key=lambda row: -lengths[row]):
        part = min((part for part in range(parts) if len(members[part]) < room[part]), key=tokens.__getitem__)
        members[part].append(row)
        tokens[part] += lengths[row]
    return [torch.tensor(sorted(part), dtype=torch.long) for part in members]


def _encode(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
    with torch.inference_mode():
        return model.get_encoder()(input_ids=input_ids, attention_mask=attention_mask, return_dict=True)


_nesting = threading.local()


@functools.cache
def _pool(workers: int, depth: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers, thread_name_prefix=f"docsum-generate-{depth}")


@functools.cache
def _openmp() -> ctypes.CDLL | None:
    """torch's OpenMP runtime, whose team size is set per calling thread (None where torch has another)."""
    if "OpenMP" not in torch.__config__.parallel_info():
        return None
    try:
        # RTLD_NOLOAD: only the copy torch already loaded, never a second runtime of its own.
        library = ctypes.CDLL("libgomp.so.1", mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
        library.omp_set_num_threads.argtypes = [ctypes.c_int]
    except (OSError, AttributeError):
        return None
    return library


def _generate_single_threaded(
    model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, kwargs: dict[str, Any], gate: PauseGate
) -> torch.Tensor:
    with gate.part():  # first: a part that fails must still count as finished
        # Only this thread's team: torch.set_num_threads would also change the process-wide
        # default other threads start from, MKL's thread count, and clear oneDNN's kernel cache.
        torch.get_num_threads()  # torch sizes a thread's team on its first use; then it is ours
        openmp = _openmp()
        assert openmp is not None
        openmp.omp_set_num_threads(1)
        with torch.inference_mode():  # thread-local, like the team size
            output: torch.Tensor = model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        return output


def _pad_token_id(model: Any) -> int:
    config = model.generation_config
    for candidate in (config.pad_token_id, config.eos_token_id):
        token = (candidate[0] if candidate else None) if isinstance(candidate, list) else candidate
        if token is not None:
            return int(token)
    return 0
