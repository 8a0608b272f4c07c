"""How a remote model's tokens are counted, so that every chunk and prompt fits the server's window.

In order of preference: a local tokenizer the catalog entry names (``tokenizer=DIR_OR_ID``,
loaded offline), the server's own ``/tokenize`` (llama.cpp: plain text, and the chat through
``/apply-template``; vLLM: text or the chat itself), else an estimate: one token for every
two UTF-8 bytes, plus 8 tokens per message for the template. Byte-level tokenizers average
about 4 bytes a token on English prose and 1.5 to 3 on code, digits or CJK text, so the
estimate overcounts; chunks come out smaller than they could be, never too long (a text of
single-byte tokens, such as a long run of separate digits, is the exception).

A prompt's count is the chat's with an empty document (once per options) plus the
document's own tokens plus ``MARGIN`` (token merges where the document meets the template).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Protocol

from models.errors import UpstreamError
from models.instruct_prompt import render_prompt
from models.upstream import Upstream

MARGIN = 4
_BYTES_PER_TOKEN = 2
_TOKENS_PER_MESSAGE = 8
_CACHED_TEXTS = 4096
_CACHED_CHARS = 8_000_000  # about 32 MB of remembered text at most


class TokenCounter(Protocol):
    name: str

    def text_tokens(self, text: str) -> int: ...

    def chat_tokens(self, chat: list[dict[str, str]]) -> int: ...


class Estimate:
    name = "estimate"

    def text_tokens(self, text: str) -> int:
        return -(-len(text.encode("utf-8", "surrogatepass")) // _BYTES_PER_TOKEN)

    def chat_tokens(self, chat: list[dict[str, str]]) -> int:
        return _TOKENS_PER_MESSAGE * (len(chat) + 1) + sum(self.text_tokens(m["content"]) for m in chat)


class LocalTokenizer:
    """A tokenizer on this machine (``transformers.AutoTokenizer``, offline as the rest of docsum)."""

    name = "tokenizer"

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def text_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def chat_tokens(self, chat: list[dict[str, str]]) -> int:
        prompt = render_prompt(self.tokenizer, chat)
        return len(self.tokenizer(prompt, add_special_tokens=False, verbose=False)["input_ids"])


class LlamaCppTokenize:
    """llama.cpp's server: ``/tokenize`` and ``/apply-template`` (the model's own chat template)."""

    name = "llama.cpp /tokenize"

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream

    def text_tokens(self, text: str) -> int:
        answer = self.upstream.post_json("/tokenize", {"content": text, "add_special": False})
        return len(_field(answer, "tokens", list))

    def chat_tokens(self, chat: list[dict[str, str]]) -> int:
        prompt = _field(self.upstream.post_json("/apply-template", {"messages": chat}), "prompt", str)
        answer = self.upstream.post_json("/tokenize", {"content": prompt, "add_special": False})
        return len(_field(answer, "tokens", list))


class VllmTokenize:
    """vLLM's ``/tokenize``: a text or a whole chat, counted by the served model's tokenizer."""

    name = "vLLM /tokenize"

    def __init__(self, upstream: Upstream, model: str | None) -> None:
        self.upstream = upstream
        self.model = {"model": model} if model else {}

    def text_tokens(self, text: str) -> int:
        answer = self.upstream.post_json("/tokenize", {**self.model, "prompt": text, "add_special_tokens": False})
        return int(_field(answer, "count", int))

    def chat_tokens(self, chat: list[dict[str, str]]) -> int:
        body = {**self.model, "messages": chat, "add_generation_prompt": True}
        return int(_field(self.upstream.post_json("/tokenize", body), "count", int))


class CachedCounter:
    """A counter that remembers the latest texts' counts (chunk planning counts the same spans again)."""

    def __init__(self, counter: TokenCounter) -> None:
        self.counter = counter
        self.name = counter.name
        self._texts: dict[str, int] = {}
        self._chars = 0
        self._lock = threading.Lock()

    def text_tokens(self, text: str) -> int:
        with self._lock:
            known = self._texts.get(text)
        if known is not None:
            return known
        count = self.counter.text_tokens(text)
        with self._lock:
            if text not in self._texts:
                self._texts[text] = count
                self._chars += len(text)
            while len(self._texts) > _CACHED_TEXTS or self._chars > _CACHED_CHARS:
                self._chars -= len(oldest := next(iter(self._texts)))
                del self._texts[oldest]
        return count

    def many(self, texts: Sequence[str]) -> list[int]:
        return [self.text_tokens(text) for text in texts]

    def chat_tokens(self, chat: list[dict[str, str]]) -> int:
        return self.counter.chat_tokens(chat)


def _field(answer: Any, key: str, kind: type) -> Any:
    value = answer.get(key) if isinstance(answer, dict) else None
    if not isinstance(value, kind):
        raise UpstreamError(f"the upstream's tokenize answer has no {key!r}")
    return value
