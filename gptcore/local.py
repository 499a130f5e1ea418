"""GPT-2 weights the user already has on disk: a .safetensors file, or a folder saved by transformers.

The config comes from the config.json beside the weights when there is one; otherwise it is worked
out from the tensors' names and shapes (``infer_hf_config``).
"""

from __future__ import annotations

import json
from pathlib import Path

from .book import load_book_state_dict
from .building import empty_model
from .checkpoints import METADATA_KEY, load_checkpoint
from .config import PRESETS
from .model import GPTModel
from .tensorfile import TensorFile
from .weights import WEIGHTS_FILE, gpt_config_from_hf, load_hf_safetensors

CONFIG_FILE = "config.json"

# Heads per width, from gptcore's presets (OpenAI's four: 768->12, 1024->16, 1280->20, 1600->25).
_HEADS_BY_WIDTH = {cfg.emb_dim: cfg.n_heads for cfg in PRESETS.values()}


def infer_hf_config(shapes: dict[str, tuple[int, ...]], path: str | Path = "the file") -> dict[str, int]:
    """A GPT-2 config.json's size fields, worked out from tensor names and shapes.

    n_layer from the ``h.<i>`` names, vocab_size and n_embd from ``wte``, n_positions from ``wpe``;
    n_head is not in any shape, so it comes from the GPT-2 size of that width.
    """
    short = {key.removeprefix("transformer."): shape for key, shape in shapes.items()}
    for needed in ("wte.weight", "wpe.weight"):
        if needed not in short or len(short[needed]) != 2:
            raise ValueError(f"{path} does not look like GPT-2 weights: it has no 2-D tensor '{needed}'")
    vocab_size, n_embd = short["wte.weight"]
    n_positions = short["wpe.weight"][0]
    layers = {int(key.split(".")[1]) for key in short if key.startswith("h.") and key.split(".")[1].isdigit()}
    if not layers:
        raise ValueError(f"{path} does not look like GPT-2 weights: it has no transformer blocks ('h.0...')")
    if n_embd not in _HEADS_BY_WIDTH:
        known = ", ".join(f"{width}->{heads}" for width, heads in sorted(_HEADS_BY_WIDTH.items()))
        raise ValueError(
            f"cannot tell how many attention heads the {n_embd}-wide GPT-2 in {path} has (known widths: {known}); "
            f"put its {CONFIG_FILE} (with n_head) in the same folder"
        )
    return {
        "vocab_size": vocab_size,
        "n_positions": n_positions,
        "n_embd": n_embd,
        "n_head": _HEADS_BY_WIDTH[n_embd],
        "n_layer": max(layers) + 1,
    }


def _read_config(config_path: Path) -> dict:
    try:
        return json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{config_path} is damaged: it is not valid JSON ({error})") from None


def load_weights_file(path: Path) -> GPTModel:
    """A .safetensors file: config.json beside it if there is one, else a config inferred from shapes."""
    file = TensorFile(path)  # reads the header only; a damaged file fails here, naming itself
    config_path = path.parent / CONFIG_FILE
    hf_config = _read_config(config_path) if config_path.is_file() else infer_hf_config(file.shapes, path)
    try:
        return load_hf_safetensors(empty_model(gpt_config_from_hf(hf_config)), path)
    except ValueError as error:
        raise ValueError(f"cannot load GPT-2 from {path}: {error}") from error


def load_local(path: str | Path) -> GPTModel:
    """GPT-2 weights the user already has on disk.

    ``path`` is either a ``.safetensors`` file (its config comes from a config.json in the same
    folder, else from the tensor shapes) or a folder with config.json and model.safetensors, as
    saved by transformers' ``save_pretrained`` or found in the Hugging Face cache.
    Raises FileNotFoundError for a missing path and ValueError for anything that is not GPT-2
    weights in safetensors form, with the file and what to do in the message.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.is_dir():
        weights = path / WEIGHTS_FILE
        if not weights.is_file():
            raise ValueError(
                f"{path} has no {WEIGHTS_FILE}; a GPT-2 folder needs {CONFIG_FILE} and {WEIGHTS_FILE} "
                "(sharded checkpoints and PyTorch .bin files are not supported)"
            )
        return load_weights_file(weights)
    if path.suffix != ".safetensors":
        raise ValueError(
            f"{path} is not a .safetensors file; give a GPT-2 model.safetensors or a folder holding "
            f"{CONFIG_FILE} and {WEIGHTS_FILE}"
        )
    return load_weights_file(path)


MODEL_FILE_SUFFIXES = (".pth", ".pt", ".safetensors")


def load_model_file(path: str | Path, n_heads: int | None = None) -> GPTModel:
    """Any one-file model a reader may bring, as a GPTModel (eval mode).

    - ``.pth`` / ``.pt``: the book's chapter-5 files (load_book_state_dict);
    - ``.safetensors`` with gptcore's metadata: one of the explorer's own checkpoints;
    - ``.safetensors`` with the book's names (``tok_emb.weight``, ...): a state dict saved with safetensors;
    - any other ``.safetensors``: OpenAI's GPT-2 layout, as transformers saves it.

    ``n_heads`` is needed only where the width is not one of GPT-2's. Raises ValueError saying what is wrong.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MODEL_FILE_SUFFIXES:
        raise ValueError(f"{path.name} is not a model file: give a .pth (as chapter 5 saves it) or a .safetensors file")
    if suffix in (".pth", ".pt"):
        return load_book_state_dict(path, n_heads=n_heads)
    file = TensorFile(path)  # reads the header only; a damaged file fails here, naming itself
    if METADATA_KEY in file.metadata:
        return load_checkpoint(path)
    if "tok_emb.weight" in file.shapes:
        return load_book_state_dict({name: file.read(name) for name in file.shapes}, n_heads=n_heads)
    return load_weights_file(path)
