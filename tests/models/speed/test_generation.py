"""The generation speed-ups (models._speed.generation, models._speed.plan): fp32 outputs unchanged, reduced
precision within bf16 tolerance, CPU parts giving what each part gives alone."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch
from transformers import LogitsProcessor, LogitsProcessorList

from models._speed.attention import NAME
from models._speed.generation import balanced_parts, encode_in_slices, generate_in_parts
from models._speed.plan import fast_path
from models.loading import LoadSettings
from models.seq2seq import Seq2SeqSummarizer
from models.types import SummaryOptions, TokenEvent
from tests.checkpoints import CORPUS

SHORT = list(CORPUS[:7])  # different lengths: padded batches
LONG = [" ".join(CORPUS[i : i + 3]) for i in range(5)]  # over the 64-token window
FP32 = LoadSettings(dtype="float32", batch_invariant=False)  # transformers' own fp32, the reference


@pytest.mark.parametrize("model_dir", ["tiny_bart_dir", "tiny_pegasus_dir"])
@pytest.mark.parametrize("beams", [1, 2, 4])
def test_shared_encoder_outputs_give_the_same_summaries(
    model_dir: str, beams: int, request: pytest.FixtureRequest
) -> None:
    """fp32 with one encoder output per document (not per beam), sliced encoding, matmul decoding."""
    summarizer = Seq2SeqSummarizer.load("tiny", str(request.getfixturevalue(model_dir)), FP32)
    assert summarizer.generator.model.config._attn_implementation == "sdpa"  # fp32 keeps transformers' attention
    options = SummaryOptions(num_beams=beams, max_tokens=16)
    expected = summarizer.summarize(SHORT + LONG, options)
    summarizer.generator.speed = fast_path(summarizer.generator.model)  # CPU parts too
    encode_in_slices(summarizer.generator.model, max_tokens=40)  # a few documents per encoder call
    assert summarizer.generator.model.config._attn_implementation == NAME
    assert "_expand_inputs_for_generation" in vars(summarizer.generator.model)  # the beam-search probe passed
    assert summarizer.summarize(SHORT + LONG, options) == expected


class _ForcedPath(LogitsProcessor):  # type: ignore[misc]
    """Records each step's scores, then forces the reference token: every model decodes the same path."""

    def __init__(self, path: torch.Tensor) -> None:
        self.path = path
        self.scores: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        self.scores.append(scores.float().clone())
        forced = torch.full_like(scores, -1e9)
        forced[torch.arange(len(scores)), self.path[:, input_ids.shape[1]]] = 0.0
        return forced


_FORCED = {"max_length": 12, "min_length": 12, "no_repeat_ngram_size": 0}


def _greedy_path(summarizer: Seq2SeqSummarizer) -> torch.Tensor:
    inputs = summarizer.preprocess(SHORT)
    with torch.inference_mode():
        path: torch.Tensor = summarizer.generator.model.generate(
            input_ids=inputs.input_ids, attention_mask=inputs.attention_mask, num_beams=1, **_FORCED
        )
    return path


def _scores_along(summarizer: Seq2SeqSummarizer, path: torch.Tensor, beams: int) -> torch.Tensor:
    inputs = summarizer.preprocess(SHORT)
    forced = _ForcedPath(path.repeat_interleave(beams, 0))
    with torch.inference_mode():
        summarizer.generator.model.generate(
            input_ids=inputs.input_ids,
            attention_mask=inputs.attention_mask,
            logits_processor=LogitsProcessorList([forced]),
            num_beams=beams,
            **_FORCED,
        )
    return torch.stack(forced.scores)


@pytest.mark.parametrize("model_dir", ["tiny_bart_dir", "tiny_t5_dir", "tiny_flan_t5_dir", "tiny_pegasus_dir"])
@pytest.mark.parametrize("beams", [1, 3])
@pytest.mark.parametrize("bf16", [False, True])
def test_scores_along_the_same_path_match_transformers(
    request: pytest.FixtureRequest, model_dir: str, beams: int, bf16: bool
) -> None:
    """Every step's scores along one forced path: fp32 as transformers runs it, and with docsum's attention
    (shared encoder outputs, sliced encoding, matmul decoding): to fp32 rounding, or bf16 tolerance."""
    directory = str(request.getfixturevalue(model_dir))
    reference = Seq2SeqSummarizer.load("tiny", directory, FP32)
    path = _greedy_path(reference)
    expected = _scores_along(reference, path, beams)
    summarizer = Seq2SeqSummarizer.load("tiny", directory, FP32)
    fast_path(summarizer.generator.model, int8=bf16)  # bf16 caches and attention; no int8 layers to script
    encode_in_slices(summarizer.generator.model, max_tokens=40)
    got = _scores_along(summarizer, path, beams)
    finite = torch.isfinite(expected)
    assert torch.equal(finite, torch.isfinite(got))
    error = (got[finite] - expected[finite]).abs().max() / expected[finite].abs().max()
    in_bf16 = bf16 and "t5" not in model_dir  # T5's unscaled scores stay fp32 (models._speed.arch.t5)
    assert error <= (0.02 if in_bf16 else 1e-4)
    assert error > 0 or not in_bf16  # the bf16 path did run


