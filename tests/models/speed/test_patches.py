"""The methods replaced on a model instance (models._speed.patches): each changes no output, and all are listed."""

from __future__ import annotations

from pathlib import Path

from models._speed.patches import replaced_methods
from models.loading import LoadSettings
from models.seq2seq import Seq2SeqSummarizer
from models.types import SummaryOptions
from tests.checkpoints import CORPUS

SHORT = list(CORPUS[:7])  # different lengths: padded batches
FP32 = LoadSettings(dtype="float32", batch_invariant=False)  # transformers' own fp32, the reference


def test_beam_search_without_reordering_the_cross_attention_cache_is_exact(tiny_bart_dir: Path) -> None:
    summarizer = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), FP32)
    options = SummaryOptions(num_beams=3, max_tokens=14)
    skipping = summarizer.summarize(SHORT, options)
    del summarizer.generator.model._reorder_cache  # transformers' own: reorders everything
    assert summarizer.summarize(SHORT, options) == skipping


def test_every_replaced_method_is_listed(tiny_bart_dir: Path) -> None:
    """An int8 model takes every replacement but the float decoder's Linear blocks; plain fp32 only the reorder."""
    int8 = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="int8"))
    assert set(replaced_methods(int8.generator.model)) == {
        "forward",  # the scripted decoding steps
        "_expand_inputs_for_generation",  # one encoder output per document
        "_reorder_cache",  # the cross-attention cache is never reordered
        "model.encoder.forward",  # the encoder in slices
    }
    bf16 = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="bfloat16"))
    blocks = {name for name in replaced_methods(bf16.generator.model) if name.startswith(("model.decoder.", "lm_head"))}
    assert "lm_head.forward" in blocks and len(blocks) > 10  # batch invariance: Linear layers in blocks of rows
    assert replaced_methods(Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), FP32).generator.model) == [
        "_reorder_cache"
    ]
