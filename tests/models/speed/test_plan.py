"""What sets the speed paths up (models._speed.plan): on load, per model, and never on import."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from models._speed.plan import PLAIN
from models.loading import LoadSettings
from models.seq2seq import Seq2SeqSummarizer
from tests.checkpoints import CORPUS

ROOT = Path(__file__).resolve().parents[3]


def test_importing_the_library_changes_nothing_process_wide() -> None:
    """No environment variable, thread count, allocator setting or attention registration on import."""
    script = textwrap.dedent(
        """
        import os
        import torch
        from transformers import AttentionInterface

        environment, threads = dict(os.environ), torch.get_num_threads()
        import models, models.catalog, models.loading, models.resources, models.seq2seq, models._speed
        from models._speed import memory

        assert dict(os.environ) == environment
        assert torch.get_num_threads() == threads
        assert memory._libc.cache_info().currsize == 0  # libc never opened: no mallopt
        assert "docsum_sdpa" not in AttentionInterface._global_mapping
        print("unchanged")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0 and "unchanged" in done.stdout, done.stderr


def test_the_plain_plan_is_transformers_generate(tiny_bart_dir: Path) -> None:
    summarizer = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="float32"))
    inputs = summarizer.preprocess(list(CORPUS[:3]))
    kwargs = {"num_beams": 2, "max_length": 8}
    with torch.inference_mode():
        expected = summarizer.generator.model.generate(
            input_ids=inputs.input_ids, attention_mask=inputs.attention_mask, **kwargs
        )
        got = PLAIN.generate(summarizer.generator.model, inputs.input_ids, inputs.attention_mask, **kwargs)
    assert torch.equal(got, expected)
    assert not summarizer.generator.speed.generates_in_parts  # fp32: one call, as transformers makes it
