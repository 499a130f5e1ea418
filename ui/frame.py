"""The frame every page runs in: app.py's navigation and sidebar, also for a link opened on a fresh server.

Streamlit treats a folder named pages/ as an old-style multipage app until the first
``st.navigation`` call in the server process. Until then a link such as /attention runs
pages/attention.py on its own, with no sidebar and no model choice, under a menu of file names.
So the app draws its own page links (``render_navigation``) and Streamlit's menu is off
(``client.showSidebarNavigation`` in .streamlit/config.toml): the file names never show. app.py
calls ``st.navigation`` before anything else, which ends that mode for the server; a page that
finds itself run on its own hands the request over to app.py with ``ensure_app_frame``, its first
line. Only public Streamlit calls are used, and nothing heavier than Streamlit is imported here,
so the hand-over comes before the seconds torch takes to import.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

PAGES_FOLDER = Path(__file__).resolve().parent.parent / "pages"
# (file in pages/, title, icon): the app's pages in the order the navigation lists them; the first
# is the start page, and every other page's address is its file name (pages/attention.py -> /attention).
PAGES = [
    ("home.py", "Start here", "🏠"),
    ("architecture.py", "Architecture", "🏗️"),
    ("tokens.py", "Tokens and embeddings", "🔤"),
    ("attention.py", "Attention", "👀"),
    ("layernorm.py", "LayerNorm", "📏"),
    ("feedforward.py", "Feed-forward and GELU", "⚡"),
    ("residual.py", "Residual stream and gradients", "🌊"),
    ("generate.py", "Generate", "✍️"),
    ("train.py", "Train", "🏋️"),
    ("compare.py", "Compare", "⚖️"),
    ("experiments.py", "Experiments", "🧪"),
    ("lessons.py", "Lessons", "🎓"),
    ("classroom.py", "Class", "🎯"),
    ("teacher.py", "Teacher's console", "🧑‍🏫"),
]
_HANDED_OVER = "_frame_handed_over"  # session key: a page hands over once, so it can never rerun forever
_frame = threading.local()  # per script thread: is app.py's frame running this page now?


# Each page's address: its file's name (pages/attention.py -> "attention"); the start page's is empty.
URL_PATHS = ["" if index == 0 else file[:-3] for index, (file, _, _) in enumerate(PAGES)]


def page_title(url_path: str) -> str:
    """'attention' -> 'Attention'; the start page's path is empty."""
    titles = {path: title for path, (_, title, _) in zip(URL_PATHS, PAGES, strict=True)}
    return titles.get(url_path, url_path or PAGES[0][1])


def app_pages() -> list[st.Page]:
    """The st.Page of every page, for app.py's navigation."""
    return [
        st.Page(PAGES_FOLDER / file, title=title, icon=icon, default=index == 0, url_path=URL_PATHS[index] or None)
        for index, (file, title, icon) in enumerate(PAGES)
    ]


def render_navigation(pages: list[st.Page]) -> None:
    """The sidebar's links to every page; the current one is highlighted."""
    with st.sidebar:
        for page in pages:
            st.page_link(page)
        st.divider()


@contextmanager
def app_frame() -> Iterator[None]:
    """app.py runs the chosen page inside this block."""
    st.session_state.pop(_HANDED_OVER, None)
    _frame.active = True
    try:
        yield
    finally:
        _frame.active = False


def ensure_app_frame() -> None:
    """A page's first line: if Streamlit ran the page on its own, rerun the same address (and query
    string) through app.py.

    ``st.navigation`` with the app's pages ends the pages-folder mode for the whole server; page
    ids come from url paths, so the rerun opens the same page, now inside the frame. A page started
    as its own script (``streamlit run pages/x.py``) hands over once and then runs unframed.
    """
    if getattr(_frame, "active", False) or st.session_state.get(_HANDED_OVER):
        return
    st.session_state[_HANDED_OVER] = True
    st.navigation(app_pages(), position="hidden")
    st.rerun()
