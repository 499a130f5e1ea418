"""Continuously batched generation: many students' sequences get their next tokens in one forward pass.

Generating one token for one sequence reads every weight of the model (about 500 MB for GPT-2
124M) to do a few hundred MFLOP of work; reading them once for thirty sequences costs little more.
``DecodeBatch`` generates for several sequences at once, each with its own length, position, KV
cache row and decoding settings (greedy, or temperature / top-k / top-p with its own seeded
generator). A sequence joins with its prompt and leaves when it is done, between any two steps.

Each sequence gets the tokens and the numbers ``generate_steps`` gives it alone
(tests/test_batching.py): the same tokens, probabilities within float32 rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from .device import model_device
from .generation import (
    Step,
    _check_generation_args,
    _choose,
    _generator,
    next_token_distribution,
    steps_of_rows,
)
from .model import GPTModel

PAD_ID = 0  # any id in the vocabulary: padded positions are never read by a real token
SMALLEST_CACHE = 64  # positions: the shortest cache row a size class gives


def cache_capacity(num_tokens: int, context_length: int) -> int:
    """The cache row a generation of ``num_tokens`` (prompt + new) gets in a batch of its size class.

    Every row of a DecodeBatch is as long as its longest, so a short sequence batched with a
    1,000-token one would hold a 1,000-token cache. Batching sequences by this class (the next
    power of two, from SMALLEST_CACHE up to the context) bounds each row at twice what it needs.
    """
    capacity = SMALLEST_CACHE
    while capacity < num_tokens:
        capacity *= 2
    return min(capacity, context_length)


class BatchKVCache:
    """One KV-cache row per sequence in a decode batch, each with its own length.

    Buffers are (b, n_heads, capacity, head_dim) per block. Past its length a row holds zeros or
    the keys of its prefill's padding: finite numbers, hidden from every query (the zero weight a
    query gives them multiplies a finite number), and overwritten as the row grows. Rows are
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

    def add_rows(self, keys: list[torch.Tensor], values: list[torch.Tensor], lengths: list[int], room: int) -> None:
        """Append sequences whose keys/values per block are (n, n_heads, T, head_dim), the first
        ``lengths[i]`` positions of row i filled, with up to ``room`` positions needed in all."""
        capacity = max(self.capacity, room)
        old_keys = self._keys or [keys[0][:0]] * self.n_layers  # no rows yet: (0, H, T, hd)
        old_values = self._values or [values[0][:0]] * self.n_layers
        # Per block: (b, H, capacity, hd) and (n, ...) -> (b + n, H, capacity, hd)
        self._keys = [
            torch.cat([_padded(old, capacity), _padded(new, capacity)]) for old, new in zip(old_keys, keys, strict=True)
        ]
        self._values = [
            torch.cat([_padded(old, capacity), _padded(new, capacity)])
            for old, new in zip(old_values, values, strict=True)
        ]
        self.lengths = torch.cat([self.lengths, torch.tensor(lengths, dtype=torch.long)])

    def keep_rows(self, rows: list[int]) -> None:
        """Drop every row not listed, keeping the listed ones in order."""
        index = torch.tensor(rows, dtype=torch.long)
        on_device = index.to(self._keys[0].device) if self._keys else index
        self._keys = [keys.index_select(0, on_device) for keys in self._keys]
        self._values = [values.index_select(0, on_device) for values in self._values]
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
        rows = torch.arange(self.rows, device=keys.device)
        lengths = self.lengths.to(keys.device)
        for offset in range(num_new):
            # Advanced indexing on axes 0 and 2: (b, n_heads, head_dim) written at (row, :, lengths[row] + offset).
            self._keys[layer][rows, :, lengths + offset] = keys[:, :, offset]
            self._values[layer][rows, :, lengths + offset] = values[:, :, offset]
        total = int(self.lengths.max()) + num_new
        return self._keys[layer][:, :, :total], self._values[layer][:, :, :total]

    def advance(self, num_new: int) -> None:
        self.lengths = self.lengths + num_new


