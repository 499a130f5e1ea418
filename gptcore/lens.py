"""The residual stream read layer by layer: norms, the logit lens, gradient and generation tables.

The residual stream is the running sum every block adds to. It is read at L + 1 places: entering
each of the L blocks (entry 0 is the embeddings) and leaving the last block (entry L, the vector
the final norm and output head turn into logits). The logit lens applies that same final norm and
output head to every earlier entry, to show what the model "would predict" if it stopped there.

Everything here works on a Trace's NumPy arrays or on small results of the engine, and returns
NumPy arrays or small pandas frames for the app's pages. The model is only read, never changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext

import numpy as np
import pandas as pd
import torch

from .generation import Step
from .gradients import GradientReport
from .model import GPTModel
from .tokenizer import get_tokenizer, token_label, token_labels
from .trace import Trace

LENS_CHUNK = 256  # positions per output-head product: bounds memory to chunk x vocab floats


def stream_names(n_layers: int) -> list[str]:
    """Readable names of the L + 1 places the residual stream is read, e.g. 'enters block 0'."""
    return [f"enters block {layer}" for layer in range(n_layers)] + [f"leaves block {n_layers - 1}"]


def residual_place(trace: Trace, place: int) -> np.ndarray:
    """(T, d) the stream at one of its L + 1 places: entering block ``place``, or leaving the last block.

    Reads one layer of the trace, so nothing (L + 1, T, d) is built or stored in the shared trace.
    """
    n_layers = trace.n_layers
    if not 0 <= place <= n_layers:
        raise ValueError(f"stream place {place} does not exist; this model has places 0..{n_layers}")
    return trace.layer("resid_pre", place) if place < n_layers else trace.layer("resid_post", n_layers - 1)


def residual_stream(trace: Trace) -> np.ndarray:
    """(L + 1, T, d): the stream entering each block, then the stream leaving the last block.

    A new array as large as L + 1 layers of the stream; to read it a place at a time, use
    ``residual_place`` instead.
    """
    return np.stack([residual_place(trace, place) for place in range(trace.n_layers + 1)])


def residual_norms(trace: Trace) -> np.ndarray:
    """(L + 1, T) float32 L2 norm of each token's residual vector at each place in the stream.

    Computed one place at a time, so only one (T, d) layer is read at once: no (L + 1, T, d)
    stack is built, neither here nor in the shared trace.
    """
    return np.stack(
        [np.linalg.norm(residual_place(trace, place), axis=-1) for place in range(trace.n_layers + 1)]
    ).astype(np.float32, copy=False)


def top_k(probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k most likely tokens of a probability distribution over the vocabulary, most likely first.

    ``probs`` is (..., vocab), e.g. ``trace.probabilities(-1)``; returns ``(ids, probs)``, both
    (..., k). Tokens with equal probability keep the order of their ids.
    """
    probs = np.asarray(probs)
    if probs.ndim == 0:
        raise ValueError("expected probabilities over the vocabulary, got a single number")
    vocab_size = probs.shape[-1]
    if not 1 <= k <= vocab_size:
        raise ValueError(f"k must be between 1 and the vocabulary size {vocab_size}, got {k}")
    ids = np.argsort(-probs, axis=-1, kind="stable")[..., :k]
    return ids, np.take_along_axis(probs, ids, axis=-1)


