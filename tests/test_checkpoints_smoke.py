"""The tiny checkpoints of ``tests/checkpoints.py`` load and generate offline, through the service's path."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import huggingface_hub.constants
import pytest
import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, BatchEncoding, PreTrainedModel, TokenizersBackend

from tests.checkpoints import (
    BART_GENERATION_DEFAULTS,
    CORPUS,
    T5_SUMMARIZATION_PARAMS,
    build_bin_only_checkpoint,
    build_tiny_bart,
    build_tiny_t5,
)

# Two documents of different lengths, so the batch is padded.
TEXTS = (f"{CORPUS[0]} {CORPUS[1]}", "A short note about the weather.")
MAX_NEW_TOKENS = 12
BUILDERS: dict[str, Callable[..., Path]] = {"bart": build_tiny_bart, "t5": build_tiny_t5}


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    # huggingface_hub reads HF_HUB_OFFLINE once, at import; patch the constant too.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.fixture(params=sorted(BUILDERS))
def checkpoint(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return BUILDERS[request.param](tmp_path / request.param)


@pytest.fixture
def transformers_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Records of the ``transformers`` logger, which does not propagate to the root logger."""
    logger = logging.getLogger("transformers")
    logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)


def load(path: Path) -> tuple[TokenizersBackend, PreTrainedModel]:
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSeq2SeqLM.from_pretrained(path, use_safetensors=True)
    return tokenizer, model


def use_explicit_budget(model: PreTrainedModel) -> None:
    """Drop the checkpoint's length defaults, as a caller passing ``max_new_tokens`` should.

    Otherwise every ``generate(max_new_tokens=...)`` logs "Both `max_new_tokens` and
    `max_length` seem to have been set" (BART's generation_config.json sets both
    ``max_length`` and ``min_length``).
    """
    model.generation_config.max_length = None
    model.generation_config.min_length = None


def generate(model: PreTrainedModel, encoding: BatchEncoding, num_beams: int) -> torch.Tensor:
    return model.generate(**encoding, max_new_tokens=MAX_NEW_TOKENS, num_beams=num_beams, do_sample=False)


def content_ids(row: torch.Tensor, tokenizer: TokenizersBackend) -> list[int]:
    return [i for i in row.tolist() if i not in tokenizer.all_special_ids]


def strip_padding(row: torch.Tensor, pad_token_id: int) -> list[int]:
    ids: list[int] = row.tolist()
    while ids and ids[-1] == pad_token_id:
        ids.pop()
    return ids


