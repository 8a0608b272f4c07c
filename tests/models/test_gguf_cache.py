"""models/backends/gguf_cache.py: a GGUF converted once, reused while it and the converter are unchanged,
rebuilt when the file changes or a cached file is damaged; never half-written. The conversion itself is a
stand-in here (it writes a small safetensors file); the real one runs on SmolLM2 in tests/models/test_instruct.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from models.backends import gguf_cache
from models.backends.gguf_cache import MANIFEST, cached_checkpoint, default_cache_dir
from models.catalog import BUILTIN_MODELS
from models.instruct import InstructSummarizer
from models.types import SummaryOptions


class Converter:
    """Writes what a conversion writes, and counts its calls."""

    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail

    def __call__(self, out: Path) -> None:
        self.calls += 1
        save_file({"weight": torch.full((4,), float(self.calls))}, str(out / "model.safetensors"))
        (out / "config.json").write_text('{"model_type": "llama"}')
        if self.fail:
            raise OSError("disk full")


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF" + bytes(range(256)) * 64)
    return path


def test_a_second_load_is_a_hit(gguf: Path, tmp_path: Path) -> None:
    convert = Converter()
    first, hit = cached_checkpoint(gguf, tmp_path / "cache", convert)
    again, hit_again = cached_checkpoint(gguf, tmp_path / "cache", convert)
    assert (hit, hit_again, convert.calls) == (False, True, 1)
    assert first == again and first.parent == tmp_path / "cache"
    assert load_file(str(again / "model.safetensors"))["weight"].tolist() == [1.0] * 4
    manifest = json.loads((again / MANIFEST).read_text())
    assert set(manifest["files"]) == {"model.safetensors", "config.json"}
    assert manifest["key"]["transformers"] and manifest["key"]["gguf"]
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [first.name]  # no temporary left behind


def test_a_changed_gguf_is_another_entry(gguf: Path, tmp_path: Path) -> None:
    convert = Converter()
    first, _ = cached_checkpoint(gguf, tmp_path / "cache", convert)
    stat = gguf.stat()
    gguf.write_bytes(gguf.read_bytes()[:-1] + b"\x00")  # same size, same mtime: the content decides
    os.utime(gguf, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second, hit = cached_checkpoint(gguf, tmp_path / "cache", convert)
    assert not hit and second != first and convert.calls == 2


def test_another_converter_version_is_another_entry(
    gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    convert = Converter()
    first, _ = cached_checkpoint(gguf, tmp_path / "cache", convert)
    monkeypatch.setattr(gguf_cache, "_versions", lambda: {"format": 1, "transformers": "99.0"})
    second, hit = cached_checkpoint(gguf, tmp_path / "cache", convert)
    assert not hit and second != first


@pytest.mark.parametrize("damage", ["truncate", "flip", "manifest", "missing"])
def test_a_damaged_entry_is_rebuilt(gguf: Path, tmp_path: Path, damage: str) -> None:
    convert = Converter()
    entry, _ = cached_checkpoint(gguf, tmp_path / "cache", convert)
    weights = entry / "model.safetensors"
    data = weights.read_bytes()
    if damage == "truncate":
        weights.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        weights.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    elif damage == "manifest":
        (entry / MANIFEST).write_text("{not json")
    else:
        (entry / MANIFEST).unlink()
    rebuilt, hit = cached_checkpoint(gguf, tmp_path / "cache", convert)
    assert not hit and rebuilt == entry and convert.calls == 2
    assert load_file(str(rebuilt / "model.safetensors"))["weight"].tolist() == [2.0] * 4
    assert cached_checkpoint(gguf, tmp_path / "cache", convert)[1]


def test_a_failed_conversion_leaves_nothing(gguf: Path, tmp_path: Path) -> None:
    with pytest.raises(OSError, match="disk full"):
        cached_checkpoint(gguf, tmp_path / "cache", Converter(fail=True))
    assert list((tmp_path / "cache").iterdir()) == []
    assert not cached_checkpoint(gguf, tmp_path / "cache", Converter())[1]


def test_the_default_directory_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "docsum" / "gguf"


@pytest.mark.slow
def test_the_cached_smollm2_is_the_gguf_exactly(
    smollm2: InstructSummarizer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The fixture loaded SmolLM2 through the session's cache: a second load is a hit, and the cached checkpoint
    holds the GGUF's dequantized weights bit for bit, its tokenizer and chat template."""
    from transformers import AutoTokenizer

    from models.backends.instruct import _read_gguf, gguf_path

    path = gguf_path(BUILTIN_MODELS["smollm2-135m"].source)
    cache = tmp_path_factory.getbasetemp() / "xdg-cache" / "docsum" / "gguf"
    entry, hit = cached_checkpoint(path, cache, lambda out: pytest.fail("converted again"))
    assert hit
    model, tokenizer = _read_gguf(path, "smollm2")
    cached = load_file(str(entry / "model.safetensors"))
    expected = model.state_dict()
    assert set(cached) <= set(expected) and "model.embed_tokens.weight" in cached
    assert all(torch.equal(cached[name], expected[name]) for name in cached)
    reread = AutoTokenizer.from_pretrained(entry)
    assert reread.chat_template == tokenizer.chat_template
    assert reread("Hello, world. Ünïcode!")["input_ids"] == tokenizer("Hello, world. Ünïcode!")["input_ids"]
    assert smollm2.prompt("A document.", SummaryOptions()).startswith("<|im_start|>")
