"""A decoder's key/value cache written in place into reserved room: :class:`ReservedCache`.

transformers' ``DynamicLayer`` concatenates on every update, so each decoding step copies the
whole cache of every layer: SmolLM2-135M, 8 prompts of 630 tokens, 1.9 MB per layer and
tensor, 116 MB a step (``cat`` was 8% of a profiled generate here). These layers keep room for
:data:`ROOM` more positions and write each step's keys and values into it; what attention reads
is a view of the positions filled so far. It is a ``Cache`` like any other: transformers'
own forward updates it as it does a ``DynamicCache``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from transformers.cache_utils import Cache, DynamicLayer

# Positions reserved past those written: a summary's new tokens mostly fit; more grows the room again.
ROOM = 128


class ReservedLayer(DynamicLayer):  # type: ignore[misc]
    """One layer's keys and values, ``[rows, heads, room, depth]``, filled up to :attr:`length`."""

    def __init__(self) -> None:
        super().__init__()
        self.length = 0
        self.key_room: torch.Tensor | None = None
        self.value_room: torch.Tensor | None = None

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.device = key_states.device
        self.is_initialized = True

    def reserve(self, like: torch.Tensor, positions: int) -> None:
        """Room for at least ``positions`` (keeping what is written) of keys shaped ``like`` (rows, heads, any
        length, depth), its dtype and device."""
        if not self.is_initialized:
            self.lazy_initialization(like, like)
        if self.key_room is not None and self.key_room.shape[2] >= positions:
            return
        rows, heads, _, depth = like.shape
        keys = like.new_zeros((rows, heads, positions + ROOM, depth))
        values = torch.zeros_like(keys)
        if self.key_room is not None and self.value_room is not None:
            keys[:, :, : self.length] = self.key_room[:, :, : self.length]
            values[:, :, : self.length] = self.value_room[:, :, : self.length]
        self.key_room, self.value_room = keys, values

    def written(self, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``length`` positions are now filled: views of them, as attention reads them."""
        assert self.key_room is not None and self.value_room is not None
        self.length = length
        self.keys = self.key_room[:, :, :length]
        self.values = self.value_room[:, :, :length]
        return self.keys, self.values

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        end = self.length + key_states.shape[-2]
        self.reserve(key_states, end)
        assert self.key_room is not None and self.value_room is not None
        self.key_room[:, :, self.length : end] = key_states
        self.value_room[:, :, self.length : end] = value_states
        return self.written(end)

    def get_seq_length(self) -> int:
        return self.length

    def reset(self) -> None:
        self.key_room = self.value_room = None
        self.length = 0
        super().reset()

    def crop(self, tokens_to_remove: int) -> None:
        if tokens_to_remove > 0:
            raise ValueError("crop takes the number of positions to remove, negative")
        if tokens_to_remove and self.key_room is not None:
            self.written(self.length + tokens_to_remove)

    def _rows(self, pick: Callable[[torch.Tensor], torch.Tensor]) -> None:
        if self.key_room is not None and self.value_room is not None:
            self.key_room, self.value_room = pick(self.key_room), pick(self.value_room)
            self.written(self.length)

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        self._rows(lambda room: room.index_select(0, beam_idx.to(room.device)))

    def batch_repeat_interleave(self, repeats: int) -> None:
        self._rows(lambda room: room.repeat_interleave(repeats, dim=0))

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._rows(lambda room: room[indices])


class ReservedCache(Cache):  # type: ignore[misc]
    """A cache of :class:`ReservedLayer`, one per decoder layer, for a batch of ``rows``; ``starts``: each row's
    first position (its left padding), where the one who filled it knows them."""

    def __init__(self, layers: int, *, rows: int, starts: list[int] | None = None) -> None:
        super().__init__(layers=[ReservedLayer() for _ in range(layers)])
        self.rows = rows
        self.starts = starts
