"""The feed-forward layers read from a trace: GELU, the layers' sizes, and the neurons that fire most.

Each block's feed-forward widens a token's vector four times (emb_dim -> 4 * emb_dim), applies
GELU, and narrows it back. The 4 * emb_dim values after GELU are its neurons' activations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .layers import GELU
from .model import GPTModel
from .tokenizer import token_labels
from .trace import Trace


def activation_curves(low: float = -4.0, high: float = 4.0, num_points: int = 161) -> pd.DataFrame:
    """GELU (our tanh approximation, as GPT-2 uses) and ReLU over [low, high]: columns x, GELU, ReLU."""
    x = torch.linspace(low, high, num_points)
    with torch.no_grad():
        gelu = GELU()(x)
    return pd.DataFrame({"x": x.numpy(), "GELU": gelu.numpy(), "ReLU": torch.relu(x).numpy()})


def feedforward_sizes(model: GPTModel) -> pd.DataFrame:
    """The parameters of one block's feed-forward: columns part, shape, parameters (a total row last)."""
    ff = model.trf_blocks[0].ff
    rows = [(f"layers.{name}", " x ".join(map(str, p.shape)), p.numel()) for name, p in ff.layers.named_parameters()]
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
