"""glibc's allocator, set up for one long-lived server shared by a class.

Two settings, made once when ui is imported, and one action:

- two malloc arenas for the whole process instead of one per session thread: every session's
  script runs in its own thread, and each arena keeps the large blocks a 124M model frees;
- a fixed mmap threshold of 1 MB: larger blocks (a long prompt's attention maps, logits and
  streams) are mapped on their own and go back to the system the moment they are freed. glibc's
  default raises that threshold as blocks are freed, until blocks of up to 32 MB live in the heap
  and stay resident after use; then the process's resident memory says little about what is
  alive, and the memory budget (ui/memory.py) could not trust it. Measured on GPT-2 124M, traces
  and generation run at the same speed either way (bench/bench_memory.py uses the same setting);
- trim_heap(): give the heap's free pages back to the system, when the budget is short of room
  or the server falls idle.

Settings a teacher put in the environment (MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_) win.
"""

from __future__ import annotations

import ctypes
import os

MMAP_THRESHOLD = 1 << 20  # bytes; blocks at least this big are mapped apart and unmapped when freed
_M_MMAP_THRESHOLD = -3  # mallopt parameter numbers, from malloc.h
_M_ARENA_MAX = -8


def _load_glibc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune
        return None


_LIBC = _load_glibc()


def tune_allocator() -> None:
    """Two arenas and a fixed mmap threshold (see the module's docstring); does nothing off glibc."""
    if _LIBC is None:
        return
    if "MALLOC_ARENA_MAX" not in os.environ:
        _LIBC.mallopt(_M_ARENA_MAX, 2)
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        _LIBC.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def trim_heap() -> None:
    """Hand the heap's free pages back to the system (walks every free block: milliseconds)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
