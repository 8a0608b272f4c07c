"""Long papers through a distilbart-cnn-12-6-shaped model: docsum's chunked map-reduce
against the naive loop (cut into window-sized pieces, ``generate`` on each, one by one).

    .venv/bin/python bench/longdoc.py                  # 4 papers, greedy
    .venv/bin/python bench/longdoc.py --papers 8 --beams 4

Both ways read the same papers from ../shared/data/sumpubmed/sample.jsonl and make
60-token summaries of every piece (the random weights never stop early, so every
call generates exactly that many). The naive loop is what a user writes by hand:
fp32, the default of ``from_pretrained``, one piece at a time. docsum runs as
``docsum batch`` does (``models.runner.summarize_documents``, default settings,
``truncation: chunk``), so it also does the reduce and final passes the naive loop
skips. Model loading is not timed. Prints one table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from checkpoint import GENERATION, build_checkpoint  # noqa: E402
from common import WORK  # noqa: E402

DATA = BENCH.parent.parent / "shared" / "data" / "sumpubmed" / "sample.jsonl"
NEW_TOKENS = 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--papers", type=int, default=4, help="How many papers (of 200) to summarize.")
    parser.add_argument("--beams", type=int, default=1, help="Beam width for both ways.")
    args = parser.parse_args()
    if not DATA.is_file():
        sys.exit(f"no data at {DATA}")
    papers = [json.loads(line)["document"] for line in DATA.open()][: args.papers]
    checkpoint = _checkpoint()

    naive_seconds, naive_pieces = _naive(checkpoint, papers, args.beams)
    docsum_seconds, docsum_chunks, rounds = _docsum(checkpoint, papers, args.beams)

    words = sum(len(p.split()) for p in papers)
    print(f"\n{len(papers)} papers, {words} words, {NEW_TOKENS}-token pieces, beams={args.beams}")
    print(f"{'way':<44} {'seconds':>8} {'docs/s':>8} {'chunks/s':>9} {'chunks':>7}")
    print(
        f"{'naive: fp32, window-sized pieces one by one':<44} {naive_seconds:8.1f} "
        f"{len(papers) / naive_seconds:8.3f} {naive_pieces / naive_seconds:9.2f} {naive_pieces:7d}"
    )
    print(
        f"{'docsum: chunk (map-reduce, batched)':<44} {docsum_seconds:8.1f} "
        f"{len(papers) / docsum_seconds:8.3f} {docsum_chunks / docsum_seconds:9.2f} {docsum_chunks:7d}"
    )
    print(f"speed-up (docs/s): {naive_seconds / docsum_seconds:.2f}x; reduce rounds per paper: {rounds}")


def _checkpoint() -> Path:
    path = WORK / "distilbart-shape-pubmed"
    if not path.exists():
        WORK.mkdir(exist_ok=True)
        training = [json.loads(line)["document"] for line in DATA.open()]
        build_checkpoint(path, training)
    _force_lengths(path)
    return path


def _force_lengths(path: Path) -> None:
    """Every summary NEW_TOKENS long, as in the throughput benchmark."""
    config_path = path / "generation_config.json"
    config = json.loads(config_path.read_text())
    config.update(GENERATION, max_length=NEW_TOKENS + 1, min_length=NEW_TOKENS + 1)
    config_path.write_text(json.dumps(config, indent=2))


def _naive(checkpoint: Path, papers: list[str], beams: int) -> tuple[float, int]:
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForSeq2SeqLM.from_pretrained(checkpoint).eval()
    window = tokenizer.model_max_length - 2  # room for <s> and </s>
    pieces = 0
    started = time.perf_counter()
    for paper in papers:
        ids = tokenizer(paper, add_special_tokens=False, verbose=False)["input_ids"]
        for start in range(0, len(ids), window):
            piece = [tokenizer.bos_token_id, *ids[start : start + window], tokenizer.eos_token_id]
            with torch.inference_mode():
                model.generate(torch.tensor([piece]), num_beams=beams)  # 60 tokens: the config forces it
            pieces += 1
    return time.perf_counter() - started, pieces


def _docsum(checkpoint: Path, papers: list[str], beams: int) -> tuple[float, int, list[int]]:
    from models.runner import Document, summarize_documents
    from models.seq2seq import Seq2SeqSummarizer
    from models.types import SummaryOptions

    summarizer = Seq2SeqSummarizer.load("bench", str(checkpoint))
    documents = [Document(str(i), paper) for i, paper in enumerate(papers)]
    started = time.perf_counter()
    results = list(summarize_documents(summarizer, documents, SummaryOptions(num_beams=beams), batch_size=8))
    seconds = time.perf_counter() - started
    summaries = [r.summary for r in results]
    if any(s is None or s.chunks is None for s in summaries):
        sys.exit(f"a paper failed or was not chunked: {[r.error for r in results]}")
    chunks = sum(len(s.chunks or ()) for s in summaries if s is not None)
    return seconds, chunks, [s.reduce_rounds for s in summaries if s is not None]


if __name__ == "__main__":
    main()
