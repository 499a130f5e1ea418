"""Tests for gptcore.tokenizer: the offline GPT-2 encoding, the book helpers and token labels."""

import functools
import pickle
import re
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import tiktoken
import torch

from gptcore import tokenizer as tokenizer_module
from gptcore.tokenizer import (
    EOT_TOKEN_ID,
    GPT2Tokenizer,
    get_tokenizer,
    text_to_token_ids,
    token_ids_to_text,
    token_label,
    token_labels,
)

ROUND_TRIP_TEXTS = [
    "Hello, I am",
    "🦙 hi",
    "Crème brûlée à la française, naïve café",
    "我喜欢学习语言模型",
    "line one\nline two\n\n\tindented\r\n  trailing spaces  ",
    "emoji 👩‍👩‍👧 flags 🇫🇷 and math ∑∫√",
    "",
]


def hex_label(body: str) -> str:
    """The label form of non-UTF-8 bytes: hex between single guillemets U+2039 and U+203A."""
    return f"\u2039{body}\u203a"


@pytest.fixture(scope="module")
def tok() -> GPT2Tokenizer:
    return get_tokenizer()


# --- the encoding itself -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, I am", [15496, 11, 314, 716]),
        ("Every effort moves you", [6109, 3626, 6100, 345]),
        ("Every day holds a", [6109, 1110, 6622, 257]),
    ],
)
def test_known_book_encodings(tok, text, expected):
    assert tok.encode(text) == expected
    assert tok.encode_ordinary(text) == expected


def test_vocab_size_and_eot(tok):
    assert isinstance(tok, tiktoken.Encoding)
    assert tok.n_vocab == 50257
    assert tok.eot_token == 50256 == EOT_TOKEN_ID
    assert tok.decode_single_token_bytes(50255) == b" gazed"


def test_get_tokenizer_is_cached(tok):
    assert get_tokenizer() is tok


def test_get_tokenizer_builds_once_under_concurrent_first_use(monkeypatch):
    # A fresh cache, so that eight threads race to build the first instance.
    fresh = functools.cache(tokenizer_module._build_tokenizer.__wrapped__)
    monkeypatch.setattr(tokenizer_module, "_build_tokenizer", fresh)
    barrier = threading.Barrier(8)

    def first_use(_):
        barrier.wait()
        return get_tokenizer()

    with ThreadPoolExecutor(max_workers=8) as pool:
        instances = list(pool.map(first_use, range(8)))
    assert len({id(instance) for instance in instances}) == 1


@pytest.mark.parametrize("text", ROUND_TRIP_TEXTS)
def test_round_trip(tok, text):
    assert tok.decode(tok.encode(text)) == text


def test_emoji_is_split_into_byte_tokens(tok):
    ids = tok.encode("🦙 hi")
    assert len(ids) > 2
    assert b"".join(tok.decode_single_token_bytes(i) for i in ids) == "🦙 hi".encode()


def test_endoftext_in_text_is_the_special_token(tok):
    text = "The end.<|endoftext|>A new document"
    ids = tok.encode(text)
    assert ids.count(50256) == 1
    assert tok.decode(ids) == text
    # Book-style call works too.
    assert tok.encode(text, allowed_special={"<|endoftext|>"}) == ids


def test_endoftext_as_plain_text(tok):
    text = "The end.<|endoftext|>A new document"
    for ids in (tok.encode(text, allowed_special=set()), tok.encode_ordinary(text)):
        assert 50256 not in ids
        assert len(ids) > len(tok.encode(text))
        assert tok.decode(ids) == text
    assert tok.encode("<|endoftext|>", allowed_special=set()) == [27, 91, 437, 1659, 5239, 91, 29]


def test_pickle_round_trip(tok):
    clone = pickle.loads(pickle.dumps(tok))
    assert isinstance(clone, GPT2Tokenizer)
    assert clone.encode("Every effort moves you<|endoftext|>") == [6109, 3626, 6100, 345, 50256]


def test_tampered_asset_is_refused(tmp_path, monkeypatch):
    data = bytearray(tokenizer_module.RANKS_PATH.read_bytes())
    data[100] ^= 0x01
    bad = tmp_path / "r50k_base.tiktoken"
    bad.write_bytes(bytes(data))
    monkeypatch.setattr(tokenizer_module, "RANKS_PATH", bad)
    with pytest.raises(ValueError, match="sha256") as excinfo:
        GPT2Tokenizer()
    message = str(excinfo.value)
    assert str(bad) in message
    assert tokenizer_module.RANKS_SHA256 in message


def test_untampered_copy_loads(tmp_path):
    good = tmp_path / "copy.tiktoken"
    shutil.copy(tokenizer_module.RANKS_PATH, good)
    assert GPT2Tokenizer(good).encode("Hello, I am") == [15496, 11, 314, 716]


def test_missing_asset_names_the_file(tmp_path):
    missing = tmp_path / "nope.tiktoken"
    with pytest.raises(FileNotFoundError, match=r"nope\.tiktoken"):
        GPT2Tokenizer(missing)


# --- book helpers --------------------------------------------------------------------------


