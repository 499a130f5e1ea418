"""The project's own checkpoints: one safetensors file whose header carries the config as JSON.

A checkpoint holds every parameter of a GPTModel under its own name, plus metadata (format
version, config, where the weights came from, seed, training steps, when saved). One file
means one atomic rename: a save is written to a hidden temporary file beside the target and
renamed over it only when complete, so a crash never leaves a half-written checkpoint under the
real name. Loading checks the format, the config and every name and shape before copying.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch

from .building import empty_model
from .config import GPTConfig
from .model import GPTModel
from .names import stored_names
from .tensorfile import TensorFile, write_tensor_file

FORMAT = "gptcore-checkpoint/1"
METADATA_KEY = "gptcore"  # the safetensors metadata entry holding our JSON
SUFFIX = ".safetensors"


@dataclass(frozen=True)
class CheckpointInfo:
    path: Path
    cfg: GPTConfig
    source: str  # where the weights came from, e.g. "untrained, seed 123" or "openai-community/gpt2"
    seed: int | None
    training_steps: int
    saved_at: str  # ISO 8601, UTC
    size_bytes: int


def save_checkpoint(
    model: GPTModel, path: str | Path, *, source: str, seed: int | None = None, training_steps: int = 0
) -> Path:
    """Save ``model`` to ``path`` (a .safetensors file) atomically; returns the path."""
    path = Path(path)
    if path.suffix != SUFFIX:
        raise ValueError(f"checkpoint files end in {SUFFIX}; got {path.name}")
    metadata = {
        "format": FORMAT,
        "config": model.cfg.to_dict(),
        "source": source,
        "seed": seed,
        "training_steps": int(training_steps),
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write_tensor_file(temporary, dict(model.state_dict()), {METADATA_KEY: json.dumps(metadata)})
        os.replace(temporary, path)  # atomic on POSIX and Windows: the old file or the new, never half
    finally:
        temporary.unlink(missing_ok=True)
    return path


def read_checkpoint_info(path: str | Path) -> CheckpointInfo:
    """The metadata of a checkpoint, read from its header only; raises ValueError if it is not one."""
    file = TensorFile(path)
    return _info(file)


def _info(file: TensorFile) -> CheckpointInfo:
    try:
        metadata = json.loads(file.metadata[METADATA_KEY])
    except (KeyError, json.JSONDecodeError):
        raise ValueError(
            f"{file.path} is a safetensors file but not a gptcore checkpoint (no '{METADATA_KEY}' metadata)"
        ) from None
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{file.path} has checkpoint format {metadata.get('format')!r}; this version reads {FORMAT!r}")
    try:
        cfg = GPTConfig.coerce(metadata["config"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{file.path} has an invalid config: {error}") from None
    return CheckpointInfo(
        path=file.path,
        cfg=cfg,
        source=str(metadata.get("source", "unknown")),
        seed=metadata.get("seed"),
        training_steps=int(metadata.get("training_steps", 0)),
        saved_at=str(metadata.get("saved_at", "")),
        size_bytes=file.path.stat().st_size,
    )


def load_checkpoint(path: str | Path) -> GPTModel:
    """A GPTModel (eval mode) from a checkpoint, after checking config, names and shapes."""
    file = TensorFile(path)
    info = _info(file)
    model = empty_model(info.cfg)
    params = dict(model.state_dict())
    stored = stored_names(file.shapes)  # a checkpoint from before the book's names is read under them
    missing = sorted(set(params) - set(stored))
    extra = sorted(stored[name] for name in set(stored) - set(params))
    if missing or extra:
        raise ValueError(
            f"{file.path} does not match its own config: missing {missing[:3]}, unexpected {extra[:3]}"
            + (f" ({len(missing)} missing, {len(extra)} unexpected in all)" if len(missing) + len(extra) > 6 else "")
        )
    for name, param in params.items():
        if file.shapes[stored[name]] != tuple(param.shape):
            raise ValueError(
                f"{file.path}: tensor '{stored[name]}' has shape {file.shapes[stored[name]]} but its config needs "
                f"{tuple(param.shape)}"
            )
    with torch.no_grad():
        for name, param in params.items():
            file.read_into(stored[name], param)
    return model


def list_checkpoints(folder: str | Path) -> list[CheckpointInfo]:
    """Every readable checkpoint in ``folder``, newest first; other files are skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob(f"*{SUFFIX}"):
        if path.name.startswith("."):
            continue  # a save in progress
        try:
            found.append(read_checkpoint_info(path))
        except ValueError:
            continue
    return sorted(found, key=lambda info: info.saved_at, reverse=True)
