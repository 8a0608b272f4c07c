"""How many of N concurrent requests get the summary a serial run gives (issue 16, item 17).

    .venv/bin/python bench/invariance.py                               # the tiny checkpoints, 200 requests
    .venv/bin/python bench/invariance.py --checkpoint .bench/distilbart-shape --requests 48 --dtypes int8

Each request is one document through the engine (service/engine.py), as `docsum serve`
runs them: first one at a time (the reference), then all at once from ``--clients``
concurrent callers, so that the engine batches documents of different callers (and
lengths) together. Printed per checkpoint, dtype and DOCSUM_BATCH_INVARIANT: matches.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.catalog import BUILTIN_MODELS, ModelRegistry
from models.generator import TransformersGenerator
from models.loading import LoadSettings
from models.seq2seq import Seq2SeqSummarizer
from models.types import SummaryOptions
from service.engine import Engine


def texts_for(requests: int, source: Path | None, seed: int = 0) -> list[str]:
    """Documents of different lengths: sentences of the tiny checkpoints' corpus, or cut bench documents."""
    rng = random.Random(seed)
    if source is None:
        from tests.checkpoints import CORPUS

        return [" ".join(rng.sample(CORPUS, rng.randint(1, 3))) for _ in range(requests)]
    articles = [json.loads(line)["text"] for line in source.open()]
    return [rng.choice(articles)[: rng.randint(200, 1500)] for _ in range(requests)]


async def matches(
    summarizer: Seq2SeqSummarizer[TransformersGenerator], texts: list[str], clients: int, options: SummaryOptions
) -> int:
    registry = ModelRegistry(BUILTIN_MODELS, loader=lambda spec: summarizer)
    registry.add(summarizer)
    engine = Engine(registry, batch_size=16, batch_wait_ms=10, queue_size=4096)
    try:
        serial = [(await engine.summarize(summarizer.name, [text], options))[0] for text in texts]
        queue = list(enumerate(texts))
        together: dict[int, object] = {}

        async def client() -> None:
            while queue:
                index, text = queue.pop()
                [together[index]] = await engine.summarize(summarizer.name, [text], options)

        await asyncio.gather(*(client() for _ in range(clients)))
    finally:
        engine.close()
    return sum(together[i] == summary for i, summary in enumerate(serial))


def checkpoints(args: argparse.Namespace, work: Path) -> dict[str, Path]:
    if args.checkpoint:
        return {Path(args.checkpoint).name: Path(args.checkpoint)}
    from tests.checkpoints import build_tiny_bart, build_tiny_pegasus, build_tiny_t5

    return {
        "tiny BART": build_tiny_bart(work / "bart"),
        "tiny PEGASUS": build_tiny_pegasus(work / "pegasus"),
        "tiny T5": build_tiny_t5(work / "t5"),
        "tiny flan-T5": build_tiny_t5(work / "flan-t5", flan=True),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="a local checkpoint (default: the four tiny ones, built here)")
    parser.add_argument("--documents", help="JSONL of {text} to cut documents from (with --checkpoint)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=12)
    parser.add_argument("--dtypes", default="int8,bfloat16,float32")
    args = parser.parse_args()
    source = Path(args.documents) if args.documents else None
    texts = texts_for(args.requests, source)
    options = SummaryOptions(max_tokens=args.max_tokens)
    with tempfile.TemporaryDirectory() as work:
        for name, path in checkpoints(args, Path(work)).items():
            for dtype in args.dtypes.split(","):
                for invariant in (False, True):
                    settings = LoadSettings(dtype=dtype, batch_invariant=invariant)
                    summarizer = Seq2SeqSummarizer.load("model", str(path), settings)
                    same = asyncio.run(matches(summarizer, texts, args.clients, options))
                    print(f"{name} {dtype} batch_invariant={invariant}: {same} of {len(texts)} match the serial run")


if __name__ == "__main__":
    main()
