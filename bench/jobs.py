"""A job through the API against `docsum batch`, and interactive latency while the job runs.

    .venv/bin/python bench/jobs.py                      # 200 documents, the distilbart-shaped checkpoint
    .venv/bin/python bench/jobs.py --docs 40 --probes 3 # a quick look

Same documents (CNN/DailyMail test articles cut to 500 tokens), same model (the
distilbart-cnn-12-6-shaped checkpoint of bench/throughput.py, random weights),
every summary forced to 60 tokens, greedy:

  (c) `docsum batch` over the documents as a JSONL file (summarizing phase, as in bench/throughput.py)
  (j) `docsum serve`, POST /v1/jobs with the same documents: from the 202 until the job is `succeeded`
  (i) one POST /v1/summarize at a time on the idle server: median latency of --probes calls
  (p) the same calls while a second identical job runs, one every --probe-every seconds

Targets (issue 5): (j) within 10% of (c); (p) within 2x of (i).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from checkpoint import prepare
from common import Server, log
from throughput import way_batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=500, help="each document is cut to this many tokens")
    parser.add_argument("--new-tokens", type=int, default=60)
    parser.add_argument("--probes", type=int, default=5, help="interactive calls, idle and during the job")
    parser.add_argument("--probe-every", type=float, default=8.0, help="seconds between calls during the job")
    parser.add_argument("--port", type=int, default=8777)
    parser.add_argument("--checkpoint", help="a local checkpoint instead of the distilbart-shaped one")
    args = parser.parse_args()
    checkpoint, _, docs = prepare(args.docs, args.tokens, args.checkpoint, convert=False)

    log(f"(c) docsum batch over {args.docs} documents ...")
    batch = way_batch(checkpoint, docs, 1, args)
    with Server(checkpoint, args.port) as server:
        texts = [json.loads(line)["text"] for line in docs.open()]
        options = {"max_tokens": args.new_tokens, "min_tokens": args.new_tokens, "num_beams": 1}
        probe = {**options, "text": texts[0]}
        server.post("/v1/summarize", {**probe, "max_tokens": 2, "min_tokens": 2})  # first call's set-up
        log(f"(i) {args.probes} interactive calls on the idle server ...")
        idle = [server.timed("/v1/summarize", probe) for _ in range(args.probes)]
        job_body = {**options, "documents": [{"id": str(i), "text": t} for i, t in enumerate(texts)]}
        log("(j) the job ...")
        job_seconds, _ = run_job(server, job_body)
        log("(p) the job again, with interactive calls while it runs ...")
        during = run_job(server, job_body, probe=probe, probes=args.probes, every=args.probe_every)
    report(args, batch.seconds, job_seconds, idle, during)


def run_job(
    server: Server, body: dict[str, Any], *, probe: dict[str, Any] | None = None, probes: int = 0, every: float = 0
) -> tuple[float, list[float]]:
    """Seconds from the POST until the job succeeded, and the latencies of the calls made meanwhile."""
    start = time.perf_counter()
    job = server.post("/v1/jobs", body)
    latencies: list[float] = []
    next_probe = start + every
    while (state := server.get(f"/v1/jobs/{job['id']}"))["status"] in {"queued", "running"}:
        now = time.perf_counter()
        if probe is not None and len(latencies) < probes and now >= next_probe:
            latencies.append(server.timed("/v1/summarize", probe))
            next_probe = time.perf_counter() + every
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    if state["status"] != "succeeded" or state["progress"]["failed"]:
        raise SystemExit(f"the job ended {state['status']}: {state}")
    if len(latencies) < probes:
        log(f"only {len(latencies)} of {probes} calls fitted in the job; lower --probe-every")
    return seconds, latencies


def report(
    args: argparse.Namespace, batch: float, job: float, idle: list[float], during: tuple[float, list[float]]
) -> None:
    job_with_probes, probes = during
    idle_median = statistics.median(idle)
    print()
    print(f"{args.docs} documents cut to {args.tokens} tokens, {args.new_tokens} output tokens, greedy")
    print(f"{'way':52} {'seconds':>8} {'docs/s':>7}")
    print(f"{'(c) docsum batch':52} {batch:8.1f} {args.docs / batch:7.2f}")
    print(f"{'(j) POST /v1/jobs until succeeded':52} {job:8.1f} {args.docs / job:7.2f}")
    label = "    the same job, interactive calls meanwhile"
    print(f"{label:52} {job_with_probes:8.1f} {args.docs / job_with_probes:7.2f}")
    print(f"(j)/(c) time: {job / batch:.3f}  (target <= 1.10)")
    print(f"(i) idle /v1/summarize latency: median {idle_median:.2f} s  ({', '.join(f'{x:.2f}' for x in idle)})")
    if probes:
        worst = max(probes)
        print(
            f"(p) during the job: median {statistics.median(probes):.2f} s, max {worst:.2f} s  "
            f"({', '.join(f'{x:.2f}' for x in probes)})"
        )
        print(f"(p) max / (i) median: {worst / idle_median:.2f}  (target <= 2.0)")


if __name__ == "__main__":
    main()
