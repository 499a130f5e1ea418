import torch
from conftest import open_app_page
from streamlit.testing.v1 import AppTest

from gptcore import PRESETS, build_model, generate, get_tokenizer, token_labels

RESULT_KEY = "generate_steps_result"


def open_page(prompt: str, model_id: str | None = "tiny-seed123") -> AppTest:
    return open_app_page("pages/generate.py", model_id, prompt)


def generated_html(at: AppTest) -> str:
    return at.get("html")[0].proto.body


def test_greedy_run_matches_the_engine_and_survives_reruns():
    prompt = "Every effort moves you"
    at = open_page(prompt)
    assert not at.exception
    assert at.title[0].value == "Generate"
    assert not at.dataframe  # nothing generated yet
    at.number_input(key="generate_max_new_tokens").set_value(8).run()
    at.button(key="generate_button").click().run()
    assert not at.exception

    ids = get_tokenizer().encode(prompt)
    expected = generate(build_model(PRESETS["tiny"], seed=123), torch.tensor([ids]), 8, context_size=64)[
        0, len(ids) :
    ].tolist()
    table = at.dataframe[0].value
    assert table["token id"].tolist() == expected
    assert table["token"].tolist() == token_labels(expected)
    assert (table["rank"] == 1).all()
    assert generated_html(at).startswith("<pre")
    assert len(at.get("plotly_chart")) == 1

    at.slider(key="generate_step_slider").set_value(8).run()  # inspect the last step
    assert not at.exception
    assert at.dataframe[0].value["token id"].tolist() == expected  # a rerun keeps the result

    at.session_state["prompt"] = "Something else"
    at.run()
    assert not at.exception
    assert RESULT_KEY not in at.session_state  # a result for another prompt is discarded
    assert not at.dataframe


def test_sampling_with_filters_on_a_tricky_prompt_shows_it_literally():
    prompt = "<b>*stars*</b> # 🦙 <|endoftext|>"
    at = open_page(prompt)
    at.radio(key="generate_mode").set_value("sampling").run()
    at.slider(key="generate_temperature").set_value(1.5).run()
    at.select_slider(key="generate_top_k").set_value(3).run()
    at.select_slider(key="generate_top_p").set_value(0.9).run()
    at.number_input(key="generate_seed").set_value(7).run()
    at.number_input(key="generate_max_new_tokens").set_value(12).run()
    at.button(key="generate_button").click().run()
    assert not at.exception

    table = at.dataframe[0].value
    assert len(table) == 12
    assert (table["rank"] <= 3).all()  # top-k 3 never lets a fourth token through
    assert table["probability"].between(0, 1).all()
    assert "&lt;b&gt;*stars*&lt;/b&gt; # 🦙 &lt;|endoftext|&gt;" in generated_html(at)  # escaped, not rendered
    assert at.session_state[RESULT_KEY]["settings"].top_k == 3


def test_one_new_token_on_a_cropped_prompt():
    at = open_page("word " * 80)  # 80 tokens: more than the tiny model's 64-token context
    assert any("reads at most 64" in info.value for info in at.info)
    at.number_input(key="generate_max_new_tokens").set_value(1).run()
    at.button(key="generate_button").click().run()
    assert not at.exception
    assert len(at.dataframe[0].value) == 1
    assert "generate_step_slider" not in [slider.key for slider in at.slider]  # one step: its chart, no slider
    assert len(at.get("plotly_chart")) == 1


def test_default_book_model_writes_greedily():
    at = open_page("Hello, I am", model_id=None)
    at.number_input(key="generate_max_new_tokens").set_value(3).run()
    at.button(key="generate_button").click().run()
    assert not at.exception
    # the book's untrained model continues "Hello, I am" with "Featureiman Byeswick..."
    assert "Featureiman" in generated_html(at)
