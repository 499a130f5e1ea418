"""End to end in a real browser: `streamlit run app.py` on a loopback port, driven by Debian's Chromium.

One app server and one Chromium profile serve the whole module; every test opens its own tab, which
Streamlit treats as a new session. The generate and attention paths run on the default model (the
book's untrained 124M, what a class sees first) and compare what the browser shows with the same
model run here in the test process. A screenshot of every page lands in test-output/screenshots/.

There is no skip: without Playwright or Chromium these tests fail, since then nothing checks the app
as students see it. Playwright's own browser download is never used (see bench/appserver.py).
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from playwright.sync_api import Page

from bench.appserver import PAGES, ROOT, running_app, wait_until_rendered
from gptcore import generate_steps, trace
from gptcore.generation import split_generated_text
from gptcore.heads import masked_pattern
from ui.catalog import DEFAULT_MODEL_ID
from ui.widgets import labels as axis_labels

OUTPUT_DIR = ROOT / "test-output"
SCREENSHOT_DIR = OUTPUT_DIR / "screenshots"
TINY_MODEL_ID = "tiny-seed123"  # 2 layers, 4 heads: quick where the default model is not the point

MAIN = "[data-testid='stMain']"
EXCEPTION = "[data-testid='stException']"
ERROR_ALERT = "[data-testid='stAlertContentError']"


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    OUTPUT_DIR.mkdir(exist_ok=True)
    with running_app(log_path=OUTPUT_DIR / "streamlit.log") as url:
        yield url


# --- helpers -----------------------------------------------------------------------------------


def link(url: str, path: str, **query: str) -> str:
    return f"{url}/{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")


def query_param(page: Page, name: str) -> str | None:
    values = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query).get(name)
    return values[0] if values else None


def type_prompt(page: Page, prompt: str) -> None:
    """Type into the sidebar's Prompt box the way a student does, and commit it with Ctrl+Enter."""
    box = page.get_by_role("textbox", name="Prompt")
    box.click()
    box.fill(prompt)
    box.press("Control+Enter")
    # The app mirrors the committed prompt in the address bar; wait for that, then for the rerun.
    page.wait_for_function("p => new URLSearchParams(location.search).get('prompt') === p", arg=prompt)
    wait_until_rendered(page, scroll=False)


def choose(page: Page, label: str, option: str) -> None:
    """Pick an option of a st.selectbox by its label, with the mouse."""
    page.locator(f"{MAIN} input[aria-label='{label}']").click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_until_rendered(page, scroll=False)


def headings(page: Page) -> list[str]:
    return [text.strip() for text in page.locator(f"{MAIN} [data-testid='stHeading']").all_text_contents()]


def tick_labels(page: Page, chart_key: str, axis: str = "x") -> list[str]:
    """An axis's tick labels in the order a reader sees them: left to right, or top to bottom."""
    ticks = page.evaluate(
        """([selector, axis]) => [...document.querySelectorAll(selector)].map(tick => {
            const box = tick.getBoundingClientRect();
            return [axis === 'x' ? box.left + box.width / 2 : box.top + box.height / 2, tick.textContent];
        })""",
        [f".st-key-{chart_key} .{axis}tick text", axis],
    )
    return [text for _, text in sorted(ticks)]


def heatmap_values(page: Page, chart_key: str, field: str = "z") -> np.ndarray:
    """A chart's first trace's z matrix (or another field, e.g. customdata), as the browser's Plotly holds it."""
    z = page.evaluate(f"document.querySelector('.st-key-{chart_key} .js-plotly-plot').data[0].{field}")
    if isinstance(z, dict):  # Plotly's compact form: base64 bytes with a dtype and a shape
        shape = [int(n) for n in str(z["shape"]).split(",")]
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=np.dtype(z["dtype"])).reshape(shape)
    return np.array(z, dtype=np.float64)


def assert_no_errors_shown(page: Page) -> None:
    assert page.locator(EXCEPTION).count() == 0, f"{page.url} shows an exception:\n" + "\n".join(
        page.locator(EXCEPTION).all_inner_texts()
    )
    assert page.locator(ERROR_ALERT).count() == 0, f"{page.url} shows an error:\n" + "\n".join(
        page.locator(ERROR_ALERT).all_inner_texts()
    )


