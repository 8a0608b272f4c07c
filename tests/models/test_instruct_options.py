"""language, temperature and seed on instruct models (models/instruct.py, models/sampling.py), on the tiny
random Qwen2 and on the real SmolLM2-135M; and their refusal by the models that cannot honour them."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
import torch

from models.backends.instruct import load_instruct
from models.errors import UnsupportedOption
from models.extractive import ExtractiveSummarizer
from models.instruct import InstructSummarizer
from models.loading import LoadSettings
from models.types import SummaryOptions
from tests.models.test_instruct import ARTICLE

OTHER = "The river flooded the old town after three days of rain. Shops stayed closed until Friday."
SAMPLED = SummaryOptions(max_tokens=12, temperature=1.5, seed=7)


@pytest.fixture(scope="module")
def qwen(tiny_qwen2_dir: Path) -> InstructSummarizer:
    return load_instruct("tiny-qwen2", str(tiny_qwen2_dir), LoadSettings())


def tokens(model: InstructSummarizer, texts: list[str], options: SummaryOptions) -> list[str]:
    return [summary.summary for summary in model.summarize(texts, options)]


def test_the_language_is_asked_for_in_the_prompt(qwen: InstructSummarizer) -> None:
    for language, named in (("fr", "in French,"), ("pt-BR", "in Portuguese (pt-BR),"), ("Deutsch", "in Deutsch,")):
        prompt = qwen.prompt(ARTICLE, SummaryOptions(language=language))
        assert prompt.count(named) == 2, prompt  # the task before the document and again after it
    assert "Write the summary in" not in qwen.prompt(ARTICLE, SummaryOptions())  # default: not asked
    qwen.check_options(SummaryOptions(language="zh-Hant", temperature=0.7, seed=1))


def test_temperature_zero_is_greedy(qwen: InstructSummarizer) -> None:
    greedy = tokens(qwen, [ARTICLE, OTHER], SummaryOptions(max_tokens=12))
    assert tokens(qwen, [ARTICLE, OTHER], SummaryOptions(max_tokens=12, temperature=0)) == greedy
    assert tokens(qwen, [ARTICLE, OTHER], SummaryOptions(max_tokens=12, seed=3)) == greedy  # a seed alone: greedy
    assert tokens(qwen, [ARTICLE, OTHER], SAMPLED) != greedy  # sampling does sample


def test_a_seed_gives_the_same_summary_alone_and_in_any_batch(qwen: InstructSummarizer) -> None:
    alone = [tokens(qwen, [text], SAMPLED)[0] for text in (ARTICLE, OTHER)]
    assert tokens(qwen, [ARTICLE, OTHER], SAMPLED) == alone
    assert tokens(qwen, [OTHER, "A third, unrelated note.", ARTICLE], SAMPLED)[::2] == alone[::-1]
    assert tokens(qwen, [ARTICLE], SAMPLED) == alone[:1]  # and again
    other_seed = tokens(qwen, [ARTICLE, OTHER], SummaryOptions(max_tokens=12, temperature=1.5, seed=8))
    assert other_seed != alone


def test_without_a_seed_each_call_draws_afresh(qwen: InstructSummarizer) -> None:
    unseeded = SummaryOptions(max_tokens=12, temperature=1.5)
    assert tokens(qwen, [ARTICLE], unseeded) != tokens(qwen, [ARTICLE], unseeded)


def test_sampling_leaves_torchs_global_generator_alone(qwen: InstructSummarizer) -> None:
    """No global random state is read or written: threads sampling at once cannot disturb each other."""
    state = torch.random.get_rng_state()
    expected = tokens(qwen, [ARTICLE, OTHER], SAMPLED)
    assert torch.equal(torch.random.get_rng_state(), state)
    results: list[list[str]] = []

    def run() -> None:
        results.append(tokens(qwen, [ARTICLE, OTHER], SAMPLED))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
        torch.manual_seed(len(results))  # the global generator moves meanwhile: no effect
    for thread in threads:
        thread.join()
    assert results == [expected] * 3


def test_a_sampled_long_document_keeps_its_seed_through_map_reduce(qwen: InstructSummarizer) -> None:
    from tests.models.test_instruct import long_document

    qwen.default_max_new_tokens = 16
    try:
        options = SummaryOptions(max_tokens=12, temperature=1.0, seed=5)
        first, again = (qwen.summarize([long_document(1_500)], options)[0] for _ in range(2))
    finally:
        qwen.default_max_new_tokens = 142
    assert first.chunks and first.reduce_rounds >= 1
    assert first.summary == again.summary


def test_smollm2_writes_in_the_language_asked(smollm2: InstructSummarizer) -> None:
    [french] = smollm2.summarize([ARTICLE], SummaryOptions(language="fr", max_tokens=60))
    words = re.findall(r"[a-zàâçéèêëîïôûùüÿœ]+", french.summary.lower())
    function_words = {"le", "la", "les", "de", "des", "du", "et", "un", "une", "est", "pour", "à", "sur", "dans"}
    assert len([w for w in words if w in function_words]) >= 4, french.summary


def test_smollm2_sampling_with_a_seed_is_batch_correct(smollm2: InstructSummarizer) -> None:
    options = SummaryOptions(max_tokens=16, temperature=0.8, seed=11)
    batch = smollm2.summarize([ARTICLE, OTHER], options)
    alone = [smollm2.summarize([text], options)[0] for text in (ARTICLE, OTHER)]
    assert [s.summary for s in batch] == [s.summary for s in alone]
    assert [s.output_tokens for s in batch] == [s.output_tokens for s in alone]
    [greedy] = smollm2.summarize([ARTICLE], SummaryOptions(max_tokens=16))
    assert greedy.summary and batch[0].summary


@pytest.mark.parametrize("name", ["language", "temperature", "seed"])
def test_extractive_refuses_what_only_instruct_models_do(name: str) -> None:
    value = {"language": "fr", "temperature": 0.5, "seed": 1}[name]
    with pytest.raises(UnsupportedOption, match=f"`{name}` is for instruct models") as refused:
        ExtractiveSummarizer().check_options(SummaryOptions(**{name: value}))  # type: ignore[arg-type]
    assert refused.value.param == name and refused.value.code == "unsupported_option"


@pytest.mark.parametrize("name", ["language", "temperature", "seed"])
def test_seq2seq_refuses_what_only_instruct_models_do(name: str, tiny_bart_dir: Path) -> None:
    from models.seq2seq import Seq2SeqSummarizer

    model = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="float32"))
    value = {"language": "fr", "temperature": 0.5, "seed": 1}[name]
    with pytest.raises(UnsupportedOption, match=f"`{name}` is for instruct models") as refused:
        model.check_options(SummaryOptions(**{name: value}))  # type: ignore[arg-type]
    assert refused.value.param == name
