"""Job webhooks: the signature, the allow-list (SSRF), retries after a failed call, and the whole path
through the app, against a receiver listening on the loopback interface."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from models.catalog import ModelRegistry
from models.types import SummaryOptions
from service.app import create_app
from service.client.webhooks import sign, verify
from service.errors import InvalidRequest
from service.features.jobs.options import JobOptions
from service.features.jobs.store import JobStore
from service.features.jobs.tables import webhooks
from service.features.jobs.webhook_policy import WebhookPolicy
from service.features.jobs.webhooks import WebhookSender, WebhookSettings
from service.settings import Settings

SECRET = "s3cret"


class Receiver:
    """An HTTP server on 127.0.0.1 that answers the statuses it is given, in turn, and records each call."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.called = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append((dict(self.headers.items()), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.called.set()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_signature_verifies_and_refuses_tampering_and_replay() -> None:
    body = b'{"event":"job.finished"}'
    headers = {"x-docsum-timestamp": "1000", "X-Docsum-Signature": sign(SECRET, 1000, body)}
    assert verify(SECRET, body, headers, now=1010)
    assert not verify(SECRET, body + b" ", headers, now=1010)
    assert not verify("other", body, headers, now=1010)
    assert not verify(SECRET, body, headers, now=1000 + 301)  # replayed later
    assert not verify(SECRET, body, {**headers, "x-docsum-timestamp": "1001"}, now=1010)
    assert not verify(SECRET, body, {}, now=1000)


def resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("no such host")
        return table[host]

    return resolve


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://hooks.example.com/x", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("https://user:pw@hooks.example.com/x", "credentials"),
        ("https://evil.test/x", "allow-list"),
        ("https://example.com.evil.test/x", "allow-list"),
        ("https://inside.example.com/x", "private address"),  # a listed pattern pointing inside
        ("https://gone.example.com/x", "does not resolve"),
        ("https://[::1]/x", "allow-list"),
        ("https://hooks.example.com:99999/x", "valid URL"),
    ],
)
def test_policy_refuses(url: str, reason: str) -> None:
    policy = WebhookPolicy(
        ["*.example.com", "localhost"],
        resolver=resolver({"hooks.example.com": ["93.184.216.34"], "inside.example.com": ["10.0.0.8"]}),
    )
    with pytest.raises(InvalidRequest, match=reason) as refused:
        policy.check(url)
    assert refused.value.code == "webhook_not_allowed"


def test_policy_allows_listed_hosts_and_private_ones_only_by_name() -> None:
    policy = WebhookPolicy(
        ["*.example.com", "localhost"],
        resolver=resolver({"hooks.example.com": ["93.184.216.34"], "localhost": ["127.0.0.1", "::1"]}),
    )
    assert policy.check("https://hooks.example.com/done?x=1") == "https://hooks.example.com/done?x=1"
    assert policy.check("http://LOCALHOST:8080/hook")
    with pytest.raises(InvalidRequest, match="turned off"):
        WebhookPolicy([]).check("https://hooks.example.com/x")


def store_with_job(tmp_path: Path, url: str, clock: list[float]) -> tuple[JobStore, str]:
    store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}", clock=lambda: clock[0])
    job, _ = store.create("me", "fake", JobOptions.of(SummaryOptions()), [("1", "text")], webhook_url=url)
    store.cancel("me", job.id)  # ended: its webhook is due
    return store, job.id


def test_a_failed_call_is_retried_after_the_backoff_then_delivered(tmp_path: Path) -> None:
    clock = [1000.0]
    with Receiver([500]) as receiver:
        store, job_id = store_with_job(tmp_path, receiver.url, clock)
        policy = WebhookPolicy(["127.0.0.1"])
        sender = WebhookSender(
            store.database, policy, WebhookSettings(SECRET, backoff_seconds=30), clock=lambda: clock[0]
        )

        async def rounds() -> list[int]:
            sent = []
            for now in (1000.0, 1029.0, 1030.0, 1031.0):
                clock[0] = now
                tasks = await sender.send_due()
                await asyncio.gather(*tasks)
                sent.append(len(tasks))
            await sender.stop()
            return sent

        assert asyncio.run(rounds()) == [1, 0, 1, 0]  # the 500, nothing before the backoff, then the 200
    with store.database.connect() as conn:
        row = conn.execute(webhooks.select()).one()
    assert (row.state, row.attempts) == ("delivered", 2)
    headers, body = receiver.calls[-1]
    assert verify(SECRET, body, headers, now=1030)
    payload = json.loads(body)
    assert payload["job"]["id"] == job_id
    assert payload["job"]["status"] == "cancelled"
    assert payload["job"]["progress"] == {"total": 1, "done": 0, "failed": 0}


