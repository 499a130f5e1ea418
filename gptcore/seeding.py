"""Seeded randomness without side effects on the caller's: seeded model builds, and training's private generators."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

# PyTorch's default generator is process-wide; a lock keeps two seeded builds from interleaving.
_global_rng_lock = threading.Lock()


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block as if right after torch.manual_seed(seed), then restore the previous state.

    Layers draw their initial weights from the default generator, so this is how a model is built
    with the book's exact weights without changing what other code's random numbers will be.
    """
    with _global_rng_lock, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


# Reproducible randomness for training: private generators seeded from (seed, stream, counter).

EPOCH_ORDER, DROPOUT = 1, 2  # streams, so that two uses of one seed never share random numbers


def derived_seed(seed: int, stream: int, counter: int) -> int:
    """A well-mixed 63-bit seed for one (seed, stream, counter); neighbouring counters are unrelated."""
    words = np.random.SeedSequence([seed, stream, counter]).generate_state(2, dtype=np.uint32)
    return (int(words[0]) << 31) ^ int(words[1])


class GeneratorDropout(nn.Module):
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


def swap_dropout(model: nn.Module, generator: torch.Generator | None) -> None:
    """Replace every dropout layer by a generator-driven one (generator given) or back (None)."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if generator is not None and type(child) is nn.Dropout:
                setattr(module, name, GeneratorDropout(child.p, generator))
            elif generator is None and isinstance(child, GeneratorDropout):
                setattr(module, name, nn.Dropout(child.p))
