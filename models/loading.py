"""Load seq2seq checkpoints safely: safetensors only, never remote code.

A source is a local directory or a Hugging Face hub id (optionally at a
revision). Device and dtype default to "auto": CUDA, then MPS, then CPU. On GPUs
bf16 where supported, else fp16. On CPUs, chosen by measurement (see
docs/performance.md): bf16 with AMX; else int8 (dynamic quantization of the
Linear layers: int8 weights, activations quantized on the fly, everything else
fp32) with AVX512-VNNI or AVX-VNNI, where it ran 1.6x bf16 and 2.5x fp32 on
distilbart-cnn-12-6; else bf16 where the CPU has it natively; else fp32.
``float32`` always means plain fp32: transformers' own generation, its outputs exactly, but
for the rounding that batch invariance changes (``batch_invariant``, models.invariance).
"""

from __future__ import annotations

import functools
import logging
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from models.acceleration import (
    ATTENTION,
    PARTS,
    SCRIPTED_STEPS,
    SHARED_ENCODER_OUTPUTS,
    Acceleration,
)
from models.errors import ModelUnavailable, UnsafeCheckpoint
from models.memory import keep_large_blocks_on_the_heap, read_checkpoints_sparsely, release_free_memory
from models.types import WorkLimits

if TYPE_CHECKING:
    import torch

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
    batch_invariant: bool = True  # a document's summary never depends on its batchmates (models.invariance)


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


def quantize_linear_int8(model: Any, *, group_rows: int = 16_384, per_row: bool = False) -> None:
    """Dynamic int8 quantization of every ``nn.Linear``, per output channel, in place.

    What ``torch.ao.quantization.quantize_dynamic`` gives (tests compare the two), made
    faster and leaner. Each Linear is packed once (``quantize_dynamic`` packs an empty
    full-size weight first, then the real one: 1.1 of its 5.7 s on distilbart-cnn-12-6's
    shape), Linears are quantized on one worker per torch thread (per-channel quantizing
    and packing run single-threaded: 7.7 s became ~3 s), and the checkpoint pages read
    so far are dropped every ``group_rows`` rows of weights, so the fp32 file is never
    resident all at once. The LM head, the largest, goes in blocks of rows
    (:func:`quantize_in_blocks`): whole, its fp32 copy sat next to its int8 one at the
    peak of loading. ``per_row``: activations get one scale per row, not per call
    (``models.invariance``).
    """
    import torch

    linears = [(name, module) for name, module in model.named_modules() if type(module) is torch.nn.Linear]
    workers = max(1, min(torch.get_num_threads(), 8))
    with (
        warnings.catch_warnings(),  # torch.ao.quantization announces its move to torchao
        ThreadPoolExecutor(workers, thread_name_prefix="docsum-quantize") as pool,
    ):
        warnings.simplefilter("ignore")
        group: list[tuple[str, Any]] = []
        for index, (name, linear) in enumerate(linears):
            group.append((name, linear))
            if sum(module.out_features for _, module in group) < group_rows and index < len(linears) - 1:
                continue
            done = pool.map(lambda item: _quantized_linear(item[1], 4096, per_row), group)
            for (path, _), quantized in zip(group, done, strict=True):
                parent, _, attribute = path.rpartition(".")
                setattr(model.get_submodule(parent), attribute, quantized)
            group = []
            release_free_memory()


def quantize_in_blocks(linear: Any, rows: int = 4096, *, per_row: bool = False) -> Any:
    """``quantize_dynamic``'s int8 module for one Linear, its weight read a block of rows at a time.

    Per-channel scales are per row, so the result is the same as quantizing it whole.
    """
    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
        warnings.simplefilter("ignore")
        return _quantized_linear(linear, rows, per_row)


