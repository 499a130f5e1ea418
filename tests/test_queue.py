"""The compute queue: turns in arrival order, places reported, a bound, and the waiting message."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from streamlit.testing.v1 import AppTest

import ui
from ui import turns
from ui.queue import ComputeQueue, ServerBusyError


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.005)


def queue_up(queue: ComputeQueue, count: int, served: list[int], **acquire_args) -> list[threading.Thread]:
    """Start ``count`` threads that each wait for a turn, one after another, and note when served."""
    threads = []
    for i in range(count):

        def take(i=i):
            with queue.turn(**acquire_args):
                served.append(i)

        thread = threading.Thread(target=take, daemon=True)
        thread.start()
        wait_until(lambda i=i: queue.waiting() == i + 1)  # arrived and queued before the next one starts
        threads.append(thread)
    return threads


def in_another_thread(fn):
    """What ``fn()`` returns or raises, run in a thread that does not hold the turn (turns re-enter)."""
    outcome = {}

    def run():
        try:
            outcome["value"] = fn()
        except BaseException as error:  # handed back to the test
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=10)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_turns_are_served_in_arrival_order():
    queue = ComputeQueue(poll_s=0.05)
    served: list[int] = []
    queue.acquire()
    threads = queue_up(queue, 8, served)
    assert served == []  # nobody runs while the turn is held
    queue.release()
    for thread in threads:
        thread.join(timeout=5)
    assert served == list(range(8))
    assert not queue.locked() and queue.waiting() == 0


def test_a_waiter_given_a_place_goes_in_at_that_place():
    queue = ComputeQueue(poll_s=0.05)
    served: list[object] = []
    queue.acquire()
    threads = queue_up(queue, 4, served)  # 0, 1, 2, 3 in line

    def decode_step():
        with queue.turn(place=1):
            served.append("step")

    cutting_in = threading.Thread(target=decode_step)
    cutting_in.start()
    wait_until(lambda: queue.waiting() == 5)
    queue.release()
    for thread in [*threads, cutting_in]:
        thread.join(timeout=5)
    assert served == [0, "step", 1, 2, 3]  # second in line: one other turn before it, not four


def test_one_holder_at_a_time():
    queue = ComputeQueue()
    inside, most_inside = 0, 0
    guard = threading.Lock()

    def work():
        nonlocal inside, most_inside
        for _ in range(20):
            with queue.turn():
                with guard:
                    inside += 1
                    most_inside = max(most_inside, inside)
                time.sleep(0.0005)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert most_inside == 1


def test_waiters_hear_how_many_are_ahead_as_the_queue_moves():
    queue = ComputeQueue(poll_s=0.05)
    heard: list[int] = []
    served: list[int] = []
    queue.acquire()
    threads = queue_up(queue, 2, served)
    last = threading.Thread(target=lambda: queue.acquire(on_wait=heard.append), daemon=True)
    last.start()
    wait_until(lambda: heard)
    assert heard[0] == 3  # the holder and two earlier waiters
    queue.release()
    last.join(timeout=5)
    assert served == [0, 1] and queue.locked()  # the last waiter came last and now holds the turn
    assert set(heard) <= {3, 2, 1}
    assert heard == sorted(heard, reverse=True)  # the place only ever improves
    for thread in threads:
        thread.join(timeout=5)


def test_a_full_queue_refuses_bounded_waiters_and_keeps_the_others():
    queue = ComputeQueue(max_waiting=2, poll_s=0.05)
    served: list[int] = []
    queue.acquire()
    threads = queue_up(queue, 2, served)
    with pytest.raises(ServerBusyError) as refused:
        in_another_thread(lambda: queue.acquire(bounded=True))
    assert refused.value.waiting == 2
    assert queue.waiting() == 2  # the refused one took no place
    queue.release()
    for thread in threads:
        thread.join(timeout=5)
    assert served == [0, 1]


def test_a_wait_past_its_limit_gives_up_and_leaves_the_queue():
    queue = ComputeQueue(poll_s=0.05)
    queue.acquire()
    start = time.monotonic()
    with pytest.raises(ServerBusyError):
        in_another_thread(lambda: queue.acquire(timeout=0.2, bounded=True))
    assert 0.15 < time.monotonic() - start < 2
    assert queue.waiting() == 0
    assert in_another_thread(lambda: queue.acquire(timeout=0.05)) is False  # unbounded: as a Lock answers
    assert queue.waiting() == 0
    queue.release()
    assert queue.acquire(blocking=False) and queue.locked()


def test_a_waiter_that_is_stopped_gives_its_place_to_the_next():
    queue = ComputeQueue(poll_s=0.02)
    queue.acquire()
    served: list[str] = []

    def stop_me(ahead):
        raise KeyboardInterrupt  # stands in for Streamlit's StopException arriving at a draw

    def leaver():
        with pytest.raises(KeyboardInterrupt):
            queue.acquire(on_wait=stop_me)

    first = threading.Thread(target=leaver)
    first.start()
    first.join(timeout=5)

    def stayer():
        with queue.turn():
            served.append("second")

    second = threading.Thread(target=stayer)
    second.start()
    wait_until(lambda: queue.waiting() == 1)
    queue.release()
    second.join(timeout=5)
    assert served == ["second"]


def test_reentrant_for_the_holder_and_usable_as_the_old_lock():
    queue = ComputeQueue()
    with queue:
        with queue.turn():  # the same thread again: no deadlock
            assert queue.locked()
        assert queue.locked()
        other = threading.Thread(target=lambda: served.append(queue.acquire(blocking=False)))
        served: list[bool] = []
        other.start()
        other.join()
        assert served == [False]
    assert not queue.locked()
    assert ui.COMPUTE_LOCK is ui.COMPUTE_QUEUE


def test_computing_from_a_worker_thread_draws_nothing_and_waits_its_turn():
    order: list[str] = []

    def step():
        with ui.computing():  # as a training run's step guard would
            order.append("worker")

    ui.COMPUTE_QUEUE.acquire()
    worker = threading.Thread(target=step)
    worker.start()
    wait_until(lambda: ui.COMPUTE_QUEUE.waiting() == 1)
    order.append("holder")
    ui.COMPUTE_QUEUE.release()
    worker.join(timeout=5)
    assert order == ["holder", "worker"]
    assert not ui.COMPUTE_QUEUE.locked()


def test_every_turn_runs_with_its_own_thread_count():
    # torch keeps one process-wide default that new threads start from: a training turn with fewer
    # threads must not leave the pages' later turns (in fresh script threads) with fewer cores.
    seen: dict[str, int] = {}

    def turn(name: str, threads: int | None) -> None:
        with ui.computing(threads=threads):
            seen[name] = torch.get_num_threads()

    for name, threads in (("training", max(1, turns.PAGE_THREADS - 1)), ("page", None)):
        worker = threading.Thread(target=turn, args=(name, threads))
        worker.start()
        worker.join(timeout=5)
    assert seen == {"training": max(1, turns.PAGE_THREADS - 1), "page": turns.PAGE_THREADS}


# --- the message a student sees --------------------------------------------------------------

SCRIPT = """
import streamlit as st
import ui

