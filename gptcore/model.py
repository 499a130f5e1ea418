"""The GPT model of chapter 4: embeddings, a stack of transformer blocks, a final norm, a head."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from .attention import KVCache, MultiHeadAttention
from .config import GPTConfig
from .hooks import HookPoint, name_hook_points
from .layers import FeedForward, LayerNorm
from .seeding import seeded


def _store_linear_weights_input_major(model: nn.Module) -> None:
    """Keep every Linear weight's (out, in) shape and values, but lay it out in memory as (in, out).

    Each generated token multiplies a single vector by every weight matrix, and on CPUs that
    product runs faster over this layout (twice as fast for the 50,257-row output head; about
    15% more tokens/s overall). Only the strides change: not the maths, names or saved shapes.
    """
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                module.weight.data = module.weight.data.t().contiguous().t()


def vocab_logits(head_weight: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """The output head's product: (b, T, emb_dim) -> (b, T, vocab) logits, with head_weight (vocab, emb_dim).

    For many positions at once, CPUs multiply faster as (vocab, emb_dim) @ (emb_dim, positions)
    (measured ~25% at 64-1024 positions), so the head is applied in that order and the result
    handed back transposed; for a few positions the ordinary order is faster. A Trace calls this
    too, so the logits it computes when asked are the forward pass's, bit for bit.
    """
    b, num_tokens, emb_dim = hidden.shape
    if b * num_tokens < 16:
        return nn.functional.linear(hidden, head_weight)
    flat = hidden.reshape(b * num_tokens, emb_dim)
    logits_t = head_weight @ flat.T  # (vocab, b * T)
    return logits_t.T.unflatten(0, (b, num_tokens))  # (b, T, vocab), a transposed view


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
        x = self.hook_resid_pre(x)
        shortcut = x
        x = self.hook_attn_out(self.att(self.norm1(x), cache, layer))
        x = self.drop_shortcut(x)
        # With use_shortcut=False the block keeps only the sublayer's output (book section 4.4).
        x = self.hook_resid_mid(x + shortcut if use_shortcut else x)

        shortcut = x
        x = self.hook_ff_out(self.ff(self.norm2(x)))
        x = self.drop_shortcut(x)
        return self.hook_resid_post(x + shortcut if use_shortcut else x)


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
        _store_linear_weights_input_major(self)

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

    def hidden_states(
        self, in_idx: torch.Tensor, cache: KVCache | None = None, use_shortcut: bool = True
    ) -> torch.Tensor:
        """Everything before the output head: (b, T) token ids -> (b, T, emb_dim) normalised vectors."""
        self.check_token_ids(in_idx)
        num_tokens = in_idx.shape[1]
        if cache is None:
            positions = torch.arange(num_tokens, device=in_idx.device)  # (T,)
        else:
            positions = cache.positions(num_tokens, in_idx.device)  # (T,), or (b, T): one row per sequence
            self.check_token_ids(in_idx, int(positions.max()) + 1 - num_tokens)  # the cache's positions fit too
        tok_embeds = self.hook_tok_emb(self.tok_emb(in_idx))  # (b, T, emb_dim)
        pos_embeds = self.hook_pos_emb(self.pos_emb(positions))  # (T, emb_dim), broadcast over b
        x = self.drop_emb(self.hook_embed(tok_embeds + pos_embeds))
        for layer, block in enumerate(self.trf_blocks):
            x = block(x, cache, layer, use_shortcut)
        if cache is not None:
            cache.advance(num_tokens)
        return self.final_norm(x)

    def forward(self, in_idx: torch.Tensor, cache: KVCache | None = None, use_shortcut: bool = True) -> torch.Tensor:
        """(b, T) token ids -> (b, T, vocab_size) logits for the token after each position."""
        return self.project_to_vocab(self.hidden_states(in_idx, cache, use_shortcut))

    def project_to_vocab(self, hidden: torch.Tensor) -> torch.Tensor:
        """The output head: (b, T, emb_dim) -> (b, T, vocab) logits; the same as self.out_head(hidden)."""
        return vocab_logits(self.out_head.weight, hidden)

    def new_cache(self, capacity: int | None = None) -> KVCache:
        """An empty KV cache for up to ``capacity`` positions (default: the whole context)."""
        capacity = self.cfg.context_length if capacity is None else min(capacity, self.cfg.context_length)
        return KVCache(self.cfg.n_layers, capacity)


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
