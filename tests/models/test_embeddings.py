"""SentenceEmbedder on a tiny random BERT built offline, and the extractive summarizer with it."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import BertConfig, BertModel, BertTokenizer

from models.embeddings import SentenceEmbedder, bundled_minilm_path, resolve_embedder_source
from models.errors import InvalidInput, ModelUnavailable, UnsafeCheckpoint
from models.extractive import ExtractiveSummarizer
from models.types import Summary, SummaryOptions
from tests.checkpoints import CORPUS

_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def news_article(sentences: int) -> str:
    """A lead, then sentences that echo it (as in test_extractive)."""
    lead = "The city council approved a new budget for public transport on Monday."
    body = [f"The transport budget, report {i} said, funds trams and buses in the north." for i in range(sentences - 1)]
    return " ".join([lead, *body])


def _wordpiece_vocab() -> dict[str, int]:
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=400, special_tokens=_SPECIALS, show_progress=False)
    tokenizer.train_from_iterator(CORPUS, trainer=trainer)
    return dict(tokenizer.get_vocab())


def build_tiny_bert(path: Path, *, seed: int = 0) -> Path:
    """A 2-layer, 32-wide random BERT with a WordPiece vocabulary trained on CORPUS (safetensors)."""
    tokenizer = BertTokenizer(vocab=_wordpiece_vocab())
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertModel(config).eval()
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="module")
def embedder(tiny_bert: Path) -> SentenceEmbedder:
    return SentenceEmbedder(str(tiny_bert), device="cpu", batch_size=4)


def test_vectors_are_unit_length_rows_in_input_order(embedder: SentenceEmbedder) -> None:
    texts = list(CORPUS[:10])
    vectors = embedder.embed(texts)
    assert vectors.shape == (10, 32)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    # Batching (length-sorted, 4 at a time) does not change what a text maps to.
    one_by_one = np.stack([embedder.embed([t])[0] for t in texts])
    np.testing.assert_allclose(vectors, one_by_one, atol=1e-5)


def test_embedding_is_deterministic_and_distinguishes_texts(embedder: SentenceEmbedder) -> None:
    first = embedder.embed(list(CORPUS[:6]))
    again = embedder.embed(list(CORPUS[:6]))
    np.testing.assert_array_equal(first, again)
    cosines = first @ first.T
    assert np.all(cosines[~np.eye(6, dtype=bool)] < 0.9999)


def test_empty_input_and_long_text(embedder: SentenceEmbedder) -> None:
    assert embedder.embed([]).shape == (0, 32)
    long = " ".join(CORPUS)  # far beyond the 64 positions: truncated, not an error
    assert embedder.max_length == 64
    np.testing.assert_allclose(np.linalg.norm(embedder.embed([long]), axis=1), 1.0, rtol=1e-5)


def test_embedder_is_thread_safe(embedder: SentenceEmbedder) -> None:
    texts = list(CORPUS[:8])
    expected = embedder.embed(texts)
    results: list[np.ndarray] = []

    def work() -> None:
        results.append(embedder.embed(texts))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4
    for result in results:
        np.testing.assert_allclose(result, expected, atol=1e-6)


def test_refuses_pickled_only_and_missing_checkpoints(tiny_bert: Path, tmp_path: Path) -> None:
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((tiny_bert / "config.json").read_text())
    torch.save({}, pickled / "pytorch_model.bin")
    with pytest.raises(UnsafeCheckpoint):
        SentenceEmbedder(str(pickled), device="cpu")
    with pytest.raises(ModelUnavailable):
        SentenceEmbedder(str(tmp_path / "nowhere"), device="cpu")


def test_auto_source_is_the_bundled_package_or_a_clear_error() -> None:
    bundled = bundled_minilm_path()
    if bundled is None:
        with pytest.raises(ModelUnavailable, match=r"docsum\[embeddings\]"):
            resolve_embedder_source("auto")
    else:
        assert (bundled / "model.safetensors").is_file()
        assert resolve_embedder_source("auto") == str(bundled)
    assert resolve_embedder_source("some/hub-id") == "some/hub-id"


def _assert_valid(text: str, summary: Summary) -> None:
    assert summary.sentences
    offsets = [s.offset for s in summary.sentences]
    assert offsets == sorted(offsets)
    for sentence in summary.sentences:
        assert text[sentence.offset : sentence.offset + sentence.length] == sentence.text
        assert 0.0 <= sentence.score <= 1.0
    assert summary.summary == " ".join(s.text for s in summary.sentences)


def test_summarizer_with_embedder_returns_exact_sentences(embedder: SentenceEmbedder) -> None:
    summarizer = ExtractiveSummarizer("extractive+tiny", embedder=embedder)
    texts = [news_article(30), " ".join(CORPUS), news_article(3), "One sentence only."]
    summaries = summarizer.summarize(texts, SummaryOptions())
    assert len(summaries) == len(texts)
    for text, summary in zip(texts, summaries, strict=True):
        _assert_valid(text, summary)
    # A batch picks what one document at a time picks. Scores may differ in the last
    # rounded digit: BLAS kernels need not give bit-equal embeddings for another batch
    # (seen once CTranslate2's runtime is loaded in the same process).
    for text, summary in zip(texts, summaries, strict=True):
        alone = summarizer.summarize([text], SummaryOptions())[0]
        assert dataclasses.replace(alone, sentences=None) == dataclasses.replace(summary, sentences=None)
        assert alone.sentences is not None and summary.sentences is not None
        assert [(s.text, s.offset) for s in alone.sentences] == [(s.text, s.offset) for s in summary.sentences]
        assert [s.score for s in alone.sentences] == pytest.approx([s.score for s in summary.sentences], abs=1e-5)


def test_summarizer_with_embedder_honours_options(embedder: SentenceEmbedder) -> None:
    summarizer = ExtractiveSummarizer(embedder=embedder)
    text = " ".join(CORPUS)
    two = summarizer.summarize([text], SummaryOptions(sentences=2))[0]
    assert len(two.sentences or ()) == 2
    _assert_valid(text, two)
    focused = summarizer.summarize([text], SummaryOptions(sentences=1, query="satellite ice"))[0]
    assert focused.sentences and "satellite" in focused.sentences[0].text
    with pytest.raises(InvalidInput):
        summarizer.summarize(["  "], SummaryOptions())


def test_without_the_extra_auto_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    assert bundled_minilm_path() is None
    with pytest.raises(ModelUnavailable, match=r"docsum\[embeddings\]"):
        SentenceEmbedder("auto")
