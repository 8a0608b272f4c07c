"""Throughput of the ways to run a distilbart-cnn-12-6-shaped model on this machine.

    .venv/bin/python bench/throughput.py                 # 24 documents, greedy and 4 beams, all four ways
    .venv/bin/python bench/throughput.py --docs 8 --beams 1 --baseline-docs 4   # quicker
    .venv/bin/python bench/throughput.py --ways c,d --beams 1 --repeats 5        # (d)/(c), median of 5

Each way runs as a whole process over the same documents (CNN/DailyMail test
articles cut to 500 tokens), forced to 60 output tokens:

  (a) transformers fp32, one document at a time (what the removed pipeline did)
  (b) CTranslate2 int8, batches of 8 (converted with `docsum convert`)
  (c) `docsum batch` with the default settings
  (d) `docsum serve`, with 8 concurrent clients sending one document per request

The whole-process column of (b) and (c) counts from spawn to exit, loading included:
what a user of a short `docsum batch` waits for. Docs/s count the summarization phase
only (model loading and process teardown are excluded for every way: (a) and (b) time
themselves, (c) from its progress bar's first line to its "written" line, (d) from the
first client request to the last answer). Peak memory is
the largest resident set sampled while the process ran, loading included. The
checkpoint has distilbart-cnn-12-6's shape and generation config with random
weights and a byte-level BPE trained on the documents; it is built once under
.bench/ (gitignored). The data stays where it is; nothing is copied into the repo.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from checkpoint import prepare
from common import DOCSUM, PYTHON, WORK, Server, load_average, log, run_measured


@dataclass
class Outcome:
    way: str
    beams: int
    docs: int
    seconds: float
    peak_rss: int
    latencies: list[float] = field(default_factory=list)
    # Spawn to exit, loading and teardown included: what a user of a short batch waits for ((b) and (c)).
    whole_seconds: float | None = None
    note: str = ""

    @property
    def rate(self) -> float:
        return self.docs / self.seconds


# -- the ways --------------------------------------------------------------------------------

_BASELINE = r"""
import json, sys, time, torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
path, docs, beams, new, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
texts = [json.loads(l)["text"] for l in open(docs)][:limit]
tokenizer = AutoTokenizer.from_pretrained(path)
model = AutoModelForSeq2SeqLM.from_pretrained(path, dtype=torch.float32).eval()
kwargs = {"num_beams": beams, "max_length": new + 1, "min_length": new + 1}
if beams == 1:
    kwargs.update(early_stopping=False, length_penalty=1.0)
start = time.perf_counter()
with torch.no_grad():
    for text in texts:
        encoded = tokenizer([text], return_tensors="pt", truncation=True)
        model.generate(**encoded, **kwargs)
print(json.dumps({"seconds": time.perf_counter() - start, "docs": len(texts)}))
"""

_CT2 = r"""
import json, sys, time, ctranslate2
from transformers import AutoTokenizer
path, docs, beams, new, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
texts = [json.loads(l)["text"] for l in open(docs)]
tokenizer = AutoTokenizer.from_pretrained(path + "/hf")
translator = ctranslate2.Translator(path, device="cpu", compute_type="int8", inter_threads=1, intra_threads=0)
start = time.perf_counter()
sources = [tokenizer.convert_ids_to_tokens(tokenizer(t, truncation=True)["input_ids"]) for t in texts]
translator.translate_batch(sources, [["<s>"]] * len(sources), max_batch_size=batch, beam_size=beams,
    length_penalty=2.0 if beams > 1 else 1.0, no_repeat_ngram_size=3, max_input_length=0,
    max_decoding_length=new, min_decoding_length=new)
