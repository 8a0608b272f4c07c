"""Speed paths for decoder-only (instruct) models on CPU: :func:`accelerate_causal`.

What a causal LM's generation takes here, each checked on a warm-up call at load:

* The dtype as for seq2seq models (``models.loading``): bf16 with AMX (measured fastest here,
  docs/performance.md "Instruct LLMs: speed paths"), int8 Linear layers with VNNI alone
  (``models._speed.int8``, the LM head included); plain fp32 takes none of these paths.
* Prefill computes the LM head for the last position only (transformers' ``logits_to_keep``):
  the head is a quarter of SmolLM2-135M's prefill work (49152 x 576 per token) otherwise.
* CPU batches cut in single-threaded parts (``models._speed.generation.generate_in_parts``):
  a decoding step is hundreds of small ops, each a barrier for a team of threads.
* docsum's forward for Llama-family layers (``models._speed.causal_forward``): prompts one
  document at a time, decoding steps batched in TorchScript on packed weights, the cache
  written in place; other architectures keep transformers' forward with the paths below.
* Batch invariance (``DOCSUM_BATCH_INVARIANT``): each row attends over its own tokens only,
  with the left padding cut off (:func:`per_document_sdpa`), so a document's keys, shapes and
  kernels are those it has alone; int8 Linear layers scale activations per row, float ones
  multiply fixed blocks of rows (:func:`multiply_in_row_blocks`).
"""

from __future__ import annotations

from typing import Any

import torch

from models._speed.causal_forward import CausalForward, install_causal_forward
from models._speed.generation import _openmp
from models._speed.memory import keep_large_blocks_on_the_heap
from models._speed.patches import replace_linear_forward
from models._speed.plan import SpeedPlan
from models.acceleration import (
    CAUSAL_FORWARD,
    INT8_LINEAR,
    LAST_LOGITS,
    PARTS,
    PER_DOCUMENT_ATTENTION,
    SCRIPTED_STEPS,
    Acceleration,
)

NAME = "docsum_causal_sdpa"
# Rows per float product (multiply_in_row_blocks): a decoding step's few rows per part, a prompt's many.
STEP_ROWS = 16
PROMPT_ROWS = 512
FP32_NOTE = "float32 runs transformers' own generation, outputs exactly as it gives them"


def per_document_sdpa(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Causal attention one row at a time over that row's own keys (left padding cut off), the same call
    whatever the row's batchmates: a prompt's queries with ``is_causal``, a decoding step's one query alone."""
    del module, dropout, kwargs  # eval only: no dropout
    rows, _, length, depth = query.shape
    keys = key.shape[2]
    starts = _first_keys(attention_mask, rows, keys)
    out = query.new_zeros((rows, length, query.shape[1], depth))
    for row in range(rows):
        first = starts[row]
        queries = min(length, keys - first)  # the last `length` positions are the queries
        q = query[row : row + 1, :, length - queries :]
        k, v = key[row : row + 1, :, first:], value[row : row + 1, :, first:]
        if queries in (1, keys - first):
            mask, causal = None, queries > 1
        else:  # queries against a longer cache (chunked prompts): the causal band, explicitly
            band = torch.ones(queries, keys - first, dtype=torch.bool, device=query.device)
            mask, causal = band.tril(keys - first - queries), False
        attended = torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=causal, scale=scaling, enable_gqa=k.shape[1] != q.shape[1]
        )
        out[row, length - queries :] = attended[0].transpose(0, 1)
    return out, None


def _first_keys(mask: torch.Tensor | None, rows: int, keys: int) -> list[int]:
    """Each row's first valid key: its left padding's length (0 without a mask)."""
    if mask is None:
        return [0] * rows
    last = mask[:, 0, -1, :keys]  # the last query sees every valid key of its row
    if last.dtype != torch.bool:
        last = last == 0  # additive masks: 0 where attended
    valid = last.to(torch.int64)
    starts = (keys - valid.sum(dim=-1)).tolist()
    for row, start in enumerate(starts):
        if not bool(last[row, start:].all()):
            raise ValueError("per-document attention needs left padding")
    return [int(start) for start in starts]


def multiply_in_row_blocks(linear: torch.nn.Linear) -> None:
    """The Linear multiplies fixed blocks of rows, the last one padded with zeros: a float product's kernel and
    blocking follow its shape, so a row's rounding moved with its batchmates. A decoding step (one position per
    row) goes in blocks of :data:`STEP_ROWS`, a prompt in blocks of :data:`PROMPT_ROWS`: alone or batched, a
    token's row meets the same product. Blocks are views of one padded copy, written into one output; measured
    here (bf16, 2400 x 576 by 1536, one thread) 16-row blocks for prompts cost 3-8x a plain product, 512-row
    ones about 2x, half of it the copies this avoids."""
    weight, bias = linear.weight, linear.bias

    def forward(x: torch.Tensor) -> torch.Tensor:
        rows = STEP_ROWS if x.dim() == 3 and x.shape[1] == 1 else PROMPT_ROWS
        flat = x.reshape(-1, x.shape[-1])
        count = flat.shape[0]
        padded = torch.nn.functional.pad(flat, (0, 0, 0, -count % rows))
        out = padded.new_empty((padded.shape[0], weight.shape[0]))
        for first in range(0, padded.shape[0], rows):
            block = padded[first : first + rows]
            if bias is None:
                torch.mm(block, weight.t(), out=out[first : first + rows])
            else:
                torch.addmm(bias, block, weight.t(), out=out[first : first + rows])
        return out[:count].view(*x.shape[:-1], -1)

    replace_linear_forward(linear, forward)


