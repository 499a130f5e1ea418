"""The GPT model of chapter 4: embeddings, a stack of transformer blocks, a final norm, a head."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from .attention import KVCache, MultiHeadAttention
from .config import GPTConfig
from .hooks import HookPoint, name_hook_points, shortcut_kept
from .layers import FeedForward, LayerNorm
from .weight_layout import store_linear_weights_input_major, vocab_logits


class TransformerBlock(nn.Module):
    """Pre-LayerNorm block: x + Attention(Norm(x)), then x + FeedForward(Norm(x))."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.att = MultiHeadAttention(
            d_in=cfg.emb_dim,
            d_out=cfg.emb_dim,
            context_length=cfg.context_length,
            dropout=cfg.drop_rate,
            num_heads=cfg.n_heads,
            qkv_bias=cfg.qkv_bias,
        )
        self.ff = FeedForward(cfg)
        self.norm1 = LayerNorm(cfg.emb_dim)
        self.norm2 = LayerNorm(cfg.emb_dim)
        self.drop_shortcut = nn.Dropout(cfg.drop_rate)
        self.hook_resid_pre = HookPoint()  # (b, T, emb_dim) the residual stream entering the block
        self.hook_attn_out = HookPoint()  # (b, T, emb_dim) what attention adds to the stream
        self.hook_resid_mid = HookPoint()  # (b, T, emb_dim) the stream after the attention shortcut
        self.hook_ff_out = HookPoint()  # (b, T, emb_dim) what the feed-forward adds
        self.hook_resid_post = HookPoint()  # (b, T, emb_dim) the stream leaving the block

    def forward(
        self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0, use_shortcut: bool = True
    ) -> torch.Tensor:
        # The book's lines, one for one; each hook_* only lets a trace see the tensor passing by.
        # With use_shortcut=False the block keeps only the sublayer's output (book section 4.4);
        # an experiment can remove one block's shortcuts (gptcore/edits.py: ShortcutRemoval).
        use_shortcut = use_shortcut and shortcut_kept(layer)
        x = self.hook_resid_pre(x)
        shortcut = x
        x = self.norm1(x)
        x = self.hook_attn_out(self.att(x, cache, layer))  # the cache and layer serve generation
        x = self.drop_shortcut(x)
        x = self.hook_resid_mid(x + shortcut if use_shortcut else x)

        shortcut = x
        x = self.norm2(x)
        x = self.hook_ff_out(self.ff(x))
        x = self.drop_shortcut(x)
        x = self.hook_resid_post(x + shortcut if use_shortcut else x)
        return x


class GPTModel(nn.Module):
    """GPT-2 as in the book. ``GPTModel(GPT_CONFIG_124M)`` accepts the book's dict or a GPTConfig."""

    def __init__(self, cfg: GPTConfig | Mapping[str, Any]) -> None:
        super().__init__()
        self.cfg = cfg = GPTConfig.coerce(cfg)
        # Parameters are created in the book's order (tok_emb, pos_emb, blocks, out_head), so that
        # torch.manual_seed(123) followed by GPTModel(GPT_CONFIG_124M) draws the book's weights.
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.emb_dim)
        self.pos_emb = nn.Embedding(cfg.context_length, cfg.emb_dim)
        self.drop_emb = nn.Dropout(cfg.drop_rate)
        self.trf_blocks = nn.Sequential(*[TransformerBlock(cfg) for _ in range(cfg.n_layers)])
        self.final_norm = LayerNorm(cfg.emb_dim)
        self.out_head = nn.Linear(cfg.emb_dim, cfg.vocab_size, bias=False)  # untied, as in the book
        self.hook_tok_emb = HookPoint()  # (b, T, emb_dim) token embeddings
        self.hook_pos_emb = HookPoint()  # (T, emb_dim) position embeddings
        self.hook_embed = HookPoint()  # (b, T, emb_dim) their sum, the stream entering block 0
        name_hook_points(self)
        store_linear_weights_input_major(self)  # faster on CPUs; the same maths (weight_layout.py)

    def forward(self, in_idx: torch.Tensor, cache: KVCache | None = None, use_shortcut: bool = True) -> torch.Tensor:
        """(b, T) token ids -> (b, T, vocab_size) logits for the token after each position."""
        x = self.hidden_states(in_idx, cache, use_shortcut)  # the book's lines up to final_norm
        logits = self.project_to_vocab(x)  # self.out_head(x), multiplied in a faster order
        return logits

    def hidden_states(
        self, in_idx: torch.Tensor, cache: KVCache | None = None, use_shortcut: bool = True
    ) -> torch.Tensor:
        """Everything before the output head: (b, T) token ids -> (b, T, emb_dim) normalised vectors."""
        self.check_token_ids(in_idx)
        _batch_size, seq_len = in_idx.shape  # the book's names; the batch size is not needed here
        if cache is None:
            positions = torch.arange(seq_len, device=in_idx.device)  # (T,), as the book's forward
        else:  # generating: the new tokens continue where the cache ends
            positions = cache.positions(seq_len, in_idx.device)  # (T,), or (b, T): one row per sequence
            self.check_token_ids(in_idx, int(positions.max()) + 1 - seq_len)  # the cache's positions fit too
        tok_embeds = self.hook_tok_emb(self.tok_emb(in_idx))  # (b, T, emb_dim)
        pos_embeds = self.hook_pos_emb(self.pos_emb(positions))  # (T, emb_dim), broadcast over b
        x = self.hook_embed(tok_embeds + pos_embeds)
        x = self.drop_emb(x)
        for layer, block in enumerate(self.trf_blocks):  # the book's self.trf_blocks(x), one block at a time
            x = block(x, cache, layer, use_shortcut)
        if cache is not None:
            cache.advance(seq_len)
        x = self.final_norm(x)
        return x

    def project_to_vocab(self, hidden: torch.Tensor) -> torch.Tensor:
        """The output head: (b, T, emb_dim) -> (b, T, vocab) logits; the same as self.out_head(hidden)."""
        return vocab_logits(self.out_head.weight, hidden)

    def new_cache(self, capacity: int | None = None) -> KVCache:
        """An empty KV cache for up to ``capacity`` positions (default: the whole context)."""
        capacity = self.cfg.context_length if capacity is None else min(capacity, self.cfg.context_length)
        return KVCache(self.cfg.n_layers, capacity)

    def check_token_ids(self, in_idx: torch.Tensor, start: int = 0) -> None:
        """Raise a ValueError that says what is wrong with a batch of token ids, if anything is."""
        if in_idx.dim() != 2:
            raise ValueError(f"token ids must have shape (batch, num_tokens), got {tuple(in_idx.shape)}")
        if in_idx.shape[1] == 0:
            raise ValueError("token ids are empty: the model needs at least one token")
        if in_idx.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"token ids must be integers, got dtype {in_idx.dtype}")
        low, high = int(in_idx.min()), int(in_idx.max())
        if low < 0 or high >= self.cfg.vocab_size:
            bad = low if low < 0 else high
            raise ValueError(f"token id {bad} is outside the vocabulary [0, {self.cfg.vocab_size})")
        if start + in_idx.shape[1] > self.cfg.context_length:
            raise ValueError(
                f"{start + in_idx.shape[1]} positions exceed context_length {self.cfg.context_length}; "
                "crop the input to its last context_length tokens"
            )
