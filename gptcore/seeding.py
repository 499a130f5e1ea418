"""Seeded construction without side effects on the caller's random numbers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

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
