"""Hugging Face GPT-2 weights -> GPTModel.

OpenAI's GPT-2 checkpoints (openai-community/gpt2 and its larger siblings) store the layers under
other names and in other layouts. The mapping is a name table plus three rules:

- attention's query, key and value live side by side in one ``c_attn`` matrix: split it in three;
- ``Conv1D`` layers store their weight as (in, out), ``nn.Linear`` as (out, in): transpose;
- the output head shares the token embedding (``wte``), so ``out_head`` gets a copy of it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import torch
from huggingface_hub import try_to_load_from_cache
from safetensors.torch import load_file

from .config import GPTConfig
from .model import GPTModel

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
    "ff.fc_in.weight": ("mlp.c_fc.weight", True),
    "ff.fc_in.bias": ("mlp.c_fc.bias", False),
    "ff.fc_out.weight": ("mlp.c_proj.weight", True),
    "ff.fc_out.bias": ("mlp.c_proj.bias", False),
}
_TOP_MAP = {
    "tok_emb.weight": "wte.weight",
    "pos_emb.weight": "wpe.weight",
    "final_norm.scale": "ln_f.weight",
    "final_norm.shift": "ln_f.bias",
    "out_head.weight": "wte.weight",  # tied in GPT-2: the head reuses the token embedding
}


def _conv1d_to_linear(weight: torch.Tensor) -> torch.Tensor:
    """(in, out) -> (out, in); anything not 2-D is left for the shape check to report."""
    return weight.t() if weight.dim() == 2 else weight


def _strip_prefix(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Accept both GPT2LMHeadModel keys ('transformer.h.0...') and bare GPT2Model keys ('h.0...')."""
    stripped = {}
    for name, tensor in state_dict.items():
        if name == "lm_head.weight" or name.endswith(_IGNORED_SUFFIXES):
            continue  # lm_head is wte again; the rest are constant buffers
        stripped[name.removeprefix("transformer.")] = tensor
    return stripped


def hf_to_gptcore(model: GPTModel, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return our state dict (name -> tensor, names and shapes checked) built from a Hugging Face one."""
    theirs = _strip_prefix(state_dict)
    expected_shapes = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    converted: dict[str, torch.Tensor] = {}
    used: set[str] = set()

    def take(their_name: str) -> torch.Tensor:
        if their_name not in theirs:
            raise ValueError(f"the GPT-2 weights have no tensor '{their_name}'")
        used.add(their_name)
        return theirs[their_name]

    def put(our_name: str, source: str, tensor: torch.Tensor) -> None:
        if our_name not in expected_shapes:
            raise ValueError(
                f"the GPT-2 weights have {source} but the model has no '{our_name}'; "
                "GPT-2 checkpoints need a model built with qkv_bias=True"
            )
        if tuple(tensor.shape) != expected_shapes[our_name]:
            raise ValueError(
                f"{source} has shape {tuple(tensor.shape)} but the model's '{our_name}' needs "
                f"{expected_shapes[our_name]}; check that the model's config matches the checkpoint"
            )
        converted[our_name] = tensor

    for our_name, their_name in _TOP_MAP.items():
        put(our_name, f"'{their_name}'", take(their_name))
    for layer in range(model.cfg.n_layers):
        ours, hf = f"trf_blocks.{layer}.", f"h.{layer}."
        for our_name, (their_name, transpose) in _BLOCK_MAP.items():
            tensor = take(hf + their_name)
            put(ours + our_name, f"'{hf + their_name}'", _conv1d_to_linear(tensor) if transpose else tensor)
        # c_attn holds W_query, W_key and W_value side by side: (emb, 3 emb) -> three (emb, emb).
        for kind in ("weight", "bias"):
            their_name = f"{hf}attn.c_attn.{kind}"
            if kind == "bias" and not model.cfg.qkv_bias and their_name not in theirs:
                continue
            thirds = take(their_name).tensor_split(3, dim=-1)
            for part, tensor in zip(("W_query", "W_key", "W_value"), thirds, strict=True):
                source = f"'{their_name}' (its {part} third)"
                put(f"{ours}att.{part}.{kind}", source, _conv1d_to_linear(tensor) if kind == "weight" else tensor)

    extra = sorted(set(theirs) - used)
    if extra:
        raise ValueError(
            f"the GPT-2 weights have {len(extra)} tensors this model has no place for, e.g. {extra[:3]}; "
            f"does the model's n_layers ({model.cfg.n_layers}) match the checkpoint?"
        )
    return converted


@torch.no_grad()
def load_hf_state_dict(model: GPTModel, state_dict: Mapping[str, torch.Tensor]) -> GPTModel:
    """Copy a Hugging Face GPT-2 state dict into ``model`` in place and return the model.

    All names and shapes are checked before any weight is copied, so a mismatch leaves the model
    as it was.
    """
    converted = hf_to_gptcore(model, state_dict)
    params = dict(model.named_parameters())
    for name, tensor in converted.items():
        params[name].copy_(tensor)
    return model


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


def load_hf_folder(folder: str | Path) -> GPTModel:
    """Load a GPT-2 saved the Hugging Face way (config.json + model.safetensors) into a GPTModel."""
    folder = Path(folder)
    config_path, weights_path = folder / "config.json", folder / WEIGHTS_FILE
    for path in (config_path, weights_path):
        if not path.is_file():
            raise ValueError(f"{path} is missing; a GPT-2 folder needs config.json and {WEIGHTS_FILE}")
    cfg = gpt_config_from_hf(json.loads(config_path.read_text()))
    with torch.device("meta"):
        model = GPTModel(cfg)  # shapes only: the weights come from the file
    model = model.to_empty(device="cpu")
    return load_hf_state_dict(model, load_file(weights_path)).eval()
