"""Process memory (models._speed.memory): the heap's settings, and an int8 model's mapped checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch

from models._speed.memory import keep_large_blocks_on_the_heap
from models.loading import LoadSettings
from models.seq2seq import Seq2SeqSummarizer
from models.types import SummaryOptions
from tests.checkpoints import CORPUS

SHORT = list(CORPUS[:7])  # different lengths: padded batches
FP32 = LoadSettings(dtype="float32", batch_invariant=False)  # transformers' own fp32, the reference


def _read_advice(model: torch.nn.Module) -> set[bool]:
    """For each mapped checkpoint holding one of the model's tensors: whether its pages are read randomly."""
    addresses = [tensor.data_ptr() for tensor in (*model.parameters(), *model.buffers())]
    advice: set[bool] = set()
    holds = False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if fields and "-" in fields[0] and not fields[0].endswith(":"):
                start, end = (int(bound, 16) for bound in fields[0].split("-"))
                holds = fields[-1].endswith(".safetensors") and any(start <= a < end for a in addresses)
            elif holds and fields[:1] == ["VmFlags:"]:
                advice.add("rr" in fields[1:])
    return advice


def test_an_int8_model_reads_its_mapped_embedding_a_page_at_a_time(tiny_bart_dir: Path) -> None:
    fp32 = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), FP32)
    int8 = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="int8"))
    assert _read_advice(int8.generator.model) == {True}  # its embedding still lives in the mapped file
    assert _read_advice(fp32.generator.model) == {False}  # reads all its weights: another model's mapping is left alone
    options = SummaryOptions(max_tokens=6)
    assert int8.summarize(SHORT, options) == Seq2SeqSummarizer.load(
        "tiny", str(tiny_bart_dir), LoadSettings(dtype="int8")
    ).summarize(SHORT, options)


def test_large_blocks_stay_on_the_heap() -> None:
    assert keep_large_blocks_on_the_heap()  # glibc here; harmless to call again
    assert torch.ones(20_000_000).sum() == 20_000_000  # an 80 MB tensor, from the heap
