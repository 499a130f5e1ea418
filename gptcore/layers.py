"""The small layers of a transformer block, written out as in chapter 4 of the book."""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import GPTConfig
from .hooks import HookPoint
from .names import current_name


class LayerNorm(nn.Module):
    """Normalise each token vector to mean 0 and variance 1, then scale and shift it.

    The mean and the (biased) variance are computed as separate tensors so a trace can show them.
    """

    def __init__(self, emb_dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps  # keeps the division finite when a vector is (nearly) constant
        self.scale = nn.Parameter(torch.ones(emb_dim))
        self.shift = nn.Parameter(torch.zeros(emb_dim))
        self.hook_mean = HookPoint()  # (b, T, 1) mean of each token's input vector
        self.hook_var = HookPoint()  # (b, T, 1) variance of each token's input vector
        self.hook_out = HookPoint()  # (b, T, emb_dim) after scale and shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = self.hook_mean(x.mean(dim=-1, keepdim=True))
        # unbiased=False divides by n, not n - 1, as GPT-2 (and the book) do
        var = self.hook_var(x.var(dim=-1, keepdim=True, unbiased=False))
        norm_x = (x - mean) / torch.sqrt(var + self.eps)
        return self.hook_out(self.scale * norm_x + self.shift)


# sqrt(2 / pi) computed in float32, as the book does, so results agree with it to the last bit.
_SQRT_2_OVER_PI = torch.sqrt(torch.tensor(2.0 / math.pi))


class GELU(nn.Module):
    """GELU activation, in the tanh approximation that GPT-2 was trained with."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x * (1 + torch.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * torch.pow(x, 3))))


def _rename_old_layers(module, state_dict, prefix, *_) -> None:
    """Before loading: a state dict saved under gptcore's old names (fc_in, fc_out) is read under the book's."""
    for key in [key for key in state_dict if key.startswith(prefix)]:
        renamed = prefix + current_name(key.removeprefix(prefix))
        if renamed != key:
            state_dict[renamed] = state_dict.pop(key)


class FeedForward(nn.Module):
    """Expand each token vector 4x, apply GELU, and project it back: emb_dim -> 4 emb_dim -> emb_dim.

    ``self.layers`` is the book's nn.Sequential, so the parameters are named as in chapter 4
    (``ff.layers.0.weight``, ``ff.layers.2.weight``) and a book state dict loads as it is.
    """

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(cfg.emb_dim, 4 * cfg.emb_dim),
            GELU(),
            nn.Linear(4 * cfg.emb_dim, cfg.emb_dim),
        )
        self.hook_gelu = HookPoint()  # (b, T, 4 emb_dim) the activations after GELU; holds no parameters
        self.register_load_state_dict_pre_hook(_rename_old_layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # self.layers(x) computes the same; going step by step lets the hook see the GELU's output.
        expand, gelu, project = self.layers
        return project(self.hook_gelu(gelu(expand(x))))
