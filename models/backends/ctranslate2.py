"""Seq2seq models converted by ``docsum convert``, run by CTranslate2: sources ``ct2:DIR``.

``docsum convert SOURCE OUT`` writes a CTranslate2 model directory (``model.bin``,
CTranslate2's own ``config.json``, the vocabulary) with the Hugging Face pieces
this backend needs in ``OUT/hf/``: the tokenizer, the model config and the
``generation_config``. A loaded model is the seq2seq pipeline
(:class:`models.seq2seq.Seq2SeqSummarizer`: options, windows, chunks, decoding) around a
:class:`CTranslate2Generator`, which runs ``ctranslate2.Translator`` where transformers'
models run ``generate``. CTranslate2 ignores ``generation_config``, so its defaults
(beams, lengths, ``no_repeat_ngram_size``, ``length_penalty``, forced BOS/EOS) are read
from ``OUT/hf/`` and passed on every call, through exactly the option logic transformers'
models get. On greedy decoding a float32 conversion writes what transformers writes;
int8 stays close.

ctranslate2 is an optional dependency (``pip install 'docsum[ctranslate2]'``); like every
backend module, this one imports it (and torch, transformers) only when a model loads.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.acceleration import Acceleration
from models.backends import ModelSpec
from models.errors import ModelError, ModelUnavailable
from models.loading import LoadSettings, complete_special_tokens, resolve_device
from models.types import ModelKind, Summarizer, SummaryOptions

if TYPE_CHECKING:
    import torch

    from models.generator import ModelInputs
    from models.seq2seq import Seq2SeqSummarizer

logger = logging.getLogger(__name__)

HF_SUBDIR = "hf"
_COMPUTE_TYPES = {"auto": "default", "float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}
_WARM_UP = SummaryOptions(max_tokens=2, min_tokens=1, num_beams=1)


class CTranslate2Backend:
    name = "ctranslate2"
    kind: ModelKind = "seq2seq"
    scheme: str | None = "ct2:"

    def probe(self, spec: ModelSpec) -> str | None:
        try:
            check_ctranslate2_dir(Path(spec.source).expanduser())
        except ModelError as exc:
            return exc.message
        return ctranslate2_missing()

    def load(self, spec: ModelSpec, settings: LoadSettings) -> Summarizer:
        return load_ctranslate2(spec.name, spec.source, settings)


BACKEND = CTranslate2Backend()


def check_ctranslate2_dir(directory: Path) -> None:
    """Refuse a folder that is not the output of ``docsum convert``."""
    if not directory.is_dir():
        raise ModelUnavailable(f"no CTranslate2 model directory at {directory}")
    if not (directory / "model.bin").is_file():
        raise ModelUnavailable(f"{directory} has no model.bin (convert with `docsum convert SOURCE {directory}`)")
    if not (directory / HF_SUBDIR / "config.json").is_file():
        raise ModelUnavailable(f"{directory} has no {HF_SUBDIR}/config.json (convert with `docsum convert`)")


def ctranslate2_missing() -> str | None:
    """Why the backend cannot run here, or ``None``."""
    try:
        import ctranslate2  # noqa: F401
    except ImportError:
        return "the ctranslate2 backend needs `pip install 'docsum[ctranslate2]'`"
    return None


def load_ctranslate2(
    name: str, source: str, settings: LoadSettings | None = None
) -> Seq2SeqSummarizer[CTranslate2Generator]:
    """The converted model in directory ``source``, warmed up; ``ModelUnavailable`` saying why it cannot load."""
    settings = settings or LoadSettings()
    if (reason := ctranslate2_missing()) is not None:
        raise ModelUnavailable(reason)
    import ctranslate2
    import torch
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    from models.seq2seq import Seq2SeqSummarizer

    directory = Path(source).expanduser()
    check_ctranslate2_dir(directory)
    hf = directory / HF_SUBDIR
    device = "cuda" if resolve_device(settings.device).type == "cuda" else "cpu"
    compute_type = _COMPUTE_TYPES[settings.dtype]
    try:
        tokenizer = AutoTokenizer.from_pretrained(hf, trust_remote_code=False)
        config = AutoConfig.from_pretrained(hf, trust_remote_code=False)
        try:
            generation_config = GenerationConfig.from_pretrained(hf)
        except OSError:
            generation_config = GenerationConfig.from_model_config(config)
        translator = ctranslate2.Translator(
            str(directory),
            device=device,
            compute_type=compute_type,
            inter_threads=1,
            intra_threads=settings.threads or torch.get_num_threads(),
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelUnavailable(f"cannot load {source}: {str(exc).strip().splitlines()[0]}") from exc
    generator = CTranslate2Generator(translator, tokenizer, config, generation_config)
    complete_special_tokens(generator, tokenizer, source)
    summarizer = Seq2SeqSummarizer(name, generator, tokenizer, max_chunks=settings.limits.max_chunks)
    summarizer.summarize(["warm up"], _WARM_UP)
    logger.info("loaded %s with CTranslate2 on %s (%s)", source, device, compute_type)
    return summarizer


class CTranslate2Generator:
    """A converted checkpoint run by ``ctranslate2.Translator``: a ``models.generator.Seq2SeqGenerator``.

    It takes ``generate``'s keyword arguments (over the checkpoint's ``generation_config``) and gives
    rows laid out as ``generate`` lays them out; it streams no tokens (a streamer hears nothing).
    """

    acceleration = Acceleration(engaged=("ctranslate2",))

    def __init__(self, translator: Any, tokenizer: Any, config: Any, generation_config: Any) -> None:
        self.translator = translator
        self.tokenizer = tokenizer
        self.config = config
        self.generation_config = generation_config

    def generate(self, inputs: ModelInputs, generation_kwargs: dict[str, Any], streamer: Any = None) -> torch.Tensor:
        import torch

        gen = self.generation_config
        options = _translate_options(generation_kwargs, gen)
        forced_bos = generation_kwargs.get("forced_bos_token_id", gen.forced_bos_token_id)
        forced_eos = generation_kwargs.get("forced_eos_token_id", gen.forced_eos_token_id)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        start = gen.decoder_start_token_id
        sources = [
            self.tokenizer.convert_ids_to_tokens(ids[mask.bool()].tolist())
            for ids, mask in zip(inputs.input_ids, inputs.attention_mask, strict=True)
        ]
        prefix = [[self.tokenizer.convert_ids_to_tokens(forced_bos)]] * len(sources) if forced_bos is not None else None
        max_length = options.pop("max_length")
        min_length = options.pop("min_length")
        # transformers' lengths count the decoder start token; CTranslate2's count the prefix and the end token.
        results = self.translator.translate_batch(
            sources,
            prefix,
            max_input_length=0,
            max_decoding_length=max(1, max_length - 1),
            min_decoding_length=max(0, min_length - 1),
            return_end_token=True,
            **options,
        )
        rows = []
        for result in results:
            ids = self.tokenizer.convert_tokens_to_ids(result.hypotheses[0])
            if forced_eos is not None and len(ids) >= max_length - 1 and ids[-1] != forced_eos:
                ids[-1] = forced_eos  # generate forces EOS at the last position
            rows.append([start, *ids] if start is not None else ids)
        width = max(len(row) for row in rows)
        return torch.tensor([row + [pad] * (width - len(row)) for row in rows], dtype=torch.long)


def _translate_options(kwargs: dict[str, Any], gen: Any) -> dict[str, Any]:
    """generate's keyword arguments (over the checkpoint's generation_config) as translate_batch's."""

    def value(name: str, default: Any = None) -> Any:
        found = kwargs.get(name, getattr(gen, name, None))
        return default if found is None else found

    max_length = value("max_length", 20)
    if kwargs.get("max_new_tokens") is not None:
        max_length = kwargs["max_new_tokens"] + 1
    min_length = value("min_length", 0)
    if kwargs.get("min_new_tokens") is not None:
        min_length = kwargs["min_new_tokens"] + 1
    beams = int(value("num_beams", 1))
    return {
        "beam_size": beams,
        "length_penalty": float(value("length_penalty", 1.0)) if beams > 1 else 1.0,
        "no_repeat_ngram_size": int(value("no_repeat_ngram_size", 0)),
        "repetition_penalty": float(value("repetition_penalty", 1.0)),
        "max_length": int(max_length),
        "min_length": int(min_length),
    }
