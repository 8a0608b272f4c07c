"""The Hugging Face hub, asked cheaply: is a model in the local cache, and can the hub be reached now."""

from __future__ import annotations

import os
import threading
import time

# How long an answer about the hub's reachability stands, and how long asking may take.
_HUB_CHECK_SECONDS = 60.0
_HUB_TIMEOUT_SECONDS = 3.0
_hub_checked: tuple[float, str | None] | None = None
_hub_lock = threading.Lock()


def hub_unreachable() -> str | None:
    """Why the Hugging Face hub cannot be reached now, or None if it answers.

    One short request (``HF_ENDPOINT``, proxies from the environment) at most once a
    minute, instead of letting a load find out through the hub client's retries (about
    50 s offline). Any HTTP answer counts as reachable.
    """
    global _hub_checked
    with _hub_lock:
        now = time.monotonic()
        if _hub_checked is not None and now - _hub_checked[0] < _HUB_CHECK_SECONDS:
            return _hub_checked[1]
        from huggingface_hub import constants, get_session

        endpoint = os.environ.get("HF_ENDPOINT") or constants.ENDPOINT
        try:  # the hub client's own session: the proxies and certificates the load would use
            get_session().head(endpoint, timeout=_HUB_TIMEOUT_SECONDS, follow_redirects=False)
            reason = None
        except Exception as exc:  # its HTTP library (httpx, then httpx2) names its own errors
            reason = f"{endpoint}: {type(exc).__name__}"
        _hub_checked = (time.monotonic(), reason)
        return reason


def forget_hub_check() -> None:
    """The next :func:`hub_unreachable` asks again (tests; a caller that knows the network changed)."""
    global _hub_checked
    with _hub_lock:
        _hub_checked = None


def in_hub_cache(source: str, revision: str | None) -> bool:
    """Whether the hub id's config is in the local Hugging Face cache (at that revision)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(source, "config.json", revision=revision)
    return isinstance(found, str)
