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

Docs/s count the summarization phase only (model loading and process teardown are
excluded for every way: (a) and (b) time themselves, (c) from its progress bar's first
line to its "written" line, (d) once /ready answers). Peak memory is
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
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "cnndm" / "test.jsonl"
WORK = ROOT / ".bench"
PYTHON = sys.executable
DOCSUM = str(Path(PYTHON).with_name("docsum"))
VOCAB_SIZE = 50264
GENERATION = {
    # distilbart-cnn-12-6's generation_config.json
    "num_beams": 4,
    "max_length": 142,
    "min_length": 56,
    "no_repeat_ngram_size": 3,
    "early_stopping": True,
    "length_penalty": 2.0,
}


@dataclass
class Outcome:
    way: str
    beams: int
    docs: int
    seconds: float
    peak_rss: int
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.docs / self.seconds


# -- the checkpoint and the documents -------------------------------------------------------


def build_checkpoint(path: Path, documents: list[str]) -> Path:
    """distilbart-cnn-12-6's shape, random weights, a BPE tokenizer trained on the documents."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import BartConfig, BartForConditionalGeneration, BartTokenizer, GenerationConfig

    trained = Tokenizer(models.BPE())
    trained.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE - 1,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    trained.train_from_iterator(documents, trainer)
    model_json = json.loads(trained.to_str())["model"]
    vocab: dict[str, int] = dict(model_json["vocab"])
    while len(vocab) < VOCAB_SIZE - 1:
        vocab[f"<unused{len(vocab)}>"] = len(vocab)
    vocab["<mask>"] = len(vocab)
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model_json["merges"]]
    tokenizer = BartTokenizer(vocab=vocab, merges=merges, model_max_length=1024)
    config = BartConfig(
        vocab_size=VOCAB_SIZE,
        d_model=1024,
        encoder_layers=12,
        decoder_layers=6,
        encoder_attention_heads=16,
        decoder_attention_heads=16,
        encoder_ffn_dim=4096,
        decoder_ffn_dim=4096,
        max_position_embeddings=1024,
        bos_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=2,
        forced_eos_token_id=2,
    )
    torch.manual_seed(0)
    model = BartForConditionalGeneration(config).eval()
    with torch.no_grad():  # special tokens never win a step (see tests/checkpoints.py)
        model.final_logits_bias[:, tokenizer.all_special_ids] = -10.0
    model.generation_config = GenerationConfig(
        **GENERATION,
        bos_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=2,
        forced_bos_token_id=0,
        forced_eos_token_id=2,
    )
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=".build-"))
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    staging.rename(path)
    return path


def prepare(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    """The checkpoint, its CTranslate2 int8 conversion, and the documents as JSONL."""
    WORK.mkdir(exist_ok=True)
    records = [json.loads(line) for line in DATA.open(encoding="utf-8")]
    texts = [r.get("document") or r["text"] for r in records]
    checkpoint = Path(args.checkpoint) if args.checkpoint else WORK / "distilbart-shape"
    if not (checkpoint / "config.json").exists():
        log(f"building the checkpoint in {checkpoint} ...")
        build_checkpoint(checkpoint, texts)
    converted = WORK / f"{checkpoint.name}-ct2-int8"
    if not (converted / "model.bin").exists():
        log(f"converting to CTranslate2 int8 in {converted} ...")
        run([DOCSUM, "convert", str(checkpoint), str(converted), "--quantization", "int8", "--force"])
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    docs = WORK / f"docs-{args.docs}x{args.tokens}.jsonl"
    with docs.open("w", encoding="utf-8") as out:
        for i, text in enumerate(texts[: args.docs]):
            ids = tokenizer(text, add_special_tokens=False)["input_ids"][: args.tokens]
            out.write(json.dumps({"id": records[i].get("id", str(i)), "text": tokenizer.decode(ids)}) + "\n")
    return checkpoint, converted, docs


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
    result, peak, _ = run_measured(cmd)
    return Outcome("(b) CTranslate2 int8, batches of 8", beams, int(result["docs"]), result["seconds"], peak)


def way_batch(checkpoint: Path, docs: Path, beams: int, args: argparse.Namespace) -> Outcome:
    out = WORK / "batch-out.jsonl"
    cmd = [DOCSUM, "batch", str(docs), "-o", str(out), "--model", str(checkpoint)]
    cmd += ["--max-tokens", str(args.new_tokens), "--min-tokens", str(args.new_tokens), "--num-beams", str(beams)]
    marks: dict[str, float] = {}

    def on_stderr(line: str) -> None:
        if "start" not in marks and "summarizing:" in line:
            marks["start"] = time.perf_counter()  # the progress bar appears once the model is loaded
        if "end" not in marks and " written, " in line:
            # Its last line, once every result is written: interpreter teardown (1.1-1.7 s
            # here) is not summarizing, and (a) and (b) time themselves inside their process.
            marks["end"] = time.perf_counter()

    _, peak, ended = run_measured(cmd, on_stderr=on_stderr, expect_json=False)
    count = sum(1 for line in out.open() if "summary" in json.loads(line))
    if count != args.docs:
        raise SystemExit(f"docsum batch summarized {count} of {args.docs} documents")
    return Outcome("(c) docsum batch", beams, args.docs, marks.get("end", ended) - marks["start"], peak)


def way_serve(checkpoint: Path, docs: Path, beams: int, args: argparse.Namespace) -> Outcome:
    import psutil

    port = args.port
    env = {**os.environ, "DOCSUM_MODELS": f"bench={checkpoint}", "DOCSUM_DEFAULT_MODEL": "bench"}
    env["DOCSUM_LOG_LEVEL"] = "warning"
    server = subprocess.Popen([DOCSUM, "serve", "--port", str(port)], env=env, stderr=subprocess.DEVNULL)
    sampler = PeakSampler(psutil.Process(server.pid))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while not ready(base):
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("docsum serve did not become ready")
            time.sleep(0.2)
        texts = [json.loads(line)["text"] for line in docs.open()]
        body = {"max_tokens": args.new_tokens, "min_tokens": args.new_tokens, "num_beams": beams}
        post(base, {**body, "text": texts[0][:200], "max_tokens": 2, "min_tokens": 2})  # first request's set-up
        next_doc = iter(range(len(texts)))
        lock = threading.Lock()
        latencies: list[float] = []

        def client() -> None:
            while True:
                with lock:
                    index = next(next_doc, None)
                if index is None:
                    return
                sent = time.perf_counter()
                post(base, {**body, "text": texts[index]})
                with lock:
                    latencies.append(time.perf_counter() - sent)

        start = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            for future in [pool.submit(client) for _ in range(args.clients)]:
                future.result()
        seconds = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(30)
        sampler.stop()
    label = f"(d) docsum serve, {args.clients} clients"
    return Outcome(label, beams, len(texts), seconds, sampler.peak, sorted(latencies))


def ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/ready", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def post(base: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        base + "/v1/summarize", json.dumps(body).encode(), {"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        answer: dict[str, object] = json.loads(response.read())
    return answer


# -- process plumbing ------------------------------------------------------------------------


class PeakSampler:
    """The largest resident set of a process (and its children), sampled every 50 ms."""

    def __init__(self, process: object) -> None:
        self.process = process
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                processes = [self.process, *self.process.children(recursive=True)]  # type: ignore[attr-defined]
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
    import psutil

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # the progress bar's first line arrives as it is drawn
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1, env=env)
    sampler = PeakSampler(psutil.Process(process.pid))
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


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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
    print(f"\n{'way':42} {'beams':>5} {'docs':>4} {'docs/s':>7} {'vs (a)':>7} {'vs (b)':>7} {'peak RSS':>9}")
    for beams in beams_list:
        runs: dict[str, list[Outcome]] = {}
        for o in outcomes:
            if o.beams == beams:
                runs.setdefault(o.way[:3], []).append(o)
        by = {way: _median_run(found) for way, found in runs.items()}
        for o in by.values():
            vs_a, vs_b = (_ratio(o, by.get(base)) for base in ("(a)", "(b)"))
            print(f"{o.way:42} {beams:>5} {o.docs:>4} {o.rate:>7.2f} {vs_a:>7} {vs_b:>7} {o.peak_rss / gib:>7.2f} GiB")
            if len(runs[o.way[:3]]) > 1:
                print(f"    {o.way[:3]} docs/s in each repeat: {', '.join(f'{r.rate:.2f}' for r in runs[o.way[:3]])}")
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
    args = parser.parse_args()
    if shutil.which(DOCSUM) is None:
        raise SystemExit(f"no docsum command at {DOCSUM}: run `make install`")
    checkpoint, converted, docs = prepare(args)
    ways = {
        "a": lambda beams: way_baseline(checkpoint, docs, beams, args),
        "b": lambda beams: way_ct2(converted, docs, beams, args),
        "c": lambda beams: way_batch(checkpoint, docs, beams, args),
        "d": lambda beams: way_serve(checkpoint, docs, beams, args),
    }
    chosen = [w.strip() for w in args.ways.split(",")]
    beams_list = [int(b) for b in args.beams.split(",")]
    outcomes = []
    with open("/proc/loadavg") as handle:
        log(f"load average at start: {handle.read().split()[:3]}")
    for _ in range(args.repeats):  # interleaved: every way once per beam width, in turn
        for beams in beams_list:
            for way in chosen:
                log(f"running ({way}) with {beams} beam(s) ...")
                outcome = ways[way](beams)
                log(f"  {outcome.rate:.2f} docs/s")
                outcomes.append(outcome)
    with open("/proc/loadavg") as handle:
        log(f"load average at end: {handle.read().split()[:3]}")
    report(outcomes, weight_bytes(checkpoint), beams_list)


if __name__ == "__main__":
    main()
