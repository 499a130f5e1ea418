"""Signs that a training run memorises its text: validation loss turning up, and samples copied from the text.

A model learns what carries over to new text while its validation loss (on the held-out end of the
text) falls. Once it rises again while the training loss keeps falling, the model is fitting the
training windows themselves: it memorises. Chapter 5 of the book shows this on its short story.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .training import EvalReport

RISE_TOLERANCE = 0.05  # a validation loss this much above its best is noise, not a turn


@dataclass(frozen=True)
class Memorising:
    """The evaluation with the lowest validation loss, and what came after it."""

    best_step: int
    best_val_loss: float
    final_step: int
    final_val_loss: float
    train_loss_at_best: float
    final_train_loss: float


def find_memorising(evaluations: Sequence[EvalReport], tolerance: float = RISE_TOLERANCE) -> Memorising | None:
    """The turn in a run's evaluations, or None while the validation loss is still at (or near) its best.

    It counts as memorising when the last validation loss is more than ``tolerance`` above the
    lowest one and the training loss has gone on falling since.
    """
    if len(evaluations) < 3:
        return None
    best = min(evaluations, key=lambda report: report.val_loss)
    final = evaluations[-1]
    if final.val_loss - best.val_loss <= tolerance or final.train_loss >= best.train_loss:
        return None
    return Memorising(best.step, best.val_loss, final.step, final.val_loss, best.train_loss, final.train_loss)


def copied_words(sample: str, prompt: str, text: str, min_words: int = 8) -> str | None:
    """The longest run of at least ``min_words`` words of the sample's continuation found word for word in text.

    Only what the model wrote counts (the sample after ``prompt``); words are the pieces between
    whitespace, so line breaks and spacing do not matter.
    """
    written = sample[len(prompt) :] if sample.startswith(prompt) else sample
    words, source = written.split(), f" {' '.join(text.split())} "  # spaces around: whole words only
    longest: list[str] = []
    for start in range(len(words)):
        # Only runs longer than the longest so far are worth trying; every shorter run of a found one is found.
        end = start + max(min_words, len(longest) + 1)
        while end <= len(words) and f" {' '.join(words[start:end])} " in source:
            longest = words[start:end]
            end += 1
    return " ".join(longest) or None
