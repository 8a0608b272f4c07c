from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from models.grounding import Grounding, SourceIndex, ground, ground_chunked
from models.grounding_eval import BASELINES, GROUNDING, Judgment, agreement, load_judgments, ngram_coverage
from models.grounding_tokens import tokenize
from models.text import split_sentences
from models.types import ChunkSummary

SOURCE = (
    "Iran and Syria signed a defence cooperation agreement in Tehran on Sunday. "
    "The deal was signed by Iranian Defence Minister Amir Hatami and his Syrian counterpart Ali Ayoub. "
    "It covers the rebuilding of Syria's army, which has fought an eight-year war. "
    "Russia, which also backs the Syrian government, was not part of the talks. "
    "Officials said 15 people attended the ceremony in 2018."
)


def assert_exact(source: str, summary: str, result: Grounding) -> None:
    """Every range points at its text: sentences and spans in the summary, evidence in the source."""
    boundaries = {s.offset for s in split_sentences(source)}, {s.end for s in split_sentences(source)}
    for sentence in result.sentences:
        assert summary[sentence.offset : sentence.offset + sentence.length] == sentence.text
        for span in sentence.unsupported:
            assert summary[span.offset : span.offset + span.length] == span.text
            assert sentence.offset <= span.offset and span.offset + span.length <= sentence.offset + sentence.length
        for evidence in sentence.support:
            assert evidence.offset >= 0 and evidence.offset + evidence.length <= len(source)
            assert evidence.offset in boundaries[0] and evidence.offset + evidence.length in boundaries[1]
            assert 0.0 < evidence.score <= 1.0
        assert [e.score for e in sentence.support] == sorted((e.score for e in sentence.support), reverse=True)
        assert 0.0 <= sentence.supported <= 1.0
    assert 0.0 <= result.consistency <= 1.0


def unsupported(result: Grounding) -> list[str]:
    return [span.text for sentence in result.sentences for span in sentence.unsupported]


def test_a_summary_copied_from_the_source_is_fully_supported() -> None:
    summary = "The deal was signed by Iranian Defence Minister Amir Hatami and his Syrian counterpart Ali Ayoub."
    result = ground(SOURCE, summary)
    assert_exact(SOURCE, summary, result)
    assert unsupported(result) == []
    assert result.consistency == 1.0
    (sentence,) = result.sentences
    best = sentence.support[0]
    assert SOURCE[best.offset : best.offset + best.length] == summary
    assert best.score == 1.0


def test_several_copied_sentences_point_at_their_own_evidence() -> None:
    sentences = split_sentences(SOURCE)
    summary = f"{sentences[3].text} {sentences[0].text}"
    result = ground(SOURCE, summary)
    assert_exact(SOURCE, summary, result)
    assert unsupported(result) == []
    assert [s.support[0].offset for s in result.sentences] == [sentences[3].offset, sentences[0].offset]
    assert result.consistency == 1.0


def test_an_invented_name_is_listed_as_one_span() -> None:
    # The case: a model added a "Russian President Alexander Lavrentyev" found nowhere.
    summary = (
        "Iran and Syria signed a defence agreement in Tehran. "
        "The deal was welcomed by Russian President Alexander Lavrentyev."
    )
    result = ground(SOURCE, summary)
    assert_exact(SOURCE, summary, result)
    first, second = result.sentences
    assert first.unsupported == ()
    assert [(s.text, s.kind) for s in second.unsupported] == [("President Alexander Lavrentyev", "name")]
    assert second.supported < first.supported
    # "Russian" matches "Russia" in the source; the evidence of the first sentence is the first source sentence.
    assert first.support[0].offset == 0


@pytest.mark.parametrize(
    ("summary", "swapped", "kind"),
    [
        ("The deal was signed by Iranian Defence Minister Amir Rouhani.", "Rouhani", "name"),
        ("Officials said 12 people attended the ceremony in 2018.", "12", "number"),
        ("Officials said 15 people attended the ceremony in 2019.", "2019", "number"),
        ("Iran and Syria signed a defence cooperation agreement in Tehran on Monday.", "Monday", "date"),
        ("It covers the rebuilding of Syria's army, which has fought a nine-year war.", "nine", "number"),
    ],
)
def test_a_swapped_name_number_or_date_is_listed(summary: str, swapped: str, kind: str) -> None:
    result = ground(SOURCE, summary)
    assert_exact(SOURCE, summary, result)
    assert [(s.text, s.kind) for s in result.sentences[0].unsupported] == [(swapped, kind)]
    faithful = ground(SOURCE, summary.replace(swapped, _original(swapped)))
    assert unsupported(faithful) == []
    assert result.consistency < faithful.consistency


