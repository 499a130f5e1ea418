"""Numbers behind the Attention, LayerNorm and Feed-forward pages, computed from a Trace or a model.

Everything here returns NumPy arrays or small pandas DataFrames, so the pages only draw. Nothing
here changes the model: parameters are read with ``detach()`` and demos build their own layers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .layers import GELU, LayerNorm
from .model import GPTModel
from .seeding import seeded
from .tokenizer import token_labels
from .trace import Trace

# ---------------------------------------------------------------------------------------------
# Attention
# ---------------------------------------------------------------------------------------------

HEAD_STATISTICS = {
    "entropy": "Entropy of each query's attention row (nats), averaged over queries: low = focused, high = spread",
    "prev_token": "Attention a token pays to the token just before it, averaged over tokens 1..T-1",
    "first_token": "Attention a token pays to the very first token, averaged over tokens 1..T-1",
    "self_token": "Attention a token pays to itself, averaged over tokens 1..T-1",
}


ATTENTION_CHUNK_BYTES = 4 * 2**20  # attention maps derived at once by the summaries of every head


def attention_entropy(weights: np.ndarray) -> np.ndarray:
    """Entropy in nats of every attention row: (..., T_query, T_key) -> (..., T_query).

    Masked keys carry weight 0 and add nothing (0 * log 0 is taken as 0). A row spread evenly over
    n keys has entropy log(n); a row with all its weight on one key has entropy 0.
    """
    p = np.asarray(weights)
    # log(1) = 0 stands in where p = 0, so no warnings and no NaN; works in the input's precision
    # (a 1024-token prompt has 12 x 1024 x 1024 weights per layer) and sums in float64.
    entropy = -(p * np.log(np.where(p > 0, p, 1))).sum(axis=-1, dtype=np.float64)
    return entropy + 0.0  # turns -0.0 (a row with one key) into 0.0


def _diagonal_mean(weights: np.ndarray, offset: int) -> np.ndarray:
    """Mean over queries 1..T-1 of weights[..., q, q - offset]: (..., T, T) -> (...). NaN if T == 1."""
    num_tokens = weights.shape[-1]
    if num_tokens < 2:
        return np.full(weights.shape[:-2], np.nan)
    queries = np.arange(1, num_tokens)
    return weights[..., queries, queries - offset].mean(axis=-1)


def head_statistics(weights: np.ndarray) -> dict[str, np.ndarray]:
    """Per-head summaries of one layer's pattern (H, T, T) -> {statistic: (H,)}.

    prev/first/self skip query 0: the first token can only attend to itself, so it says nothing
    about a head's habits. For a one-token prompt they are NaN.
    """
    return {
        "entropy": attention_entropy(weights).mean(axis=-1),
        "prev_token": _diagonal_mean(weights, offset=1),
        "first_token": weights[..., 1:, 0].mean(axis=-1) if weights.shape[-1] > 1 else np.full(len(weights), np.nan),
        "self_token": _diagonal_mean(weights, offset=0),
    }


def attention_chunks(
    trace: Trace, layers: Sequence[int], max_bytes: int = ATTENTION_CHUNK_BYTES
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every head's pattern in ``layers``, a few MB at a time, as (layers (n,), heads (n,), maps (n, T, T)).

    A short prompt's maps come all in one computation (a 12-token prompt's 144 maps take 83 kB);
    a long prompt's one head at a time (one layer of a 1,000-token prompt would take ~50 MB).
    """
    n_heads, map_bytes = trace.n_heads, trace.num_tokens**2 * 4  # float32 bytes of one (T, T) map
    maps_per_chunk = max(1, max_bytes // map_bytes)
    if maps_per_chunk >= n_heads:  # whole layers at once
        step = maps_per_chunk // n_heads
        for first in range(0, len(layers), step):
            chunk = list(layers[first : first + step])
            maps = trace.attention_layers(chunk)  # (l, H, T, T)
            yield np.repeat(chunk, n_heads), np.tile(np.arange(n_heads), len(chunk)), maps.reshape(-1, *maps.shape[2:])
        return
    for layer in layers:
        for first in range(0, n_heads, maps_per_chunk):
            heads = np.arange(first, min(first + maps_per_chunk, n_heads))
            maps = trace.attention_heads(layer, slice(heads[0], heads[-1] + 1))  # (h, T, T)
            yield np.full(len(heads), layer), heads, maps


def head_summary(trace: Trace, layer: int | None = None) -> pd.DataFrame:
    """One row per head: layer, head, entropy, uniform_entropy, prev_token, first_token, self_token.

    ``layer=None`` summarises every layer. ``uniform_entropy`` is what the entropy would be if each
    query spread its attention evenly over all the keys it may see: the yardstick for "focused".
    """
    layers = range(trace.n_layers) if layer is None else [range(trace.n_layers)[layer]]
    chunks = [
        {"layer": layer_ids, "head": head_ids, **head_statistics(maps)}
        for layer_ids, head_ids, maps in attention_chunks(trace, layers)
    ]
    summary = pd.DataFrame({name: np.concatenate([chunk[name] for chunk in chunks]) for name in chunks[0]})
    summary.insert(3, "uniform_entropy", float(np.log(np.arange(1, trace.num_tokens + 1)).mean()))
    return summary


def statistic_grid(summary: pd.DataFrame, statistic: str) -> np.ndarray:
    """(L, H) grid of one statistic from ``head_summary(trace)``: rows layers, columns heads."""
    if statistic not in HEAD_STATISTICS:
        raise ValueError(f"unknown statistic {statistic!r}; choose from {list(HEAD_STATISTICS)}")
    return summary.pivot(index="layer", columns="head", values=statistic).to_numpy()


def pooled_layers(trace: Trace, layers: Sequence[int], max_size: int) -> np.ndarray:
    """(len(layers) * H, S, S) every head of the layers, in order, pooled by pooled_pattern."""
    return np.concatenate([pooled_pattern(maps, max_size) for _, _, maps in attention_chunks(trace, layers)])


def masked_pattern(pattern: np.ndarray) -> np.ndarray:
    """Copy of weights or scores (..., T, T) with the causally masked cells (above the diagonal) as NaN.

    Plots leave NaN cells blank, so the mask shows as empty cells rather than as zeros or -inf.
    """
    out = np.array(pattern, dtype=np.float64)
    num_queries, num_keys = out.shape[-2:]
    above_diagonal = np.triu(np.ones((num_queries, num_keys), dtype=bool), k=1)
    out[..., above_diagonal] = np.nan
    return out


def pooled_pattern(weights: np.ndarray, max_size: int) -> np.ndarray:
    """Average-pool attention weights (..., T, T) into at most (..., max_size, max_size) blocks, for thumbnails.

    Each block's mean is taken over the cells a query may see (on or below the diagonal); a block
    lying entirely in the masked future is NaN, so it is drawn blank like a masked cell. Short
    prompts (T <= max_size) come back unpooled, with the masked cells as NaN.
    """
    num_tokens = weights.shape[-1]
    if num_tokens <= max_size:
        return masked_pattern(weights)
    starts = np.linspace(0, num_tokens, max_size + 1).round().astype(int)[:-1]
    visible = np.tril(np.ones((num_tokens, num_tokens)))  # (T, T) 1 where a query may look

    def block_sums(array: np.ndarray) -> np.ndarray:  # (..., T, T) -> (..., max_size, max_size)
        return np.add.reduceat(np.add.reduceat(array, starts, axis=-2), starts, axis=-1)

    # Masked weights are exactly 0, so summing everything and dividing by the visible count is the mean.
    sums = block_sums(np.asarray(weights))
    counts = block_sums(visible)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


# ---------------------------------------------------------------------------------------------
# LayerNorm
# ---------------------------------------------------------------------------------------------

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


def histogram(values: np.ndarray, bins: int | np.ndarray = 60) -> pd.DataFrame:
    """Counts of ``values`` in bins: columns bin_left, bin_right, bin_center, count."""
    counts, edges = np.histogram(np.asarray(values, dtype=np.float64).ravel(), bins=bins)
    return pd.DataFrame(
        {"bin_left": edges[:-1], "bin_right": edges[1:], "bin_center": (edges[:-1] + edges[1:]) / 2, "count": counts}
    )


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
    outputs' mean and variance (the book prints them with torch's default unbiased variance:
    [[0.1324], [0.2170]] and [[0.0231], [0.0398]]); then the same outputs through our LayerNorm,
    whose mean is ~0 and whose (biased, as LayerNorm uses) variance is ~1.
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
        "outputs_var": out.var(dim=-1, keepdim=True).numpy(),  # unbiased, as the book prints it
        "normalized": out_norm.numpy(),
        "normalized_mean": out_norm.mean(dim=-1, keepdim=True).numpy(),
        "normalized_var": out_norm.var(dim=-1, keepdim=True, unbiased=False).numpy(),
    }


