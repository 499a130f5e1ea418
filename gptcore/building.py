"""Building a GPTModel fast: laid out without drawing, then drawn exactly as the book's constructor would.

``torch.manual_seed(123); GPTModel(GPT_CONFIG_124M)`` draws the book's weights. ``build_model(cfg, 123)``
gives the same weights (a test checks it) in a fraction of the time: the model is first laid out on
the meta device with the layers' initialisers switched off, and each weight is then drawn once,
straight into its final memory. ``empty_model`` stops after the layout, for loading weights into.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from .config import GPTConfig
from .layers import LayerNorm
from .model import GPTModel
from .seeding import seeded


class _SkipInitialisation(TorchFunctionMode):
    """Turn the layers' own weight initialisers into no-ops while a model is laid out.

    On the meta device they would do nothing useful, and the first one would cost about a second:
    torch runs meta-device random draws through its compiler stack, importing hundreds of modules.
    A function mode applies only to the thread that entered it, so other threads are unaffected.
    """

    INITIALISERS = frozenset(
        getattr(nn.init, name) for name in ("normal_", "uniform_", "kaiming_uniform_", "zeros_", "ones_", "constant_")
    )

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in self.INITIALISERS:
            return args[0] if args else kwargs["tensor"]
        return func(*args, **kwargs)


def empty_model(cfg: GPTConfig | Mapping[str, Any]) -> GPTModel:
    """A GPTModel (eval mode) whose weights are allocated but not yet drawn or loaded."""
    with torch.device("meta"), _SkipInitialisation():
        model = GPTModel(cfg)  # shapes (and the weights' memory layout) only
    # Not model.to_empty(): on meta tensors it runs through torch's symbolic-shape machinery (sympy).
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            memory = torch.empty_strided(param.shape, param.stride())  # keeps the (in, out) layout
            setattr(module, name, nn.Parameter(memory, requires_grad=param.requires_grad))
    return model.eval()


def build_model(cfg: GPTConfig | Mapping[str, Any], seed: int = 123) -> GPTModel:
    """A freshly initialised model in eval mode; seed 123 with GPT_CONFIG_124M gives the book's weights.

    The weights are exactly those of ``torch.manual_seed(seed); GPTModel(cfg)``, drawn faster (a test
    checks they are equal).
    """
    model = empty_model(cfg)
    with seeded(seed):
        _draw_initial_weights(model)
    return model


@torch.no_grad()
def _draw_initial_weights(model: GPTModel) -> None:
    """Draw every parameter as the layers' own constructors do, in the order they were created.

    GPTModel's constructor would draw each Linear weight into fresh (out, in) memory and then copy
    it into the (in, out) layout. Here each weight is drawn into one reused row-major buffer per
    shape and copied straight into place: the same random numbers, half the memory traffic.
    """
    buffers: dict[torch.Size, torch.Tensor] = {}
    for module in model.modules():  # registration order = creation order = the random stream's order
        if isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight)  # as nn.Embedding.reset_parameters (no padding index)
        elif isinstance(module, nn.Linear):
            drawn = buffers.setdefault(module.weight.shape, torch.empty(module.weight.shape))
            nn.init.kaiming_uniform_(drawn, a=math.sqrt(5))  # as nn.Linear.reset_parameters
            module.weight.copy_(drawn)
            if module.bias is not None:
                bound = 1 / math.sqrt(module.in_features)
                nn.init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, LayerNorm):
            module.scale.fill_(1.0)
            module.shift.zero_()
