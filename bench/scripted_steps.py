"""Decoding steps in TorchScript (models/_speed/decoding_step.py) against transformers' forward, in one process.

    .venv/bin/python bench/scripted_steps.py                          # both shapes, greedy, calls of 8
    .venv/bin/python bench/scripted_steps.py --arch pegasus --beams 4 --rounds 6

For each checkpoint shape (random weights, built once under .bench/): distilbart-cnn-12-6
(BART, post-norm, 6 decoder layers), google/pegasus-cnn_dailymail (PEGASUS, pre-norm,
16 decoder layers, a 96103-row LM head) and google/flan-t5-base (T5, 12 decoder blocks
of RMS norms, relative positions and gated-GELU layers). Loaded as docsum loads them
(int8 on a CPU with VNNI); every round summarizes the next --docs CNN/DailyMail
articles (cut to 500 tokens, 480 of T5's own, within its 512-token window; 60 output
tokens forced) once with each way, alternating which goes first. Prints seconds per
call and whether both ways wrote the same summaries.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from checkpoint import DATA, build_flan_t5_shaped, build_pegasus_shaped, cut, prepare
from common import WORK, load_average, log

import service  # noqa: F401  its process settings (OpenMP wait policy) must precede torch, which the others import lazily


@dataclass
class Result:
    shape: str
    scripted: list[float]  # seconds per call
    plain: list[float]
    same: bool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="bart,pegasus,flan-t5", help="shapes to measure, comma-separated")
    parser.add_argument("--beams", type=int, default=1)
    parser.add_argument("--docs", type=int, default=8, help="documents per call")
    parser.add_argument("--rounds", type=int, default=4, help="calls with each way")
    args = parser.parse_args()
    bart, _, docs = prepare(args.docs * args.rounds, 500, convert=False)
    pegasus = WORK / "pegasus-shape"
    if not (pegasus / "config.json").exists():
        log(f"building the checkpoint in {pegasus} ...")
        build_pegasus_shaped(pegasus, bart)
    flan_t5 = WORK / "flan-t5-shape"
    if "flan-t5" in args.arch and not (flan_t5 / "config.json").exists():
        log(f"building the checkpoint in {flan_t5} ...")
        build_flan_t5_shaped(flan_t5, [json.loads(line)["document"] for line in DATA.open(encoding="utf-8")])
    texts = [json.loads(line)["text"] for line in docs.open()]
    log(f"load average at start: {load_average()}")
    checkpoints = {"bart": bart, "pegasus": pegasus, "flan-t5": flan_t5}
    rows = [measure(name, checkpoints[name], texts, args) for name in args.arch.split(",")]
    log(f"load average at end: {load_average()}")
    header = f"{'scripted s/call':>26} {'transformers s/call':>26} {'speed-up':>8}"
    print(f"\n{'shape':9} {'beams':>5} {'docs':>4} {header}  same")
    for row in rows:
        speed_up = statistics.median(row.plain) / statistics.median(row.scripted)
        print(
            f"{row.shape:9} {args.beams:>5} {args.docs:>4} {_seconds(row.scripted):>26} {_seconds(row.plain):>26} "
            f"{speed_up:>7.2f}x  {'yes' if row.same else 'NO'}"
        )


def measure(name: str, checkpoint: Path, texts: list[str], args: argparse.Namespace) -> Result:
    from models.loading import LoadSettings
    from models.seq2seq import Seq2SeqSummarizer
    from models.types import SummaryOptions

    log(f"loading {checkpoint.name} ...")
    summarizer = Seq2SeqSummarizer.load(name, str(checkpoint), LoadSettings())
    model = summarizer.generator.model
    if "forward" not in vars(model):
        raise SystemExit(f"{name}: decoding steps are not scripted here (int8 on a CPU with VNNI only)")
    scripted_forward = model.forward
    # Within the model's own window (T5's is 512 of its tokens): a longer document would be summarized in chunks.
    texts = [cut(summarizer.tokenizer, text, min(500, summarizer.max_input_tokens - 32)) for text in texts]
    options = SummaryOptions(max_tokens=60, min_tokens=60, num_beams=args.beams)
    seconds: dict[bool, list[float]] = {True: [], False: []}
    summaries: dict[bool, list[str]] = {True: [], False: []}
    for round_number in range(args.rounds):
        batch = sorted(texts[round_number * args.docs : (round_number + 1) * args.docs], key=len, reverse=True)
        for scripted in (True, False) if round_number % 2 == 0 else (False, True):
            if scripted:
                model.forward = scripted_forward
            else:
                vars(model).pop("forward", None)  # transformers' own forward again
            started = time.perf_counter()
            summaries[scripted] += [s.summary for s in summarizer.summarize(batch, options)]
            seconds[scripted].append(time.perf_counter() - started)
        took = f"scripted {seconds[True][-1]:.2f} s, transformers {seconds[False][-1]:.2f} s"
        log(f"{name} round {round_number + 1}: {took}")
    model.forward = scripted_forward
    return Result(name, seconds[True], seconds[False], summaries[True] == summaries[False])


def _seconds(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({', '.join(f'{v:.1f}' for v in values)})"


if __name__ == "__main__":
    main()
