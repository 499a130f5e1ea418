"""Model configuration: the book's field names in a frozen dataclass, and the GPT-2 presets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 50257  # number of BPE tokens (GPT-2's byte-level BPE)
    context_length: int = 1024  # most tokens the model can see at once (positions)
    emb_dim: int = 768  # width of every token vector in the residual stream
    n_heads: int = 12  # attention heads per block; each gets emb_dim // n_heads dims
    n_layers: int = 12  # number of transformer blocks
    drop_rate: float = 0.1  # dropout probability (only active in training mode)
    qkv_bias: bool = False  # bias in the query/key/value projections (OpenAI's weights have one)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "context_length", "emb_dim", "n_heads", "n_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"GPTConfig.{name} must be a positive integer, got {value!r}")
        if self.emb_dim % self.n_heads != 0:
            raise ValueError(
                f"GPTConfig.emb_dim ({self.emb_dim}) must be divisible by n_heads ({self.n_heads}) "
                "so that every head gets the same number of dimensions"
            )
        if not 0.0 <= float(self.drop_rate) < 1.0:
            raise ValueError(f"GPTConfig.drop_rate must be in [0, 1), got {self.drop_rate!r}")
        if not isinstance(self.qkv_bias, bool):
            raise ValueError(f"GPTConfig.qkv_bias must be True or False, got {self.qkv_bias!r}")

    @property
    def head_dim(self) -> int:
        return self.emb_dim // self.n_heads

    @classmethod
    def coerce(cls, cfg: GPTConfig | Mapping[str, Any]) -> GPTConfig:
        """Accept a GPTConfig or the book's plain dict (e.g. GPT_CONFIG_124M)."""
        if isinstance(cfg, GPTConfig):
            return cfg
        if not isinstance(cfg, Mapping):
            raise ValueError(f"expected a GPTConfig or a dict of its fields, got {type(cfg).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; known keys are {sorted(known)}")
        missing = sorted(known - set(cfg))
        if missing:
            raise ValueError(f"config is missing keys {missing}")
        return cls(**cfg)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __getitem__(self, key: str) -> Any:
        # Lets book code written for the dict, such as cfg["emb_dim"], read a GPTConfig too.
        if key not in {f.name for f in fields(self)}:
            raise KeyError(key)
        return getattr(self, key)


# The book's configuration for the 124M model (chapter 4), exactly as printed there.
GPT_CONFIG_124M: dict[str, Any] = {
    "vocab_size": 50257,
    "context_length": 1024,
    "emb_dim": 768,
    "n_heads": 12,
    "n_layers": 12,
    "drop_rate": 0.1,
    "qkv_bias": False,
}

_GPT2 = GPTConfig(vocab_size=50257, context_length=1024, drop_rate=0.0, qkv_bias=True)

# OpenAI's four GPT-2 sizes (qkv_bias=True as in their weights; no dropout, for inference),
# plus a tiny model that keeps the real vocabulary so the real tokenizer works with it.
PRESETS: dict[str, GPTConfig] = {
    "gpt2-small": replace(_GPT2, emb_dim=768, n_layers=12, n_heads=12),
    "gpt2-medium": replace(_GPT2, emb_dim=1024, n_layers=24, n_heads=16),
    "gpt2-large": replace(_GPT2, emb_dim=1280, n_layers=36, n_heads=20),
    "gpt2-xl": replace(_GPT2, emb_dim=1600, n_layers=48, n_heads=25),
    "tiny": replace(_GPT2, context_length=64, emb_dim=32, n_layers=2, n_heads=4),
}
