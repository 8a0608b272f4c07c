"""Remote models on an OpenAI-compatible server: ``openai:BASE_URL[#MODEL][;KEY=VALUE...]``.

``BASE_URL`` is the server's OpenAI API root (``http://gpu-1:8000/v1``); ``#MODEL`` the model it
serves under that name (left out: the one it serves). Settings after ``;``:

- ``api_key_env=VAR``: the API key is read from the environment variable ``VAR`` (never from the
  entry or the URL, and never logged);
- ``context=TOKENS``: the window, for servers that do not say it (vLLM and llama.cpp do);
- ``tokenizer=DIR_OR_ID``: count tokens with this local tokenizer instead of the server;
- ``concurrency=N``: requests in flight to the server for this model (default 8);
- ``timeout=SECONDS`` (a read's longest silence, default 120) and ``retries=N`` (default 3).

For example ``--model big=openai:http://gpu-1:8000/v1#Qwen/Qwen2.5-7B-Instruct;api_key_env=VLLM_KEY``.
The summarizer is :class:`models.remote.RemoteSummarizer`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from models.backends import ModelSpec
from models.errors import ModelError, ModelUnavailable
from models.loading import LoadSettings
from models.types import ModelKind, Summarizer

logger = logging.getLogger(__name__)

_SETTINGS = ("api_key_env", "context", "tokenizer", "concurrency", "timeout", "retries")
_MOST_CONCURRENCY = 256


@dataclass(frozen=True, slots=True)
class RemoteEntry:
    base_url: str
    model: str | None = None
    api_key_env: str | None = None
    context: int | None = None
    tokenizer: str | None = None
    concurrency: int = 8
    timeout: float = 120.0
    retries: int = 3


def parse_remote(source: str) -> RemoteEntry:
    """The entry's parts; ``ValueError`` saying what is wrong."""
    head, *settings = source.split(";")
    url, _, model = head.partition("#")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL")
    if parts.username or parts.password or parts.query:
        raise ValueError("the URL may hold no credentials or query: name the key's variable with api_key_env=VAR")
    values: dict[str, str] = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep or key.strip() not in _SETTINGS or not value.strip():
            raise ValueError(f"unknown setting {setting!r}; the settings are {', '.join(_SETTINGS)}")
        values[key.strip()] = value.strip()
    entry = RemoteEntry(
        url.strip().rstrip("/"), model.strip() or None, values.get("api_key_env"), None, values.get("tokenizer")
    )
    try:
        entry = dataclasses.replace(
            entry,
            context=int(values["context"]) if "context" in values else None,
            concurrency=int(values.get("concurrency", entry.concurrency)),
            timeout=float(values.get("timeout", entry.timeout)),
            retries=int(values.get("retries", entry.retries)),
        )
    except ValueError:
        raise ValueError("context, concurrency and retries take whole numbers, timeout seconds") from None
    if not 1 <= entry.concurrency <= _MOST_CONCURRENCY or entry.timeout <= 0 or entry.retries < 0:
        raise ValueError(f"concurrency must be 1 to {_MOST_CONCURRENCY}, timeout above 0, retries 0 or more")
    if entry.context is not None and entry.context < 256:
        raise ValueError("context must be at least 256 tokens")
    return entry


class OpenAIBackend:
    name = "openai"
    kind: ModelKind = "instruct"
    scheme: str | None = "openai:"

    def probe(self, spec: ModelSpec) -> str | None:
        if importlib.util.find_spec("httpx") is None:
            return "openai: models need httpx: pip install 'docsum[remote]'"
        try:
            entry = parse_remote(spec.source)
        except ValueError as exc:
            return f"bad openai: entry: {exc}"
        if entry.api_key_env and not os.environ.get(entry.api_key_env):
            return f"the environment variable {entry.api_key_env} (the API key) is not set"
        return None

    def load(self, spec: ModelSpec, settings: LoadSettings) -> Summarizer:
        if (reason := self.probe(spec)) is not None:
            raise ModelUnavailable(reason)
        return load_remote(spec.name, parse_remote(spec.source), settings)


BACKEND = OpenAIBackend()


def load_remote(name: str, entry: RemoteEntry, settings: LoadSettings) -> Summarizer:
    """The summarizer; the server is asked what it is now if it answers, else on the first call."""
    from models.remote import RemoteConfig, RemoteSummarizer
    from models.upstream import Upstream, UpstreamPolicy

    api_key = os.environ.get(entry.api_key_env) if entry.api_key_env else None
    policy = UpstreamPolicy(timeout_s=entry.timeout, retries=entry.retries)
    upstream = Upstream(entry.base_url, api_key=api_key, policy=policy, connections=entry.concurrency * 2)
    config = RemoteConfig(entry.model, entry.context, _tokenizer(entry.tokenizer), entry.concurrency)
    summarizer = RemoteSummarizer(name, upstream, config, max_chunks=settings.limits.max_chunks)
    try:
        summarizer.discover(retry=False)
    except ModelError as exc:
        logger.warning("%s: %s (asked again on the first call)", name, exc.message)
    return summarizer


def _tokenizer(source: str | None) -> object:
    if source is None:
        return None
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"cannot load the tokenizer {source}: {exc}") from exc
