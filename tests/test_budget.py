"""The memory budget: reservations, waiting, refusals, memory kept with objects, caches made to give way."""

import gc
import threading
import time

import pytest

from ui import memory
from ui.budget import MemoryBudget, MemoryRefusedError

MB = 10**6


class FakeResident:
    """The process's resident memory, set by the test."""

    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes

    def __call__(self) -> int:
        return self.nbytes


class Owner:
    """Something work made, e.g. a trace: it accepts weak references."""


class FakeCache:
    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes
        self.asked: list[int] = []

    def evictable_bytes(self) -> int:
        return self.nbytes

    def evict(self, nbytes: int) -> int:
        self.asked.append(nbytes)
        freed, self.nbytes = self.nbytes, 0
        return freed


def budget(limit=1000 * MB, resident=100 * MB) -> MemoryBudget:
    return MemoryBudget(limit, FakeResident(resident), poll_s=0.02)


def test_a_reservation_is_counted_until_released():
    b = budget()
    assert b.baseline == 100 * MB and b.free() == 900 * MB
    with b.reserve(300 * MB, "a trace") as reservation:
        assert b.free() == 600 * MB
        assert reservation.nbytes == 300 * MB
    assert b.free() == 900 * MB


def test_what_could_never_fit_is_refused_at_once():
    b = budget()
    started = time.monotonic()
    with pytest.raises(MemoryRefusedError, match="more than this server's whole memory budget") as refused:
        b.reserve(950 * MB, "Reading 1024 tokens", timeout=30)
    assert time.monotonic() - started < 1
    assert refused.value.never_fits and refused.value.needed == 950 * MB
    assert str(refused.value).startswith("Reading 1024 tokens needs about 950 MB of memory")


def test_a_reservation_waits_for_room_then_gets_it():
    b = budget()
    first = b.reserve(600 * MB, "first")
    waits = []
    threading.Timer(1.0, first.release).start()
    with b.reserve(500 * MB, "second", timeout=10, on_wait=waits.append):
        assert b.free() == 400 * MB
    assert waits and all(short > 0 for short in waits)  # told how far short it was while it waited


def test_room_made_goes_in_arrival_order_and_what_fits_already_goes_at_once():
    b = budget()
    first = b.reserve(600 * MB, "first")  # 300 MB free
    granted = []

    def wait_for(nbytes: int, name: str) -> None:
        with b.reserve(nbytes, name, timeout=10):
            granted.append(name)
            time.sleep(0.2)

    large = threading.Thread(target=wait_for, args=(500 * MB, "large"))
    large.start()
    time.sleep(0.1)  # the large request waits first
    medium = threading.Thread(target=wait_for, args=(450 * MB, "medium"))
    medium.start()
    time.sleep(0.1)
    wait_for(200 * MB, "small")  # fits the free memory as it is: it does not wait behind them
    assert granted == ["small"]
    first.release()  # 900 MB free: room for either waiter, not both
    large.join()
    medium.join()
    assert granted == ["small", "large", "medium"]


def test_a_wait_past_its_bound_is_refused_with_the_numbers():
    b = budget()
    held = b.reserve(600 * MB, "first")
    with pytest.raises(MemoryRefusedError) as refused:
        b.reserve(500 * MB, "Reading 900 tokens", timeout=0.1)
    assert not refused.value.never_fits
    assert str(refused.value) == (
        "Reading 900 tokens needs about 500 MB of memory, and only 300 MB of this server's 1.00 GB budget "
        "is free: other students' work holds the rest."
    )
    held.release()


def test_memory_kept_with_an_object_is_given_back_when_it_is_collected():
    b = budget()
    owner = Owner()
    with b.reserve(400 * MB, "a trace") as reservation:
        assert reservation.keep_with(owner) is owner
    assert b.free() == 500 * MB  # leaving the block did not give it back: the trace lives on
    del owner
    gc.collect()
    assert b.free() == 900 * MB


def test_resident_memory_the_ledger_does_not_know_about_counts():
    resident = FakeResident(100 * MB)
    b = MemoryBudget(1000 * MB, resident)
    resident.nbytes = 700 * MB  # sessions, messages, the allocator's slack
    assert b.free() == 300 * MB
    with pytest.raises(MemoryRefusedError):
        b.reserve(400 * MB, "a trace")


def test_open_reservations_count_on_top_of_resident_memory_until_settled():
    resident = FakeResident(100 * MB)
    b = MemoryBudget(1000 * MB, resident)
    resident.nbytes = 500 * MB
    run = b.reserve(300 * MB, "a training run")  # not touched yet: it will come on top of the 500
    assert b.free() == 200 * MB
    resident.nbytes = 800 * MB  # the run has allocated its memory
    run.settle()
    assert b.free() == 200 * MB  # counted once, not twice
    run.release()
    resident.nbytes = 500 * MB
    assert b.free() == 500 * MB


def test_caches_give_way_when_a_reservation_does_not_fit():
    b = budget()
    cache = FakeCache(300 * MB)
    b.add_cache(cache, counted=lambda: cache.nbytes)
    assert b.free() == 600 * MB and b.would_fit(800 * MB) and not b.would_fit(950 * MB)
    with b.reserve(800 * MB, "a long prompt"):
        assert cache.asked == [200 * MB]  # only the shortfall was asked for
        assert cache.nbytes == 0


def test_a_zero_reservation_never_waits():
    b = budget(resident=2000 * MB)  # already over the limit
    with b.reserve(0, "nothing", timeout=10):
        pass


def test_sizes_are_read_as_a_teacher_writes_them():
    assert memory.parse_size("6GB") == 6 * 10**9
    assert memory.parse_size("6 GiB") == 6 * 2**30
    assert memory.parse_size("800mb") == 800 * 10**6
    assert memory.parse_size("2.5GB") == 2_500_000_000
    assert memory.parse_size("12345") == 12345
    with pytest.raises(ValueError, match="write it like 6GB"):
        memory.parse_size("lots")


def test_the_budget_comes_from_the_environment_or_the_free_memory(monkeypatch):
    monkeypatch.setenv(memory.BUDGET_ENV, "3GB")
    assert memory.budget_limit() == 3 * 10**9
    monkeypatch.setenv(memory.BUDGET_ENV, "three")
    with pytest.raises(ValueError, match="GPT_EXPLORER_MEMORY_BUDGET"):
        memory.budget_limit()
    monkeypatch.delenv(memory.BUDGET_ENV)
    monkeypatch.setattr(memory, "memory_source", lambda: 10 * 10**9)
    assert memory.budget_limit() == 7 * 10**9  # 70% of what was free at start
