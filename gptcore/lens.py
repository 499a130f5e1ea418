"""The residual stream read layer by layer: its norms and the logit lens.

The residual stream is the running sum every block adds to. It is read at L + 1 places: entering
each of the L blocks (entry 0 is the embeddings) and leaving the last block (entry L, the vector
the final norm and output head turn into logits). The logit lens applies that same final norm and
output head to every earlier entry, to show what the model "would predict" if it stopped there.

Everything here works on a Trace's NumPy arrays or on small results of the engine, and returns
NumPy arrays or small pandas frames for the app's pages. The model is only read, never changed.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import numpy as np
import torch

from .device import model_device
from .model import GPTModel
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


def stream_rows(trace: Trace, positions: slice = slice(None)) -> np.ndarray:
    """(L + 1, P, d) the stream at every place for the P positions in ``positions``: what the logit
    lens reads. A copy of P positions, one layer read at a time (for a 256-token window of the 124M
    model, 10 MB)."""
    return np.stack([residual_place(trace, place)[positions] for place in range(trace.n_layers + 1)])


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
    softmax's normaliser is needed, so probabilities are exp(top logit - logsumexp(all logits)),
    the normaliser worked out in the logits' own memory: one (chunk, vocab) block at a time.
    """
    vocab_size, width = model.cfg.vocab_size, model.cfg.emb_dim
    if not 1 <= k <= vocab_size:
        raise ValueError(f"k must be between 1 and the vocabulary size {vocab_size}, got {k}")
    if residual.ndim != 2 or residual.shape[1] != width:
        raise ValueError(f"expected residual vectors of shape (T, {width}) for this model, got {residual.shape}")
    n_tokens, device = residual.shape[0], model_device(model)
    ids = np.empty((n_tokens, k), dtype=np.int64)
    probs = np.empty((n_tokens, k), dtype=np.float64)
    for start in range(0, n_tokens, LENS_CHUNK):
        stop = min(start + LENS_CHUNK, n_tokens)
        # A batch of one, as the model itself runs, so the last place matches the trace's logits.
        x = torch.tensor(residual[start:stop], device=device)[None]  # (1, chunk, d); a copy, as traces are read-only
        logits = model.out_head(model.final_norm(x))[0]  # (chunk, vocab)
        top = torch.topk(logits, k, dim=-1)  # sorted, largest first
        log_normaliser = _logsumexp_in_place(logits)  # (chunk, 1); the logits are used up
        ids[start:stop] = top.indices.cpu().numpy()
        probs[start:stop] = torch.exp((top.values - log_normaliser).double()).cpu().numpy()
        del logits  # before the next chunk's logits exist: one (chunk, vocab) block at a time
    return ids, probs


def _logsumexp_in_place(logits: torch.Tensor) -> torch.Tensor:
    """log(sum(exp(logits))) over the last axis, as torch.logsumexp computes it (the largest taken
    out first, so nothing overflows), but overwriting ``logits`` instead of allocating two more blocks."""
    largest = logits.amax(dim=-1, keepdim=True)  # (rows, 1)
    return largest + logits.sub_(largest).exp_().sum(dim=-1, keepdim=True).log()


def logit_lens(
    model: GPTModel,
    trace: Trace,
    k: int = 5,
    step: Callable[[], AbstractContextManager[object]] | None = None,
    positions: slice = slice(None),
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k next-token ids and probabilities that each place in the residual stream would give.

    Returns ``(ids, probs)``, both (L + 1, P, k), most likely first, for the P prompt positions in
    ``positions`` (all T by default: each position costs a full output-head product per place, so a
    page showing a window of a long prompt reads only that window). The last place is exactly
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
            places.append(lens_top_k(model, residual_place(trace, place)[positions], k))
    return np.stack([ids for ids, _ in places]), np.stack([probs for _, probs in places])
