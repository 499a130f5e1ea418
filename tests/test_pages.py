"""Every page, through Streamlit's AppTest: no exceptions, shared state kept across pages."""

import pytest
from streamlit.testing.v1 import AppTest

from gptcore import get_tokenizer
from ui.frame import PAGES as APP_PAGES

PAGES = [f"pages/{file}" for file, _, _ in APP_PAGES]
TINY = "tiny-seed123"
# Pages that read no sidebar prompt: the architecture, training on a text, lessons and the class's pages
PROMPTLESS_PAGES = (
    "pages/architecture.py",
    "pages/train.py",
    "pages/lessons.py",
    "pages/classroom.py",
    "pages/teacher.py",
)


def app(model_id: str | None = None, prompt: str | None = None) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=180)
    if model_id:
        at.session_state["model_id"] = model_id
    if prompt is not None:
        at.session_state["prompt"] = prompt
    return at


def page_title(at: AppTest) -> str:
    return at.title[0].value if at.title else ""


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_the_tiny_model(page):
    at = app(TINY).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    assert page_title(at)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_the_default_124m_model(page):
    at = app().run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    assert at.session_state["model_id"] == "book-124m-seed123"


def test_the_sidebar_tells_students_the_model_is_untrained():
    at = app().run()
    assert any("Untrained model" in w.value for w in at.sidebar.warning)


def test_prompt_survives_a_page_switch_and_is_in_the_url():
    at = app(TINY).run()
    at.sidebar.text_area[0].input("The quick brown fox").run()
    assert at.session_state["prompt"] == "The quick brown fox"
    assert at.query_params["prompt"] in ("The quick brown fox", ["The quick brown fox"])
    for page in ("pages/attention.py", "pages/generate.py", "pages/home.py"):
        at.switch_page(page).run()
        assert at.session_state["prompt"] == "The quick brown fox"
        assert at.sidebar.text_area[0].value == "The quick brown fox"
    assert "quick" in at.markdown[1].value  # the start page lists the prompt's tokens


def test_a_shared_link_opens_its_prompt_and_model():
    at = AppTest.from_file("../app.py", default_timeout=180)
    at.query_params["prompt"] = "Shared in class"
    at.query_params["model"] = TINY
    at.run()
    assert at.session_state["prompt"] == "Shared in class"
    assert at.session_state["model_id"] == TINY
    assert not at.exception


def test_an_unknown_model_in_the_link_falls_back_to_the_default():
    at = AppTest.from_file("../app.py", default_timeout=180)
    at.query_params["model"] = "gpt-17"
    at.run()
    assert at.session_state["model_id"] == "book-124m-seed123"
    assert not at.exception


@pytest.mark.parametrize("page", PAGES)
def test_empty_prompt_gives_a_hint_not_a_traceback(page):
    at = app(TINY, prompt="").run()
    at.switch_page(page).run()
    assert not at.exception
    if page not in PROMPTLESS_PAGES:
        assert any("Type a prompt" in i.value for i in at.info)


@pytest.mark.parametrize(
    "prompt", ["🦙🦙 llamas? ¿Qué tal? 你好", "<|endoftext|>The end<|endoftext|>", "*bold* #heading _x_", " ", "a"]
)
@pytest.mark.parametrize("page", PAGES)
def test_awkward_prompts_render_everywhere(page, prompt):
    at = app(TINY, prompt=prompt).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception


def test_a_prompt_longer_than_the_context_is_cropped_with_a_notice():
    prompt = "one two three four " * 30
    n_tokens = len(get_tokenizer().encode(prompt))  # about 120; the tiny model reads 64
    at = app(TINY, prompt=prompt).run()
    at.switch_page("pages/attention.py").run()
    assert not at.exception
    assert any(f"first {n_tokens - 64} tokens were dropped" in w.value for w in at.warning)


def test_the_sidebar_picker_switches_model_and_keeps_the_prompt():
    at = app(prompt="Switch me").run()
    at.sidebar.selectbox[0].select(TINY).run()
    assert at.session_state["model_id"] == TINY
    assert at.session_state["prompt"] == "Switch me"
    assert at.query_params["model"] in (TINY, [TINY])
    assert not at.exception


def test_switching_model_mid_session_keeps_the_page_and_clamps_choices():
    at = app(prompt="Switch me").run()
    at.switch_page("pages/attention.py").run()
    at.session_state["attention_layer"] = 11  # the 124M model's last layer
    at.run()
    at.sidebar.selectbox[0].select(TINY).run()
    assert not at.exception
    assert at.session_state["model_id"] == TINY
    assert at.title[0].value == "Attention"
    assert at.session_state["prompt"] == "Switch me"
    assert at.session_state["attention_layer"] == 1  # the tiny model's last layer


def test_a_very_long_prompt_stays_out_of_the_link():
    at = app(TINY).run()
    at.sidebar.text_area[0].input("word " * 600).run()  # 3,000 characters
    assert not at.exception
    assert "prompt" not in at.query_params
    at.sidebar.text_area[0].input("short again").run()
    assert at.query_params["prompt"] in ("short again", ["short again"])


def test_a_trace_that_would_not_fit_in_memory_is_refused(free_memory):
    free_memory(1_000)
    at = app(TINY, prompt="Too big for this server").run()
    at.switch_page("pages/attention.py").run()
    assert not at.exception
    assert any("Reading 5 tokens needs about" in e.value and "shorter prompt" in e.value for e in at.error)