def test_sliced_encoding_equals_the_whole_batch(tiny_bart_dir: Path) -> None:
    summarizer = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), FP32)
    inputs = summarizer.preprocess(SHORT)
    encoder = summarizer.generator.model.get_encoder()
    with torch.inference_mode():
        whole = encoder(input_ids=inputs.input_ids, attention_mask=inputs.attention_mask).last_hidden_state
        encode_in_slices(summarizer.generator.model, max_tokens=2 * inputs.input_ids.shape[1])
        sliced = encoder(input_ids=inputs.input_ids, attention_mask=inputs.attention_mask).last_hidden_state
    real = inputs.attention_mask.bool()  # padding positions are masked out of cross-attention
    torch.testing.assert_close(sliced[real], whole[real], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("beams", [1, 3])
def test_generating_in_parts_gives_what_each_part_gives_alone(tiny_bart_dir: Path, beams: int) -> None:
    """Parts run concurrently, one single-threaded worker each, and are stitched back in the caller's order."""
    summarizer = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="int8"))
    assert summarizer.generator.speed.generates_in_parts
    inputs = summarizer.preprocess(SHORT)
    kwargs = summarizer.generation_kwargs(SummaryOptions(num_beams=beams, max_tokens=9))
    threads = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        together = generate_in_parts(summarizer.generator.model, inputs.input_ids, inputs.attention_mask, **kwargs)
        assert torch.get_num_threads() == 3
        torch.set_num_threads(1)
        alone: dict[int, torch.Tensor] = {}
        with torch.inference_mode():
            for part in balanced_parts(inputs.attention_mask, 3):
                generated = summarizer.generator.model.generate(
                    input_ids=inputs.input_ids[part], attention_mask=inputs.attention_mask[part], **kwargs
                )
                alone.update(zip(part.tolist(), generated, strict=True))
    finally:
        torch.set_num_threads(threads)
    assert len(together) == len(SHORT)
    pad = summarizer.generator.model.generation_config.pad_token_id
    for row, tokens in alone.items():
        assert torch.equal(together[row, : len(tokens)], tokens)
        assert bool((together[row, len(tokens) :] == pad).all())


def _mask(lengths: list[int]) -> torch.Tensor:
    return (torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]).long()


def test_parts_get_as_many_documents_and_about_as_many_tokens() -> None:
    # A length-sorted call of 8 cut in halves would give one part 2008 input tokens and the other 958.
    lengths = [502, 502, 502, 502, 353, 330, 139, 136]
    parts = [part.tolist() for part in balanced_parts(_mask(lengths), 2)]
    assert parts == [[0, 2, 4, 7], [1, 3, 5, 6]]
    assert [sum(lengths[row] for row in part) for part in parts] == [1493, 1473]


@pytest.mark.parametrize(("rows", "parts"), [(1, 1), (2, 2), (5, 1), (5, 2), (7, 2), (7, 3), (16, 2)])
def test_every_row_is_in_exactly_one_part_and_sizes_differ_by_at_most_one(rows: int, parts: int) -> None:
    lengths = [(7 * row) % 11 + 1 for row in range(rows)]
    split = balanced_parts(_mask(lengths), parts)
    assert sorted(torch.cat(split).tolist()) == list(range(rows))
    assert max(map(len, split)) - min(map(len, split)) <= 1
    assert all(part.tolist() == sorted(part.tolist()) for part in split)


@pytest.mark.parametrize("checkpoint", ["tiny_bart_dir", "tiny_t5_dir", "tiny_flan_t5_dir", "tiny_pegasus_dir"])
@pytest.mark.parametrize("beams", [1, 3])
def test_one_document_encodes_on_the_caller_and_decodes_on_a_worker(
    checkpoint: str, beams: int, request: pytest.FixtureRequest
) -> None:
    """The encoder pass uses the calling thread's team; the decoding steps run on one single-threaded worker."""
    directory = request.getfixturevalue(checkpoint)
    summarizer = Seq2SeqSummarizer.load("tiny", str(directory), LoadSettings(dtype="int8"))
    model = summarizer.generator.model
    inputs = summarizer.preprocess(SHORT[:1])
    kwargs = summarizer.generation_kwargs(SummaryOptions(num_beams=beams, max_tokens=9))
    ran_on: dict[str, set[str]] = {"encoder": set(), "decoder": set()}
    hooks = [
        model.get_encoder().register_forward_hook(lambda *_: ran_on["encoder"].add(threading.current_thread().name)),
        model.get_decoder().register_forward_hook(lambda *_: ran_on["decoder"].add(threading.current_thread().name)),
    ]
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.inference_mode():
            plain = model.generate(input_ids=inputs.input_ids, attention_mask=inputs.attention_mask, **kwargs)
        ran_on["encoder"].clear()
        ran_on["decoder"].clear()
        split = generate_in_parts(model, inputs.input_ids, inputs.attention_mask, **kwargs)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
        for hook in hooks:
            hook.remove()
    assert torch.equal(split, plain)
    assert ran_on["encoder"] == {threading.current_thread().name}
    assert len(ran_on["decoder"]) == 1 and next(iter(ran_on["decoder"])).startswith("docsum-generate-")


def test_a_streamed_document_takes_the_same_split(tiny_bart_dir: Path) -> None:
    """Token events come from the decoding worker, in order, and add up to the summary."""
    summarizer = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="int8"))
    options = SummaryOptions(min_tokens=10, max_tokens=10, num_beams=1)
    deltas: list[tuple[str, str]] = []

    def collect(event: object) -> None:
        if isinstance(event, TokenEvent):
            deltas.append((threading.current_thread().name, event.text))

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        [plain] = summarizer.summarize(SHORT[:1], options)
        [streamed] = summarizer.summarize(SHORT[:1], options, on_event=collect)
    finally:
        torch.set_num_threads(threads)
    assert streamed == plain
    assert deltas and all(name.startswith("docsum-generate-") for name, _ in deltas)
    assert " ".join("".join(text for _, text in deltas).split()) == streamed.summary
