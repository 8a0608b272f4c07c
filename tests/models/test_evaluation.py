from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from rouge_score import rouge_scorer
from rouge_score.tokenizers import DefaultTokenizer

from models.acceleration import NOT_APPLICABLE
from models.errors import InvalidInput
from models.evaluation import (
    LEAD3,
    EvalRecord,
    UnicodeTokenizer,
    evaluate,
    format_report,
    lead3,
    load_eval_records,
    make_scorer,
    score_summary,
    sentence_lines,
)
from models.extractive import ExtractiveSummarizer
from models.types import ModelKind, ScoredSentence, Summary, SummaryOptions

ENGLISH = [
    "The cat sat on the mat, running and jumping; it's 3.5 metres!",
    "Café owners in São Paulo said “prices rose ½ point” — Pokémon fans weren't surprised.",
    "U.S. officials (CNN) reported $2.6 million in gifts, the 123rd member.",
]


@pytest.fixture(scope="module")
def scorer() -> rouge_scorer.RougeScorer:
    return make_scorer()


def test_identical_text_scores_100(scorer: rouge_scorer.RougeScorer) -> None:
    scores = score_summary(scorer, ["The cat sat on the mat."], "The cat sat on the mat.")
    assert scores == pytest.approx({"rouge1": 100.0, "rouge2": 100.0, "rougeL": 100.0, "rougeLsum": 100.0})


def test_disjoint_text_scores_0(scorer: rouge_scorer.RougeScorer) -> None:
    scores = score_summary(scorer, ["The cat sat on the mat."], "Dogs bark loudly.")
    assert scores == pytest.approx(dict.fromkeys(scores, 0.0))


def test_partial_overlap_by_hand(scorer: rouge_scorer.RougeScorer) -> None:
    # reference: the cat sat on the mat (6 tokens, 5 bigrams); candidate: the cat ate (3, 2)
    scores = score_summary(scorer, ["the cat sat on the mat"], "the cat ate")
    # unigrams: 2 shared -> P 2/3, R 2/6 -> F 4/9
    assert scores["rouge1"] == pytest.approx(100 * 4 / 9)
    # bigrams: "the cat" shared -> P 1/2, R 1/5 -> F 2/7
    assert scores["rouge2"] == pytest.approx(100 * 2 / 7)
    # LCS "the cat" = 2 tokens, as for unigrams
    assert scores["rougeL"] == pytest.approx(100 * 4 / 9)


def test_best_reference_wins_per_metric(scorer: rouge_scorer.RougeScorer) -> None:
    references = ["Completely unrelated words here.", "The cat sat on the mat."]
    assert score_summary(scorer, references, "The cat sat on the mat.")["rouge1"] == pytest.approx(100.0)
    assert score_summary(scorer, references[:1], "The cat sat on the mat.")["rouge1"] == 0.0


def test_lsum_splits_one_line_references(scorer: rouge_scorer.RougeScorer) -> None:
    assert sentence_lines("First one here. Second one there.\nThird line") == (
        "First one here.\nSecond one there.\nThird line"
    )
    # The candidate has the reference's sentences in the other order: Lsum matches each
    # sentence in full, plain rougeL only the longer one.
    scores = score_summary(
        scorer, ["Alpha beta gamma delta. Epsilon zeta eta."], "Epsilon zeta eta.\nAlpha beta gamma delta."
    )
    assert scores["rougeLsum"] == pytest.approx(100.0)
    assert scores["rougeL"] < 100.0


@pytest.mark.parametrize("text", ENGLISH)
def test_tokenizer_matches_the_stock_one_on_latin_text(text: str) -> None:
    assert UnicodeTokenizer().tokenize(text) == DefaultTokenizer(use_stemmer=True).tokenize(text)


def test_tokenizer_keeps_other_scripts() -> None:
    tokens = UnicodeTokenizer().tokenize("Путин сказал: 你好世界 नमस्ते running")
    assert tokens == ["путин", "сказал", "你", "好", "世", "界", "नमस्ते", "run"]


@pytest.mark.parametrize("text", ["Путин сказал правду.", "市议会批准了新的交通预算。", "مرحبا بالعالم"])
def test_non_latin_text_scores_with_our_tokenizer_only(scorer: rouge_scorer.RougeScorer, text: str) -> None:
    assert score_summary(scorer, [text], text)["rouge1"] == pytest.approx(100.0)
    stock = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True)
    assert stock.score(text, text)["rouge1"].fmeasure == 0.0


def test_lead3_takes_the_first_three_sentences() -> None:
    text = "One is first. Two is second. Three is third. Four is last."
    assert lead3(text) == ["One is first.", "Two is second.", "Three is third."]
    assert lead3("Only one.") == ["Only one."]


