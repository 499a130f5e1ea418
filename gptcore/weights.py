"""Hugging Face GPT-2 weights -> GPTModel.

OpenAI's GPT-2 checkpoints (openai-community/gpt2 and its larger siblings) store the layers under
other names and in other layouts. The mapping is a name table plus three rules:

- attention's query, key and value live side by side in one ``c_attn`` matrix: split it in three;
- ``Conv1D`` layers store their weight as (in, out), ``nn.Linear`` as (out, in): transpose;
- the output head shares the token embedding (``wte``), so ``out_head`` gets a copy of it.

The mapping is first worked out from names and shapes alone (a plan), and every name and shape is
checked before any weight is copied. A safetensors file is then read one tensor at a time, so
loading never holds a second full copy of the weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from huggingface_hub import try_to_load_from_cache

from .config import GPTConfig
from .model import GPTModel
from .tensorfile import TensorFile

# Buffers that older transformers versions saved with the weights; they hold no learned values.
_IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias")

# Our name within a block <- theirs within block "h.<i>", and whether the tensor is transposed.
_BLOCK_MAP = {
    "norm1.scale": ("ln_1.weight", False),
    "norm1.shift": ("ln_1.bias", False),
    "att.out_proj.weight": ("attn.c_proj.weight", True),
    "att.out_proj.bias": ("attn.c_proj.bias", False),
    "norm2.scale": ("ln_2.weight", False),
    "norm2.shift": ("ln_2.bias", False),
    "ff.layers.0.weight": ("mlp.c_fc.weight", True),
    "ff.layers.0.bias": ("mlp.c_fc.bias", False),
    "ff.layers.2.weight": ("mlp.c_proj.weight", True),
    "ff.layers.2.bias": ("mlp.c_proj.bias", False),
}
_TOP_MAP = {
    "tok_emb.weight": "wte.weight",
    "pos_emb.weight": "wpe.weight",
    "final_norm.scale": "ln_f.weight",
    "final_norm.shift": "ln_f.bias",
    "out_head.weight": "wte.weight",  # tied in GPT-2: the head reuses the token embedding
}
_QKV = ("W_query", "W_key", "W_value")  # the three thirds of c_attn, in order


@dataclass(frozen=True)
class _Copy:
    """One parameter of ours, filled from (part of) one tensor of theirs."""

    ours: str
    theirs: str  # name in the checkpoint, without the "transformer." prefix
    third: int | None = None  # which third of c_attn (query, key, value), if split
    transpose: bool = False  # Conv1D (in, out) -> Linear (out, in)

    def describe(self) -> str:
        return f"'{self.theirs}'" + (f" (its {_QKV[self.third]} third)" if self.third is not None else "")

    def shape_from(self, their_shape: tuple[int, ...]) -> tuple[int, ...]:
        shape = list(their_shape)
        if self.third is not None and shape:
            # tensor_split gives the first (n % 3) parts one extra element
            n = shape[-1]
            shape[-1] = n // 3 + (1 if self.third < n % 3 else 0)
        return tuple(reversed(shape)) if self.transpose and len(shape) == 2 else tuple(shape)

    def apply(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.third is not None:
            tensor = tensor.tensor_split(3, dim=-1)[self.third]
        return tensor.t() if self.transpose else tensor


def _their_name(name: str) -> str | None:
    """Accept GPT2LMHeadModel keys ('transformer.h.0...') and bare GPT2Model keys ('h.0...')."""
    if name == "lm_head.weight" or name.endswith(_IGNORED_SUFFIXES):
        return None  # lm_head is wte again; the rest are constant buffers
    return name.removeprefix("transformer.")


def _plan(model: GPTModel, their_shapes: Mapping[str, tuple[int, ...]]) -> list[_Copy]:
    """Which tensor of theirs fills which parameter of ours; raises ValueError naming any mismatch."""
    our_shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    copies = [_Copy(ours, theirs) for ours, theirs in _TOP_MAP.items()]
    for layer in range(model.cfg.n_layers):
        ours, hf = f"trf_blocks.{layer}.", f"h.{layer}."
        copies += [_Copy(ours + o, hf + t, transpose=tr) for o, (t, tr) in _BLOCK_MAP.items()]
        copies += [_Copy(f"{ours}att.{part}.weight", hf + "attn.c_attn.weight", i, True) for i, part in enumerate(_QKV)]
        if model.cfg.qkv_bias or hf + "attn.c_attn.bias" in their_shapes:
            copies += [_Copy(f"{ours}att.{part}.bias", hf + "attn.c_attn.bias", i) for i, part in enumerate(_QKV)]

    for copy in copies:
        if copy.theirs not in their_shapes:
            raise ValueError(f"the GPT-2 weights have no tensor '{copy.theirs}'")
        if copy.ours not in our_shapes:
            raise ValueError(
                f"the GPT-2 weights have {copy.describe()} but the model has no '{copy.ours}'; "
                "GPT-2 checkpoints need a model built with qkv_bias=True"
            )
        shape = copy.shape_from(their_shapes[copy.theirs])
        if shape != our_shapes[copy.ours]:
            raise ValueError(
                f"{copy.describe()} has shape {tuple(their_shapes[copy.theirs])} but the model's '{copy.ours}' needs "
                f"{our_shapes[copy.ours]}; check that the model's config matches the checkpoint"
            )
    extra = sorted(set(their_shapes) - {copy.theirs for copy in copies})
    if extra:
        raise ValueError(
            f"the GPT-2 weights have {len(extra)} tensors this model has no place for, e.g. {extra[:3]}; "
            f"does the model's n_layers ({model.cfg.n_layers}) match the checkpoint?"
        )
    return copies


class _Source:
    """Their tensors by short name, from a state dict in memory or from a file on disk."""

    def __init__(self, tensors: Mapping[str, torch.Tensor] | None = None, file: TensorFile | None = None) -> None:
        self.tensors = tensors
        self.file = file
        if file is not None:
            self.names = {short: name for name in file.shapes if (short := _their_name(name))}
            self.shapes = {short: file.shapes[name] for short, name in self.names.items()}
        else:
            self.tensors = {short: t for name, t in tensors.items() if (short := _their_name(name))}
            self.shapes = {short: tuple(t.shape) for short, t in self.tensors.items()}

    def read(self, short: str) -> torch.Tensor:
        return self.file.read(self.names[short]) if self.file else self.tensors[short]

    def read_into(self, short: str, destination: torch.Tensor) -> None:
        if self.file:
            self.file.read_into(self.names[short], destination)
        else:
            destination.copy_(self.tensors[short])


def _execute(model: GPTModel, copies: list[_Copy], source: _Source) -> GPTModel:
    """Copy the planned tensors into the model, reading each tensor of theirs once."""
    params = dict(model.named_parameters())
    by_source: dict[str, list[_Copy]] = {}
    for copy in copies:
        by_source.setdefault(copy.theirs, []).append(copy)
    with torch.no_grad():
        for theirs, targets in by_source.items():
            if len(targets) == 1 and targets[0].third is None:
                # A whole tensor for one parameter: read it straight in. A transposed Conv1D weight
                # lands in our (in, out) memory layout, which is the file's own byte order.
                param = params[targets[0].ours]
                source.read_into(theirs, param.t() if targets[0].transpose else param)
                continue
            tensor = source.read(theirs)  # c_attn (split in three) or wte (embedding and head)
            for copy in targets:
                params[copy.ours].copy_(copy.apply(tensor))
            del tensor  # at most one of their tensors is alive at a time
    return model


def load_hf_state_dict(model: GPTModel, state_dict: Mapping[str, torch.Tensor]) -> GPTModel:
    """Copy a Hugging Face GPT-2 state dict into ``model`` in place and return the model.

    All names and shapes are checked before any weight is copied, so a mismatch leaves the model
    as it was.
    """
    source = _Source(tensors=state_dict)
    return _execute(model, _plan(model, source.shapes), source)


def load_hf_safetensors(model: GPTModel, path: str | Path) -> GPTModel:
    """Fill ``model`` from a GPT-2 model.safetensors file, reading one tensor at a time."""
    source = _Source(file=TensorFile(path))
    return _execute(model, _plan(model, source.shapes), source)


# OpenAI's four GPT-2 sizes on the Hugging Face Hub, by the short names transformers uses.
PRETRAINED_REPOS = {
    "gpt2": "openai-community/gpt2",
    "gpt2-medium": "openai-community/gpt2-medium",
    "gpt2-large": "openai-community/gpt2-large",
    "gpt2-xl": "openai-community/gpt2-xl",
}
WEIGHTS_FILE = "model.safetensors"


def gpt_config_from_hf(hf_config: Mapping[str, object]) -> GPTConfig:
    """A GPTConfig from a Hugging Face GPT-2 config.json (n_embd, n_layer, n_head, ...)."""
    try:
        return GPTConfig(
            vocab_size=int(hf_config["vocab_size"]),
            context_length=int(hf_config["n_positions"]),
            emb_dim=int(hf_config["n_embd"]),
            n_heads=int(hf_config["n_head"]),
            n_layers=int(hf_config["n_layer"]),
            drop_rate=0.0,
            qkv_bias=True,  # GPT-2's c_attn always has a bias
        )
    except KeyError as missing:
        raise ValueError(f"config.json has no {missing} entry; is it a GPT-2 config?") from None


def cached_pretrained_folder(name: str, cache_dir: str | Path | None = None) -> Path | None:
    """The local Hugging Face cache folder holding ``name``'s weights, or None if not downloaded."""
    if name not in PRETRAINED_REPOS:
        raise ValueError(f"unknown pretrained model {name!r}; choose from {sorted(PRETRAINED_REPOS)}")
    found = try_to_load_from_cache(PRETRAINED_REPOS[name], WEIGHTS_FILE, cache_dir=cache_dir)
    return Path(found).parent if isinstance(found, str) else None
