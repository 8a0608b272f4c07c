"""models/_speed/reserved_cache.py: keys and values written in place into reserved room; to transformers' own
forward it is a cache like any other (greedy tokens equal a DynamicCache's)."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, LlamaConfig

from models._speed.reserved_cache import ROOM, ReservedCache, ReservedLayer
from models.loading import MODEL_LOADING


def states(rows: int, length: int, seed: int) -> torch.Tensor:
    return torch.randn(rows, 2, length, 4, generator=torch.Generator().manual_seed(seed))


def test_updates_write_in_place_and_grow_past_the_room() -> None:
    layer = ReservedLayer()
    keys, values = layer.update(states(2, 5, 0), states(2, 5, 1))
    assert layer.get_seq_length() == 5 and torch.equal(keys, states(2, 5, 0))
    room = layer.key_room
    assert room is not None and room.shape[2] == 5 + ROOM
    keys, _ = layer.update(states(2, 1, 2), states(2, 1, 3))
    assert layer.key_room is room  # written in place: no copy
    assert torch.equal(keys, torch.cat([states(2, 5, 0), states(2, 1, 2)], dim=2))
    more = states(2, ROOM, 4)
    keys, values = layer.update(more, more)
    assert layer.key_room is not room and layer.get_seq_length() == 6 + ROOM  # grown, what was written kept
    assert torch.equal(keys[:, :, :6], torch.cat([states(2, 5, 0), states(2, 1, 2)], dim=2))
    assert torch.equal(values[:, :, 6:], more)


def test_crop_and_row_selection() -> None:
    layer = ReservedLayer()
    layer.update(states(3, 6, 0), states(3, 6, 1))
    layer.crop(-2)
    assert layer.get_seq_length() == 4 and torch.equal(layer.keys, states(3, 6, 0)[:, :, :4])
    layer.batch_select_indices(torch.tensor([2, 0]))
    assert torch.equal(layer.values, states(3, 6, 1)[[2, 0], :, :4])
    layer.reorder_cache(torch.tensor([1, 1]))
    assert torch.equal(layer.keys, states(3, 6, 0)[[0, 0], :, :4])
    layer.reset()
    assert layer.get_seq_length() == 0 and layer.key_room is None


def test_transformers_generates_with_it_as_with_its_own() -> None:
    config = LlamaConfig(
        vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=256,
    )  # fmt: skip
    with MODEL_LOADING, torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").eval()
    ids = torch.randint(3, 96, (2, 9), generator=torch.Generator().manual_seed(5))
    mask = torch.ones_like(ids)
    mask[1, :3] = 0
    arguments = {"input_ids": ids, "attention_mask": mask, "max_new_tokens": ROOM + 8, "do_sample": False}
    with torch.inference_mode():
        theirs = model.generate(**arguments)
        ours = model.generate(**arguments, cache=ReservedCache(2, rows=2))
    assert torch.equal(ours, theirs)
