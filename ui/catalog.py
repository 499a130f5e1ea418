"""Every model a student can pick: OpenAI's four GPT-2 sizes, two untrained models, saved checkpoints.

Ids are stable (links and tests use them): "pretrained-gpt2" ... "pretrained-gpt2-xl",
"book-124m-seed123", "tiny-seed123" and "checkpoint:<file name>". The pretrained sizes are always
listed; those not yet in the local Hugging Face cache are downloaded on request (see picker.py).
Checkpoints are re-read from their folder at most every few seconds.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import streamlit as st

from gptcore import GPT_CONFIG_124M, PRESETS, GPTConfig, GPTModel, build_model, checkpoints, hub, size_report
from gptcore.stats import memory_to_load
from gptcore.tokenizer import N_VOCAB as GPT2_VOCAB_SIZE

from .memory import format_bytes
from .verification import CHECKING, verdict_board

logger = logging.getLogger(__name__)

DEFAULT_MODEL_ID = "book-124m-seed123"
CHECKPOINT_PREFIX = "checkpoint:"
CHECKPOINTS_ENV = "GPT_EXPLORER_CHECKPOINTS"  # the checkpoint folder; default: checkpoints/ beside app.py
APP_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ModelChoice:
    model_id: str
    label: str  # what the picker shows, e.g. "OpenAI 355M" (the about line says it is a pretrained GPT-2)
    build: Callable[[], GPTModel]  # builds or loads the model; called once per server (ui.get_model)
    trained: bool
    about: str  # one or two sentences under the picker
    name: str = ""  # short name for messages, e.g. "GPT-2 355M"; the label when empty
    ram_bytes: int = 0  # memory it needs once loaded; 0: small enough not to check
    hub_name: str | None = None  # OpenAI's weights: the key in gptcore.hub.PRETRAINED, e.g. "gpt2-medium"
    download_bytes: int = 0  # size of the download for hub models

    @property
    def short_name(self) -> str:
        return self.name or self.label

    @property
    def loading_text(self) -> str:
        if self.hub_name is not None:
            return f"Loading {self.short_name} weights from the local cache…"
        if self.model_id.startswith(CHECKPOINT_PREFIX):
            return f"Loading the checkpoint {self.model_id.removeprefix(CHECKPOINT_PREFIX)}…"
        return f"Building {self.label} (the first use on this server takes a few seconds)…"


def parameters_text(cfg: GPTConfig | dict) -> str:
    """'6.5M parameters': every weight of this model, its own output head included, as the Train page counts."""
    n = size_report(cfg).parameters
    return f"{n / 1e6:.0f}M parameters" if n >= 10e6 else f"{n / 1e6:.1f}M parameters"


def size_name(cfg: GPTConfig | dict) -> str:
    """'124M' for GPT-2 small: parameters with the head tied to the token embedding, as OpenAI counts."""
    n = size_report(cfg).parameters_tied
    return f"{n / 1e6:.0f}M" if n >= 10e6 else f"{n / 1e6:.1f}M"


def _pretrained_choice(hub_name: str, info: hub.PretrainedInfo) -> ModelChoice:
    return ModelChoice(
        f"pretrained-{hub_name}",
        f"OpenAI {info.label}",
        lambda: hub.load_pretrained(hub_name),
        trained=True,
        about=f"GPT-2 {info.label} pretrained by OpenAI ({info.repo_id}): {format_bytes(info.download_bytes)} "
        f"download, needs {format_bytes(info.ram_bytes)} of memory; kept in this server's Hugging Face cache.",
        name=f"GPT-2 {info.label}",
        ram_bytes=info.ram_bytes,
        hub_name=hub_name,
        download_bytes=info.download_bytes,
    )


def _untrained_choice(model_id: str, label: str, cfg: GPTConfig | dict, about: str) -> ModelChoice:
    return ModelChoice(
        model_id,
        label,
        lambda: build_model(cfg, seed=123),
        trained=False,
        about=about,
        ram_bytes=memory_to_load(cfg),
    )


class _Choices(dict):
    """The fixed choices by id; a checkpoint id not stored here is looked up in the checkpoint folder."""

    def __missing__(self, model_id: str) -> ModelChoice:
        choice = checkpoint_choices().get(model_id)
        if choice is None:
            raise KeyError(model_id)
        return choice


MODEL_CHOICES: dict[str, ModelChoice] = _Choices(
    (choice.model_id, choice)
    for choice in (
        *(_pretrained_choice(name, info) for name, info in hub.PRETRAINED.items()),
        _untrained_choice(
            DEFAULT_MODEL_ID,
            "GPT-2 124M, untrained (seed 123)",
            GPT_CONFIG_124M,
            "Chapter 4 of the book exactly: GPT_CONFIG_124M built right after torch.manual_seed(123).",
        ),
        _untrained_choice(
            "tiny-seed123",
            "Tiny GPT, untrained (2 layers, 4 heads)",
            PRESETS["tiny"],
            "A miniature of the same architecture: 32-dimensional vectors, 64-token context. Fast.",
        ),
    )
)


def checkpoint_folder() -> Path:
    """Where the app looks for saved checkpoints (GPT_EXPLORER_CHECKPOINTS, else checkpoints/ beside app.py)."""
    return Path(os.environ.get(CHECKPOINTS_ENV) or APP_DIR / "checkpoints")


def _saved_when(saved_at: str) -> str:
    """'2025-11-23 21:40 UTC' from an ISO 8601 time; the text as it is if it is not one."""
    try:
        when = datetime.fromisoformat(saved_at)
    except ValueError:
        return saved_at or "at an unknown time"
    return when.strftime("%Y-%m-%d %H:%M") + (" UTC" if when.utcoffset() == timedelta(0) else "")


def _checkpoint_choice(info: checkpoints.CheckpointInfo) -> ModelChoice:
    file_name = info.path.name
    steps = f"{info.training_steps:,} training step{'s' if info.training_steps != 1 else ''}"
    seed = f", seed {info.seed}" if info.seed is not None else ""
    return ModelChoice(
        CHECKPOINT_PREFIX + file_name,
        f"Checkpoint {file_name} ({parameters_text(info.cfg)}, {steps})",
        lambda path=info.path: checkpoints.load_checkpoint(path),
        # Saved weights are trained unless they were saved untrained and never trained since.
        trained=info.training_steps > 0 or not info.source.lower().startswith("untrained"),
        about=(
            f"Saved {_saved_when(info.saved_at)} from {info.source}{seed}, after {steps}; "
            f"{format_bytes(info.size_bytes)}. {parameters_text(info.cfg)}, or {size_name(info.cfg)} counted as "
            "GPT-2's sizes are, with the output head sharing the token embedding's weights."
        ),
        name=f"checkpoint {file_name}",
        ram_bytes=memory_to_load(info.cfg),
    )


@st.cache_resource(ttl=3, show_spinner=False, max_entries=8)
def _scan_checkpoints(folder: str) -> dict[str, ModelChoice]:
    """The checkpoints in ``folder`` by id; cached for a few seconds so every rerun stays cheap."""
    try:
        found = checkpoints.list_checkpoints(folder)
    except Exception:  # a broken folder must not break the app; the log says what happened
        logger.exception("could not list the checkpoints in %s", folder)
        return {}
    # The app's tokenizer is GPT-2's: a model with another vocabulary could not read its ids.
    usable = [info for info in found if info.cfg.vocab_size == GPT2_VOCAB_SIZE]
    return {choice.model_id: choice for choice in map(_checkpoint_choice, usable)}


def checkpoint_choices() -> dict[str, ModelChoice]:
    return _scan_checkpoints(str(checkpoint_folder()))


def refresh_checkpoints() -> None:
    """Forget the last scan, e.g. right after saving a checkpoint, so the picker lists it at once."""
    _scan_checkpoints.clear()


def all_choices() -> dict[str, ModelChoice]:
    """What the picker lists, in order: the fixed choices, then the checkpoints found now."""
    return {**MODEL_CHOICES, **checkpoint_choices()}


def find_choice(model_id: object) -> ModelChoice | None:
    if not isinstance(model_id, str):
        return None
    try:
        return MODEL_CHOICES[model_id]
    except KeyError:
        return None


def is_ready(choice: ModelChoice) -> bool:
    """Can it be loaded without a download? (Everything but a pretrained size missing from the cache.)"""
    return choice.hub_name is None or hub.find_local(choice.hub_name) is not None


def picker_label(choice: ModelChoice) -> str:
    """The picker's line: pretrained sizes say whether they are here and how much download and memory they need.

    Short on purpose (the sidebar shows about 36 characters), e.g. "OpenAI 355M ↓1.4 GB · RAM 1.8 GB".
    """
    if choice.hub_name is None:
        return choice.label
    return f"{choice.label} {cache_state(choice)} · RAM {format_bytes(choice.ram_bytes)}"


def cache_state(choice: ModelChoice) -> str:
    """'ready' (here, and its checksums match), 'checking…', 'unverified copy', or the download's size."""
    verdict = verdict_board().verdict(choice.hub_name)
    if verdict is None:
        return f"↓{format_bytes(choice.download_bytes)}"
    if verdict == CHECKING:
        return "checking…"
    return "ready" if verdict.verified else "unverified copy"


def unverified_warning(choice: ModelChoice) -> str | None:
    """What to tell a student about a cached copy that failed its check, or None."""
    verdict = verdict_board().verdict(choice.hub_name) if choice.hub_name else None
    if verdict is None or verdict == CHECKING or verdict.verified:
        return None
    return (
        f"This server's copy of {choice.short_name} does not match {verdict.against}: {verdict.problem}. It may be "
        "damaged, or not OpenAI's weights, so what it shows may be wrong. Ask your teacher to delete it from the "
        "Hugging Face cache and download it again."
    )
