"""LayerNorm read from a trace: what each norm divides out, its learned scale and shift, and the book's warm-up.

Every block normalises the stream twice (norm1 before attention, norm2 before the feed-forward)
and the model once more before its output head. Each LayerNorm subtracts a token's mean and
divides by its standard deviation, then applies a learned scale and shift (chapter 4).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from .layers import LayerNorm
from .model import GPTModel
from .seeding import seeded
from .stats import histogram
from .tokenizer import token_labels
from .trace import Trace

NORM_INPUTS = {"norm1": "resid_pre", "norm2": "resid_mid"}  # what each block's norm reads


def layernorm_stats(trace: Trace, layer: int) -> pd.DataFrame:
    """Each token's mean and variance entering and leaving norm1 and norm2 of one block.

    Columns: norm, position, token, mean_before, var_before, mean_after, var_after. "Before" is
    what the LayerNorm itself computed; "after" is measured on its output, which is (x - mean) /
    sqrt(var + eps) times the learned scale plus the learned shift: with scale 1 and shift 0 (an
    untrained model) that is mean 0 and variance just under 1 (eps takes a little off).
    """
    tokens = token_labels(trace.token_ids.tolist())
    frames = []
    for norm in NORM_INPUTS:
        out = trace.layer(f"{norm}_out", layer).astype(np.float64)  # (T, d)
        frames.append(
            pd.DataFrame(
                {
                    "norm": norm,
                    "position": np.arange(trace.num_tokens),
                    "token": tokens,
                    "mean_before": trace.layer(f"{norm}_mean", layer),
                    "var_before": trace.layer(f"{norm}_var", layer),
                    "mean_after": out.mean(axis=-1),
                    "var_after": out.var(axis=-1),  # biased, as LayerNorm computes it
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def layernorm_histograms(trace: Trace, layer: int, norm: str, bins: int = 60) -> pd.DataFrame:
    """Histograms of every value entering and leaving one norm, on shared bins.

    Columns: stage ("before" or "after"), bin_left, bin_right, bin_center, count. Shared bins
    make the two overlaid histograms comparable bar for bar.
    """
    if norm not in NORM_INPUTS:
        raise ValueError(f"unknown norm {norm!r}; choose from {list(NORM_INPUTS)}")
    before = trace.layer(NORM_INPUTS[norm], layer)
    after = trace.layer(f"{norm}_out", layer)
    low = float(min(before.min(), after.min()))
    high = float(max(before.max(), after.max()))
    edges = np.linspace(low, high if high > low else low + 1.0, bins + 1)  # a constant input still gets a bin
    return pd.concat(
        [histogram(before, edges).assign(stage="before"), histogram(after, edges).assign(stage="after")],
        ignore_index=True,
    )[["stage", "bin_left", "bin_right", "bin_center", "count"]]


def norm_parameters(model: GPTModel, layer: int) -> pd.DataFrame:
    """The learned scale and shift of one block's two LayerNorms, one row per dimension."""
    block = model.trf_blocks[layer]

    def values(parameter: torch.Tensor) -> np.ndarray:
        return parameter.detach().cpu().numpy().copy()

    return pd.DataFrame(
        {
            "dimension": np.arange(model.cfg.emb_dim),
            "norm1_scale": values(block.norm1.scale),
            "norm1_shift": values(block.norm1.shift),
            "norm2_scale": values(block.norm2.scale),
            "norm2_shift": values(block.norm2.shift),
        }
    )


def layernorm_demo(seed: int = 123) -> dict[str, np.ndarray]:
    """The book's LayerNorm warm-up (chapter 4), run live and without touching the global seed.

    torch.manual_seed(123); batch_example = torch.randn(2, 5); a Linear(5, 6) + ReLU layer; the
    outputs' mean and variance (the book prints them with torch's default variance, which divides
    by n - 1: [[0.1324], [0.2170]] and [[0.0231], [0.0398]]); then the same outputs through our
    LayerNorm, whose mean is ~0 and whose variance is ~1 when divided by n, as LayerNorm divides.
    Each variance comes both ways: "_var_unbiased" divides by n - 1, "_var_biased" by n.
    """
    with seeded(seed), torch.no_grad():
        batch_example = torch.randn(2, 5)  # (2 examples, 5 features)
        layer = nn.Sequential(nn.Linear(5, 6), nn.ReLU())
        out = layer(batch_example)  # (2, 6)
        out_norm = LayerNorm(emb_dim=6)(out)  # fresh LayerNorm: scale 1, shift 0
    return {
        "inputs": batch_example.numpy(),
        "outputs": out.numpy(),
        "outputs_mean": out.mean(dim=-1, keepdim=True).numpy(),  # (2, 1)
        "outputs_var_unbiased": out.var(dim=-1, keepdim=True).numpy(),  # as the book prints it
        "outputs_var_biased": out.var(dim=-1, keepdim=True, unbiased=False).numpy(),
        "normalized": out_norm.numpy(),
        "normalized_mean": out_norm.mean(dim=-1, keepdim=True).numpy(),
        "normalized_var_unbiased": out_norm.var(dim=-1, keepdim=True).numpy(),
        "normalized_var_biased": out_norm.var(dim=-1, keepdim=True, unbiased=False).numpy(),  # as LayerNorm divides
    }


def layernorm_profile(trace: Trace) -> pd.DataFrame:
    """Mean and variance of the vectors entering every LayerNorm, averaged over the prompt's tokens.

    One row per norm in the order the model runs them (block 0 norm1, block 0 norm2, ...,
    final_norm): layer (None for the final norm), norm, place, mean, variance. These are the
    statistics each norm divides out, so they show how big the stream has grown by each layer.
    """
    rows = []
    for layer in range(trace.n_layers):
        for norm in ("norm1", "norm2"):
            rows.append(
                (
                    layer,
                    norm,
                    f"block {layer} {norm}",
                    float(trace.layer(f"{norm}_mean", layer).mean()),
                    float(trace.layer(f"{norm}_var", layer).mean()),
                )
            )
    rows.append(
        (None, "final_norm", "final norm", float(trace.final_norm_mean.mean()), float(trace.final_norm_var.mean()))
    )
    frame = pd.DataFrame(rows, columns=["layer", "norm", "place", "mean", "variance"])
    frame["layer"] = frame["layer"].astype("Int64")  # the final norm has no block
    return frame
