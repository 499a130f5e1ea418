r"""Offline GPT-2 tokenizer and display labels for tokens.

`tiktoken.get_encoding("gpt2")` downloads its rank table on first use, which fails on offline
machines. This module builds the same encoding from the table vendored in `gptcore/assets/`
(see the README there), after checking the file's sha256:

    tokenizer = get_tokenizer()               # one shared, cached GPT2Tokenizer
    ids = text_to_token_ids("Every effort moves you", tokenizer)
    # tensor([[6109, 3626, 6100,  345]]), shape (1, 4)
    token_ids_to_text(ids, tokenizer)         # 'Every effort moves you'
    token_labels(ids)                         # ['Every', '␣effort', '␣moves', '␣you']

`GPT2Tokenizer` is a `tiktoken.Encoding`, so every tiktoken method works (`decode`,
`encode_ordinary`, `decode_single_token_bytes`, `n_vocab`, `eot_token`, ...). It is immutable
once built, so one instance can be shared by all sessions and threads.

Special token decision: text containing "<|endoftext|>" is encoded as the special token 50256 by
default, and `encode` never raises for it. A student who types it sees the model's document
separator, which is what the model saw in training between documents. Plain tiktoken would raise
instead. To get the characters as ordinary text, use `encode(text, allowed_special=set())` or
`encode_ordinary(text)`. Only `encode` (and the helpers here) change their default; other
tiktoken methods such as `encode_batch` keep tiktoken's own strict defaults.

Label rules (`token_label`, `token_labels`), for chart axes where whitespace would be invisible:

- the token's bytes are shown as UTF-8 text when they decode;
- space -> "␣", newline -> "↵", tab -> "⇥", carriage return -> "␍";
- other control characters -> "\xNN"; other characters that would be invisible or misleading
  on an axis (non-breaking and other Unicode spaces, format characters such as U+200B, private
  use and unassigned code points, and a literal U+FFFD replacement character, which a few GPT-2
  tokens contain) -> "\xNN" or "\uNNNN" escapes;
- bytes that are not valid UTF-8 on their own (a piece of an emoji or of another multi-byte
  character) -> their hex, space-separated, between the single guillemets U+2039 and U+203A:
  the first token of "🦙" is the bytes F0 9F and is labelled "F0 9F" inside guillemets. Valid
  text around such bytes is kept: token 564, a space and then two bytes of a three-byte
  character, is "␣" followed by "E2 80" inside guillemets;
- the special token 50256 -> "<|endoftext|>".
"""

from __future__ import annotations

import base64
import functools
import hashlib
import operator
import threading
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Literal

import tiktoken
import torch

__all__ = [
    "ENDOFTEXT",
    "EOT_TOKEN_ID",
    "N_VOCAB",
    "RANKS_PATH",
    "RANKS_SHA256",
    "GPT2Tokenizer",
    "get_tokenizer",
    "text_to_token_ids",
    "token_ids_to_text",
    "token_label",
    "token_labels",
]

RANKS_PATH = Path(__file__).resolve().parent / "assets" / "r50k_base.tiktoken"
RANKS_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"

ENDOFTEXT = "<|endoftext|>"
EOT_TOKEN_ID = 50256
N_VOCAB = 50257

# Copied from tiktoken_ext/openai_public.py (r50k_pat_str), used by both "gpt2" and "r50k_base".
# It is tiktoken's faster equivalent of the regex in the original GPT-2 release.
GPT2_PAT_STR = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""

_VISIBLE_WHITESPACE = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}
# Single guillemets around hex bytes; written as escapes because they look like < and >.
_HEX_OPEN, _HEX_CLOSE = "\u2039", "\u203a"


def _load_ranks(path: str | Path | None = None) -> dict[bytes, int]:
    """Read a tiktoken rank file after checking its sha256 against RANKS_SHA256.

    We parse it ourselves rather than with `tiktoken.load.load_tiktoken_bpe`, which also writes
    a copy into a cache directory under the system temp folder.
    """
    path = Path(RANKS_PATH if path is None else path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"GPT-2 rank table not found at {path}; it ships in gptcore/assets/ "
            "(reinstall gptcore or restore the file)."
        ) from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != RANKS_SHA256:
        raise ValueError(
            f"GPT-2 rank table {path} failed its sha256 check: expected {RANKS_SHA256}, "
            f"got {actual}. The file is damaged or not the GPT-2 table; restore it from "
            "gptcore/assets/ (see the README there)."
        )
    ranks: dict[bytes, int] = {}
    for line_no, line in enumerate(data.splitlines(), start=1):
        if not line:
            continue
        try:
            token_b64, rank = line.split()
            ranks[base64.b64decode(token_b64, validate=True)] = int(rank)
        except ValueError as e:
            raise ValueError(f"{path}, line {line_no}: cannot parse {line[:60]!r}") from e
    return ranks


class GPT2Tokenizer(tiktoken.Encoding):
    """The GPT-2 encoding (tiktoken "gpt2" / "r50k_base"), built from the vendored rank table."""

    def __init__(self, ranks_path: str | Path | None = None) -> None:
        self._ranks_path = ranks_path
        super().__init__(
            "gpt2",
            pat_str=GPT2_PAT_STR,
            mergeable_ranks=_load_ranks(ranks_path),
            special_tokens={ENDOFTEXT: EOT_TOKEN_ID},
            explicit_n_vocab=N_VOCAB,
        )

    def __repr__(self) -> str:
        return "<GPT2Tokenizer 'gpt2' (offline, n_vocab=50257)>"

    def __reduce__(self) -> tuple[type[GPT2Tokenizer], tuple[str | Path | None]]:
        # tiktoken's pickling would call __init__ with the Encoding arguments; rebuild from the
        # file instead (also what copy.deepcopy uses).
        return (type(self), (self._ranks_path,))

    def encode(
        self,
        text: str,
        *,
        allowed_special: Literal["all"] | AbstractSet[str] = frozenset({ENDOFTEXT}),
        disallowed_special: Literal["all"] | Collection[str] = (),
    ) -> list[int]:
        """Encode text; "<|endoftext|>" becomes 50256 unless `allowed_special=set()`.

        Same arguments as `tiktoken.Encoding.encode`, but with defaults that never raise.
        """
        return super().encode(text, allowed_special=allowed_special, disallowed_special=disallowed_special)


