"""The resume state beside a training checkpoint: AdamW's moving averages and the run's counters.

Beside a checkpoint ``<name>.safetensors`` the loop writes ``<name>.safetensors.training-state``
(the same file format, not listed by the model picker). It names its step, and is written before
the checkpoint, so a crash between the two writes is caught on resume.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import torch

from .checkpoints import read_checkpoint_info
from .model import GPTModel
from .names import stored_names
from .tensorfile import TensorFile, write_tensor_file

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
        return read_state_metadata(TensorFile(training_state_path(checkpoint)))["training_steps"] == (
            read_checkpoint_info(checkpoint).training_steps
        )
    except (ValueError, KeyError, OSError):
        return False


def read_state_metadata(file: TensorFile) -> dict[str, Any]:
    try:
        metadata = json.loads(file.metadata[_STATE_KEY])
    except (KeyError, json.JSONDecodeError):
        raise ValueError(f"{file.path} is not a gptcore training state") from None
    if metadata.get("format") != _STATE_FORMAT:
        raise ValueError(f"{file.path} has format {metadata.get('format')!r}; this version reads {_STATE_FORMAT!r}")
    return metadata


def save_training_state(
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


def load_training_state(checkpoint: Path, model: GPTModel, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
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
    metadata = read_state_metadata(state_file)
    if metadata.get("training_steps") != info.training_steps:
        raise ValueError(
            f"{state_path.name} is for step {metadata.get('training_steps')} but {checkpoint.name} was saved at step "
            f"{info.training_steps} (was a save interrupted?); resume from another checkpoint"
        )
    weights = TensorFile(checkpoint)
    stored = stored_names(weights.shapes)  # saved before the book's names: read under today's
    stored_state = stored_names(state_file.shapes)
    with torch.no_grad():
        for name, param in model.named_parameters():
            weights.read_into(stored.get(name, name), param)
            if metadata["training_steps"] == 0:
                continue  # saved before the first step: AdamW has no state yet
            state = {}
            for key in ("step", "exp_avg", "exp_avg_sq"):
                stored_key = stored_state.get(f"{key}.{name}")
                if stored_key is None:
                    raise ValueError(f"{state_path} lacks '{key}.{name}'; it does not belong to this model")
                if key == "step":
                    state[key] = state_file.read(stored_key)
                else:
                    # Same memory layout as the parameter, as AdamW would have made it: bitwise-equal steps.
                    state[key] = torch.zeros_like(param, memory_format=torch.preserve_format)
                    state_file.read_into(stored_key, state[key])
            optimizer.state[param] = state
    return metadata
