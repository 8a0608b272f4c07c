"""Load seq2seq checkpoints safely: safetensors only, never remote code.

A source is a local directory or a Hugging Face hub id (optionally at a
revision). Device and dtype default to "auto": CUDA, then MPS, then CPU. On GPUs
bf16 where supported, else fp16. On CPUs, chosen by measurement (see
docs/performance.md): bf16 with AMX; else int8 (dynamic quantization of the
Linear layers: int8 weights, activations quantized on the fly, everything else
fp32) with AVX512-VNNI or AVX-VNNI, where it ran 1.6x bf16 and 2.5x fp32 on
distilbart-cnn-12-6; else bf16 where the CPU has it natively; else fp32.
``float32`` always means plain fp32: transformers' own generation, its outputs exactly, but
for the rounding that batch invariance changes (``batch_invariant``). docsum's speed paths
(``models._speed``) are set up at load and checked on a warm-up call; ``accelerate=False``
turns all of them off (``models.acceleration`` reports which engaged).
"""

from __future__ import annotations

import functools
import logging
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from models.errors import ModelUnavailable, UnsafeCheckpoint
from models.types import WorkLimits
from models.warmup import warm_up

# One model construction at a time in the process. transformers' loading swaps process-wide switches
# (weight initialization and tying off) and puts back what it found: two loads on two threads can put
# back each other's swapped values and leave tying off for good, so every later checkpoint loads with
# its tied weights missing (on the meta device). Every ``from_pretrained``/``from_config`` of a model in
# ``models`` holds this.
MODEL_LOADING = threading.RLock()

if TYPE_CHECKING:
    import torch

    from models._speed import SpeedPlan

logger = logging.getLogger(__name__)

DTypeName = Literal["auto", "float32", "bfloat16", "float16", "int8"]
_PICKLED_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack")


@dataclass(frozen=True, slots=True)
class LoadSettings:
    """How to place a model; the same for every model a process serves."""

    device: str = "auto"
    dtype: DTypeName = "auto"
    revision: str | None = None
    threads: int = 0  # torch intra-op threads on CPU; 0 keeps torch's default (one per core)
    limits: WorkLimits = field(default_factory=WorkLimits)  # per-document work, given to each summarizer
    batch_invariant: bool = True  # a document's summary never depends on its batchmates (CPU; needs accelerate)
    # docsum's speed paths (models._speed); False: transformers' own generation, nothing patched or registered.
    accelerate: bool = True
    # Instruct (decoder-only) models: the most context positions used, prompt and output together, whatever
    # the checkpoint allows (its max_position_embeddings may be 128k): memory stays bounded.
    max_context_tokens: int = 4096
    # GGUF files dequantized once into safetensors here (models.backends.gguf_cache); None: ~/.cache/docsum/gguf.
    gguf_cache_dir: Path | None = None


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


def use_int8(requested: DTypeName, device: torch.device) -> bool:
    """Whether Linear layers run as dynamically quantized int8 (CPU only)."""
    if device.type != "cpu":
        return False
    return requested == "int8" or (requested == "auto" and cpu_prefers_int8())


def resolve_dtype(requested: DTypeName, device: torch.device) -> torch.dtype:
    """The floating-point type weights load in (int8 models load in fp32 and are then quantized)."""
    import torch

    if requested == "int8" or (requested == "auto" and use_int8(requested, device)):
        return torch.float32 if device.type == "cpu" else resolve_dtype("auto", device)
    if requested != "auto":
        return getattr(torch, requested)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.bfloat16 if cpu_has_native_bf16() else torch.float32


@functools.cache
def _cpu_flags() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX: bf16 matmuls run natively (about 3x fp32 measured here)."""
    flags = _cpu_flags()
    return " avx512_bf16" in flags or " amx_bf16" in flags


def cpu_prefers_int8() -> bool:
    """VNNI int8 dot products without AMX, and torch's x86 int8 kernels: int8 beats bf16 there."""
    import torch

    flags = _cpu_flags()
    engines = torch.backends.quantized.supported_engines
    vnni = " avx512_vnni" in flags or " avx_vnni" in flags
    return vnni and " amx_bf16" not in flags and ("x86" in engines or "fbgemm" in engines)


