"""The Train page's text: pasted or uploaded, its size checked against the limit, a file decoded to text,
and whether it is long enough to train on."""

from __future__ import annotations

import math

import streamlit as st

from gptcore.training_data import longest_window, tokens_needed

from .memory import format_bytes

TEXT_KEY = "train_text"  # plain session keys: they survive page switches, widget keys do not
UPLOAD_KEY = "train_upload"

MAX_TEXT_BYTES = 1_000_000  # about 250,000 tokens: more than a class run can read in minutes
VAL_FRACTION = 0.1  # the end of the text kept aside to measure progress
SHORTEST_WINDOW = 16  # a text too short for windows of this many tokens is refused: fewer teach too little


class TrainingTextError(ValueError):
    """The text to train on is not usable (too large, not UTF-8); the message says what to do."""


def _sizes(size: int, limit: int) -> tuple[str, str]:
    """Both sizes readable, and different on screen even when they round alike ('1 MB' and '1 MB')."""
    size_text, limit_text = format_bytes(size), format_bytes(limit)
    return (size_text, limit_text) if size_text != limit_text else (f"{size:,} bytes", f"{limit:,} bytes")


def check_text_size(text: str, limit: int | None = None) -> None:
    limit = MAX_TEXT_BYTES if limit is None else limit
    size = len(text.encode("utf-8"))
    if size > limit:
        size_text, limit_text = _sizes(size, limit)
        raise TrainingTextError(
            f"The text is {size_text}, but a run on this server reads at most {limit_text}. "
            "Use a shorter excerpt: a few chapters are plenty for a run of a few minutes."
        )


def decode_upload(name: str, data: bytes, limit: int | None = None) -> str:
    """The text of an uploaded .txt file, or a TrainingTextError saying what is wrong with it."""
    limit = MAX_TEXT_BYTES if limit is None else limit
    if len(data) > limit:
        size_text, limit_text = _sizes(len(data), limit)
        raise TrainingTextError(
            f"{name} is {size_text}, but a run on this server reads at most {limit_text}. Upload a shorter excerpt."
        )
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark from Windows editors is dropped
    except UnicodeDecodeError as error:
        raise TrainingTextError(
            f"{name} is not UTF-8 text (byte {error.start} cannot be read). Open it in a text editor and save it "
            "again with the encoding UTF-8, then upload it again."
        ) from None
    return text


def on_text_change() -> None:
    st.session_state[TEXT_KEY] = st.session_state["_train_text_box"]


def read_text() -> tuple[str, str | None]:
    """(the text to train on, a problem with it or None), from the upload if there is one, else the box."""
    st.session_state["_train_text_box"] = st.session_state.get(TEXT_KEY, "")
    st.text_area(
        "Paste a text",
        key="_train_text_box",
        on_change=on_text_change,
        height=160,
        placeholder="A few pages at least: a story, song lyrics, code… Public-domain books (e.g. from Project "
        "Gutenberg) work well.",
    )
    # max_upload_size is in MB: the browser itself refuses bigger files; the exact limit is checked below.
    upload = st.file_uploader("…or upload a .txt file", type=["txt"], key=UPLOAD_KEY, max_upload_size=1)
    if upload is not None:
        try:
            text = decode_upload(upload.name, upload.getvalue())
        except TrainingTextError as error:
            return "", str(error)
        st.caption(f"Training on the uploaded file {upload.name} ({len(text):,} characters).")
    else:
        text = st.session_state.get(TEXT_KEY, "")
    try:
        check_text_size(text)
    except TrainingTextError as error:
        return "", str(error)
    if not text.strip():
        return "", None
    return text, None


def fit_window(n_tokens: int, full_window: int) -> int | None:
    """The training window for a text of n_tokens: the model's own, or shorter for a short text; None if too short."""
    return longest_window(n_tokens, full_window, VAL_FRACTION, SHORTEST_WINDOW)


def too_short_message(n_tokens: int, n_chars: int) -> str:
    """What to do about a text too short for any window, in characters to add (at this text's characters per token)."""
    chars_per_token = n_chars / max(1, n_tokens)
    needed = tokens_needed(SHORTEST_WINDOW, VAL_FRACTION)
    more = 100 * math.ceil((needed - n_tokens) * chars_per_token / 100)  # "about": up to the next hundred
    return (
        f"This text is too short to train on: paste about {more:,.0f} more characters. A model learns from "
        f"windows of at least {SHORTEST_WINDOW} tokens and keeps the last tenth of the text aside to check "
        f"itself, so it needs about {needed:,} tokens; this text has {n_tokens:,}."
    )
