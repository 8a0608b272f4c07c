"""Process memory (models._speed.memory): the heap's settings, and an int8 model's mapped checkpoint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

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


_FAULTS = """
import resource, sys, torch
from models._speed.memory import keep_large_blocks_on_the_heap
if sys.argv[1] == "heap":
    assert keep_large_blocks_on_the_heap()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
warm = [torch.ones(20_000_000), torch.ones(20_000_000)]  # 80 MB tensors: the heap grows to hold two
del warm
before = faults()
for _ in range(5):
    assert float(torch.ones(20_000_000).sum()) == 20_000_000
print(faults() - before)
"""


def _faults_of_five_large_tensors(mode: str) -> int:
    """Page faults of allocating and freeing an 80 MB tensor five times (after two at once: room on the heap,
    whatever its layout), in a process of its own
    (the allocator's settings are process-wide: this session's stay as they are)."""
    done = subprocess.run(
        [sys.executable, "-c", _FAULTS, mode], check=True, capture_output=True, text=True, timeout=120
    )
    return int(done.stdout.split()[-1])


def test_large_blocks_stay_on_the_heap() -> None:
    """glibc gives every block over 32 MB its own mmap, unmapped on free: a fault per 4 KiB page on every
    allocation (about 100,000 here). Kept on the heap, the pages are reused."""
    fresh_maps = _faults_of_five_large_tensors("default")
    heap = _faults_of_five_large_tensors("heap")
    assert fresh_maps > 50_000
    assert heap * 20 < fresh_maps, (heap, fresh_maps)
