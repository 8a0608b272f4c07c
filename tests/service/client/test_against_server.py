"""The client and ``docsum submit`` against a real ``docsum serve`` process (the extractive model).

Includes a job run end to end where the submitting command is killed (SIGKILL) while it follows
the job, then run again: it must rejoin the same job and leave every result exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.client import AsyncClient, Client, InvalidRequestError, NotFoundError
from tests.service.features.jobs.test_durability import free_port, synthetic_documents

pytestmark = pytest.mark.slow

DOCSUM = str(Path(sys.executable).with_name("docsum"))
TEXT = (
    "The council met on Monday to discuss the river bridge. The budget for the bridge was approved. "
    "Residents asked about traffic during the works. The mayor promised a plan by the end of the year."
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("client-server")
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("DOCSUM_")}
    env.update(DOCSUM_DATA_DIR=str(data), DOCSUM_PORT=str(port), DOCSUM_LOG_LEVEL="warning")
    with (data / "server.log").open("wb") as log:
        process = subprocess.Popen([DOCSUM, "serve"], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while not _ready(url):
        assert process.poll() is None and time.monotonic() < deadline, (data / "server.log").read_text()
        time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(30)


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/ready", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_summarize_batch_stream_and_errors(server: str) -> None:
    with Client(server) as client:
        one = client.summarize(TEXT, sentences=1)
        assert one["model"] == "extractive"
        assert len(one["sentences"]) == 1
        results = client.batch([("a", TEXT), ("b", " ")], sentences=2)
        assert [r["id"] for r in results] == ["a", "b"]
        assert results[1]["error"]["code"] == "empty_document"
        events = list(client.stream(TEXT, sentences=2))
        assert events[-1].type == "summary"
        assert events[-1].text == client.summarize(TEXT, sentences=2)["summary"]
        assert any(m["name"] == "extractive" for m in client.models())
        with pytest.raises(NotFoundError) as missing:
            client.summarize(TEXT, model="no-such-model")
        assert missing.value.code == "model_not_found"
        assert missing.value.request_id
        with pytest.raises(InvalidRequestError) as bad:
            client.summarize(TEXT, max_tokens=0)
        assert bad.value.param == "max_tokens"


def test_async_client_runs_a_job_of_documents(server: str, tmp_path: Path) -> None:
    async def run() -> tuple[dict[str, object], list[str]]:
        async with AsyncClient(server) as client:
            job = await client.run_job([("x", TEXT), ("y", TEXT)], output=tmp_path / "out.jsonl", progress=False)
            stream = [event.type async for event in client.stream(TEXT)]
            return job, stream

    job, stream = asyncio.run(run())
    assert job["status"] == "succeeded"
    assert [json.loads(line)["id"] for line in (tmp_path / "out.jsonl").read_text().splitlines()] == ["x", "y"]
    assert stream[-1] == "summary"


def test_a_download_cut_off_resumes(server: str, tmp_path: Path) -> None:
    documents = synthetic_documents(20)
    out = tmp_path / "out.jsonl"
    with Client(server) as client:
        job = client.run_job(documents, output=out, progress=False, sentences=2)
        whole = out.read_bytes()
        out.write_bytes(whole[: len(whole) // 2])  # as a download killed half-way leaves it
        assert client.download(job["id"], out) == 20
    assert out.read_bytes() == whole


def test_submit_killed_while_following_rejoins_the_same_job(server: str, tmp_path: Path) -> None:
    source, out = tmp_path / "docs.jsonl", tmp_path / "docs.summaries.jsonl"
    documents = synthetic_documents(600)
    source.write_text("".join(json.dumps(d) + "\n" for d in documents))
    command = [DOCSUM, "submit", str(source), "--url", server, "--no-progress", "--interval", "0.2", "--sentences", "2"]

    first = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    assert first.stderr is not None
    announced = first.stderr.readline()  # "job ID (queued, 600 documents)": it is following now
    job_id = announced.split()[1]
    with Client(server) as client:
        at_kill = client.job(job_id)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    first.stderr.close()
    # Killed mid-follow: the job was still going and nothing was downloaded.
    assert at_kill["status"] in ("queued", "running"), at_kill
    assert not out.exists()

    again = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stderr
    assert again.stderr.splitlines()[0].startswith(f"job {job_id} ")  # the same job, not a second one
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["id"] for line in lines] == [d["id"] for d in documents]
    assert all("summary" in line for line in lines)
    with Client(server) as client:
        assert client.job(job_id)["status"] == "succeeded"
        same = client.submit_job(file=source, sentences=2)  # no key: a new job, so keys are what rejoined
        assert same["id"] != job_id
        client.cancel_job(same["id"])
