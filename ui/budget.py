"""One memory budget for the app process: every large piece of work reserves its bytes before it starts.

A check of free memory at one moment lets twenty students who paste long texts at once all pass,
and the process is killed. MemoryBudget keeps a ledger instead:

- work *reserves* its estimated peak (gptcore.footprint) before it starts and gives it back when
  it ends; a reservation may instead be *kept with* what the work made (a trace, a model), and
  then it is given back when that object is garbage collected, whoever held it last;
- caches that can drop entries register as *evictable*: when a reservation does not fit, the
  least recently used entries nobody is reading are dropped first;
- the memory in use is the larger of the ledger and the process's resident memory plus the open
  reservations, so what the ledger does not know about (sessions, messages, the allocator's slack)
  still counts, and so does work that has reserved its memory but not touched it yet. (Work that
  has touched it, such as a training run under way, may ``settle()`` its reservation so it is not
  counted twice.)

When the budget is short, a reservation waits (telling its caller how it stands every poll). Free
memory goes to waiters in arrival order, first fit: a later request that fits what the earlier ones
cannot use goes at once. After a bound it is refused with MemoryRefusedError. Knows nothing about Streamlit: ui.traces
draws the messages.
"""

from __future__ import annotations

import gc
import itertools
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Protocol

from gptcore.stats import format_bytes

logger = logging.getLogger(__name__)

MAKE_ROOM_EVERY_S = 1.0  # gc and heap trims walk the whole process: at most this often


class MemoryRefusedError(RuntimeError):
    """A reservation that did not fit the budget in time, or could never fit it."""

    def __init__(self, what: str, needed: int, free: int, limit: int, never_fits: bool) -> None:
        self.what, self.needed, self.free, self.limit, self.never_fits = what, needed, free, limit, never_fits
        if never_fits:
            message = (
                f"{what} needs about {format_bytes(needed)} of memory, more than this server's whole "
                f"memory budget ({format_bytes(limit)}) can hold."
            )
        else:
            message = (
                f"{what} needs about {format_bytes(needed)} of memory, and only {format_bytes(max(0, free))} of "
                f"this server's {format_bytes(limit)} budget is free: other students' work holds the rest."
            )
        super().__init__(message)


class _Waiter:
    """One reserve() call waiting for room, with the bytes it asks for."""

    __slots__ = ("nbytes",)

    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes


class Evictable(Protocol):
    """A cache the budget may shrink: how much it could give back now, and give back at least ``nbytes``."""

    def evictable_bytes(self) -> int: ...

    def evict(self, nbytes: int) -> int: ...


class Reservation:
    """Bytes set aside for one piece of work: a context manager that gives them back on exit,
    unless ``keep_with(owner)`` handed them to an object, to be given back when it is collected."""

    def __init__(self, budget: MemoryBudget, nbytes: int, what: str) -> None:
        self.budget, self.nbytes, self.what = budget, nbytes, what
        self._open = True
        self._settled = False

    def keep_with(self, owner):
        """Hold the bytes for as long as ``owner`` lives (it must accept weak references); returns owner."""
        if self._open:
            self._open = False
            self.budget._move_to_held(self.nbytes, owner, self._settled)
        return owner

    def settle(self) -> None:
        """The work now holds its memory for real: count it in the ledger only, not on top of resident memory."""
        if self._open and not self._settled:
            self._settled = True
            self.budget._settle(self.nbytes)

    def release(self) -> None:
        if self._open:
            self._open = False
            self.budget._release_reserved(self.nbytes, self._settled)

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


