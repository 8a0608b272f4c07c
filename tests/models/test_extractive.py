from __future__ import annotations

import threading

import pytest

from models.errors import InvalidInput, UnsupportedOption
from models.extractive import ExtractiveSummarizer
from models.text import count_words
from models.types import Summarizer, Summary, SummaryOptions

TOPICS = [
    "The city council approved a new budget for public transport on Monday",
    "Bus fares will fall by ten percent for students and pensioners next year",
    "The mayor said the budget also funds two new tram lines in the north",
    "Critics argued that the council had ignored the cost of road repairs",
    "A local bakery won a national prize for its rye bread last week",
    "The transport budget will be reviewed again by the council in autumn",
    "Residents can comment on the tram plans at public meetings in March",
    "Officials expect the new tram lines to carry forty thousand people a day",
]


def news_article(sentences: int = 30) -> str:
    """A news-like article: a lead, then elaboration that echoes it."""
    body = []
    for i in range(sentences):
        topic = TOPICS[i % len(TOPICS)]
        body.append(f"{topic}, according to report number {i} from the regional press office.")
    return " ".join(body)


def summarize(text: str, **options: object) -> Summary:
    return ExtractiveSummarizer().summarize([text], SummaryOptions(**options))[0]  # type: ignore[arg-type]


def assert_exact_offsets(text: str, summary: Summary) -> None:
    assert summary.sentences
    for sentence in summary.sentences:
        assert text[sentence.offset : sentence.offset + sentence.length] == sentence.text
        assert sentence.length == len(sentence.text)
    offsets = [s.offset for s in summary.sentences]
    assert offsets == sorted(offsets)
    assert len(set(offsets)) == len(offsets)


def test_implements_the_protocol() -> None:
    model = ExtractiveSummarizer()
    assert isinstance(model, Summarizer)
    assert (model.name, model.kind, model.max_input_tokens) == ("extractive", "extractive", None)
    assert ExtractiveSummarizer("mine").name == "mine"


def test_offsets_order_and_token_counts() -> None:
    text = news_article()
    summary = summarize(text)
    assert_exact_offsets(text, summary)
    assert summary.input_tokens == count_words(text)
    assert summary.output_tokens == sum(count_words(s.text) for s in summary.sentences or ())
    assert summary.summary == " ".join(s.text for s in summary.sentences or ())
    assert summary.truncated is False


def test_typical_news_article_gets_three_to_four_sentences() -> None:
    text = news_article(30)
    assert 500 <= count_words(text) <= 700
    assert 3 <= len(summarize(text).sentences or ()) <= 4


def test_automatic_length_grows_with_the_document() -> None:
    short = len(summarize(news_article(10)).sentences or ())
    long = len(summarize(news_article(200)).sentences or ())
    assert short < long


@pytest.mark.parametrize("count", [1, 2, 5])
def test_sentences_is_an_exact_count(count: int) -> None:
    assert len(summarize(news_article(), sentences=count).sentences or ()) == count


def test_sentences_is_capped_at_what_the_document_has() -> None:
    assert len(summarize("One sentence here. And a second one.", sentences=5).sentences or ()) == 2


def test_length_presets_are_ordered() -> None:
    text = news_article(60)
    words = [summarize(text, length=preset).output_tokens for preset in ("short", "medium", "long")]
    assert words[0] < words[1] < words[2]
    assert summarize(text).output_tokens == words[1]


def test_max_tokens_caps_and_min_tokens_floors() -> None:
    text = news_article(60)
    assert summarize(text, max_tokens=40).output_tokens <= 40
    assert summarize(text, min_tokens=150).output_tokens >= 150
    # A cap below every sentence still returns one sentence rather than nothing.
    assert len(summarize(text, max_tokens=1).sentences or ()) == 1


def test_bullets_format() -> None:
    summary = summarize(news_article(), format="bullets", sentences=3)
    lines = summary.summary.split("\n")
    assert len(lines) == 3
    assert all(line.startswith("- ") for line in lines)
    assert [line[2:] for line in lines] == [s.text for s in summary.sentences or ()]


