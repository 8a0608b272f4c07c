"""Pauses between decoding steps (models.yielding) on a real tiny BART: exact outputs, safe nesting."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import torch

from models.loading import LoadSettings
from models.seq2seq import Seq2SeqSummarizer
from models.types import SummaryOptions
from models.yielding import PauseGate, between_steps, has_callback, step_done
from tests.checkpoints import CORPUS


def test_the_callback_runs_after_every_step_and_changes_no_output(tiny_bart_dir: Path) -> None:
    model = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="float32"))
    texts = [" ".join(CORPUS[:3]), CORPUS[4]]
    for options in (SummaryOptions(min_tokens=10, max_tokens=10), SummaryOptions(max_tokens=8, num_beams=2)):
        plain = model.summarize(texts, options)
        steps = [0]

        def count(steps: list[int] = steps) -> None:
            steps[0] += 1

        with between_steps(count):
            paused = model.summarize(texts, options)
        assert paused == plain
        assert steps[0] >= 8  # one call per generated token, at least
    assert not has_callback()


def test_a_model_call_inside_the_callback_is_not_paused_again(tiny_bart_dir: Path) -> None:
    model = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="float32"))
    options = SummaryOptions(min_tokens=6, max_tokens=6)
    urgent_alone = model.summarize([CORPUS[5]], options)
    background_alone = model.summarize([CORPUS[1]], options)
    served: list[object] = []
    calls = 0

    def serve_urgent() -> None:
        nonlocal calls
        calls += 1
        if not served:
            served.append(model.summarize([CORPUS[5]], options))  # nested: would recurse if paused again

    with between_steps(serve_urgent):
        background = model.summarize([CORPUS[1]], options)
    assert served == [urgent_alone]
    assert background == background_alone
    assert calls >= 6


def test_the_encoder_pass_pauses_too_with_the_same_outputs(tiny_bart_dir: Path) -> None:
    model = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="float32"))
    texts = CORPUS[:5]  # each fits the window: one generate call for all five
    options = SummaryOptions(min_tokens=4, max_tokens=4)
    plain = model.summarize(texts, options)
    pauses: list[bool] = []  # per pause: whether decoding had begun (a generated token exists)

    def note() -> None:
        pauses.append(bool(decoding))

    decoding: list[int] = []
    original = model.generator.model.get_decoder().forward

    def decoder(*args: object, **kwargs: object) -> object:
        decoding.append(1)
        return original(*args, **kwargs)

    model.generator.model.get_decoder().forward = decoder
    with between_steps(note):
        assert model.summarize(texts, options) == plain
    layers = model.generator.model.config.encoder_layers
    assert pauses[:layers] == [False] * layers  # one pause after each encoder layer, before decoding
    assert pauses.count(True) >= 4  # then one after each of the 4 decoding steps


@pytest.mark.parametrize("batch_invariant", [False, True])
def test_every_encoder_layer_ends_in_a_pause_point(tiny_bart_dir: Path, batch_invariant: bool) -> None:
    settings = LoadSettings(dtype="float32", batch_invariant=batch_invariant)
    model = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), settings)
    encoder = model.generator.model.get_encoder()
    inputs = model.preprocess(CORPUS[:2])
    pauses = [0]

    def count() -> None:
        pauses[0] += 1

    with between_steps(count), torch.inference_mode():
        encoder(input_ids=inputs.input_ids, attention_mask=inputs.attention_mask)
    passes = 2 if batch_invariant else 1  # batch-invariant fp32 encodes one document at a time
    assert pauses[0] == model.generator.model.config.encoder_layers * passes


def test_parts_park_together_and_the_callback_runs_alone_on_the_calling_thread() -> None:
    caller = threading.current_thread()
    steps = {"a": 0, "b": 0}
    seen: list[tuple[threading.Thread, dict[str, int]]] = []
    lock = threading.Lock()

    def part(gate: PauseGate, name: str, count: int) -> None:
        with gate.part():
            for _ in range(count):
                with lock:
                    steps[name] += 1
                step_done()
                time.sleep(0.001)

    def callback() -> None:
        frozen = dict(steps)
        time.sleep(0.02)  # a part still running would step meanwhile
        assert steps == frozen
        seen.append((threading.current_thread(), frozen))

    def pending() -> bool:
        return len(seen) < 3 and sum(steps.values()) >= 10 * (len(seen) + 1)

    with between_steps(callback, pending):
        gate = PauseGate(2)
        workers = [threading.Thread(target=part, args=(gate, name, n)) for name, n in (("a", 40), ("b", 25))]
        for worker in workers:
            worker.start()
        gate.wait()
    for worker in workers:
        worker.join(timeout=10)
    assert not any(worker.is_alive() for worker in workers)
    assert steps == {"a": 40, "b": 25}
    assert len(seen) == 3
    assert all(thread is caller for thread, _ in seen)


def test_without_a_callback_parts_never_park() -> None:
    """Nothing to run means nothing to pause for: one part finishes while the other has not stepped yet."""
    first_finished = threading.Event()
    waited: list[bool] = []

    def first(gate: PauseGate) -> None:
        with gate.part():
            for _ in range(5):
                step_done()  # parking here would wait for the second part, which waits for this one
        first_finished.set()

    def second(gate: PauseGate) -> None:
        with gate.part():
            waited.append(first_finished.wait(timeout=5))
            step_done()

    assert not has_callback()
    gate = PauseGate(2)
    workers = [threading.Thread(target=first, args=(gate,)), threading.Thread(target=second, args=(gate,))]
    for worker in workers:
        worker.start()
    gate.wait()
    for worker in workers:
        worker.join(timeout=10)
    assert not any(worker.is_alive() for worker in workers)
    assert waited == [True]


def test_a_part_that_fails_still_lets_the_caller_go_on() -> None:
    """A part that raises leaves the gate: the caller's wait returns, the other part finishes, nobody hangs."""
    steps: list[int] = []
    failed: list[str] = []
    waited = threading.Event()

    def failing(gate: PauseGate) -> None:
        try:
            with gate.part():
                raise RuntimeError("boom")
        except RuntimeError as exc:
            failed.append(str(exc))

    def stepping(gate: PauseGate) -> None:
        with gate.part():
            for step in range(5):
                step_done()
                steps.append(step)

    def caller() -> None:
        with between_steps(lambda: None, lambda: True):  # always pending: every step offers to pause
            gate = PauseGate(2)
            workers = [threading.Thread(target=failing, args=(gate,)), threading.Thread(target=stepping, args=(gate,))]
            for worker in workers:
                worker.start()
            gate.wait()
            for worker in workers:
                worker.join(timeout=10)
        waited.set()

    running = threading.Thread(target=caller, daemon=True)
    running.start()
    running.join(timeout=10)
    assert waited.is_set(), "the caller still waits for a part that failed"
    assert failed == ["boom"]
    assert steps == [0, 1, 2, 3, 4]