_tokenizer_lock = threading.Lock()


@functools.cache
def _build_tokenizer() -> GPT2Tokenizer:
    return GPT2Tokenizer()


def get_tokenizer() -> GPT2Tokenizer:
    """Return the one shared GPT2Tokenizer, built on first use (about 0.1 s)."""
    # functools.cache alone may build twice when two sessions ask at the same moment.
    with _tokenizer_lock:
        return _build_tokenizer()


def text_to_token_ids(text: str, tokenizer: tiktoken.Encoding | None = None) -> torch.Tensor:
    """Encode text as the book does: a LongTensor of shape (1, n_tokens), batch dim first."""
    if not isinstance(text, str):
        raise TypeError(f"text_to_token_ids expects a str, got {type(text).__name__}")
    if tokenizer is None:
        tokenizer = get_tokenizer()
    # Explicit arguments so a plain tiktoken.Encoding behaves like GPT2Tokenizer here.
    encoded = tokenizer.encode(text, allowed_special={ENDOFTEXT}, disallowed_special=())
    # dtype given so that empty text still gives integer ids, shape (1, 0).
    return torch.tensor(encoded, dtype=torch.long).unsqueeze(0)


def _as_id_list(token_ids: torch.Tensor | Sequence[int] | Iterable[int]) -> list[int]:
    """Accept a (1, n) or (n,) tensor, or any iterable of ints, and return a list of ints."""
    if isinstance(token_ids, torch.Tensor):
        if token_ids.dim() == 2 and token_ids.shape[0] == 1:
            token_ids = token_ids.squeeze(0)
        if token_ids.dim() != 1:
            raise ValueError(f"expected token ids of shape (1, n) or (n,), got {tuple(token_ids.shape)}")
        return token_ids.tolist()
    return [operator.index(i) for i in token_ids]


def token_ids_to_text(token_ids: torch.Tensor | Sequence[int], tokenizer: tiktoken.Encoding | None = None) -> str:
    """Decode ids back to text (the book's helper); takes a (1, n) or (n,) tensor or a list."""
    if tokenizer is None:
        tokenizer = get_tokenizer()
    ids = _as_id_list(token_ids)
    for token_id in ids:
        _check_id(token_id, tokenizer)
    return tokenizer.decode(ids)


def _check_id(token_id: int, tokenizer: tiktoken.Encoding) -> None:
    if not 0 <= token_id < tokenizer.n_vocab:
        raise ValueError(
            f"token id {token_id} is outside the vocabulary: valid ids are 0 to "
            f"{tokenizer.n_vocab - 1} (range [0, {tokenizer.n_vocab}))"
        )


def _escape_char(ch: str) -> str:
    if ch in _VISIBLE_WHITESPACE:
        return _VISIBLE_WHITESPACE[ch]
    category = unicodedata.category(ch)
    # Cc: control; Zs/Zl/Zp: spaces and separators that would look blank; Cf: invisible format
    # characters such as zero-width space; Co/Cn: no glyph. U+FFFD is real text in a few GPT-2
    # tokens, but shown as-is it would look like our own decoding failure.
    if category in ("Cc", "Cf", "Zl", "Zp", "Zs", "Co", "Cn") or ch == "\ufffd":
        code = ord(ch)
        return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
    return ch


def _hex_label(raw: bytes) -> str:
    return _HEX_OPEN + " ".join(f"{b:02X}" for b in raw) + _HEX_CLOSE


@functools.cache
def _label_for_bytes(raw: bytes) -> str:
    """Label one token's bytes: readable text where they are UTF-8, hex where they are not."""
    parts: list[str] = []
    invalid = b""
    rest = raw
    while rest:
        try:
            text = rest.decode("utf-8")
            bad = b""
            rest = b""
        except UnicodeDecodeError as e:
            text = rest[: e.start].decode("utf-8")
            bad = rest[e.start : e.end]
            rest = rest[e.end :]
        if text:
            if invalid:
                parts.append(_hex_label(invalid))
                invalid = b""
            parts.append("".join(_escape_char(ch) for ch in text))
        # Keep neighbouring invalid bytes together: one F0 9F label, not F0 then 9F.
        invalid += bad
    if invalid:
        parts.append(_hex_label(invalid))
    return "".join(parts)


def token_label(token_id: int, tokenizer: tiktoken.Encoding | None = None) -> str:
    """A short, always readable label for one token id (rules in the module docstring)."""
    if tokenizer is None:
        tokenizer = get_tokenizer()
    token_id = operator.index(token_id)
    _check_id(token_id, tokenizer)
    if tokenizer.is_special_token(token_id):
        return tokenizer.decode([token_id])
    return _label_for_bytes(tokenizer.decode_single_token_bytes(token_id))


def token_labels(ids: torch.Tensor | Sequence[int], tokenizer: tiktoken.Encoding | None = None) -> list[str]:
    """Labels for a sequence of ids; takes a (1, n) or (n,) tensor or a list of ints."""
    if tokenizer is None:
        tokenizer = get_tokenizer()
    return [token_label(token_id, tokenizer) for token_id in _as_id_list(ids)]
