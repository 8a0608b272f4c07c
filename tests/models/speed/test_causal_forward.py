"""models/_speed/causal_forward.py and causal_step.py: docsum's forward for Llama-family models gives transformers'
logits (prompts one document at a time, decoding steps batched) on Llama, Qwen2 (biases) and Qwen3 (q/k norms);
every call it does not take goes to transformers' forward; scripted and eager steps agree; float products on packed
weights equal plain ones."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config, Qwen3Config
from transformers.cache_utils import DynamicCache

from models._speed.causal_forward import install_causal_forward, unsupported
from models._speed.causal_step import FloatProduct, StepLayer, step_modules
from models._speed.reserved_cache import ROOM, ReservedCache
from models.loading import MODEL_LOADING

SHAPE = {
    "vocab_size": 96,
    "hidden_size": 64,
    "intermediate_size": 96,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 128,
    "hidden_act": "silu",
}
CONFIGS = {
    "llama": lambda: LlamaConfig(**SHAPE),
    "qwen2": lambda: Qwen2Config(**SHAPE),  # biases on q, k and v
    "qwen3": lambda: Qwen3Config(**SHAPE, head_dim=32),  # RMSNorm on each head's queries and keys; wider heads
}


def tiny(kind: str, dtype: torch.dtype = torch.float32) -> Any:
    with MODEL_LOADING, torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(CONFIGS[kind](), attn_implementation="sdpa")
    return model.to(dtype).eval()


def left_padded_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    ids = torch.randint(3, 96, (3, 11), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, :4] = 0  # four positions of left padding
    mask[2, :10] = 0  # a one-token prompt
    positions = (mask.cumsum(-1) - 1).clamp_min(0)
    return ids, mask, positions


def transformers_forward(model: Any, **kwargs: Any) -> Any:
    return type(model).forward(model, **kwargs)  # the class's own, not the instance's replacement


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_prompt_and_steps_give_transformers_logits(kind: str) -> None:
    model = tiny(kind)
    installed = install_causal_forward(model, block=0)
    assert not isinstance(installed, str)
    fast, unscripted = installed
    assert unscripted is None
    ids, mask, positions = left_padded_batch()
    with torch.inference_mode():
        ours = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=1, use_cache=True)
        theirs = transformers_forward(
            model, input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=1, use_cache=True
        )
        assert fast.prompts == 1 and isinstance(ours.cache, ReservedCache)
        torch.testing.assert_close(ours.logits, theirs.logits, atol=2e-5, rtol=1e-4)
        our_cache, their_cache = ours.cache, theirs.cache
        for _ in range(3):  # decoding steps, each row its own next token
            token = theirs.logits[:, -1].argmax(-1, keepdim=True)
            mask = torch.cat([mask, torch.ones_like(token)], dim=1)
            step = (mask.cumsum(-1) - 1)[:, -1:]
            arguments = {"input_ids": token, "attention_mask": mask, "position_ids": step}
            ours = model(**arguments, cache=our_cache)
            theirs = transformers_forward(model, **arguments, cache=their_cache)
            torch.testing.assert_close(ours.logits, theirs.logits, atol=2e-5, rtol=1e-4)
    assert fast.steps == 3 and fast.declined == []


@pytest.mark.parametrize("rows", [3, 1])
def test_generate_takes_the_forward_for_every_call(rows: int) -> None:
    """A padded batch, and one prompt alone (whose mask of ones generate leaves out of its decoding steps)."""
    model = tiny("llama", torch.bfloat16)
    installed = install_causal_forward(model, block=16)
    assert not isinstance(installed, str)
    fast = installed[0]
    ids, mask, _ = left_padded_batch()
    ids, mask = (ids, mask) if rows == 3 else (ids[:1], mask[:1])
    with torch.inference_mode():
        model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=5, min_new_tokens=5, do_sample=False)
    assert (fast.prompts, fast.steps, fast.declined) == (1, 4, [])


def test_steps_past_the_reserved_room_grow_it() -> None:
    """More new tokens than the cache's room: it grows, and each row's tokens are still those it gets alone."""
    model = tiny("llama", torch.bfloat16)
    installed = install_causal_forward(model, block=16)
    assert not isinstance(installed, str)
    ids, mask, _ = left_padded_batch()
    arguments = {"max_new_tokens": ROOM + 4, "min_new_tokens": ROOM + 4, "do_sample": False}
    with torch.inference_mode():
        together = model.generate(input_ids=ids, attention_mask=mask, **arguments)
        for row in range(len(ids)):
            first = int((mask[row] == 0).sum())
            own = ids[row : row + 1, first:]
            alone = model.generate(input_ids=own, attention_mask=torch.ones_like(own), **arguments)
            assert together[row, ids.shape[1] :].tolist() == alone[0, ids.shape[1] - first :].tolist()
    assert installed[0].steps == 4 * (ROOM + 3) and installed[0].declined == []


def test_calls_it_does_not_take_go_to_transformers() -> None:
    """Every position's logits, hidden states asked for, a cache it did not make: transformers' forward answers."""
    model = tiny("qwen2")
    installed = install_causal_forward(model, block=0)
    assert not isinstance(installed, str)
    fast = installed[0]
    ids, mask, positions = left_padded_batch()
    with torch.inference_mode():
        every = model(input_ids=ids, attention_mask=mask, position_ids=positions)
        assert every.logits.shape[1] == ids.shape[1]
        picked = model(input_ids=ids, attention_mask=mask, logits_to_keep=torch.tensor([4, 10]))  # positions
        assert picked.logits.shape[1] == 2
        hidden = model(input_ids=ids, attention_mask=mask, logits_to_keep=1, output_hidden_states=True)
        assert "output_hidden_states" in fast.declined and hidden.hidden_states is not None
        theirs = transformers_forward(model, input_ids=ids, attention_mask=mask, logits_to_keep=1, use_cache=True)
        token = theirs.logits[:, -1].argmax(-1, keepdim=True)
        longer = torch.cat([mask, torch.ones_like(token)], dim=1)
        stepped = model(input_ids=token, attention_mask=longer, cache=theirs.cache)
        assert isinstance(stepped.cache, DynamicCache)
    assert fast.prompts == 0 and fast.steps == 0


def test_scripted_and_eager_steps_agree() -> None:
    model = tiny("qwen3", torch.bfloat16)
    scripted = step_modules(model, block=16)
    assert scripted.unscripted is None
    eager = StepLayer(model.model.layers[0], 16).eval()
    generator = torch.Generator().manual_seed(2)
    hidden = torch.randn(3, 64, generator=generator).to(torch.bfloat16)
    rooms = [torch.randn(3, 2, 20, 32, generator=generator).to(torch.bfloat16) for _ in range(4)]
    cos, sin = model.model.rotary_emb(hidden[:, None], torch.tensor([[9], [5], [0]]))
    with torch.inference_mode():
        one = scripted.layers[0](hidden, cos, sin, rooms[0], rooms[1], 9, [0, 4, 9])
        two = eager(hidden, cos, sin, rooms[2].copy_(rooms[0]), rooms[3].copy_(rooms[1]), 9, [0, 4, 9])
    assert torch.equal(one, two)
    assert torch.equal(rooms[0], rooms[2])  # the new keys written in the same place


@pytest.mark.parametrize("block", [16, 0])
@pytest.mark.parametrize("rows", [3, 16, 20])
def test_packed_products_equal_plain_ones(block: int, rows: int) -> None:
    """oneDNN's product on the packed weight, in blocks of rows or whole, gives what F.linear gives."""
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 96).to(torch.bfloat16)
    x = torch.randn(rows, 64).to(torch.bfloat16)
    with torch.inference_mode():
        assert torch.equal(FloatProduct(linear, block)(x), torch.nn.functional.linear(x, linear.weight, linear.bias))


def test_what_it_cannot_take_is_named() -> None:
    gemma = SimpleNamespace(config=SimpleNamespace(model_type="gemma3"))
    assert "no forward for gemma3 models" in str(unsupported(gemma))
    gelu = SimpleNamespace(config=SimpleNamespace(model_type="llama", hidden_act="gelu"))
    assert "not silu" in str(unsupported(gelu))
    config = Qwen2Config(**SHAPE, use_sliding_window=True, sliding_window=16, max_window_layers=0)
    with MODEL_LOADING:
        sliding = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa")
    assert unsupported(sliding) == "sliding-window attention"
    assert isinstance(install_causal_forward(sliding, block=0), str)
    assert "forward" not in sliding.__dict__  # nothing replaced
