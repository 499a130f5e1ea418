"""Turns at the model for a whole class: a first-come-first-served queue with a bound.

A plain lock lets one computation run at a time but says nothing to the students waiting for
it, serves them in no particular order, and lets a crowd pile up without end. ComputeQueue
hands out turns in arrival order, tells each waiter how many are ahead, and refuses new
waiters (or gives up on a wait) past a bound, so a busy server answers "try again" instead of
hanging. It knows nothing about Streamlit; ui.traces.computing() draws the messages.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class ServerBusyError(RuntimeError):
    """The queue is full, or a wait for a turn took longer than allowed."""

    def __init__(self, message: str, waiting: int) -> None:
        super().__init__(message)
        self.waiting = waiting


class _Ticket:
    __slots__ = ("thread_id",)

    def __init__(self) -> None:
        self.thread_id = threading.get_ident()


class ComputeQueue:
    """One holder at a time; waiters are served in the order they arrived.

    Re-entrant per thread: a holder that asks again (a helper that takes a turn, called from
    code that already has one) carries on instead of deadlocking on itself.

    Also usable as a lock (``with queue:``, ``acquire()``/``release()``, ``locked()``), so code
    written against the old ``COMPUTE_LOCK = threading.Lock()`` keeps working.
    """

    def __init__(self, max_waiting: int = 60, poll_s: float = 1.0) -> None:
        self.max_waiting = max_waiting
        self.poll_s = poll_s  # how often a waiter wakes to report its place (and notice a stop)
        self._condition = threading.Condition()
        self._waiting: deque[_Ticket] = deque()
        self._holder: _Ticket | None = None
        self._depth = 0  # re-entrant holds by the holder's thread

    # --- what a waiter (or a test) can ask -------------------------------------------------
    def waiting(self) -> int:
        with self._condition:
            return len(self._waiting)

    def locked(self) -> bool:
        with self._condition:
            return self._holder is not None

    def _ahead(self, ticket: _Ticket) -> int:
        """How many turns come before ``ticket``'s: the holder's and the earlier waiters'."""
        return self._waiting.index(ticket) + (self._holder is not None)

    # --- taking and giving back a turn -----------------------------------------------------
    def acquire(
        self,
        blocking: bool = True,
        timeout: float = -1,
        *,
        bounded: bool = False,
        on_wait: Callable[[int], None] | None = None,
        place: int | None = None,
    ) -> bool:
        """Wait for a turn; True once it is ours.

        ``timeout`` (seconds, -1 for none) and ``blocking`` behave as for threading.Lock, returning
        False when no turn came. With ``bounded``, a full queue or a wait past ``timeout`` raises
        ServerBusyError instead, for callers that must tell someone. ``on_wait(ahead)`` is called (outside
        the queue's own lock) when the wait begins, whenever the number ahead changes, and every
        ``poll_s`` seconds, so a Streamlit script gets regular points where a stop can reach it.
        ``place`` lets a waiter in at that index of the line instead of its end (0: next).
        """
        me = threading.get_ident()
        deadline = None if timeout is None or timeout < 0 else time.monotonic() + timeout
        with self._condition:
            if self._holder is not None and self._holder.thread_id == me:
                self._depth += 1
                return True
            if self._holder is None and not self._waiting:
                self._holder, self._depth = _Ticket(), 1
                return True
            if not blocking:
                return False
            if bounded and len(self._waiting) >= self.max_waiting:
                raise ServerBusyError(f"{len(self._waiting)} computations are already waiting", len(self._waiting))
            ticket = _Ticket()
            if place is None:
                self._waiting.append(ticket)
            else:
                self._waiting.insert(min(place, len(self._waiting)), ticket)
        try:
            reported = None
            while True:
                with self._condition:
                    if self._holder is None and self._waiting[0] is ticket:
                        self._waiting.popleft()
                        self._holder, self._depth = ticket, 1
                        return True
                    ahead = self._ahead(ticket)
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        if bounded:
                            raise ServerBusyError(f"no turn came within {timeout:.0f} s ({ahead} ahead)", ahead)
                        self._remove(ticket)
                        return False
                    if ahead == reported or on_wait is None:
                        # Sleep until the turn passes on (notify) or it is time to report again.
                        wait = self.poll_s if remaining is None else min(self.poll_s, remaining)
                        if self._condition.wait(wait):
                            continue
                    reported = ahead
                if on_wait is not None:
                    on_wait(ahead)  # outside the lock: it may draw, or raise to end the wait
        except BaseException:
            with self._condition:
                self._remove(ticket)
            raise

    def _remove(self, ticket: _Ticket) -> None:
        """Drop a waiter that gave up, and wake the others: the head of the queue may have changed."""
        if ticket in self._waiting:
            self._waiting.remove(ticket)
        self._condition.notify_all()

    def release(self) -> None:
        with self._condition:
            if self._holder is None:
                raise RuntimeError("release of a ComputeQueue turn that nobody holds")
            self._depth -= 1
            if self._depth == 0:
                self._holder = None
                self._condition.notify_all()  # every waiter rechecks its place; only the head proceeds

    @contextmanager
    def turn(self, **acquire_args) -> Iterator[None]:
        self.acquire(**acquire_args)
        try:
            yield
        finally:
            self.release()

    def __enter__(self) -> ComputeQueue:
        self.acquire()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()