@torch.no_grad()
def lens_top_k(model: GPTModel, residual: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Read one place of the residual stream, (T, d), through the final norm and output head.

    Returns the top-k next-token ``(ids, probs)``, both (T, k), most likely first. Only the full
    softmax's normaliser is needed, so probabilities are exp(top logit - logsumexp(all logits)).
    """
    vocab_size, width = model.cfg.vocab_size, model.cfg.emb_dim
    if not 1 <= k <= vocab_size:
        raise ValueError(f"k must be between 1 and the vocabulary size {vocab_size}, got {k}")
    if residual.ndim != 2 or residual.shape[1] != width:
        raise ValueError(f"expected residual vectors of shape (T, {width}) for this model, got {residual.shape}")
    n_tokens = residual.shape[0]
    ids = np.empty((n_tokens, k), dtype=np.int64)
    probs = np.empty((n_tokens, k), dtype=np.float64)
    for start in range(0, n_tokens, LENS_CHUNK):
        stop = min(start + LENS_CHUNK, n_tokens)
        # A batch of one, as the model itself runs, so the last place matches the trace's logits.
        x = torch.tensor(residual[start:stop])[None]  # (1, chunk, d); a copy, as traces are read-only
        logits = model.out_head(model.final_norm(x))[0]  # (chunk, vocab)
        top = torch.topk(logits, k, dim=-1)  # sorted, largest first
        log_normaliser = torch.logsumexp(logits, dim=-1, keepdim=True)  # (chunk, 1)
        ids[start:stop] = top.indices.numpy()
        probs[start:stop] = torch.exp((top.values - log_normaliser).double()).numpy()
    return ids, probs


def logit_lens(
    model: GPTModel,
    trace: Trace,
    k: int = 5,
    step: Callable[[], AbstractContextManager[object]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k next-token ids and probabilities that each place in the residual stream would give.

    Returns ``(ids, probs)``, both (L + 1, T, k), most likely first. The last place is exactly
    the model's own prediction (the trace's logits). ``step``, when given, is called once per
    place and each place is read inside the context manager it returns: pass e.g. the app's
    compute lock, so that other users get turns at the model between places.
    """
    n_layers, width = trace.n_layers, trace.embeddings.shape[-1]
    if n_layers != model.cfg.n_layers or width != model.cfg.emb_dim:
        raise ValueError(
            f"the trace has {n_layers} layers of width {width} but the model has "
            f"{model.cfg.n_layers} layers of width {model.cfg.emb_dim}; trace the prompt with this model"
        )
    if not 1 <= k <= model.cfg.vocab_size:
        raise ValueError(f"k must be between 1 and the vocabulary size {model.cfg.vocab_size}, got {k}")
    places = []
    for place in range(n_layers + 1):
        with step() if step is not None else nullcontext():
            places.append(lens_top_k(model, residual_place(trace, place), k))
    return np.stack([ids for ids, _ in places]), np.stack([probs for _, probs in places])


def lens_position_frame(ids: np.ndarray, probs: np.ndarray, position: int) -> pd.DataFrame:
    """Long table of the logit lens at one position: one row per (stream place, rank)."""
    n_places, n_tokens, k = ids.shape
    if not -n_tokens <= position < n_tokens:
        raise ValueError(f"position {position} does not exist; the prompt has positions 0..{n_tokens - 1}")
    names = stream_names(n_places - 1)
    return pd.DataFrame(
        {
            "stream": np.repeat(names, k),
            "rank": np.tile(np.arange(1, k + 1), n_places),
            "token": token_labels(ids[:, position].reshape(-1).tolist()),  # (L + 1) * k labels, place-major
            "token id": ids[:, position].reshape(-1),
            "probability": probs[:, position].reshape(-1),
        }
    )


def lens_top_labels(ids: np.ndarray) -> np.ndarray:
    """(L + 1, T) readable label of the top-1 token at each place and position, for heatmap cells."""
    top = ids[..., 0]  # (L + 1, T)
    return np.array(token_labels(top.reshape(-1).tolist()), dtype=object).reshape(top.shape)


def shortcut_gradient_frame(with_shortcut: GradientReport, without_shortcut: GradientReport) -> pd.DataFrame:
    """Per-block gradient norms for shortcuts on and off, one row per (block, setting).

    The residual gradient is each token's gradient norm for the stream entering the block,
    summed over the tokens.
    """
    rows = []
    for report in (with_shortcut, without_shortcut):
        setting = "shortcuts on" if report.use_shortcut else "shortcuts off"
        resid_summed = report.resid_grad_norm.sum(axis=1)  # (L, T) -> (L,)
        for block, (param_norm, resid_norm) in enumerate(zip(report.param_grad_norm, resid_summed, strict=True)):
            rows.append(
                {
                    "block": block,
                    "setting": setting,
                    "parameter gradient norm": float(param_norm),
                    "residual gradient norm": float(resid_norm),
                    "loss": report.loss,
                }
            )
    return pd.DataFrame(rows)


def shortcut_experiment_frame(with_shortcut: Sequence[float], without_shortcut: Sequence[float]) -> pd.DataFrame:
    """The book's toy experiment as a table: layer, setting and mean absolute weight gradient."""
    if len(with_shortcut) != len(without_shortcut):
        raise ValueError(f"got {len(with_shortcut)} layers with shortcuts but {len(without_shortcut)} without")
    rows = [
        {"layer": layer, "setting": setting, "mean absolute gradient": float(value)}
        for setting, values in (("shortcuts on", with_shortcut), ("shortcuts off", without_shortcut))
        for layer, value in enumerate(values, start=1)
    ]
    return pd.DataFrame(rows)


def steps_frame(steps: Sequence[Step]) -> pd.DataFrame:
    """One row per generated token: step, label, id, its probability and its rank."""
    return pd.DataFrame(
        {
            "step": [step.index + 1 for step in steps],
            "token": [token_label(step.token_id) for step in steps],
            "token id": pd.array([step.token_id for step in steps], dtype="int64"),
            "probability": pd.array([step.prob for step in steps], dtype="float64"),
            "rank": pd.array([step.rank for step in steps], dtype="int64"),
        }
    )


def candidates_frame(step: Step) -> pd.DataFrame:
    """The candidates of one step, most likely first, with the chosen token marked.

    Candidates that top-k or top-p filtered out (probability 0) are left out: which of the many
    zero-probability tokens got listed is arbitrary. When sampling picked a token outside the
    listed candidates, it is added as a last row, so the chart always shows what was chosen. Bar
    labels carry the rank, so they are unique.
    """
    kept = [candidate for candidate in step.candidates if candidate.prob > 0 or candidate.token_id == step.token_id]
    ranks = list(range(1, len(kept) + 1))
    token_ids = [candidate.token_id for candidate in kept]
    probs = [candidate.prob for candidate in kept]
    if step.token_id not in token_ids:
        ranks.append(step.rank)
        token_ids.append(step.token_id)
        probs.append(step.prob)
    labels = token_labels(token_ids)
    return pd.DataFrame(
        {
            "rank": ranks,
            "token": labels,
            "bar": [f"#{rank} {label}" for rank, label in zip(ranks, labels, strict=True)],
            "token id": token_ids,
            "probability": probs,
            "chosen": [token_id == step.token_id for token_id in token_ids],
        }
    )


def split_generated_text(prompt_ids: Sequence[int], new_ids: Sequence[int]) -> tuple[str, str]:
    """(prompt text, generated text), each decoded from all of its tokens' bytes at once.

    One character can span several tokens (an emoji often takes two or three), so the generated
    tokens are decoded together, not one by one. Bytes that do not (yet) form a whole UTF-8
    character show as U+FFFD, e.g. while an emoji is half written.
    """
    tokenizer = get_tokenizer()
    return (
        tokenizer.decode_bytes(list(prompt_ids)).decode("utf-8", errors="replace"),
        tokenizer.decode_bytes(list(new_ids)).decode("utf-8", errors="replace"),
    )
