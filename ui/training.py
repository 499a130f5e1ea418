"""Training runs in background threads: one per session, a few at a time for the whole server.

The registry lives in st.cache_resource, like the downloads, so a run belongs to the server, not
to a page: the student can visit other pages (or close the tab) and the run goes on. Each session
finds its run again by an id kept in a plain session key. Every optimizer step takes its turn at
the model through ui.computing(), so other students' pages keep getting turns between steps.

When a run ends (finished or stopped) the trained model is saved into the picker's checkpoint
folder under a new, readable name (``trained-2L-128d-ctx128-20251123-214000-3f9a1c.safetensors``), so it
appears in the sidebar's model list. A run that starts from a new, untrained model also saves that
starting point once (``untrained-2L-128d-ctx128-seed123.safetensors``), so the Compare page can set
"before" and "after" side by side. The weights at the run's lowest validation loss wait in a hidden
folder (``.best-so-far``), and are moved beside the others only if the student keeps them.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import streamlit as st

from gptcore import GPTConfig, GPTModel, save_checkpoint, size_report
from gptcore.checkpoints import SUFFIX
from gptcore.footprint import training_bytes
from gptcore.memorisation import copied_words
from gptcore.training import (
    TRAINING_PRESETS,
    EvalReport,
    TrainingDataError,
    TrainingSettings,
    new_training_model,
    train,
)

from .budget import MemoryRefusedError
from .catalog import CHECKPOINT_PREFIX, CHECKPOINTS_ENV, checkpoint_folder, refresh_checkpoints
from .memory import MEMORY_BUDGET, memory_refusal
from .run_names import name_slug, preset_slug, unique_path, writable
from .training_run import TrainingRun, format_duration
from .turns import PAGE_THREADS, computing
from .uploads import check_text_size

__all__ = ["TrainingRun", "format_duration"]  # a run's record lives in training_run.py; pages find it here too

logger = logging.getLogger(__name__)

MAX_CONCURRENT_RUNS = 2  # runs training at once on this server; their steps take turns with the pages
MAX_FINE_TUNE_PARAMETERS = 200_000_000  # GPT-2 124M can be fine-tuned here (slowly); 355M and up cannot
FINE_TUNE_CONTEXT = 128  # training window when fine-tuning a loaded model: GPT-2's 1024 would crawl on a CPU
MAX_KEPT_RUNS = 64  # finished runs remembered for their sessions; the oldest are forgotten first
TRAINING_THREADS: int | None = None  # torch threads of a run; None: all the app's but one (at least 1)
RUN_KEY = "training_run_id"  # plain session key: this session's id in the registry
BEST_FOLDER = ".best-so-far"  # inside the checkpoint folder; the picker lists only the folder's own files


class TrainingRefusedError(RuntimeError):
    """A run cannot start now; the message says why and what to do."""


def training_threads() -> int:
    """Threads for a run's steps: one core fewer than the pages' computations get, so that while a run
    goes on, a page that redraws from cached results (most reruns) still finds a free core."""
    return TRAINING_THREADS or max(1, PAGE_THREADS - 1)


# --- The registry ----------------------------------------------------------------------------


class TrainingRegistry:
    """At most one run per session and MAX_CONCURRENT_RUNS running on the server; finished runs stay to be shown."""

    def __init__(self, max_running: int = MAX_CONCURRENT_RUNS) -> None:
        self.max_running = max_running
        self._runs: dict[str, TrainingRun] = {}
        self._lock = threading.Lock()

    def get(self, run_id: str) -> TrainingRun | None:
        return self._runs.get(run_id)

    def running(self) -> list[TrainingRun]:
        return [run for run in list(self._runs.values()) if run.running]

    def full_message(self) -> str | None:
        """Why no run can start now (every slot is taken), or None."""
        busy = self.running()
        if len(busy) < self.max_running:
            return None
        etas = [eta for eta in (run.eta_seconds() for run in busy) if eta is not None]
        soonest = f" The next one should finish in about {format_duration(min(etas))}." if etas else ""
        return (
            f"All {self.max_running} training slots on this server are in use: runs share its processor with "
            f"everyone's pages, so only {self.max_running} run at a time.{soonest} Try again then; the other "
            "pages work meanwhile."
        )

    def start(
        self,
        run_id: str,
        text: str,
        settings: TrainingSettings,
        *,
        preset: str | None = None,
        base_model: GPTModel | None = None,
        base_model_id: str | None = None,
        base_name: str = "",
        folder: Path | None = None,
    ) -> TrainingRun:
        """Start training a new model of ``preset``, or a copy of ``base_model`` (fine-tuning)."""
        if (preset is None) == (base_model is None):
            raise ValueError("give either a preset or a base model to train")
        check_text_size(text)
        folder = Path(folder or checkpoint_folder())
        if not writable(folder):  # found out now, not after the whole run has been trained
            raise TrainingRefusedError(
                f"The trained model could not be saved: the checkpoint folder {folder} cannot be written to. "
                f"Ask your teacher to set {CHECKPOINTS_ENV} to a folder the app may write in."
            )
        with self._lock:
            mine = self._runs.get(run_id)
            if mine is not None and mine.running:
                raise TrainingRefusedError("Your training run is still going: stop it first to start another.")
            full = self.full_message()
            if full:
                raise TrainingRefusedError(full)
            name = f"a new model ({preset})" if preset is not None else base_name or "the loaded model"
            cfg = TRAINING_PRESETS[preset] if preset is not None else base_model.cfg
            window = settings.context_length or cfg.context_length
            refused = training_refusal(cfg, settings.batch_size, window, name)
            if refused:
                raise TrainingRefusedError(refused)
            # The page's check happens when it is drawn, so two students pressing Start together could
            # both pass it: the run's memory is reserved here, and held until the run ends.
            needed = training_bytes(cfg, settings.batch_size, window)
            try:
                reservation = MEMORY_BUDGET.reserve(needed, f"Training {name}")
            except MemoryRefusedError as short:
                raise TrainingRefusedError(f"{short} {TRAINING_ADVICE}") from None
            run = TrainingRun(run_id, name, settings, len(text), start_model_id=base_model_id, needed_bytes=needed)
            run.folder = folder
            run.reservation = reservation
            run.thread = threading.Thread(
                target=self._run,
                args=(run, text, preset, base_model, folder),
                name=f"training-{run_id[:8]}",
                daemon=True,
            )
            self._runs.pop(run_id, None)
            self._runs[run_id] = run  # newest last
            self._forget_old_runs()
            run.thread.start()
            return run

    def keep_best(self, run_id: str) -> str | None:
        """Move a finished run's best weights beside its trained model; their picker id (None if gone)."""
        run = self._runs.get(run_id)
        if run is None or run.running or run.checkpoint_id is None or run.best_step is None:
            return None
        if run.best_checkpoint_id is not None:
            return run.best_checkpoint_id
        if run.best_file is None or not run.best_file.exists():
            return None
        final_name = run.checkpoint_id.removeprefix(CHECKPOINT_PREFIX).removesuffix(SUFFIX)
        target = unique_path(run.folder, f"{final_name}-best-step{run.best_step}")
        run.best_file.replace(target)  # one folder inside the other: a rename, not a copy
        refresh_checkpoints()
        run.best_checkpoint_id = CHECKPOINT_PREFIX + target.name
        return run.best_checkpoint_id

    def stop(self, run_id: str) -> None:
        run = self._runs.get(run_id)
        if run is not None and run.running:
            run.stop.set()

    def _forget_old_runs(self) -> None:
        finished = [key for key, run in self._runs.items() if not run.running]
        for key in finished[: max(0, len(self._runs) - MAX_KEPT_RUNS)]:
            forget_best(self._runs.pop(key))

    def _run(self, run: TrainingRun, text: str, preset: str | None, base_model: GPTModel | None, folder: Path) -> None:
        try:
            if preset is not None:
                model = new_training_model(preset, seed=run.settings.seed)
                origin = f"the training preset {preset}"
            else:
                model = base_model
                origin = run.name

            def on_eval(report: EvalReport) -> None:
                run.add_evaluation(report, copied_words(report.sample, run.settings.sample_prompt, text))

            result = train(
                model,
                text,
                run.settings,
                on_step=run.add_step,
                on_eval=on_eval,
                stop=run.stop,
                step_guard=functools.partial(computing, threads=training_threads()),  # each turn sets its count
                best_checkpoint_path=folder / BEST_FOLDER / f"{name_slug(run.run_id)}{SUFFIX}",
            )
            run.best_step, run.best_file = result.best_step, result.best_checkpoint
            if run.best_step == result.steps_done:  # the trained model is the best one: no second copy
                forget_best(run)
            if result.steps_done > 0:
                run.state = "saving"
                if preset is not None:  # train() trained a copy: ``model`` is still the untrained start
                    run.start_model_id = self._save_start(model, preset, run.settings.seed, folder)
                stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
                kind = preset_slug(model.cfg) if preset is not None else name_slug(run.name)
                # The session's id in the name too: two runs of one preset may end in the same second.
                path = save_checkpoint(
                    result.model,
                    unique_path(folder, f"trained-{kind}-{stamp}-{name_slug(run.run_id)[:6]}"),
                    source=f"{origin}, trained here on {run.text_chars:,} characters of text",
                    seed=run.settings.seed,
                    training_steps=result.steps_done,
                )
                refresh_checkpoints()
                run.checkpoint_id = CHECKPOINT_PREFIX + path.name
            run.state = "stopped" if result.stopped else "done"
        except TrainingDataError as error:
            run.error = f"This text is too short to train on: {error}."
            run.state = "failed"
        except Exception as error:  # anything else: a message for the page, the traceback for the log
            logger.exception("training run %s failed", run.run_id)
            run.error = f"Training stopped with an error: {error}"
            run.state = "failed"
        finally:
            run.finished_at = time.monotonic()
            if run.reservation is not None:
                run.reservation.release()

    @staticmethod
    def _save_start(model: GPTModel, preset: str, seed: int, folder: Path) -> str | None:
        """Save the untrained starting point once per (preset, seed); its picker id, or None if it cannot be."""
        path = folder / f"untrained-{preset_slug(model.cfg)}-seed{seed}{SUFFIX}"
        try:
            if not path.exists():
                save_checkpoint(model, path, source=f"untrained, training preset {preset}", seed=seed)
                refresh_checkpoints()
        except OSError:
            logger.exception("could not save the untrained starting point %s", path)
            return None
        return CHECKPOINT_PREFIX + path.name


