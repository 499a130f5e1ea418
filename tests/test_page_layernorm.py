"""The LayerNorm page through AppTest: statistics per token, histograms, scale/shift, the book's demo."""

import json

import numpy as np
from conftest import open_app_page
from streamlit.testing.v1 import AppTest

TINY = "tiny-seed123"


def open_page(model_id: str | None = None, prompt: str = "Every effort moves you") -> AppTest:
    return open_app_page("pages/layernorm.py", model_id, prompt)


# AppTest does not expose a dataframe's key, so frames are found by their order on the page.
TABLES = ["stats", "demo_out", "demo_out_stats", "demo_norm", "demo_norm_stats"]


def table(at: AppTest, name: str):
    return at.dataframe[TABLES.index(name)].value


def test_tiny_model_statistics_demo_and_widgets():
    at = open_page(TINY)
    assert not at.exception
    assert at.title[0].value == "LayerNorm"
    assert len(at.get("plotly_chart")) == 4  # norm1 stats, norm2 stats, histogram, scale/shift

    stats = table(at, "stats")
    assert len(stats) == 2 * 4 and set(stats["norm"]) == {"norm1", "norm2"}
    assert list(stats.columns) == [
        "norm",
        "position",
        "token",
        "mean before",
        "variance before",
        "mean after",
        "variance after",
    ]  # readable headers, not gptcore's snake_case
    np.testing.assert_allclose(stats["mean after"], 0, atol=1e-5)  # untrained: scale 1, shift 0
    assert (stats["variance after"] < 1).all() and (stats["variance after"] > 0.99999).all()  # six decimals
    captions = " ".join(caption.value for caption in at.caption)
    assert "a hair under 1" in captions
    low, high = stats["variance after"].min(), stats["variance after"].max()
    assert f"{low:.6f} to {high:.6f} here" in captions  # the caption quotes the table's numbers
    assert "1 + 1 = 2" in captions  # why the variance before is about 2

    # The book's numbers, computed live, with both divisors side by side.
    out_stats = table(at, "demo_out_stats")
    np.testing.assert_allclose(out_stats["mean"], [0.1324, 0.2170], atol=5e-5)
    np.testing.assert_allclose(out_stats["variance ÷ (n − 1)"], [0.0231, 0.0398], atol=5e-5)
    norm_stats = table(at, "demo_norm_stats")
    np.testing.assert_allclose(norm_stats["mean"], 0, atol=1e-6)
    spread = out_stats["variance ÷ n"].to_numpy()
    np.testing.assert_allclose(norm_stats["variance ÷ n"], spread / (spread + 1e-5), atol=1e-4)  # eps shows here
    np.testing.assert_allclose(norm_stats["variance ÷ (n − 1)"], norm_stats["variance ÷ n"] * 6 / 5, atol=2e-4)
    assert f"a variance of {norm_stats['variance ÷ n'].iloc[0]:.4f}" in " ".join(c.value for c in at.caption)
    assert any("Why two variances?" in markdown.value for markdown in at.markdown)

    at.selectbox(key="layernorm_layer_box").select(1).run()
    at.radio(key="layernorm_norm_box").set_value("norm2").run()
    assert not at.exception
    assert at.session_state["layernorm_layer"] == 1 and at.session_state["layernorm_norm"] == "norm2"
    assert any(header.value == "The learned scale and shift of norm2, layer 1" for header in at.subheader)
    histogram = json.loads(at.get("plotly_chart")[2].proto.spec)
    assert [trace["name"] for trace in histogram["data"]] == ["before the norm", "after the norm"]


def test_124m_model_layer_choice_is_clamped_for_the_tiny_model():
    at = open_page()
    assert not at.exception
    stats = table(at, "stats")
    assert len(stats) == 2 * 4
    assert (stats["variance before"] > 1.5).all()  # token + position embeddings, each of variance ~1
    at.selectbox(key="layernorm_layer_box").select(11).run()
    assert not at.exception
    at.session_state["model_id"] = TINY  # as the sidebar's model picker does
    at.run()
    assert not at.exception
    assert at.session_state["layernorm_layer"] == 1
