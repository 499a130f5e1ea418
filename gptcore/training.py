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
- **Data order.** As in chapter 5 the text is cut into windows with stride = window length (no
  overlap); each epoch visits them in a fresh shuffled order. Batches run through the epochs
  back to back, so a small text never drops its last windows (the book's ``drop_last``).
- **Determinism without global state.** The order of every epoch and the dropout masks of every
  step come from private ``torch.Generator`` objects seeded from (seed, epoch) and (seed, step).
  Dropout draws from the private generator because the copy's ``nn.Dropout`` layers are swapped
  for an equivalent that takes one, for the run only. The global random state is never read or
  changed, so threads serving other students neither disturb a run nor are disturbed by it, and
  a run resumed at step k needs no saved random state to take the same steps as one never stopped.
- **Checkpoints** are the project's usual ones (``gptcore.checkpoints``: one safetensors file the
  app's model picker lists). Beside each, ``<name>.safetensors.training-state`` (the same file
  format, not listed by the picker) holds what resuming needs: AdamW's moving averages and step
  count per parameter, the step, the tokens seen and the best validation loss. The state file is
  written first and names its step, so a crash between the two writes is caught on resume.
- **Evaluations** happen before the first step (so a curve starts at the untrained loss), every
  ``eval_every`` steps and after the last step. Each estimates the losses on a fixed, evenly
  spread set of windows (so successive estimates are comparable) with dropout off. A run that is
  stopped skips the final evaluation, to stop promptly.
- **No gradient clipping or learning-rate schedule**, as in chapter 5 (appendix D adds them).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .checkpoints import SUFFIX, read_checkpoint_info, save_checkpoint
from .config import GPTConfig
from .generation import generate
from .model import GPTModel, build_model, empty_model
from .tensorfile import TensorFile, write_tensor_file
from .tokenizer import get_tokenizer

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


def _preset(n_layers: int, emb_dim: int, n_heads: int, context_length: int) -> tuple[str, GPTConfig]:
    name = f"{n_layers} layers · {emb_dim} dims · context {context_length}"
    # GPT-2's vocabulary so the app's tokenizer works; dropout as in the book's training config.
    cfg = GPTConfig(
        vocab_size=50257,
        context_length=context_length,
        emb_dim=emb_dim,
        n_heads=n_heads,
        n_layers=n_layers,
        drop_rate=0.1,
        qkv_bias=False,
    )
    return name, cfg


# Small enough to train on a CPU in minutes; the first is the default.
TRAINING_PRESETS: dict[str, GPTConfig] = dict(
    [
        _preset(n_layers=2, emb_dim=128, n_heads=4, context_length=128),
        _preset(n_layers=2, emb_dim=64, n_heads=4, context_length=64),
        _preset(n_layers=4, emb_dim=256, n_heads=4, context_length=128),
        _preset(n_layers=6, emb_dim=384, n_heads=6, context_length=256),
    ]
)


def new_training_model(preset_name_or_config: str | GPTConfig | Mapping[str, Any], seed: int = 123) -> GPTModel:
    """A freshly initialised model (eval mode) from a TRAINING_PRESETS name or any config."""
    if isinstance(preset_name_or_config, str):
        if preset_name_or_config not in TRAINING_PRESETS:
            raise ValueError(
                f"unknown training preset {preset_name_or_config!r}; choose one of {list(TRAINING_PRESETS)}"
            )
        cfg = TRAINING_PRESETS[preset_name_or_config]
    else:
        cfg = GPTConfig.coerce(preset_name_or_config)
    return build_model(cfg, seed=seed)


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


class TrainingDataError(ValueError):
    """The text cannot feed a run: too short for one training and one validation window."""


# Loss, as the book's calc_loss_batch.


def calc_loss_batch(input_batch: torch.Tensor, target_batch: torch.Tensor, model: GPTModel) -> torch.Tensor:
    """Mean next-token cross-entropy of a batch: inputs and targets (b, T), targets shifted by one."""
    logits = model(input_batch)  # (b, T, vocab)
    return nn.functional.cross_entropy(logits.flatten(0, 1), target_batch.flatten())  # over b * T positions


# Reproducible randomness: private generators seeded from (seed, stream, counter).