# ---------------------------------------------------------------------------------------------
# Feed-forward and GELU
# ---------------------------------------------------------------------------------------------


def activation_curves(low: float = -4.0, high: float = 4.0, num_points: int = 161) -> pd.DataFrame:
    """GELU (our tanh approximation, as GPT-2 uses) and ReLU over [low, high]: columns x, GELU, ReLU."""
    x = torch.linspace(low, high, num_points)
    with torch.no_grad():
        gelu = GELU()(x)
    return pd.DataFrame({"x": x.numpy(), "GELU": gelu.numpy(), "ReLU": torch.relu(x).numpy()})


def feedforward_sizes(model: GPTModel) -> pd.DataFrame:
    """The parameters of one block's feed-forward: columns part, shape, parameters (a total row last)."""
    ff = model.trf_blocks[0].ff
    rows = [(f"fc_in.{name}", " x ".join(map(str, p.shape)), p.numel()) for name, p in ff.fc_in.named_parameters()] + [
        (f"fc_out.{name}", " x ".join(map(str, p.shape)), p.numel()) for name, p in ff.fc_out.named_parameters()
    ]
    frame = pd.DataFrame(rows, columns=["part", "shape", "parameters"])
    total = pd.DataFrame([("total (one block)", "", int(frame["parameters"].sum()))], columns=frame.columns)
    return pd.concat([frame, total], ignore_index=True)