def test_checkpoint_folder_holds_safetensors_and_a_fast_tokenizer(checkpoint: Path) -> None:
    names = {p.name for p in checkpoint.iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json"} <= names
    assert "pytorch_model.bin" not in names
    tokenizer, model = load(checkpoint)
    assert tokenizer.is_fast
    assert tokenizer.model_max_length == 64
    assert tokenizer.pad_token is not None
    assert model.config.pad_token_id == tokenizer.pad_token_id
    assert model.config.vocab_size == len(tokenizer)
    assert not model.training


@pytest.mark.parametrize("num_beams", [1, 2], ids=["greedy", "beams"])
def test_generates_text_for_a_padded_batch(checkpoint: Path, num_beams: int) -> None:
    tokenizer, model = load(checkpoint)
    use_explicit_budget(model)
    encoding = tokenizer(list(TEXTS), padding=True, truncation=True, return_tensors="pt")
    assert (encoding["attention_mask"] == 0).any()  # the batch really is padded

    output = generate(model, encoding, num_beams)

    decoded = tokenizer.batch_decode(output, skip_special_tokens=True)
    assert all(text.strip() for text in decoded), decoded
    # The special-token bias means no early stop: the whole budget is ordinary tokens,
    # less BART's forced <s> (first) and </s> (last).
    for row in output:
        assert len(content_ids(row, tokenizer)) >= MAX_NEW_TOKENS - 2
    assert decoded[0] != decoded[1]  # the output depends on the input


@pytest.mark.parametrize("num_beams", [1, 2], ids=["greedy", "beams"])
def test_batch_gives_the_same_ids_as_each_text_alone(checkpoint: Path, num_beams: int) -> None:
    tokenizer, model = load(checkpoint)
    use_explicit_budget(model)
    batch = generate(model, tokenizer(list(TEXTS), padding=True, truncation=True, return_tensors="pt"), num_beams)
    for text, row in zip(TEXTS, batch, strict=True):
        alone = generate(model, tokenizer([text], truncation=True, return_tensors="pt"), num_beams)[0]
        assert strip_padding(row, tokenizer.pad_token_id) == strip_padding(alone, tokenizer.pad_token_id)


def test_explicit_budget_generates_without_log_warnings(
    checkpoint: Path, transformers_log: pytest.LogCaptureFixture
) -> None:
    tokenizer, model = load(checkpoint)
    use_explicit_budget(model)
    encoding = tokenizer(list(TEXTS), padding=True, truncation=True, return_tensors="pt")
    for num_beams in (1, 2):
        generate(model, encoding, num_beams)
    assert [r.getMessage() for r in transformers_log.records if r.levelno >= logging.WARNING] == []


def test_bart_generates_with_its_checkpoint_defaults(tmp_path: Path) -> None:
    tokenizer, model = load(build_tiny_bart(tmp_path / "bart"))
    config = model.generation_config
    assert {name: getattr(config, name) for name in BART_GENERATION_DEFAULTS} == BART_GENERATION_DEFAULTS
    assert (config.forced_bos_token_id, config.decoder_start_token_id, config.eos_token_id) == (0, 2, 2)

    output = model.generate(**tokenizer(list(TEXTS), padding=True, truncation=True, return_tensors="pt"))

    assert output.shape[1] == BART_GENERATION_DEFAULTS["max_length"]
    assert output[:, 1].tolist() == [0, 0]  # forced_bos_token_id
    assert all(text.strip() for text in tokenizer.batch_decode(output, skip_special_tokens=True))


def test_t5_exposes_task_specific_params(tmp_path: Path) -> None:
    tokenizer, model = load(build_tiny_t5(tmp_path / "t5"))
    assert model.config.task_specific_params == {"summarization": T5_SUMMARIZATION_PARAMS}
    assert model.config.n_positions == 64
    assert (model.config.decoder_start_token_id, model.config.pad_token_id, model.config.eos_token_id) == (0, 0, 1)
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)
    assert tokenizer("Hello world").input_ids[-1] == tokenizer.eos_token_id

    params: dict[str, Any] = dict(model.config.task_specific_params["summarization"])
    prefix = params.pop("prefix")
    texts = [prefix + text for text in TEXTS]
    output = model.generate(**tokenizer(texts, padding=True, truncation=True, return_tensors="pt"), **params)

    assert output.shape[1] == params["max_length"]
    assert all(text.strip() for text in tokenizer.batch_decode(output, skip_special_tokens=True))


def test_builds_are_deterministic(tmp_path: Path) -> None:
    for name, build in BUILDERS.items():
        first, again, other = (build(tmp_path / f"{name}-{i}", seed=seed) for i, seed in enumerate((0, 0, 1)))
        for file in ("model.safetensors", "tokenizer.json", "config.json", "generation_config.json"):
            assert (first / file).read_bytes() == (again / file).read_bytes(), (name, file)
        assert (first / "model.safetensors").read_bytes() != (other / "model.safetensors").read_bytes()


def test_bin_only_checkpoint_is_refused_with_use_safetensors(tmp_path: Path) -> None:
    path = build_bin_only_checkpoint(tmp_path / "bin")
    names = {p.name for p in path.iterdir()}
    assert "pytorch_model.bin" in names
    assert not any(name.endswith(".safetensors") for name in names)

    with pytest.raises(OSError, match=r"no file named model\.safetensors found in directory"):
        AutoModelForSeq2SeqLM.from_pretrained(path, use_safetensors=True)

    # Without use_safetensors=True, transformers 5 loads the pickle: the flag is what keeps it out.
    assert AutoModelForSeq2SeqLM.from_pretrained(path).config.model_type == "bart"
