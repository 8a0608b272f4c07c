"""What a process serving models may ask of the library about its resources, speed paths or not."""

from __future__ import annotations


def return_free_heap() -> None:
    """Give the C heap's free pages back to the system, for a worker that falls idle (glibc ``malloc_trim``;
    nothing where glibc is not there). Changes no setting: safe whether or not models are accelerated."""
    from models._speed import return_free_heap as trim

    trim()