def write_lines(path: Path, rows: Sequence[object]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_load_eval_records(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "data.jsonl",
        [
            {"id": "a", "document": "Doc one.", "summary": "Ref one."},
            "",
            {"id": "b", "text": "Doc two.", "summary": "Ref.", "references": ["Ref.", "Other ref."]},
            {"id": "c", "document": "Doc three.", "summary": "Ref three."},
        ],
    )
    records = load_eval_records(path)
    assert records[0] == EvalRecord("a", "Doc one.", ("Ref one.",))
    assert records[1] == EvalRecord("b", "Doc two.", ("Ref.", "Other ref."))
    assert len(load_eval_records(path, limit=2)) == 2


@pytest.mark.parametrize(
    "bad",
    ["{not json", json.dumps(["a list"]), json.dumps({"id": "x", "summary": "s"}), json.dumps({"document": "d"})],
)
def test_malformed_line_names_its_number(tmp_path: Path, bad: str) -> None:
    path = write_lines(tmp_path / "data.jsonl", [{"id": "a", "document": "D.", "summary": "S."}, bad])
    with pytest.raises(ValueError, match="line 2"):
        load_eval_records(path)


def test_eval_records_without_an_id_are_numbered(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "data.jsonl", ["", {"document": "Doc.", "summary": "Ref."}])
    assert load_eval_records(path) == [EvalRecord("line-2", "Doc.", ("Ref.",))]


def test_eval_records_from_a_csv_file(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text('id,document,summary\na,"Doc one, here.",Ref one.\n,Doc two.,Ref two.\nc,Doc three.,\n')
    assert load_eval_records(path, limit=2) == [
        EvalRecord("a", "Doc one, here.", ("Ref one.",)),
        EvalRecord("row-3", "Doc two.", ("Ref two.",)),
    ]
    assert load_eval_records(path, limit=3)[2].references == ("",)
    path.write_text("id,document\na,Doc.\n")
    with pytest.raises(ValueError, match="row 2: needs a string 'summary'"):
        load_eval_records(path)


class Lead3Model:
    """A fake summarizer that returns Lead-3 and fails on documents containing FAIL."""

    name = "fake-lead"
    kind: ModelKind = "extractive"
    acceleration = NOT_APPLICABLE

    @property
    def max_input_tokens(self) -> int | None:
        return None

    def check_options(self, options: SummaryOptions) -> None:
        return None

    def count_input_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(text.split()) for text in texts]

    def rows_per_document(self, options: SummaryOptions) -> int:
        return 1

    def summarize(self, texts: Sequence[str], options: SummaryOptions) -> list[Summary]:
        if any("FAIL" in text for text in texts):
            raise InvalidInput("cannot")
        return [
            Summary(" ".join(lead3(t)), 1, 1, sentences=tuple(ScoredSentence(s, 0, len(s), 1.0) for s in lead3(t)))
            for t in texts
        ]


RECORDS = [
    EvalRecord("1", "The cat sat on the mat. It purred. Then it slept. Later it woke.", ("The cat sat and purred.",)),
    EvalRecord(
        "2", "Stocks rose on Monday. Banks led gains. Oil fell. Gold was flat.", ("Stocks rose, led by banks.",)
    ),
]


def test_evaluate_scores_model_and_lead3() -> None:
    report = evaluate(Lead3Model(), RECORDS, SummaryOptions(), batch_size=1)
    assert (report.model, report.n, report.failures) == ("fake-lead", 2, 0)
    model, baseline = report.scores("fake-lead"), report.scores(LEAD3)
    assert model == type(model)("fake-lead", baseline.rouge1, baseline.rouge2, baseline.rougeL, baseline.rougeLsum)
    assert 0 < model.rouge1 < 100
    assert report.docs_per_second > 0
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert set(data["systems"]) == {"fake-lead", LEAD3}
    table = format_report(report)
    assert table.splitlines()[0].split() == ["system", "R1", "R2", "RL", "RLsum", "docs/s"]
    assert "fake-lead" in table
    assert LEAD3 in table


def test_evaluate_counts_failures_as_zero() -> None:
    records = [*RECORDS, EvalRecord("3", "FAIL here. And more.", ("Anything.",))]
    report = evaluate(Lead3Model(), records, SummaryOptions(), batch_size=2)
    assert report.failures == 1
    clean = evaluate(Lead3Model(), RECORDS, SummaryOptions())
    assert report.scores("fake-lead").rouge1 == pytest.approx(clean.scores("fake-lead").rouge1 * 2 / 3)


def test_evaluate_the_extractive_model() -> None:
    report = evaluate(ExtractiveSummarizer(), RECORDS, SummaryOptions(sentences=1))
    assert report.failures == 0
    assert report.scores("extractive").rouge1 > 0
