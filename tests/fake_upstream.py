"""A small OpenAI-compatible server on loopback that misbehaves on purpose (tests of ``models.upstream``).

It speaks as llama.cpp does (``/v1/models``, ``/props``, ``/tokenize``, ``/apply-template``,
streamed ``/v1/chat/completions``), counts one token per word, and answers every chat with
the first words of the document. ``mode`` picks a fault: ``refuse`` (the port closes),
``slow`` (no answer before ``delay`` seconds), ``429`` (with ``Retry-After``), ``500``,
``malformed`` (not JSON), ``cut`` (the stream stops in the middle), ``wrong_model`` (it lists
another model), ``400``. ``faults`` faulty answers are given, then normal ones (-1: forever).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "fake-model"
WINDOW = 512


class FakeUpstream:
    def __init__(self) -> None:
        self.mode = "ok"
        self.faults = -1
        self.delay = 2.0
        self.retry_after = "1"
        self.chats = 0  # chat completions asked for, faulty or not
        self.started_chats = threading.Semaphore(0)
        self.closed_early = 0  # streams whose reader left before the end
        self.authorizations: list[str | None] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def set(self, mode: str, faults: int = -1) -> None:
        with self.lock:
            self.mode, self.faults = mode, faults

    def fault(self) -> str:
        """The mode of this answer (``ok`` once the faults are used up)."""
        with self.lock:
            if self.faults == 0:
                return "ok"
            self.faults -= 1 if self.faults > 0 else 0
            return self.mode


@contextmanager
def fake_upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    fake.thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()


def answer_for(document: str, words: int) -> list[str]:
    """The fake's answer to a chat: the document's first words, one per streamed piece."""
    body = document.split("<document>", 1)[-1].split("</document>", 1)[0].split()
    return [word + " " for word in (body or ["Nothing."])[:words]]


def _handler(fake: FakeUpstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            mode = fake.mode if fake.faults != 0 else "ok"
            if self.path == "/v1/models":
                name = "other-model" if mode == "wrong_model" else MODEL
                self._json({"object": "list", "data": [{"id": name, "object": "model"}]})
            elif self.path == "/props":
                self._json({"default_generation_settings": {"n_ctx": WINDOW}})
            else:
                self._json({"error": "not found"}, 404)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
            fake.authorizations.append(self.headers.get("authorization"))
            if self.path == "/tokenize":
                self._json({"tokens": list(range(len(body["content"].split())))})
            elif self.path == "/apply-template":
                self._json({"prompt": " ".join(m["content"] for m in body["messages"])})
            elif self.path == "/v1/chat/completions":
                with fake.lock:
                    fake.chats += 1
                fake.started_chats.release()
                self._chat(body, fake.fault())
            else:
                self._json({"error": "not found"}, 404)

        def _chat(self, body: dict[str, Any], mode: str) -> None:
            if mode == "refuse":
                self.close_connection = True
                self.connection.close()
                return
            if mode == "slow":
                time.sleep(fake.delay)
            if mode in ("429", "500", "400"):
                headers = {"Retry-After": fake.retry_after} if mode == "429" else {}
                return self._json({"error": {"message": mode}}, int(mode), headers)
            if mode == "malformed":
                return self._raw(b"this is not json", "application/json")
            words = answer_for(body["messages"][-1]["content"], body["max_tokens"])
            self._stream(words, cut=mode == "cut", pace=0.2 if mode == "trickle" else 0.0)

        def _stream(self, words: list[str], *, cut: bool, pace: float) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            finish = "stop" if len(words) < 1_000 else "length"
            events = [{"choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]} for w in words]
            if cut:
                events = events[: max(1, len(events) // 2)]
            else:
                events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
                events.append({"choices": [], "usage": {"completion_tokens": len(words)}})
            try:
                for event in events:
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                    time.sleep(pace)
                if not cut:
                    self.wfile.write(b"data: [DONE]\n\n")
            except (BrokenPipeError, ConnectionResetError):
                with fake.lock:
                    fake.closed_early += 1
            self.close_connection = True

        def _json(self, value: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
            self._raw(json.dumps(value).encode(), "application/json", status, headers)

        def _raw(self, data: bytes, kind: str, status: int = 200, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler
