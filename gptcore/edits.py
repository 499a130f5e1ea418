"""Experiments: switch parts of the model off, or patch in another prompt's stream, and see what changes.

    edits = [HeadAblation(0, 3), NeuronAblation(5, 1021), ShortcutRemoval(11)]
    logits = run_with_edits(model, token_ids, edits)  # (T, vocab), as the model computes them with the edits

Edits never touch the model. They act at its hook points, through the same per-context mechanism
as recording (gptcore/hooks.py), so the model shared by a class stays as it is for everyone else,
and an edit made in one thread is never seen by another. Any forward pass can run edited:

    with applying(model, edits):
        t = trace(model, token_ids)  # or model(ids), generate(...), ...

What each edit does, in the book's terms:

- ``HeadAblation(layer, head)``: that head's context vector (its share of the attention output,
  before ``out_proj`` mixes the heads) becomes zero, or with ``mode="mean"`` its mean over the
  pass's positions, so the head still contributes but no longer says which token it looked at.
- ``NeuronAblation(layer, neuron)``: one of the feed-forward's 4 x emb_dim GELU outputs becomes zero.
- ``SublayerAblation(layer, "attention" | "feedforward")``: what that sublayer adds to the stream
  becomes zero; the shortcut still carries the stream past it.
- ``ShortcutRemoval(layer)``: the block keeps only its sublayers' outputs (section 4.4's
  ``use_shortcut=False``, for one block).
- ``ResidualPatch(layer, position, source_token_ids)``: the stream entering block ``layer`` at
  ``position`` becomes the one computed there for ``source_token_ids``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from .config import GPTConfig
from .device import model_device
from .hooks import Recorder, editing, recording
from .model import GPTModel
from .trace import as_token_ids

SUBLAYERS = {"attention": "hook_attn_out", "feedforward": "hook_ff_out"}

# A scan's batches hold at most this many tokens: all 144 heads' copies of a 16-token prompt in one
# pass (bench/bench_experiments.py), and a peak that footprint.scan_bytes knows.
SCAN_BATCH_TOKENS = 2304


@dataclass(frozen=True)
class HeadAblation:
    layer: int
    head: int
    mode: str = "zero"  # "zero" or "mean"


@dataclass(frozen=True)
class NeuronAblation:
    layer: int
    neuron: int


@dataclass(frozen=True)
class SublayerAblation:
    layer: int
    sublayer: str  # "attention" or "feedforward"


@dataclass(frozen=True)
class ShortcutRemoval:
    layer: int


@dataclass(frozen=True)
class ResidualPatch:
    layer: int
    position: int
    source_token_ids: tuple[int, ...]  # given as any sequence of ids; kept as a tuple, so the edit is hashable

    def __post_init__(self) -> None:
        ids = as_token_ids(self.source_token_ids) if len(self.source_token_ids) else torch.zeros(0, dtype=torch.long)
        object.__setattr__(self, "source_token_ids", tuple(int(i) for i in ids.tolist()))


Edit = HeadAblation | NeuronAblation | SublayerAblation | ShortcutRemoval | ResidualPatch


def check_edits(cfg: GPTConfig, edits: Sequence[Edit]) -> None:
    """Raise a ValueError naming the first edit that points outside a model of config ``cfg``."""

    def within(what: str, value: int, count: int, edit: Edit) -> None:
        if not 0 <= value < count:
            raise ValueError(f"{edit}: {what} {value} is outside the model, which has {what}s 0 to {count - 1}")

    for edit in edits:
        within("layer", edit.layer, cfg.n_layers, edit)
        if isinstance(edit, HeadAblation):
            within("head", edit.head, cfg.n_heads, edit)
            if edit.mode not in ("zero", "mean"):
                raise ValueError(f"{edit}: mode must be 'zero' or 'mean', not {edit.mode!r}")
        elif isinstance(edit, NeuronAblation):
            within("neuron", edit.neuron, 4 * cfg.emb_dim, edit)
        elif isinstance(edit, SublayerAblation) and edit.sublayer not in SUBLAYERS:
            raise ValueError(f"{edit}: the sublayer is 'attention' or 'feedforward', not {edit.sublayer!r}")
        elif isinstance(edit, ResidualPatch):
            if not edit.source_token_ids:
                raise ValueError(f"{edit}: the source is empty; a patch needs the tokens to take the stream from")
            within("position", edit.position, min(len(edit.source_token_ids), cfg.context_length), edit)
        elif not isinstance(edit, (SublayerAblation, ShortcutRemoval)):
            raise ValueError(f"{edit!r} is not an edit gptcore knows")


class EditSet:
    """The edits of one experiment, ready to apply at the hook points (a hooks.Editor)."""

    def __init__(self, model: GPTModel, edits: Sequence[Edit]) -> None:
        check_edits(model.cfg, edits)
        self._by_hook: dict[str, list] = {}
        self._no_shortcut = {edit.layer for edit in edits if isinstance(edit, ShortcutRemoval)}
        for edit in edits:
            if isinstance(edit, HeadAblation):
                self._add(f"trf_blocks.{edit.layer}.att.hook_context", edit)
            elif isinstance(edit, NeuronAblation):
                self._add(f"trf_blocks.{edit.layer}.ff.hook_gelu", edit)
            elif isinstance(edit, SublayerAblation):
                self._add(f"trf_blocks.{edit.layer}.{SUBLAYERS[edit.sublayer]}", edit)
        patches = [edit for edit in edits if isinstance(edit, ResidualPatch)]
        sources = _source_streams(model, patches)
        for edit in patches:
            self._add(f"trf_blocks.{edit.layer}.hook_resid_pre", (edit.position, sources[edit][edit.position]))

    def _add(self, hook: str, change) -> None:
        self._by_hook.setdefault(hook, []).append(change)

    def keeps_shortcut(self, layer: int) -> bool:
        return layer not in self._no_shortcut

    def edit(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        changes = self._by_hook.get(name)
        if not changes:
            return tensor
        tensor = tensor.clone()  # the pass's own copy: the tensor may be a view other code still reads
        for change in changes:
            if isinstance(change, HeadAblation):  # tensor (b, T, n_heads, head_dim)
                head = tensor[:, :, change.head]  # (b, T, head_dim), a view into the copy
                head.copy_(head.mean(dim=1, keepdim=True) if change.mode == "mean" else torch.zeros_like(head))
            elif isinstance(change, NeuronAblation):  # tensor (b, T, 4 emb_dim)
                tensor[..., change.neuron] = 0.0
            elif isinstance(change, SublayerAblation):  # tensor (b, T, emb_dim)
                tensor.zero_()
            else:  # a patch: (position, the source's (emb_dim,) stream there); tensor (b, T, emb_dim)
                position, stream = change
                if position < tensor.shape[1]:
                    tensor[:, position] = stream.to(tensor.device, tensor.dtype)
        return tensor


def _source_streams(model: GPTModel, patches: Sequence[ResidualPatch]) -> dict[ResidualPatch, torch.Tensor]:
    """Each patch's source stream entering its block: (T_source, emb_dim), from one pass per source."""
    streams: dict[ResidualPatch, torch.Tensor] = {}
    for source in {patch.source_token_ids for patch in patches}:
        ids = torch.tensor(source[-model.cfg.context_length :], dtype=torch.long, device=model_device(model))
        recorder = Recorder(keep=lambda name: name.endswith("hook_resid_pre"))
        with torch.no_grad(), recording(recorder):
            model.hidden_states(ids.unsqueeze(0))
        for patch in (patch for patch in patches if patch.source_token_ids == source):
            streams[patch] = recorder.tensors[f"trf_blocks.{patch.layer}.hook_resid_pre"][0]
    return streams


