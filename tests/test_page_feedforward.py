"""The Feed-forward page through AppTest: GELU vs ReLU, the 4x sizes, activations, top neurons."""

import json

from conftest import open_app_page
from streamlit.testing.v1 import AppTest

TINY = "tiny-seed123"


def open_page(model_id: str | None = None, prompt: str = "Every effort moves you") -> AppTest:
    return open_app_page("pages/feedforward.py", model_id, prompt)


def test_tiny_model_sizes_top_neurons_and_widgets():
    at = open_page(TINY)
    assert not at.exception
    assert at.title[0].value == "Feed-forward and GELU"
    assert [metric.value for metric in at.metric[:3]] == ["32", "128", "8,352"]  # 8 d^2 + 5 d for d = 32
    charts = at.get("plotly_chart")
    assert len(charts) == 5  # curves, expansion, boxes, histogram, neuron heatmap
    curves = json.loads(charts[0].proto.spec)
    assert [trace["name"] for trace in curves["data"]] == ["GELU", "ReLU"]

    sizes, top = at.dataframe[0].value, at.dataframe[1].value  # the size table, then the top neurons
    assert sizes["part"].tolist()[-1] == "total (one block)"
    assert top["token"].tolist() == ["Every", "␣effort", "␣moves", "␣you"]
    assert (top["activation_1"] >= top["activation_5"]).all()

    at.selectbox(key="feedforward_layer_box").select(1).run()
    at.slider(key="feedforward_top_n_box").set_value(7).run()
    assert not at.exception
    assert at.session_state["feedforward_layer"] == 1 and at.session_state["feedforward_top_n"] == 7
    heatmap = json.loads(at.get("plotly_chart")[4].proto.spec)["data"][0]
    assert len(heatmap["y"]) == 7 and heatmap["x"][0] == "0:Every"


def test_124m_model_shows_the_books_feed_forward_size():
    at = open_page(prompt="🦙 <|endoftext|> x")
    assert not at.exception
    assert [metric.value for metric in at.metric] == ["768", "3,072", "4,722,432", "35%"]


def test_neurons_picked_here_are_switched_off_on_the_experiments_page():
    at = open_page(TINY)
    assert at.button(key="feedforward_ablate_button").disabled  # nothing picked yet
    listed = at.multiselect(key="feedforward_ablate").options
    assert len(listed) == 20  # the heatmap's neurons
    first, second = (int(option.split()[-1]) for option in listed[:2])
    at.multiselect(key="feedforward_ablate").select(first).select(second).run()
    at.button(key="feedforward_ablate_button").click().run()
    assert not at.exception
    assert at.session_state["experiment_edits"] == [f"n0.{first}", f"n0.{second}"]
    assert at.title[0].value == "Experiments"
    assert at.text_input(key="exp_neurons").value == f"0.{first} 0.{second}"
