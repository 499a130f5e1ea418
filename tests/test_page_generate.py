import torch
from conftest import open_app_page, open_linked_page
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
    at.number_input(key="generate_max_new_tokens_box").set_value(8).run()
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

    at.slider(key="generate_step_box").set_value(8).run()  # inspect the last step
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
    at.radio(key="generate_mode_box").set_value("sampling").run()
    at.slider(key="generate_temperature_box").set_value(1.5).run()
    at.number_input(key="generate_top_k_box").set_value(3).run()
    at.select_slider(key="generate_top_p_box").set_value(0.9).run()
    at.number_input(key="generate_seed_box").set_value(7).run()
    at.number_input(key="generate_max_new_tokens_box").set_value(12).run()
    at.button(key="generate_button").click().run()
    assert not at.exception

    table = at.dataframe[0].value
    assert len(table) == 12
    assert (table["rank"] <= 3).all()  # top-k 3 never lets a fourth token through
    assert table["probability"].between(0, 100).all()  # shown as percentages, like the charts
    assert "&lt;b&gt;*stars*&lt;/b&gt; # 🦙 &lt;|endoftext|&gt;" in generated_html(at)  # escaped, not rendered
    assert at.session_state[RESULT_KEY]["settings"].top_k == 3


def test_one_new_token_on_a_cropped_prompt():
    at = open_page("word " * 80)  # 80 tokens: more than the tiny model's 64-token context
    assert any("reads at most 64" in info.value for info in at.info)
    at.number_input(key="generate_max_new_tokens_box").set_value(1).run()
    at.button(key="generate_button").click().run()
    assert not at.exception
    assert len(at.dataframe[0].value) == 1
    assert "generate_step_box" not in [slider.key for slider in at.slider]  # one step: its chart, no slider
    assert len(at.get("plotly_chart")) == 1


def test_default_book_model_writes_greedily():
    at = open_page("Hello, I am", model_id=None)
    at.number_input(key="generate_max_new_tokens_box").set_value(3).run()
    at.button(key="generate_button").click().run()
    assert not at.exception
    # the book's untrained model continues "Hello, I am" with "Featureiman Byeswick..."
    assert "Featureiman" in generated_html(at)


def test_a_new_generation_shows_its_first_step():
    at = open_page("Every effort moves you")
    at.number_input(key="generate_max_new_tokens_box").set_value(6).run()
    at.button(key="generate_button").click().run()
    at.slider(key="generate_step_box").set_value(5).run()
    assert at.slider(key="generate_step_box").value == 5

    at.number_input(key="generate_max_new_tokens_box").set_value(4).run()
    at.button(key="generate_button").click().run()
    assert not at.exception
    step_slider = at.slider(key="generate_step_box")
    assert step_slider.value == 1  # the slider, not only the chart, is back at step 1
    assert step_slider.max == 4


def test_generation_settings_survive_a_visit_to_another_page():
    at = open_page("Every effort moves you")
    at.radio(key="generate_mode_box").set_value("sampling").run()
    at.slider(key="generate_temperature_box").set_value(1.5).run()
    at.number_input(key="generate_top_k_box").set_value(40).run()
    at.number_input(key="generate_max_new_tokens_box").set_value(5).run()
    at.button(key="generate_button").click().run()

    at.switch_page("pages/attention.py").run()
    at.switch_page("pages/generate.py").run()
    assert not at.exception
    assert at.radio(key="generate_mode_box").value == "sampling"
    assert at.slider(key="generate_temperature_box").value == 1.5
    assert at.number_input(key="generate_top_k_box").value == 40
    assert "sampling, temperature 1.5, top-k 40" in " ".join(caption.value for caption in at.caption)


def test_a_link_with_settings_and_a_step_opens_that_step():
    link = {"decoding": "sampling", "temperature": "0.7", "top_k": "5", "seed": "9", "tokens": "6", "step": "5"}
    at = open_linked_page("pages/generate.py", link)
    assert not at.exception
    assert at.radio(key="generate_mode_box").value == "sampling"
    assert at.slider(key="generate_temperature_box").value == 0.7
    assert at.number_input(key="generate_top_k_box").value == 5
    assert at.number_input(key="generate_seed_box").value == 9
    assert len(at.dataframe[0].value) == 6  # the link's generation ran by itself
    assert at.slider(key="generate_step_box").value == 5
    assert at.session_state[RESULT_KEY]["settings"].top_k == 5


def test_a_link_with_nonsense_values_falls_back_to_the_defaults():
    at = open_linked_page(
        "pages/generate.py", {"decoding": "chaos", "temperature": "hot", "top_k": "-3", "tokens": "99999"}
    )
    assert not at.exception
    assert at.radio(key="generate_mode_box").value == "greedy"
    assert at.slider(key="generate_temperature_box").value == 1.0
    assert at.number_input(key="generate_top_k_box").value == 0  # moved into range: off
    assert at.number_input(key="generate_max_new_tokens_box").value == 200
