"""Llama-family causal LMs' forward for generation on the CPU: :func:`install_causal_forward`.

transformers' forward runs a batch's prompts as one left-padded block. Here (profiled on
SmolLM2-135M, bf16, 8 prompts of 630 tokens, one thread: docs/performance.md):

* **Prompts one document at a time** (the prefill): no padding, and each document's products,
  attention and rounding are those it has alone whatever its batchmates, so batch invariance
  needs no fixed blocks of rows (``models._speed.causal.multiply_in_row_blocks`` costs about
  1.8x a plain product at prompt sizes). A pause point (``models.yielding``) after each document.
* **Decoding steps batched**, through the model's own Linear layers (fixed row blocks where batch
  invariant) and attention one row at a time over its own keys, as ``per_document_sdpa`` does.
* **RMSNorm through torch's fused ``rms_norm``** in fp32 (half the time of transformers' four ops,
  same formula), and the keys and values written in place (``models._speed.reserved_cache``).

Only models whose layers are Llama's (``llama``, ``mistral``, ``qwen2``, ``qwen3``: RMSNorm, rotary
positions, SiLU-gated MLP, full attention); every other call (inputs as embeddings, hidden states or
attentions asked for, every position's logits, a cache this forward did not make) goes to
transformers' forward, and :attr:`CausalForward.declined` says what it was given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from models._speed.causal_step import StepModules, rms_norm, rotate, step_modules
from models._speed.patches import replace_model_forward
from models._speed.reserved_cache import ReservedCache
from models.yielding import step_done

SUPPORTED = frozenset({"llama", "mistral", "qwen2", "qwen3"})
# Arguments generate passes that this forward honours, or that change nothing in it when None/False.
_TAKEN = frozenset(
    {"input_ids", "attention_mask", "position_ids", "cache", "past_key_values", "use_cache", "logits_to_keep"}
)
_QUIET = frozenset({"output_attentions", "output_hidden_states", "cache_position"})

Attend = Callable[[int, Any, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class CausalForward:
    """The forward installed on one model; :attr:`prompts` and :attr:`steps` count the calls it took."""

    def __init__(self, model: Any, steps: StepModules) -> None:
        self.model = model
        self.step_layers, self.head = steps.layers, steps.head
        self.decoder = model.model
        self.layers = list(self.decoder.layers)
        self.prompts = 0
        self.steps = 0
        self.declined: list[str] = []  # the arguments of the last call it left to transformers

    def __call__(self, kwargs: dict[str, Any]) -> Any | None:
        """The output for these ``forward`` arguments, or None where transformers' forward must answer."""
        ids, mask = kwargs.get("input_ids"), kwargs.get("attention_mask")
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        if not _plain_call(kwargs) or ids is None or ids.dim() != 2 or kwargs.get("use_cache") is False:
            return None
        if mask is not None and (mask.dim() != 2 or mask.shape[0] != ids.shape[0]):
            return None
        if isinstance(cache, ReservedCache) and cache.get_seq_length() > 0:
            starts = _step_starts(cache, mask, ids)
            if starts is None or not _positions_follow(kwargs.get("position_ids"), starts, cache.get_seq_length() + 1):
                return None
            self.steps += 1
            return self.step(ids, starts, cache)
        fresh = cache is None or (not isinstance(cache, ReservedCache) and cache.get_seq_length() == 0)
        if mask is None:
            mask = torch.ones_like(ids)
        last_only = kwargs.get("logits_to_keep", 0)  # an int, or a tensor of positions (taken by transformers)
        if not fresh or not isinstance(last_only, int) or last_only != 1 or mask.shape[1] != ids.shape[1]:
            return None
        starts = _starts(mask)
        if starts is None or not _positions_follow(kwargs.get("position_ids"), starts, ids.shape[1]):
            return None
        self.prompts += 1
        return self.prompt(ids, starts)

    def prompt(self, input_ids: torch.Tensor, starts: list[int]) -> Any:
        """Each row's prompt alone (its left padding cut off); its keys and values into one reserved cache."""
        rows, length = input_ids.shape
        cache = ReservedCache(len(self.layers), rows=rows, starts=starts)
        last = []
        for row, first in enumerate(starts):
            ids = input_ids[row : row + 1, first:]
            attend = _prompt_attention(cache, row, first, length)
            positions = torch.arange(ids.shape[1], device=ids.device)[None]
            hidden = self.layers_on(ids, positions, attend)
            last.append(hidden[:, -1:])
            step_done()  # a pause point per document (urgent work, abandoned calls)
        for layer in cache.layers:
            layer.written(length)
        return self.output(torch.cat(last), cache)

    def step(self, input_ids: torch.Tensor, starts: list[int], cache: ReservedCache) -> Any:
        """One decoding step of the whole batch, a step layer per decoder layer (``models._speed.causal_step``)."""
        position = cache.get_seq_length()
        hidden = self.decoder.embed_tokens(input_ids)
        positions = torch.tensor(starts, device=input_ids.device)[:, None].neg_().add_(position)
        cos, sin = self.decoder.rotary_emb(hidden, positions)  # (rows, 1, depth): one position per row
        hidden = hidden[:, 0]
        for layer, step in zip(cache.layers, self.step_layers, strict=True):
            layer.reserve(layer.key_room, position + 1)
            hidden = step(hidden, cos, sin, layer.key_room, layer.value_room, position, starts)
        for layer in cache.layers:
            layer.written(position + 1)
        logits = self.head(_norm(self.decoder.norm, hidden))
        return _output(logits[:, None], cache)

    def layers_on(self, ids: torch.Tensor, positions: torch.Tensor, attend: Attend) -> torch.Tensor:
        """The decoder layers on one prompt (1, length) at these positions; the last hidden state."""
        hidden = self.decoder.embed_tokens(ids)
        cos, sin = self.decoder.rotary_emb(hidden, positions)
        for index, layer in enumerate(self.layers):
            hidden = _layer(index, layer, hidden, cos[:, None], sin[:, None], attend)
        return hidden

    def output(self, hidden: torch.Tensor, cache: ReservedCache) -> Any:
        """Logits through the model's own LM head (its hooks see each prompt's last position only)."""
        return _output(self.model.lm_head(_norm(self.decoder.norm, hidden)), cache)


