"""trace(model, token_ids) -> Trace: every internal tensor of one forward pass, as NumPy arrays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .attention import causal_scores
from .device import model_device
from .hooks import Recorder, recording
from .model import GPTModel
from .weight_layout import vocab_logits

# Per-layer Trace fields -> hook point inside each block (trf_blocks.<layer>.<hook>), with shapes.
# The two attention maps, attn_scores and attn_weights, are not stored: they are (H, T, T) per layer,
# more than all the rest of a long prompt's trace. A trace keeps each layer's queries and keys
# instead and recomputes a layer's scores and pattern when asked, with the forward pass's own
# function, so they are the forward pass's numbers bit for bit (a 1024-token trace of GPT-2 124M:
# 1.2 GB -> 0.7 GB).
LAYER_FIELDS = {
    "resid_pre": "hook_resid_pre",  # (T, d) residual stream entering the block
    "norm1_mean": "norm1.hook_mean",  # (T,) mean of each token's vector entering norm1
    "norm1_var": "norm1.hook_var",  # (T,) its (biased) variance
    "norm1_out": "norm1.hook_out",  # (T, d) norm1's output
    "attn_queries": "att.hook_queries",  # (H, T, head_dim) each head's query vectors
    "attn_keys": "att.hook_keys",  # (H, T, head_dim) each head's key vectors
    "attn_scores": "att.hook_scores",  # (H, T, T) scaled scores, -inf above the diagonal (derived)
    "attn_weights": "att.hook_weights",  # (H, T, T) the attention pattern; each row sums to 1 (derived)
    "attn_out": "hook_attn_out",  # (T, d) what attention adds to the stream
    "resid_mid": "hook_resid_mid",  # (T, d) the stream after the attention shortcut
    "norm2_mean": "norm2.hook_mean",  # (T,)
    "norm2_var": "norm2.hook_var",  # (T,)
    "norm2_out": "norm2.hook_out",  # (T, d)
    "gelu": "ff.hook_gelu",  # (T, 4d) feed-forward activations after GELU
    "ff_out": "hook_ff_out",  # (T, d) what the feed-forward adds to the stream
    "resid_post": "hook_resid_post",  # (T, d) the stream leaving the block
}
DERIVED_FIELDS = ("attn_scores", "attn_weights")  # recomputed from attn_queries and attn_keys on demand
_HEAD_HOOKS = (LAYER_FIELDS["attn_queries"], LAYER_FIELDS["attn_keys"])  # recorded (b, H, T, head_dim)


@dataclass(frozen=True, eq=False)
class Trace:
    """One prompt's trip through the model. T = tokens, L = layers, H = heads, d = emb_dim.

    Every name in LAYER_FIELDS is also an attribute holding all layers at once, shape (L, ...):
    ``trace.resid_pre`` is (L, T, d), ``trace.attn_weights`` is (L, H, T, T). Those stacks are
    built on first use; ``trace.layer(field, i)`` and ``trace.attention(i)`` read one layer
    without building them. All arrays are read-only, so one Trace can be shared safely.
    ``layers`` holds every field but the DERIVED_FIELDS, which ``layer()`` recomputes from the
    layer's queries and keys.
    """

    token_ids: np.ndarray  # (T,) the ids that were fed in (after cropping)
    n_cropped: int  # tokens dropped from the front because the prompt exceeded the context
    tok_emb: np.ndarray  # (T, d) token embeddings
    pos_emb: np.ndarray  # (T, d) position embeddings
    embeddings: np.ndarray  # (T, d) their sum: the residual stream entering block 0
    layers: dict[str, list[np.ndarray]]  # LAYER_FIELDS name (but DERIVED_FIELDS) -> one array per layer
    final_norm_mean: np.ndarray  # (T,)
    final_norm_var: np.ndarray  # (T,)
    final_norm_out: np.ndarray  # (T, d) the vectors the output head turns into logits
    last_logits: np.ndarray  # (vocab,) the prediction after the last token (``logits`` has every position)
    # The output head's (vocab, d) weight, shared with the model, not copied: the logits of every
    # position, (T, vocab), are 200 MB for a 1,000-token prompt and pages need only the last.
    _head_weight: torch.Tensor = field(default=None, repr=False)
    # Per layer, the (1, H, T, head_dim) query and key tensors the forward pass multiplied (the same
    # memory as layers["attn_queries"] and ["attn_keys"]): recomputing with them repeats its product exactly.
    _query_key_tensors: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list, repr=False)
    _stacked: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def logits(self) -> np.ndarray:
        """(T, vocab) next-token logits at every position, computed on first use (the forward pass's numbers)."""
        if "logits" not in self._stacked:
            hidden = torch.from_numpy(np.array(self.final_norm_out))[None]  # (1, T, d); a copy, as traces are read-only
            with torch.no_grad():
                logits = vocab_logits(self._head_weight, hidden.to(self._head_weight.device))[0]  # (T, vocab)
                self._stacked["logits"] = _read_only(logits.cpu().numpy())
        return self._stacked["logits"]

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
        return len(self.layers["attn_queries"])

    @property
    def n_heads(self) -> int:
        return self.layers["attn_queries"][0].shape[0]

    @property
    def nbytes(self) -> int:
        """Memory the trace holds: every array it keeps (attention maps are recomputed, not kept)."""
        arrays = [self.token_ids, self.tok_emb, self.pos_emb, self.embeddings, self.final_norm_mean]
        arrays += [self.final_norm_var, self.final_norm_out, self.last_logits, *self._stacked.values()]
        arrays += [array for per_layer in self.layers.values() for array in per_layer]
        # One block's resid_post is the next block's resid_pre: count memory shared by two fields once.
        return sum({array.__array_interface__["data"][0]: array.nbytes for array in arrays}.values())

    def layer(self, name: str, layer: int) -> np.ndarray:
        """One layer of a per-layer field, e.g. trace.layer("gelu", 3) -> (T, 4d)."""
        if name not in LAYER_FIELDS:
            raise ValueError(f"unknown per-layer field {name!r}; choose from {sorted(LAYER_FIELDS)}")
        if not -self.n_layers <= layer < self.n_layers:
            raise ValueError(f"layer {layer} does not exist; this model has layers 0..{self.n_layers - 1}")
        if name in DERIVED_FIELDS:
            scores = causal_scores(*self._query_key_tensors[layer])[0]  # (H, T, T)
            return _read_only((torch.softmax(scores, dim=-1) if name == "attn_weights" else scores).numpy())
        return self.layers[name][layer]

    def attention(self, layer: int) -> np.ndarray:
        """(H, T, T) attention weights of every head in one layer; row = query, column = key."""
        return self.layer("attn_weights", layer)

    def attention_head(self, layer: int, head: int) -> np.ndarray:
        """(T, T) one head's pattern, computed from that head's queries and keys only: the same numbers
        as attention(layer)[head] for a twelfth of the work and memory."""
        return self.attention_heads(layer, self._head_slice(head))[0]

    def attention_heads(self, layer: int, heads: slice) -> np.ndarray:
        """(h, T, T) the patterns of a run of heads, e.g. slice(0, 4): less memory than the whole layer."""
        return _read_only(torch.softmax(self._heads_scores(layer, heads), dim=-1).numpy())

    def attention_layers(self, layers: Sequence[int]) -> np.ndarray:
        """(l, H, T, T) every head's pattern in several layers, in one computation: quickest for a
        short prompt, and l times the memory of attention(layer)."""
        for layer in layers:
            self.layer("attn_queries", layer)  # checks the layer
        queries = torch.cat([self._query_key_tensors[layer][0] for layer in layers])  # (l, H, T, head_dim)
        keys = torch.cat([self._query_key_tensors[layer][1] for layer in layers])
        return _read_only(torch.softmax(causal_scores(queries, keys), dim=-1).numpy())

    def head_scores(self, layer: int, head: int) -> np.ndarray:
        """(T, T) one head's scores before softmax, -inf where the causal mask hides a key."""
        return _read_only(self._heads_scores(layer, self._head_slice(head))[0].numpy())

    def _head_slice(self, head: int) -> slice:
        if not -self.n_heads <= head < self.n_heads:
            raise ValueError(f"head {head} does not exist; this model has heads 0..{self.n_heads - 1}")
        head = head % self.n_heads
        return slice(head, head + 1)

    def _heads_scores(self, layer: int, heads: slice) -> torch.Tensor:
        self.layer("attn_queries", layer)  # checks the layer
        queries, keys = self._query_key_tensors[layer]  # (1, H, T, head_dim) each
        return causal_scores(queries[:, heads], keys[:, heads])[0]  # (h, T, T)

    def scores(self, layer: int) -> np.ndarray:
        """(H, T, T) the scores before softmax, -inf where the causal mask hides a key."""
        return self.layer("attn_scores", layer)

    def probabilities(self, position: int = -1) -> np.ndarray:
        """(vocab,) softmax of the logits at one position: the next-token distribution."""
        if not -self.num_tokens <= position < self.num_tokens:
            raise ValueError(f"position {position} does not exist; the prompt has positions 0..{self.num_tokens - 1}")
        last = position % self.num_tokens == self.num_tokens - 1
        logits = (self.last_logits if last else self.logits[position]).astype(np.float64)
        exp = np.exp(logits - logits.max())
        return exp / exp.sum()


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
    ids, n_cropped = cropped_token_ids(model, token_ids)
    tensors, last_logits = record_forward(model, ids.unsqueeze(0), [len(ids)])  # a batch of one
    (row,) = split_rows(tensors, [len(ids)])
    return trace_of_row(model, row, last_logits[0], ids, n_cropped)


def cropped_token_ids(
    model: GPTModel, token_ids: Sequence[int] | np.ndarray | torch.Tensor
) -> tuple[torch.Tensor, int]:
    """The ids a trace reads: the last context_length of them, and how many were dropped in front."""
    if model.training and model.cfg.drop_rate > 0:
        raise ValueError("the model is in training mode, so dropout would randomise the trace; call model.eval()")
    ids = as_token_ids(token_ids)
    n_cropped = max(0, len(ids) - model.cfg.context_length)
    return ids[n_cropped:], n_cropped


def record_forward(
    model: GPTModel, batch: torch.Tensor, lengths: list[int]
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """One forward pass of (b, T) ids recording every hook point but the derived attention maps.

    Returns the recorded tensors and (b, vocab) logits after each row's last real token: the output
    head is applied to that one position per row (a third of a long prompt's forward pass otherwise).
    """
    # Not kept: the attention maps (recomputed on demand) and the heads' outputs (experiments edit them).
    skipped = (*(LAYER_FIELDS[name] for name in DERIVED_FIELDS), "att.hook_context")
    stored = Recorder(keep=lambda name: not name.endswith(skipped))
    device = model_device(model)
    with torch.no_grad(), recording(stored) as recorder:
        hidden = model.hidden_states(batch.to(device))  # (b, T, d)
        last = hidden[torch.arange(len(lengths), device=device), torch.tensor(lengths, device=device) - 1]  # (b, d)
        last_logits = model.out_head(last)  # (b, vocab)
    return recorder.tensors, last_logits


def split_rows(tensors: dict[str, torch.Tensor], lengths: list[int]) -> list[dict[str, torch.Tensor]]:
    """Each row's recorded tensors, cut to its own length (its Trace's arrays, before NumPy).

    A batch of one on the CPU shares the recorded memory. The rows of a larger batch are copied
    out, so each Trace owns arrays sized to its sequence and holds nothing of the others' (or of
    the padding). They are copied one hook point at a time and the batch's tensor is dropped from
    ``tensors`` as soon as its rows are out: the batch and its copies overlap by one tensor, not by
    the whole batch (which would double a long batch's peak). A tensor recorded at two hook points
    (one block's resid_post is the next one's resid_pre) is copied once. A GPU's tensors are copied
    to the CPU.
    """
    copy = len(lengths) > 1
    rows: list[dict[str, torch.Tensor]] = [{} for _ in lengths]
    copied: dict[tuple, list[torch.Tensor]] = {}  # the same recorded tensor -> its rows, already out
    for name in list(tensors):
        batched = tensors.pop(name)
        same = (batched.data_ptr(), batched.shape, batched.stride())
        if same not in copied:
            copied[same] = [_own(_cut(name, batched, row, n), copy) for row, n in enumerate(lengths)]
        for row, part in enumerate(copied[same]):
            rows[row][name] = part
        del batched  # the last reference but the other hook point's, if any
    return rows


def _cut(name: str, tensor: torch.Tensor, row: int, n_tokens: int) -> torch.Tensor:
    """One row of a recorded batch tensor, without the padding after its ``n_tokens``."""
    if name == "hook_pos_emb":
        return tensor[:n_tokens]  # (T, d): recorded without a batch axis
    if name.endswith(_HEAD_HOOKS):
        # (b, H, T_padded, head_dim) -> (1, H, T, head_dim): the shape the forward pass multiplied
        return tensor[row : row + 1, :, :n_tokens]
    return tensor[row, :n_tokens]  # (b, T_padded, ...) -> (T, ...)


def _own(tensor: torch.Tensor, copy: bool) -> torch.Tensor:
    if tensor.device.type != "cpu":
        return tensor.cpu()  # a copy already
    return tensor.clone() if copy else tensor


def trace_of_row(
    model: GPTModel, row: dict[str, torch.Tensor], last_logits: torch.Tensor, ids: torch.Tensor, n_cropped: int
) -> Trace:
    """The Trace of one sequence from its row of a recorded batch (``split_rows``) and its (vocab,) logits."""

    def get(name: str) -> np.ndarray:
        return _read_only(row[name].numpy())

    def per_layer(name: str) -> list[np.ndarray]:
        arrays = [get(f"trf_blocks.{layer}.{LAYER_FIELDS[name]}") for layer in range(model.cfg.n_layers)]
        # LayerNorm statistics keep a size-1 last axis for broadcasting: (T, 1) -> (T,)
        return [a[..., 0] for a in arrays] if name.endswith(("_mean", "_var")) else arrays

    def heads(name: str, layer: int) -> torch.Tensor:
        return row[f"trf_blocks.{layer}.{LAYER_FIELDS[name]}"]  # (1, H, T, head_dim)

    query_keys = [(heads("attn_queries", i), heads("attn_keys", i)) for i in range(model.cfg.n_layers)]
    stored_apart = (*DERIVED_FIELDS, "attn_queries", "attn_keys")
    layers = {name: per_layer(name) for name in LAYER_FIELDS if name not in stored_apart}
    # The queries and keys arrays are views of the tensors scores are recomputed from: one copy in memory.
    layers["attn_queries"] = [_read_only(queries[0].numpy()) for queries, _ in query_keys]
    layers["attn_keys"] = [_read_only(keys[0].numpy()) for _, keys in query_keys]
    return Trace(
        token_ids=_read_only(ids.numpy()),
        n_cropped=n_cropped,
        tok_emb=get("hook_tok_emb"),
        pos_emb=get("hook_pos_emb"),
        embeddings=get("hook_embed"),
        layers=layers,
        final_norm_mean=get("final_norm.hook_mean")[..., 0],
        final_norm_var=get("final_norm.hook_var")[..., 0],
        final_norm_out=get("final_norm.hook_out"),
        last_logits=_read_only(last_logits.cpu().clone().numpy()),  # its own, not a view of the batch's
        _head_weight=model.out_head.weight.detach(),
        _query_key_tensors=query_keys,
    )
