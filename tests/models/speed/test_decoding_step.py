"""The scripted BART, PEGASUS and T5 decoding steps: bit-equal logits to transformers' forward on docsum's int8 path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from models._speed import decoding_step
from models.loading import LoadSettings
from models.seq2seq import Seq2SeqSummarizer
from models.types import SummaryOptions
from tests.checkpoints import CORPUS

INT8 = LoadSettings(dtype="int8")
PADDED = list(CORPUS[:7])  # different lengths: the encoder's padding is masked in cross-attention


@pytest.fixture
def steps_taken(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rows of each decoding step the scripted call ran."""
    taken: list[int] = []
    run = decoding_step._run_step

    def counting(scripted: Any, step: tuple[Any, ...]) -> Any:
        taken.append(step[0].shape[0])
        return run(scripted, step)

    monkeypatch.setattr(decoding_step, "_run_step", counting)
    return taken


def _logits(
    summarizer: Seq2SeqSummarizer, documents: list[str], beams: int, tokens: int = 12, **extra: Any
) -> tuple[Any, ...]:
    inputs = summarizer.preprocess(documents)
    kwargs = summarizer.generation_kwargs(SummaryOptions(num_beams=beams, max_tokens=tokens, min_tokens=tokens))
    with torch.inference_mode():
        out = summarizer.generator.model.generate(
            input_ids=inputs.input_ids,
            attention_mask=inputs.attention_mask,
            output_logits=True,
            return_dict_in_generate=True,
            **kwargs,
            **extra,
        )
    return out.sequences, torch.stack(out.logits)


def _logits_both_ways(summarizer: Seq2SeqSummarizer, documents: list[str], beams: int, tokens: int = 12) -> Any:
    """Tokens and logits with the scripted steps, then with transformers' own forward."""
    scripted = _logits(summarizer, documents, beams, tokens)
    stepping = summarizer.generator.model.__dict__.pop("forward")
    try:
        return scripted, _logits(summarizer, documents, beams, tokens)
    finally:
        summarizer.generator.model.forward = stepping


# post-norm and pre-norm layers; relu and gated-GELU T5 blocks, with relative positions and a tied or own head
@pytest.mark.parametrize("checkpoint", ["tiny_bart_dir", "tiny_pegasus_dir", "tiny_t5_dir", "tiny_flan_t5_dir"])
@pytest.mark.parametrize("beams", [1, 3])
@pytest.mark.parametrize("documents", [PADDED, PADDED[:1]])
@pytest.mark.parametrize("invariant", [True, False])  # per-row int8 scales and per-document cross-attention, or not
def test_scripted_steps_give_the_same_logits_bit_for_bit(
    checkpoint: str,
    steps_taken: list[int],
    beams: int,
    documents: list[str],
    invariant: bool,
    request: pytest.FixtureRequest,
) -> None:
    settings = LoadSettings(dtype="int8", batch_invariant=invariant)
    summarizer = Seq2SeqSummarizer.load("tiny", str(request.getfixturevalue(checkpoint)), settings)
    assert summarizer.generator.speed.scripted_steps is not None
    assert steps_taken  # the warm-up at load already took it
    steps_taken.clear()
    (tokens, logits), (expected_tokens, expected_logits) = _logits_both_ways(summarizer, documents, beams)
    assert len(steps_taken) == logits.shape[0] - 1  # every step but the first, which fills the caches
    assert set(steps_taken) == {len(documents) * beams}
    assert torch.equal(tokens, expected_tokens)
    assert torch.equal(logits, expected_logits)


@pytest.mark.parametrize("checkpoint", ["tiny_t5_dir", "tiny_flan_t5_dir"])
def test_t5_steps_past_the_exact_position_buckets_give_the_same_logits(
    checkpoint: str, steps_taken: list[int], request: pytest.FixtureRequest
) -> None:
    """Distances of 16 and more fall in T5's logarithmic buckets (at 16, 32: where float rounding decides)."""
    summarizer = Seq2SeqSummarizer.load("tiny", str(request.getfixturevalue(checkpoint)), INT8)
    steps_taken.clear()
    (tokens, logits), (expected_tokens, expected_logits) = _logits_both_ways(summarizer, PADDED[:2], 2, tokens=40)
    assert logits.shape[0] == 40
    assert len(steps_taken) == 39
    assert torch.equal(tokens, expected_tokens)
    assert torch.equal(logits, expected_logits)


def test_a_step_asking_for_attentions_goes_to_transformers(tiny_bart_dir: Path, steps_taken: list[int]) -> None:
    summarizer = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), INT8)
    steps_taken.clear()
    with torch.inference_mode():
        inputs = summarizer.preprocess(PADDED[:2])
        out = summarizer.generator.model.generate(
            input_ids=inputs.input_ids,
            attention_mask=inputs.attention_mask,
            max_length=6,
            output_attentions=True,
            return_dict_in_generate=True,
        )
    assert not steps_taken
    assert len(out.cross_attentions) == out.sequences.shape[1] - 1


@pytest.mark.parametrize("checkpoint", ["tiny_bart_dir", "tiny_pegasus_dir"])
def test_decoding_past_the_learned_positions_fails_as_transformers_does(
    checkpoint: str, steps_taken: list[int], request: pytest.FixtureRequest
) -> None:
    summarizer = Seq2SeqSummarizer.load("tiny", str(request.getfixturevalue(checkpoint)), INT8)
    steps_taken.clear()
    inputs = summarizer.preprocess(PADDED[:1])
    positions = summarizer.generator.model.config.max_position_embeddings
    with torch.inference_mode(), pytest.raises(IndexError):
        summarizer.generator.model.generate(
            input_ids=inputs.input_ids,
            attention_mask=inputs.attention_mask,
            min_length=positions + 4,
            max_length=positions + 4,
        )
    assert len(steps_taken) == positions - 1  # up to the last learned position, then transformers' forward


@pytest.mark.parametrize(
    ("checkpoint", "settings"),
    [("tiny_bart_dir", LoadSettings(dtype="float32")), ("tiny_t5_dir", LoadSettings(dtype="bfloat16"))],
)
def test_other_models_and_dtypes_keep_transformers_forward(
    checkpoint: str, settings: LoadSettings, request: pytest.FixtureRequest
) -> None:
    summarizer = Seq2SeqSummarizer.load("tiny", str(request.getfixturevalue(checkpoint)), settings)
    assert summarizer.generator.speed.scripted_steps is None
    assert "forward" not in vars(summarizer.generator.model)
