"""The seq2seq path on tiny random checkpoints, loaded by the code users use."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from models.acceleration import NOT_APPLICABLE
from models.catalog import build_catalog, load_by_name_or_source, parse_model_entry
from models.errors import UnsafeCheckpoint, UnsupportedOption
from models.generator import ModelInputs
from models.loading import LoadSettings
from models.seq2seq import Seq2SeqSummarizer
from models.types import Summarizer, SummaryOptions
from tests.checkpoints import build_bin_only_checkpoint

FP32 = LoadSettings(device="cpu", dtype="float32")
TEXTS = [
    "The council approved the new bridge after a long debate about costs and schools.",
    "Rain fell across the north.",
    "Scientists said the river was cleaner this year than at any time in the last decade, and fish returned.",
]


@pytest.fixture(scope="module")
def bart(tiny_bart_dir: Path) -> Seq2SeqSummarizer:
    return Seq2SeqSummarizer.load("tiny-bart", str(tiny_bart_dir), FP32)


@pytest.fixture(scope="module")
def t5(tiny_t5_dir: Path) -> Seq2SeqSummarizer:
    return Seq2SeqSummarizer.load("tiny-t5", str(tiny_t5_dir), FP32)


@pytest.fixture(scope="module")
def flan_t5(tiny_flan_t5_dir: Path) -> Seq2SeqSummarizer:
    return Seq2SeqSummarizer.load("tiny-flan-t5", str(tiny_flan_t5_dir), FP32)


@pytest.fixture(scope="module")
def pegasus(tiny_pegasus_dir: Path) -> Seq2SeqSummarizer:
    return Seq2SeqSummarizer.load("tiny-pegasus", str(tiny_pegasus_dir), FP32)


def direct_generate(directory: Path, texts: list[str], **kwargs: Any) -> torch.Tensor:
    """What a user would write by hand with transformers."""
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = AutoModelForSeq2SeqLM.from_pretrained(directory, dtype=torch.float32).eval()
    encoded = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
    with torch.inference_mode():
        return model.generate(**encoded, **kwargs)


def test_bart_output_equals_direct_generate(bart: Seq2SeqSummarizer, tiny_bart_dir: Path) -> None:
    options = SummaryOptions(max_tokens=12, num_beams=2)
    inputs = bart.preprocess(TEXTS)
    ours = bart.forward(inputs, bart.generation_kwargs(options))
    theirs = direct_generate(tiny_bart_dir, TEXTS, max_new_tokens=12, num_beams=2)
    assert torch.equal(ours, theirs)
    summaries = bart.summarize(TEXTS, options)
    tokenizer = AutoTokenizer.from_pretrained(tiny_bart_dir)
    decoded = [" ".join(t.split()) for t in tokenizer.batch_decode(theirs, skip_special_tokens=True)]
    assert [s.summary for s in summaries] == decoded
    assert all(s.summary for s in summaries)
    assert [s.output_tokens for s in summaries] == [int((row[1:] != tokenizer.pad_token_id).sum()) for row in theirs]


def test_pegasus_output_equals_direct_generate_with_its_generation_config(
    pegasus: Seq2SeqSummarizer, tiny_pegasus_dir: Path
) -> None:
    ours = pegasus.forward(pegasus.preprocess(TEXTS), pegasus.generation_kwargs(SummaryOptions()))
    theirs = direct_generate(tiny_pegasus_dir, TEXTS)  # num_beams 2, length_penalty 0.8 from the checkpoint
    assert torch.equal(ours, theirs)
    summaries = pegasus.summarize(TEXTS, SummaryOptions())
    assert all(s.summary for s in summaries)
    assert len({s.summary for s in summaries}) == len(TEXTS)  # the input reaches the output


def test_t5_uses_task_prefix_and_task_defaults(t5: Seq2SeqSummarizer, tiny_t5_dir: Path) -> None:
    assert t5.prefix == "summarize: "
    ours = t5.forward(t5.preprocess(TEXTS), t5.generation_kwargs(SummaryOptions()))
    theirs = direct_generate(
        tiny_t5_dir,
        ["summarize: " + text for text in TEXTS],
        max_length=20,
        min_length=3,
        num_beams=2,
        no_repeat_ngram_size=3,
        early_stopping=True,
        length_penalty=2.0,
    )
    assert torch.equal(ours, theirs)


class ScriptedGenerator:
    """A generator that is no model: it answers every document with the same token ids."""

    acceleration = NOT_APPLICABLE

    def __init__(self, config: Any, generation_config: Any, row: list[int]) -> None:
        self.config, self.generation_config, self.row = config, generation_config, row
        self.calls: list[tuple[int, dict[str, Any]]] = []

    def generate(self, inputs: ModelInputs, generation_kwargs: dict[str, Any], streamer: Any = None) -> torch.Tensor:
        self.calls.append((len(inputs.input_ids), dict(generation_kwargs)))
        return torch.tensor([self.row] * len(inputs.input_ids))


def test_the_pipeline_runs_whatever_generator_it_is_given(bart: Seq2SeqSummarizer) -> None:
    config, generation_config = bart.generator.config, bart.generator.generation_config
    ids = bart.tokenizer("The bridge opened.")["input_ids"]
    generator = ScriptedGenerator(config, generation_config, [generation_config.decoder_start_token_id, *ids])
    scripted = Seq2SeqSummarizer("scripted", generator, bart.tokenizer)
    assert isinstance(scripted, Summarizer) and scripted.acceleration is NOT_APPLICABLE
    assert scripted.max_input_tokens == bart.max_input_tokens
    options = SummaryOptions(max_tokens=9, num_beams=1)
    summaries = scripted.summarize(TEXTS, options)
    assert generator.calls == [(len(TEXTS), bart.generation_kwargs(options))]
    assert [(s.summary, s.output_tokens) for s in summaries] == [("The bridge opened.", len(ids))] * len(TEXTS)


@pytest.mark.parametrize("num_beams", [1, 2])
@pytest.mark.parametrize("model_name", ["bart", "t5", "flan_t5", "pegasus"])
def test_batch_equals_one_by_one(request: pytest.FixtureRequest, model_name: str, num_beams: int) -> None:
    summarizer: Seq2SeqSummarizer = request.getfixturevalue(model_name)
    options = SummaryOptions(num_beams=num_beams, max_tokens=10)
    batched = summarizer.summarize(TEXTS, options)
    alone = [summarizer.summarize([text], options)[0] for text in TEXTS]
    assert batched == alone


def test_long_input_is_head_truncated_and_reported(bart: Seq2SeqSummarizer) -> None:
    long_text = " ".join(TEXTS * 20)
    [summary] = bart.summarize([long_text], SummaryOptions(max_tokens=8, truncation="head"))
    assert summary.truncated is True and summary.chunks is None
    assert summary.input_tokens > bart.max_input_tokens == 64
    assert bart.preprocess([long_text]).input_ids.shape[1] == 64
    [short] = bart.summarize([TEXTS[1]], SummaryOptions(max_tokens=8, truncation="head"))
    assert short.truncated is False


def test_length_presets_and_limits(bart: Seq2SeqSummarizer) -> None:
    assert bart.max_output_tokens == 64
    # Encoder-decoder lengths count the decoder start token: max_length = new tokens + 1.
    short = bart.generation_kwargs(SummaryOptions(length="short"))
    assert (short["min_length"], short["max_length"]) == (11, 61)
    # Long asks for 300 tokens; this decoder has 64 positions.
    assert bart.generation_kwargs(SummaryOptions(length="long"))["max_length"] == 65
    explicit = bart.generation_kwargs(SummaryOptions(max_tokens=30, min_tokens=5, no_repeat_ngram_size=2))
    assert (explicit["max_length"], explicit["min_length"], explicit["no_repeat_ngram_size"]) == (31, 6, 2)
    [summary] = bart.summarize(TEXTS[:1], SummaryOptions(max_tokens=4, min_tokens=4, no_repeat_ngram_size=0))
    assert summary.output_tokens == 4
    with pytest.raises(UnsupportedOption) as excinfo:
        bart.check_options(SummaryOptions(max_tokens=500))
    assert excinfo.value.param == "max_tokens"


@pytest.mark.parametrize("option", [{"sentences": 2}, {"query": "bridge"}])
def test_extractive_only_options_are_refused(bart: Seq2SeqSummarizer, option: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedOption) as excinfo:
        bart.summarize(TEXTS[:1], SummaryOptions(**option))
    assert excinfo.value.param == next(iter(option))


def test_greedy_search_over_beam_defaults_raises_no_warning(bart: Seq2SeqSummarizer) -> None:
    # filterwarnings=error turns a transformers warning about beam-only settings into a failure.
    [summary] = bart.summarize(TEXTS[:1], SummaryOptions(num_beams=1, length_penalty=None))
    assert summary.output_tokens > 0


def test_bullets_render_one_line_per_sentence(bart: Seq2SeqSummarizer) -> None:
    [summary] = bart.summarize(TEXTS[:1], SummaryOptions(format="bullets", max_tokens=20))
    assert all(line.startswith("- ") for line in summary.summary.splitlines())


def test_threads_share_one_summarizer_safely(bart: Seq2SeqSummarizer) -> None:
    expected = bart.summarize([TEXTS[0]], SummaryOptions(max_tokens=6))
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: bart.summarize([TEXTS[0]], SummaryOptions(max_tokens=6)), range(8)))
    assert all(result == expected for result in results)


def test_bin_only_checkpoint_is_refused(tmp_path: Path) -> None:
    directory = build_bin_only_checkpoint(tmp_path / "unsafe")
    with pytest.raises(UnsafeCheckpoint, match="safetensors"):
        Seq2SeqSummarizer.load("unsafe", str(directory), FP32)


def test_cli_style_loading_by_path_and_by_catalog_name(tiny_bart_dir: Path) -> None:
    catalog = build_catalog([parse_model_entry(f"tiny={tiny_bart_dir}")])
    by_name = load_by_name_or_source("tiny", catalog, FP32)
    by_path = load_by_name_or_source(str(tiny_bart_dir), catalog, FP32)
    assert by_name.name == "tiny"
    assert by_path.summarize(TEXTS[:1], SummaryOptions()) == by_name.summarize(TEXTS[:1], SummaryOptions())


def test_auto_device_and_dtype_on_this_machine(tiny_bart_dir: Path) -> None:
    summarizer = Seq2SeqSummarizer.load("auto", str(tiny_bart_dir))
    expected = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    assert summarizer.generator.device.type == expected.type
    [summary] = summarizer.summarize(TEXTS[:1], SummaryOptions(max_tokens=5))
    assert summary.output_tokens > 0