@contextmanager
def applying(model: GPTModel, edits: Sequence[Edit]) -> Iterator[EditSet]:
    """Run the with-block's forward passes of ``model`` with ``edits``, in this context only."""
    edit_set = EditSet(model, edits)
    with editing(edit_set):
        yield edit_set


def _edited_ids(model: GPTModel, token_ids: Sequence[int] | np.ndarray | torch.Tensor, edits: Sequence[Edit]):
    """The prompt's (T,) ids on the model's device, cropped to its context, once the patches are checked to fit."""
    ids = as_token_ids(token_ids)[-model.cfg.context_length :].to(model_device(model))
    for patch in (edit for edit in edits if isinstance(edit, ResidualPatch)):
        if patch.position >= len(ids):
            raise ValueError(f"{patch}: position {patch.position} is past the prompt's {len(ids)} tokens")
    return ids


def run_with_edits(
    model: GPTModel, token_ids: Sequence[int] | np.ndarray | torch.Tensor, edits: Sequence[Edit]
) -> np.ndarray:
    """(T, vocab) logits for ``token_ids`` with ``edits`` applied; with none, exactly the model's own."""
    ids = _edited_ids(model, token_ids, edits)
    with torch.no_grad(), applying(model, edits):
        logits = model(ids.unsqueeze(0))[0]  # (T, vocab)
    return logits.cpu().numpy()


