"""The service in front of a remote model (``openai:``) whose fake server misbehaves: documented answers, never a
500, never a lost job document; GET /v1/models and /ready tell whether the server answers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from models.catalog import BUILTIN_MODELS, ModelRegistry, default_loader, probe_source
from models.loading import LoadSettings
from models.remote import RemoteConfig, RemoteSummarizer
from models.upstream import Upstream, UpstreamPolicy
from service.app import create_app
from service.features.jobs import worker
from service.settings import Settings
from tests.fake_upstream import MODEL, WINDOW, FakeUpstream, fake_upstream
from tests.service.features.jobs.test_router import result_lines, wait_for
from tests.service.features.summarize.test_streaming import events

POLICY = UpstreamPolicy(timeout_s=0.5, connect_timeout_s=0.5, retries=1, backoff_s=0.01, breaker_failures=50)
TEXT = "The council voted to rebuild the old bridge. Work starts in May and ends next year."


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    with fake_upstream() as server:
        yield server


@pytest.fixture
def client(fake: FakeUpstream, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setattr(worker, "UPSTREAM_RETRY_SECONDS", 0.2)
    remote = RemoteSummarizer("remote", Upstream(fake.base_url, policy=POLICY), RemoteConfig(model=MODEL))
    registry = ModelRegistry(BUILTIN_MODELS, default_loader(LoadSettings()), probe_source)
    registry.add(remote, source=f"openai:{fake.base_url}#{MODEL}")
    settings = Settings(default_model="remote", max_document_chars=20_000)
    with TestClient(create_app(settings, registry), raise_server_exceptions=False) as client:
        yield client
    remote.close()


def summarize(client: TestClient) -> tuple[int, dict[str, object]]:
    response = client.post("/v1/summarize", json={"text": TEXT, "max_tokens": 5, "grounding": False})
    return response.status_code, response.json()


def test_a_healthy_upstream_serves_summaries_and_reports_its_window(client: TestClient, fake: FakeUpstream) -> None:
    status, body = summarize(client)
    assert status == 200 and str(body["summary"]).startswith("The council")
    [model] = [m for m in client.get("/v1/models").json()["models"] if m["name"] == "remote"]
    assert model["upstream"] == {"url": fake.base_url, "answering": True, "context_tokens": WINDOW, "reason": None}
    assert client.get("/ready").status_code == 200


@pytest.mark.parametrize(
    ("mode", "status", "code"),
    [
        ("refuse", 503, "upstream_unavailable"),
        ("500", 503, "upstream_unavailable"),
        ("slow", 503, "upstream_unavailable"),
        ("malformed", 502, "upstream_error"),
        ("400", 502, "upstream_error"),
    ],
)
def test_faults_give_their_documented_answers(
    client: TestClient, fake: FakeUpstream, mode: str, status: int, code: str
) -> None:
    summarize(client)  # discovered while healthy
    fake.set(mode)
    fake.delay = 1.0
    got, body = summarize(client)
    assert (got, body["error"]["code"]) == (status, code)  # type: ignore[index]


def test_ready_and_models_tell_when_the_upstream_answers_wrongly(client: TestClient, fake: FakeUpstream) -> None:
    fake.set("wrong_model")
    got, body = summarize(client)
    assert (got, body["error"]["code"]) == (502, "upstream_error")  # type: ignore[index]
    ready = client.get("/ready")
    assert ready.status_code == 503 and "does not serve" in ready.json()["error"]["message"]
    [model] = [m for m in client.get("/v1/models").json()["models"] if m["name"] == "remote"]
    assert model["upstream"]["answering"] is True and "does not serve" in model["upstream"]["reason"]


def test_job_documents_wait_while_the_upstream_is_away_and_finish_when_it_is_back(
    client: TestClient, fake: FakeUpstream
) -> None:
    summarize(client)
    fake.set("500")  # every chat fails until the faults are reset
    docs = [{"id": str(i), "text": f"Document {i} is here. {TEXT}"} for i in range(6)]
    job = client.post("/v1/jobs", json={"documents": docs, "max_tokens": 4, "grounding": False}).json()
    deadline = time.monotonic() + 10
    while fake.chats < 12 and time.monotonic() < deadline:  # every document tried, and tried again later
        time.sleep(0.02)
    assert client.get(f"/v1/jobs/{job['id']}").json()["progress"]["done"] == 0
    fake.set("ok", faults=0)
    finished = wait_for(client, job["id"])
    assert finished["status"] == "succeeded" and finished["progress"]["failed"] == 0
    lines = result_lines(client, job["id"])
    assert [line["id"] for line in lines] == [str(i) for i in range(6)]
    assert all(line["summary"].startswith(f"Document {i}") for i, line in enumerate(lines))


def test_streamed_tokens_pass_through_and_a_cut_stream_ends_in_an_error_event(
    client: TestClient, fake: FakeUpstream
) -> None:
    body = {"text": TEXT, "max_tokens": 5, "grounding": False, "stream": True}
    streamed = events(client.post("/v1/summarize", json=body))
    assert "".join(data["text"] for name, data in streamed if name == "token").split() == TEXT.split()[:5]
    assert streamed[-1][0] == "summary"
    fake.set("cut")
    streamed = events(client.post("/v1/summarize", json=body))
    assert streamed[-1][0] == "error" and streamed[-1][1]["error"]["code"] == "upstream_unavailable"


def test_calls_of_a_remote_model_overlap_in_the_engine(fake: FakeUpstream) -> None:
    """With one document per call, four requests at once are four overlapping calls, not four in a row."""
    from concurrent.futures import ThreadPoolExecutor

    remote = RemoteSummarizer("remote", Upstream(fake.base_url, policy=POLICY), RemoteConfig(model=MODEL))
    registry = ModelRegistry(BUILTIN_MODELS, default_loader(LoadSettings()), probe_source)
    registry.add(remote)
    settings = Settings(default_model="remote", batch_size=1)
    with TestClient(create_app(settings, registry), raise_server_exceptions=False) as client:
        summarize(client)
        fake.set("trickle")  # 0.2 s a token: 1 s a request
        started = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: summarize(client), range(4)))
        elapsed = time.perf_counter() - started
    remote.close()
    assert [status for status, _ in answers] == [200] * 4
    assert elapsed < 3.0, elapsed  # in a row: over 4 s
