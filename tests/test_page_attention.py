"""The Attention page through AppTest: layer/head choice, masked heatmaps, summaries, both models."""

import base64
import json

import numpy as np
from conftest import open_app_page, open_linked_page
from streamlit.testing.v1 import AppTest

TINY = "tiny-seed123"


def open_page(model_id: str | None = None, prompt: str = "Every effort moves you") -> AppTest:
    return open_app_page("pages/attention.py", model_id, prompt)


def charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def heatmap_values(trace: dict) -> np.ndarray:
    """A heatmap's z as an array: plotly ships NumPy arrays base64-encoded, lists as plain JSON."""
    z = trace["z"]
    if isinstance(z, dict):
        values = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"])
        return values.reshape([int(n) for n in str(z["shape"]).split(",")]) if "shape" in z else values
    return np.array(z, dtype=float)


def test_tiny_model_heatmaps_mask_the_future_and_follow_the_chosen_head():
    at = open_page(TINY)
    assert not at.exception
    assert at.title[0].value == "Attention"
    figures = charts(at)
    assert len(figures) == 4  # scores, weights, the layer's heads, the layers x heads grid
    scores, weights = figures[0]["data"][0], figures[1]["data"][0]
    assert scores["y"] == ["0:Every", "1:␣effort", "2:␣moves", "3:␣you"]
    future = np.triu(np.ones((4, 4), dtype=bool), k=1)
    for heatmap in (scores, weights):
        values = heatmap_values(heatmap)
        assert np.isnan(values[future]).all() and np.isfinite(values[~future]).all()  # the mask drawn blank
    actual = heatmap_values({"z": weights["customdata"]})  # each row coloured by its share of its largest
    np.testing.assert_allclose(np.nansum(actual, axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(np.nanmax(heatmap_values(weights), axis=1), 1, rtol=1e-6)
    rings = figures[1]["data"][1]  # each row's strongest key, ringed
    assert rings["x"] == [weights["x"][int(np.nanargmax(row))] for row in actual]
    sentence = next(m.value for m in at.markdown if m.value.startswith("The last token,"))
    assert f"looks most at `{rings['x'][-1]}`: weight {np.nanmax(actual[-1]):.3f}" in sentence
    assert any("␣ stands for a space" in caption.value for caption in at.caption)

    at.radio(key="attention_row_scaled_box").set_value(False).run()  # one scale: z is the weight itself
    one_scale = charts(at)[1]["data"][0]
    np.testing.assert_allclose(heatmap_values(one_scale), actual, rtol=1e-6)
    assert one_scale["zmax"] == np.nanmax(actual)
    assert at.query_params["rows"] in ("False", ["False"])
    assert at.dataframe[0].value["head"].tolist() == [0, 1, 2, 3]

    at.selectbox(key="attention_layer_box").select(1).run()
    at.selectbox(key="attention_head_box").select(3).run()
    assert not at.exception
    assert at.session_state["attention_layer"] == 1 and at.session_state["attention_head"] == 3
    assert any(header.value == "Layer 1, head 3" for header in at.subheader)

    at.selectbox(key="attention_statistic_box").select("prev_token").run()
    at.toggle(key="attention_show_glance").set_value(True).run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 5
    summary = at.dataframe[0].value
    assert summary["prev_token"].between(0, 1).all()
    assert (summary["entropy"] <= summary["uniform_entropy"] + 1e-9).all()


def test_124m_model_choice_is_kept_and_clamped_when_the_model_shrinks():
    at = open_page()
    assert not at.exception
    assert len(at.dataframe[0].value) == 12  # 12 heads in the 124M model
    at.selectbox(key="attention_layer_box").select(11).run()
    at.selectbox(key="attention_head_box").select(10).run()
    at.switch_page("pages/home.py").run()
    at.switch_page("pages/attention.py").run()
    assert at.selectbox(key="attention_layer_box").value == 11  # survives a page switch

    # Switch model as the sidebar's callback does (AppTest loses the sidebar after switch_page).
    at.session_state["model_id"] = TINY
    at.run()
    assert not at.exception
    assert at.session_state["attention_layer"] == 1 and at.session_state["attention_head"] == 3
    assert at.selectbox(key="attention_head_box").value == 3


def test_one_token_prompt_explains_there_is_nothing_to_compare():
    at = open_page(TINY, prompt="Hi")
    assert not at.exception
    assert any("single token" in info.value for info in at.info)


def test_long_prompt_is_shown_through_a_window_on_the_124m_model():
    at = open_page(prompt=("one two three four " * 30).strip())  # 120 tokens: more than a heatmap shows (96)
    assert not at.exception
    weights = charts(at)[1]["data"][0]
    assert len(weights["y"]) == 96 and weights["y"][-1] == "119:␣four"  # the window ends at the last token
    at.slider(key="attention_window_start").set_value(0).run()
    assert not at.exception
    assert charts(at)[1]["data"][0]["y"][0] == "0:one"
    at.toggle(key="attention_show_glance").set_value(True).run()  # thumbnails averaged down to 16 x 16
    assert not at.exception
    glance = heatmap_values(charts(at)[4]["data"][0])
    assert glance.shape == (12 * 17 - 1, 12 * 17 - 1)  # 12 x 12 tiles of 16 cells, one blank cell between


def test_a_link_with_layer_head_and_statistic_opens_that_view_and_the_address_follows_the_choice():
    at = open_linked_page("pages/attention.py", {"layer": "1", "head": "3", "statistic": "prev_token"})
    assert not at.exception
    assert at.selectbox(key="attention_layer_box").value == 1
    assert at.selectbox(key="attention_head_box").value == 3
    assert at.selectbox(key="attention_statistic_box").value == "prev_token"
    assert at.subheader[0].value == "Layer 1, head 3"

    at.selectbox(key="attention_head_box").select(0).run()
    assert at.query_params["head"] in ("0", ["0"])  # the address bar's link shows what the student sees
    assert at.query_params["layer"] in ("1", ["1"])


def test_a_link_to_a_layer_the_model_lacks_shows_its_last_layer():
    at = open_linked_page("pages/attention.py", {"layer": "7", "head": "x"})
    assert not at.exception
    assert at.selectbox(key="attention_layer_box").value == 0  # "7" is not among 0..1: the first layer
    assert at.selectbox(key="attention_head_box").value == 0
