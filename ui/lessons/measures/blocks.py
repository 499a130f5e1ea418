"""Measures for the parts of a transformer block: LayerNorm, the feed-forward with GELU, and the shortcuts."""

from __future__ import annotations

import numpy as np
import torch

from gptcore import GELU, gradient_norms, shortcut_experiment
from gptcore.footprint import gradient_bytes

from .core import Computed, Reading, checked_layer, measure


@measure
def widest_token(reading: Reading, layer: int) -> Computed:
    """The position whose vector entering ``layer``'s first LayerNorm has the largest variance."""
    checked_layer(reading, layer)
    trace = reading.trace()
    variances = trace.layer("norm1_var", layer)  # (T,)
    position = int(np.argmax(variances))
    return Computed(
        position,
        f"Entering norm1 of layer {layer}, {reading.label(trace, position)} (position {position}) has variance "
        f"{float(variances[position]):.4g}; the smallest is {float(variances.min()):.4g}. LayerNorm brings every "
        "token back to variance 1, whatever it started with.",
    )


@measure
def normalized_variance(reading: Reading, layer: int) -> Computed:
    """The variance of each token's vector after norm1's normalising step, before its scale and shift."""
    checked_layer(reading, layer)
    stream = reading.trace().layer("resid_pre", layer).astype(np.float64)  # (T, d)
    eps = reading.model.trf_blocks[layer].norm1.eps if reading.model is not None else 1e-5
    mean, var = stream.mean(axis=-1, keepdims=True), stream.var(axis=-1, keepdims=True)  # (T, 1) each
    normalized = (stream - mean) / np.sqrt(var + eps)  # (T, d)
    after = normalized.var(axis=-1)  # (T,)
    return Computed(
        float(after.mean()),
        f"Subtracting each token's mean and dividing by its standard deviation leaves every token with mean 0 and "
        f"variance {float(after.mean()):.5f} (the eps of {eps:g} in the division keeps it a hair under 1).",
    )


@measure
def layernorm_parameters(reading: Reading) -> Computed:
    """What one LayerNorm learns: a scale and a shift per dimension."""
    d = reading.cfg.emb_dim
    return Computed(
        2 * d,
        f"A LayerNorm learns a scale and a shift for each of the {d:,} dimensions: {2 * d:,} numbers.",
    )


@measure
def gelu_at(reading: Reading, x: float) -> Computed:
    """GELU of one number, as the model's own GELU computes it."""
    value = float(GELU()(torch.tensor(float(x))))
    return Computed(
        value,
        f"GELU({x:g}) = {value:.4f}. Where ReLU would give 0 for every negative input, GELU lets small negative "
        "values through, and it is smooth at 0.",
    )


@measure
def feedforward_parameters(reading: Reading) -> Computed:
    """The parameters of one block's feed-forward: two Linear layers, d -> 4d -> d, with their biases."""
    d = reading.cfg.emb_dim
    total = d * 4 * d + 4 * d + 4 * d * d + d
    return Computed(
        total,
        f"The first Linear layer has {d:,} x {4 * d:,} weights and {4 * d:,} biases, the second {4 * d:,} x {d:,} "
        f"weights and {d:,} biases: {total:,} in all.",
    )


@measure
def most_active_token(reading: Reading, layer: int) -> Computed:
    """The position holding the single largest feed-forward activation (after GELU) in ``layer``."""
    checked_layer(reading, layer)
    trace = reading.trace()
    activations = trace.layer("gelu", layer)  # (T, 4d)
    position, neuron = np.unravel_index(int(np.argmax(activations)), activations.shape)
    return Computed(
        int(position),
        f"In layer {layer}, neuron {int(neuron)} at {reading.label(trace, int(position))} (position "
        f"{int(position)}) reaches {float(activations[position, neuron]):.4g}, the largest activation of the "
        f"layer's {activations.size:,}.",
    )


@measure
def weakest_book_layer(reading: Reading, use_shortcut: bool) -> Computed:
    """In the book's five-layer network (section 4.4), the layer (0 = nearest the input) with the smallest gradient."""
    gradients = shortcut_experiment(bool(use_shortcut))
    layer = int(np.argmin(gradients))
    listed = ", ".join(f"{gradient:.3g}" for gradient in gradients)
    setting = "with" if use_shortcut else "without"
    return Computed(
        layer,
        f"{setting.capitalize()} shortcuts, the mean absolute gradients of layers 1 to {len(gradients)} are "
        f"{listed}: layer {layer + 1} gets the smallest.",
    )


@measure
def book_gradient_gain(reading: Reading, book_layer: int) -> Computed:
    """In the book's five-layer network, how many times larger one layer's gradient is with shortcuts.

    ``book_layer`` counts from 1 (nearest the input) to 5, as the page's chart does.
    """
    with_shortcuts, without = shortcut_experiment(True), shortcut_experiment(False)
    if not 1 <= book_layer <= len(without):
        raise ValueError(f"the book's network has layers 1 to {len(without)}")
    gain = with_shortcuts[book_layer - 1] / without[book_layer - 1]
    return Computed(
        gain,
        f"Layer {book_layer}'s mean absolute gradient is {with_shortcuts[book_layer - 1]:.3g} with shortcuts and "
        f"{without[book_layer - 1]:.3g} without them: {gain:,.0f} times larger.",
    )


@measure
def stronger_gradient(reading: Reading, layer: int) -> Computed:
    """Whether the stream entering ``layer`` keeps more of the gradient with shortcuts (0) or without (1).

    Measured as the Residual page charts it: a multiple of the gradient entering the last block.
    """
    checked_layer(reading, layer)
    if reading.model is None:
        raise ValueError("this question needs the model itself, to run a backward pass")
    ids = reading.trace().token_ids.tolist()  # a list: trace arrays are read-only
    if len(ids) < 2:
        raise ValueError("the prompt needs at least two tokens: one to read and one to predict")
    kept = []
    for use_shortcut in (True, False):
        with reading.computing(reserve=gradient_bytes(reading.cfg, len(ids)), what="A backward pass"):
            report = gradient_norms(reading.model, ids, use_shortcut=use_shortcut)
        kept.append(float(report.stream_gradient_relative()[layer]))
    with_shortcuts, without = kept
    return Computed(
        int(without > with_shortcuts),
        f"The gradient reaching the stream at block {layer} is {with_shortcuts:.3g} times the last block's with "
        f"shortcuts and {without:.3g} times without them.",
    )