def _same_settings(sequences: list[Generation]) -> list[list[Generation]]:
    """The sequences grouped by decoding settings, so each group's distributions are one computation."""
    groups: dict[tuple, list[Generation]] = {}
    for sequence in sequences:
        key = (sequence.temperature, sequence.top_k, sequence.top_p, sequence.num_candidates)
        groups.setdefault(key, []).append(sequence)
    return list(groups.values())


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
        self.device = model_device(model)
        self.sequences: list[Generation] = []  # one per row of the cache, in order
        self.windowed: list[Generation] = []  # longer than their context: recomputed from the window, alone
        self.cache = BatchKVCache(model.cfg.n_layers)

    def __len__(self) -> int:
        return len(self.sequences) + len(self.windowed)

    def join(self, token_ids: Sequence[int] | torch.Tensor, max_new_tokens: int, **settings) -> Generation:
        """Read one prompt (its prefill) and add it to the batch; see ``join_all`` for the settings."""
        return self.join_all([dict(token_ids=token_ids, max_new_tokens=max_new_tokens, **settings)])[0]

    @torch.no_grad()
    def join_all(self, requests: Sequence[dict]) -> list[Generation]:
        """Read several prompts in one padded forward pass and add them all to the batch.

        Each request holds ``token_ids`` and ``max_new_tokens``, and may set ``context_size``,
        ``temperature``, ``top_k``, ``top_p``, ``eos_id``, ``seed`` and ``num_candidates`` as
        ``generate_steps`` takes them. All are checked before any is read, so a bad one adds none.
        """
        generations = [self._new_generation(**request) for request in requests]
        reading = [generation for generation in generations if generation.max_new_tokens > 0]
        if reading:
            self._prefill(reading)
        return generations

    def _new_generation(
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
        ids = torch.as_tensor(token_ids, dtype=torch.long).reshape(1, -1)  # (1, T)
        context_size = self.model.cfg.context_length if context_size is None else context_size
        _check_generation_args(self.model, ids, max_new_tokens, context_size, temperature, top_k, top_p)
        if num_candidates < 1:
            raise ValueError(f"num_candidates must be at least 1, got {num_candidates}")
        return Generation(
            ids=ids[0, -context_size:].tolist(),
            max_new_tokens=max_new_tokens,
            context_size=context_size,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            eos_id=eos_id,
            num_candidates=num_candidates,
            generator=_generator(seed, self.device),  # on the model's device, as generate() makes it
        )

    def _prefill(self, generations: list[Generation]) -> None:
        """One forward pass over the new prompts, padded on the right, then a cache row for each.

        A row's padding leaves keys past its own length in its cache row; they stay hidden (a
        query never sees a later position) and each is overwritten by the token written there.
        """
        lengths = [len(generation.ids) for generation in generations]
        batch = torch.full((len(generations), max(lengths)), PAD_ID, dtype=torch.long)  # (b, T_max)
        for row, generation in enumerate(generations):
            batch[row, : lengths[row]] = torch.tensor(generation.ids)
        cache = self.model.new_cache(capacity=max(lengths))
        hidden = self.model.hidden_states(batch.to(self.device), cache)  # (b, T_max, emb_dim)
        rows = torch.arange(len(generations), device=self.device)
        last = hidden[rows, torch.tensor(lengths, device=self.device) - 1]  # (b, emb_dim)
        logits = self.model.out_head(last)  # (b, vocab)
        for row, generation in enumerate(generations):
            generation.logits = logits[row]
        # Room for every position a row can reach, as generate() allocates for one sequence.
        room = max(min(g.context_size, len(g.ids) + g.max_new_tokens) for g in generations)
        n_layers = self.model.cfg.n_layers
        self.cache.add_rows(
            [cache._keys[layer] for layer in range(n_layers)],
            [cache._values[layer] for layer in range(n_layers)],
            lengths,
            room,
        )
        self.sequences.extend(generations)

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
        everyone = self.sequences + self.windowed
        steps = {}
        for group in _same_settings(everyone):
            steps.update(zip(map(id, group), self._choose_next(group), strict=True))
        chosen = [(sequence, steps[id(sequence)]) for sequence in everyone]
        # Rows that are done leave; rows whose next position would pass their context slide instead.
        cached = [row for row, s in enumerate(self.sequences) if not s.done and len(s.ids) <= s.context_size]
        self.windowed = [s for s in self.windowed if not s.done]
        self.windowed += [s for s in self.sequences if not s.done and len(s.ids) > s.context_size]
        if len(cached) < len(self.sequences):
            self.cache.keep_rows(cached)
            self.sequences = [self.sequences[row] for row in cached]
        self._next_logits()
        return chosen

    def _choose_next(self, group: list[Generation]) -> list[Step]:
        """The next token of sequences that share their settings, their distributions computed together."""
        first = group[0]
        logits = torch.stack([sequence.logits for sequence in group])  # (m, vocab)
        probs = next_token_distribution(logits, first.temperature, first.top_k, first.top_p)  # (m, vocab)
        if first.temperature == 0.0:
            tokens = None  # the most likely of each row: steps_of_rows reads it off the candidates
        else:  # each sequence draws from its own generator, as it would alone
            tokens = torch.cat(
                [_choose(probs[row : row + 1], first.temperature, s.generator)[0] for row, s in enumerate(group)]
            )
        steps = steps_of_rows([len(sequence.steps) for sequence in group], probs, tokens, first.num_candidates)
        for sequence, step in zip(group, steps, strict=True):
            sequence.steps.append(step)
            sequence.ids.append(step.token_id)
        return steps

    def _next_logits(self) -> None:
        """Feed every cached row its newest token in one forward pass; windowed sequences one by one."""
        for sequence in self.windowed:
            # Positions shift once the window slides, so it is recomputed from scratch, as generate() does.
            window = torch.tensor(sequence.ids[-sequence.context_size :], device=self.device)[None]  # (1, context)
            sequence.logits = self.model.out_head(self.model.hidden_states(window)[0, -1])
        if not self.sequences:
            return
        newest = torch.tensor([[sequence.ids[-1]] for sequence in self.sequences], device=self.device)  # (b, 1)
        hidden = self.model.hidden_states(newest, self.cache)  # (b, 1, emb_dim)
        logits = self.model.out_head(hidden[:, -1])  # (b, vocab)
        for row, sequence in enumerate(self.sequences):
            sequence.logits = logits[row]
