"""A training text as the loop reads it: windows of tokens, split for training and validation, in seeded order.

As in chapter 5 the text is cut into windows with stride = window length (no overlap); each epoch
visits them in a fresh shuffled order, drawn from (seed, epoch), so a batch is a function of
(seed, step) and a resumed run takes the same batches as one never stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .seeding import EPOCH_ORDER, derived_seed
from .tokenizer import get_tokenizer


class TrainingDataError(ValueError):
    """The text cannot feed a run: too short for one training and one validation window."""


@dataclass(frozen=True)
class TokenWindows:
    """Non-overlapping windows of a token sequence, each with its next-token targets."""

    tokens: torch.Tensor  # (N,) int64
    length: int  # T, tokens per window

    @property
    def count(self) -> int:
        # Starts 0, T, 2T, ... while a whole window plus its last target fits (the book's range).
        return (len(self.tokens) - self.length - 1) // self.length + 1 if len(self.tokens) > self.length else 0

    def batch(self, window_indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets, each (b, T), for the given windows."""
        starts = window_indices * self.length  # (b,)
        positions = starts[:, None] + torch.arange(self.length + 1)  # (b, T + 1)
        chunk = self.tokens[positions]  # (b, T + 1)
        return chunk[:, :-1], chunk[:, 1:]

    def spread(self, how_many: int) -> torch.Tensor:
        """``how_many`` window indices spread evenly over the text (all of them if there are fewer)."""
        if how_many >= self.count:
            return torch.arange(self.count)
        return torch.linspace(0, self.count - 1, how_many).round().long()


class EpochOrder:
    """Which windows step s trains on: a shuffled order per epoch, batches running across epochs.

    Step s (1-based) takes positions (s - 1) * b ... s * b - 1 of the concatenated epoch orders;
    epoch e's order is a permutation drawn from (seed, e). So a batch is a function of (seed, s).
    """

    def __init__(self, num_windows: int, batch_size: int, seed: int) -> None:
        self.num_windows = num_windows
        self.batch_size = batch_size
        self.seed = seed
        self._orders: dict[int, torch.Tensor] = {}

    def _order(self, epoch: int) -> torch.Tensor:
        if epoch not in self._orders:
            if len(self._orders) > 4:
                self._orders.pop(min(self._orders))  # steps only move forward; keep a few recent epochs
            generator = torch.Generator().manual_seed(derived_seed(self.seed, EPOCH_ORDER, epoch))
            self._orders[epoch] = torch.randperm(self.num_windows, generator=generator)
        return self._orders[epoch]

    def windows_for_step(self, step: int) -> torch.Tensor:
        positions = range((step - 1) * self.batch_size, step * self.batch_size)
        return torch.stack([self._order(p // self.num_windows)[p % self.num_windows] for p in positions])


def split_tokens(text: str, window: int, val_fraction: float, vocab_size: int) -> tuple[TokenWindows, TokenWindows]:
    """Tokenise ``text`` and split it: the first (1 - val_fraction) trains, the rest validates."""
    token_ids = get_tokenizer().encode(text)
    if token_ids and max(token_ids) >= vocab_size:
        raise ValueError(f"the text has token id {max(token_ids)} but the model's vocabulary has only {vocab_size}")
    tokens = torch.tensor(token_ids, dtype=torch.long)
    split = int(len(tokens) * (1 - val_fraction))
    if split <= window or len(tokens) - split <= window:
        needed = tokens_needed(window, val_fraction)
        raise TrainingDataError(
            f"the text has {len(tokens):,} tokens, but a {window}-token window with val_fraction {val_fraction} "
            f"needs at least {needed:,} (one window plus its next token for training, and the same for "
            "validation); give a longer text, a shorter window or another val_fraction"
        )
    return TokenWindows(tokens[:split], window), TokenWindows(tokens[split:], window)


def longest_window(n_tokens: int, window: int, val_fraction: float, shortest: int = 16) -> int | None:
    """The longest training window, at most ``window`` and at least ``shortest``, that n_tokens can split into.

    None when even the shortest is too long: the text needs more tokens (see tokens_needed).
    """
    for candidate in range(window, shortest - 1, -1):
        if tokens_needed(candidate, val_fraction) <= n_tokens:
            return candidate
    return None


def tokens_needed(window: int, val_fraction: float) -> int:
    """The fewest tokens whose split leaves window + 1 tokens on each side."""
    total = 2 * (window + 1)
    # Both parts grow by 0 or 1 token per extra token, so the first total that works is the answer.
    while not (int(total * (1 - val_fraction)) > window and total - int(total * (1 - val_fraction)) > window):
        total += 1
    return total