def test_a_webhook_is_given_up_after_its_attempts(tmp_path: Path) -> None:
    clock = [0.0]
    with Receiver([500, 503]) as receiver:
        store, _ = store_with_job(tmp_path, receiver.url, clock)
        settings = WebhookSettings(SECRET, attempts=2, backoff_seconds=1)
        sender = WebhookSender(store.database, WebhookPolicy(["127.0.0.1"]), settings, clock=lambda: clock[0])

        async def rounds() -> None:
            for now in (0.0, 5.0, 50.0):
                clock[0] = now
                await asyncio.gather(*await sender.send_due())
            await sender.stop()

        asyncio.run(rounds())
    assert len(receiver.calls) == 2
    with store.database.connect() as conn:
        row = conn.execute(webhooks.select()).one()
    assert (row.state, row.attempts, row.last_error) == ("failed", 2, "HTTP 503")


@pytest.fixture
def webhook_client(registry: ModelRegistry, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        default_model="fake",
        data_dir=tmp_path,
        webhook_hosts="127.0.0.1,*.example.com",  # type: ignore[arg-type]
        webhook_secret=SECRET,  # type: ignore[arg-type]
    )
    with TestClient(create_app(settings, registry)) as client:
        yield client


def test_a_job_ends_and_its_webhook_is_called_signed(webhook_client: TestClient) -> None:
    with Receiver([]) as receiver:
        created = webhook_client.post(
            "/v1/jobs", json={"documents": [{"id": "a", "text": "one two three"}], "webhook_url": receiver.url}
        )
        assert created.status_code == 202, created.text
        assert created.json()["webhook"] == {"state": "pending", "attempts": 0}
        assert receiver.called.wait(20)
        job_url = f"/v1/jobs/{created.json()['id']}"
        for _ in range(200):
            if webhook_client.get(job_url).json()["webhook"]["state"] == "delivered":
                break
            time.sleep(0.05)
        assert webhook_client.get(job_url).json()["webhook"] == {"state": "delivered", "attempts": 1}
    headers, body = receiver.calls[0]
    assert verify(SECRET, body, headers)
    assert json.loads(body)["job"] == {
        **json.loads(body)["job"],
        "id": created.json()["id"],
        "status": "succeeded",
        "progress": {"total": 1, "done": 1, "failed": 0},
    }


def test_a_job_naming_a_host_off_the_list_is_refused(webhook_client: TestClient) -> None:
    for url in ("http://169.254.169.254/latest/meta-data", "https://evil.test/", "gopher://127.0.0.1/"):
        refused = webhook_client.post("/v1/jobs", json={"documents": [{"id": "a", "text": "x y"}], "webhook_url": url})
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "webhook_not_allowed"
        upload = webhook_client.post(
            "/v1/jobs", files={"file": ("d.jsonl", b'{"id": "a", "text": "x y"}\n')}, data={"webhook_url": url}
        )
        assert upload.json()["error"]["code"] == "webhook_not_allowed"
    assert webhook_client.get("/v1/jobs").json()["jobs"] == []


def test_webhook_hosts_without_a_secret_do_not_start() -> None:
    with pytest.raises(ValueError, match="DOCSUM_WEBHOOK_SECRET"):
        Settings(webhook_hosts="hooks.example.com")  # type: ignore[arg-type]


def test_a_store_made_before_webhooks_gains_their_table_and_expiry_removes_them(tmp_path: Path) -> None:
    clock = [0.0]
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    old = JobStore(url, clock=lambda: clock[0])
    old.create("me", "fake", JobOptions.of(SummaryOptions()), [("1", "text")])
    webhooks.drop(old.database)  # the database as an older docsum left it
    old.close()
    store = JobStore(url, clock=lambda: clock[0], retention_seconds=10)
    job, _ = store.create("me", "fake", JobOptions.of(SummaryOptions()), [("1", "t")], webhook_url="https://h.test/")
    assert len(store.list("me", limit=10)) == 2
    store.cancel("me", job.id)
    clock[0] = 100.0
    assert store.sweep() == 1
    with store.database.connect() as conn:
        assert conn.execute(webhooks.select()).all() == []