def _quantized_linear(linear: Any, rows: int, per_row: bool) -> Any:
    """:func:`quantize_in_blocks` without its own warning filter: filters are process-wide, so workers on
    several threads each entering and leaving ``catch_warnings`` could leave the wrong ones behind."""
    import torch
    from torch.ao.nn.quantized.modules.utils import _quantize_weight
    from torch.ao.quantization import per_channel_dynamic_qconfig

    weight = linear.weight.detach()
    if weight.shape[0] <= rows:
        observer = per_channel_dynamic_qconfig.weight()
        observer(weight.float())
        qweight = _quantize_weight(weight.float(), observer)
    else:
        values = torch.empty(weight.shape, dtype=torch.int8)
        scales = torch.empty(weight.shape[0], dtype=torch.double)
        for first in range(0, weight.shape[0], rows):
            observer = per_channel_dynamic_qconfig.weight()
            block = weight[first : first + rows].float()
            observer(block)
            quantized = _quantize_weight(block, observer)
            values[first : first + rows] = quantized.int_repr()
            scales[first : first + rows] = quantized.q_per_channel_scales()
            release_free_memory()  # the checkpoint pages of this block (the LM head's are 200 MB)
        zero_points = torch.zeros(len(scales), dtype=torch.long)
        qweight = torch._make_per_channel_quantized_tensor(values, scales, zero_points, 0)
    # Built 1 x 1 and then given its weight: the constructor would pack an empty full-size one first.
    from models.invariance import int8_linear_class

    module = int8_linear_class(per_row)(1, 1, bias_=linear.bias is not None, dtype=torch.qint8)
    module.in_features, module.out_features = linear.in_features, linear.out_features
    module.set_weight_bias(qweight, None if linear.bias is None else linear.bias.detach().float())
    return module


def load_model_and_tokenizer(source: str, settings: LoadSettings) -> tuple[object, object, torch.device, Acceleration]:
    """Load a seq2seq model and its tokenizer, or raise ``ModelUnavailable`` saying why; which speed
    paths engaged (a claimed one that did not is logged as a warning)."""
    import torch
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
    complete_special_tokens(model, tokenizer, source)
    model.to(device)
    model.eval()
    int8 = use_int8(settings.dtype, device)
    if int8:
        quantize_linear_int8(model, per_row=settings.batch_invariant)
    release_free_memory()
    if int8:  # what stays mapped is the embedding, read a row at a time (other dtypes read all of their weights)
        read_checkpoints_sparsely(tensor.data_ptr() for tensor in (*model.parameters(), *model.buffers()))
    if settings.threads:
        torch.set_num_threads(settings.threads)
    if device.type == "cpu":
        keep_large_blocks_on_the_heap()
    skip_cross_attention_reorder(model)
    if getattr(model.config, "is_encoder_decoder", False):
        from models.generation import pause_between_encoder_layers

        pause_between_encoder_layers(model)
    from models.invariance import plain_fp32

    invariant = settings.batch_invariant and device.type == "cpu"
    if int8 or dtype != torch.float32:
        acceleration = use_shared_kv_attention(model, bf16_caches=int8, batch_invariant=invariant)
    else:
        acceleration = plain_fp32(model, batch_invariant=invariant)
    warm_up(model, device)
    logger.info("loaded %s on %s as %s", source, device, "int8 (dynamic)" if int8 else dtype)
    if acceleration.missing:
        logger.warning("%s is not fully accelerated: %s", source, acceleration.reason)
    return model, tokenizer, device, acceleration


