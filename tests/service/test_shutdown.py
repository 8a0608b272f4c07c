"""A real `docsum serve` process: slow bodies time out, SIGTERM drains within its time and exits 0."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.service.features.jobs.test_durability import Server

# Starts server processes and signals them.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BODY = json.dumps({"text": "The council approved the bridge. Work starts in spring."}).encode()
JSON = {"content-type": "application/json"}


def serve(tmp_path: Path, **settings: str) -> Server:
    env = {"PYTHONPATH": str(ROOT), "DOCSUM_DATA_DIR": str(tmp_path / "data"), **settings}  # this checkout's code
    server = Server(env, tmp_path / "server.log")
    server.start()
    return server


def send_head_and(server: Server, part: bytes) -> socket.socket:
    """A POST /v1/summarize whose body is BODY, of which only ``part`` is sent now."""
    connection = socket.create_connection(("127.0.0.1", server.port))
    head = f"POST /v1/summarize HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {len(BODY)}"
    connection.sendall(head.encode() + b"\r\n\r\n" + part)
    return connection


def read_all(connection: socket.socket, timeout: float) -> bytes:
    """Everything the server sends until it closes the connection."""
    connection.settimeout(timeout)
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def exit_code(server: Server, within: float) -> tuple[int, float]:
    assert server.process is not None
    began = time.monotonic()
    try:
        code = server.process.wait(within)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running {within} s after SIGTERM: " + server.log.read_text()) from None
    return code, time.monotonic() - began


def test_a_body_that_stops_coming_gets_408_and_the_connection_closes(tmp_path: Path) -> None:
    server = serve(tmp_path, DOCSUM_BODY_TIMEOUT_SECONDS="1")
    try:
        began = time.monotonic()
        with send_head_and(server, BODY[:2]) as connection:
            answer = read_all(connection, timeout=10)
        assert time.monotonic() - began < 5
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408") and b"connection: close" in head.lower()
        assert json.loads(body)["error"]["code"] == "request_timeout"
        assert httpx.post(f"{server.url}/v1/summarize", content=BODY, headers=JSON, timeout=10).status_code == 200
    finally:
        server.stop()


def test_sigterm_refuses_new_work_lets_the_request_in_flight_finish_and_exits_0(tmp_path: Path) -> None:
    server = serve(tmp_path, DOCSUM_DRAIN_SECONDS="30")
    try:
        with send_head_and(server, BODY[:10]) as in_flight:
            time.sleep(0.3)  # the request has reached the app
            assert server.process is not None
            server.process.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            ready = httpx.get(f"{server.url}/ready", timeout=5)
            assert ready.status_code == 503 and ready.json()["error"]["code"] == "shutting_down"
            refused = httpx.post(f"{server.url}/v1/summarize", content=BODY, headers=JSON, timeout=5)
            assert refused.status_code == 503 and refused.json()["error"]["code"] == "shutting_down"
            assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200  # alive, only going away
            in_flight.sendall(BODY[10:])
            answer = read_all(in_flight, timeout=10)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
        code, took = exit_code(server, within=10)
        assert code == 0 and took < 5  # nothing left in flight: no need to wait out the 30 s
    finally:
        server.stop()


def test_a_request_that_outlasts_the_drain_is_cut_and_the_process_still_exits_0(tmp_path: Path) -> None:
    server = serve(tmp_path, DOCSUM_DRAIN_SECONDS="2", DOCSUM_BODY_TIMEOUT_SECONDS="300")
    try:
        with send_head_and(server, BODY[:2]) as stalled:
            time.sleep(0.3)
            assert server.process is not None
            server.process.send_signal(signal.SIGTERM)
            code, took = exit_code(server, within=20)
            answer = read_all(stalled, timeout=5)
        assert code == 0 and 2 <= took < 8, took
        head, _, body = answer.partition(b"\r\n\r\n")  # cut, and told so
        assert head.startswith(b"HTTP/1.1 503") and json.loads(body)["error"]["code"] == "shutting_down"
    finally:
        server.stop()
