"""``docsum batch --engine ray``: the same summarizer over Ray Data, one model per actor.

The driver (the ``docsum`` process) reads IN and writes OUT as the local engine does,
with the same functions (:mod:`service.features.jobs.batchfile`): the same input formats
(:mod:`models.inputs`, by IN's suffix), the same error lines,
``--resume`` through ``completed_ids``, the same line shape, every batch of lines
flushed and synced as it comes back. Only the documents go to the cluster, in blocks
of ``batch_size * CHUNK_BATCHES`` (the local engine's windows) put in Ray's object
store, mapped by a fixed pool of actors that load the model once each
(:class:`SummarizeWorker`) and call :func:`models.runner.summarize_documents`. Ray
Data keeps the blocks in order (``preserve_order``); every row also carries its
position among the pending lines, which places the invalid lines (kept by the
driver) between the results and checks the order.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Generator, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

from models.catalog import load_by_name_or_source
from models.errors import ModelError, ModelUnavailable
from models.runner import Document, DocumentResult, summarize_documents
from models.types import Summarizer, SummaryOptions
from service.features.jobs.batchfile import (
    CHUNK_BATCHES,
    BatchOutcome,
    Entry,
    OutputFile,
    format_line,
    read_entries,
    skip_done,
)
from service.settings import Settings

logger = logging.getLogger(__name__)

#: A Ray Data batch in the ``numpy`` format: column name to values.
Batch = dict[str, Any]


class RayEngineError(ModelUnavailable):
    """What stops a Ray run before its documents are done (no cluster, a worker that cannot load its model):
    the model cannot be served. The CLI prints it and exits 2, as for any ModelError."""


@dataclass(frozen=True, slots=True)
class RayCluster:
    """Where the actors run, and how many. ``address`` None starts a local Ray for the run."""

    address: str | None = None
    workers: int | None = None  # None: as many as the cluster's GPUs (or CPUs) fit
    gpus_per_worker: float | None = None  # None: 1 on a cluster with GPUs for a seq2seq model, else 0


def ray_missing() -> str | None:
    """Why ``--engine ray`` cannot run here, or None."""
    try:
        import ray.data  # noqa: F401
    except ImportError as exc:
        return f"--engine ray needs Ray Data ({exc}); install it with: pip install 'docsum[ray]'"
    return None


def run_ray_batch(
    model: str,
    settings: Settings,
    source: Path,
    target: Path,
    options: SummaryOptions,
    *,
    batch_size: int,
    resume: bool,
    cluster: RayCluster,
    progress: Any | None = None,
) -> BatchOutcome:
    """``run_batch`` on Ray: ``model`` is a catalog name, a local directory or a hub id,
    loaded by every actor with ``settings`` (catalog, device, dtype, threads, limits)."""
    with OutputFile(target, resume) as out:
        pending = _Pending(skip_done(read_entries(source), out.done), batch_size * CHUNK_BATCHES, model, options)
        blocks = pending.blocks()
        if (first := next(blocks, None)) is not None:  # without a document, no cluster is needed
            batches = _summarize_on_ray(chain([first], blocks), model, settings, options, batch_size, cluster)
            with _connected(cluster, settings), closing(batches):  # closing stops the actors when a write fails
                for batch in batches:
                    _advance(progress, pending.write(out, batch))
        _advance(progress, pending.finish(out))
    return out.outcome()


class SummarizeWorker:
    """A Ray actor: loads the model once, then summarizes one block of documents per call.

    A model that cannot load, or that refuses the options, does not kill the actor
    (Ray would retry it and log every attempt): each call answers with the reason in
    ``fatal``, and the driver stops with it, as the local engine does.
    """

    def __init__(self, model: str, settings: Settings, options: SummaryOptions, batch_size: int) -> None:
        logging.getLogger().setLevel(settings.log_level.upper())
        self._options = options
        self._batch_size = batch_size
        self._max_chars = settings.max_document_chars
        self._batch_tokens = settings.batch_tokens
        self._summarizer: Summarizer | None = None
        self._fatal = ""
        try:
            summarizer = load_by_name_or_source(model, settings.catalog(), settings.load_settings())
            summarizer.check_options(options)
        except ModelError as exc:
            self._fatal = exc.message
        else:
            self._summarizer = summarizer

    def __call__(self, batch: Batch) -> Batch:
        positions: list[int] = batch["position"].tolist()
        if self._summarizer is None:
            size = len(positions)
            return {"position": positions, "line": [""] * size, "failed": [True] * size, "fatal": [self._fatal] * size}
        ids, texts = batch["id"].tolist(), batch["text"].tolist()
        documents = [Document(doc_id, text) for doc_id, text in zip(ids, texts, strict=True)]
        results = list(
            summarize_documents(
                self._summarizer,
                documents,
                self._options,
                batch_size=self._batch_size,
                max_chars=self._max_chars,
                batch_tokens=self._batch_tokens,
            )
        )
        return {
            "position": positions,
            "line": [format_line(result, self._summarizer.name, self._options) for result in results],
            "failed": [result.error is not None for result in results],
            "fatal": [""] * len(results),
        }


class _Pending:
    """The lines still to do, by position: documents go out in blocks, invalid lines stay here
    until the results around them come back, and everything is written in input order."""

    def __init__(self, entries: Iterator[Entry], block_size: int, model: str, options: SummaryOptions) -> None:
        self._entries = entries
        self._block_size = block_size
        self._model = model
        self._options = options
        self._errors: dict[int, DocumentResult] = {}
        self._count = 0  # lines read so far
        self._position = 0  # lines written so far

    def blocks(self) -> Iterator[list[tuple[int, Document]]]:
        block: list[tuple[int, Document]] = []
        for position, entry in enumerate(self._entries):
            self._count = position + 1
            if entry.document is not None:
                block.append((position, entry.document))
                if len(block) == self._block_size:
                    yield block
                    block = []
            elif entry.error is not None:
                self._errors[position] = entry.error
        if block:
            yield block

    def write(self, out: OutputFile, batch: Batch) -> int:
        """Write a batch of results, after the invalid lines before each; sync; return the lines written."""
        if batch["fatal"][0]:
            raise RayEngineError(str(batch["fatal"][0]))
        before = out.written
        rows = zip(batch["position"].tolist(), batch["line"].tolist(), batch["failed"].tolist(), strict=True)
        for at, line, failed in rows:
            self._write_errors(out, stop=at)
            if at != self._position:
                raise RuntimeError(f"Ray returned pending line {at} out of order (expected {self._position})")
            out.write_line(line, failed=failed)
            self._position += 1
        out.sync()
        return out.written - before

    def finish(self, out: OutputFile) -> int:
        """Write the invalid lines after the last result; sync; return the lines written."""
        before = out.written
        self._write_errors(out, stop=self._count)
        if self._position != self._count:
            raise RuntimeError(f"Ray returned {self._position} of {self._count} pending lines")
        out.sync()
        return out.written - before

    def _write_errors(self, out: OutputFile, stop: int) -> None:
        """The invalid lines from the current position up to ``stop``, or up to the next document."""
        while self._position < stop and (error := self._errors.pop(self._position, None)) is not None:
            out.write_line(format_line(error, self._model, self._options), failed=True)
            self._position += 1


def _summarize_on_ray(
    blocks: Iterator[list[tuple[int, Document]]],
    model: str,
    settings: Settings,
    options: SummaryOptions,
    batch_size: int,
    cluster: RayCluster,
) -> Generator[Batch, None, None]:
    """The result batches, in input order, as they come back."""
    import pyarrow
    import ray
    import ray.data

    refs = [
        ray.put(
            pyarrow.table(
                {
                    "position": [at for at, _ in block],
                    "id": [document.id for _, document in block],
                    "text": [document.text for _, document in block],
                }
            )
        )
        for block in blocks
    ]
    dataset = ray.data.from_arrow_refs(refs)
    dataset.context.execution_options.preserve_order = True
    dataset.context.enable_progress_bars = False  # the CLI draws its own
    workers, gpus, cpus = _sizing(cluster, settings, model, ray.cluster_resources())
    workers = min(workers, len(refs))  # an actor without a block would only load its model
    mapped = dataset.map_batches(
        SummarizeWorker,
        fn_constructor_kwargs={"model": model, "settings": settings, "options": options, "batch_size": batch_size},
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=cpus,
        num_gpus=gpus,
        batch_size=batch_size * CHUNK_BATCHES,
        batch_format="numpy",
    )
    yield from mapped.iter_batches(batch_size=None, batch_format="numpy")


def _advance(progress: Any | None, lines: int) -> None:
    if progress is not None:
        progress.update(lines)


def _sizing(cluster: RayCluster, settings: Settings, model: str, resources: dict[str, float]) -> tuple[int, float, int]:
    """Workers, GPUs per worker and CPUs per worker (``DOCSUM_THREADS``, at least 1: Ray gives
    each actor as many torch threads as it reserves CPUs)."""
    cpus = settings.threads or 1
    gpus = cluster.gpus_per_worker
    if gpus is None:
        spec = settings.catalog().get(model)
        uses_gpu = settings.device not in ("cpu", "mps") and not (spec is not None and spec.kind == "extractive")
        gpus = 1.0 if uses_gpu and resources.get("GPU", 0) >= 1 else 0.0
    have_gpus, have_cpus = resources.get("GPU", 0), resources.get("CPU", 0)
    if gpus > have_gpus or cpus > have_cpus:
        logger.warning(
            "a worker needs %s CPUs and %s GPUs, but the Ray cluster has %s CPUs and %s GPUs: "
            "nothing runs until a node that fits joins",
            cpus,
            gpus,
            have_cpus,
            have_gpus,
        )
    fit = have_gpus / gpus if gpus else have_cpus / cpus
    return cluster.workers or max(1, int(fit)), gpus, cpus


@contextmanager
def _connected(cluster: RayCluster, settings: Settings) -> Iterator[None]:
    """Ray for the run: a session this process has already started is used (and left running);
    else ``cluster.address`` is joined, or a local Ray started, and shut down afterwards."""
    import ray

    if ray.is_initialized():
        yield
        return
    try:
        if cluster.address is None:
            cpus = max(os.cpu_count() or 1, (cluster.workers or 1) * (settings.threads or 1))
            ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING)
        else:
            ray.init(address=cluster.address, logging_level=logging.WARNING)
    except ConnectionError as exc:
        raise RayEngineError(f"cannot reach the Ray cluster at {cluster.address}: {exc}") from exc
    try:
        yield
    finally:
        ray.shutdown()