def _original(swapped: str) -> str:
    return {"Rouhani": "Hatami", "12": "15", "2019": "2018", "Monday": "Sunday", "nine": "eight"}[swapped]


@pytest.mark.parametrize(
    ("source", "summary"),
    [
        ("Two million people fled the city.", "2 million people fled the city."),
        ("2,000,000 people fled the city.", "Two million people fled the city."),
        ("Prices rose by 15 per cent last year.", "Prices rose by 15% last year."),
        ("Prices rose by fifteen percent last year.", "Prices rose by 15 per cent last year."),
        ("He came third in the race.", "He came 3rd in the race."),
        ("Twenty-five people were hurt.", "25 people were hurt."),
        ("The company lost £2m in 2020.", "The company lost 2 million pounds in 2020."),
        ("The United States and the UK agreed.", "The U.S. and the United Kingdom agreed."),
        ("Mr. Smith's car was found in Sept. 2019.", "Mr Smith 's car was found in September 2019."),
        ("The team don't play on Sundays.", "the team do n't play on sundays ."),
        ("The centre was organised by the council.", "The center was organized by the council."),
        ("Jones won the match.", "Jones wins the match."),
    ],
)
def test_normalization_matches_the_same_content_written_differently(source: str, summary: str) -> None:
    result = ground(source, summary)
    assert_exact(source, summary, result)
    assert unsupported(result) == []


def test_a_lower_cased_tokenized_source_like_xsum() -> None:
    source = (
        "the u.s. government said it would n't pay the £ 1 . 5 m fee to the company 's owners . "
        "a spokesman said the decision was final . some 53 , 000 workers are affected ."
    )
    summary = (
        "The US government said it won't pay the £1.5m fee to the company's owners. About 53,000 workers are affected."
    )
    result = ground(source, summary)
    assert_exact(source, summary, result)
    assert unsupported(result) == []
    assert result.consistency > 0.5


def test_in_a_lower_cased_summary_unmatched_content_words_are_listed() -> None:
    # Names cannot be told by capitals here: every unmatched content word is named, as a word.
    source = "a g4s security van was robbed outside a bank in glasgow city centre . police said three men took cash ."
    summary = "a security van was robbed outside a bank in edinburgh ."
    result = ground(source, summary)
    assert_exact(source, summary, result)
    assert [(s.text, s.kind) for s in result.sentences[0].unsupported] == [("edinburgh", "word")]


def test_quoted_words_missing_from_the_source_are_listed() -> None:
    source = "The minister said the plan was a failure. She resigned on Friday."
    summary = "The minister called the plan 'a total disaster'."
    result = ground(source, summary)
    assert_exact(source, summary, result)
    assert [(s.text, s.kind) for s in result.sentences[0].unsupported] == [("total disaster", "quote")]


def test_offsets_are_exact_with_cjk_text() -> None:
    source = "东京是日本的首都。大阪在关西地区。今年有三千万游客来到日本。"
    summary = "东京是日本的首都。京都有很多寺庙。"
    result = ground(source, summary)
    assert_exact(source, summary, result)
    first, second = result.sentences
    assert first.text == "东京是日本的首都。" and first.supported == 1.0
    assert first.support[0].offset == 0 and first.support[0].length == len("东京是日本的首都。")
    assert second.offset == len("东京是日本的首都。")
    # 京 and 都 are in the source (东京, 首都); 很, 多, 寺 and 庙 are not.
    assert unsupported(result) == ["很多寺庙"]
    assert second.supported < first.supported


