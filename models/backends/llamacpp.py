"""GGUF models through llama.cpp in this process: ``llamacpp:FILE.gguf[;slots=N][;context=TOKENS]``.

``pip install 'docsum[llamacpp]'`` (the ``xllamacpp`` prebuilt wheel). llama.cpp's own server
loop runs inside docsum's process, listening on a loopback port nobody else is told about:
continuous batching over ``slots`` parallel sequences (default 4), each with ``context`` tokens
(default ``LoadSettings.max_context_tokens``), on
``LoadSettings.threads`` CPU threads (0: every core). docsum talks to it exactly as to a remote
``openai:`` server (``models.remote``): the same prompts, options, map-reduce and streaming, tokens
counted by the model's own tokenizer (``/tokenize``). ``FILE`` may be ``package:MODULE/FILE.gguf``,
as for ``gguf:``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from typing import Any

from models.backends import ModelSpec
from models.backends.instruct import gguf_path
from models.errors import ModelError, ModelUnavailable
from models.loading import LoadSettings
from models.types import ModelKind, Summarizer

logger = logging.getLogger(__name__)

_SETTINGS = ("slots", "context")
_DEFAULT_SLOTS = 4


def parse_local(source: str) -> tuple[str, dict[str, int]]:
    """The file's source and its settings; ``ValueError`` saying what is wrong."""
    head, *settings = source.split(";")
    values: dict[str, int] = {}
    for setting in settings:
        key, _, value = setting.partition("=")
        if key.strip() not in _SETTINGS or not value.strip().isdigit() or int(value) < 1:
            raise ValueError(f"bad setting {setting!r}: the settings are slots=N and context=TOKENS")
        values[key.strip()] = int(value)
    return head.strip(), values


class LlamaCppBackend:
    name = "llamacpp"
    kind: ModelKind = "instruct"
    scheme: str | None = "llamacpp:"

    def probe(self, spec: ModelSpec) -> str | None:
        try:
            file, _ = parse_local(spec.source)
            gguf_path(file, reader=False)
        except ValueError as exc:
            return f"bad llamacpp: entry: {exc}"
        except ModelError as exc:
            return exc.message
        if importlib.util.find_spec("xllamacpp") is None or importlib.util.find_spec("httpx") is None:
            return "llamacpp: models need the xllamacpp package: pip install 'docsum[llamacpp]'"
        return None

    def load(self, spec: ModelSpec, settings: LoadSettings) -> Summarizer:
        if (reason := self.probe(spec)) is not None:
            raise ModelUnavailable(reason)
        file, values = parse_local(spec.source)
        return load_llamacpp(spec.name, str(gguf_path(file, reader=False)), settings, **values)


BACKEND = LlamaCppBackend()


def start_server(path: str, *, slots: int, context: int, threads: int) -> Any:
    """llama.cpp's server on a free loopback port, in this process (``listening_address`` says where)."""
    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = path
    params.n_parallel = slots
    params.n_ctx = context * slots  # llama.cpp divides it among the slots
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.hostnames = ["127.0.0.1"]
    params.port = 0
    try:
        return xlc.Server(params)
    except Exception as exc:  # xllamacpp raises RuntimeError or ValueError for a file it cannot load
        raise ModelUnavailable(f"llama.cpp cannot load {path}: {exc}") from exc


def load_llamacpp(
    name: str, path: str, settings: LoadSettings, *, slots: int = _DEFAULT_SLOTS, context: int | None = None
) -> Summarizer:
    from models.remote import RemoteConfig, RemoteSummarizer
    from models.upstream import Upstream, UpstreamPolicy

    threads = settings.threads or os.cpu_count() or 1
    server = start_server(path, slots=slots, context=context or settings.max_context_tokens, threads=threads)
    address = str(server.listening_address).rstrip("/")
    # The server is this process's own: a failure is not a network's, so retry less and trip later.
    policy = UpstreamPolicy(retries=1, breaker_failures=20)
    upstream = Upstream(f"{address}/v1", policy=policy, connections=slots * 2)
    summarizer = RemoteSummarizer(
        name, upstream, RemoteConfig(concurrency=slots), max_chunks=settings.limits.max_chunks
    )
    summarizer.keep_alive = server  # the server lives as long as the summarizer
    summarizer.discover()
    logger.info("llama.cpp serves %s for %s at %s, %d slots, %d threads", path, name, address, slots, threads)
    return summarizer
