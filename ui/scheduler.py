"""One thread runs the whole class's traces and generation steps, in batches.

Sessions submit jobs (a trace, a generation) and wait for their results; the scheduler thread
forms batches from whatever is pending, in arrival order:

- pending traces of one model go through the model together (gptcore.batching.trace_batch);
- generations join that model's DecodeBatch, and every step gives each of them its next token in
  one forward pass. A generation joins or leaves between any two steps.

Each batch takes one turn in COMPUTE_QUEUE, so training runs and the pages' other computations
(the logit lens, gradients) still interleave with the class's batches in arrival order. Memory is
reserved by the page before it submits (ui.turns.reserving); a job's place, "server busy" and
the bound on waiting are drawn by ``wait_for`` below. Knows nothing of pages: only of models and jobs.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch

from gptcore import GPTModel, Step, Trace
from gptcore.batching import DecodeBatch, Generation, trace_batch
from gptcore.trace import cropped_token_ids

MAX_BATCH_TOKENS = 2048  # traces of one batch, padded: long prompts gain nothing from sharing a pass
MAX_BATCH_SEQUENCES = 32


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

    def finish(self, result: object = None, error: BaseException | None = None) -> None:
        self.result, self.error = result, error
        self.done.set()


@dataclass(eq=False)
class TraceJob(Job):
    pass


@dataclass(eq=False)
class GenerationJob(Job):
    """A generation: its settings (DecodeBatch.join's keywords) and the Steps as they come."""

    settings: dict = field(default_factory=dict)
    steps: queue.Queue = field(default_factory=queue.Queue)  # Step, then None at the end (or on an error)
    generation: Generation | None = None
    started: threading.Event = field(default_factory=threading.Event)  # set once its prompt is read


class Scheduler:
    """The batching thread and its queue of jobs. ``turn`` wraps each batch (the app passes a
    COMPUTE_QUEUE turn); the thread starts with the first job."""

    def __init__(self, turn: Callable[[], object], max_waiting: int = 60) -> None:
        self.turn = turn
        self.max_waiting = max_waiting
        self._pending: deque[Job] = deque()
        self._generating: dict[str, tuple[DecodeBatch, list[GenerationJob]]] = {}  # model id -> its decode batch
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None
        self.batch_sizes: list[tuple[str, int]] = []  # ("trace" | "decode", sequences) of recent batches
        self.tokens_generated = 0

    # --- what sessions call ----------------------------------------------------------------
    def submit(self, job: Job) -> Job:
        with self._condition:
            self._pending.append(job)
            self._condition.notify_all()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="gpt-explorer-scheduler", daemon=True)
                self._thread.start()
        return job

    def waiting(self) -> int:
        with self._condition:
            return len(self._pending)

    def ahead_of(self, job: Job) -> int:
        """Work before ``job``: the batch running now and the jobs that came earlier (0 once it runs)."""
        with self._condition:
            return self._pending.index(job) + 1 if job in self._pending else 0

    def cancel(self, job: Job) -> None:
        """Forget a job its session no longer waits for; a generation leaves its batch before the next step."""
        with self._condition:
            job.cancelled = True
            if job in self._pending:
                self._pending.remove(job)

    def generating(self) -> int:
        with self._condition:
            return sum(len(jobs) for _, jobs in self._generating.values())

    # --- the thread ------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._pending and not self._generating:
                    self._condition.wait()
            self._run_once()  # its locals (jobs, and through them traces) are gone before the next wait

    def _run_once(self) -> None:
        """A batch of traces, or the generations that arrived joining theirs; then a step of every generation."""
        with self._condition:
            traces = self._take_traces()
            joining = self._take_generations() if not traces else []
        if traces:
            self._run_traces(traces)
        for job in joining:
            self._join(job)
        self._step_generations()

    def _take_traces(self) -> list[TraceJob]:
        """The first pending trace, and the traces of its model after it, while the padded batch stays small."""
        first = next((job for job in self._pending if isinstance(job, TraceJob)), None)
        if first is None:
            return []
        batch: list[TraceJob] = []
        longest = 0
        for job in list(self._pending):
            if not isinstance(job, TraceJob) or job.model_id != first.model_id:
                continue
            longer = max(longest, min(len(job.token_ids), job.model.cfg.context_length))
            if batch and (longer * (len(batch) + 1) > MAX_BATCH_TOKENS or len(batch) >= MAX_BATCH_SEQUENCES):
                break
            batch.append(job)
            longest = longer
            self._pending.remove(job)
        return batch

    def _take_generations(self) -> list[GenerationJob]:
        joining = [job for job in self._pending if isinstance(job, GenerationJob)]
        for job in joining:
            self._pending.remove(job)
        return joining

    def _run_traces(self, jobs: list[TraceJob]) -> None:
        try:
            with self.turn(), torch.no_grad():
                traces = trace_batch(jobs[0].model, [job.token_ids for job in jobs])
            self.batch_sizes.append(("trace", len(jobs)))
        except Exception as error:  # one bad prompt must not take down the others: run them one by one
            if len(jobs) == 1:
                jobs[0].finish(error=error)
                return
            for job in jobs:
                self._run_traces([job])
            return
        for job, result in zip(jobs, traces, strict=True):
            job.finish(result)

    def _join(self, job: GenerationJob) -> None:
        if job.cancelled:
            job.finish(error=JobCancelledError("cancelled"))
            return
        batch, jobs = self._generating.get(job.model_id, (None, []))
        if batch is None:
            batch = DecodeBatch(job.model)
        try:
            with self.turn():
                job.generation = batch.join(job.token_ids, **job.settings)
        except Exception as error:
            job.steps.put(None)
            job.finish(error=error)
            return
        finally:
            job.started.set()
        if len(batch) and job.generation in batch.sequences + batch.windowed:
            with self._condition:
                self._generating[job.model_id] = (batch, [*jobs, job])
        else:  # nothing to generate (max_new_tokens 0)
            job.steps.put(None)
            job.finish(job.generation)

    def _step_generations(self) -> None:
        for model_id, (batch, jobs) in list(self._generating.items()):
            for job in [job for job in jobs if job.cancelled]:
                batch.leave(job.generation)
                jobs.remove(job)
                job.finish(error=JobCancelledError("cancelled"))
            if jobs:
                try:
                    with self.turn():
                        chosen = batch.step()
                except Exception as error:
                    for job in jobs:
                        job.steps.put(None)
                        job.finish(error=error)
                    jobs.clear()
                    chosen = []
                self.batch_sizes.append(("decode", len(chosen)))
                self.tokens_generated += len(chosen)
                by_generation = {id(job.generation): job for job in jobs}
                for generation, step in chosen:
                    by_generation[id(generation)].steps.put(step)
                for job in [job for job in jobs if job.generation.done]:
                    jobs.remove(job)
                    job.steps.put(None)
                    job.finish(job.generation)
            with self._condition:
                if not jobs:
                    del self._generating[model_id]
        del self.batch_sizes[:-1000]  # recent batches only


