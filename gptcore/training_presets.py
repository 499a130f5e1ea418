"""The sizes of model the Train page offers to train from scratch, and a fresh model of one of them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .building import build_model
from .config import GPTConfig
from .model import GPTModel


def _preset(n_layers: int, emb_dim: int, n_heads: int, context_length: int) -> tuple[str, GPTConfig]:
    name = f"{n_layers} layers · {emb_dim} dims · context {context_length}"
    # GPT-2's vocabulary so the app's tokenizer works; dropout as in the book's training config.
    cfg = GPTConfig(
        vocab_size=50257,
        context_length=context_length,
        emb_dim=emb_dim,
        n_heads=n_heads,
        n_layers=n_layers,
        drop_rate=0.1,
        qkv_bias=False,
    )
    return name, cfg


# Small enough to train on a CPU in minutes; the first is the default.
TRAINING_PRESETS: dict[str, GPTConfig] = dict(
    [
        _preset(n_layers=2, emb_dim=128, n_heads=4, context_length=128),
        _preset(n_layers=2, emb_dim=64, n_heads=4, context_length=64),
        _preset(n_layers=4, emb_dim=256, n_heads=4, context_length=128),
        _preset(n_layers=6, emb_dim=384, n_heads=6, context_length=256),
    ]
)


def new_training_model(preset_name_or_config: str | GPTConfig | Mapping[str, Any], seed: int = 123) -> GPTModel:
    """A freshly initialised model (eval mode) from a TRAINING_PRESETS name or any config."""
    if isinstance(preset_name_or_config, str):
        if preset_name_or_config not in TRAINING_PRESETS:
            raise ValueError(
                f"unknown training preset {preset_name_or_config!r}; choose one of {list(TRAINING_PRESETS)}"
            )
        cfg = TRAINING_PRESETS[preset_name_or_config]
    else:
        cfg = GPTConfig.coerce(preset_name_or_config)
    return build_model(cfg, seed=seed)