print(json.dumps({"seconds": time.perf_counter() - start, "docs": len(texts)}))
"""


def way_baseline(checkpoint: Path, docs: Path, beams: int, args: argparse.Namespace) -> Outcome:
    cmd = [PYTHON, "-c", _BASELINE, str(checkpoint), str(docs), str(beams), str(args.new_tokens)]
    cmd.append(str(args.baseline_docs or args.docs))
    result, peak, _ = run_measured(cmd)
    return Outcome("(a) transformers fp32, one at a time", beams, int(result["docs"]), result["seconds"], peak)


def way_ct2(converted: Path, docs: Path, beams: int, args: argparse.Namespace) -> Outcome:
    cmd = [PYTHON, "-c", _CT2, str(converted), str(docs), str(beams), str(args.new_tokens), "8"]
    started = time.perf_counter()
    result, peak, ended = run_measured(cmd)
    label = "(b) CTranslate2 int8, batches of 8"
    return Outcome(label, beams, int(result["docs"]), result["seconds"], peak, whole_seconds=ended - started)


def way_batch(checkpoint: Path, docs: Path, beams: int, args: argparse.Namespace) -> Outcome:
    out = WORK / "batch-out.jsonl"
    cmd = [DOCSUM, "batch", str(docs), "-o", str(out), "--force", "--model", str(checkpoint)]  # over the last run
    cmd += ["--max-tokens", str(args.new_tokens), "--min-tokens", str(args.new_tokens), "--num-beams", str(beams)]
    marks: dict[str, float] = {}

    loaded: list[str] = []

    def on_stderr(line: str) -> None:
        if not loaded and "accelerated" in line and line.endswith("\n"):
            loaded.append(line.strip())  # which speed paths the model runs, as the CLI reports them
        if "start" not in marks and "summarizing:" in line:
            marks["start"] = time.perf_counter()  # the progress bar appears once the model is loaded
        if "end" not in marks and " written, " in line:
            # Its last line, once every result is written: interpreter teardown (1.1-1.7 s
            # here) is not summarizing, and (a) and (b) time themselves inside their process.
            marks["end"] = time.perf_counter()

    started = time.perf_counter()
    _, peak, ended = run_measured(cmd, on_stderr=on_stderr, expect_json=False)
    count = sum(1 for line in out.open() if "summary" in json.loads(line))
    if count != args.docs:
        raise SystemExit(f"docsum batch summarized {count} of {args.docs} documents")
    seconds = marks.get("end", ended) - marks["start"]
    note = loaded[0] if loaded else "(the CLI did not say which speed paths engaged)"
    return Outcome("(c) docsum batch", beams, args.docs, seconds, peak, whole_seconds=ended - started, note=note)


def way_serve(checkpoint: Path, docs: Path, beams: int, args: argparse.Namespace) -> Outcome:
    texts = [json.loads(line)["text"] for line in docs.open()]
    body = {"max_tokens": args.new_tokens, "min_tokens": args.new_tokens, "num_beams": beams}
    next_doc = iter(range(len(texts)))
    lock = threading.Lock()
    latencies: list[float] = []
    with Server(checkpoint, args.port) as server:
        server.post("/v1/summarize", {**body, "text": texts[0][:200], "max_tokens": 2, "min_tokens": 2})  # set-up

        def client() -> None:
            while True:
                with lock:
                    index = next(next_doc, None)
                if index is None:
                    return
                latency = server.timed("/v1/summarize", {**body, "text": texts[index]})
                with lock:
                    latencies.append(latency)

        start = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            for future in [pool.submit(client) for _ in range(args.clients)]:
                future.result()
        seconds = time.perf_counter() - start
    label = f"(d) docsum serve, {args.clients} clients"
    return Outcome(label, beams, len(texts), seconds, server.sampler.peak, sorted(latencies))


# -- the table -------------------------------------------------------------------------------


def weight_bytes(checkpoint: Path) -> tuple[int, int]:
    """(bytes as served in int8 mode, bytes in bf16), from the safetensors headers."""
    linear = other = tied = 0
    for file in checkpoint.glob("*.safetensors"):
        with file.open("rb") as handle:
            header = json.loads(handle.read(int.from_bytes(handle.read(8), "little")))
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            count = 1
            for size in entry["shape"]:
                count *= size
            if len(entry["shape"]) == 2 and "embed" not in name and "shared" not in name:
                linear += count
            else:
                other += count
                if name.endswith("shared.weight"):
                    tied = count  # the tied LM head gets its own int8 copy
    return linear + tied + 4 * other, 2 * (linear + other)


def _ratio(outcome: Outcome, base: Outcome | None) -> str:
    """How many times the base way's docs/s; "-" where that way did not run (--ways)."""
    return f"{outcome.rate / base.rate:.2f}x" if base is not None else "-"


