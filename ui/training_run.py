"""One training run as the Train page reads it: its settings, state, and every step and evaluation so far.

The run's thread appends reports while sessions read them, so every list is behind a lock.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from gptcore.training import EvalReport, StepReport, TrainingSettings

from .budget import Reservation

RATE_WINDOW_STEPS = 20  # ETA and tokens/s are measured over the last steps


@dataclass
class TrainingRun:
    """One training run: what it trains, and everything it has reported so far (read by the page)."""

    run_id: str  # the session's id
    name: str  # what is trained, for messages: "a new model (2 layers · 128 dims · context 128)"
    settings: TrainingSettings
    text_chars: int
    stop: threading.Event = field(default_factory=threading.Event)
    started_at: float = field(default_factory=time.monotonic)
    finished_at: float | None = None
    state: str = "starting"  # "starting", "running", "saving", "done", "stopped" or "failed"
    error: str | None = None  # for st.error when state is "failed"
    start_model_id: str | None = None  # the picker's id of the model the run started from (Compare's "before")
    checkpoint_id: str | None = None  # the picker's id of the trained model, once saved
    folder: Path | None = None  # where the run saves its models
    best_step: int | None = None  # the step with the lowest validation loss after step 0
    best_file: Path | None = None  # its weights, in BEST_FOLDER until the student keeps them
    best_checkpoint_id: str | None = None  # the picker's id of those weights, once kept
    _copied: dict[int, str] = field(default_factory=dict)  # step -> words its sample copied from the text
    needed_bytes: int = 0  # memory the run reserved in the budget when it started (training_bytes)
    reservation: Reservation | None = None  # given back when the run ends
    thread: threading.Thread | None = None
    _steps: list[StepReport] = field(default_factory=list)
    _evaluations: list[EvalReport] = field(default_factory=list)
    _step_times: list[float] = field(default_factory=list)  # monotonic time of every step report
    _lock: threading.Lock = field(default_factory=threading.Lock)  # the thread appends while sessions read

    @property
    def running(self) -> bool:
        return self.state in ("starting", "running", "saving")

    def add_step(self, report: StepReport) -> None:
        """on_step (runs in the training thread)."""
        with self._lock:
            self._steps.append(report)
            self._step_times.append(time.monotonic())
            if self.state == "starting":
                self.state = "running"
                if self.reservation is not None:
                    self.reservation.settle()  # the model, optimizer and a batch are in memory now

    def add_evaluation(self, report: EvalReport, copied: str | None = None) -> None:
        """on_eval (runs in the training thread); ``copied``: what its sample repeats of the training text."""
        with self._lock:
            self._evaluations.append(report)
            if copied:
                self._copied[report.step] = copied

    def copied(self, step: int) -> str | None:
        """The words the sample at ``step`` copied from the training text, if it copied eight or more."""
        with self._lock:
            return self._copied.get(step)

    def steps(self) -> list[StepReport]:
        with self._lock:
            return list(self._steps)

    def evaluations(self) -> list[EvalReport]:
        with self._lock:
            return list(self._evaluations)

    @property
    def steps_done(self) -> int:
        with self._lock:
            return self._steps[-1].step if self._steps else 0

    @property
    def fraction(self) -> float:
        return min(1.0, self.steps_done / self.settings.max_steps)

    def rates(self) -> tuple[float, float]:
        """(steps per second, tokens per second) over the last RATE_WINDOW_STEPS steps; zeros before two steps."""
        with self._lock:
            if len(self._steps) < 2:
                return 0.0, 0.0
            first = max(0, len(self._steps) - 1 - RATE_WINDOW_STEPS)
            seconds = self._step_times[-1] - self._step_times[first]
            steps = self._steps[-1].step - self._steps[first].step
            tokens = self._steps[-1].tokens_seen - self._steps[first].tokens_seen
        return (steps / seconds, tokens / seconds) if seconds > 0 else (0.0, 0.0)

    def eta_seconds(self) -> float | None:
        steps_per_s, _ = self.rates()
        if steps_per_s <= 0:
            return None
        return (self.settings.max_steps - self.steps_done) / steps_per_s

    def elapsed_seconds(self) -> float:
        return (self.finished_at or time.monotonic()) - self.started_at

    def progress_text(self) -> str:
        done, total = self.steps_done, self.settings.max_steps
        if self.state == "saving":
            return f"Step {done:,} of {total:,}: saving the trained model…"
        if self.stop.is_set():
            return f"Step {done:,} of {total:,}: stopping after this step…"
        if done == 0:
            waited = format_duration(self.elapsed_seconds())
            return f"Preparing the text and measuring the untrained model's loss… ({waited})"
        _, tokens_per_s = self.rates()
        eta = self.eta_seconds()
        speed = f", {tokens_per_s:,.0f} tokens/s" if tokens_per_s else ""
        left = f", about {format_duration(eta)} left" if eta is not None else ""
        return f"Step {done:,} of {total:,}{speed}{left}"


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"
