"""Server-wide caches bounded in bytes: the loaded models, the shared traces, and the small results pages draw.

Streamlit's caches bound entries by count, and eight traces of a pasted paragraph are 10 GB.
ByteLRU bounds them by size instead, drops the least recently used entry first, and never drops
an entry a running page still holds (dropping it would free nothing, and the page's next visit would
compute it again). The memory budget may shrink both caches when a reservation does not fit.

``@cached`` memoises a page's helper in RESULTS, keyed by the helper and its arguments; arguments
whose names start with an underscore are not part of the key (as in st.cache_data), which is how
pages pass a trace or a model next to the ids that identify it. Unlike st.cache_data, nothing of
the page is kept: not its functions, so not the trace its globals hold.
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
import pandas as pd
import torch
from plotly.basedatatypes import BaseFigure

from gptcore import Trace

from .memory import MEMORY_BUDGET

TRACE_SHARE = 0.5  # of the budget, for traces nobody is reading at the moment
RESULT_SHARE = 0.06  # of the budget, for the pages' small results (at least MIN_RESULT_BYTES)
MIN_RESULT_BYTES = 256 * 2**20


def nbytes_of(value: Any) -> int:
    """Memory a cached value holds: arrays, tensors, frames, traces, and containers of them."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, pd.DataFrame):
        return int(value.memory_usage(deep=True).sum())
    if isinstance(value, pd.Series):
        return int(value.memory_usage(deep=True))
    if isinstance(value, Trace):
        return value.nbytes
    if isinstance(value, torch.nn.Module):
        return sum(nbytes_of(tensor) for tensor in value.state_dict().values())
    if isinstance(value, tuple | list):
        return sum(nbytes_of(item) for item in value)
    if isinstance(value, dict):
        return sum(nbytes_of(item) for item in value.values())
    if isinstance(value, BaseFigure):  # a shared figure: its traces' arrays, the bulk of it
        return sum(_array_bytes(trace) for trace in value.data) + 4096
    return sys.getsizeof(value)


def _array_bytes(trace: Any) -> int:
    """About the bytes of a Plotly trace's data (z, x, y, text, customdata): 8 a cell."""
    found = trace._props  # the values as given: reading them as properties would validate each again
    cells = 0
    for name in ("z", "x", "y", "text", "customdata"):
        value = found.get(name)
        if isinstance(value, np.ndarray):
            cells += value.size
        elif isinstance(value, list | tuple) and value:
            cells += len(value) * (len(value[0]) if isinstance(value[0], list | tuple | np.ndarray) else 1)
    return 8 * cells


def _held_elsewhere(value: Any, extra_refs: int) -> bool:
    """Whether anyone but the cache refers to ``value`` (a page reading a trace), by CPython's count.

    ``extra_refs`` are the references that looking adds: the entry's tuple, the caller's loop
    variable, this function's argument and getrefcount's own (tests/test_caches.py checks the count).
    """
    return sys.getrefcount(value) > extra_refs


class ByteLRU:
    """A thread-safe least-recently-used cache whose entries add up to at most ``max_bytes``.

    ``get_or_compute`` computes a missing entry once, however many sessions ask for it together.
    Entries are dropped outside the cache's lock, so finalisers (the budget's) never run under it.
    """

    def __init__(self, max_bytes: int, sizeof: Callable[[Any], int] = nbytes_of) -> None:
        self.max_bytes = max_bytes
        self.sizeof = sizeof
        self.nbytes = 0  # read without the lock by the budget: an int is read whole
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._computing: dict[Hashable, threading.Event] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        while True:
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
                    return self._entries[key][0]
                running = self._computing.get(key)
                if running is None:
                    running = self._computing[key] = threading.Event()
                    break
            running.wait()  # another session computes it; then look again (or compute, if that failed)
        try:
            value = compute()
            self._insert(key, value)
            return value
        finally:
            with self._lock:
                del self._computing[key]
            running.set()

    def _insert(self, key: Hashable, value: Any) -> None:
        size = self.sizeof(value)
        if size > self.max_bytes:
            return  # larger than the whole cache: the caller uses it once
        with self._lock:
            self._entries[key] = (value, size)
            self.nbytes += size
            dropped = self._drop_while(lambda: self.nbytes > self.max_bytes)
        del dropped  # outside the lock: the dropped values are freed (and finalised) here

    def _drop_while(self, too_big: Callable[[], bool]) -> list[Any]:
        """Drop least recently used entries nobody else holds while ``too_big()``; the caller holds the lock."""
        dropped = []
        for key in list(self._entries):
            if not too_big():
                break
            value, size = self._entries[key]
            if _held_elsewhere(value, extra_refs=4):
                continue
            del self._entries[key]
            self.nbytes -= size
            dropped.append(value)
            del value
        return dropped

    # --- for the memory budget -------------------------------------------------------------
    def evictable_bytes(self) -> int:
        with self._lock:
            return sum(size for value, size in self._entries.values() if not _held_elsewhere(value, extra_refs=4))

    def evict(self, nbytes: int) -> int:
        """Drop unused entries, least recently used first, until ``nbytes`` are dropped; returns how many."""
        target = self.nbytes - nbytes
        with self._lock:
            before = self.nbytes
            dropped = self._drop_while(lambda: self.nbytes > target)
            freed = before - self.nbytes
        del dropped
        return freed

    def forget(self, key: Hashable) -> None:
        with self._lock:
            entry = self._entries.pop(key, None)
            if entry is not None:
                self.nbytes -= entry[1]
        del entry

    def clear(self) -> None:
        with self._lock:
            dropped = [value for value, _ in self._entries.values()]
            self._entries.clear()
            self.nbytes = 0
        del dropped


MODELS = ByteLRU(MEMORY_BUDGET.limit)  # bounded by the budget itself: each load reserves its memory
TRACES = ByteLRU(int(TRACE_SHARE * MEMORY_BUDGET.limit))
RESULTS = ByteLRU(max(MIN_RESULT_BYTES, int(RESULT_SHARE * MEMORY_BUDGET.limit)))
MEMORY_BUDGET.add_cache(TRACES)  # traces' and models' bytes are already counted: kept with them
MEMORY_BUDGET.add_cache(MODELS)
MEMORY_BUDGET.add_cache(RESULTS, counted=lambda: RESULTS.nbytes)


def _fresh(value: Any) -> Any:
    """What a page gets from RESULTS: a copy of a frame (pages may edit theirs), arrays read-only."""
    if isinstance(value, pd.DataFrame | pd.Series):
        return value.copy()
    if isinstance(value, np.ndarray):
        view = value.view()
        view.flags.writeable = False
        return view
    if isinstance(value, tuple):
        return tuple(_fresh(item) for item in value)
    if isinstance(value, dict):
        return {name: _fresh(item) for name, item in value.items()}
    return value


def cached(function: Callable) -> Callable:
    """Memoise a page helper in RESULTS by its non-underscore arguments (see the module's docstring)."""
    signature = inspect.signature(function)
    where = (function.__code__.co_filename, function.__qualname__)  # the same across a page's reruns

    @functools.wraps(function)
    def lookup(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        key = (*where, *((name, value) for name, value in bound.arguments.items() if not name.startswith("_")))
        return _fresh(RESULTS.get_or_compute(key, lambda: function(*args, **kwargs)))

    return lookup


def clear_caches() -> None:
    """Forget every model, trace and result (tests; a teacher's reset)."""
    MODELS.clear()
    TRACES.clear()
    RESULTS.clear()
