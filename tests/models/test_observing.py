"""The library's plain hook for telemetry: map-reduce tells its stages to an installed observer, on its thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager

from models.observing import Attribute, observing, stage
from models.types import SummaryOptions
from tests.fakes import WindowedFake, sentences


class Recorder:
    """Each stage as (depth, name, attributes), in the order they began."""

    def __init__(self) -> None:
        self.stages: list[tuple[int, str, dict[str, Attribute]]] = []
        self.depth = 0

    def stage(self, name: str, attributes: Mapping[str, Attribute]) -> AbstractContextManager[object]:
        return self._enter(name, dict(attributes))

    @contextmanager
    def _enter(self, name: str, attributes: dict[str, Attribute]) -> Iterator[None]:
        self.stages.append((self.depth, name, attributes))
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1


def test_map_reduce_tells_each_round_and_each_chunk_call() -> None:
    recorder = Recorder()
    with observing(recorder):
        [summary] = WindowedFake().summarize([sentences(40)], SummaryOptions())
    assert summary.reduce_rounds == 2 and summary.chunks is not None and len(summary.chunks) == 10
    assert recorder.stages == [
        (0, "map", {"round": 0, "documents": 1, "chunks": 10}),
        *[(1, "chunks", {"chunks": 2})] * 5,
        (0, "reduce", {"round": 1, "documents": 1, "chunks": 2}),
        (1, "chunks", {"chunks": 2}),
        (0, "reduce", {"final": True, "documents": 1}),
    ]


def test_a_document_that_fits_has_no_stages_and_nothing_is_told_without_an_observer() -> None:
    recorder = Recorder()
    with observing(recorder):
        WindowedFake().summarize([sentences(3)], SummaryOptions())
    assert recorder.stages == []
    with stage("map", round=0):  # no observer installed: a context that does nothing
        pass


def test_an_observer_is_its_threads_alone_and_restored_after_its_block() -> None:
    recorder, inner = Recorder(), Recorder()
    seen_elsewhere: list[int] = []

    def elsewhere() -> None:
        with stage("map"):
            seen_elsewhere.append(len(recorder.stages))

    with observing(recorder):
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
        with observing(inner), stage("chunks", chunks=1):
            pass
        with stage("map", round=0):
            pass
    with stage("reduce"):
        pass
    assert seen_elsewhere == [0]
    assert inner.stages == [(0, "chunks", {"chunks": 1})]
    assert recorder.stages == [(0, "map", {"round": 0})]
