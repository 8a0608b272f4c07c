"""Through the engine: concurrent callers whose documents share model calls get what a serial run gives."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from models._speed.int8 import RowScaledInt8Linear
from models.catalog import default_loader
from models.loading import LoadSettings
from models.runner import Document
from models.seq2seq import Seq2SeqSummarizer
from models.types import Summary, SummaryOptions
from service.settings import Settings
from tests.checkpoints import CORPUS
from tests.service.engine_helpers import make_engine

TEXTS = [" ".join(CORPUS[i : i + 1 + i % 4]) for i in range(12)]  # 1 to 4 sentences: batchmates pad


class Recording:
    """The loaded summarizer, noting how many documents each model call had."""

    def __init__(self, summarizer: Seq2SeqSummarizer) -> None:
        self.inner = summarizer
        self.name, self.kind = summarizer.name, summarizer.kind
        self.sizes: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def summarize(self, texts: Sequence[str], options: SummaryOptions, **kwargs: Any) -> list[Summary]:
        self.sizes.append(len(texts))
        return self.inner.summarize(texts, options, **kwargs)


@pytest.mark.anyio
@pytest.mark.parametrize("dtype", ["int8", "bfloat16", "float32"])
@pytest.mark.parametrize("checkpoint", ["tiny_bart_dir", "tiny_t5_dir"])
async def test_concurrent_callers_get_the_summaries_of_a_serial_run(
    checkpoint: str, dtype: str, request: pytest.FixtureRequest
) -> None:
    directory = str(request.getfixturevalue(checkpoint))
    model = Recording(Seq2SeqSummarizer.load("tiny", directory, LoadSettings(dtype=dtype)))
    engine = make_engine(model, batch_size=8, batch_wait_ms=50)
    options = SummaryOptions(max_tokens=8)
    try:
        serial = {text: (await engine.summarize("tiny", [text], options))[0] for text in TEXTS}
        assert set(model.sizes) == {1}
        model.sizes.clear()
        callers = random.Random(dtype).sample(TEXTS * 2, 2 * len(TEXTS))  # 24 requests, in another order
        job = [Document(str(i), text) for i, text in enumerate(TEXTS[::-1])]  # batch work alongside
        answers, results = await asyncio.gather(
            asyncio.gather(*(engine.summarize("tiny", [text], options) for text in callers)),
            engine.summarize_documents("tiny", job, options),
        )
    finally:
        engine.close()
    assert max(model.sizes) > 1  # documents of different callers did share model calls
    assert [answer for [answer] in answers] == [serial[text] for text in callers]
    assert [result.summary for result in results] == [serial[document.text] for document in job]


@pytest.mark.parametrize("value", ["false", "true"])
def test_the_setting_reaches_the_loaded_model(monkeypatch: pytest.MonkeyPatch, tiny_bart_dir: Path, value: str) -> None:
    monkeypatch.setenv("DOCSUM_BATCH_INVARIANT", value)
    monkeypatch.setenv("DOCSUM_DTYPE", "int8")
    monkeypatch.setenv("DOCSUM_MODELS", f"tiny={tiny_bart_dir}")
    settings = Settings()
    summarizer = default_loader(settings.load_settings())(settings.catalog()["tiny"])
    assert isinstance(summarizer, Seq2SeqSummarizer)
    per_row = type(summarizer.generator.model.lm_head) is RowScaledInt8Linear
    assert per_row == (value == "true")
