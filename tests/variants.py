"""Checkpoints made the way other people make them, not the way ``tests/checkpoints.py`` does.

``tests/checkpoints.py`` builds each architecture in the layout of its famous hub
checkpoint (BART's tokenizer class, special tokens, a full ``generation_config``).
Checkpoints in the wild differ: a generic ``PreTrainedTokenizerFast`` whose
post-processor adds no special tokens, no pad token, no BOS, a
``generation_config.json`` as ``save_pretrained`` writes it from a bare model
(no ``num_beams``, no ``max_length``; ``decoder_start_token_id`` only in the
model config), no ``task_specific_params``, a small window, or a model whose
output is nothing but special tokens. Each variant here is one of those, on a
tiny random BART, so every docsum path can be run against each of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import BartConfig, BartForConditionalGeneration, PreTrainedTokenizerFast

from tests.checkpoints import CORPUS


@dataclass(frozen=True)
class Variant:
    """How a checkpoint departs from the hub layout."""

    name: str
    specials: tuple[str, ...] = ("<s>", "<pad>", "</s>", "<unk>")
    pad: str | None = "<pad>"
    bos: str | None = "<s>"
    # What the tokenizer's post-processor adds around a text: "none", "eos" (T5-like) or "both" (BART-like).
    adds: str = "none"
    window: int = 64
    # Bias on the end-of-sequence logit: a large one makes every output empty.
    eos_bias: float = -10.0
    generation: dict[str, Any] = field(default_factory=dict)


VARIANTS: dict[str, Variant] = {
    variant.name: variant
    for variant in (
        # A byte-level BPE that adds nothing, and the generation_config save_pretrained writes for a bare model.
        Variant("bare"),
        # No pad token anywhere (a decoder-only habit carried over).
        Variant("no-pad", specials=("<s>", "</s>", "<unk>"), pad=None),
        # No BOS token in the vocabulary; the post-processor appends </s> as T5's does.
        Variant("no-bos", specials=("<pad>", "</s>", "<unk>"), bos=None, adds="eos"),
        # BART's own template, but a 24-token window: long inputs need many chunks.
        Variant("small-window", adds="both", window=24, generation={"num_beams": 3, "no_repeat_ngram_size": 2}),
        # A model that ends every output at once: its summaries are empty.
        Variant("empty-output", eos_bias=50.0),
    )
}

_VOCAB_SIZE = 300


def build_variant(path: Path | str, variant: Variant, *, seed: int = 1) -> Path:
    """Write the variant's checkpoint (safetensors) and tokenizer to ``path``."""
    path = Path(path)
    tokenizer = _tokenizer(variant)
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in variant.specials}
    eos = ids["</s>"]
    config = BartConfig(
        vocab_size=len(tokenizer),
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=variant.window,
        init_std=0.2,
        bos_token_id=ids.get("<s>"),
        pad_token_id=ids.get("<pad>"),
        eos_token_id=eos,
        decoder_start_token_id=eos,
        forced_eos_token_id=None,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BartForConditionalGeneration(config).eval()
    with torch.no_grad():
        special = [i for i in ids.values() if i != eos]
        model.final_logits_bias[:, special] = -10.0
        model.final_logits_bias[:, eos] = variant.eos_bias
    # What save_pretrained writes for a model built from a config: a few token ids, no search settings.
    generation = model.generation_config
    for name in ("num_beams", "max_length", "min_length", "decoder_start_token_id", "forced_eos_token_id"):
        if name not in variant.generation:
            setattr(generation, name, None)
    for name, value in variant.generation.items():
        setattr(generation, name, value)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    saved = json.loads((path / "generation_config.json").read_text())
    assert "num_beams" not in saved or "num_beams" in variant.generation, saved
    return path


def _tokenizer(variant: Variant) -> PreTrainedTokenizerFast:
    trained = Tokenizer(models.BPE(unk_token="<unk>"))
    trained.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    trained.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=_VOCAB_SIZE,
        special_tokens=list(variant.specials),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    trained.train_from_iterator(CORPUS, trainer)
    eos = ("</s>", trained.token_to_id("</s>"))
    if variant.adds == "eos":
        trained.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[eos])
    elif variant.adds == "both":
        bos = ("<s>", trained.token_to_id("<s>"))
        trained.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[bos, eos])
    return PreTrainedTokenizerFast(
        tokenizer_object=trained,
        model_max_length=variant.window,
        bos_token=variant.bos,
        eos_token="</s>",
        unk_token="<unk>",
        pad_token=variant.pad,
    )