def next_token_logits(
    model: GPTModel, token_ids: Sequence[int] | np.ndarray | torch.Tensor, edits: Sequence[Edit]
) -> np.ndarray:
    """(vocab,) logits after the last token with ``edits``: run_with_edits' last row, without the output
    head's product for every other position (200 MB for a 1000-token prompt to GPT-2)."""
    ids = _edited_ids(model, token_ids, edits)
    with torch.no_grad(), applying(model, edits):
        last = model.hidden_states(ids.unsqueeze(0))[:, -1]  # (1, emb_dim)
        return model.out_head(last)[0].cpu().numpy()


@dataclass(frozen=True)
class HeadImportance:
    """How much each head matters for one next token: the change when that head alone is switched off."""

    token_id: int  # the next token measured
    probability: float  # its probability with every head on
    logit: float
    probability_change: np.ndarray  # (L, H) its probability with the head ablated, minus ``probability``
    logit_change: np.ndarray  # (L, H) the same for its logit


class _OneHeadPerRow:
    """An editor for a batch of copies of one prompt: row r switches off head ``heads[r]`` of layer ``layers[r]``."""

    def __init__(self, layers: torch.Tensor, heads: torch.Tensor) -> None:
        self._rows = {int(layer): torch.nonzero(layers == layer)[:, 0] for layer in layers.unique()}
        self._heads = heads

    def keeps_shortcut(self, layer: int) -> bool:
        return True

    def edit(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        if not name.endswith("att.hook_context"):
            return tensor
        rows = self._rows.get(int(name.split(".")[1]))
        if rows is None:
            return tensor
        tensor = tensor.clone()
        tensor[rows, :, self._heads[rows]] = 0.0  # (b, T, H, head_dim): each row's own head
        return tensor


def head_importance(
    model: GPTModel,
    token_ids: Sequence[int] | np.ndarray | torch.Tensor,
    target_token: int | None = None,
    max_batch_tokens: int = SCAN_BATCH_TOKENS,
    on_batch: Callable[[int, int], None] | None = None,
) -> HeadImportance:
    """Ablate each of the L x H heads in turn and measure the next token's probability and logit.

    The L x H copies of the prompt run as batches (of at most ``max_batch_tokens`` tokens), each row
    with its own head switched off; only the last position's logits are computed. ``target_token``
    defaults to the model's own most likely next token. ``on_batch(done, total)`` hears of each batch.
    """
    cfg = model.cfg
    ids = as_token_ids(token_ids)[-cfg.context_length :].to(model_device(model))
    with torch.no_grad():
        base = model.out_head(model.hidden_states(ids.unsqueeze(0))[:, -1])[0]  # (vocab,)
    target = int(base.argmax()) if target_token is None else int(target_token)
    if not 0 <= target < cfg.vocab_size:
        raise ValueError(f"token {target} is outside the vocabulary [0, {cfg.vocab_size})")
    layers = torch.arange(cfg.n_layers).repeat_interleave(cfg.n_heads)  # (L * H,) row -> layer
    heads = torch.arange(cfg.n_heads).repeat(cfg.n_layers)  # (L * H,) row -> head
    rows_per_batch = max(1, max_batch_tokens // len(ids))
    logits, probs = [], []
    for start in range(0, len(layers), rows_per_batch):
        chunk = slice(start, start + rows_per_batch)
        batch = ids.unsqueeze(0).expand(len(layers[chunk]), -1)  # (rows, T): copies of the prompt
        with torch.no_grad(), editing(_OneHeadPerRow(layers[chunk], heads[chunk])):
            last = model.out_head(model.hidden_states(batch)[:, -1])  # (rows, vocab)
        logits.append(last[:, target])
        probs.append(torch.softmax(last, dim=-1)[:, target])
        if on_batch is not None:
            on_batch(min(start + rows_per_batch, len(layers)), len(layers))
    base_probability = float(torch.softmax(base, dim=-1)[target])
    shape = (cfg.n_layers, cfg.n_heads)
    return HeadImportance(
        token_id=target,
        probability=base_probability,
        logit=float(base[target]),
        probability_change=(torch.cat(probs) - base_probability).reshape(shape).cpu().numpy(),
        logit_change=(torch.cat(logits) - base[target]).reshape(shape).cpu().numpy(),
    )


@dataclass(frozen=True)
class PatchingScan:
    """How much of the clean prompt's answer each patch restores on the corrupted prompt.

    restored[layer, position] is 0 where patching the clean stream entering that block at that
    position changes nothing, and 1 where it brings the answer's logit all the way back.
    """

    answer_token: int
    clean_logit: float  # the answer's logit on the clean prompt
    corrupted_logit: float  # and on the corrupted one
    restored: np.ndarray  # (L, T)


class _OnePatchPerRow:
    """An editor for a batch of copies of the corrupted prompt: row r takes the clean stream entering
    block ``layers[r]`` at ``positions[r]``."""

    def __init__(self, layers: torch.Tensor, positions: torch.Tensor, clean: dict[int, torch.Tensor]) -> None:
        self._patches = {
            int(layer): (torch.nonzero(layers == layer)[:, 0], positions[layers == layer]) for layer in layers.unique()
        }
        self._clean = clean  # layer -> (T, d) clean stream entering it

    def keeps_shortcut(self, layer: int) -> bool:
        return True

    def edit(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        if not name.endswith(".hook_resid_pre"):
            return tensor
        layer = int(name.split(".")[1])
        if layer not in self._patches:
            return tensor
        rows, positions = self._patches[layer]
        tensor = tensor.clone()
        tensor[rows, positions] = self._clean[layer][positions]  # (rows, d) each row its own position
        return tensor


def patching_scan(
    model: GPTModel,
    clean_ids: Sequence[int] | np.ndarray | torch.Tensor,
    corrupted_ids: Sequence[int] | np.ndarray | torch.Tensor,
    answer_token: int | None = None,
    max_batch_tokens: int = SCAN_BATCH_TOKENS,
    on_batch: Callable[[int, int], None] | None = None,
) -> PatchingScan:
    """Patch the clean stream into the corrupted prompt at every (layer, position), one patch per run.

    Both prompts must have the same number of tokens, so that each position means the same slot in
    both. ``answer_token`` defaults to the clean prompt's most likely next token.
    """
    cfg = model.cfg
    clean = as_token_ids(clean_ids)[-cfg.context_length :].to(model_device(model))
    corrupted = as_token_ids(corrupted_ids)[-cfg.context_length :].to(model_device(model))
    if len(clean) != len(corrupted):
        raise ValueError(
            f"the clean prompt has {len(clean)} tokens and the corrupted one {len(corrupted)}: patching swaps the "
            "stream at one position for the same position of the other prompt, so both need the same number of "
            "tokens (change a word for one that is also one token)"
        )
    recorder = Recorder(keep=lambda name: name.endswith("hook_resid_pre"))
    with torch.no_grad(), recording(recorder):
        clean_last = model.out_head(model.hidden_states(clean.unsqueeze(0))[:, -1])[0]  # (vocab,)
    streams = {layer: recorder.tensors[f"trf_blocks.{layer}.hook_resid_pre"][0] for layer in range(cfg.n_layers)}
    with torch.no_grad():
        corrupted_last = model.out_head(model.hidden_states(corrupted.unsqueeze(0))[:, -1])[0]
    answer = int(clean_last.argmax()) if answer_token is None else int(answer_token)
    if not 0 <= answer < cfg.vocab_size:
        raise ValueError(f"token {answer} is outside the vocabulary [0, {cfg.vocab_size})")
    layers = torch.arange(cfg.n_layers).repeat_interleave(len(clean))  # (L * T,) row -> layer
    positions = torch.arange(len(clean)).repeat(cfg.n_layers)  # (L * T,) row -> position
    rows_per_batch = max(1, max_batch_tokens // len(clean))
    patched = []
    for start in range(0, len(layers), rows_per_batch):
        chunk = slice(start, start + rows_per_batch)
        batch = corrupted.unsqueeze(0).expand(len(layers[chunk]), -1)  # (rows, T)
        with torch.no_grad(), editing(_OnePatchPerRow(layers[chunk], positions[chunk], streams)):
            patched.append(model.out_head(model.hidden_states(batch)[:, -1])[:, answer])  # (rows,)
        if on_batch is not None:
            on_batch(min(start + rows_per_batch, len(layers)), len(layers))
    clean_logit, corrupted_logit = float(clean_last[answer]), float(corrupted_last[answer])
    gap = clean_logit - corrupted_logit
    restored = (torch.cat(patched) - corrupted_logit) / gap if gap != 0 else torch.zeros(len(layers))
    return PatchingScan(answer, clean_logit, corrupted_logit, restored.reshape(cfg.n_layers, len(clean)).cpu().numpy())
