"""Many students' sequences in one forward pass: batched traces and continuously batched generation.

Generating one token for one sequence reads every weight of the model (about 500 MB for GPT-2
124M) to do a few hundred MFLOP of work. Reading them once for thirty sequences costs little more,
so a class's work is run in batches:

- ``trace_batch`` traces several prompts of different lengths in one pass. They are padded on the
  right: the causal mask already stops every real token from seeing later positions, so the
  padding changes nothing before it, and each sequence's Trace is cut back to its own length.
- ``DecodeBatch`` generates for several sequences at once, each with its own length, position,
  KV cache row and decoding settings (greedy, or temperature / top-k / top-p with its own seeded
  generator). A sequence joins with its prompt and leaves when it is done, between any two steps.

Each sequence gets the tokens and the numbers it would get alone (tests/test_batching.py): the
same tokens, probabilities within float32 rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .generation import Step, _check_generation_args, _choose, _generator, next_token_distribution, step_of
from .model import GPTModel
from .trace import Trace, cropped_token_ids, record_forward, trace_of_row

PAD_ID = 0  # any id in the vocabulary: padded positions are never read by a real token


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
    tensors, last_logits = record_forward(model, batch, [len(ids) for ids, _ in cropped])
    return [
        trace_of_row(model, tensors, last_logits, ids, n_cropped, row) for row, (ids, n_cropped) in enumerate(cropped)
    ]


class BatchKVCache:
    """One KV-cache row per sequence in a decode batch, each with its own length.

    Buffers are (b, n_heads, capacity, head_dim) per block, zero where a row has nothing yet, so
    the zero attention weight a query gives a padded key multiplies a finite number. Rows are
    added and dropped between steps; a step appends one position to every row.
    """

    def __init__(self, n_layers: int) -> None:
        self.n_layers = n_layers
        self.lengths = torch.zeros(0, dtype=torch.long)  # (b,) positions filled in each row
        self._keys: list[torch.Tensor] = []
        self._values: list[torch.Tensor] = []

    @property
    def rows(self) -> int:
        return len(self.lengths)

    @property
    def capacity(self) -> int:
        return self._keys[0].shape[2] if self._keys else 0

    def add_row(self, keys: list[torch.Tensor], values: list[torch.Tensor], room: int) -> None:
        """Append a sequence whose keys/values per block are (1, n_heads, T, head_dim), with ``room`` more positions."""
        length = keys[0].shape[2]
        capacity = max(self.capacity, length + room)
        if not self._keys:  # the first row
            self._keys = [_padded(keys[layer], capacity) for layer in range(self.n_layers)]
            self._values = [_padded(values[layer], capacity) for layer in range(self.n_layers)]
        else:
            for layer in range(self.n_layers):  # (b, H, capacity, hd) + (1, ...) -> (b + 1, H, capacity, hd)
                self._keys[layer] = torch.cat([_padded(self._keys[layer], capacity), _padded(keys[layer], capacity)])
                self._values[layer] = torch.cat(
                    [_padded(self._values[layer], capacity), _padded(values[layer], capacity)]
                )
        self.lengths = torch.cat([self.lengths, torch.tensor([length])])

    def keep_rows(self, rows: list[int]) -> None:
        """Drop every row not listed, keeping the listed ones in order."""
        index = torch.tensor(rows, dtype=torch.long)
        self._keys = [keys.index_select(0, index) for keys in self._keys]
        self._values = [values.index_select(0, index) for values in self._values]
        self.lengths = self.lengths.index_select(0, index)

    # --- what the model asks of a cache (see attention.KVCache) -------------------------------
    def positions(self, num_new: int, device: torch.device) -> torch.Tensor:
        """(b, T_new) each row's own next positions."""
        return self.lengths.to(device)[:, None] + torch.arange(num_new, device=device)

    def hidden_keys(self, num_new: int, device: torch.device) -> torch.Tensor:
        """(b, 1, T_new, T_total) True where a row's new query may not see a key: later positions, or padding."""
        total = int(self.lengths.max()) + num_new
        key_positions = torch.arange(total, device=device)  # (T_total,)
        query_positions = self.positions(num_new, device)  # (b, T_new)
        return (key_positions[None, None, :] > query_positions[:, :, None])[:, None]  # head axis broadcast

    def update(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write each row's new keys/values (b, n_heads, T_new, head_dim) at its own positions; return all."""
        num_new = keys.shape[2]
        rows = torch.arange(self.rows)
        for offset in range(num_new):
            # Advanced indexing on axes 0 and 2: (b, n_heads, head_dim) written at (row, :, lengths[row] + offset).
            self._keys[layer][rows, :, self.lengths + offset] = keys[:, :, offset]
            self._values[layer][rows, :, self.lengths + offset] = values[:, :, offset]
        total = int(self.lengths.max()) + num_new
        return self._keys[layer][:, :, :total], self._values[layer][:, :, :total]

    def advance(self, num_new: int) -> None:
        self.lengths = self.lengths + num_new


def _padded(tensor: torch.Tensor, capacity: int) -> torch.Tensor:
    """(b, H, T, hd) -> (b, H, capacity, hd), zeros after T."""
    b, n_heads, length, head_dim = tensor.shape
    if length == capacity:
        return tensor.clone()  # the batch owns its buffers: a prefill's cache is not written to again
    out = tensor.new_zeros(b, n_heads, capacity, head_dim)
    out[:, :, :length] = tensor
    return out


@dataclass(eq=False)
class Generation:
    """One sequence being generated in a DecodeBatch: its settings, random generator and Steps so far."""

    ids: list[int]  # prompt (cropped to the context) and the tokens chosen so far
    max_new_tokens: int
    context_size: int
    temperature: float
    top_k: int | None
    top_p: float | None
    eos_id: int | None
    num_candidates: int
    generator: torch.Generator | None
    steps: list[Step] = field(default_factory=list)
    logits: torch.Tensor | None = None  # (vocab,) the prediction for the next token, once computed
    windowed: bool = False  # longer than the context: recomputed from its window each step, alone

    @property
    def done(self) -> bool:
        finished = self.eos_id is not None and bool(self.steps) and self.steps[-1].token_id == self.eos_id
        return finished or len(self.steps) >= self.max_new_tokens


class DecodeBatch:
    """Generation for many sequences at once: ``join`` adds one, ``step`` gives each its next token.

    The tokens, probabilities and candidates of every Step are those ``generate_steps`` gives for
    that sequence alone with the same settings.
    """

    def __init__(self, model: GPTModel) -> None:
        self.model = model
        self.sequences: list[Generation] = []  # one per row of the cache, in order
        self.windowed: list[Generation] = []  # longer than their context: recomputed from the window, alone
        self.cache = BatchKVCache(model.cfg.n_layers)

    def __len__(self) -> int:
        return len(self.sequences) + len(self.windowed)

    @torch.no_grad()
    def join(
        self,
        token_ids: Sequence[int] | torch.Tensor,
        max_new_tokens: int,
        context_size: int | None = None,
        temperature: float = 0.0,
        top_k: int | None = None,
        top_p: float | None = None,
        eos_id: int | None = None,
        seed: int | None = None,
        num_candidates: int = 10,
    ) -> Generation:
        """Read a prompt (its own forward pass, the prefill) and add it to the batch."""
        ids = torch.as_tensor(token_ids, dtype=torch.long).reshape(1, -1)  # (1, T)
        context_size = self.model.cfg.context_length if context_size is None else context_size
        _check_generation_args(self.model, ids, max_new_tokens, context_size, temperature, top_k, top_p)
        if num_candidates < 1:
            raise ValueError(f"num_candidates must be at least 1, got {num_candidates}")
        window = ids[:, -context_size:]
        sequence = Generation(
            ids=window[0].tolist(),
            max_new_tokens=max_new_tokens,
            context_size=context_size,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            eos_id=eos_id,
            num_candidates=num_candidates,
            generator=_generator(seed, ids.device),
        )
        if max_new_tokens == 0:
            return sequence  # nothing to generate: it never joins
        # Room for every position this sequence's cache row can reach, as generate() allocates.
        room = min(context_size - window.shape[1], max_new_tokens)
        cache = self.model.new_cache(capacity=window.shape[1] + room)
        hidden = self.model.hidden_states(window, cache)  # (1, T, emb_dim)
        sequence.logits = self.model.out_head(hidden[0, -1])  # (vocab,)
        filled = slice(0, cache.length)
        self.cache.add_row(
            [cache._keys[layer][:, :, filled] for layer in range(self.model.cfg.n_layers)],
            [cache._values[layer][:, :, filled] for layer in range(self.model.cfg.n_layers)],
            room,
        )
        self.sequences.append(sequence)
        return sequence

    def leave(self, generation: Generation) -> None:
        """Take a sequence out before it is done (its student left); unknown ones are ignored."""
        if generation in self.windowed:
            self.windowed.remove(generation)
        if generation in self.sequences:
            row = self.sequences.index(generation)
            staying = [other for other in range(len(self.sequences)) if other != row]
            self.cache.keep_rows(staying)
            del self.sequences[row]

    @torch.no_grad()
    def step(self) -> list[tuple[Generation, Step]]:
        """One new token for every sequence; those that are done leave the batch."""
        chosen = [(sequence, self._choose_next(sequence)) for sequence in self.sequences + self.windowed]
        # Rows that are done leave; rows whose next position would pass their context slide instead.
        cached = [row for row, s in enumerate(self.sequences) if not s.done and len(s.ids) <= s.context_size]
        self.windowed = [s for s in self.windowed if not s.done]
        self.windowed += [s for s in self.sequences if not s.done and len(s.ids) > s.context_size]
        if len(cached) < len(self.sequences):
            self.cache.keep_rows(cached)
            self.sequences = [self.sequences[row] for row in cached]
        self._next_logits()
        return chosen

    def _choose_next(self, sequence: Generation) -> Step:
        probs = next_token_distribution(sequence.logits[None], sequence.temperature, sequence.top_k, sequence.top_p)
        token = _choose(probs, sequence.temperature, sequence.generator)  # (1, 1)
        step = step_of(len(sequence.steps), probs[0], int(token), sequence.num_candidates)
        sequence.steps.append(step)
        sequence.ids.append(step.token_id)
        return step

    def _next_logits(self) -> None:
        """Feed every cached row its newest token in one forward pass; windowed sequences one by one."""
        for sequence in self.windowed:
            # Positions shift once the window slides, so it is recomputed from scratch, as generate() does.
            window = torch.tensor(sequence.ids[-sequence.context_size :])[None]  # (1, context_size)
            sequence.logits = self.model.out_head(self.model.hidden_states(window)[0, -1])
        if not self.sequences:
            return
        newest = torch.tensor([[sequence.ids[-1]] for sequence in self.sequences])  # (b, 1)
        hidden = self.model.hidden_states(newest, self.cache)  # (b, 1, emb_dim)
        logits = self.model.out_head(hidden[:, -1])  # (b, vocab)
        for row, sequence in enumerate(self.sequences):
            sequence.logits = logits[row]