def trace_job(model: GPTModel, model_id: str, token_ids: tuple[int, ...]) -> TraceJob:
    ids, _ = cropped_token_ids(model, token_ids)  # checked here: a bad prompt fails in its own session
    return TraceJob(model=model, model_id=model_id, token_ids=tuple(ids.tolist()))


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

    Past ``timeout`` seconds (if it has not started) the job is cancelled and TimeoutError raised.
    Anything raised by ``on_wait`` (a Streamlit stop) cancels the job too.
    """
    deadline = time.monotonic() + timeout
    try:
        while not job.done.wait(poll_s):
            ahead = scheduler.ahead_of(job)
            if on_wait is not None:
                on_wait(ahead)
            if time.monotonic() > deadline and ahead > 0:
                raise TimeoutError(f"no turn came within {timeout:.0f} s ({ahead} ahead)")
    except BaseException:
        scheduler.cancel(job)
        raise
    if job.error is not None:
        raise job.error
    result, job.result = job.result, None  # the caller owns it now: a job kept anywhere keeps no trace alive
    return result


def steps_of(scheduler: Scheduler, job: GenerationJob, poll_s: float = 0.25) -> Iterator[Step]:
    """The generation's Steps as the batch makes them; closing the iterator cancels the job."""
    try:
        while True:
            try:
                step = job.steps.get(timeout=poll_s)
            except queue.Empty:
                continue
            if step is None:
                break
            yield step
        if job.error is not None and not isinstance(job.error, JobCancelledError):
            raise job.error
    finally:
        if not job.done.is_set():
            scheduler.cancel(job)


def trace_in_batch(scheduler: Scheduler, job: TraceJob, timeout: float, on_wait=None) -> Trace:
    return wait_for(scheduler, scheduler.submit(job), timeout, on_wait)