def test_offsets_are_exact_with_curly_quotes() -> None:
    source = "“We will not give up,” said Maria Lopez. Lopez’s team won 3–1 on Saturday. ‘It was hard,’ she added."
    summary = "Maria Lopez said “we will not give up.” Lopez’s team won 3–1 on Sunday."
    result = ground(source, summary)
    assert_exact(source, summary, result)
    assert [(s.text, s.kind) for s in result.sentences[1].unsupported] == [("Sunday", "date")]
    assert result.sentences[0].unsupported == ()


def test_regions_restrict_the_search() -> None:
    part_one = "The council approved a new library on Monday. It will open next year."
    part_two = " Separately, the mayor announced a budget of 40 million dollars for roads."
    source = part_one + part_two
    summary = "The mayor announced a 40 million dollar budget for roads."
    inside = ground(source, summary, regions=[(len(part_one), len(part_two))])
    assert_exact(source, summary, inside)
    assert unsupported(inside) == []
    evidence = inside.sentences[0].support[0]
    assert evidence.offset >= len(part_one)
    assert source[evidence.offset : evidence.offset + evidence.length] == part_two.strip()

    outside = ground(source, summary, regions=[(0, len(part_one))])
    assert_exact(source, summary, outside)
    assert "40 million" in unsupported(outside)
    assert all(e.offset + e.length <= len(part_one) for s in outside.sentences for e in s.support)
    assert outside.consistency < inside.consistency


def test_overlapping_regions_are_merged_and_windows_stay_inside_one_region() -> None:
    sentences = split_sentences(SOURCE)
    text = sentences[2].text
    overlapping = [(0, sentences[1].end), (sentences[1].offset, sentences[2].end - sentences[1].offset)]
    assert ground(SOURCE, text, regions=overlapping) == ground(SOURCE, text, regions=[(0, sentences[2].end)])

    # Two sentences fused into one: in one region the evidence is one window of both,
    # in two adjacent regions it is two windows, one per region.
    fused = "Iran and Syria signed a defence deal signed by Amir Hatami and Ali Ayoub."
    one = ground(SOURCE, fused, regions=[(0, sentences[1].end)]).sentences[0].support
    assert [(e.offset, e.offset + e.length) for e in one] == [(0, sentences[1].end)]
    two = ground(SOURCE, fused, regions=[(0, sentences[0].end), (sentences[1].offset, sentences[1].length)])
    windows = sorted((e.offset, e.offset + e.length) for e in two.sentences[0].support)
    assert windows == [(0, sentences[0].end), (sentences[1].offset, sentences[1].end)]


def test_a_map_reduce_summary_finds_its_evidence_in_the_chunks_that_fed_it() -> None:
    first = "The mayor spoke at the opening. Protesters criticised the new school."
    second = "The mayor spoke at the opening. Crowds cheered the new bridge."
    source = f"{first} {second}"
    chunks = [
        ChunkSummary(0, len(first), "Protesters criticised a new school."),
        ChunkSummary(len(first) + 1, len(second), "The mayor opened a new bridge to cheers."),
    ]
    summary = "The mayor spoke at the opening of the bridge."
    # Searched everywhere, the first copy of the repeated sentence wins; fed by the second chunk, only it counts.
    assert ground(source, summary).sentences[0].support[0].offset == 0
    result = ground_chunked(source, summary, chunks)
    assert_exact(source, summary, result)
    (sentence,) = result.sentences
    assert [source[e.offset : e.offset + e.length] for e in sentence.support] == [second]
    assert sentence.unsupported == ()
    assert ground_chunked(source, summary, []) == ground(source, summary)


def test_a_region_outside_the_source_is_an_error() -> None:
    with pytest.raises(ValueError, match="outside"):
        ground("short text", "text", regions=[(5, 100)])


def test_an_empty_summary_claims_nothing() -> None:
    for summary in ("", "   \n"):
        result = ground(SOURCE, summary)
        assert result.sentences == ()
        assert result.consistency == 1.0


def test_an_empty_source_supports_nothing() -> None:
    result = ground("", "Iran and Syria signed a deal.")
    assert result.sentences[0].support == ()
    assert result.consistency < 0.5


def test_a_paraphrase_scores_between_a_copy_and_an_invention() -> None:
    copy = ground(SOURCE, "Russia was not part of the talks.").consistency
    paraphrase = ground(SOURCE, "The talks did not include Russia.").consistency
    invention = ground(SOURCE, "The talks did not include China or Turkey.").consistency
    assert copy > paraphrase > invention


