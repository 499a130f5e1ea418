"""Hook points: identity layers that let a trace capture internals without touching the maths.

Every place worth looking at in the model passes its tensor through a ``HookPoint``. Normally the
hook point does nothing. While ``recording(recorder)`` is active *in the current context* (a
``contextvars.ContextVar``, so per thread and per asyncio task), each hook point hands its tensor
to that recorder. Nothing is ever registered on the model, so one model object can be shared by
many students' sessions running in threads, and each trace sees only its own tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
from torch import nn

_active_recorder: ContextVar[Recorder | None] = ContextVar("gptcore_active_recorder", default=None)


class HookPoint(nn.Module):
    """Identity layer; records its input into the active recorder, if there is one."""

    def __init__(self) -> None:
        super().__init__()
        self.name = ""  # dotted path inside the model, set once by name_hook_points()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        recorder = _active_recorder.get()
        if recorder is not None:
            recorder.record(self.name, x)
        return x


def name_hook_points(model: nn.Module) -> None:
    """Give every hook point its path in the model, e.g. 'trf_blocks.0.att.hook_weights'."""
    for name, module in model.named_modules():
        if isinstance(module, HookPoint):
            module.name = name


class Recorder:
    """Collects the tensors that hook points hand over during one forward pass.

    keep: which hook names to store (all when None).
    detach: store tensors cut from the autograd graph (for display); keep the graph when a
        gradient with respect to the recorded tensor is wanted.
    """

    def __init__(self, keep: Callable[[str], bool] | None = None, detach: bool = True) -> None:
        self.keep = keep
        self.detach = detach
        self.tensors: dict[str, torch.Tensor] = {}

    def record(self, name: str, tensor: torch.Tensor) -> None:
        if self.keep is not None and not self.keep(name):
            return
        self.tensors[name] = tensor.detach() if self.detach else tensor


@contextmanager
def recording(recorder: Recorder) -> Iterator[Recorder]:
    """Make ``recorder`` the active one for the code inside the with-block, in this context only."""
    token = _active_recorder.set(recorder)
    try:
        yield recorder
    finally:
        _active_recorder.reset(token)
