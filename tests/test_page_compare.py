"""The Compare page through AppTest: two models side by side, shared layer/head choice, refusals."""

from __future__ import annotations

import html as html_module
import json

import numpy as np
import pytest
import torch
from conftest import open_app_page
from streamlit.testing.v1 import AppTest
from test_page_attention import heatmap_values

import ui
from gptcore import PRESETS, build_model, generate, get_tokenizer, hub, save_checkpoint
from gptcore.generation import split_generated_text
from gptcore.lens import logit_lens
from gptcore.normalization import layernorm_profile
from gptcore.trace import trace
from ui.tables import last_position_lens_frame, next_token_frame
from ui.widgets import clamp_index

TINY = "tiny-seed123"
BOOK = "book-124m-seed123"


@pytest.fixture(autouse=True)
def own_checkpoint_folder(tmp_path, monkeypatch):
    """Each test sees only the checkpoints it saves itself."""
    monkeypatch.setenv(ui.CHECKPOINTS_ENV, str(tmp_path / "checkpoints"))
    ui.refresh_checkpoints()
    yield tmp_path / "checkpoints"
    ui.refresh_checkpoints()


def open_page(model_id: str = TINY, prompt: str = "Every effort moves you") -> AppTest:
    return open_app_page("pages/compare.py", model_id, prompt)


def charts(at: AppTest) -> dict[str, dict]:
    return {chart.proto.id.rsplit("-", 1)[-1]: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}


def test_the_sidebar_model_beside_another_in_two_columns():
    at = open_page(TINY)
    assert not at.exception
    assert at.title[0].value == "Compare two models"
    assert at.session_state["compare_left_model"] == TINY  # the sidebar's model
    assert at.session_state["compare_right_model"] == BOOK  # no checkpoints: another untrained model
    figures = charts(at)
    assert sorted(figures) == [
        "compare_attention_0",
        "compare_attention_1",
        "compare_next_0",
        "compare_next_1",
        "compare_norms_0",
        "compare_norms_1",
    ]
    for side in (0, 1):
        weights = heatmap_values(figures[f"compare_attention_{side}"]["data"][0])
        assert weights.shape == (4, 4)
        assert np.isnan(weights[np.triu_indices(4, k=1)]).all()  # the future is masked
        np.testing.assert_allclose(np.nansum(weights, axis=1), 1, rtol=1e-5)
        bars = figures[f"compare_next_{side}"]["data"][0]
        assert len(bars["y"]) == 10 and bars["y"][0].startswith("#1 ")
    lens_tiny, lens_book = (frame.value for frame in at.dataframe)
    assert len(lens_tiny) == 2 + 1 and len(lens_book) == 12 + 1  # one row per place in the stream
    assert lens_book["stream"].iloc[-1] == "leaves block 11"


def test_a_layer_and_head_the_smaller_model_lacks_are_clamped_for_it():
    at = open_page(TINY)
    at.selectbox(key="compare_layer_box").select(11).run()
    at.selectbox(key="compare_head_box").select(10).run()
    assert not at.exception
    shown = [
        markdown.value for markdown in at.markdown if markdown.value.startswith("**") and "**: layer " in markdown.value
    ]
    assert shown == [
        "**Tiny GPT, untrained (2 layers, 4 heads)**: layer 1, head 3",
        "**GPT-2 124M, untrained (seed 123)**: layer 11, head 10",
    ]
    assert any("This model has 2 layers of 4 heads" in caption.value for caption in at.caption)
    at.switch_page("pages/home.py").run()
    at.switch_page("pages/compare.py").run()
    assert at.session_state["compare_layer"] == 11  # kept across a page switch


