"""The prompt's trace through the session's model, computed once per (model, prompt) and shared."""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
import torch
from streamlit.runtime.scriptrunner import get_script_run_ctx

from gptcore import GPTConfig, Trace, get_tokenizer, trace

from .memory import memory_refusal
from .models import current_model, current_model_id, get_model
from .queue import ComputeQueue, ServerBusyError
from .state import current_prompt

THREADS_ENV = "GPT_EXPLORER_THREADS"  # torch threads per app process; set when several share a machine
MAX_WAITING = 60  # students queued for the model beyond this are told to come back instead of queued
MAX_WAIT_S = 180.0  # a script that has waited this long for one turn gives up with the same message
SHOW_WAIT_AFTER_S = 0.3  # shorter waits (one generated token of someone else's) draw nothing, so no flicker


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


def _load_glibc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune
        return None


_LIBC = _load_glibc()
TRIM_EVERY_S = 1.0  # at most this often: a trim walks every free block (milliseconds)
_last_trim = 0.0


def _limit_arenas() -> None:
    """Two malloc arenas for the whole process instead of one per session thread.

    Every session's script runs in its own thread, and glibc by default gives threads their own
    arenas (up to 8 per core), each keeping the large blocks a 124M model frees (logits,
    attention maps). Only one computation runs at a time, so two arenas cost no speed. A
    MALLOC_ARENA_MAX a teacher put in the environment wins.
    """
    if _LIBC is not None and "MALLOC_ARENA_MAX" not in os.environ:
        m_arena_max = -8  # from malloc.h
        _LIBC.mallopt(m_arena_max, 2)


def _give_back_memory_when_idle() -> None:
    """Return freed memory to the system once nobody is computing or waiting, so an idle server
    holds what its sessions and caches hold, not the peak of the last busy minute."""
    global _last_trim
    now = time.monotonic()
    if _LIBC is None or now - _last_trim < TRIM_EVERY_S or COMPUTE_QUEUE.locked() or COMPUTE_QUEUE.waiting():
        return
    _last_trim = now
    _LIBC.malloc_trim(0)


PAGE_THREADS = _torch_threads()
torch.set_num_threads(PAGE_THREADS)
_limit_arenas()
COMPUTE_QUEUE = ComputeQueue(max_waiting=MAX_WAITING)
COMPUTE_LOCK = COMPUTE_QUEUE  # the old name: the queue also works as a lock (with, acquire, release)


def _in_script_thread() -> bool:
    """True in a Streamlit script run's own thread; False in a worker thread (e.g. a training run),
    even one given the session's context, since its drawing could land in a later run's page."""
    return (
        get_script_run_ctx(suppress_warning=True) is not None
        and threading.current_thread().name == "ScriptRunner.scriptThread"
    )


def waiting_message(ahead: int) -> str:
    # "others", not "students": a training run's steps queue too
    others = "1 other is" if ahead == 1 else f"{ahead} others are"
    return f"⏳ Waiting for your turn at the model: {others} ahead of you. Your page continues by itself."


def busy_message(waiting: int) -> str:
    return f"The server is busy: {waiting} requests are waiting for the model. Please try again in a minute."


@contextmanager
def _drawing_outside_cache() -> Iterator[None]:
    """Draw the waiting message without a cached function recording it for replay.

    computing() is often called inside st.cache_resource / st.cache_data functions (get_trace);
    Streamlit records what those draw and replays it on every cache hit, which would replay a
    stale queue message. The flag is Streamlit's own context variable; if it moves, we draw anyway.
    """
    try:
        from streamlit.runtime.scriptrunner_utils.script_run_context import in_cached_function
    except ImportError:  # pragma: no cover - a later Streamlit
        yield
        return
    token = in_cached_function.set(False)
    try:
        yield
    finally:
        in_cached_function.reset(token)


