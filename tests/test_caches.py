"""Caches bounded in bytes: least recently used first, never what a page still reads, computed once."""

import gc
import threading
import time
import weakref

import numpy as np
import pandas as pd
import pytest

import ui
from ui.caches import ByteLRU, cached, nbytes_of


class Blob:
    """A cached value of a known size that accepts weak references."""

    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes


def sized(value) -> int:
    return value.nbytes


def test_entries_are_bounded_in_bytes_and_the_least_recently_used_goes_first():
    cache = ByteLRU(max_bytes=100, sizeof=sized)
    cache.get_or_compute("a", lambda: Blob(40))
    cache.get_or_compute("b", lambda: Blob(40))
    cache.get_or_compute("a", lambda: pytest.fail("a is cached"))  # a is now the most recent
    cache.get_or_compute("c", lambda: Blob(40))
    assert "a" in cache and "c" in cache and "b" not in cache
    assert cache.nbytes == 80


def test_an_entry_a_page_still_reads_is_not_dropped():
    cache = ByteLRU(max_bytes=100, sizeof=sized)
    held = cache.get_or_compute("a", lambda: Blob(60))  # a running page holds it
    cache.get_or_compute("b", lambda: Blob(30))
    cache.get_or_compute("c", lambda: Blob(30))  # over the bound: b goes, a is in use
    assert "a" in cache and "b" not in cache and "c" in cache
    assert cache.evictable_bytes() == 30
    assert cache.evict(1000) == 30  # the budget asks for all it can get: only what nobody reads
    assert "a" in cache
    del held
    assert cache.evictable_bytes() == 60 and cache.evict(1) == 60


def test_a_dropped_entry_is_freed():
    cache = ByteLRU(max_bytes=100, sizeof=sized)
    alive = weakref.ref(cache.get_or_compute("a", lambda: Blob(80)))
    cache.get_or_compute("b", lambda: Blob(80))
    gc.collect()
    assert alive() is None


def test_a_value_larger_than_the_cache_is_returned_but_not_kept():
    cache = ByteLRU(max_bytes=100, sizeof=sized)
    assert cache.get_or_compute("huge", lambda: Blob(500)).nbytes == 500
    assert "huge" not in cache and cache.nbytes == 0


def test_sessions_asking_together_share_one_computation():
    cache = ByteLRU(max_bytes=100, sizeof=sized)
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.3)
        return Blob(10)

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_compute("k", slow))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len({id(r) for r in results}) == 1


def test_a_failed_computation_is_tried_again_by_the_next_caller():
    cache = ByteLRU(max_bytes=100, sizeof=sized)

    def fail():
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        cache.get_or_compute("k", fail)
    assert cache.get_or_compute("k", lambda: Blob(5)).nbytes == 5


def test_sizes_of_what_pages_cache():
    frame = pd.DataFrame({"x": np.zeros(1000)})
    assert nbytes_of(np.zeros((10, 10), dtype=np.float32)) == 400
    assert nbytes_of((np.zeros(10), np.zeros(5))) == 120
    assert nbytes_of(frame) >= 8000


def test_cached_keys_on_the_named_arguments_only_and_hands_out_copies():
    calls = []

    @cached
    def summary(model_id: str, token_ids: tuple[int, ...], _trace=None) -> pd.DataFrame:
        calls.append(model_id)
        return pd.DataFrame({"token": list(token_ids)})

    first = summary("m", (1, 2), _trace=object())
    first.loc[0, "token"] = 99  # a page editing its copy does not change the cached one
    again = summary("m", (1, 2), _trace=object())  # another trace object, the same key
    assert calls == ["m"] and again["token"].tolist() == [1, 2]
    summary("m", (1, 3))
    assert calls == ["m", "m"]

    @cached
    def pattern(model_id: str) -> np.ndarray:
        return np.ones(3)

    with pytest.raises(ValueError):
        pattern("m")[0] = 5  # arrays come back read-only
    ui.RESULTS.clear()
