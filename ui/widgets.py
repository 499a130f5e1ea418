"""Small helpers pages draw with: axis labels, explanations, download buttons.

Streamlit keeps the callables a page gives it beyond the page's run: a widget's format_func for as
long as the session lives, a download's data function until the session's next run. A function
written in a page refers to the page's globals, and so to its trace (a GB for a long prompt), which
would then stay in memory for as long as the student keeps the tab open. So the helpers here turn a
page's format function into a plain lookup table at once, and downloads take functions from ui or
gptcore only.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from gptcore import token_labels


def labels(token_ids) -> list[str]:
    """Readable, unique axis labels: each token's visible text with its position, e.g. '3:␣you'."""
    return [f"{i}:{label}" for i, label in enumerate(token_labels(list(token_ids)))]


def inline_code(text: str) -> str:
    """Text as a Markdown code span, shown as it is: a token such as `**` or a backtick is not formatting."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)  # a fence longer than any run of backticks inside
    return f"{fence} {text} {fence}" if longest else f"`{text}`"


def explain(markdown: str) -> None:
    """A short plain-language explanation at the top of a page."""
    st.markdown(markdown)


def _defined_in_a_page(function: Callable) -> bool:
    inner = function.func if isinstance(function, functools.partial) else function
    return getattr(inner, "__module__", None) == "__main__"  # Streamlit runs each page as __main__


def download(label: str, make_data: Callable[[], str | bytes], file_name: str, key: str | None = None) -> None:
    """A download button whose file is built only when clicked, without rerunning the page.

    ``make_data`` is a function of ui or gptcore, usually a functools.partial with the data it
    needs; a function written in the page is refused (see the module's docstring).
    """
    if _defined_in_a_page(make_data):
        raise TypeError(
            f"the download {file_name!r} was given a function written in the page: it would keep the page's "
            "trace in memory; pass a partial of a ui function instead"
        )
    mime = {".csv": "text/csv", ".html": "text/html"}.get(Path(file_name).suffix, "application/octet-stream")
    st.download_button(
        label, data=make_data, file_name=file_name, mime=mime, key=key or f"download_{file_name}", on_click="ignore"
    )


def table_csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False)


def csv_download(frame: pd.DataFrame, filename: str, label: str = "Download CSV", key: str | None = None) -> None:
    """Offer a table as CSV."""
    download(label, functools.partial(table_csv, frame), filename, key)


def figure_html(figure) -> str:
    return figure.to_html(include_plotlyjs="cdn", full_html=True)


def figure_download(figure, filename: str, label: str = "Download figure (HTML)", key: str | None = None) -> None:
    """Offer an interactive figure as a standalone HTML file (~25 ms to build, so only on click)."""
    download(label, functools.partial(figure_html, figure), filename, key)


def table_and_figure_downloads(frame: pd.DataFrame, figure, name: str) -> None:
    """The usual pair under a chart: its numbers as CSV on the left, the figure as HTML on the right."""
    left, right = st.columns(2)
    with left:
        csv_download(frame, f"{name}.csv")
    with right:
        figure_download(figure, f"{name}.html")


def as_percentages(frame: pd.DataFrame, columns: Sequence[str] = ("probability",)) -> pd.DataFrame:
    """A copy with probabilities times 100, for a table that shows them with percent_column."""
    return frame.assign(**{column: frame[column] * 100 for column in columns})


def percent_column(label: str = "probability"):
    """A table column of percentages printed as the charts print them: three significant figures, 0.0194%."""
    return st.column_config.NumberColumn(label, format="%.3g%%")


def square_csv(matrix: np.ndarray, labels: Sequence[str], corner: str = "query") -> str:
    """A (T, T) matrix over tokens as CSV: one row per token down, one column per token across."""
    frame = pd.DataFrame(matrix, index=list(labels), columns=list(labels)).rename_axis(corner).reset_index()
    return frame.to_csv(index=False)


def token_vectors_csv(matrices: dict[str, np.ndarray], labels: Sequence[str], ids: Sequence[int]) -> str:
    """Several (T, d) matrices of the same tokens as one long CSV: a row per (matrix, position)."""
    frames = []
    for name, matrix in matrices.items():
        frame = pd.DataFrame(matrix, columns=[f"dim_{i}" for i in range(matrix.shape[1])])
        frame.insert(0, "token", list(labels))
        frame.insert(0, "id", list(ids))
        frame.insert(0, "position", range(len(frame)))
        frame.insert(0, "vector", name)
        frames.append(frame)
    return pd.concat(frames).to_csv(index=False)


MAX_HEATMAP_TOKENS = 256  # a heatmap over more tokens shows a window of them; the CSV downloads keep them all


def token_window(num_tokens: int, key: str, limit: int = MAX_HEATMAP_TOKENS) -> slice:
    """The tokens a page's heatmaps show: all of a short prompt; of a long one, a window a slider moves.

    The window starts at the end, where the latest tokens and the prediction are.
    """
    if num_tokens <= limit:
        return slice(0, num_tokens)
    start = st.slider(
        f"First token shown (the prompt has {num_tokens} tokens: the heatmaps show {limit} at a time)",
        0,
        num_tokens - limit,
        num_tokens - limit,
        key=key,
    )
    return slice(start, start + limit)


def clamp_index(index: int, size: int) -> int:
    """``index`` moved into 0..size-1: a layer or head chosen for a bigger model, shown on a smaller one."""
    if size < 1:
        raise ValueError(f"there is nothing to choose from (size {size})")
    return min(max(int(index), 0), size - 1)
