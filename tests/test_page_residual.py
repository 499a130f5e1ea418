import json

import pytest
import streamlit as st
from conftest import open_app_page
from streamlit.testing.v1 import AppTest
from test_page_attention import heatmap_values

import ui.scheduler
from gptcore import get_tokenizer, lens

TITLE = "Residual stream and gradients"


def open_page(prompt: str, model_id: str | None = "tiny-seed123") -> AppTest:
    return open_app_page("pages/residual.py", model_id, prompt)


def test_tiny_model_shows_norms_lens_gradients_and_the_toy_experiment():
    at = open_page("Every effort moves you")
    assert not at.exception
    assert at.title[0].value == TITLE
    assert len(at.get("plotly_chart")) == 6  # norm heatmap and line, lens heatmap, two gradient charts, toy bars
    lens_table, toy_table = at.dataframe
    assert list(lens_table.value.index) == ["enters block 0", "enters block 1", "leaves block 1"]
    assert list(lens_table.value.columns) == ["top 1", "top 2", "top 3", "top 4", "top 5"]
    assert toy_table.value.shape == (5, 2)
    assert toy_table.value.loc[1, "shortcuts off"] < toy_table.value.loc[1, "shortcuts on"]  # the book's point
    assert [m.label for m in at.metric] == ["Loss, shortcuts on", "Loss, shortcuts off"]

    # The stream's gradient relative to the last block is drawn, and the text says what it shows and why
    # the weights' gradients are larger without shortcuts, with this prompt's numbers.
    relative = json.loads(at.get("plotly_chart")[3].proto.spec)["data"]
    assert [line["name"] for line in relative] == ["shortcuts on", "shortcuts off"]
    on = heatmap_values({"z": relative[0]["y"]})
    assert all(heatmap_values({"z": line["y"]})[-1] == pytest.approx(1.0) for line in relative)  # the unit
    explanation = next(m.value for m in at.markdown if m.value.startswith("**What the charts show.**"))
    assert f"{on[0]:.2f} × the one reaching block 1's" in explanation
    assert "LayerNorm divides its input by the input's standard deviation" in explanation
    assert not any("summed over the tokens" in caption.value for caption in at.caption)

    position = at.selectbox(key="residual_lens_position")
    assert position.value == 3  # the last token by default
    last_position_table = lens_table.value
    position.select(0).run()
    assert not at.exception
    first_position_table = at.dataframe[0].value
    assert first_position_table.shape == (3, 5)
    assert not first_position_table.equals(last_position_table)  # the table follows the chosen position


def test_one_token_prompt_explains_why_there_is_no_gradient_chart():
    at = open_page("<|endoftext|>")
    assert not at.exception
    assert any("at least two tokens" in info.value for info in at.info)
    assert len(at.get("plotly_chart")) == 4  # no gradient charts, everything else still there
    assert at.dataframe[0].value["top 1"].str.len().min() > 0


def test_long_emoji_prompt_on_the_tiny_model_is_cropped_without_errors():
    prompt = "🦙 llamas " * 30
    assert len(get_tokenizer().encode(prompt)) > 64
    at = open_page(prompt)
    assert not at.exception
    assert any("were dropped" in warning.value for warning in at.warning)
    assert len(at.get("plotly_chart")) == 6
    assert len(at.selectbox(key="residual_lens_position").options) == 64


def test_a_cropped_prompt_is_traced_once_and_reruns_reuse_the_cached_tables(monkeypatch):
    st.cache_data.clear()
    st.cache_resource.clear()
    calls = []

    def counting(name, function):
        def wrapper(*args, **kwargs):
            calls.append(name)
            return function(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(ui.scheduler, "trace_batch", counting("trace", ui.scheduler.trace_batch))
    monkeypatch.setattr(lens, "residual_norms", counting("norms", lens.residual_norms))
    monkeypatch.setattr(ui.scheduler, "read_lens_chunk", counting("lens", ui.scheduler.read_lens_chunk))
    prompt = "🐑 sheep graze " * 30
    assert len(get_tokenizer().encode(prompt)) > 64
    at = open_page(prompt)
    assert not at.exception
    assert len(at.selectbox(key="residual_lens_position").options) == 64
    # One trace shared by both pages, and no second one for the page's own tables.
    assert sorted(calls) == ["lens", "norms", "trace"]
    at.selectbox(key="residual_lens_position").select(0).run()
    assert not at.exception
    assert sorted(calls) == ["lens", "norms", "trace"]  # a rerun reads everything from the caches


def test_default_book_model_has_thirteen_stream_places():
    at = open_page("Every effort moves you", model_id=None)
    assert not at.exception
    assert at.title[0].value == TITLE
    lens_table = at.dataframe[0].value
    assert len(lens_table) == 13
    assert lens_table.index[-1] == "leaves block 11"


def test_a_long_prompt_reads_the_lens_in_the_window_and_gradients_from_its_start():
    prompt = " ".join(f"word{i}" for i in range(150))  # 300 tokens: longer than the 256-token window
    at = open_page(prompt, model_id=None)
    assert not at.exception
    n_tokens = len(get_tokenizer().encode(prompt))
    lens_heatmap = json.loads(at.get("plotly_chart")[2].proto.spec)["data"][0]
    assert len(lens_heatmap["x"]) == 256 and heatmap_values(lens_heatmap).shape == (13, 256)  # the last 256 tokens
    captions = " ".join(caption.value for caption in at.caption)
    assert "The lens reads only the 256 tokens shown" in captions
    assert f"first 256 of the prompt's {n_tokens} tokens" in captions
    position = at.selectbox(key="residual_lens_position")
    assert len(position.options) == 256 and position.value == n_tokens - 1  # positions of the window only