def _prompt_attention(cache: ReservedCache, row: int, first: int, length: int) -> Attend:
    """Attention for one row's prompt alone (causal, over its own tokens); its keys and values go into the cache at
    the row's place in the left-padded batch."""

    def attend(index: int, attention: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        layer = cache.layers[index]
        layer.reserve(k.expand(cache.rows, -1, -1, -1), length)
        assert layer.key_room is not None and layer.value_room is not None
        layer.key_room[row, :, first:length] = k[0]
        layer.value_room[row, :, first:length] = v[0]
        gqa = k.shape[1] != q.shape[1]
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=attention.scaling, enable_gqa=gqa)
        return out.transpose(1, 2)

    return attend


def _output(logits: torch.Tensor, cache: ReservedCache) -> Any:
    from transformers.modeling_outputs import CausalLMOutputWithPast

    return CausalLMOutputWithPast(logits=logits, cache=cache)


def _layer(
    index: int,
    layer: Any,
    hidden: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    attend: Attend,
) -> torch.Tensor:
    """One Llama decoder layer on a prompt, as transformers' own (LlamaDecoderLayer, Qwen3's q/k norms)."""
    product = _prompt_product
    attention = layer.self_attn
    x = _norm(layer.input_layernorm, hidden)
    shape = (*x.shape[:-1], -1, attention.head_dim)
    q = product(attention.q_proj, x).view(shape)
    k = product(attention.k_proj, x).view(shape)
    if hasattr(attention, "q_norm"):
        q, k = _norm(attention.q_norm, q), _norm(attention.k_norm, k)
    v = product(attention.v_proj, x).view(shape).transpose(1, 2)
    q, k = rotate(q.transpose(1, 2), cos, sin), rotate(k.transpose(1, 2), cos, sin)
    attended = attend(index, attention, q, k, v)
    hidden = hidden + product(attention.o_proj, attended.reshape(*x.shape[:-1], -1))
    x = _norm(layer.post_attention_layernorm, hidden)
    mlp = layer.mlp
    return hidden + product(mlp.down_proj, F.silu(product(mlp.gate_proj, x)) * product(mlp.up_proj, x))