with ui.computing():
    st.write("computed")
"""


def run_while_held(hold_s: float | None) -> AppTest:
    """Run SCRIPT in AppTest while this thread holds the turn: for ``hold_s`` seconds once the
    script has joined the queue (however slow its start), or, with None, until the script ends
    by itself (refused or given up)."""
    at = AppTest.from_string(SCRIPT, default_timeout=30)
    ui.COMPUTE_QUEUE.acquire()
    try:
        runner = threading.Thread(target=at.run)
        runner.start()
        if hold_s is None:
            runner.join(timeout=30)
        else:
            wait_until(lambda: ui.COMPUTE_QUEUE.waiting() == 1, timeout=30)
            time.sleep(hold_s)
    finally:
        ui.COMPUTE_QUEUE.release()
    runner.join(timeout=30)
    return at


def test_a_waiting_student_sees_their_place_and_then_the_result(monkeypatch):
    monkeypatch.setattr(turns._WaitingNotice, "clear", lambda self: None)  # keep the message to read it
    monkeypatch.setattr(ui.COMPUTE_QUEUE, "poll_s", 0.1)
    at = run_while_held(hold_s=1.0)
    assert not at.exception
    assert "Waiting for your turn" in at.info[0].value
    assert "1 other is ahead of you" in at.info[0].value
    assert at.markdown[0].value == "computed"


def test_the_waiting_message_is_gone_once_the_turn_starts(monkeypatch):
    monkeypatch.setattr(ui.COMPUTE_QUEUE, "poll_s", 0.1)
    at = run_while_held(hold_s=1.0)
    assert not at.info
    assert at.markdown[0].value == "computed"


def test_a_full_queue_tells_the_student_to_come_back(monkeypatch):
    monkeypatch.setattr(ui.COMPUTE_QUEUE, "max_waiting", 0)
    at = run_while_held(hold_s=None)
    assert not at.exception
    assert "server is busy" in at.error[0].value
    assert not at.markdown  # the script stopped instead of computing


def test_an_overlong_wait_stops_with_the_same_message(monkeypatch):
    monkeypatch.setattr(turns, "MAX_WAIT_S", 0.3)
    monkeypatch.setattr(ui.COMPUTE_QUEUE, "poll_s", 0.05)
    at = run_while_held(hold_s=None)
    assert "try again in a minute" in at.error[0].value
    assert not at.markdown
    assert ui.COMPUTE_QUEUE.waiting() == 0
