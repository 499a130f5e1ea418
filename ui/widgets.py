"""Small helpers pages draw with: axis labels, explanations, download buttons, remembered choices."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import streamlit as st

from gptcore import token_labels


def labels(token_ids) -> list[str]:
    """Readable, unique axis labels: each token's visible text with its position, e.g. '3:␣you'."""
    return [f"{i}:{label}" for i, label in enumerate(token_labels(list(token_ids)))]


def explain(markdown: str) -> None:
    """A short plain-language explanation at the top of a page."""
    st.markdown(markdown)


def download(label: str, make_data: Callable[[], str | bytes], file_name: str, key: str | None = None) -> None:
    """A download button whose file is built only when clicked, without rerunning the page."""
    mime = {".csv": "text/csv", ".html": "text/html"}.get(Path(file_name).suffix, "application/octet-stream")
    st.download_button(
        label, data=make_data, file_name=file_name, mime=mime, key=key or f"download_{file_name}", on_click="ignore"
    )


def csv_download(frame: pd.DataFrame, filename: str, label: str = "Download CSV", key: str | None = None) -> None:
    """Offer a table as CSV."""
    download(label, lambda: frame.to_csv(index=False), filename, key)


def figure_download(figure, filename: str, label: str = "Download figure (HTML)", key: str | None = None) -> None:
    """Offer an interactive figure as a standalone HTML file (~25 ms to build, so only on click)."""
    download(label, lambda: figure.to_html(include_plotlyjs="cdn", full_html=True), filename, key)


def remembered_choice(widget: Callable, label: str, options: list, state_key: str, **kwargs) -> object:
    """A selectbox, radio or select_slider whose choice lives in a plain session key.

    Widget keys vanish when their page is not shown; the plain key keeps the choice across page
    switches. A remembered choice that no longer exists (the new model has fewer layers) moves
    to the nearest end of the options.
    """
    widget_key = f"{state_key}_box"
    value = st.session_state.get(state_key, options[0])
    if value not in options:
        too_big = isinstance(value, int) and isinstance(options[-1], int) and value > options[-1]
        value = options[-1] if too_big else options[0]
    st.session_state[state_key] = value
    st.session_state[widget_key] = value

    def remember() -> None:
        st.session_state[state_key] = st.session_state[widget_key]

    return widget(label, options, key=widget_key, on_change=remember, **kwargs)
