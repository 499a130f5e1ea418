"""Turns at the model and room in memory: what a page waits for before it computes, and what it is told.

``computing()`` is the one way pages run the model. It first reserves the work's memory in the
process's budget (ui/memory.py), waiting with "waiting for memory…" while others' work holds it,
then takes a turn in the first-come-first-served COMPUTE_QUEUE (ui/queue.py), showing the
student's place. A full queue, an overlong wait or a request the budget cannot hold ends the page
with a message that says what to do; it never raises into the page or takes the server down.
Worker threads (training runs) wait without drawing and get the errors instead.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import streamlit as st
import torch

from .allocator import trim_heap
from .budget import MemoryRefusedError, Reservation
from .jobs import GenerationJob, Job, steps_of, wait_for, wait_started
from .memory import MEMORY_BUDGET
from .queue import ComputeQueue, ServerBusyError
from .scheduler import Scheduler

THREADS_ENV = "GPT_EXPLORER_THREADS"  # torch threads per app process; set when several share a machine
MAX_WAITING = 60  # students queued for the model beyond this are told to come back instead of queued
MAX_WAIT_S = 180.0  # a script that has waited this long for one turn gives up with the same message
MEMORY_WAIT_ENV = "GPT_EXPLORER_MEMORY_WAIT_S"
MAX_MEMORY_WAIT_S = float(
    os.environ.get(MEMORY_WAIT_ENV, "120")
)  # a script that waited this long for memory is refused
SHOW_WAIT_AFTER_S = 0.3  # shorter waits (one generated token of someone else's) draw nothing, so no flicker
TRIM_EVERY_S = 1.0  # at most this often: a trim walks every free block (milliseconds)
_last_trim = 0.0


def _torch_threads() -> int:
    """All the cores this process may use (its affinity, not the whole machine), at most 8.

    Sessions take turns through COMPUTE_QUEUE, so one computation at a time gets every core
    instead of several fighting over them (oversubscribed OpenMP threads slow everyone down).
    Several app processes on one machine (deploy/start-class.sh) split the cores through THREADS_ENV.
    """
    configured = os.environ.get(THREADS_ENV, "").strip()
    if configured:
        return max(1, int(configured))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(8, cores))


PAGE_THREADS = _torch_threads()
torch.set_num_threads(PAGE_THREADS)
COMPUTE_QUEUE = ComputeQueue(max_waiting=MAX_WAITING)
COMPUTE_LOCK = COMPUTE_QUEUE  # the old name: the queue also works as a lock (with, acquire, release)


BATCH_PLACE = 1  # a batch waits behind one other computation at most, not the whole line


@contextmanager
def _batch_turn(kind: str) -> Iterator[None]:
    """A turn for one of the scheduler's batches, in line with training steps and page computations.

    A batch goes second in line: it serves every student whose trace or token is waiting, and the
    one scheduler thread that runs it would otherwise hold up every generation while it waited for
    a whole class's gradient turns. Between two batches one other computation still gets
    its turn.
    """
    with COMPUTE_QUEUE.turn(place=BATCH_PLACE):
        _use_threads(None)
        yield


SCHEDULER = Scheduler(turn=_batch_turn)


def _give_back_memory_when_idle() -> None:
    """Return freed memory to the system once nobody is computing or waiting, so an idle server
    holds what its sessions and caches hold, not the peak of the last busy minute."""
    global _last_trim
    now = time.monotonic()
    if now - _last_trim < TRIM_EVERY_S or COMPUTE_QUEUE.locked() or COMPUTE_QUEUE.waiting():
        return
    _last_trim = now
    trim_heap()


SCRIPT_THREAD = "ScriptRunner.scriptThread"  # the name Streamlit gives the thread that runs a session's page


def _in_script_thread() -> bool:
    """True in a Streamlit script run's own thread; False in a worker thread (e.g. a training run),
    even one given the session's context, since its drawing could land in a later run's page."""
    return threading.current_thread().name == SCRIPT_THREAD


# --- what a student reads ------------------------------------------------------------------------


def waiting_message(ahead: int) -> str:
    # "others", not "students": a training run's steps queue too
    others = "1 other is" if ahead == 1 else f"{ahead} others are"
    return f"⏳ Waiting for your turn at the model: {others} ahead of you. Your page continues by itself."


def memory_waiting_message(what: str) -> str:
    return (
        f"⏳ Waiting for memory: {what[0].lower() + what[1:]} needs room that other students' work is using "
        "right now. Your page continues by itself."
    )


def busy_message(waiting: int) -> str:
    return f"The server is busy: {waiting} requests are waiting for the model. Please try again in a minute."


def refused_message(refused: MemoryRefusedError, advice: str) -> str:
    return f"{refused} {advice}"


SHORTER_PROMPT = "Try a shorter prompt, or try again in a minute."


class _WaitingNotice:
    """The on_wait callback of one script's wait: a placeholder made only if the wait lasts."""

    def __init__(self, slot=None) -> None:
        self.slot = slot
        self.drawn = False
        self.started = time.monotonic()

    def show(self, text: str) -> None:
        if time.monotonic() - self.started < SHOW_WAIT_AFTER_S and not self.drawn:
            return
        if self.slot is None:
            self.slot = st.empty()
        # Rewritten every poll even when unchanged: each write is also where a stopped
        # or rerun script (a student who left or changed the prompt) leaves the queue.
        self.slot.info(text)
        self.drawn = True

    def __call__(self, ahead: int) -> None:
        self.show(waiting_message(ahead))

    def in_batch(self, ahead: int) -> None:
        """A scheduler job's wait: its place while others are ahead; nothing once it runs."""
        if ahead > 0 or self.drawn:
            self.show(waiting_message(ahead) if ahead > 0 else "⏳ Your turn: the model is reading…")

    def error(self, text: str) -> None:
        (st if self.slot is None else self.slot).error(text)

    def clear(self) -> None:
        if self.drawn:
            self.slot.empty()