def register() -> str:
    """:data:`NAME` made known to transformers (its masks as SDPA's)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, per_document_sdpa)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    return NAME


def accelerate_causal(model: Any, *, int8: bool, batch_invariant: bool) -> SpeedPlan:
    """Set up and check a causal LM's speed paths (CPU); its plan."""
    if next(model.parameters()).device.type != "cpu":
        return SpeedPlan(Acceleration(note="on a GPU transformers' own generation runs"))
    if not int8 and next(model.parameters()).dtype == torch.float32:
        return SpeedPlan(Acceleration(note=FP32_NOTE))
    keep_large_blocks_on_the_heap()
    engaged: list[str] = []
    missing: list[tuple[str, str]] = []
    if int8:
        if _int8_linears(model):
            engaged.append(INT8_LINEAR)
        else:
            missing.append((INT8_LINEAR, "no Linear layer was quantized"))
    if batch_invariant:
        refused = _make_batch_invariant(model, int8=int8)
        if refused is None:
            engaged.append(PER_DOCUMENT_ATTENTION)
        else:
            missing.append((PER_DOCUMENT_ATTENTION, refused))
    _install_and_check_forward(model, STEP_ROWS if batch_invariant and not int8 else 0, engaged, missing)
    parts = torch.get_num_threads() >= 2  # one thread: nothing to cut, and no path claimed
    if parts and _openmp() is None:
        missing.append((PARTS, "torch runs without OpenMP, whose team size docsum sets per thread"))
        parts = False
    elif parts:
        engaged.append(PARTS)
    return SpeedPlan(Acceleration(engaged=tuple(engaged), missing=tuple(missing)), generates_in_parts=parts)


def _install_and_check_forward(model: Any, block: int, engaged: list[str], missing: list[tuple[str, str]]) -> None:
    """docsum's forward installed, then two warm-up calls: a padded batch (which also checks the LM head's last
    position) and one unpadded prompt; the forward's counts say whether it took them."""
    installed = install_causal_forward(model, block=block)
    failed = check_last_logits(model)
    if failed is None:
        engaged.append(LAST_LOGITS)
    else:
        missing.append((LAST_LOGITS, failed))
    if not isinstance(installed, str):
        _generate_one_prompt(model)
    _report_forward(installed, engaged, missing)


def _report_forward(
    installed: tuple[CausalForward, str | None] | str, engaged: list[str], missing: list[tuple[str, str]]
) -> None:
    """Whether docsum's forward (``models._speed.causal_forward``) and its scripted steps ran on the warm-up call."""
    if isinstance(installed, str):
        missing.append((CAUSAL_FORWARD, installed))
        return
    forward, unscripted = installed
    if forward.prompts >= 2 and forward.steps >= 2:  # one of each per warm-up call
        engaged.append(CAUSAL_FORWARD)
    else:
        declined = ", ".join(forward.declined) or "nothing"
        missing.append((CAUSAL_FORWARD, f"a warm-up call went to transformers' forward (given {declined})"))
        return
    if unscripted is None:
        engaged.append(SCRIPTED_STEPS)
    else:
        missing.append((SCRIPTED_STEPS, unscripted))


def _generate_one_prompt(model: Any) -> None:
    """A warm-up generate of one unpadded prompt: generate leaves its mask of ones out of the decoding steps,
    which the forward must take too (single requests, streamed ones)."""
    ids = torch.full((1, 8), _some_token(model), dtype=torch.long)
    with torch.inference_mode():
        model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=2, min_new_tokens=2, do_sample=False
        )


def _int8_linears(model: Any) -> int:
    from torch.ao.nn.quantized.dynamic import Linear as DynamicQuantizedLinear

    from models._speed.int8 import RowScaledInt8Linear

    return sum(isinstance(m, (RowScaledInt8Linear, DynamicQuantizedLinear)) for m in model.modules())


def _make_batch_invariant(model: Any, *, int8: bool) -> str | None:
    """Per-document attention, and float products in fixed blocks of rows (int8's are exact per row);
    None once set up, else why not."""
    refused = _use_per_document_attention(model)
    if refused is None and not int8:
        for linear in [m for m in model.modules() if isinstance(m, torch.nn.Linear)]:
            multiply_in_row_blocks(linear)
    return refused


def _use_per_document_attention(model: Any) -> str | None:
    implementation = getattr(model.config, "_attn_implementation", None)
    if implementation != "sdpa":
        return f"the model runs {implementation} attention, not SDPA"
    try:
        model.set_attn_implementation(register())
    except (ValueError, AttributeError, ImportError) as exc:
        return f"transformers refused docsum's attention: {exc}"
    return None


def check_last_logits(model: Any) -> str | None:
    """None if a prompt's prefill ran the LM head on its last position only (a warm-up generate); else why not."""
    head = model.get_output_embeddings()
    if head is None:
        return "the model has no output embeddings"
    seen: list[int] = []

    def count(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        seen.append(inputs[0].shape[-2] if inputs[0].dim() > 1 else 1)

    handle = head.register_forward_pre_hook(count)
    try:
        ids = torch.full((2, 8), _some_token(model), dtype=torch.long)
        mask = torch.ones_like(ids)
        mask[0, :2] = 0  # left padding, as summaries have it
        with torch.inference_mode():
            model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=2, min_new_tokens=2, do_sample=False)
    finally:
        handle.remove()
    if not seen or max(seen) > 1:
        return f"the LM head ran on {max(seen, default=0)} positions per row in a prefill"
    return None


def _some_token(model: Any) -> int:
    config = model.generation_config
    for candidate in (config.bos_token_id, config.eos_token_id, config.pad_token_id):
        token = (candidate[0] if candidate else None) if isinstance(candidate, list) else candidate
        if token is not None:
            return int(token)
    return 0
