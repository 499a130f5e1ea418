"""The model a reader built with the book: its chapter-5 ``.pth`` files, loaded into gptcore's GPTModel.

Chapter 5 saves a model two ways, and both load here:

    torch.save(model.state_dict(), "model.pth")                  # a state dict
    torch.save({"model_state_dict": model.state_dict(),          # with the optimizer, to resume
                "optimizer_state_dict": optimizer.state_dict()}, "model_and_optimizer.pth")

gptcore's parameters have the book's names, so a state dict needs no renaming. Two things are
handled on the way in: the book's MultiHeadAttention keeps its causal mask as a buffer
(``trf_blocks.<i>.att.mask``), which gptcore computes when needed instead, and the config is not
in the file, so it is worked out from the tensors' shapes.

Files are read with ``torch.load(weights_only=True)`` only: a pickle that holds anything but
tensors and plain containers is refused, never run.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .building import empty_model
from .config import GPTConfig
from .model import GPTModel
from .names import current_name

# n_heads is in no tensor's shape: GPT-2's four widths give it (or pass cfg).
HEADS_BY_WIDTH = {768: 12, 1024: 16, 1280: 20, 1600: 25}
WEIGHTS_ONLY_REFUSAL = "Weights only load failed"  # how torch.load begins its refusal of a pickle's objects
BOOK_DROP_RATE = 0.1  # GPT_CONFIG_124M's; dropout does nothing in eval mode, where the explorer runs models


def load_book_state_dict(
    path_or_dict: str | Path | Mapping[str, Any],
    cfg: GPTConfig | Mapping[str, Any] | None = None,
    *,
    n_heads: int | None = None,
) -> GPTModel:
    """A GPTModel (eval mode) holding the weights of a book ``model.pth`` or ``model_and_optimizer.pth``.

    ``path_or_dict`` is the file, or what ``torch.load`` returned for it. ``cfg`` is optional: the
    config is inferred from the shapes (n_heads from GPT-2's widths, or ``n_heads`` if given), and a
    given one must match them. Every problem raises a ValueError that says what is wrong.
    """
    where = str(path_or_dict) if isinstance(path_or_dict, (str, Path)) else "the state dict"
    loaded = _read(Path(path_or_dict)) if isinstance(path_or_dict, (str, Path)) else path_or_dict
    state = _state_dict(loaded, where)
    inferred = infer_book_config(state, where, n_heads=n_heads if cfg is None else GPTConfig.coerce(cfg).n_heads)
    if cfg is not None:
        _check_matches(GPTConfig.coerce(cfg), inferred, where)
        inferred = GPTConfig.coerce(cfg)
    model = empty_model(inferred)
    _check_names_and_shapes(model, state, where)
    with torch.no_grad():
        for name, param in model.state_dict().items():
            param.copy_(state[name])  # keeps gptcore's memory layout; the values are the file's
    return model


def _read(path: Path) -> Any:
    if not path.is_file():
        raise ValueError(f"{path} does not exist or is not a file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if WEIGHTS_ONLY_REFUSAL in str(error):
            raise ValueError(
                f"{path} holds more than tensors (torch.load refused it with weights_only=True: "
                f"{_refused_what(error)}); the explorer only loads plain state dicts, as chapter 5 saves them, and "
                "never runs a pickle's code"
            ) from None
        raise _not_a_pth(path, error) from None
    except Exception as error:  # a text file, a zip of something else, a file cut short: each fails its own way
        raise _not_a_pth(path, error) from None


def _not_a_pth(path: Path, error: BaseException) -> ValueError:
    return ValueError(
        f"{path} is not a PyTorch .pth file, or it is damaged or incomplete (for example a download or upload cut "
        f"short): {_first_line(error)}"
    )


def _refused_what(error: BaseException) -> str:
    """What the pickle wanted to build, from torch's refusal (whose advice to allow it is not repeated)."""
    found = re.search(r"GLOBAL ([\w.]+)", str(error))
    return f"it would build {found[1]}" if found else "it holds Python objects"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _state_dict(loaded: Any, where: str) -> dict[str, torch.Tensor]:
    """The model's tensors under today's names: the dict itself, or its "model_state_dict"; no mask buffers."""
    if isinstance(loaded, Mapping) and "model_state_dict" in loaded:
        loaded = loaded["model_state_dict"]
    if not isinstance(loaded, Mapping) or not loaded:
        raise ValueError(
            f"{where} is not a model's state dict: expected a dict of tensors, or one with 'model_state_dict', "
            f"got {type(loaded).__name__}"
        )
    state = {}
    for name, value in loaded.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise ValueError(f"{where} has an entry that is not a named tensor: {name!r} ({type(value).__name__})")
        if name.endswith(".att.mask"):
            continue  # the book's causal-mask buffer: gptcore computes the mask when it needs it
        state[current_name(name)] = value.float() if value.is_floating_point() else value
    return state


def infer_book_config(state: Mapping[str, torch.Tensor], where: str = "the state dict", n_heads: int | None = None):
    """A GPTConfig worked out from a book state dict's shapes: vocab, context, width, layers, qkv_bias."""
    for needed in ("tok_emb.weight", "pos_emb.weight"):
        if needed not in state or state[needed].dim() != 2:
            raise ValueError(f"{where} does not look like the book's GPTModel: it has no 2-D tensor '{needed}'")
    vocab_size, emb_dim = state["tok_emb.weight"].shape
    context_length, pos_width = state["pos_emb.weight"].shape
    if pos_width != emb_dim:
        raise ValueError(f"{where}: pos_emb.weight is {pos_width} wide but tok_emb.weight is {emb_dim}")
    blocks = {int(name.split(".")[1]) for name in state if name.startswith("trf_blocks.")}
    if not blocks:
        raise ValueError(f"{where} has no transformer blocks ('trf_blocks.0...')")
    if n_heads is None:
        if emb_dim not in HEADS_BY_WIDTH:
            known = ", ".join(f"{width}->{heads}" for width, heads in HEADS_BY_WIDTH.items())
            raise ValueError(
                f"{where} is {emb_dim} wide, not one of GPT-2's widths ({known}), so its number of heads cannot be "
                "told from its shapes: pass cfg with n_heads"
            )
        n_heads = HEADS_BY_WIDTH[emb_dim]
    return GPTConfig(
        vocab_size=int(vocab_size),
        context_length=int(context_length),
        emb_dim=int(emb_dim),
        n_heads=int(n_heads),
        n_layers=max(blocks) + 1,
        drop_rate=BOOK_DROP_RATE,
        qkv_bias="trf_blocks.0.att.W_query.bias" in state,
    )


def _check_matches(given: GPTConfig, inferred: GPTConfig, where: str) -> None:
    fields = ("vocab_size", "context_length", "emb_dim", "n_layers", "qkv_bias")
    wrong = [f"{name} is {getattr(given, name)} but the file's shapes say {getattr(inferred, name)}" for name in fields
             if getattr(given, name) != getattr(inferred, name)]  # fmt: skip
    if wrong:
        raise ValueError(f"the config given does not match {where}: " + "; ".join(wrong))


def _check_names_and_shapes(model: GPTModel, state: Mapping[str, torch.Tensor], where: str) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    odd = [f"'{name}' is {tuple(state[name].shape)}, not {tuple(param.shape)}"
           for name, param in expected.items() if name in state and state[name].shape != param.shape]  # fmt: skip
    problems = []
    if missing:
        problems.append(f"{len(missing)} tensors missing ({', '.join(missing[:3])}{', …' if len(missing) > 3 else ''})")
    if extra:
        problems.append(f"{len(extra)} unexpected ({', '.join(extra[:3])}{', …' if len(extra) > 3 else ''})")
    if odd:
        problems.append(f"{len(odd)} of the wrong shape ({'; '.join(odd[:3])}{'; …' if len(odd) > 3 else ''})")
    if problems:
        raise ValueError(f"{where} does not fit the book's GPTModel with this config: " + ", ".join(problems))