def forget_best(run: TrainingRun) -> None:
    """Delete a run's best weights that nobody kept."""
    if run.best_file is not None and run.best_checkpoint_id is None:
        run.best_file.unlink(missing_ok=True)
    run.best_file = None


@st.cache_resource(show_spinner=False)
def training_registry() -> TrainingRegistry:
    """The server's one registry of training runs, shared by every session."""
    return TrainingRegistry()


def session_run_id() -> str:
    """This session's id in the registry, made on first use (a plain session key)."""
    if RUN_KEY not in st.session_state:
        st.session_state[RUN_KEY] = uuid.uuid4().hex
    return st.session_state[RUN_KEY]


def session_run() -> TrainingRun | None:
    """This session's latest run, running or finished, if any."""
    return training_registry().get(session_run_id())


TRAINING_ADVICE = "Try a smaller batch or model, or try again once others have finished."


def training_refusal(cfg: GPTConfig, batch_size: int, window: int, name: str) -> str | None:
    """Why a run of this model cannot start here (too big to train, or no room in the memory budget), or None.

    The runs already going hold their memory in the budget, so they are counted.
    """
    parameters = size_report(cfg).parameters
    if parameters > MAX_FINE_TUNE_PARAMETERS:
        return (
            f"{name} has {parameters / 1e6:,.0f}M parameters: too big to train on this server in class time. "
            "Pick GPT-2 124M or a smaller model in the sidebar, or start from a new model."
        )
    refused = memory_refusal(f"Training {name}", training_bytes(cfg, batch_size, window))
    return refused and refused.replace("Pick a smaller model, or try again once others have finished.", TRAINING_ADVICE)
