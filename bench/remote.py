"""docsum's overhead in front of an OpenAI-compatible server: docsum -> llama.cpp against llama.cpp directly.

One llama.cpp server (xllamacpp, its own process, --slots parallel slots, the bundled
SmolLM2-135M-Instruct GGUF) serves both ways, with the same prompts (docsum's chat,
``models.instruct_prompt.messages``), greedy, at most --new-tokens new tokens:

  (a) direct: --clients concurrent clients POST /v1/chat/completions to llama.cpp
  (b) docsum: `docsum serve --model bench=openai:URL`, --clients concurrent clients POST /v1/summarize

Greedy decoding gives both ways the same answers, so the same work. The goal: (b) at least 0.95x
the docs/s of (a). Needs ../shared/data/cnndm. Each way runs --rounds times, alternating; the
best of each is reported (the machine is shared: numbers are noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from common import PYTHON, Server, log
from instruct import CNNDM, documents, gguf_file

from models.instruct_prompt import messages
from models.types import SummaryOptions

_LLAMA = """
import sys, time
import xllamacpp as xlc
p = xlc.CommonParams()
p.model.path = sys.argv[1]
p.n_parallel = int(sys.argv[3])
p.n_ctx = 1024 * p.n_parallel
p.cpuparams.n_threads = int(sys.argv[4])
p.cpuparams_batch.n_threads = int(sys.argv[4])
p.hostnames = ["127.0.0.1"]
p.port = int(sys.argv[2])
server = xlc.Server(p)
print("ready", flush=True)
while True:
    time.sleep(3600)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=900) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def timed_clients(texts: list[str], clients: int, one: Callable[[str], None]) -> float:
    """Seconds for ``clients`` threads to work through ``texts``, one document per request."""
    pending = iter(texts)
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                text = next(pending, None)
            if text is None:
                return
            one(text)

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client) for _ in range(clients)]:
            future.result()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=24)
    parser.add_argument("--words", type=int, default=350, help="each article cut to this many words")
    parser.add_argument("--new-tokens", type=int, default=60)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if not CNNDM.is_file():
        raise SystemExit(f"no data at {CNNDM}")
    texts = [json.loads(line)["text"] for line in documents(args.docs, args.words).open()]
    port = free_port()
    cmd = [PYTHON, "-c", _LLAMA, str(gguf_file()), str(port), str(args.slots), str(args.threads)]
    llama = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert llama.stdout is not None and llama.stdout.readline().strip() == "ready"
        base = f"http://127.0.0.1:{port}/v1"
        options = SummaryOptions(max_tokens=args.new_tokens)

        def direct(text: str) -> None:
            body = {"messages": messages(text, options), "max_tokens": args.new_tokens, "temperature": 0.0}
            post(f"{base}/chat/completions", body)

        entry = f"openai:{base};concurrency={args.slots}"
        best: dict[str, float] = {}
        with Server(entry, free_port()) as docsum:

            def through_docsum(text: str) -> None:
                docsum.post("/v1/summarize", {"text": text, "max_tokens": args.new_tokens, "grounding": False})

            log("warming up both ways ...")
            timed_clients(texts[: args.clients], args.clients, direct)
            timed_clients(texts[: args.clients], args.clients, through_docsum)
            for round_number in range(args.rounds):
                for way, one in (("(a) llama.cpp direct", direct), ("(b) docsum -> llama.cpp", through_docsum)):
                    seconds = timed_clients(texts, args.clients, one)
                    log(f"round {round_number + 1}: {way}: {len(texts) / seconds:.3f} docs/s")
                    best[way] = max(best.get(way, 0.0), len(texts) / seconds)
    finally:
        llama.terminate()
        llama.wait(30)
    a, b = best["(a) llama.cpp direct"], best["(b) docsum -> llama.cpp"]
    print(f"\n{args.docs} docs of {args.words} words, {args.new_tokens} new tokens, {args.clients} clients")
    print(f"(a) llama.cpp direct      {a:.3f} docs/s")
    print(f"(b) docsum -> llama.cpp   {b:.3f} docs/s   {b / a:.3f}x (a)")


if __name__ == "__main__":
    main()
