"""Many students' prompts in one pass: batched traces and logit-lens readings (decoding.py batches generation).

Running the model for one short prompt reads every weight (about 500 MB for GPT-2 124M) to do
little work; reading them once for thirty prompts costs little more, so a class's work is batched:

- ``trace_batch`` traces several prompts of different lengths in one pass. They are padded on the
  right: the causal mask already stops every real token from seeing later positions, so the
  padding changes nothing before it, and each sequence's Trace is cut back to its own length.
- ``LensReading`` is one student's logit lens (every stream place of the positions shown), and
  ``read_lens_chunk`` runs the output head over the next rows of several readings in one product,
  so a class's short prompts share products and a long reading is done a chunk at a time.

Each prompt gets the numbers it would get alone (tests/test_batching.py), within float32 rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .decoding import PAD_ID
from .lens import LENS_CHUNK, lens_top_k
from .model import GPTModel
from .trace import Trace, cropped_token_ids, record_forward, split_rows, trace_of_row


def trace_batch(model: GPTModel, sequences: Sequence[Sequence[int] | np.ndarray | torch.Tensor]) -> list[Trace]:
    """``[trace(model, ids) for ids in sequences]``, in one forward pass.

    Sequences may differ in length; each Trace is sized to its own sequence (its attention
    patterns are T x T for its T tokens, not for the longest).
    """
    if not sequences:
        return []
    cropped = [cropped_token_ids(model, ids) for ids in sequences]
    longest = max(len(ids) for ids, _ in cropped)
    batch = torch.full((len(cropped), longest), PAD_ID, dtype=torch.long)  # (b, T_max), padded on the right
    for row, (ids, _) in enumerate(cropped):
        batch[row, : len(ids)] = ids
    lengths = [len(ids) for ids, _ in cropped]
    tensors, last_logits = record_forward(model, batch, lengths)  # moves batch to the model
    rows = split_rows(tensors, lengths)  # empties tensors as it goes
    return [
        trace_of_row(model, row, logits, ids, n_cropped)
        for row, logits, (ids, n_cropped) in zip(rows, last_logits, cropped, strict=True)
    ]


@dataclass(eq=False)
class LensReading:
    """One logit-lens request: its stream rows, read a chunk at a time, and the top-k found so far.

    ``rows`` is (L + 1, P, d), e.g. ``lens.stream_rows(trace, window)``. ``result()`` gives what
    ``lens.logit_lens`` gives for those positions: ``(ids, probs)``, both (L + 1, P, k).
    """

    rows: np.ndarray  # (L + 1, P, d)
    k: int = 5
    read: int = 0  # rows done, in place-major order
    ids: np.ndarray = field(init=False)  # (N, k) with N = (L + 1) * P
    probs: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if self.rows.ndim != 3 or self.rows.shape[1] == 0:
            raise ValueError(f"expected stream rows of shape (places, positions, d), got {self.rows.shape}")
        self.ids = np.empty((self.total, self.k), dtype=np.int64)
        self.probs = np.empty((self.total, self.k), dtype=np.float64)

    @property
    def total(self) -> int:
        return self.rows.shape[0] * self.rows.shape[1]

    @property
    def done(self) -> bool:
        return self.read == self.total

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        places, positions, _ = self.rows.shape
        shape = (places, positions, self.k)  # (N, k) -> (L + 1, P, k)
        return self.ids.reshape(shape), self.probs.reshape(shape)


def read_lens_chunk(model: GPTModel, readings: Sequence[LensReading], max_rows: int = LENS_CHUNK) -> list[LensReading]:
    """Read the next rows of ``readings``, in order, up to ``max_rows`` in all, in one output-head
    product; returns the readings it read rows of (none once all are done). Each reading gets the
    numbers it would get alone (its top-k of the same logits), however its rows are spread."""
    width = model.cfg.emb_dim
    taken: list[tuple[LensReading, int, int]] = []  # (reading, first row, rows taken)
    room = max_rows
    for reading in readings:
        if room == 0:
            break
        count = min(room, reading.total - reading.read)
        if count > 0:
            taken.append((reading, reading.read, count))
            room -= count
    if not taken:
        return []
    # Each reading's (L + 1, P, d) rows flattened to (N, d); the chunk is the taken rows end to end.
    chunk = np.concatenate([r.rows.reshape(-1, width)[first : first + n] for r, first, n in taken])  # (rows, d)
    ids, probs = lens_top_k(model, chunk, max(r.k for r, _, _ in taken))  # (rows, k_max), most likely first
    offset = 0
    for reading, first, count in taken:
        reading.ids[first : first + count] = ids[offset : offset + count, : reading.k]
        reading.probs[first : first + count] = probs[offset : offset + count, : reading.k]
        reading.read += count
        offset += count
    return [reading for reading, _, _ in taken]
