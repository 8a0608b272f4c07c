"""Process plumbing the benchmarks share: running a command while sampling its memory, and a `docsum serve` to call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".bench"  # gitignored: checkpoints, conversions, documents cut to length
PYTHON = sys.executable
DOCSUM = str(Path(PYTHON).with_name("docsum"))


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def load_average() -> list[str]:
    with open("/proc/loadavg") as handle:
        return handle.read().split()[:3]


class PeakSampler:
    """The largest resident set of a process (and its children), sampled every 50 ms."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                processes = [self.process, *self.process.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in processes))
            except psutil.Error:
                pass
            self._stop.wait(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_measured(
    cmd: list[str], on_stderr: Callable[[str], None] | None = None, expect_json: bool = True
) -> tuple[dict[str, Any], int, float]:
    """Run to the end: the last stdout line as JSON (when expected), the peak RSS, and when the process ended."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # the progress bar's first line arrives as it is drawn
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1, env=env)
    sampler = PeakSampler(process.pid)
    errors: list[str] = []

    def read_stderr() -> None:
        assert process.stderr is not None
        buffer = ""
        while chunk := process.stderr.read(1):
            buffer += chunk
            if on_stderr is not None:
                on_stderr(buffer)  # a progress bar's line ends only when it is redrawn
            if chunk in "\r\n":
                errors.append(buffer)
                buffer = ""

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    assert process.stdout is not None
    stdout = process.stdout.read()
    process.wait()
    ended = time.perf_counter()
    reader.join()
    sampler.stop()
    if process.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({process.returncode}):\n{''.join(errors)[-3000:]}")
    result = json.loads(stdout.strip().splitlines()[-1]) if expect_json else {}
    return result, sampler.peak, ended


class Server:
    """`docsum serve` with one model, its own data directory, and its peak RSS sampled from start to stop."""

    def __init__(self, checkpoint: Path | str, port: int) -> None:  # a directory, or a catalog SOURCE (gguf:...)
        self.base = f"http://127.0.0.1:{port}"
        self.data = tempfile.TemporaryDirectory(prefix="docsum-bench-")
        env = {**os.environ, "DOCSUM_MODELS": f"bench={checkpoint}", "DOCSUM_DEFAULT_MODEL": "bench"}
        env.update(DOCSUM_DATA_DIR=self.data.name, DOCSUM_LOG_LEVEL="warning")
        self.process = subprocess.Popen([DOCSUM, "serve", "--port", str(port)], env=env, stderr=subprocess.DEVNULL)
        self.sampler = PeakSampler(self.process.pid)

    def __enter__(self) -> Server:
        deadline = time.monotonic() + 300
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise SystemExit("docsum serve did not become ready")
            time.sleep(0.2)
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(30)
        self.sampler.stop()
        self.data.cleanup()

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.base + "/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"content-type": "application/json"}
        request = urllib.request.Request(self.base + path, json.dumps(body).encode(), headers)
        with urllib.request.urlopen(request, timeout=900) as response:
            answer: dict[str, Any] = json.loads(response.read())
        return answer

    def get(self, path: str) -> dict[str, Any]:
        with urllib.request.urlopen(self.base + path, timeout=60) as response:
            answer: dict[str, Any] = json.loads(response.read())
        return answer

    def text(self, path: str) -> str:
        with urllib.request.urlopen(self.base + path, timeout=60) as response:
            return str(response.read().decode())

    def timed(self, path: str, body: dict[str, Any]) -> float:
        sent = time.perf_counter()
        self.post(path, body)
        return time.perf_counter() - sent
