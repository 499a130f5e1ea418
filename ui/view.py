"""The part of the model a page looks at: which layer, which head.

Each page keeps its own choice under a plain session key, so that it survives page switches; the
link carries it as ``layer`` and ``head``.
"""

import streamlit as st

from ui.remembered import remembered_choice


def layer_choice(n_layers: int, state_key: str) -> int:
    """A "Layer" selectbox over 0..n_layers-1."""
    return remembered_choice(
        st.selectbox, "Layer", list(range(n_layers)), state_key, link="layer", format_func=lambda i: f"layer {i}"
    )


def head_choice(n_heads: int, state_key: str) -> int:
    """A "Head" selectbox over 0..n_heads-1."""
    return remembered_choice(
        st.selectbox, "Head", list(range(n_heads)), state_key, link="head", format_func=lambda h: f"head {h}"
    )


def layer_and_head(n_layers: int, n_heads: int, layer_key: str, head_key: str) -> tuple[int, int]:
    """Layer and head side by side."""
    left, right = st.columns(2)
    with left:
        layer = layer_choice(n_layers, layer_key)
    with right:
        head = head_choice(n_heads, head_key)
    return layer, head
