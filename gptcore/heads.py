"""Attention patterns read from a trace: each head's statistics, and patterns shrunk to draw.

A head's pattern is (T, T): row = the query token, column = the key token it attends to, each
row summing to 1 over the keys the causal mask leaves visible. The functions here summarise
patterns into a few numbers per head, and pool or tile them so a page can draw many at once.
They return NumPy arrays or small pandas frames and never change the model.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from .trace import Trace

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
