"""The speed-ups of the transformers path change no fp32 output: checked on the tiny checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.attention import NAME
from models.loading import LoadSettings, release_free_memory, use_shared_kv_attention
from models.seq2seq import Seq2SeqSummarizer
from models.types import SummaryOptions
from tests.checkpoints import CORPUS

SHORT = list(CORPUS[:7])  # different lengths: padded batches
LONG = [" ".join(CORPUS[i : i + 3]) for i in range(5)]  # over the 64-token window


@pytest.mark.parametrize("beams", [1, 2, 4])
def test_shared_kv_attention_gives_the_same_summaries(tiny_bart_dir: Path, beams: int) -> None:
    summarizer = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="float32"))
    assert summarizer.model.config._attn_implementation == "sdpa"  # fp32 keeps transformers' attention
    options = SummaryOptions(num_beams=beams, max_tokens=16)
    expected = summarizer.summarize(SHORT + LONG, options)
    use_shared_kv_attention(summarizer.model)
    assert summarizer.model.config._attn_implementation == NAME
    assert summarizer.summarize(SHORT + LONG, options) == expected


def test_beam_search_without_reordering_the_cross_attention_cache_is_exact(tiny_bart_dir: Path) -> None:
    summarizer = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="float32"))
    options = SummaryOptions(num_beams=3, max_tokens=14)
    skipping = summarizer.summarize(SHORT, options)
    del summarizer.model._reorder_cache  # transformers' own: reorders everything
    assert summarizer.summarize(SHORT, options) == skipping


def test_int8_runs_and_stays_close_to_fp32(tiny_bart_dir: Path) -> None:
    fp32 = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="float32"))
    int8 = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="int8"))
    assert "DynamicQuantizedLinear" in repr(int8.model)
    options = SummaryOptions(num_beams=1, max_tokens=10)
    expected, got = fp32.summarize(SHORT, options), int8.summarize(SHORT, options)
    assert [s.output_tokens for s in got] == [s.output_tokens for s in expected]
    assert all(s.summary for s in got)
    release_free_memory()  # harmless to call again
