"""Watch it learn: the training loop of chapter 5, for a from-scratch model or a loaded one.

    model = new_training_model("2 layers · 128 dims · context 128")
    result = train(model, text, TrainingSettings(max_steps=300), on_step=print, on_eval=print)

What a run does, in the book's terms (``train_model_simple``): the text's tokens are split into
a training part and a validation part; each step takes a batch of windows, scores every position
on the next token (cross-entropy), backpropagates and lets AdamW update the weights. Every
``eval_every`` steps both losses are estimated and a greedy sample of ``sample_prompt`` is written.

Decisions worth knowing:

- **A copy is trained.** ``train`` copies the model's weights into a fresh GPTModel and trains
  that; the model passed in (the app shares it between sessions) is only read.
- **Data order** (training_data.py): windows with stride = window length, a fresh shuffled order
  per epoch, batches running through the epochs back to back (no ``drop_last``).
- **Determinism without global state** (seeding.py): epoch orders and dropout masks come from
  private generators seeded from (seed, epoch) and (seed, step), so threads serving other students
  neither disturb a run nor are disturbed by it, and a resumed run takes the same steps.
- **Checkpoints** are the project's usual ones (``gptcore.checkpoints``); beside each, a training
  state (training_state.py) holds what resuming needs.
- **Evaluations** happen before the first step (so a curve starts at the untrained loss), every
  ``eval_every`` steps and after the last step. Each estimates the losses on a fixed, evenly
  spread set of windows (so successive estimates are comparable) with dropout off. A run that is
  stopped skips the final evaluation, to stop promptly.
- **No gradient clipping or learning-rate schedule**, as in chapter 5 (appendix D adds them).
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .building import empty_model
from .checkpoints import SUFFIX, save_checkpoint
from .generation import generate
from .gradients import parameter_gradient_norms
from .model import GPTModel
from .seeding import DROPOUT, derived_seed, swap_dropout
from .tokenizer import get_tokenizer
from .training_data import EpochOrder, TokenWindows, TrainingDataError, split_tokens
from .training_presets import TRAINING_PRESETS, new_training_model
from .training_state import is_resumable, load_training_state, save_training_state, training_state_path

__all__ = [
    "TRAINING_PRESETS",
    "EvalReport",
    "StepReport",
    "TrainingDataError",
    "TrainingResult",
    "TrainingSettings",
    "calc_loss_batch",
    "is_resumable",
    "new_training_model",
    "train",
    "training_state_path",
]


@dataclass(frozen=True)
class TrainingSettings:
    max_steps: int = 300  # optimizer steps in all (a resumed run counts the steps already done)
    batch_size: int = 8  # windows per step
    context_length: int | None = None  # training window in tokens; None = the model's context_length
    learning_rate: float = 5e-4  # AdamW's step size
    weight_decay: float = 0.1  # AdamW's decoupled weight decay, applied to every parameter as in the book
    val_fraction: float = 0.1  # the last part of the text's tokens, held out to measure generalisation
    eval_every: int = 25  # steps between evaluations (each one also generates a sample); 0: start and end only
    eval_batches: int = 8  # batches averaged for each loss estimate
    sample_prompt: str = "Every effort moves you"
    sample_tokens: int = 25  # tokens generated greedily after sample_prompt at each evaluation
    checkpoint_every: int = 0  # 0: checkpoint only at the end (if a checkpoint_path is given)
    seed: int = 123  # data order and dropout masks; not the initial weights (see new_training_model)

    def __post_init__(self) -> None:
        def check_int(name: str, minimum: int) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"TrainingSettings.{name} must be an integer >= {minimum}, got {value!r}")

        check_int("max_steps", 1)
        check_int("batch_size", 1)
        check_int("eval_every", 0)
        check_int("eval_batches", 1)
        check_int("sample_tokens", 0)
        check_int("checkpoint_every", 0)
        check_int("seed", 0)
        if self.context_length is not None:
            check_int("context_length", 1)
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"TrainingSettings.learning_rate must be a positive number, got {self.learning_rate!r}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"TrainingSettings.weight_decay must be 0 or more, got {self.weight_decay!r}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(
                f"TrainingSettings.val_fraction must be between 0 and 1 (exclusive), got {self.val_fraction!r}"
            )
        if self.sample_tokens > 0 and not self.sample_prompt:
            raise ValueError("TrainingSettings.sample_prompt is empty; give a prompt or set sample_tokens=0")


@dataclass(frozen=True)
class StepReport:
    """Passed to on_step after every optimizer step."""

    step: int  # 1-based count of steps done (including those before a resume)
    max_steps: int
    tokens_seen: int  # input tokens of all steps so far, as the book counts them
    train_loss: float  # this step's batch loss (with dropout on)
    grad_norms: tuple[float, ...]  # one per transformer block: L2 norm of all its parameters' gradients
    seconds: float  # wall time since this call of train() started, evaluations included
    tokens_per_s: float  # this run's training tokens / seconds spent in training steps
    embedding_grad_norm: float = 0.0  # tok_emb and pos_emb together
    head_grad_norm: float = 0.0  # final_norm and out_head together


@dataclass(frozen=True)
class EvalReport:
    """Passed to on_eval before the first step, every eval_every steps and after the last step."""

    step: int
    tokens_seen: int
    train_loss: float  # estimated on a fixed set of training windows, dropout off
    val_loss: float  # estimated on a fixed set of validation windows, dropout off
    sample: str  # the whole text: sample_prompt followed by the greedy continuation


@dataclass
class TrainingResult:
    model: GPTModel  # the trained copy, in eval mode
    steps_done: int  # including steps done before a resume
    stopped: bool  # True when stop was set before max_steps
    history: list[StepReport]  # this call's steps
    evaluations: list[EvalReport]  # this call's evaluations
    best_val_loss: float  # lowest validation loss estimated (across a resume too); inf if never evaluated
    checkpoint: Path | None  # the last checkpoint written
    best_checkpoint: Path | None = None  # the weights at this call's lowest validation loss after step 0
    best_step: int | None = None  # the step they are from


# Loss, as the book's calc_loss_batch.


def calc_loss_batch(input_batch: torch.Tensor, target_batch: torch.Tensor, model: GPTModel) -> torch.Tensor:
    """Mean next-token cross-entropy of a batch: inputs and targets (b, T), targets shifted by one."""
    logits = model(input_batch)  # (b, T, vocab)
    return nn.functional.cross_entropy(logits.flatten(0, 1), target_batch.flatten())  # over b * T positions


# The loop.


def _check_window(model: GPTModel, settings: TrainingSettings) -> int:
    window = settings.context_length or model.cfg.context_length
    if window > model.cfg.context_length:
        raise ValueError(
            f"the training window ({window} tokens) is longer than the model's context_length "
            f"({model.cfg.context_length}); choose at most {model.cfg.context_length}"
        )
    return window


def _checkpoint_target(checkpoint_path: str | Path, step: int) -> Path:
    """The checkpoint's path; a '{step}' in it is replaced by the step, to keep one file per save."""
    path = Path(str(checkpoint_path).replace("{step}", str(step)))
    if path.suffix != SUFFIX:
        raise ValueError(f"checkpoint files end in {SUFFIX}; got {path.name}")
    return path


