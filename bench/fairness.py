"""A job's pace while interactive requests keep arriving, with and without batch work's guaranteed share.

    .venv/bin/python bench/fairness.py                       # 20 s per run, shares 0 and 0.25
    .venv/bin/python bench/fairness.py --shares 0,0.25,0.5 --seconds 30

The engine runs in-process with a model that sleeps for its work (so the numbers are
the scheduler's, not this machine's load): a call costs ``--encode-ms`` per document
plus ``--steps`` decoding steps of ``--step-ms`` + ``--row-ms`` per document, with a
pause point after each step as generate has. With the defaults a job alone runs
calls of 16 documents at about 23 documents/s, and one interactive request alone takes
about 0.16 s. Each run: the job (at batch priority) alone for ``--seconds``; then the
job again while ``--clients`` interactive clients each send a request every
``1 / --rate`` seconds (with other options than the job's, so no job document rides
along in their calls). It prints the job's documents/s and the interactive latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.acceleration import NOT_APPLICABLE
from models.catalog import BUILTIN_MODELS, ModelRegistry
from models.runner import Document
from models.types import EventSink, ModelKind, Summary, SummaryOptions
from models.yielding import step_done
from service.engine import Engine


class SleepingModel:
    """Takes the time a seq2seq model would, by the cost model in the module docstring."""

    kind: ModelKind = "seq2seq"
    name = "sleeper"
    acceleration = NOT_APPLICABLE
    max_input_tokens = 1024

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args

    def check_options(self, options: SummaryOptions) -> None:
        del options

    def count_input_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(text) // 4 + 2 for text in texts]

    def rows_per_document(self, options: SummaryOptions) -> int:
        return options.num_beams or 1

    def summarize(
        self, texts: Sequence[str], options: SummaryOptions, *, on_event: EventSink | None = None
    ) -> list[Summary]:
        del on_event
        a = self.args
        time.sleep(a.encode_ms * len(texts) / 1000)
        for _ in range(a.steps):
            time.sleep((a.step_ms + a.row_ms * len(texts)) / 1000)
            step_done()
        return [Summary(summary="s", input_tokens=1, output_tokens=1) for _ in texts]


async def run(args: argparse.Namespace, share: float, clients: int) -> tuple[float, list[float]]:
    """The job's documents/s over ``args.seconds`` and the interactive latencies meanwhile."""
    registry = ModelRegistry(BUILTIN_MODELS, loader=lambda spec: SleepingModel(args))
    registry.add(SleepingModel(args))
    engine = Engine(registry, batch_size=16, batch_wait_ms=10, queue_size=4096, batch_share=share)
    done = 0
    latencies: list[float] = []
    stop = time.monotonic() + args.seconds

    async def job_slot(first: int) -> None:  # as service.features.jobs.worker: a few claims in flight at once
        nonlocal done
        while time.monotonic() < stop:
            documents = [Document(str(i), "job document") for i in range(16)]
            await engine.summarize_documents("sleeper", documents, SummaryOptions(max_tokens=60))
            done += len(documents) if time.monotonic() < stop else 0

    async def client(seed: int) -> None:
        rng = random.Random(seed)
        await asyncio.sleep(rng.random() / args.rate)
        while time.monotonic() < stop:
            started = time.monotonic()
            await engine.summarize("sleeper", ["a question"], SummaryOptions(max_tokens=50))
            latencies.append(time.monotonic() - started)
            await asyncio.sleep(max(0.0, 1 / args.rate - (time.monotonic() - started)))

    started = time.monotonic()
    slots = [asyncio.ensure_future(job_slot(i)) for i in range(3)]
    await asyncio.gather(*(client(seed) for seed in range(clients)), asyncio.sleep(args.seconds))
    seconds = time.monotonic() - started
    for slot in slots:
        slot.cancel()
    await asyncio.gather(*slots, return_exceptions=True)
    engine.close()
    return done / seconds, sorted(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--shares", default="0,0.25", help="DOCSUM_BATCH_SHARE values, comma-separated")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--rate", type=float, default=2.75, help="requests/s per interactive client")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--encode-ms", type=float, default=5.0)
    parser.add_argument("--step-ms", type=float, default=2.0)
    parser.add_argument("--row-ms", type=float, default=0.5)
    args = parser.parse_args()
    for share in (float(s) for s in args.shares.split(",")):
        alone, _ = asyncio.run(run(args, share, 0))
        loaded, latencies = asyncio.run(run(args, share, args.clients))
        p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
        print(
            f"batch_share {share}: job alone {alone:.1f} docs/s; with {args.clients} clients at {args.rate}/s "
            f"{loaded:.1f} docs/s; interactive latency p50 {statistics.median(latencies):.2f} s, "
            f"p95 {p95:.2f} s, max {latencies[-1]:.2f} s ({len(latencies)} requests)"
        )


if __name__ == "__main__":
    main()
