"""Process memory on CPU: how the C heap serves tensors, and giving back what loading no longer needs.

Both act on glibc's allocator through ``ctypes`` and do nothing where it is not there.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
from collections.abc import Iterable

_MADV_RANDOM = 1
_MADV_DONTNEED = 4
# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
# Free memory kept at the top of the heap before it is returned to the system.
_KEPT_FREE_BYTES = 1 << 30


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        return libc
    except (OSError, AttributeError):
        return None


def keep_large_blocks_on_the_heap() -> bool:
    """Serve large tensors from the heap and keep freed blocks there, instead of mmap/munmap per tensor.

    glibc hands every allocation over 32 MB (an FFN activation of 8 documents x 500
    tokens is 65 MB) its own fresh ``mmap`` and unmaps it on free, so each such tensor
    pays a page fault per 4 KiB page on first touch, every time. Measured here: 1.5M
    page faults in one 8-document generate call, and 22% of its time (7.7 s against
    9.8 s, 1 thread). With mmap off and a high trim threshold freed blocks are reused;
    the resident set stays at its high-water mark instead of shrinking between calls.
    One arena for all threads: with a heap per generating thread
    (``models._speed.generation.generate_in_parts``) each kept its own high-water mark, and
    16 documents peaked at 1.64-1.68 GiB against 1.41-1.45 GiB (no slower).
    Returns whether the settings took.
    """
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    settings = ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, _KEPT_FREE_BYTES), (_M_ARENA_MAX, 1))
    return all([bool(libc.mallopt(parameter, value)) for parameter, value in settings])


def return_free_heap() -> None:
    """Give the heap's free pages back to the system (glibc ``malloc_trim``), for a worker that falls idle.

    Large blocks stay on the heap between calls (:func:`keep_large_blocks_on_the_heap`),
    so a serving process otherwise keeps the high-water mark of its busiest calls
    for good. Measured here, 1 + 3 x 8 documents greedy in one process with a trim after
    each call: peak 1.15-1.22 GiB against 1.22-1.33, 0.89-0.93 GiB between calls
    against 1.22-1.33, and 11.56-11.86 s against 11.45-11.68 s (the next call faults
    its pages in again).
    """
    libc = _libc()
    if libc is not None:
        with contextlib.suppress(AttributeError):
            libc.malloc_trim(0)


def release_free_memory() -> None:
    """Give back memory that loading no longer needs.

    Freed heap (fp32 staging copies) goes back to the system (glibc ``malloc_trim``),
    and the pages of memory-mapped ``*.safetensors`` files this process read are
    dropped from its resident set (``madvise(MADV_DONTNEED)``, only for mappings
    with no page written, so a later read faults the same bytes back in from the file).
    A few small float tensors can keep a whole checkpoint mapped after int8
    quantization; without this, all of it would stay resident.
    """
    return_free_heap()
    libc = _libc()
    if libc is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        for start, end, _ in _clean_checkpoint_mappings():
            libc.madvise(start, end - start, _MADV_DONTNEED)


def read_checkpoints_sparsely(addresses: Iterable[int]) -> None:
    """Pages of the mapped checkpoints that hold ``addresses`` (one model's tensors) come back one at a time.

    For int8 models, whose checkpoint mapping then serves only the embedding, the
    positions and the norms. On a fault the kernel maps the faulting page's neighbours
    too (fault-around, 64 KiB) when they are in the page cache, and loading left the
    whole file there, so each new token's 4 KiB embedding row made 16 rows resident:
    2154 distinct tokens (16 documents) 138 MB of a 196 MB embedding, against 25 MB
    with this; 11975 tokens (200 documents) 196 MB against 85. The file's cached pages
    are dropped (``posix_fadvise``) and read-ahead is off (``MADV_RANDOM``); a new row
    costs a read from disk once.
    """
    libc = _libc()
    if libc is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        wanted = list(addresses)
        for start, end, path in _clean_checkpoint_mappings():
            if not any(start <= address < end for address in wanted):
                continue  # another model's checkpoint: it may read all of it
            libc.madvise(start, end - start, _MADV_RANDOM)
            file = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(file, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(file)


def _clean_checkpoint_mappings() -> list[tuple[int, int, str]]:
    """Address ranges and paths of mapped ``*.safetensors`` files with no page written (so none copied on write)."""
    found: list[tuple[int, int, str]] = []
    current: tuple[int, int, str] | None = None
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if fields and "-" in fields[0] and not fields[0].endswith(":"):
                bounds = fields[0].split("-")
                path = " ".join(fields[5:])
                is_checkpoint = len(fields) >= 6 and path.endswith(".safetensors")
                current = (int(bounds[0], 16), int(bounds[1], 16), path) if is_checkpoint else None
            elif current is not None and fields[:1] == ["Anonymous:"]:
                if fields[1] == "0":
                    found.append(current)
                current = None
    return found
