"""``openai:`` against a real llama.cpp server (the bundled SmolLM2-135M GGUF, on loopback) and ``llamacpp:``
in-process: equal greedy summaries, map-reduce with provenance, streamed tokens, exact token counts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from models.backends.instruct import gguf_path
from models.backends.llamacpp import load_llamacpp
from models.backends.openai import load_remote, parse_remote
from models.catalog import BUILTIN_MODELS
from models.loading import LoadSettings
from models.remote import RemoteSummarizer
from models.remote_tokens import MARGIN
from models.types import SummaryOptions, TokenEvent
from tests.conftest import LLAMA_CONTEXT, NEWS_ARTICLE

SHORT = SummaryOptions(max_tokens=12, grounding=False)
DOCS = [
    NEWS_ARTICLE,
    "The storm closed every school in the county on Monday. Power came back to most homes by night.",
    "Scientists found that the river's fish population doubled in five years after the dam was removed.",
]


@pytest.fixture(scope="module")
def remote(llama_server: str) -> Iterator[RemoteSummarizer]:
    summarizer = load_remote("smol-remote", parse_remote(llama_server), LoadSettings())
    assert isinstance(summarizer, RemoteSummarizer)
    yield summarizer
    summarizer.close()


def test_the_server_says_its_window_and_counts_tokens(remote: RemoteSummarizer) -> None:
    assert remote.info is not None and remote.info.server == "llama.cpp"
    assert remote.context_tokens == LLAMA_CONTEXT
    body = remote._body(DOCS[1], SHORT)
    answer = remote.upstream.post_json("/v1/chat/completions", {**body, "max_tokens": 1})
    actual = answer["usage"]["prompt_tokens"]
    [counted] = remote.count_prompts([DOCS[1]], SHORT)
    assert counted - MARGIN - 2 <= actual <= counted  # never under: chunks always fit


def test_openai_summaries_equal_llamacpp_in_process_summaries(remote: RemoteSummarizer) -> None:
    path = gguf_path(BUILTIN_MODELS["smollm2-135m"].source, reader=False)
    local = load_llamacpp("smol-local", str(path), LoadSettings(threads=2), slots=1, context=LLAMA_CONTEXT)
    assert isinstance(local, RemoteSummarizer) and local.info is not None
    try:
        for doc in DOCS:  # one at a time: greedy decoding of one sequence is deterministic
            [a] = remote.summarize([doc], SHORT)
            [b] = local.summarize([doc], SHORT)
            assert a.summary and a.summary == b.summary
            assert (a.input_tokens, a.output_tokens) == (b.input_tokens, b.output_tokens)
    finally:
        local.close()


def test_a_long_document_is_map_reduced_with_exact_provenance(remote: RemoteSummarizer) -> None:
    long = " ".join([NEWS_ARTICLE] * 4)  # about 800 prompt tokens: over the 626 of the window
    [summary] = remote.summarize([long], SummaryOptions(max_tokens=20, grounding=False))
    assert summary.summary
    assert summary.chunks is not None and len(summary.chunks) >= 2
    assert " ".join(long[c.offset : c.offset + c.length] for c in summary.chunks).split() == long.split()
    assert all(chunk.summary for chunk in summary.chunks)


def test_tokens_stream_as_they_are_generated(remote: RemoteSummarizer) -> None:
    events: list[object] = []
    [summary] = remote.summarize([DOCS[2]], SHORT, on_event=events.append)
    pieces = [event.text for event in events if isinstance(event, TokenEvent)]
    assert len(pieces) >= 3
    assert summary.summary.split()[0] in "".join(pieces)


def test_a_batch_of_documents_runs_concurrently_in_the_servers_slots(remote: RemoteSummarizer) -> None:
    summaries = remote.summarize([f"Report {i}. {DOCS[1]}" for i in range(8)], SummaryOptions(max_tokens=4))
    assert len(summaries) == 8 and all(s.summary for s in summaries)