def _norm(module: Any, x: torch.Tensor) -> torch.Tensor:
    return rms_norm(x, module.weight, module.variance_epsilon)


def _prompt_product(linear: Any, x: torch.Tensor) -> torch.Tensor:
    """A float Linear's plain product (a prompt alone needs no fixed row blocks); other layers (int8) as they are."""
    if type(linear) is torch.nn.Linear:
        return F.linear(x, linear.weight, linear.bias)
    return linear(x)


def _plain_call(kwargs: dict[str, Any]) -> bool:
    """Whether a call asks for nothing but the next token's logits (and a cache)."""
    for name, value in kwargs.items():
        if name in _TAKEN or (name in _QUIET and not value) or (name == "return_dict" and value is not False):
            continue
        return False
    return True


def _starts(mask: torch.Tensor) -> list[int] | None:
    """Each row's first token (its left padding's length); None unless every row is left-padded only."""
    valid = mask.to(torch.bool)
    counts = valid.sum(dim=1)
    starts = (mask.shape[1] - counts).tolist()
    if not bool(valid.all()):
        for row, start in enumerate(starts):
            if not bool(valid[row, start:].all()) or start >= mask.shape[1]:
                return None
    return [int(start) for start in starts]


def _step_starts(cache: ReservedCache, mask: torch.Tensor | None, ids: torch.Tensor) -> list[int] | None:
    """Each row's first position for a decoding step: the prompt's (generate leaves out a mask of ones), checked
    against the caller's mask where there is one; None where the step must go to transformers."""
    if ids.shape[1] != 1 or ids.shape[0] != cache.rows:
        return None
    if mask is None:
        return cache.starts
    if mask.shape[1] != cache.get_seq_length() + 1:
        return None
    starts = _starts(mask)
    return starts if cache.starts is None or starts == cache.starts else None


def _positions_follow(positions: torch.Tensor | None, starts: list[int], length: int) -> bool:
    """Whether the caller's positions (of the last ``positions.shape[-1]`` of ``length`` columns) are those this
    forward uses: each row counts from its first token; padding's are not looked at."""
    if positions is None:
        return True
    columns = positions.shape[-1]
    first = torch.tensor(starts, device=positions.device)[:, None]
    expected = torch.arange(length - columns, length, device=positions.device)[None] - first
    valid = expected >= 0
    return bool(torch.equal(positions.expand_as(expected)[valid], expected[valid]))


def unsupported(model: Any) -> str | None:
    """Why this model cannot take the forward (None if it can)."""
    config = model.config
    if config.model_type not in SUPPORTED:
        return f"docsum has no forward for {config.model_type} models (only {', '.join(sorted(SUPPORTED))})"
    if getattr(config, "hidden_act", None) != "silu":
        return f"the MLP's activation is {getattr(config, 'hidden_act', None)}, not silu"
    decoder = getattr(model, "model", None)
    if decoder is None or not hasattr(decoder, "rotary_emb") or model.get_output_embeddings() is None:
        return "the model is not laid out as transformers' Llama"
    for layer in decoder.layers:
        if getattr(layer.self_attn, "sliding_window", None):
            return "sliding-window attention"
    return None


def install_causal_forward(model: Any, *, block: int) -> tuple[CausalForward, str | None] | str:
    """The forward installed on this model, with why its steps are not scripted (None if they are); or why it
    cannot be installed. Whether it engages is for a generate call to show (its counts). ``block``: rows per
    float product in a decoding step (0: whole)."""
    why = unsupported(model)
    if why is not None:
        return why
    steps = step_modules(model, block=block)
    fast = CausalForward(model, steps)

    def wrapping(forward: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            output = None if args else fast(kwargs)
            if output is None:
                fast.declined = sorted(name for name, value in kwargs.items() if value is not None)
                return forward(*args, **kwargs)
            return output

        return call

    replace_model_forward(model, wrapping)
    return fast, steps.unscripted