_EPOCH_ORDER, _DROPOUT = 1, 2  # streams, so that two uses of one seed never share random numbers


def _derived_seed(seed: int, stream: int, counter: int) -> int:
    """A well-mixed 63-bit seed for one (seed, stream, counter); neighbouring counters are unrelated."""
    words = np.random.SeedSequence([seed, stream, counter]).generate_state(2, dtype=np.uint32)
    return (int(words[0]) << 31) ^ int(words[1])


class _GeneratorDropout(nn.Module):
    """nn.Dropout that draws its mask from a given generator instead of the global one."""

    def __init__(self, p: float, generator: torch.Generator) -> None:
        super().__init__()
        self.p = p
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.empty_like(x).bernoulli_(1.0 - self.p, generator=self.generator)
        return x * keep / (1.0 - self.p)  # survivors scaled up, so the expected value is unchanged


def _swap_dropout(model: nn.Module, generator: torch.Generator | None) -> None:
    """Replace every dropout layer by a generator-driven one (generator given) or back (None)."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if generator is not None and type(child) is nn.Dropout:
                setattr(module, name, _GeneratorDropout(child.p, generator))
            elif generator is None and isinstance(child, _GeneratorDropout):
                setattr(module, name, nn.Dropout(child.p))


# Data: windows of the token stream.


@dataclass(frozen=True)
class _Windows:
    """Non-overlapping windows of a token sequence, each with its next-token targets."""

    tokens: torch.Tensor  # (N,) int64
    length: int  # T, tokens per window

    @property
    def count(self) -> int:
        # Starts 0, T, 2T, ... while a whole window plus its last target fits (the book's range).
        return (len(self.tokens) - self.length - 1) // self.length + 1 if len(self.tokens) > self.length else 0

    def batch(self, window_indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets, each (b, T), for the given windows."""
        starts = window_indices * self.length  # (b,)
        positions = starts[:, None] + torch.arange(self.length + 1)  # (b, T + 1)
        chunk = self.tokens[positions]  # (b, T + 1)
        return chunk[:, :-1], chunk[:, 1:]

    def spread(self, how_many: int) -> torch.Tensor:
        """``how_many`` window indices spread evenly over the text (all of them if there are fewer)."""
        if how_many >= self.count:
            return torch.arange(self.count)
        return torch.linspace(0, self.count - 1, how_many).round().long()


