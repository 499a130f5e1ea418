"""Where a model's tensors live: the CPU, or a CUDA GPU when one is asked for and present.

Everything in gptcore that makes a tensor for a model makes it on ``model_device(model)``, and
everything that hands numbers back (Traces, Steps, lens and gradient arrays) brings them to the
CPU first, so a caller never sees which device did the work.
"""

from __future__ import annotations

import torch
from torch import nn

CPU = torch.device("cpu")


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's parameters (the CPU for a model without any)."""
    return next(model.parameters(), torch.empty(0)).device


def choose_device(requested: str | None) -> tuple[torch.device, str | None]:
    """The device for a setting such as "cpu", "cuda" or "cuda:1", and why the CPU is used instead, if it is.

    A GPU that is asked for but absent, or a name torch does not know, falls back to the CPU with
    a reason to log: a class's server still starts.
    """
    name = (requested or "").strip().lower() or "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        return CPU, f"{requested!r} is not a device torch knows (try cpu or cuda): using the CPU"
    if device.type == "cpu":
        return CPU, None
    if device.type != "cuda":
        return CPU, f"{name} is not supported here, only cpu and cuda: using the CPU"
    if not torch.cuda.is_available():
        return CPU, f"{name} was asked for, but this torch sees no CUDA GPU: using the CPU"
    if device.index is not None and device.index >= torch.cuda.device_count():
        return CPU, f"{name} was asked for, but only {torch.cuda.device_count()} CUDA GPU(s) are present: using the CPU"
    return device, None
