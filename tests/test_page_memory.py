"""What a page leaves behind: once its run is over, only the shared cache may keep the prompt's trace.

A trace of a pasted paragraph is over a GB. Streamlit keeps what a page hands it beyond the run
(a widget's format_func for the session's life, a download's data function), and a function written
in a page holds the page's globals, and so the trace. Twelve students, one after another, each kept
their own trace alive that way until the server ran out of memory.
"""

import gc
import weakref

import pytest

import ui
from gptcore import get_tokenizer
from tests.conftest import open_app_page

TINY = "tiny-seed123"
PROMPT = "A long pasted paragraph about the river, the bridge and the town on its far bank"
TRACE_PAGES = [
    "pages/home.py",
    "pages/tokens.py",
    "pages/attention.py",
    "pages/layernorm.py",
    "pages/feedforward.py",
    "pages/residual.py",
    "pages/compare.py",
]


@pytest.mark.parametrize("page", TRACE_PAGES)
def test_a_page_keeps_no_trace_alive_once_the_cache_lets_it_go(page):
    ui.clear_caches()
    at = open_app_page(page, TINY, PROMPT)
    assert not at.exception, at.exception
    key = (TINY, tuple(get_tokenizer().encode(PROMPT)))
    assert key in ui.TRACES
    trace = weakref.ref(ui.TRACES.get_or_compute(key, lambda: pytest.fail("the page traced the prompt")))
    ui.TRACES.clear()
    gc.collect()
    assert trace() is None, f"{page} still holds the trace after its run, while the session ({at}) lives on"


def test_a_download_given_a_page_function_is_refused():
    import functools

    def page_function() -> str:
        return "data"

    page_function.__module__ = "__main__"  # as Streamlit runs a page
    with pytest.raises(TypeError, match="keep the page's trace in memory"):
        ui.download("CSV", page_function, "x.csv")
    with pytest.raises(TypeError):
        ui.download("CSV", functools.partial(page_function), "x.csv")