def _training_copy(model: GPTModel) -> GPTModel:
    """A new GPTModel with the same weights, laid out in memory as build_model lays them out."""
    copy = empty_model(model.cfg)
    copy.load_state_dict(model.state_dict())  # copy_ into the new tensors: the original is only read
    return copy


@torch.no_grad()
def _estimate_loss(
    model: GPTModel,
    windows: TokenWindows,
    indices: torch.Tensor,
    batch_size: int,
    guard: Callable[[], Any],
    stop: threading.Event,
) -> float | None:
    """Mean next-token loss over the given windows, batch by batch (each inside the guard); None if stopped."""
    total, count = 0.0, 0
    for chunk in indices.split(batch_size):
        if stop.is_set():
            return None  # a big model's evaluation takes many seconds: do not make a stop wait for it
        inputs, targets = windows.batch(chunk)
        with guard():
            logits = model(inputs)  # (b, T, vocab)
            total += float(nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="sum"))
        count += targets.numel()
    return total / count


def _sample_text(model: GPTModel, settings: TrainingSettings, guard: Callable[[], Any]) -> str:
    if settings.sample_tokens == 0:
        return settings.sample_prompt
    tokenizer = get_tokenizer()
    prompt = torch.tensor([tokenizer.encode(settings.sample_prompt)], dtype=torch.long)  # (1, T)
    with guard():
        ids = generate(model, prompt, settings.sample_tokens, context_size=model.cfg.context_length)
    return tokenizer.decode(ids[0].tolist())


