"""A tiny random instruct checkpoint of a second architecture (Qwen2), built offline by the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from models.loading import MODEL_LOADING


def build_tiny_qwen2(path: Path, tokenizer: Any, *, max_positions: int = 512, seed: int = 0) -> Path:
    """A two-layer Qwen2 with random weights (safetensors) and the given chat tokenizer, saved in ``path``."""
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with MODEL_LOADING:  # as tests/checkpoints.py: never while another thread loads a model
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path
