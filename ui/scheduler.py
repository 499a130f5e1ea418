"""One thread runs the whole class's traces and generation steps, in batches.

Sessions submit jobs (a trace, a logit-lens reading, a generation) and wait for their results;
the scheduler thread forms batches from whatever is pending, in arrival order:

- pending traces of one model go through the model together (gptcore.batching.trace_batch);
- logit-lens readings are read a chunk of rows at a time, the rows of several students' readings
  in one output-head product (gptcore.batching.read_lens_chunk), so a long reading never holds
  up the class's traces and tokens for more than one chunk;
- generations join that model's DecodeBatch, and every step gives each of them its next token in
  one forward pass. A generation joins or leaves between any two steps.

Each batch takes one turn in COMPUTE_QUEUE, so training runs and the pages' other computations
(gradients) still interleave with the class's batches in arrival order. Memory is
reserved by the page before it submits (ui.turns.reserving); a job's place, "server busy" and
the bound on waiting are drawn by ``jobs.wait_for``. Knows nothing of pages: only of models and jobs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable

import torch

from gptcore.batching import read_lens_chunk, trace_batch
from gptcore.decoding import DecodeBatch
from gptcore.footprint import trace_bytes

from .jobs import GenerationJob, Job, JobCancelledError, LensJob, TraceJob

logger = logging.getLogger(__name__)

LOG_EVERY_S = 10.0  # a busy server logs its batch sizes this often, and when it falls idle (bench_class reads them)
MAX_BATCH_TOKENS = 2048  # traces of one batch, padded: long prompts gain nothing from sharing a pass
MAX_BATCH_SEQUENCES = 32
# Each trace reserved memory for its own length, but a batch is padded to its longest: a trace
# joins a batch only while the padding costs less than this (short prompts of a class: a few MB).
MAX_PADDING_BYTES = 64 * 10**6


class Scheduler:
    """The batching thread and its queue of jobs. ``turn(kind)`` wraps each batch, kind "trace",
    "prefill", "lens" or "decode" (the app passes a COMPUTE_QUEUE turn); the thread starts with the first job."""

    def __init__(self, turn: Callable[[str], object]) -> None:
        self.turn = turn
        self._pending: deque[Job] = deque()
        self._reading: list[LensJob] = []  # lens jobs being read, in arrival order (all of one model)
        # (model id, size class) -> its decode batch and the jobs in it
        self._generating: dict[object, tuple[DecodeBatch, list[GenerationJob]]] = {}
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None
        self.batch_sizes: list[tuple[str, int]] = []  # ("trace" | "lens" | "decode", jobs) of recent batches
        self.tokens_generated = 0
        self._unlogged: Counter[tuple[str, int]] = Counter()
        self._unlogged_seconds: Counter[str] = Counter()  # time in each kind of batch, turn waits included
        self._logged_at = time.monotonic()

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
        """Work before ``job``: the batch running now and the jobs that came earlier (0 once it runs);
        for a reading in the lens line, the readings before it (0 while it is being read)."""
        with self._condition:
            if job in self._reading:
                return self._reading.index(job)
            return self._pending.index(job) + 1 if job in self._pending else 0

    def queued(self, job: Job) -> bool:
        """Whether ``job`` still waits to be taken in: the only wait that its bound may end. A
        reading in the lens line is under way (the line moves a chunk every round), like a
        generation in its decode batch."""
        with self._condition:
            return job in self._pending

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
                while not self._pending and not self._generating and not self._reading:
                    self._log_batches(force=True)  # the end of a busy spell
                    self._condition.wait()
            self._run_once()  # its locals (jobs, and through them traces) are gone before the next wait
            self._log_batches()

    def _record(self, kind: str, size: int, seconds: float) -> None:
        self.batch_sizes.append((kind, size))
        del self.batch_sizes[:-1000]  # recent batches only
        self._unlogged[kind, size] += 1
        self._unlogged_seconds[kind] += seconds

    def _log_batches(self, force: bool = False) -> None:
        """Now and then, one line: how many batches of each kind and size ran since the last line."""
        if not self._unlogged or (not force and time.monotonic() - self._logged_at < LOG_EVERY_S):
            return
        for kind in ("trace", "lens", "decode"):
            sizes = {size: count for (k, size), count in sorted(self._unlogged.items()) if k == kind}
            if sizes:
                seconds = self._unlogged_seconds[kind]
                each_ms = 1000 * seconds / sum(sizes.values())
                logger.info(
                    "scheduler %s batches (size: count) %s, %.1f s in all (%.0f ms each)", kind, sizes, seconds, each_ms
                )
        self._unlogged.clear()
        self._unlogged_seconds.clear()
        self._logged_at = time.monotonic()

    def _run_once(self) -> None:
        """A batch of traces, or the generations that arrived joining theirs; a chunk of the lens
        readings; then a step of every generation."""
        with self._condition:
            traces = self._take_traces()
            joining = self._take_generations() if not traces else []
            self._take_readings()
        if traces:
            self._run_traces(traces)
        if joining:
            self._join(joining)
        self._read_lens()
        self._step_generations()

    def _take_traces(self) -> list[TraceJob]:
        """The first pending trace and the traces of its model after it, while the padded batch stays small."""
        return self._take_batch(TraceJob)

    def _take_generations(self) -> list[GenerationJob]:
        """The first pending generation and those of its model after it: their prompts are read in one
        padded pass, so they are bounded as traces are (a long prompt's prefill costs as much as its trace)."""
        return self._take_batch(GenerationJob)

    def _take_readings(self) -> None:
        """Move every pending lens job into the lens line, in arrival order.

        Each round reads one chunk of the line, front first, so a long reading holds up the
        class's traces and tokens for one chunk at a time, and a reading waits only for the rows
        ahead of it. Its memory was reserved by its page before it was submitted.
        """
        for job in [job for job in self._pending if isinstance(job, LensJob)]:
            self._pending.remove(job)
            self._reading.append(job)

    def _read_lens(self) -> None:
        """One output-head product over the next LENS_CHUNK rows of the readings; finished ones get their result."""
        with self._condition:
            for job in [job for job in self._reading if job.cancelled]:
                self._reading.remove(job)
                job.finish(error=JobCancelledError("cancelled"))
            # One product reads one model: the front reading's, and the others of that model behind it.
            jobs = [job for job in self._reading if job.batch_key == self._reading[0].batch_key]
        if not jobs:
            return
        started = time.perf_counter()
        try:
            with self.turn("lens"), torch.no_grad():
                taken = read_lens_chunk(jobs[0].model, [job.reading for job in jobs])
        except Exception as error:  # a reading is checked when made: this is the model failing, for all of them
            finished = [(job, error) for job in jobs]
        else:
            self._record("lens", len(taken), time.perf_counter() - started)
            finished = [(job, None) for job in jobs if job.reading.done]
        with self._condition:
            for job, _ in finished:
                self._reading.remove(job)
        for job, error in finished:
            if error is None:
                job.finish(job.reading.result())
            else:
                job.finish(error=error)

    def _take_batch(self, kind: type[Job]) -> list:
        first = next((job for job in self._pending if isinstance(job, kind)), None)
        if first is None:
            return []
        batch: list[Job] = []
        for job in list(self._pending):
            if not isinstance(job, kind) or job.batch_key != first.batch_key:
                continue
            if batch and not _fits([*batch, job]):
                break
            batch.append(job)
            self._pending.remove(job)
        return batch

    def _run_traces(self, jobs: list[TraceJob]) -> None:
        try:
            started = time.perf_counter()
            with self.turn("trace"), torch.no_grad():
                traces = trace_batch(jobs[0].model, [job.token_ids for job in jobs])
            self._record("trace", len(jobs), time.perf_counter() - started)
        except Exception as error:
            _fail_alone(jobs, error, self._run_traces)
            return
        for job, result in zip(jobs, traces, strict=True):
            job.finish(result)

    def _join(self, joining: list[GenerationJob]) -> None:
        """Read the new generations' prompts, one padded pass per model, and add them to its decode batch."""
        for job in [job for job in joining if job.cancelled]:
            job.steps.put(None)
            job.finish(error=JobCancelledError("cancelled"))
            job.started.set()
        by_key: dict[object, list[GenerationJob]] = {}
        for job in joining:
            if not job.cancelled:
                by_key.setdefault(job.batch_key, []).append(job)
        for key, jobs in by_key.items():
            batch, running = self._generating.get(key, (None, []))
            batch = batch or DecodeBatch(jobs[0].model)
            try:
                with self.turn("prefill"):
                    generations = batch.join_all([{"token_ids": job.token_ids, **job.settings} for job in jobs])
            except Exception as error:
                if len(jobs) > 1:  # one bad request must not fail the others: read them one by one
                    for job in jobs:
                        self._join([job])
                    continue
                jobs[0].steps.put(None)
                jobs[0].finish(error=error)
                jobs[0].started.set()
                continue
            for job, generation in zip(jobs, generations, strict=True):
                job.generation = generation
                job.started.set()
                if generation.max_new_tokens == 0:  # nothing to generate: never joined the batch
                    job.steps.put(None)
                    job.finish(generation)
            staying = [job for job in jobs if job.generation.max_new_tokens > 0]
            with self._condition:
                if staying or running:
                    self._generating[key] = (batch, [*running, *staying])

    def _step_generations(self) -> None:
        for key, (batch, jobs) in list(self._generating.items()):
            for job in [job for job in jobs if job.cancelled]:
                batch.leave(job.generation)
                jobs.remove(job)
                job.finish(error=JobCancelledError("cancelled"))
            if jobs:
                started = time.perf_counter()
                try:
                    with self.turn("decode"):
                        chosen = batch.step()
                except Exception as error:
                    for job in jobs:
                        job.steps.put(None)
                        job.finish(error=error)
                    jobs.clear()
                    chosen = []
                if chosen:
                    self._record("decode", len(chosen), time.perf_counter() - started)
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
                    del self._generating[key]


def _fits(jobs: list[Job]) -> bool:
    """Whether these jobs may share one padded pass: few enough tokens and sequences, and (traces,
    which reserved memory for their own lengths) padding that costs little memory."""
    cfg = jobs[0].model.cfg
    lengths = [min(len(job.token_ids), cfg.context_length) for job in jobs]
    if len(jobs) > MAX_BATCH_SEQUENCES or max(lengths) * len(jobs) > MAX_BATCH_TOKENS:
        return False
    if isinstance(jobs[0], TraceJob):
        padded = len(jobs) * trace_bytes(cfg, max(lengths))
        return padded - sum(trace_bytes(cfg, n) for n in lengths) <= MAX_PADDING_BYTES
    return True  # generations of one size class: each reserved a prefill as long as its class


def _fail_alone(jobs: list[Job], error: Exception, run: Callable[[list], None]) -> None:
    """A batch failed: one bad job must not fail the others, so each is run again by itself
    (``run([job])``); a job that failed alone gets its error."""
    if len(jobs) == 1:
        jobs[0].finish(error=error)
        return
    for job in jobs:
        run([job])
