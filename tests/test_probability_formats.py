"""Every probability a student reads is a percentage with three significant figures, or more where
two different bars would otherwise read alike: on bars, axes, hovers and tables."""

import json

import numpy as np
from conftest import open_app_page
from test_page_attention import heatmap_values

from ui.figures import PROBABILITY_TICKS, percent, percent_labels


def test_percent_labels_add_digits_only_where_different_bars_would_read_alike():
    assert percent_labels([0.5, 0.0347, 0.000194]) == ["50%", "3.47%", "0.0194%"]
    assert percent_labels([0.000194321, 0.000194123, 0.000193]) == ["0.01943%", "0.01941%", "0.0193%"]
    assert percent_labels([0.25, 0.25]) == ["25%", "25%"]  # equal bars may read alike
    assert percent(0.1234) == "12.3%"
    assert percent(-0.00000054) == "-0.000054%"  # a tiny change, never 5.4e-05%


def test_start_here_labels_an_untrained_models_close_bars_apart():
    at = open_app_page("pages/home.py")  # GPT-2 124M untrained: ten probabilities near 0.002%
    assert not at.exception
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    bars = chart["data"][0]
    probabilities = heatmap_values({"z": bars["x"]})
    assert len(set(bars["text"])) == len(set(probabilities.tolist()))  # different lengths, different labels
    assert all(label.endswith("%") for label in bars["text"])
    assert chart["layout"]["xaxis"]["tickformat"] == PROBABILITY_TICKS  # ticks in %, not "50μ"
    assert "%{x:.3p}" in bars["hovertemplate"]


def test_generate_prints_probabilities_as_percentages_in_its_chart_and_its_table():
    at = open_app_page("pages/generate.py", "tiny-seed123")
    at.number_input(key="generate_max_new_tokens_box").set_value(3).run()
    at.button(key="generate_button").click().run()
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert chart["layout"]["xaxis"]["tickformat"] == PROBABILITY_TICKS
    table = at.dataframe[0]
    steps = at.session_state["generate_steps_result"]["steps"]
    np.testing.assert_allclose(table.value["probability"], [100 * step.prob for step in steps], rtol=1e-6)
    assert '"format":"%.3g%%"' in table.proto.columns.replace(" ", "")  # printed 0.0194%, as on the bars
    captions = " ".join(caption.value for caption in at.caption)
    assert "Greedy decoding takes the longest bar" in captions


def test_generate_says_what_a_probability_means_under_sampling():
    at = open_app_page("pages/generate.py", "tiny-seed123")
    at.radio(key="generate_mode_box").set_value("sampling").run()
    at.number_input(key="generate_top_k_box").set_value(40).run()
    at.number_input(key="generate_max_new_tokens_box").set_value(2).run()
    at.button(key="generate_button").click().run()
    captions = " ".join(caption.value for caption in at.caption)
    assert "the model's scores divided by the temperature (1), then only the 40 most likely tokens kept" in captions
    assert "renormalised to add up to 100%" in captions