def test_query_moves_the_selection_to_relevant_sentences() -> None:
    text = news_article(30)
    plain = summarize(text, sentences=2)
    assert not any("bakery" in s.text for s in plain.sentences or ())
    asked = summarize(text, sentences=2, query="Which bakery won a prize for bread?")
    assert any("bakery" in s.text for s in asked.sentences or ())


def test_query_with_no_known_words_changes_nothing() -> None:
    text = news_article()
    assert summarize(text, query="zzzz qqqq") == summarize(text)


@pytest.mark.parametrize(
    "text",
    [
        "Die Stadt hat am Montag einen neuen Haushalt beschlossen. Die Busfahrpreise sinken um zehn Prozent. "
        "Der Bürgermeister sagte, das Geld fließe auch in zwei neue Straßenbahnlinien. "
        "Kritiker bemängelten die Kosten für Straßenreparaturen. Die Straßenbahn soll 2027 fahren.",
        "市议会周一批准了新的交通预算。学生和老人的公交票价将下降百分之十！市长说预算还将资助两条新的电车线路。"
        "批评者认为议会忽视了道路维修的费用？新电车线路预计每天运送四万人。",
        "市議会は月曜日に新しい交通予算を承認した。学生の運賃は一割下がる。市長は新しい路面電車の路線にも使われると述べた。"
        "批判する人もいる。路面電車は毎日四万人を運ぶ見込みだ。",
        "Городской совет в понедельник утвердил новый бюджет. Проезд для студентов подешевеет на десять процентов. "
        "Мэр сказал, что деньги пойдут и на две новые трамвайные линии. Критики указали на расходы на ремонт дорог.",
        "Le conseil municipal a approuvé lundi un nouveau budget. Les tarifs baisseront de dix pour cent. "
        "Le maire a déclaré que le budget financera deux nouvelles lignes de tramway. Les critiques ont protesté.",
    ],
)
def test_other_languages(text: str) -> None:
    summary = summarize(text, sentences=2)
    assert len(summary.sentences or ()) == 2
    assert_exact_offsets(text, summary)
    assert summarize(text).sentences


def test_cjk_sentences_split_on_full_width_stops() -> None:
    text = "第一句话很重要。第二句话也很重要！第三句话呢？"
    summary = summarize(text, sentences=3)
    assert [s.text for s in summary.sentences or ()] == ["第一句话很重要。", "第二句话也很重要！", "第三句话呢？"]


def test_single_sentence_and_headings() -> None:
    assert summarize("Just one sentence without a stop").summary == "Just one sentence without a stop"
    text = "RESULTS\n" + news_article(20)
    assert all(s.text != "RESULTS" for s in summarize(text).sentences or ())


@pytest.mark.parametrize("param", ["num_beams", "length_penalty", "no_repeat_ngram_size"])
def test_generation_options_are_unsupported(param: str) -> None:
    options = SummaryOptions(**{param: 2})  # type: ignore[arg-type]
    with pytest.raises(UnsupportedOption) as raised:
        ExtractiveSummarizer().check_options(options)
    assert raised.value.param == param
    with pytest.raises(UnsupportedOption):
        ExtractiveSummarizer().summarize(["A sentence."], options)


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_input_is_invalid(text: str) -> None:
    with pytest.raises(InvalidInput):
        ExtractiveSummarizer().summarize([text], SummaryOptions())


def test_batch_keeps_order_and_is_deterministic_across_threads() -> None:
    texts = [news_article(n) for n in (12, 30, 50)]
    model = ExtractiveSummarizer()
    expected = model.summarize(texts, SummaryOptions())
    results: list[list[Summary]] = []

    def work() -> None:
        results.append(model.summarize(texts, SummaryOptions()))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(result == expected for result in results)
    assert [s.input_tokens for s in expected] == [count_words(t) for t in texts]