def load_model_and_tokenizer(source: str, settings: LoadSettings) -> tuple[Any, Any, torch.device, SpeedPlan]:
    """Load a seq2seq model and its tokenizer, or raise ``ModelUnavailable`` saying why; the speed plan says
    which speed paths engaged (a claimed one that did not is logged as a warning)."""
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
        with MODEL_LOADING:
            model = AutoModelForSeq2SeqLM.from_pretrained(location, use_safetensors=True, dtype=dtype, **common)
    except (OSError, ValueError, ImportError, KeyError) as exc:
        raise explain_load_failure(source, exc) from exc
    complete_special_tokens(model, tokenizer, source)
    model.to(device)
    model.eval()
    int8 = use_int8(settings.dtype, device)
    plan = speed_up(model, settings, int8=int8)
    warm_up(model, device)
    logger.info("loaded %s on %s as %s", source, device, "int8 (dynamic)" if int8 else dtype)
    if plan.report.missing:
        logger.warning("%s is not fully accelerated: %s", source, plan.report.reason)
    return model, tokenizer, device, plan


def speed_up(model: Any, settings: LoadSettings, *, int8: bool) -> SpeedPlan:
    """int8 quantization where asked, the thread count, pause points, and docsum's speed paths
    (``models._speed``) unless ``settings.accelerate`` is off: then torch's own quantization and nothing else."""
    import torch

    from models import _speed
    from models.pause_points import pause_between_encoder_layers

    if int8 and settings.accelerate:
        _speed.quantize_int8(model, per_row=settings.batch_invariant)
    elif int8:
        _quantize_dynamic(model)
    if settings.accelerate:
        _speed.release_loading_memory(model, int8=int8)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    if getattr(model.config, "is_encoder_decoder", False):
        pause_between_encoder_layers(model)  # forward hooks: cancellation and priorities, accelerated or not
    if not settings.accelerate:
        return _speed.turned_off(batch_invariant=settings.batch_invariant)
    return _speed.accelerate(model, int8=int8, batch_invariant=settings.batch_invariant)


def _quantize_dynamic(model: Any) -> None:
    """torch's own dynamic int8 quantization of every ``nn.Linear``, per output channel, in place."""
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
        warnings.simplefilter("ignore")
        quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True)


def complete_special_tokens(model: Any, tokenizer: Any, source: str) -> None:
    """Fill in the token ids ``generate`` needs from wherever the checkpoint keeps them.

    transformers 5 reads special tokens from ``generation_config`` only; a checkpoint saved
    from a bare model may keep ``decoder_start_token_id`` in its model config alone, and a
    tokenizer may have no pad token (padding is masked out, so the end-of-sequence token
    serves). Raises ``ModelUnavailable`` where no decoder start token can be found at all.
    ``model``: anything with a ``config`` and a ``generation_config`` (a transformers model, a
    ``models.generator.Seq2SeqGenerator``); its ``generation_config`` is completed in place.
    """
    generation, config = model.generation_config, model.config
    for name in ("decoder_start_token_id", "bos_token_id", "eos_token_id", "pad_token_id"):
        if getattr(generation, name, None) is None:
            value = getattr(config, name, None)
            if value is None and name != "decoder_start_token_id":
                value = getattr(tokenizer, name, None)
            setattr(generation, name, value)
    if tokenizer.pad_token is None:
        fallback = generation.pad_token_id if generation.pad_token_id is not None else tokenizer.eos_token_id
        if fallback is None:
            fallback = tokenizer.unk_token_id
        if fallback is not None:
            tokenizer.pad_token = tokenizer.convert_ids_to_tokens(int(fallback))
    if generation.pad_token_id is None:
        generation.pad_token_id = tokenizer.pad_token_id
    if generation.num_beams is None:
        generation.num_beams = 1
    encoder_decoder = getattr(config, "is_encoder_decoder", False)
    if encoder_decoder and generation.decoder_start_token_id is None and generation.bos_token_id is None:
        raise ModelUnavailable(f"{source} names no decoder_start_token_id or bos_token_id: it cannot start decoding")
    if tokenizer.pad_token is None:
        raise ModelUnavailable(f"{source}'s tokenizer has no pad, end-of-sequence or unknown token to pad with")


def explain_load_failure(source: str, exc: Exception) -> ModelUnavailable:
    text = str(exc)
    if "safetensors" in text.lower():
        return UnsafeCheckpoint(f"{source} ships no safetensors weights; docsum never loads pickled weights")
    first_line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return ModelUnavailable(f"cannot load {source}: {first_line}")
