"""GGUF files dequantized once and kept as a safetensors checkpoint: later loads read no GGUF at all.

Reading a GGUF through transformers parses its metadata three times (config, tokenizer,
tensors) and dequantizes every tensor: ~20-30 s for the 93 MB SmolLM2-135M on two cores,
at every start. The first load writes what it built (``config.json``, the tokenizer with
its chat template, ``model.safetensors`` in fp32: safetensors only, never pickles) into a
directory of the cache; later loads read that like any local checkpoint.

The cache is never trusted blindly. A directory's name is the GGUF file's sha256 and the
gguf and transformers versions that built it (another file, or another converter, is
another entry), and its manifest, written last, records the sha256 of every file in it: a
load checks them all and rebuilds an entry that does not match (a half-written, truncated
or edited file). An entry is built in a private temporary directory and renamed into place,
so no reader ever sees half of one; two processes building at once each rename a whole one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

logger = logging.getLogger(__name__)

MANIFEST = "docsum-gguf.json"
# Bumped when what docsum writes into an entry changes.
FORMAT = 1
_CHUNK = 1 << 20


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/docsum/gguf`` (``~/.cache/docsum/gguf``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "docsum" / "gguf"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _versions() -> dict[str, str | int]:
    found: dict[str, str | int] = {"format": FORMAT}
    for package in ("gguf", "transformers", "safetensors"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "missing"
    return found


def entry_key(gguf: Path) -> dict[str, str | int]:
    """What an entry was built from: the GGUF's content and the versions that converted it."""
    stat = gguf.stat()
    return {"sha256": file_sha256(gguf), "size": stat.st_size, **_versions()}


def entry_dir(cache_dir: Path, key: dict[str, str | int]) -> Path:
    versions = json.dumps({k: v for k, v in key.items() if k not in ("sha256", "size")}, sort_keys=True)
    return cache_dir / f"{key['sha256']}-{hashlib.sha256(versions.encode()).hexdigest()[:12]}"


def valid_entry(directory: Path, key: dict[str, str | int]) -> bool:
    """Whether the entry was built from this key and every file it lists is exactly as written."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        files: dict[str, str] = manifest["files"]
        if manifest.get("key") != key or "model.safetensors" not in files:
            return False
        return all(file_sha256(directory / name) == digest for name, digest in files.items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def cached_checkpoint(gguf: Path, cache_dir: Path, build: Callable[[Path], None]) -> tuple[Path, bool]:
    """The checkpoint directory for this GGUF, built by ``build(directory)`` where none valid is cached;
    and whether it was a hit. ``OSError`` where the cache cannot be written (the caller loads uncached)."""
    key = entry_key(gguf)
    directory = entry_dir(cache_dir, key)
    if valid_entry(directory, key):
        return directory, True
    if directory.exists():
        logger.warning("the cached conversion of %s at %s does not match; rebuilding it", gguf, directory)
    cache_dir.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".building-", dir=cache_dir))
    try:
        build(building)
        files = {p.name: file_sha256(p) for p in sorted(building.iterdir()) if p.is_file()}
        (building / MANIFEST).write_text(json.dumps({"key": key, "files": files}, indent=1))
        _replace(building, directory)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return directory, False


def _replace(built: Path, directory: Path) -> None:
    """``built`` renamed to ``directory``, a stale entry there moved aside first (renames are atomic)."""
    if directory.exists():
        stale = Path(tempfile.mkdtemp(prefix=".stale-", dir=directory.parent))
        with contextlib.suppress(OSError):  # another process moved it already
            os.replace(directory, stale / "entry")
        shutil.rmtree(stale, ignore_errors=True)
    try:
        os.replace(built, directory)
    except OSError:  # another process renamed its own (equal) entry in between: theirs stays
        if not directory.exists():
            raise