def save_screenshot(page: Page, name: str) -> None:
    """The whole page: Streamlit scrolls inside its main element, so grow the window to its height first."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    viewport = page.viewport_size
    height = page.evaluate(f'document.querySelector("{MAIN}").scrollHeight')
    page.set_viewport_size({"width": viewport["width"], "height": min(max(height, viewport["height"]), 12_000)})
    page.wait_for_timeout(700)  # let Plotly finish its resize
    page.screenshot(path=str(SCREENSHOT_DIR / f"{name}.png"), full_page=True)
    page.set_viewport_size(viewport)


# A recorder for what Streamlit streams into the Generate page: every distinct state of the live
# text's generated part and of the progress bar's label, caught by a MutationObserver, so that no
# intermediate state is missed however quickly the tokens arrive.
RECORD_STREAM = """() => {
    window.streamedTexts = [];
    window.progressLabels = [];
    const remember = (list, value) => { if (value && list[list.length - 1] !== value) list.push(value); };
    new MutationObserver(() => {
        for (const pre of document.querySelectorAll("[data-testid='stMain'] pre")) {
            const parts = pre.querySelectorAll(':scope > span');
            if (parts.length === 2) remember(window.streamedTexts, parts[1].textContent);
        }
        const progress = document.querySelector("[data-testid='stProgress']");
        if (progress) remember(window.progressLabels, progress.textContent.trim());
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


# Every link text the sidebar shows at any moment, from the page's very first frame.
RECORD_NAVIGATION = """(() => {
    window.navigationSeen = new Set();
    new MutationObserver(() => {
        for (const link of document.querySelectorAll("[data-testid='stSidebar'] a")) {
            window.navigationSeen.add(link.textContent.trim());
        }
    }).observe(document, {subtree: true, childList: true, characterData: true});
})()"""
# What Streamlit's pages-folder navigation would list: the scripts' file names.
FILE_NAMES = {"app", *(Path(path).stem for path in PAGES if path), "home"}


# --- tests -------------------------------------------------------------------------------------


def test_generate_streams_tokens_and_draws_the_probability_chart(app_url, open_tab, book_model, tokenizer):
    prompt = "The quick brown fox jumps over"
    new_tokens = 8
    page = open_tab()
    page.goto(link(app_url, "generate"))
    wait_until_rendered(page, scroll=False)
    assert query_param(page, "model") == DEFAULT_MODEL_ID
    type_prompt(page, prompt)
    assert "Nothing generated yet" in page.locator(MAIN).inner_text()

    count = page.get_by_role("spinbutton", name="New tokens")
    count.fill(str(new_tokens))
    count.press("Enter")
    wait_until_rendered(page, scroll=False)
    assert count.input_value() == str(new_tokens)

    page.evaluate(RECORD_STREAM)
    page.get_by_role("button", name="Generate").click()
    wait_until_rendered(page)
    assert_no_errors_shown(page)

    # What the model wrote, worked out here with the same model, prompt and greedy decoding.
    ids = tokenizer.encode(prompt)
    steps = list(generate_steps(book_model, torch.tensor([ids]), new_tokens, context_size=1024, temperature=0.0))
    _, expected = split_generated_text([], [step.token_id for step in steps])
    assert expected.strip(), "the model wrote only whitespace: pick another prompt for this test"

    # Streamed: the live text grew token by token while the progress bar counted up.
    streamed: list[str] = page.evaluate("window.streamedTexts")
    progress: list[str] = page.evaluate("window.progressLabels")
    assert len(streamed) >= 3, f"the text did not grow in steps: {streamed}"
    assert [len(text) for text in streamed] == sorted(len(text) for text in streamed), streamed
    assert streamed[-1] == expected
    counted = [int(m.group(1)) for label in progress if (m := re.fullmatch(rf"Token (\d+) of {new_tokens}", label))]
    # A fast machine may replace the last label before the observer sees it: count up, never past the end.
    assert len(counted) >= 3 and counted == sorted(counted) and counted[-1] <= new_tokens, progress

    # Finished: the whole text (prompt, then what was written), the step chart and its caption.
    texts = page.locator(f"{MAIN} pre").all_text_contents()
    assert prompt + expected in texts
    main_text = page.locator(MAIN).inner_text()
    assert f"the {new_tokens} tokens the model wrote" in main_text
    chart = page.locator(".st-key-generate_step_chart .js-plotly-plot")
    assert chart.count() == 1
    assert chart.locator(".gtitle").text_content().startswith("Step 1: chose ")
    bars = page.evaluate("document.querySelector('.st-key-generate_step_chart .js-plotly-plot').data[0].y")
    assert isinstance(bars, list) and len(bars) == 10  # "Candidates shown per step" defaults to 10
    assert page.locator(f"{MAIN} [data-testid='stDataFrame']").count() == 1
    save_screenshot(page, "flow-generate")


def test_attention_heatmap_follows_the_prompt_layer_and_head(app_url, open_tab, book_model, tokenizer):
    prompt = "Every student reads the same"
    ids = tokenizer.encode(prompt)
    expected_labels = axis_labels(ids)
    model_trace = trace(book_model, ids)

    page = open_tab()
    page.goto(app_url)
    wait_until_rendered(page, scroll=False)
    type_prompt(page, prompt)
    # Move on through the sidebar, as a student would: the prompt stays with the session.
    page.get_by_test_id("stSidebar").get_by_role("link", name="Attention", exact=True).click()
    page.wait_for_url(re.compile(r"/attention"))
    wait_until_rendered(page)
    assert_no_errors_shown(page)
    assert query_param(page, "prompt") == prompt

    for chart in ("attention_scores_chart", "attention_weights_chart"):
        assert tick_labels(page, chart, "x") == expected_labels
        assert tick_labels(page, chart, "y") == expected_labels
    assert "Layer 0, head 0" in headings(page)
    first = heatmap_values(page, "attention_weights_chart", "customdata")  # z: each row's share of its largest
    np.testing.assert_allclose(first, masked_pattern(model_trace.attention(0)[0]), atol=1e-6)

    choose(page, "Layer", "layer 5")
    choose(page, "Head", "head 7")
    wait_until_rendered(page)
    assert_no_errors_shown(page)
    shown = headings(page)
    assert "Layer 5, head 7" in shown and "All 12 heads of layer 5" in shown and "Per-head summary, layer 5" in shown
    assert tick_labels(page, "attention_weights_chart", "x") == expected_labels  # still the same prompt
    chosen = heatmap_values(page, "attention_weights_chart", "customdata")
    np.testing.assert_allclose(chosen, masked_pattern(model_trace.attention(5)[7]), atol=1e-6)
    assert not np.allclose(chosen, first, equal_nan=True)
    scores = heatmap_values(page, "attention_scores_chart")
    np.testing.assert_allclose(scores, masked_pattern(model_trace.scores(5)[7]), atol=1e-4)
    save_screenshot(page, "flow-attention-layer5-head7")


def test_presenter_mode_on_a_projector_at_150_percent_keeps_every_label_and_its_size(app_url, open_tab, tokenizer):
    prompt = "Every effort moves you toward the light of the morning sun"
    page = open_tab()
    page.set_viewport_size({"width": 853, "height": 480})  # a 1280 x 720 projector at 150 % zoom, in CSS pixels
    page.goto(link(app_url, "attention", model=TINY_MODEL_ID, prompt=prompt, present="1", head="1"))
    wait_until_rendered(page)
    assert_no_errors_shown(page)
    labels = axis_labels(tokenizer.encode(prompt))
    for chart in ("attention_scores_chart", "attention_weights_chart"):
        assert tick_labels(page, chart, "x") == labels  # every token labelled, none dropped for lack of room
        width = page.evaluate(
            f"document.querySelector('.st-key-{chart} .js-plotly-plot').getBoundingClientRect().width"
        )
        assert width > 700  # stacked, each heatmap as wide as the page, not two strips side by side
    tick_size = page.evaluate(
        "getComputedStyle(document.querySelector('.st-key-attention_weights_chart .xtick text')).fontSize"
    )
    assert tick_size == "17px"
    assert "Layer 0, head 1" in headings(page)  # the link's view came along
    save_screenshot(page, "presenter-150-percent-attention")


def test_clicking_a_cell_of_the_head_importance_map_switches_that_head_off(app_url, open_tab):
    page = open_tab()
    page.goto(link(app_url, "experiments", model=TINY_MODEL_ID, prompt="Every effort moves you"))
    wait_until_rendered(page)
    assert_no_errors_shown(page)
    cells = page.locator(".st-key-exp_importance .js-plotly-plot .nsewdrag").first
    cells.scroll_into_view_if_needed()  # a click lands only inside the window
    grid = cells.bounding_box()
    # The tiny model's map is 2 layers x 4 heads: the centre of layer 1, head 2.
    page.mouse.click(grid["x"] + grid["width"] * 2.5 / 4, grid["y"] + grid["height"] * 1.5 / 2)
    page.wait_for_function("location.search.includes('edits=h1.2')")  # the address changes in place
    wait_until_rendered(page)
    assert_no_errors_shown(page)
    assert "head 2 of layer 1" in page.locator(".st-key-exp_heads").inner_text()
    save_screenshot(page, "experiments-after-a-click")


def test_shared_link_opens_the_same_prompt(app_url, open_tab, tokenizer):
    # Two lines, non-ASCII letters and URL-special characters: all must survive the trip through the address.
    prompt = "Ünïcode & 50% of\nthe words = fine?"
    page = open_tab()
    page.goto(link(app_url, "attention", model=TINY_MODEL_ID))
    wait_until_rendered(page, scroll=False)
    type_prompt(page, prompt)
    shared = page.url
    assert query_param(page, "prompt") == prompt
    assert query_param(page, "model") == TINY_MODEL_ID

    other = open_tab()  # a new tab is a new session: nothing but the link carries the prompt
    other.goto(shared)
    wait_until_rendered(other)
    assert_no_errors_shown(other)
    assert other.get_by_role("textbox", name="Prompt").input_value() == prompt
    n_tokens = len(tokenizer.encode(prompt))
    assert f"{n_tokens} tokens" in other.get_by_test_id("stSidebar").inner_text()
    assert tick_labels(other, "attention_weights_chart") == axis_labels(tokenizer.encode(prompt))
    assert "All 4 heads of layer 0" in headings(other)  # the tiny model came along too
    save_screenshot(other, "flow-shared-link")


@pytest.mark.parametrize("path", PAGES, ids=[path or "home" for path in PAGES])
def test_every_page_renders_without_errors(app_url, open_tab, path):
    page = open_tab()
    page.goto(link(app_url, path, prompt="Every effort moves you", model=DEFAULT_MODEL_ID))
    wait_until_rendered(page)
    # The page asked for is the one shown (an unknown path would fall back to the start page, "/").
    assert urllib.parse.urlsplit(page.url).path == f"/{path}"
    assert page.locator("[role='dialog']").count() == 0  # no "page not found"
    assert page.locator(f"{MAIN} h1").count() >= 1, "the page has no title"
    assert_no_errors_shown(page)
    save_screenshot(page, path or "home")


@pytest.mark.parametrize("path", ["", "attention"], ids=["start page", "shared link"])
def test_a_fresh_server_shows_the_apps_navigation_from_its_first_frame(open_tab, path):
    prompt = "Every effort moves you"
    with running_app() as fresh_url:  # nobody has opened a page on it yet
        page = open_tab()
        page.add_init_script(RECORD_NAVIGATION)
        page.goto(link(fresh_url, path, prompt=prompt, model=TINY_MODEL_ID))
        wait_until_rendered(page)
        seen = set(page.evaluate("[...window.navigationSeen]"))
        assert not seen & FILE_NAMES, f"the pages-folder menu showed: {sorted(seen & FILE_NAMES)}"
        assert any("Start here" in text for text in seen) and any("Attention" in text for text in seen), seen
        assert urllib.parse.urlsplit(page.url).path == f"/{path}"
        assert page.get_by_role("textbox", name="Prompt").input_value() == prompt  # the frame ran: the sidebar is there
        assert page.locator("[role='dialog']").count() == 0  # no "page not found"
        assert_no_errors_shown(page)


def test_server_logged_no_tracebacks(app_url):
    """Runs last: an exception in a callback or a worker thread reaches the server's log, not the page."""
    log = (OUTPUT_DIR / "streamlit.log").read_text(errors="replace")
    assert "Traceback" not in log, log[log.index("Traceback") :][:4000]
