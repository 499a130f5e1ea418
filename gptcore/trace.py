"""trace(model, token_ids) -> Trace: every internal tensor of one forward pass, as NumPy arrays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .hooks import Recorder, recording
from .model import GPTModel

# Trace field -> hook point inside each block (trf_blocks.<layer>.<hook>).
_BLOCK_HOOKS = {
    "resid_pre": "hook_resid_pre",
    "norm1_mean": "norm1.hook_mean",
    "norm1_var": "norm1.hook_var",
    "norm1_out": "norm1.hook_out",
    "attn_scores": "att.hook_scores",
    "attn_weights": "att.hook_weights",
    "attn_out": "hook_attn_out",
    "resid_mid": "hook_resid_mid",
    "norm2_mean": "norm2.hook_mean",
    "norm2_var": "norm2.hook_var",
    "norm2_out": "norm2.hook_out",
    "gelu": "ff.hook_gelu",
    "ff_out": "hook_ff_out",
    "resid_post": "hook_resid_post",
}


@dataclass(frozen=True, eq=False)
class Trace:
    """One prompt's trip through the model. T = tokens, L = layers, H = heads, d = emb_dim."""

    token_ids: np.ndarray  # (T,) the ids that were fed in (after cropping)
    n_cropped: int  # tokens dropped from the front because the prompt exceeded the context
    tok_emb: np.ndarray  # (T, d) token embeddings
    pos_emb: np.ndarray  # (T, d) position embeddings
    embeddings: np.ndarray  # (T, d) their sum: the residual stream entering block 0
    resid_pre: np.ndarray  # (L, T, d) residual stream entering each block
    norm1_mean: np.ndarray  # (L, T) mean of each token's vector entering norm1
    norm1_var: np.ndarray  # (L, T) its variance
    norm1_out: np.ndarray  # (L, T, d) norm1's output
    attn_scores: np.ndarray  # (L, H, T, T) scaled scores, -inf above the diagonal (causal mask)
    attn_weights: np.ndarray  # (L, H, T, T) the attention pattern; each row sums to 1
    attn_out: np.ndarray  # (L, T, d) what attention adds to the stream
    resid_mid: np.ndarray  # (L, T, d) the stream after the attention shortcut
    norm2_mean: np.ndarray  # (L, T)
    norm2_var: np.ndarray  # (L, T)
    norm2_out: np.ndarray  # (L, T, d)
    gelu: np.ndarray  # (L, T, 4d) feed-forward activations after GELU
    ff_out: np.ndarray  # (L, T, d) what the feed-forward adds to the stream
    resid_post: np.ndarray  # (L, T, d) the stream leaving each block
    final_norm_mean: np.ndarray  # (T,)
    final_norm_var: np.ndarray  # (T,)
    final_norm_out: np.ndarray  # (T, d) the vectors the output head turns into logits
    logits: np.ndarray  # (T, vocab) next-token logits at every position

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)

    @property
    def n_layers(self) -> int:
        return self.attn_weights.shape[0]

    @property
    def n_heads(self) -> int:
        return self.attn_weights.shape[1]

    def _layer(self, layer: int) -> int:
        if not -self.n_layers <= layer < self.n_layers:
            raise ValueError(f"layer {layer} does not exist; this model has layers 0..{self.n_layers - 1}")
        return layer

    def attention(self, layer: int) -> np.ndarray:
        """(H, T, T) attention weights of every head in one layer; row = query, column = key."""
        return self.attn_weights[self._layer(layer)]

    def scores(self, layer: int) -> np.ndarray:
        """(H, T, T) the scores before softmax, -inf where the causal mask hides a key."""
        return self.attn_scores[self._layer(layer)]

    def probabilities(self, position: int = -1) -> np.ndarray:
        """(vocab,) softmax of the logits at one position: the next-token distribution."""
        logits = self.logits[position].astype(np.float64)
        exp = np.exp(logits - logits.max())
        return exp / exp.sum()


def _as_token_ids(token_ids: Sequence[int] | np.ndarray | torch.Tensor) -> torch.Tensor:
    ids = torch.as_tensor(np.asarray(token_ids) if not isinstance(token_ids, torch.Tensor) else token_ids)
    if ids.dim() == 2 and ids.shape[0] == 1:
        ids = ids[0]  # accept the book's (1, T) batches of one
    if ids.dim() != 1:
        raise ValueError(f"trace takes one sequence of token ids, got shape {tuple(ids.shape)}")
    if ids.numel() == 0:
        raise ValueError("token ids are empty: type at least one token to trace")
    if ids.dtype.is_floating_point or ids.dtype == torch.bool or ids.dtype.is_complex:
        raise ValueError(f"token ids must be integers, got dtype {ids.dtype}")
    return ids.long()


def trace(model: GPTModel, token_ids: Sequence[int] | np.ndarray | torch.Tensor) -> Trace:
    """Run one sequence through ``model`` and return every internal as NumPy arrays.

    A sequence longer than the model's context keeps only its last context_length tokens; the
    Trace says how many were dropped. The model is not changed: nothing is registered on it, and
    only hook points running in this thread's context record into this trace.
    """
    if model.training and model.cfg.drop_rate > 0:
        raise ValueError("the model is in training mode, so dropout would randomise the trace; call model.eval()")
    ids = _as_token_ids(token_ids)
    n_cropped = max(0, len(ids) - model.cfg.context_length)
    ids = ids[n_cropped:]

    with torch.no_grad(), recording(Recorder()) as recorder:
        logits = model(ids.unsqueeze(0))  # (1, T, vocab)
    tensors = recorder.tensors

    def get(name: str) -> np.ndarray:
        return tensors[name][0].numpy()  # drop the batch axis

    def stack(hook: str) -> np.ndarray:
        per_layer = [tensors[f"trf_blocks.{layer}.{hook}"] for layer in range(model.cfg.n_layers)]
        return torch.cat(per_layer).numpy()  # (L, ...) one row per layer

    def stats(array: np.ndarray) -> np.ndarray:
        return array[..., 0]  # LayerNorm keeps a size-1 last axis for broadcasting; drop it

    block = {field: stack(hook) for field, hook in _BLOCK_HOOKS.items()}
    for field in ("norm1_mean", "norm1_var", "norm2_mean", "norm2_var"):
        block[field] = stats(block[field])
    return Trace(
        token_ids=ids.numpy(),
        n_cropped=n_cropped,
        tok_emb=get("hook_tok_emb"),
        pos_emb=tensors["hook_pos_emb"].numpy(),  # recorded without a batch axis
        embeddings=get("hook_embed"),
        **block,
        final_norm_mean=stats(get("final_norm.hook_mean")),
        final_norm_var=stats(get("final_norm.hook_var")),
        final_norm_out=get("final_norm.hook_out"),
        logits=logits[0].numpy(),
    )
