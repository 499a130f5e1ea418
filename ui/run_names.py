"""Readable, unique file names for the models a training run saves into the picker's checkpoint folder."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from gptcore import GPTConfig
from gptcore.checkpoints import SUFFIX
from gptcore.training import TRAINING_PRESETS

from .catalog import parameters_text


def preset_slug(cfg: GPTConfig) -> str:
    """A short, file-name-safe name of a model's shape, e.g. '2L-128d-ctx128'."""
    return f"{cfg.n_layers}L-{cfg.emb_dim}d-ctx{cfg.context_length}"


def name_slug(text: str) -> str:
    """'GPT-2 124M, untrained (seed 123)' -> 'gpt-2-124m-untrained-seed-123' (at most 40 characters)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40].strip("-") or "model"


def unique_path(folder: Path, stem: str) -> Path:
    path = folder / f"{stem}{SUFFIX}"
    counter = 2
    while path.exists():
        path = folder / f"{stem}-{counter}{SUFFIX}"
        counter += 1
    return path


def writable(folder: Path) -> bool:
    """Whether a file can be created in ``folder`` (made if missing): tried, not guessed from permissions."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            return True
    except OSError:
        return False


def preset_description(name: str) -> str:
    cfg = TRAINING_PRESETS[name]
    return f"{name} ({parameters_text(cfg)}, {cfg.n_heads} heads)"