def test_two_checkpoints_side_by_side(own_checkpoint_folder):
    for seed in (1, 2):
        save_checkpoint(
            build_model(PRESETS["tiny"], seed=seed),
            own_checkpoint_folder / f"tiny-{seed}.safetensors",
            source=f"untrained, seed {seed}",
            seed=seed,
        )
    ui.refresh_checkpoints()
    at = AppTest.from_file("../app.py", default_timeout=120)
    at.session_state["model_id"] = TINY
    at.session_state["compare_left_model"] = "checkpoint:tiny-1.safetensors"
    at.session_state["compare_right_model"] = "checkpoint:tiny-2.safetensors"
    at.run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception
    names = [markdown.value for markdown in at.markdown if markdown.value.startswith("**checkpoint tiny-")]
    assert names[:2] == ["**checkpoint tiny-1.safetensors**", "**checkpoint tiny-2.safetensors**"]  # continuations
    assert names[2:4] == [
        "**checkpoint tiny-1.safetensors**: layer 0, head 0",
        "**checkpoint tiny-2.safetensors**: layer 0, head 0",
    ]
    first, second = (frame.value for frame in at.dataframe)
    assert len(first) == len(second) == 3
    assert not np.allclose(first["probability"], second["probability"])  # different weights, different lens

    # Each column writes its greedy continuation, as the engine writes it for that model.
    written = [element.proto.body for element in at.get("html")]
    for seed, html in zip((1, 2), written, strict=True):
        ids = get_tokenizer().encode("Every effort moves you")
        model = build_model(PRESETS["tiny"], seed=seed)
        new_ids = generate(model, torch.tensor([ids]), 20, context_size=64)[0, len(ids) :].tolist()
        continuation = split_generated_text(ids, new_ids)[1]
        assert html_module.escape(continuation) in html
    captions = " ".join(caption.value for caption in at.caption)
    assert str(own_checkpoint_folder) not in captions  # no server path shown to students
    assert "3.2M parameters, or 1.6M counted as GPT-2" in captions  # as Train counts it, and as GPT-2 sizes are


def test_a_model_not_downloaded_leaves_the_other_column_working(monkeypatch):
    monkeypatch.setattr(hub, "find_local", lambda name, cache_dir=None: None)
    at = AppTest.from_file("../app.py", default_timeout=120)
    at.session_state["model_id"] = TINY
    at.session_state["compare_right_model"] = "pretrained-gpt2-medium"
    at.run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception
    assert any("GPT-2 355M's weights are not on this server yet" in info.value for info in at.info)
    assert sorted(charts(at)) == ["compare_attention_0", "compare_next_0", "compare_norms_0"]


def test_models_or_traces_that_would_not_fit_in_memory_are_refused(free_memory):
    free_memory(1_000)
    at = open_page(TINY)
    assert not at.exception
    assert len(at.error) == 2 and all("needs about" in error.value for error in at.error)
    assert not at.get("plotly_chart")


def test_the_same_model_twice_gets_a_hint():
    at = AppTest.from_file("../app.py", default_timeout=120)
    at.session_state["model_id"] = TINY
    at.session_state["compare_right_model"] = TINY
    at.run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception
    assert any("Both columns show the same model" in info.value for info in at.info)


@pytest.mark.parametrize("prompt", ["", "🦙🦙 ¿Qué tal? 你好", "<|endoftext|>", "one two three four " * 30])
def test_awkward_prompts_render(prompt):
    at = open_page(TINY, prompt=prompt)
    assert not at.exception, at.exception
    if not prompt:
        assert any("Type a prompt" in info.value for info in at.info)
    else:
        assert len(at.get("plotly_chart")) == 6


def test_compare_summaries(tiny_model, tokenizer):
    t = trace(tiny_model, tokenizer.encode("Every effort moves you"))
    top = next_token_frame(t, k=5)
    np.testing.assert_allclose(top["probability"].iloc[0], t.probabilities(-1).max())
    assert top["probability"].is_monotonic_decreasing
    lens = last_position_lens_frame(*logit_lens(tiny_model, t, k=1, positions=slice(-1, None)))
    assert lens["token id"].iloc[-1] == int(np.argmax(t.logits[-1]))  # the last place is the real prediction
    profile = layernorm_profile(t)
    assert profile["place"].tolist() == [
        "block 0 norm1",
        "block 0 norm2",
        "block 1 norm1",
        "block 1 norm2",
        "final norm",
    ]
    assert profile["variance"].iloc[0] == pytest.approx(float(t.layer("norm1_var", 0).mean()))
    assert [clamp_index(i, 4) for i in (-1, 0, 3, 11)] == [0, 0, 3, 3]
    with pytest.raises(ValueError, match="nothing to choose"):
        clamp_index(0, 0)