class _EpochOrder:
    """Which windows step s trains on: a shuffled order per epoch, batches running across epochs.

    Step s (1-based) takes positions (s - 1) * b ... s * b - 1 of the concatenated epoch orders;
    epoch e's order is a permutation drawn from (seed, e). So a batch is a function of (seed, s).
    """

    def __init__(self, num_windows: int, batch_size: int, seed: int) -> None:
        self.num_windows = num_windows
        self.batch_size = batch_size
        self.seed = seed
        self._orders: dict[int, torch.Tensor] = {}

    def _order(self, epoch: int) -> torch.Tensor:
        if epoch not in self._orders:
            if len(self._orders) > 4:
                self._orders.pop(min(self._orders))  # steps only move forward; keep a few recent epochs
            generator = torch.Generator().manual_seed(_derived_seed(self.seed, _EPOCH_ORDER, epoch))
            self._orders[epoch] = torch.randperm(self.num_windows, generator=generator)
        return self._orders[epoch]

    def windows_for_step(self, step: int) -> torch.Tensor:
        positions = range((step - 1) * self.batch_size, step * self.batch_size)
        return torch.stack([self._order(p // self.num_windows)[p % self.num_windows] for p in positions])


def _split_tokens(text: str, window: int, val_fraction: float, vocab_size: int) -> tuple[_Windows, _Windows]:
    """Tokenise ``text`` and split it: the first (1 - val_fraction) trains, the rest validates."""
    token_ids = get_tokenizer().encode(text)
    if token_ids and max(token_ids) >= vocab_size:
        raise ValueError(f"the text has token id {max(token_ids)} but the model's vocabulary has only {vocab_size}")
    tokens = torch.tensor(token_ids, dtype=torch.long)
    split = int(len(tokens) * (1 - val_fraction))
    if split <= window or len(tokens) - split <= window:
        needed = _tokens_needed(window, val_fraction)
        raise TrainingDataError(
            f"the text has {len(tokens):,} tokens, but a {window}-token window with val_fraction {val_fraction} "
            f"needs at least {needed:,} (one window plus its next token for training, and the same for "
            "validation); give a longer text, a shorter window or another val_fraction"
        )
    return _Windows(tokens[:split], window), _Windows(tokens[split:], window)


def _tokens_needed(window: int, val_fraction: float) -> int:
    """The fewest tokens whose split leaves window + 1 tokens on each side."""
    total = 2 * (window + 1)
    # Both parts grow by 0 or 1 token per extra token, so the first total that works is the answer.
    while not (int(total * (1 - val_fraction)) > window and total - int(total * (1 - val_fraction)) > window):
        total += 1
    return total


# Gradient norms.


def _norm(tensors: list[torch.Tensor | None]) -> float:
    squares = [g.pow(2).sum() for g in tensors if g is not None]
    return float(torch.stack(squares).sum().sqrt()) if squares else 0.0


def _gradient_norms(model: GPTModel) -> tuple[tuple[float, ...], float, float]:
    """(per block, embeddings, final norm + head) L2 norms of the gradients now in param.grad."""
    blocks = tuple(_norm([p.grad for p in block.parameters()]) for block in model.trf_blocks)
    embeddings = _norm([model.tok_emb.weight.grad, model.pos_emb.weight.grad])
    head = _norm([p.grad for p in (*model.final_norm.parameters(), *model.out_head.parameters())])
    return blocks, embeddings, head


# Training state beside a checkpoint (for resuming).

_STATE_FORMAT = "gptcore-training-state/1"
_STATE_KEY = "gptcore-training"
_STATE_SUFFIX = ".training-state"


def training_state_path(checkpoint: str | Path) -> Path:
    """Where the resume state of ``checkpoint`` lives: ``<name>.safetensors.training-state``."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.name + _STATE_SUFFIX)


def is_resumable(checkpoint: str | Path) -> bool:
    """True when ``checkpoint`` has a training state of the same step beside it."""
    try:
        return _read_state_metadata(TensorFile(training_state_path(checkpoint)))["training_steps"] == (
            read_checkpoint_info(checkpoint).training_steps
        )
    except (ValueError, KeyError, OSError):
        return False


def _read_state_metadata(file: TensorFile) -> dict[str, Any]:
    try:
        metadata = json.loads(file.metadata[_STATE_KEY])
    except (KeyError, json.JSONDecodeError):
        raise ValueError(f"{file.path} is not a gptcore training state") from None
    if metadata.get("format") != _STATE_FORMAT:
        raise ValueError(f"{file.path} has format {metadata.get('format')!r}; this version reads {_STATE_FORMAT!r}")
    return metadata


def _save_training_state(
    path: Path, model: GPTModel, optimizer: torch.optim.Optimizer, metadata: dict[str, Any]
) -> None:
    """AdamW's per-parameter state (exp_avg, exp_avg_sq, step) by parameter name, written atomically."""
    tensors = {}
    for name, param in model.named_parameters():
        for key, value in optimizer.state[param].items():
            tensors[f"{key}.{name}"] = value
    metadata = {"format": _STATE_FORMAT, **metadata}
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write_tensor_file(temporary, tensors, {_STATE_KEY: json.dumps(metadata)})
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _load_training_state(checkpoint: Path, model: GPTModel, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Fill ``model`` and ``optimizer`` from a checkpoint and its state file; returns the state's metadata."""
    info = read_checkpoint_info(checkpoint)
    if info.cfg != model.cfg:
        raise ValueError(f"{checkpoint} holds a model with config {info.cfg}, but the model to train has {model.cfg}")
    state_path = training_state_path(checkpoint)
    if not state_path.is_file():
        raise ValueError(
            f"{checkpoint} has no training state beside it ({state_path.name}), so it cannot be resumed; "
            "to fine-tune it instead, load it with load_checkpoint and train that model"
        )
    state_file = TensorFile(state_path)
    metadata = _read_state_metadata(state_file)
    if metadata.get("training_steps") != info.training_steps:
        raise ValueError(
            f"{state_path.name} is for step {metadata.get('training_steps')} but {checkpoint.name} was saved at step "
            f"{info.training_steps} (was a save interrupted?); resume from another checkpoint"
        )
    weights = TensorFile(checkpoint)
    with torch.no_grad():
        for name, param in model.named_parameters():
            weights.read_into(name, param)
            if metadata["training_steps"] == 0:
                continue  # saved before the first step: AdamW has no state yet
            state = {}
            for key in ("step", "exp_avg", "exp_avg_sq"):
                stored = f"{key}.{name}"
                if stored not in state_file.shapes:
                    raise ValueError(f"{state_path} lacks '{stored}'; it does not belong to this model")
                if key == "step":
                    state[key] = state_file.read(stored)
                else:
                    # Same memory layout as the parameter, as AdamW would have made it: bitwise-equal steps.
                    state[key] = torch.zeros_like(param, memory_format=torch.preserve_format)
                    state_file.read_into(stored, state[key])
            optimizer.state[param] = state
    return metadata


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
    windows: _Windows,
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
    """
    if not isinstance(model, GPTModel):
        raise ValueError(f"train needs a GPTModel, got {type(model).__name__}")
    if not isinstance(settings, TrainingSettings):
        raise ValueError(f"settings must be a TrainingSettings, got {type(settings).__name__}")
    window = _check_window(model, settings)
    if checkpoint_path is not None:
        _checkpoint_target(checkpoint_path, 0)  # a wrong suffix fails now, not after minutes of training
    train_windows, val_windows = _split_tokens(text, window, settings.val_fraction, model.cfg.vocab_size)
    guard = step_guard or contextlib.nullcontext
    stop = stop or threading.Event()
    started = time.perf_counter()

    trained = _training_copy(model)
    optimizer = torch.optim.AdamW(trained.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    start_step, tokens_seen, best_val_loss = 0, 0, math.inf
    if resume_from is not None:
        resumed = _load_training_state(Path(resume_from), trained, optimizer)
        start_step, tokens_seen = resumed["training_steps"], resumed["tokens_seen"]
        best_val_loss = resumed["best_val_loss"] if resumed["best_val_loss"] is not None else math.inf
        if start_step >= settings.max_steps:
            raise ValueError(
                f"{Path(resume_from).name} is already at step {start_step}; "
                f"set max_steps above {start_step} to train further"
            )

    order = _EpochOrder(train_windows.count, settings.batch_size, settings.seed)
    eval_count = settings.eval_batches * settings.batch_size
    train_eval_windows, val_eval_windows = train_windows.spread(eval_count), val_windows.spread(eval_count)
    dropout_generator = torch.Generator()
    history: list[StepReport] = []
    evaluations: list[EvalReport] = []
    last_checkpoint: Path | None = None
    checkpointed_at: int | None = None
    training_seconds, run_tokens = 0.0, 0

    def evaluate(step: int) -> None:
        nonlocal best_val_loss
        trained.eval()
        train_loss = _estimate_loss(trained, train_windows, train_eval_windows, settings.batch_size, guard, stop)
        val_loss = _estimate_loss(trained, val_windows, val_eval_windows, settings.batch_size, guard, stop)
        if train_loss is None or val_loss is None:
            trained.train()
            return
        report = EvalReport(step, tokens_seen, train_loss, val_loss, _sample_text(trained, settings, guard))
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
        _save_training_state(training_state_path(path), trained, optimizer, state)  # first: see the module notes
        source = f"trained {step} steps on {tokens_seen:,} tokens (seed {settings.seed})"
        return save_checkpoint(trained, path, source=source, seed=settings.seed, training_steps=step)

    _swap_dropout(trained, dropout_generator)
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
            dropout_generator.manual_seed(_derived_seed(settings.seed, _DROPOUT, step))
            with guard():
                step_started = time.perf_counter()
                with torch.enable_grad():
                    optimizer.zero_grad(set_to_none=True)
                    loss = calc_loss_batch(inputs, targets, trained)
                    loss.backward()
                block_norms, embedding_norm, head_norm = _gradient_norms(trained)
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
        _swap_dropout(trained, None)
        trained.eval()
    return TrainingResult(
        model=trained,
        steps_done=step,
        stopped=stopped,
        history=history,
        evaluations=evaluations,
        best_val_loss=best_val_loss,
        checkpoint=last_checkpoint,
    )