def test_a_batch_in_parts_pauses_for_urgent_work_with_the_same_outputs(tiny_bart_dir: Path) -> None:
    """Background work split across single-threaded workers (int8 on CPU) parks all of them, serves, goes on."""
    model = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="int8"))
    assert model.generator.speed.generates_in_parts
    texts = CORPUS[:6]
    options = SummaryOptions(min_tokens=8, max_tokens=8)
    urgent_texts = CORPUS[6:9]
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        plain = model.summarize(texts, options)
        urgent_alone = model.summarize(urgent_texts, options)
        served: list[object] = []

        def serve_urgent() -> None:
            # In parts as well (3 documents on 2 threads): nested parts must get workers of their own.
            served.append(model.summarize(urgent_texts, options))

        with between_steps(serve_urgent, pending=lambda: len(served) < 2):
            background = model.summarize(texts, options)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert background == plain
    assert served == [urgent_alone, urgent_alone]


def test_a_single_document_in_the_parts_path_still_pauses(tiny_bart_dir: Path) -> None:
    """One document: its encoder layers pause on the calling thread, its decoding steps on their worker."""
    model = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="int8"))
    assert model.generator.speed.generates_in_parts
    options = SummaryOptions(min_tokens=8, max_tokens=8)
    pauses = [0]

    def count() -> None:
        pauses[0] += 1

    for threads in (1, 2):  # one thread: all on the caller; two: decoding on a worker
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            plain = model.summarize([CORPUS[0]], options)
            pauses[0] = 0
            with between_steps(count):
                assert model.summarize([CORPUS[0]], options) == plain
        finally:
            torch.set_num_threads(previous)
        assert pauses[0] >= 8 + model.generator.model.config.encoder_layers