def train(
    model: GPTModel,
    text: str,
    settings: TrainingSettings = TrainingSettings(),  # frozen, so one shared default is safe
    *,
    on_step: Callable[[StepReport], None] | None = None,
    on_eval: Callable[[EvalReport], None] | None = None,
    stop: threading.Event | None = None,
    checkpoint_path: str | Path | None = None,
    resume_from: str | Path | None = None,
    step_guard: Callable[[], AbstractContextManager[Any]] | None = None,
    best_checkpoint_path: str | Path | None = None,
) -> TrainingResult:
    """Train a copy of ``model`` on ``text``; ``model`` itself is never changed.

    on_step / on_eval receive a StepReport after every step and an EvalReport after every
    evaluation. Setting ``stop`` ends the run after the current step: it is checkpointed (if
    ``checkpoint_path`` is given) and returned with ``stopped=True``. ``checkpoint_path`` gets a
    checkpoint every ``settings.checkpoint_every`` steps and at the end (a '{step}' in it is
    replaced by the step number). ``resume_from`` continues a run from one of its checkpoints:
    ``model`` then only fixes the config, and the steps continue from the checkpoint's step up to
    ``settings.max_steps``, identical to those of a run never interrupted (same text and settings).
    Every optimizer step, and every evaluation batch, runs inside ``with step_guard():``.
    ``best_checkpoint_path`` gets the weights (no optimizer state) whenever an evaluation after
    step 0 beats every validation loss before it: the model from before it began to memorise.
    """
    if not isinstance(model, GPTModel):
        raise ValueError(f"train needs a GPTModel, got {type(model).__name__}")
    if not isinstance(settings, TrainingSettings):
        raise ValueError(f"settings must be a TrainingSettings, got {type(settings).__name__}")
    window = _check_window(model, settings)
    if checkpoint_path is not None:
        _checkpoint_target(checkpoint_path, 0)  # a wrong suffix fails now, not after minutes of training
    train_windows, val_windows = split_tokens(text, window, settings.val_fraction, model.cfg.vocab_size)
    guard = step_guard or contextlib.nullcontext
    stop = stop or threading.Event()
    started = time.perf_counter()

    trained = _training_copy(model)
    optimizer = torch.optim.AdamW(trained.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    start_step, tokens_seen, best_val_loss = 0, 0, math.inf
    if resume_from is not None:
        resumed = load_training_state(Path(resume_from), trained, optimizer)
        start_step, tokens_seen = resumed["training_steps"], resumed["tokens_seen"]
        best_val_loss = resumed["best_val_loss"] if resumed["best_val_loss"] is not None else math.inf
        if start_step >= settings.max_steps:
            raise ValueError(
                f"{Path(resume_from).name} is already at step {start_step}; "
                f"set max_steps above {start_step} to train further"
            )

    order = EpochOrder(train_windows.count, settings.batch_size, settings.seed)
    eval_count = settings.eval_batches * settings.batch_size
    train_eval_windows, val_eval_windows = train_windows.spread(eval_count), val_windows.spread(eval_count)
    dropout_generator = torch.Generator()
    history: list[StepReport] = []
    evaluations: list[EvalReport] = []
    last_checkpoint: Path | None = None
    checkpointed_at: int | None = None
    best_checkpoint: Path | None = None
    best_step: int | None = None
    training_seconds, run_tokens = 0.0, 0

    def evaluate(step: int) -> None:
        nonlocal best_val_loss, best_checkpoint, best_step
        trained.eval()
        train_loss = _estimate_loss(trained, train_windows, train_eval_windows, settings.batch_size, guard, stop)
        val_loss = _estimate_loss(trained, val_windows, val_eval_windows, settings.batch_size, guard, stop)
        if train_loss is None or val_loss is None:
            trained.train()
            return
        report = EvalReport(step, tokens_seen, train_loss, val_loss, _sample_text(trained, settings, guard))
        if val_loss < best_val_loss and step > 0 and best_checkpoint_path is not None:
            source = f"the lowest validation loss ({val_loss:.3f}) of a run, at step {step}"
            best_checkpoint = save_checkpoint(trained, best_checkpoint_path, source=source, training_steps=step)
            best_step = step
        trained.train()
        best_val_loss = min(best_val_loss, val_loss)
        evaluations.append(report)
        if on_eval is not None:
            on_eval(report)

    def save(step: int) -> Path:
        path = _checkpoint_target(checkpoint_path, step)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "training_steps": step,
            "tokens_seen": tokens_seen,
            "best_val_loss": best_val_loss if math.isfinite(best_val_loss) else None,
            "settings": asdict(settings),
        }
        save_training_state(training_state_path(path), trained, optimizer, state)  # first: see the module notes
        source = f"trained {step} steps on {tokens_seen:,} tokens (seed {settings.seed})"
        return save_checkpoint(trained, path, source=source, seed=settings.seed, training_steps=step)

    swap_dropout(trained, dropout_generator)
    try:
        trained.train()
        step = start_step
        evaluated_at = None
        if not stop.is_set():
            evaluate(step)
            evaluated_at = step
        while step < settings.max_steps and not stop.is_set():
            step += 1
            inputs, targets = train_windows.batch(order.windows_for_step(step))  # (b, T) each
            dropout_generator.manual_seed(derived_seed(settings.seed, DROPOUT, step))
            with guard():
                step_started = time.perf_counter()
                with torch.enable_grad():
                    optimizer.zero_grad(set_to_none=True)
                    loss = calc_loss_batch(inputs, targets, trained)
                    loss.backward()
                block_norms, embedding_norm, head_norm = parameter_gradient_norms(trained)
                optimizer.step()
                training_seconds += time.perf_counter() - step_started
            tokens_seen += inputs.numel()
            run_tokens += inputs.numel()
            report = StepReport(
                step=step,
                max_steps=settings.max_steps,
                tokens_seen=tokens_seen,
                train_loss=float(loss.detach()),
                grad_norms=block_norms,
                seconds=time.perf_counter() - started,
                tokens_per_s=run_tokens / training_seconds if training_seconds > 0 else 0.0,
                embedding_grad_norm=embedding_norm,
                head_grad_norm=head_norm,
            )
            history.append(report)
            if on_step is not None:
                on_step(report)
            if stop.is_set():
                break
            if (settings.eval_every and step % settings.eval_every == 0) or step == settings.max_steps:
                evaluate(step)
                evaluated_at = step
            if checkpoint_path is not None and settings.checkpoint_every and step % settings.checkpoint_every == 0:
                last_checkpoint, checkpointed_at = save(step), step
        stopped = step < settings.max_steps
        if not stopped and evaluated_at != step:
            evaluate(step)
        if checkpoint_path is not None and checkpointed_at != step:
            last_checkpoint = save(step)
    finally:
        swap_dropout(trained, None)
        trained.eval()
    return TrainingResult(
        model=trained,
        steps_done=step,
        stopped=stopped,
        history=history,
        evaluations=evaluations,
        best_val_loss=best_val_loss,
        checkpoint=last_checkpoint,
        best_checkpoint=best_checkpoint,
        best_step=best_step,
    )