def test_text_to_token_ids_shape_and_dtype(tok):
    ids = text_to_token_ids("Every effort moves you", tok)
    assert ids.shape == (1, 4)
    assert ids.dtype == torch.long
    assert ids.tolist() == [[6109, 3626, 6100, 345]]


def test_text_to_token_ids_empty_text_is_integer(tok):
    ids = text_to_token_ids("", tok)
    assert ids.shape == (1, 0)
    assert ids.dtype == torch.long


def test_text_to_token_ids_with_plain_tiktoken_encoding(tok):
    # A plain tiktoken.Encoding would raise on "<|endoftext|>" by default; the helper must not.
    plain = tiktoken.Encoding(
        "gpt2-plain",
        pat_str=tok._pat_str,
        mergeable_ranks=tok._mergeable_ranks,
        special_tokens={"<|endoftext|>": 50256},
    )
    assert text_to_token_ids("a<|endoftext|>", plain).tolist() == [[64, 50256]]


def test_text_to_token_ids_rejects_non_str(tok):
    with pytest.raises(TypeError, match="expects a str, got int"):
        text_to_token_ids(123, tok)


@pytest.mark.parametrize("text", ROUND_TRIP_TEXTS)
def test_token_ids_to_text_round_trip(tok, text):
    ids_2d = text_to_token_ids(text, tok)
    assert token_ids_to_text(ids_2d, tok) == text
    assert token_ids_to_text(ids_2d.squeeze(0), tok) == text
    assert token_ids_to_text(ids_2d.squeeze(0).tolist(), tok) == text


def test_token_ids_to_text_default_tokenizer():
    assert token_ids_to_text([15496, 11, 314, 716]) == "Hello, I am"


def test_token_ids_to_text_rejects_batches_and_bad_ids(tok):
    with pytest.raises(ValueError, match="shape"):
        token_ids_to_text(torch.zeros(2, 3, dtype=torch.long), tok)
    with pytest.raises(ValueError, match="50257"):
        token_ids_to_text([15496, 50257], tok)


# --- labels ----------------------------------------------------------------------------------


def test_labels_show_whitespace(tok):
    assert token_label(tok.encode(" you")[0], tok) == "␣you"
    assert token_label(tok.encode("\n")[0]) == "↵"
    assert token_label(tok.encode("\t")[0]) == "⇥"
    assert token_label(tok.encode("\r")[0]) == "␍"
    assert token_labels(tok.encode("Every effort moves you")) == [
        "Every",
        "␣effort",
        "␣moves",
        "␣you",
    ]


def test_labels_escape_control_and_invisible_characters(tok):
    assert token_label(tok.encode_single_token(b"\x00")) == "\\x00"
    assert token_label(tok.encode_single_token(b"\x7f")) == "\\x7f"
    assert token_label(tok.encode_single_token("\u200b")) == "\\u200b"
    assert token_label(tok.encode_single_token("\u00a0")) == "\\xa0"


def test_endoftext_label(tok):
    assert token_label(50256, tok) == "<|endoftext|>"


def test_labels_for_split_emoji(tok):
    ids = tok.encode("🦙")
    assert len(ids) > 1
    labels = token_labels(ids, tok)
    assert all(labels)
    assert not any("\ufffd" in label for label in labels)
    assert any(label.startswith("\u2039") and label.endswith("\u203a") for label in labels)
    assert labels[0] == hex_label("F0 9F")


def test_label_keeps_valid_prefix_before_hex(tok):
    # Token 564 is b" \xe2\x80": a space, then the first two bytes of a three-byte character.
    assert tok.decode_single_token_bytes(564) == b" \xe2\x80"
    assert token_label(564, tok) == "␣" + hex_label("E2 80")
    # Token 33434 starts with the tail of one character and ends with a whole one.
    assert token_label(33434, tok) == hex_label("96 9A") + "士"


def test_literal_replacement_character_is_escaped(tok):
    # A few GPT-2 tokens really contain U+FFFD; it must not look like a decoding failure.
    assert tok.decode_single_token_bytes(4210) == "\ufffd".encode()
    assert token_label(4210, tok) == "\\ufffd"


def test_token_labels_accepts_2d_tensor(tok):
    ids = text_to_token_ids("Hello, I am", tok)
    assert token_labels(ids, tok) == ["Hello", ",", "␣I", "␣am"]


def test_every_id_has_a_readable_label(tok):
    start = time.perf_counter()
    labels = [token_label(token_id, tok) for token_id in range(tok.n_vocab)]
    elapsed = time.perf_counter() - start
    assert len(labels) == 50257
    assert all(labels)
    assert not any("\ufffd" in label for label in labels)
    # Outside the hex groups, no raw whitespace or control character is left to vanish on an axis.
    hex_group = re.compile(r"\u2039[0-9A-F]{2}( [0-9A-F]{2})*\u203a")
    for label in labels:
        text = hex_group.sub("", label)
        assert not any(ch.isspace() or ord(ch) < 32 for ch in text), label
    assert elapsed < 5.0


@pytest.mark.parametrize("bad_id", [-1, 50257, 10**6])
def test_bad_id_raises(tok, bad_id):
    with pytest.raises(ValueError, match=rf"{bad_id}.*50257"):
        token_label(bad_id, tok)
