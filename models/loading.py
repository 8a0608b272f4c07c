"""Load seq2seq checkpoints safely: safetensors only, never remote code.

A source is a local directory or a Hugging Face hub id (optionally at a
revision). Device and dtype default to "auto": CUDA, then MPS, then CPU; bf16
where the hardware computes it natively, else fp16 on GPUs and fp32 on CPUs.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from models.errors import ModelUnavailable, UnsafeCheckpoint

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

DTypeName = Literal["auto", "float32", "bfloat16", "float16"]
_PICKLED_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack")


@dataclass(frozen=True, slots=True)
class LoadSettings:
    """How to place a model; the same for every model a process serves."""

    device: str = "auto"
    dtype: DTypeName = "auto"
    revision: str | None = None
    threads: int = 0  # torch intra-op threads on CPU; 0 keeps torch's default (one per core)


def is_local_source(source: str) -> bool:
    return source.startswith((".", "/", "~")) or Path(source).expanduser().is_dir()


def check_local_checkpoint(directory: Path) -> None:
    """Refuse a local folder that is missing or holds only pickled weights."""
    if not directory.is_dir():
        raise ModelUnavailable(f"no checkpoint directory at {directory}")
    if not (directory / "config.json").is_file():
        raise ModelUnavailable(f"{directory} has no config.json")
    if any(directory.glob("*.safetensors")):
        return
    found = [name for name in _PICKLED_WEIGHTS if (directory / name).exists()]
    if found:
        raise UnsafeCheckpoint(
            f"{directory} has only {', '.join(found)} weights; docsum loads safetensors only "
            "(convert with `model.save_pretrained(dir, safe_serialization=True)`)"
        )
    raise ModelUnavailable(f"{directory} has no model weights (*.safetensors)")


def resolve_device(requested: str = "auto") -> torch.device:
    import torch

    if requested != "auto":
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_dtype(requested: DTypeName, device: torch.device) -> torch.dtype:
    import torch

    if requested != "auto":
        return getattr(torch, requested)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.bfloat16 if cpu_has_native_bf16() else torch.float32


@functools.cache
def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX: bf16 matmuls run natively (about 3x fp32 measured here)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def load_model_and_tokenizer(source: str, settings: LoadSettings) -> tuple[object, object, torch.device]:
    """Load a seq2seq model and its tokenizer, or raise ``ModelUnavailable`` saying why."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # a library does not draw on the caller's terminal

    local = is_local_source(source)
    location = str(Path(source).expanduser()) if local else source
    if local:
        check_local_checkpoint(Path(location))
    device = resolve_device(settings.device)
    dtype = resolve_dtype(settings.dtype, device)
    common = {"revision": settings.revision, "trust_remote_code": False}
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, **common)
        # transformers 5 picks SDPA attention by itself where the architecture has it.
        model = AutoModelForSeq2SeqLM.from_pretrained(location, use_safetensors=True, dtype=dtype, **common)
    except (OSError, ValueError, ImportError, KeyError) as exc:
        raise _explain_load_failure(source, exc) from exc
    model.to(device)
    model.eval()
    logger.info("loaded %s on %s as %s", source, device, dtype)
    return model, tokenizer, device


def _explain_load_failure(source: str, exc: Exception) -> ModelUnavailable:
    text = str(exc)
    if "safetensors" in text.lower():
        return UnsafeCheckpoint(f"{source} ships no safetensors weights; docsum never loads pickled weights")
    first_line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return ModelUnavailable(f"cannot load {source}: {first_line}")
