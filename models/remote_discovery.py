"""What an OpenAI-compatible server says of itself: which model it serves, its window, how to count tokens.

- the model: ``GET /v1/models``; the entry's ``#MODEL`` must be among the ids it lists
  (else 502 ``upstream_error``); without one, the server must list exactly one.
- the window: vLLM's ``max_model_len`` in ``/v1/models``, llama.cpp's per-slot ``n_ctx`` in
  ``/props``; else the entry's ``context=N`` (the smaller, where both are known).
- counting: ``models.remote_tokens`` (a local tokenizer, the server's ``/tokenize``, an estimate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models.errors import ModelError, UpstreamError, UpstreamUnavailable
from models.remote_tokens import CachedCounter, Estimate, LlamaCppTokenize, LocalTokenizer, TokenCounter, VllmTokenize
from models.upstream import Upstream


@dataclass(frozen=True, slots=True)
class RemoteConfig:
    """A remote model as its catalog entry gives it."""

    model: str | None = None  # None: the one model the server serves
    context_tokens: int | None = None  # the window, where the server does not say it
    tokenizer: Any = None  # a local tokenizer for counting, loaded
    concurrency: int = 8


@dataclass(frozen=True, slots=True)
class ServerInfo:
    model: str | None  # None: not named in requests (a server that lists no models serves its one)
    context_tokens: int
    counter: CachedCounter
    server: str  # "llama.cpp", "vLLM" or "openai"


def discover(upstream: Upstream, config: RemoteConfig, *, retry: bool = True) -> ServerInfo:
    listed = _models(upstream, retry)
    model = _pick_model(listed, config.model, upstream.base_url)
    entry = next((item for item in listed if item.get("id") == model), {})
    props = _props(upstream) if not entry.get("max_model_len") else None
    server = "vLLM" if entry.get("max_model_len") else "llama.cpp" if props is not None else "openai"
    said = _window(entry, props)
    windows = [n for n in (said, config.context_tokens) if n]
    if not windows:
        raise UpstreamError(
            f"{upstream.base_url} does not say its context window: add context=TOKENS to the model's entry"
        )
    counter: TokenCounter
    if config.tokenizer is not None:
        counter = LocalTokenizer(config.tokenizer)
    elif server == "llama.cpp":
        counter = LlamaCppTokenize(upstream)
    elif server == "vLLM":
        counter = VllmTokenize(upstream, model)
    else:
        counter = Estimate()
    return ServerInfo(model if listed else config.model, min(windows), CachedCounter(counter), server)


def _models(upstream: Upstream, retry: bool) -> list[dict[str, Any]]:
    """The models the server lists ([] if it has no such endpoint)."""
    try:
        answer = upstream.get_json("/v1/models", retry=retry)
    except UpstreamError:
        return []  # a 404: the server lists nothing; requests name the entry's model, if any
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise UpstreamError(f"{upstream.base_url}/models answered without a list of models")
    return data


def _pick_model(listed: list[dict[str, Any]], wanted: str | None, where: str) -> str | None:
    ids = [str(item.get("id")) for item in listed]
    names = {*ids, *(str(alias) for item in listed for alias in item.get("aliases") or [])}
    if wanted is not None:
        if listed and wanted not in names:
            raise UpstreamError(f"{where} does not serve {wanted!r}; it serves {', '.join(ids)}")
        return next((item for item in ids if item == wanted), ids[0] if len(ids) == 1 and listed else wanted)
    if len(ids) > 1:
        raise UpstreamError(f"{where} serves {len(ids)} models ({', '.join(ids)}): name one as #MODEL in the entry")
    return ids[0] if ids else None


def _props(upstream: Upstream) -> dict[str, Any] | None:
    """llama.cpp's ``/props``; None from a server without it."""
    try:
        answer = upstream.get_json("/props", retry=False)
    except UpstreamUnavailable:
        raise
    except ModelError:
        return None
    return answer if isinstance(answer, dict) else None


def _window(entry: dict[str, Any], props: dict[str, Any] | None) -> int | None:
    if isinstance(entry.get("max_model_len"), int):
        return int(entry["max_model_len"])
    settings = props.get("default_generation_settings") if props else None
    n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
    return n_ctx if isinstance(n_ctx, int) and n_ctx > 0 else None