def _use_threads(threads: int | None) -> None:
    # Set at the start of every turn: torch keeps one process-wide default that new threads start
    # from, so a turn with another count (a training run's) would otherwise leave it behind.
    torch.set_num_threads(threads or PAGE_THREADS)


# --- memory ----------------------------------------------------------------------------------------


@contextmanager
def reserving(nbytes: int, what: str, slot=None, advice: str = SHORTER_PROMPT) -> Iterator[Reservation]:
    """Hold ``nbytes`` of the memory budget for the block (or, via ``keep_with``, for what it makes).

    In a script, a wait shows "waiting for memory" (in ``slot`` if given) and a refusal ends the page
    with the reason and ``advice``. In a worker thread it waits as long as MAX_MEMORY_WAIT_S, silently,
    and raises MemoryRefusedError.
    """
    if not _in_script_thread():
        with MEMORY_BUDGET.reserve(nbytes, what, timeout=MAX_MEMORY_WAIT_S) as reservation:
            yield reservation
        return
    notice = _WaitingNotice(slot)
    try:
        reservation = MEMORY_BUDGET.reserve(
            nbytes, what, timeout=MAX_MEMORY_WAIT_S, on_wait=lambda _short: notice.show(memory_waiting_message(what))
        )
    except MemoryRefusedError as refused:
        notice.error(refused_message(refused, advice))
        st.stop()
    try:
        notice.clear()
        yield reservation
    finally:
        reservation.release()


# --- turns -----------------------------------------------------------------------------------------


@contextmanager
def _turn(slot=None, threads: int | None = None) -> Iterator[None]:
    if not _in_script_thread():
        # No trim here: a training run's next step would fault the same memory straight back in.
        with COMPUTE_QUEUE.turn():
            _use_threads(threads)
            yield
        return
    notice = _WaitingNotice(slot)
    try:
        COMPUTE_QUEUE.acquire(timeout=MAX_WAIT_S, bounded=True, on_wait=notice)
    except ServerBusyError as busy:
        notice.error(busy_message(max(busy.waiting, COMPUTE_QUEUE.waiting())))
        st.stop()
    try:
        notice.clear()  # inside the try: clearing is a point where a stop can arrive, and the turn must go back
        _use_threads(threads)
        yield
    finally:
        COMPUTE_QUEUE.release()
        _give_back_memory_when_idle()


@contextmanager
def computing(
    slot=None, threads: int | None = None, *, reserve: int = 0, what: str = "This step", advice: str = SHORTER_PROMPT
) -> Iterator[Reservation | None]:
    """Take a turn at the model, after reserving ``reserve`` bytes of memory for it (when given).

    Turns are served in arrival order; one computation at a time gets all the cores (or ``threads``
    of them). Yields the reservation, so work whose result outlives the turn can keep its bytes
    with it (``reservation.keep_with(trace)``), or None when nothing was reserved.
    """
    with reserving(reserve, what, slot, advice) if reserve else nullcontext() as reservation, _turn(slot, threads):
        yield reservation


# --- batched jobs ------------------------------------------------------------------------------


def _submit(job: Job, notice: _WaitingNotice | None) -> Job:
    waiting = SCHEDULER.waiting()
    if waiting >= MAX_WAITING:
        if notice is None:
            raise ServerBusyError(f"{waiting} jobs are already waiting", waiting)
        notice.error(busy_message(waiting))
        st.stop()
    return SCHEDULER.submit(job)


def in_batch(job: Job, slot=None) -> object:
    """Run a job (a trace) in the scheduler's next batch and return its result.

    In a script the student sees their place while others are ahead, and a wait past MAX_WAIT_S ends
    the page with the "server busy" message; a worker thread waits silently and gets the errors.
    """
    return _scheduled(job, slot, wait_for)


def generated_steps(job: GenerationJob, slot=None) -> Iterator[list]:
    """The Steps of a generation run in the scheduler's decode batch, as they come: lists of the
    Steps that arrived since the last (see scheduler.steps_of).

    Waiting for the prompt to be read shows the student's place (in ``slot``), with the same bound
    and messages as ``in_batch``. Closing the iterator (the student left) takes it out of the batch.
    """
    _scheduled(job, slot, wait_started)
    yield from steps_of(SCHEDULER, job)


def _scheduled(job: Job, slot, wait) -> object:
    """Submit ``job`` and ``wait(scheduler, job, timeout, on_wait)`` for it, with the student's messages."""
    if not _in_script_thread():
        return wait(SCHEDULER, _submit(job, None), MAX_WAIT_S)
    notice = _WaitingNotice(slot)
    try:
        result = wait(SCHEDULER, _submit(job, notice), MAX_WAIT_S, on_wait=notice.in_batch)
    except TimeoutError:
        notice.error(busy_message(SCHEDULER.waiting()))
        st.stop()
    notice.clear()
    return result


def busy_sessions() -> int:
    """Other work going on now: generations besides one's own, and computations waiting for a turn."""
    return max(0, SCHEDULER.generating() - 1) + COMPUTE_QUEUE.waiting()