def test_a_source_index_grounds_many_summaries() -> None:
    index = SourceIndex(SOURCE)
    for summary in ("Iran and Syria signed a deal.", "Officials said 15 people attended."):
        assert index.ground(summary) == ground(SOURCE, summary)


def test_to_dict_has_the_api_shape() -> None:
    summary = "Iran and Syria signed a deal in Tehran. Vladimir Putin attended."
    payload = ground(SOURCE, summary).to_dict()
    assert set(payload) == {"consistency", "sentences"}
    first, second = payload["sentences"]
    assert set(first) == {"text", "offset", "length", "support", "supported", "unsupported"}
    assert set(first["support"][0]) == {"offset", "length", "score"}
    offset = summary.index("Vladimir Putin")
    assert second["unsupported"] == [{"text": "Vladimir Putin", "offset": offset, "length": 14, "kind": "name"}]


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("Two million", ["2000000"]),
        ("2.5bn", ["2500000000"]),
        ("53 , 193 , 914", ["53193914"]),
        ("122 . 5", ["122.5"]),
        ("£ 1 . 5 m", ["£", "1500000"]),
        ("twenty-five", ["25"]),
        ("U.S. US united states", ["USA", "USA", "USA"]),
        ("don't do n't", ["do", "not", "do", "not"]),
        ("won win", ["win", "win"]),
        ("Obama's", ["obama"]),
    ],
)
def test_token_keys(text: str, keys: list[str]) -> None:
    tokens = tokenize(text)
    assert [t.key for t in tokens] == keys
    for token in tokens:
        assert text[token.start : token.end].strip() == text[token.start : token.end]


def test_each_source_sentence_copied_alone_lists_nothing_even_where_a_decimal_was_cut() -> None:
    # The splitter cuts tokenized "1 . 3 billion" after "1 ."; both halves must still match.
    source = "The firm lost 1 . 3 billion dollars last year . Its chief said 2015 was worse ."
    assert [s.text for s in split_sentences(source)][:2] == ["The firm lost 1 .", "3 billion dollars last year ."]
    index = SourceIndex(source)
    for sentence in split_sentences(source):
        assert unsupported(index.ground(sentence.text)) == []


def test_agreement_with_a_judgments_file(tmp_path: Path) -> None:
    faithful = "Russia was not part of the talks."
    invented = "China hosted the talks on Monday and 40 people attended."
    lines = [
        {"document": SOURCE, "summary": faithful, "consistency": 1.0, "id": "a"},
        {"document": SOURCE, "summary": invented, "consistency": 0.0},
        {"document": SOURCE, "summary": "Iran and Syria signed a defence deal.", "consistency": 1},
        {"document": SOURCE, "summary": "Officials said 90 people attended in 2021.", "consistency": 0},
    ]
    path = tmp_path / "judgments.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n", encoding="utf-8")
    judgments = load_judgments(path)
    assert [j.consistency for j in judgments] == [1.0, 0.0, 1.0, 0.0]
    rows = agreement(judgments)
    assert [r.score for r in rows] == [GROUNDING, *BASELINES]
    grounding = rows[0]
    assert grounding.n == 4 and grounding.pearson > 0.9 and grounding.spearman > 0.8
    constant = agreement([Judgment(SOURCE, faithful, 1.0)] * 3, [GROUNDING])
    assert math.isnan(constant[0].pearson) and math.isnan(constant[0].spearman)


def test_a_judgments_line_without_its_fields_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"document": "a", "summary": "b", "consistency": 1}\n{"document": "a"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.jsonl:2"):
        load_judgments(path)


def test_a_judgments_line_that_is_not_json_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('\n{"document": "a", "summary": "b", "consistency": 1}\n{oops\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.jsonl:3: line 3 is not valid JSON"):
        load_judgments(path)


def test_ngram_coverage_baseline() -> None:
    assert ngram_coverage("the cat sat on the mat", "The cat sat.", 2) == 1.0
    assert ngram_coverage("the cat sat on the mat", "the dog sat", 1) == pytest.approx(2 / 3)
    assert ngram_coverage("the cat sat on the mat", "cat", 2) == 1.0  # no bigram to check
