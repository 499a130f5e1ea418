"""trace(model, token_ids) -> Trace: every internal tensor of one forward pass, as NumPy arrays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .hooks import Recorder, recording
from .model import GPTModel

# Per-layer Trace fields -> hook point inside each block (trf_blocks.<layer>.<hook>), with shapes.
# attn_weights is the one field not stored: a trace keeps the scores and applies the same softmax
# when a layer's pattern is asked for, which gives the forward pass's weights bit for bit and
# halves the memory of a long prompt (a 1024-token trace of GPT-2 124M: 600 MB less).
LAYER_FIELDS = {
    "resid_pre": "hook_resid_pre",  # (T, d) residual stream entering the block
    "norm1_mean": "norm1.hook_mean",  # (T,) mean of each token's vector entering norm1
    "norm1_var": "norm1.hook_var",  # (T,) its (biased) variance
    "norm1_out": "norm1.hook_out",  # (T, d) norm1's output
    "attn_scores": "att.hook_scores",  # (H, T, T) scaled scores, -inf above the diagonal (causal mask)
    "attn_weights": "att.hook_weights",  # (H, T, T) the attention pattern; each row sums to 1 (derived, see below)
    "attn_out": "hook_attn_out",  # (T, d) what attention adds to the stream
    "resid_mid": "hook_resid_mid",  # (T, d) the stream after the attention shortcut
    "norm2_mean": "norm2.hook_mean",  # (T,)
    "norm2_var": "norm2.hook_var",  # (T,)
    "norm2_out": "norm2.hook_out",  # (T, d)
    "gelu": "ff.hook_gelu",  # (T, 4d) feed-forward activations after GELU
    "ff_out": "hook_ff_out",  # (T, d) what the feed-forward adds to the stream
    "resid_post": "hook_resid_post",  # (T, d) the stream leaving the block
}


@dataclass(frozen=True, eq=False)
class Trace:
    """One prompt's trip through the model. T = tokens, L = layers, H = heads, d = emb_dim.

    Every name in LAYER_FIELDS is also an attribute holding all layers at once, shape (L, ...):
    ``trace.resid_pre`` is (L, T, d), ``trace.attn_weights`` is (L, H, T, T). Those stacks are
    built on first use; ``trace.layer(field, i)`` and ``trace.attention(i)`` read one layer
    without building them. All arrays are read-only, so one Trace can be shared safely.
    ``layers`` holds every field but attn_weights, which ``layer()`` derives from attn_scores.
    """

    token_ids: np.ndarray  # (T,) the ids that were fed in (after cropping)
    n_cropped: int  # tokens dropped from the front because the prompt exceeded the context
    tok_emb: np.ndarray  # (T, d) token embeddings
    pos_emb: np.ndarray  # (T, d) position embeddings
    embeddings: np.ndarray  # (T, d) their sum: the residual stream entering block 0
    layers: dict[str, list[np.ndarray]]  # LAYER_FIELDS name (but attn_weights) -> one array per layer
    final_norm_mean: np.ndarray  # (T,)
    final_norm_var: np.ndarray  # (T,)
    final_norm_out: np.ndarray  # (T, d) the vectors the output head turns into logits
    logits: np.ndarray  # (T, vocab) next-token logits at every position
    _score_tensors: list[torch.Tensor] = field(default_factory=list, repr=False)  # attn_scores' own memory
    _stacked: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __getattr__(self, name: str) -> np.ndarray:
        # Only called for names that are not regular attributes: the stacked per-layer fields.
        if name not in LAYER_FIELDS:
            raise AttributeError(f"Trace has no attribute {name!r}")
        if name not in self._stacked:
            self._stacked[name] = _read_only(np.stack([self.layer(name, i) for i in range(self.n_layers)]))  # (L, ...)
        return self._stacked[name]

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)

    @property
    def n_layers(self) -> int:
        return len(self.layers["attn_scores"])

    @property
    def n_heads(self) -> int:
        return self.layers["attn_scores"][0].shape[0]

    @property
    def nbytes(self) -> int:
        """Memory the trace holds: every array it keeps and the scores behind its attention patterns."""
        arrays = [self.token_ids, self.tok_emb, self.pos_emb, self.embeddings, self.final_norm_mean]
        arrays += [self.final_norm_var, self.final_norm_out, self.logits, *self._stacked.values()]
        arrays += [array for per_layer in self.layers.values() for array in per_layer]
        # One block's resid_post is the next block's resid_pre: count memory shared by two fields once.
        return sum({array.__array_interface__["data"][0]: array.nbytes for array in arrays}.values())

    def layer(self, name: str, layer: int) -> np.ndarray:
        """One layer of a per-layer field, e.g. trace.layer("gelu", 3) -> (T, 4d)."""
        if name not in LAYER_FIELDS:
            raise ValueError(f"unknown per-layer field {name!r}; choose from {sorted(LAYER_FIELDS)}")
        if not -self.n_layers <= layer < self.n_layers:
            raise ValueError(f"layer {layer} does not exist; this model has layers 0..{self.n_layers - 1}")
        if name == "attn_weights":
            return _attention_pattern(self._score_tensors[layer])
        return self.layers[name][layer]

    def attention(self, layer: int) -> np.ndarray:
        """(H, T, T) attention weights of every head in one layer; row = query, column = key."""
        return self.layer("attn_weights", layer)

    def attention_head(self, layer: int, head: int) -> np.ndarray:
        """(T, T) one head's pattern: the softmax of that head's scores only, the same numbers as attention()."""
        if not -self.n_heads <= head < self.n_heads:
            raise ValueError(f"head {head} does not exist; this model has heads 0..{self.n_heads - 1}")
        self.layer("attn_scores", layer)  # checks the layer
        return _attention_pattern(self._score_tensors[layer][head])

    def scores(self, layer: int) -> np.ndarray:
        """(H, T, T) the scores before softmax, -inf where the causal mask hides a key."""
        return self.layer("attn_scores", layer)

    def probabilities(self, position: int = -1) -> np.ndarray:
        """(vocab,) softmax of the logits at one position: the next-token distribution."""
        logits = self.logits[position].astype(np.float64)
        exp = np.exp(logits - logits.max())
        return exp / exp.sum()


def _attention_pattern(scores: torch.Tensor) -> np.ndarray:
    """(H, T, T) softmax over keys of stored scores: the very operation attention runs in the forward pass."""
    return _read_only(torch.softmax(scores, dim=-1).numpy())


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False  # a Trace is a record: shared between sessions, never edited
    return array


def as_token_ids(token_ids: Sequence[int] | np.ndarray | torch.Tensor) -> torch.Tensor:
    """One sequence of ids (a list, array, (T,) or (1, T) tensor) as a fresh 1-D LongTensor, or a clear ValueError."""
    ids = torch.as_tensor(np.asarray(token_ids) if not isinstance(token_ids, torch.Tensor) else token_ids)
    if ids.dim() == 2 and ids.shape[0] == 1:
        ids = ids[0]  # accept the book's (1, T) batches of one
    if ids.dim() != 1:
        raise ValueError(f"trace takes one sequence of token ids, got shape {tuple(ids.shape)}")
    if ids.numel() == 0:
        raise ValueError("token ids are empty: type at least one token to trace")
    if ids.dtype.is_floating_point or ids.dtype == torch.bool or ids.dtype.is_complex:
        raise ValueError(f"token ids must be integers, got dtype {ids.dtype}")
    return ids.to(torch.long, copy=True)  # the trace keeps its own copy of the ids


def trace(model: GPTModel, token_ids: Sequence[int] | np.ndarray | torch.Tensor) -> Trace:
    """Run one sequence through ``model`` and return every internal as NumPy arrays.

    A sequence longer than the model's context keeps only its last context_length tokens; the
    Trace says how many were dropped. The model is not changed: nothing is registered on it, and
    only hook points running in this thread's context record into this trace.
    """
    if model.training and model.cfg.drop_rate > 0:
        raise ValueError("the model is in training mode, so dropout would randomise the trace; call model.eval()")
    ids = as_token_ids(token_ids)
    n_cropped = max(0, len(ids) - model.cfg.context_length)
    ids = ids[n_cropped:]

    stored = Recorder(keep=lambda name: not name.endswith(LAYER_FIELDS["attn_weights"]))
    with torch.no_grad(), recording(stored) as recorder:
        logits = model(ids.unsqueeze(0))  # (1, T, vocab)
    tensors = recorder.tensors

    def get(name: str) -> np.ndarray:
        return _read_only(tensors[name][0].numpy())  # drop the batch axis; shares memory, no copy

    def per_layer(name: str) -> list[np.ndarray]:
        arrays = [get(f"trf_blocks.{layer}.{LAYER_FIELDS[name]}") for layer in range(model.cfg.n_layers)]
        # LayerNorm statistics keep a size-1 last axis for broadcasting: (T, 1) -> (T,)
        return [a[..., 0] for a in arrays] if name.endswith(("_mean", "_var")) else arrays

    return Trace(
        token_ids=_read_only(ids.numpy()),
        n_cropped=n_cropped,
        tok_emb=get("hook_tok_emb"),
        pos_emb=_read_only(tensors["hook_pos_emb"].numpy()),  # recorded without a batch axis
        embeddings=get("hook_embed"),
        layers={name: per_layer(name) for name in LAYER_FIELDS if name != "attn_weights"},
        final_norm_mean=get("final_norm.hook_mean")[..., 0],
        final_norm_var=get("final_norm.hook_var")[..., 0],
        final_norm_out=get("final_norm.hook_out"),
        logits=_read_only(logits[0].numpy()),
        _score_tensors=[tensors[f"trf_blocks.{i}.{LAYER_FIELDS['attn_scores']}"][0] for i in range(model.cfg.n_layers)],
    )
