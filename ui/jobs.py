"""The work sessions hand to the scheduler (ui/scheduler.py), and how a session waits for its result.

A job is a trace, a logit-lens reading or a generation on one model. A session submits it, then
waits: ``wait_for`` its result, or ``wait_started`` and ``steps_of`` for a generation's tokens as
they come. Leaving the wait (a student who left, a wait past its bound) cancels the job.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gptcore import GPTModel, Step
from gptcore.batching import LensReading
from gptcore.decoding import Generation, cache_capacity
from gptcore.trace import cropped_token_ids

if TYPE_CHECKING:
    from .scheduler import Scheduler


class JobCancelledError(RuntimeError):
    """The job's session stopped waiting for it."""


@dataclass(eq=False)
class Job:
    model: GPTModel
    model_id: str
    token_ids: tuple[int, ...]
    done: threading.Event = field(default_factory=threading.Event)
    result: object = None
    error: BaseException | None = None
    cancelled: bool = False

    @property
    def batch_key(self) -> object:
        """Jobs with the same key may share a batch."""
        return self.model_id

    def finish(self, result: object = None, error: BaseException | None = None) -> None:
        self.result, self.error = result, error
        self.done.set()


@dataclass(eq=False)
class TraceJob(Job):
    pass


@dataclass(eq=False)
class LensJob(Job):
    """A logit-lens reading; its result is the reading's ``(ids, probs)``."""

    reading: LensReading | None = None


@dataclass(eq=False)
class GenerationJob(Job):
    """A generation: its settings (DecodeBatch.join's keywords) and the Steps as they come."""

    settings: dict = field(default_factory=dict)
    steps: queue.Queue = field(default_factory=queue.Queue)  # Step, then None at the end (or on an error)
    generation: Generation | None = None
    started: threading.Event = field(default_factory=threading.Event)  # set once its prompt is read

    @property
    def batch_key(self) -> object:
        """Its model and size class: a decode batch's cache rows are all as long as its longest."""
        room = len(self.token_ids) + self.settings.get("max_new_tokens", 0)
        context = self.settings.get("context_size") or self.model.cfg.context_length
        return self.model_id, cache_capacity(min(room, context), self.model.cfg.context_length)


def trace_job(model: GPTModel, model_id: str, token_ids: tuple[int, ...]) -> TraceJob:
    ids, _ = cropped_token_ids(model, token_ids)  # checked here: a bad prompt fails in its own session
    return TraceJob(model=model, model_id=model_id, token_ids=tuple(ids.tolist()))


def lens_job(model: GPTModel, model_id: str, rows, k: int) -> LensJob:
    """A logit-lens reading of ``rows``, (L + 1, P, d) (gptcore.lens.stream_rows), with ``k`` candidates."""
    reading = LensReading(rows, k)  # checked here: a bad request fails in its own session
    if rows.shape[-1] != model.cfg.emb_dim or not 1 <= k <= model.cfg.vocab_size:
        raise ValueError(
            f"expected stream rows of width {model.cfg.emb_dim} and 1 <= k <= vocabulary, got {rows.shape}, {k}"
        )
    return LensJob(model=model, model_id=model_id, token_ids=(), reading=reading)


def generation_job(model: GPTModel, model_id: str, token_ids: tuple[int, ...], **settings) -> GenerationJob:
    return GenerationJob(model=model, model_id=model_id, token_ids=token_ids, settings=settings)


def wait_for(
    scheduler: Scheduler,
    job: Job,
    timeout: float,
    on_wait: Callable[[int], None] | None = None,
    poll_s: float = 0.25,
) -> object:
    """Wait for a job to finish, calling ``on_wait(ahead)`` every poll; the job's result, or its error.

    Past ``timeout`` seconds, if it is still queued (not yet taken into a batch or the lens line),
    the job is cancelled and TimeoutError raised.
    Anything raised by ``on_wait`` (a Streamlit stop) cancels the job too.
    """
    _wait_until(scheduler, job, job.done, timeout, on_wait, poll_s)
    if job.error is not None:
        raise job.error
    result, job.result = job.result, None  # the caller owns it now: a job kept anywhere keeps no trace alive
    return result


def wait_started(
    scheduler: Scheduler,
    job: GenerationJob,
    timeout: float,
    on_wait: Callable[[int], None] | None = None,
    poll_s: float = 0.25,
) -> None:
    """Wait until a generation's prompt has been read (its Steps follow), as ``wait_for`` waits."""
    _wait_until(scheduler, job, job.started, timeout, on_wait, poll_s)


def _wait_until(
    scheduler: Scheduler,
    job: Job,
    event: threading.Event,
    timeout: float,
    on_wait: Callable[[int], None] | None,
    poll_s: float,
) -> None:
    deadline = time.monotonic() + timeout
    try:
        while not event.wait(poll_s):
            ahead = scheduler.ahead_of(job)
            if on_wait is not None:
                on_wait(ahead)
            if time.monotonic() > deadline and ahead > 0 and scheduler.queued(job):
                raise TimeoutError(f"no turn came within {timeout:.0f} s ({ahead} ahead)")
    except BaseException:
        scheduler.cancel(job)
        raise


def steps_of(scheduler: Scheduler, job: GenerationJob, poll_s: float = 0.25) -> Iterator[list[Step]]:
    """The generation's Steps as the batch makes them, a list at a time; closing the iterator cancels the job.

    Each list holds every Step that arrived since the last one (at least one), so a page that draws
    more slowly than a busy server writes draws once for all of them and catches up, instead of
    drawing every step late and holding back the batch with its redrawing.
    """
    try:
        finished = False
        while not finished:
            try:
                arrived = [job.steps.get(timeout=poll_s)]
            except queue.Empty:
                continue
            while arrived[-1] is not None and not job.steps.empty():
                arrived.append(job.steps.get_nowait())  # this thread is the queue's only reader
            if arrived[-1] is None:  # the end (or an error)
                finished = True
                arrived.pop()
            if arrived:
                yield arrived
        if job.error is not None and not isinstance(job.error, JobCancelledError):
            raise job.error
    finally:
        if not job.done.is_set():
            scheduler.cancel(job)
