"""Causal multi-head self-attention, written out so the scores and the pattern exist as tensors."""

from __future__ import annotations

import torch
from torch import nn

from .hooks import HookPoint


class KVCache:
    """The keys and values of every token seen so far, one slot per block.

    With it, generation feeds only the newest token through the model: each block computes that
    token's query, key and value and attends to the stored keys and values. Buffers are allocated
    once, at the most positions the run can reach, so appending is a copy, not a reallocation.

    The model asks a cache three things, so other caches (gptcore.batching's, one row per
    sequence) can stand in for it: the new tokens' ``positions``, which stored keys each new
    query must not see (``hidden_keys``), and to ``advance`` past the new tokens.
    """

    def __init__(self, n_layers: int, capacity: int) -> None:
        self.capacity = capacity  # positions this cache can hold (at most the model's context_length)
        self.length = 0  # how many positions are filled (the same in every block)
        self._keys: list[torch.Tensor | None] = [None] * n_layers
        self._values: list[torch.Tensor | None] = [None] * n_layers

    def update(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the new tokens' keys/values (b, n_heads, T_new, head_dim); return all so far."""
        b, n_heads, num_new, head_dim = keys.shape
        if self._keys[layer] is None:
            shape = (b, n_heads, self.capacity, head_dim)
            self._keys[layer] = keys.new_empty(shape)
            self._values[layer] = values.new_empty(shape)
        end = self.length + num_new
        self._keys[layer][:, :, self.length : end] = keys
        self._values[layer][:, :, self.length : end] = values
        return self._keys[layer][:, :, :end], self._values[layer][:, :, :end]

    def positions(self, num_new: int, device: torch.device) -> torch.Tensor:
        """(T_new,) absolute positions of the tokens about to be fed."""
        return torch.arange(self.length, self.length + num_new, device=device)

    def hidden_keys(self, num_new: int, device: torch.device) -> torch.Tensor:
        """(T_new, T_total) True where a new token's query may not see a key: the causal mask."""
        return causal_mask(num_new, self.length + num_new, self.length, device)

    def advance(self, num_new: int) -> None:
        self.length += num_new


def causal_mask(num_tokens: int, total: int, start: int, device: torch.device | None = None) -> torch.Tensor:
    """(T, T_total) True above the shifted diagonal: the query at position start + i may not see later keys."""
    return torch.ones(num_tokens, total, dtype=torch.bool, device=device).triu(start + 1)


def scaled_scores(queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """q.k / sqrt(head_dim): (..., T, head_dim) and (..., T_total, head_dim) -> (..., T, T_total).

    Scaling the queries before the product gives the same numbers (bit for bit when head_dim is a
    power of 4, as in GPT-2) with far less work on long prompts.
    """
    return (queries / keys.shape[-1] ** 0.5) @ keys.transpose(-2, -1)


def causal_scores(queries: torch.Tensor, keys: torch.Tensor, start: int = 0) -> torch.Tensor:
    """Scaled scores with -inf where the causal mask hides a key: (..., T, T_total).

    queries are the new tokens, the first at absolute position ``start``; keys are every token so
    far. A Trace calls this on the queries and keys it kept, so its scores are the forward pass's,
    bit for bit.
    """
    hidden = causal_mask(queries.shape[-2], keys.shape[-2], start, queries.device)
    return scaled_scores(queries, keys).masked_fill(hidden, -torch.inf)


def _drop_book_mask(module, state_dict, prefix, *_) -> None:
    """Before loading: drop the book's causal-mask buffer, which gptcore does not keep (see MultiHeadAttention)."""
    state_dict.pop(prefix + "mask", None)


class MultiHeadAttention(nn.Module):
    """The book's causal multi-head attention, with the same arguments and parameter names.

    ``context_length`` is the book's argument, kept so that code written for the book builds this
    class unchanged; it is not used. The book keeps a (context_length, context_length) causal mask
    as a buffer; here the mask is made for each call at the size it needs (``causal_mask``), which
    also serves a KV cache. A book state dict still loads: its ``mask`` entries are dropped first.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        context_length: int,
        dropout: float,
        num_heads: int,
        qkv_bias: bool = False,
    ) -> None:
        super().__init__()
        self.register_load_state_dict_pre_hook(_drop_book_mask)
        if d_out % num_heads != 0:
            raise ValueError(f"d_out ({d_out}) must be divisible by num_heads ({num_heads})")
        self.d_out = d_out
        self.num_heads = num_heads
        self.head_dim = d_out // num_heads
        # Created in the book's order so a seeded model draws the book's exact weights.
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)  # mixes the heads' outputs back together
        self.dropout = nn.Dropout(dropout)
        self.hook_queries = HookPoint()  # (b, n_heads, T, head_dim) the new tokens' queries
        self.hook_keys = HookPoint()  # (b, n_heads, T, head_dim) the new tokens' keys
        self.hook_scores = HookPoint()  # (b, n_heads, T, T_total) scaled, masked, before softmax
        self.hook_weights = HookPoint()  # (b, n_heads, T, T_total) the attention pattern
        self.hook_context = HookPoint()  # (b, T, n_heads, head_dim) each head's output, before out_proj mixes them

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, num_tokens, _ = x.shape
        # (b, T, d_out) -> (b, T, n_heads, head_dim) -> (b, n_heads, T, head_dim)
        return x.view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        b, num_tokens, _ = x.shape
        queries = self.hook_queries(self._split_heads(self.W_query(x)))
        keys = self.hook_keys(self._split_heads(self.W_key(x)))
        values = self._split_heads(self.W_value(x))
        if cache is None:
            hidden = causal_mask(num_tokens, num_tokens, 0, x.device)  # (T, T)
        else:
            hidden = cache.hidden_keys(num_tokens, x.device)  # (T, T_total), or one mask per sequence
            keys, values = cache.update(layer, keys, values)  # (b, n_heads, T_total, head_dim)
        attn_scores = scaled_scores(queries, keys).masked_fill(hidden, -torch.inf)  # (b, n_heads, T, T_total)
        attn_scores = self.hook_scores(attn_scores)
        attn_weights = self.hook_weights(torch.softmax(attn_scores, dim=-1))
        attn_weights = self.dropout(attn_weights)

        context_vec = self.hook_context((attn_weights @ values).transpose(1, 2))  # (b, T, n_heads, head_dim)
        context_vec = context_vec.reshape(b, num_tokens, self.d_out)  # heads side by side again
        return self.out_proj(context_vec)