def activation_summary(trace: Trace) -> pd.DataFrame:
    """Box-plot numbers for the GELU activations of every layer, one row per layer.

    Columns: layer, min, lower_fence, q1, median, q3, upper_fence, max, mean, share_negative.
    The fences are the usual whisker ends: the most extreme values within 1.5 IQR of the box.
    Computed here so the page draws a box per layer without shipping every activation to the browser.
    """
    rows = []
    for layer in range(trace.n_layers):
        values = trace.layer("gelu", layer).ravel()  # (T * 4d,)
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        iqr = q3 - q1
        inside = values[(values >= q1 - 1.5 * iqr) & (values <= q3 + 1.5 * iqr)]
        rows.append(
            {
                "layer": layer,
                "min": float(values.min()),
                "lower_fence": float(inside.min()),
                "q1": float(q1),
                "median": float(median),
                "q3": float(q3),
                "upper_fence": float(inside.max()),
                "max": float(values.max()),
                "mean": float(values.mean()),
                "share_negative": float((values < 0).mean()),
            }
        )
    return pd.DataFrame(rows)


def top_neurons(trace: Trace, layer: int, k: int = 5) -> pd.DataFrame:
    """Each token's k most active feed-forward neurons (largest GELU output) in one layer.

    Columns: position, token, then neuron_1, activation_1, ..., neuron_k, activation_k, strongest first.
    """
    activations = trace.layer("gelu", layer)  # (T, 4d)
    k = min(k, activations.shape[1])
    top = np.argsort(-activations, axis=1, kind="stable")[:, :k]  # (T, k) neuron indices
    values = np.take_along_axis(activations, top, axis=1)  # (T, k)
    frame = pd.DataFrame({"position": np.arange(trace.num_tokens), "token": token_labels(trace.token_ids.tolist())})
    for rank in range(k):
        frame[f"neuron_{rank + 1}"] = top[:, rank]
        frame[f"activation_{rank + 1}"] = values[:, rank]
    return frame


def top_neuron_matrix(trace: Trace, layer: int, n: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """The n neurons with the highest peak activation over the prompt, and their activations.

    Returns (neurons (n,), activations (n, T)): rows ordered from the highest peak down, columns tokens.
    """
    activations = trace.layer("gelu", layer)  # (T, 4d)
    n = min(n, activations.shape[1])
    peaks = activations.max(axis=0)  # (4d,)
    neurons = np.argsort(-peaks, kind="stable")[:n]
    return neurons, activations[:, neurons].T  # (n, T)


def tile_patterns(patterns: np.ndarray, n_cols: int) -> np.ndarray:
    """Lay N square patterns (N, S, S) out as one image of tiles, n_cols per row, NaN between tiles.

    One heatmap of the tiled image draws much faster than N subplots, which matters when a page
    reruns on every click. Returns (n_rows * (S + 1) - 1, n_cols * (S + 1) - 1).
    """
    num_tiles, size, _ = patterns.shape
    n_rows = -(-num_tiles // n_cols)  # ceiling division
    step = size + 1  # one NaN row/column of gap after each tile
    image = np.full((n_rows * step - 1, n_cols * step - 1), np.nan)
    for tile in range(num_tiles):
        row, col = divmod(tile, n_cols)
        image[row * step : row * step + size, col * step : col * step + size] = patterns[tile]
    return image
