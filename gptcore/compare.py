"""Small summaries of one prompt's trace, made to be set side by side for two models.

The Compare page puts two models (say an untrained one and the same one after training) next to
each other on one prompt. Each function here reads one model's Trace and returns a small pandas
frame; the models may differ in size, so nothing here assumes both have the same layers.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import numpy as np
import pandas as pd

from .lens import lens_top_k, residual_place, stream_names, top_k
from .model import GPTModel
from .tokenizer import token_labels
from .trace import Trace


def clamp_index(index: int, size: int) -> int:
    """``index`` moved into 0..size-1: a layer or head chosen for a bigger model, shown on a smaller one."""
    if size < 1:
        raise ValueError(f"there is nothing to choose from (size {size})")
    return min(max(int(index), 0), size - 1)


def next_token_frame(trace: Trace, k: int = 10) -> pd.DataFrame:
    """The k most likely next tokens after the prompt's last token: rank, token, token id, probability."""
    ids, probs = top_k(trace.probabilities(-1), k)
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(ids) + 1),
            "token": token_labels(ids.tolist()),
            "token id": ids,
            "probability": probs,
        }
    )


def last_position_lens(
    model: GPTModel, trace: Trace, step: Callable[[], AbstractContextManager[object]] | None = None
) -> pd.DataFrame:
    """The logit lens at the last position only: the top next token each place in the stream would give.

    One row per place (entering block 0 ... leaving the last block): stream, token, token id,
    probability. The last row is the model's own prediction. Reading one position instead of
    all of them keeps it cheap: one (1, d) x (d, vocab) product per place. ``step`` works as
    in ``lens.logit_lens``: each place is read inside the context manager it returns.
    """
    if trace.n_layers != model.cfg.n_layers or trace.embeddings.shape[-1] != model.cfg.emb_dim:
        raise ValueError(
            f"the trace has {trace.n_layers} layers of width {trace.embeddings.shape[-1]} but the model has "
            f"{model.cfg.n_layers} layers of width {model.cfg.emb_dim}; trace the prompt with this model"
        )
    ids, probs = [], []
    for place in range(trace.n_layers + 1):
        with step() if step is not None else nullcontext():
            place_ids, place_probs = lens_top_k(model, residual_place(trace, place)[-1:], k=1)  # (1, 1) each
        ids.append(int(place_ids[0, 0]))
        probs.append(float(place_probs[0, 0]))
    return pd.DataFrame(
        {
            "stream": stream_names(trace.n_layers),
            "token": token_labels(ids),
            "token id": ids,
            "probability": probs,
        }
    )


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