def _median_run(runs: list[Outcome]) -> Outcome:
    """The run with the median docs/s (the lower middle one for an even count)."""
    return sorted(runs, key=lambda o: o.rate)[(len(runs) - 1) // 2]


def report(outcomes: list[Outcome], weights: tuple[int, int], beams_list: list[int]) -> None:
    """One line per way and beam width: its median run over --repeats (each repeat ran every way in turn)."""
    weights_bytes, bf16_bytes = weights
    gib = 1024**3
    header = f"{'way':42} {'beams':>5} {'docs':>4} {'docs/s':>7} {'vs (a)':>7} {'vs (b)':>7} {'peak RSS':>9}"
    print(f"\n{header}  whole process")
    for beams in beams_list:
        runs: dict[str, list[Outcome]] = {}
        for o in outcomes:
            if o.beams == beams:
                runs.setdefault(o.way[:3], []).append(o)
        by = {way: _median_run(found) for way, found in runs.items()}
        for o in by.values():
            vs_a, vs_b = (_ratio(o, by.get(base)) for base in ("(a)", "(b)"))
            whole = f"{o.docs / o.whole_seconds:.2f} docs/s in {o.whole_seconds:.1f} s" if o.whole_seconds else "-"
            line = f"{o.way:42} {beams:>5} {o.docs:>4} {o.rate:>7.2f} {vs_a:>7} {vs_b:>7} {o.peak_rss / gib:>7.2f} GiB"
            print(f"{line}  {whole}")
            if o.note:
                print(f"    {o.note}")
            if len(runs[o.way[:3]]) > 1:
                print(f"    {o.way[:3]} docs/s in each repeat: {', '.join(f'{r.rate:.2f}' for r in runs[o.way[:3]])}")
        if "(b)" in by and "(c)" in by and by["(b)"].whole_seconds and by["(c)"].whole_seconds:
            ratio = by["(b)"].whole_seconds / by["(c)"].whole_seconds
            print(f"    whole process, loading included: (c)/(b) = {ratio:.2f}")
        if "(c)" in by and "(d)" in by:
            d = by["(d)"]
            p50 = statistics.median(d.latencies)
            p95 = d.latencies[min(len(d.latencies) - 1, round(0.95 * (len(d.latencies) - 1)))]
            # Each repeat's (d) against the (c) of the same repeat: they ran back to back.
            ratios = [serve.rate / batch.rate for batch, serve in zip(runs["(c)"], runs["(d)"], strict=True)]
            each = f" (each repeat: {', '.join(f'{r:.2f}' for r in ratios)})" if len(ratios) > 1 else ""
            print(
                f"    (d)/(c) = {statistics.median(ratios):.2f}{each}; "
                f"(d) latency p50 {p50:.1f} s, p95 {p95:.1f} s (median run)"
            )
    print(
        f"\nweights as docsum runs them here (int8 Linear layers and LM head, fp32 embeddings and norms): "
        f"{weights_bytes / gib:.2f} GiB (2x = {2 * weights_bytes / gib:.2f} GiB); in bf16 they would be "
        f"{bf16_bytes / gib:.2f} GiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=24, help="documents per way (default 24)")
    parser.add_argument("--baseline-docs", type=int, help="documents for the slow way (a) (default: --docs)")
    parser.add_argument("--tokens", type=int, default=500, help="input tokens per document")
    parser.add_argument("--new-tokens", type=int, default=60, help="output tokens, forced")
    parser.add_argument("--beams", default="1,4", help="beam widths to measure, comma-separated")
    parser.add_argument("--ways", default="a,b,c,d", help="which ways to run, comma-separated")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of all ways; the table shows medians")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--port", type=int, default=8391)
    parser.add_argument("--checkpoint", help="a distilbart-cnn-12-6-shaped checkpoint (default: built in .bench/)")
    parser.add_argument("--dtype", help="DOCSUM_DTYPE for (c) and (d) (default: docsum's own choice, auto)")
    args = parser.parse_args()
    if args.dtype:
        os.environ["DOCSUM_DTYPE"] = args.dtype  # (c) and (d) run with this process's environment
    if shutil.which(DOCSUM) is None:
        raise SystemExit(f"no docsum command at {DOCSUM}: run `make install`")
    checkpoint, converted, docs = prepare(args.docs, args.tokens, args.checkpoint)
    ways = {
        "a": lambda beams: way_baseline(checkpoint, docs, beams, args),
        "b": lambda beams: way_ct2(converted, docs, beams, args),
        "c": lambda beams: way_batch(checkpoint, docs, beams, args),
        "d": lambda beams: way_serve(checkpoint, docs, beams, args),
    }
    chosen = [w.strip() for w in args.ways.split(",")]
    beams_list = [int(b) for b in args.beams.split(",")]
    outcomes = []
    log(f"load average at start: {load_average()}")
    for _ in range(args.repeats):  # interleaved: every way once per beam width, in turn
        for beams in beams_list:
            for way in chosen:
                log(f"running ({way}) with {beams} beam(s) ...")
                outcome = ways[way](beams)
                log(f"  {outcome.rate:.2f} docs/s")
                outcomes.append(outcome)
    log(f"load average at end: {load_average()}")
    report(outcomes, weight_bytes(checkpoint), beams_list)


if __name__ == "__main__":
    main()