class _WaitingNotice:
    """The on_wait callback of one script's wait: a placeholder made only if the wait lasts."""

    def __init__(self, slot=None) -> None:
        self.slot = slot
        self.drawn = False
        self.started = time.monotonic()

    def __call__(self, ahead: int) -> None:
        if time.monotonic() - self.started < SHOW_WAIT_AFTER_S and not self.drawn:
            return
        with _drawing_outside_cache():
            if self.slot is None:
                self.slot = st.empty()
            # Rewritten every poll even when unchanged: each write is also where a stopped
            # or rerun script (a student who left or changed the prompt) leaves the queue.
            self.slot.info(waiting_message(ahead))
            self.drawn = True

    def clear(self) -> None:
        if self.drawn:
            with _drawing_outside_cache():
                self.slot.empty()


def _use_threads(threads: int | None) -> None:
    # Set at the start of every turn: torch keeps one process-wide default that new threads start
    # from, so a turn with another count (a training run's) would otherwise leave it behind.
    torch.set_num_threads(threads or PAGE_THREADS)


@contextmanager
def computing(slot=None, threads: int | None = None) -> Iterator[None]:
    """Take a turn at the model: one computation at a time gets all the cores (or ``threads`` of them).

    Turns are served in arrival order. In a Streamlit script, a wait that lasts shows the
    student's place in the queue (in ``slot``, an st.empty() the caller owns, or a new placeholder
    where the page stands), and a full queue or an overlong wait stops the script with a
    "server is busy" message instead of hanging. Worker threads (training steps) draw nothing
    and wait as long as it takes, like the plain lock this replaced.
    """
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
        with _drawing_outside_cache():
            (st if notice.slot is None else notice.slot).error(busy_message(max(busy.waiting, COMPUTE_QUEUE.waiting())))
        st.stop()
    try:
        notice.clear()  # inside the try: clearing is a point where a stop can arrive, and the turn must go back
        _use_threads(threads)
        yield
    finally:
        COMPUTE_QUEUE.release()
        _give_back_memory_when_idle()


@st.cache_resource(show_spinner=False, max_entries=8, ttl=1800)
def get_trace(model_id: str, token_ids: tuple[int, ...]) -> Trace:
    """The trace of one prompt, cached per (model id, token ids); tensors are never hashed.

    A cache_resource rather than cache_data: cache_data would pickle and unpickle the whole trace
    on every rerun (tens of MB for a short prompt, over a GB at 1024 tokens), while a Trace is
    read-only, so every session asking for the same prompt can share one.
    """
    model = get_model(model_id)
    with computing():
        return trace(model, token_ids)


def prompt_token_ids() -> list[int]:
    """The prompt's token ids; on an empty prompt, a friendly hint and the page stops there."""
    ids = get_tokenizer().encode(current_prompt())
    if not ids:
        st.info("Type a prompt in the sidebar to see what the model does with it, e.g. *Every effort moves you*.")
        st.stop()
    return ids


def trace_bytes(cfg: GPTConfig, num_tokens: int) -> int:
    """Roughly what a Trace of ``num_tokens`` holds: attention maps grow with T², the rest with T."""
    attention = cfg.n_layers * cfg.n_heads * num_tokens**2  # the scores; each pattern is derived when drawn
    streams = cfg.n_layers * num_tokens * (10 * cfg.emb_dim + 4 * cfg.emb_dim)  # residuals, norms, outputs, GELU
    return 4 * (attention + streams + num_tokens * cfg.vocab_size)  # float32, plus the logits


def current_trace() -> Trace:
    """The cached trace of the current prompt, with a notice when the prompt had to be cropped."""
    ids = prompt_token_ids()
    model = current_model()
    context = model.cfg.context_length
    kept = ids[-context:]  # cropped here, as trace() would, so every page shares one cache entry
    if len(kept) < len(ids):
        st.warning(
            f"The prompt has {len(ids)} tokens but this model reads at most {context}; "
            f"the first {len(ids) - len(kept)} tokens were dropped (as the book's code does)."
        )
    refused = memory_refusal(f"Tracing {len(kept)} tokens", trace_bytes(model.cfg, len(kept)))
    if refused:
        st.error(refused.replace("Pick a smaller model", "Try a shorter prompt or a smaller model"))
        st.stop()
    with st.spinner("Running the prompt through the model…"):
        return get_trace(current_model_id(), tuple(kept))