class MemoryBudget:
    """A process-wide limit in bytes on what the app's work may use; see the module's docstring.

    ``resident()`` reads the process's resident memory; ``trim()`` gives freed heap pages back
    to the system. What is resident when the budget is made (Python, torch, Streamlit) is its baseline.
    """

    def __init__(
        self,
        limit: int,
        resident: Callable[[], int],
        trim: Callable[[], None] | None = None,
        poll_s: float = 1.0,
    ) -> None:
        self.limit = limit
        self.resident = resident
        self.trim = trim
        self.poll_s = poll_s  # how often a waiter looks again (resident memory falls without a notice)
        self.baseline = resident()
        self._reserved = 0  # bytes of reservations still open
        self._settled = 0  # the part of them whose work holds its memory already
        self._held = 0  # bytes kept with objects still alive
        self._caches: list[Evictable] = []
        self._counted: list[Callable[[], int]] = []
        self._waiting: list[_Waiter] = []  # the reserve() calls under way, in arrival order
        self._condition = threading.Condition()  # re-entrant: a finaliser may run inside our own lock
        self._last_room_made = 0.0

    # --- what is in use --------------------------------------------------------------------
    def add_cache(self, cache: Evictable, counted: Callable[[], int] | None = None) -> None:
        """Let the budget shrink ``cache``; ``counted()``, when given, is memory it holds that no
        reservation covers, counted in the ledger."""
        self._caches.append(cache)
        if counted is not None:
            self._counted.append(counted)

    def accounted(self) -> int:
        """What the ledger knows of: baseline, open reservations, kept objects, counted caches."""
        return self.baseline + self._reserved + self._held + sum(count() for count in self._counted)

    def used(self) -> int:
        return max(self.accounted(), self.resident() + self._reserved - self._settled)

    def free(self) -> int:
        return self.limit - self.used()

    def evictable(self) -> int:
        return sum(cache.evictable_bytes() for cache in self._caches)

    def never_fits(self, nbytes: int) -> bool:
        return nbytes > self.limit - self.baseline

    def would_fit(self, nbytes: int) -> bool:
        """Whether a reservation of ``nbytes`` could be granted now, once unused cache entries went."""
        return not self.never_fits(nbytes) and nbytes <= self.free() + self.evictable()

    # --- reserving -------------------------------------------------------------------------
    def reserve(
        self,
        nbytes: int,
        what: str,
        timeout: float = 0.0,
        on_wait: Callable[[int], None] | None = None,
    ) -> Reservation:
        """Set ``nbytes`` aside for ``what``, waiting up to ``timeout`` seconds for room.

        ``on_wait(short_by)`` is called outside the budget's lock about every ``poll_s`` while
        waiting (it may draw, or raise to end the wait). Raises MemoryRefusedError at once for a
        request larger than the whole budget, and after ``timeout`` for one that did not fit in time.
        """
        nbytes = max(0, int(nbytes))
        if nbytes == 0:
            return Reservation(self, 0, what)
        if self.never_fits(nbytes):
            raise MemoryRefusedError(what, nbytes, self.free(), self.limit, never_fits=True)
        deadline = time.monotonic() + timeout
        ticket = _Waiter(nbytes)
        with self._condition:
            self._waiting.append(ticket)
        try:
            while True:
                granted = self._grant(nbytes, what, ticket)
                if granted is None and self._first_waiting() is ticket:
                    self._make_room(nbytes)  # only the first waiter drops cache entries
                    granted = self._grant(nbytes, what, ticket)
                if granted is not None:
                    return granted
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise MemoryRefusedError(what, nbytes, self.free(), self.limit, never_fits=False)
                if on_wait is not None:
                    on_wait(max(0, nbytes - self.free()))
                with self._condition:
                    self._condition.wait(min(self.poll_s, remaining))
        finally:
            with self._condition:
                self._waiting.remove(ticket)
                self._condition.notify_all()  # the next waiter may be first now

    def _first_waiting(self) -> _Waiter:
        with self._condition:
            return self._waiting[0]

    def hold(self, owner, nbytes: int) -> None:
        """Count ``nbytes`` for as long as ``owner`` lives, without a reservation (e.g. a model loaded at start)."""
        with self._condition:
            self._held += nbytes
        weakref.finalize(owner, self._release_held, nbytes)

    def _grant(self, nbytes: int, what: str, ticket: _Waiter) -> Reservation | None:
        """Grant ``ticket`` if it fits in what the free memory leaves once earlier waiters that fit took theirs.

        So the free memory goes first come, first served, yet a request that arrived later still goes
        when what is free is no use to those before it. That matters: the work asking may be a page
        holding a trace that an earlier waiter needs evicted, and it lets go once it finishes.
        """
        with self._condition:
            free = self.free()
            for earlier in itertools.takewhile(lambda waiter: waiter is not ticket, self._waiting):
                if earlier.nbytes <= free:
                    free -= earlier.nbytes
            if nbytes > free:
                return None
            self._reserved += nbytes
            self._log(f"granted {format_bytes(nbytes)} to {what}")
            return Reservation(self, nbytes, what)

    def _make_room(self, nbytes: int) -> None:
        """Drop unused cache entries for the shortfall, collect the garbage they leave, trim the heap."""
        now = time.monotonic()
        if now - self._last_room_made < MAKE_ROOM_EVERY_S:
            return
        self._last_room_made = now
        short_by = nbytes - self.free()
        for cache in self._caches:
            if short_by <= 0:
                break
            short_by -= cache.evict(short_by)
        gc.collect()  # a page's globals refer to themselves: only the cycle collector frees them
        if self.trim is not None:
            self.trim()

    # --- giving back -----------------------------------------------------------------------
    def _settle(self, nbytes: int) -> None:
        with self._condition:
            self._settled += nbytes

    def _release_reserved(self, nbytes: int, settled: bool) -> None:
        with self._condition:
            self._reserved -= nbytes
            self._settled -= nbytes if settled else 0
            self._condition.notify_all()
        self._log(f"gave back {format_bytes(nbytes)}")

    def _move_to_held(self, nbytes: int, owner, settled: bool) -> None:
        with self._condition:
            self._reserved -= nbytes
            self._settled -= nbytes if settled else 0
            self._held += nbytes
        weakref.finalize(owner, self._release_held, nbytes)

    def _release_held(self, nbytes: int) -> None:
        with self._condition:
            self._held -= nbytes
            self._condition.notify_all()
        self._log(f"gave back {format_bytes(nbytes)} kept with an object now gone")

    def _log(self, event: str) -> None:
        """At DEBUG level, each grant and return with the budget's state: how a peak came about."""
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s; %s", event, self.describe())

    def describe(self) -> str:
        """One line for logs and the stress bench: the limit and how it is used."""
        return (
            f"budget {format_bytes(self.limit)}: resident {format_bytes(self.resident())}, "
            f"ledger {format_bytes(self.accounted())} (baseline {format_bytes(self.baseline)}, "
            f"reserved {format_bytes(self._reserved)}, kept {format_bytes(self._held)})"
        )
