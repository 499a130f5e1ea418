"""Hook points: identity layers that let a trace capture internals, and an experiment change them.

Every place worth looking at in the model passes its tensor through a ``HookPoint``. Normally the
hook point does nothing. While ``recording(recorder)`` is active *in the current context* (a
``contextvars.ContextVar``, so per thread and per asyncio task), each hook point hands its tensor
to that recorder. While ``editing(editor)`` is active, each hook point first lets the editor
replace its tensor (gptcore/edits.py: a head switched off, a stream patched in). Nothing is ever
registered on the model, so one model object can be shared by many students' sessions running in
threads, and each pass sees only its own recorder and its own edits.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Protocol

import torch
from torch import nn

_active_recorder: ContextVar[Recorder | None] = ContextVar("gptcore_active_recorder", default=None)
_active_editor: ContextVar[Editor | None] = ContextVar("gptcore_active_editor", default=None)


class Editor(Protocol):
    """What an experiment changes in a forward pass (gptcore/edits.py makes them)."""

    def edit(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        """The tensor to pass on from hook point ``name``: ``tensor`` itself, or a changed copy."""
        ...

    def keeps_shortcut(self, layer: int) -> bool:
        """Whether block ``layer`` adds its input back (False: its shortcuts are removed)."""
        ...


class HookPoint(nn.Module):
    """Identity layer; records its input into the active recorder, if there is one."""

    def __init__(self) -> None:
        super().__init__()
        self.name = ""  # dotted path inside the model, set once by name_hook_points()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        editor = _active_editor.get()
        if editor is not None:
            x = editor.edit(self.name, x)  # recorded as changed: a trace shows what the model used
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


def recording(recorder: Recorder) -> AbstractContextManager[Recorder]:
    """Make ``recorder`` the active one for the code inside the with-block, in this context only."""
    return _active(_active_recorder, recorder)


def editing(editor: Editor) -> AbstractContextManager[Editor]:
    """Make ``editor`` change the forward passes inside the with-block, in this context only."""
    return _active(_active_editor, editor)


@contextmanager
def _active(variable: ContextVar, value):
    """``variable`` holds ``value`` inside the with-block, in this context only (threads and tasks keep theirs)."""
    token = variable.set(value)
    try:
        yield value
    finally:
        variable.reset(token)


def shortcut_kept(layer: int) -> bool:
    """Whether block ``layer`` keeps its shortcuts in this context (always, unless an edit removes them)."""
    editor = _active_editor.get()
    return editor is None or editor.keeps_shortcut(layer)
