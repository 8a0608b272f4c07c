"""``docsum convert SOURCE OUT``: a checkpoint in CTranslate2's format, for ``NAME=ct2:OUT`` entries."""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from service.cli_common import fail

QUANTIZATIONS = ("int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16", "float16", "bfloat16", "float32")


def convert(
    source: Annotated[str, typer.Argument(help="A local checkpoint directory or a hub id (safetensors).")],
    output: Annotated[Path, typer.Argument(help="Directory to write the CTranslate2 model to.")],
    quantization: Annotated[
        str, typer.Option(help=f"Weight type: {', '.join(QUANTIZATIONS)}. int8 is the fastest on CPUs.")
    ] = "int8",
    revision: Annotated[str | None, typer.Option(help="Hub revision of SOURCE.")] = None,
    force: Annotated[bool, typer.Option(help="Replace OUTPUT if it exists.")] = False,
) -> None:
    """Convert a seq2seq checkpoint for the CTranslate2 backend (serve it with --model NAME=ct2:OUTPUT)."""
    from models.backends.ctranslate2 import ctranslate2_missing

    if quantization not in QUANTIZATIONS:
        fail(f"--quantization must be one of {', '.join(QUANTIZATIONS)}")
    if (reason := ctranslate2_missing()) is not None:
        fail(reason)
    if output.exists() and any(output.iterdir()) and not force:
        fail(f"{output} exists and is not empty (use --force to replace it)")
    try:
        convert_checkpoint(source, output, quantization=quantization, revision=revision)
    except (OSError, ValueError, RuntimeError) as exc:
        fail(f"cannot convert {source}: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}")
    typer.echo(f"wrote {output}; serve it with --model NAME=ct2:{output}", err=True)


def convert_checkpoint(source: str, output: Path, *, quantization: str = "int8", revision: str | None = None) -> Path:
    """Write ``output`` (CTranslate2 model) and ``output/hf`` (tokenizer, config, generation config)."""
    from ctranslate2.converters import TransformersConverter
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    from models.backends.ctranslate2 import HF_SUBDIR
    from models.loading import check_local_checkpoint, is_local_source

    if is_local_source(source):
        check_local_checkpoint(Path(source).expanduser())
        source = str(Path(source).expanduser())

    class SafeConverter(TransformersConverter):  # type: ignore[misc]
        """Safetensors only, and the config fields the converter expects of older transformers."""

        def load_model(self, model_class: Any, model_name_or_path: str, **kwargs: Any) -> Any:
            kwargs["use_safetensors"] = True
            kwargs["trust_remote_code"] = False
            model = model_class.from_pretrained(model_name_or_path, **kwargs)
            if model.config.model_type == "bart" and not hasattr(model.config, "normalize_before"):
                model.config.normalize_before = False  # transformers 5 dropped it; BART is post-norm
            return model

    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=f".{output.name}-") as staging:
        staged = Path(staging) / "model"
        SafeConverter(source, revision=revision).convert(str(staged), quantization=quantization, force=True)
        _name_a_bos_token(staged / "config.json")
        hf = staged / HF_SUBDIR
        AutoTokenizer.from_pretrained(source, revision=revision, trust_remote_code=False).save_pretrained(hf)
        AutoConfig.from_pretrained(source, revision=revision, trust_remote_code=False).save_pretrained(hf)
        with contextlib.suppress(OSError):  # without generation_config.json, the model config's defaults apply
            GenerationConfig.from_pretrained(source, revision=revision).save_pretrained(hf)
        if output.exists():
            shutil.rmtree(output)
        staged.rename(output)
    return output


def _name_a_bos_token(config_file: Path) -> None:
    """CTranslate2 refuses a config whose ``bos_token`` is null (a tokenizer without one); docsum passes
    its own decoder start token, so the start token stands in for it."""
    config = json.loads(config_file.read_text())
    if config.get("bos_token") is None and config.get("decoder_start_token") is not None:
        config["bos_token"] = config["decoder_start_token"]
        config_file.write_text(json.dumps(config, indent=2))