def complete_special_tokens(model: Any, tokenizer: Any, source: str) -> None:
    """Fill in the token ids ``generate`` needs from wherever the checkpoint keeps them.

    transformers 5 reads special tokens from ``generation_config`` only; a checkpoint saved
    from a bare model may keep ``decoder_start_token_id`` in its model config alone, and a
    tokenizer may have no pad token (padding is masked out, so the end-of-sequence token
    serves). Raises ``ModelUnavailable`` where no decoder start token can be found at all.
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


def use_shared_kv_attention(model: Any, *, bf16_caches: bool = False, batch_invariant: bool = False) -> Acceleration:
    """docsum's generation path (see models.attention and models.generation); which parts of it engaged.

    Its attention (a document's beams share one copy of the encoder output; decoding
    steps as matmuls; with ``bf16_caches``, for int8 models whose activations are fp32,
    bf16 caches and encoder attention, and decoding steps in TorchScript), ``gelu_new``
    as one fused kernel, the encoder in slices, and CPU batches cut in single-threaded
    parts. Only for models on transformers' SDPA, and never for plain fp32, whose outputs
    stay exactly transformers'. Each part is checked on a warm-up call; a part that was
    set up but does not run is undone and reported with its reason.
    """
    from models.attention import attend_in_bf16, register
    from models.decoding_step import script_decoding_steps
    from models.generation import (
        GENERATES_IN_PARTS,
        encode_in_slices,
        fuse_tanh_gelu,
        share_encoder_outputs_across_beams,
        stop_sharing_encoder_outputs,
    )
    from models.invariance import make_batch_invariant

    implementation = getattr(model.config, "_attn_implementation", None)
    if implementation != "sdpa":
        return Acceleration(missing=((ATTENTION, f"the model runs {implementation} attention, not SDPA"),))
    try:
        model.set_attn_implementation(register())
    except (ValueError, AttributeError, ImportError) as exc:
        return Acceleration(missing=((ATTENTION, f"transformers refused it: {exc}"),))
    engaged, missing = [ATTENTION], []
    fuse_tanh_gelu(model)
    encoder_decoder = getattr(model.config, "is_encoder_decoder", False)
    if encoder_decoder:
        encode_in_slices(model)
    if batch_invariant:  # before scripting: the scripted steps follow its attention
        make_batch_invariant(model, int8=bf16_caches)
    unscriptable = None
    if bf16_caches:
        attend_in_bf16(model)
        unscriptable = script_decoding_steps(model)
    on_cpu = next(model.parameters()).device.type == "cpu"
    setattr(model, GENERATES_IN_PARTS, on_cpu)
    if on_cpu:
        engaged.append(PARTS)
    if encoder_decoder and hasattr(model, "_reorder_cache"):
        # Beams share the cross-attention cache only where it is never reordered.
        share_encoder_outputs_across_beams(model)
        try:  # an architecture whose cross-attention bypasses the attention interface fails here
            warm_up(model, next(model.parameters()).device, beams=2)
            engaged.append(SHARED_ENCODER_OUTPUTS)
        except (RuntimeError, ValueError, IndexError) as exc:
            missing.append(
                (SHARED_ENCODER_OUTPUTS, str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
            )
            stop_sharing_encoder_outputs(model)
    if bf16_caches:
        outcome = unscriptable if unscriptable is not None else _check_scripted_steps(model)
        if outcome is None:
            engaged.append(SCRIPTED_STEPS)
        elif not outcome.endswith("has no scripted layers"):  # an architecture it never claimed is no miss
            missing.append((SCRIPTED_STEPS, outcome))
    return Acceleration(engaged=tuple(engaged), missing=tuple(missing))


def _check_scripted_steps(model: Any) -> str | None:
    """Whether the scripted decoding steps run on a warm-up call; if not, they are undone and this says why."""
    from models.decoding_step import scripted_steps_taken, unscript_decoding_steps

    warm_up(model, next(model.parameters()).device)
    taken, declined = scripted_steps_taken(model)
    if taken:
        return None
    unscript_decoding_steps(model)
    return f"every warm-up step went to transformers (arguments: {', '.join(declined)})"


def skip_cross_attention_reorder(model: object) -> None:
    """Beam search without copying the cross-attention cache at every step.

    After each step ``generate`` reorders the whole cache by the surviving beams.
    For the cross-attention part that is a no-op in value, since every beam of a
    document holds the same encoder keys and values and beams never move between
    documents, yet it copies all of it (6 layers x 2 x beams x documents x input
    length x d_model: ~400 MB per step for 8 documents x 4 beams of 500 tokens).
    Only the self-attention cache is reordered here; outputs are unchanged.
    """
    if not getattr(model.config, "is_encoder_decoder", False) or hasattr(model, "_reorder_cache"):  # type: ignore[attr-defined]
        return

    def reorder(cache: object, beam_idx: torch.Tensor) -> object:
        inner = getattr(cache, "self_attention_cache", None)
        if inner is not None and hasattr(inner, "reorder_cache"):
            inner.reorder_cache(beam_idx)
        else:
            cache.reorder_cache(beam_idx)  # type: ignore[attr-defined]
        return cache

    model._reorder_cache = reorder  # type: ignore[attr-defined]


def warm_up(model: object, device: torch.device, beams: int = 1) -> None:
    """A tiny generate call, so the first request does not pay for kernel selection and allocation."""
    import torch

    generation = model.generation_config  # type: ignore[attr-defined]
    start = next((i for i in (generation.decoder_start_token_id, generation.bos_token_id) if i is not None), 0)
    start = start[0] if isinstance(start, list) else start
    ids = torch.full((2, 8), start, dtype=torch.long, device=device)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0  # padding, so masks are made and used
    with torch.inference_mode():
        model.generate(  # type: ignore[attr-defined]
            input_ids=ids, attention_mask=mask, max_length=3, min_length=3, num_beams=beams
        )


def _explain_load_failure(source: str, exc: Exception) -> ModelUnavailable:
    text = str(exc)
    if "safetensors" in text.lower():
        return UnsafeCheckpoint(f"{source} ships no safetensors weights; docsum never loads pickled weights")
    first_line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return ModelUnavailable(f"cannot load {source}: {first_line}")
