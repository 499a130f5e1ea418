"""Presenter mode and the house style every chart is drawn in (ui/display.py)."""

import json

from conftest import open_app_page, open_linked_page

from ui.display import CATEGORY_COLOURS, PRESENTER_FONT, PRESENTER_TICKS


def figures(at) -> dict[str, dict]:
    return {chart.proto.id: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}


def weights_chart(at) -> dict:
    return next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "attention_weights_chart" in c.proto.id)


def test_every_chart_has_the_colour_blind_safe_palette_and_no_hover_toolbar():
    at = open_app_page("pages/attention.py", "tiny-seed123")
    assert not at.exception
    for chart in at.get("plotly_chart"):
        assert json.loads(chart.proto.spec)["layout"]["colorway"] == CATEGORY_COLOURS
        assert json.loads(chart.proto.config)["displayModeBar"] is False  # it covered legends and titles


def test_presenter_mode_enlarges_text_ticks_and_charts_and_raises_contrast():
    at = open_app_page("pages/attention.py", "tiny-seed123")
    before = weights_chart(at)
    assert "font" not in before["layout"] or before["layout"]["font"].get("size") != PRESENTER_FONT

    at.sidebar.toggle(key="_presenter_box").set_value(True).run()
    assert not at.exception
    after = weights_chart(at)
    assert after["layout"]["font"]["size"] == PRESENTER_FONT
    assert after["layout"]["xaxis"]["tickfont"]["size"] == PRESENTER_TICKS
    assert after["layout"]["height"] > before["layout"]["height"]
    assert after["data"][0]["colorscale"][0][1] != before["data"][0]["colorscale"][0][1]  # Blues -> Cividis
    assert at.query_params["present"] in ("1", ["1"])  # a link copied now opens in presenter mode
    assert any("html { font-size: 20px; }" in element.proto.body for element in at.get("html"))

    at.sidebar.toggle(key="_presenter_box").set_value(False).run()
    assert weights_chart(at)["layout"]["height"] == before["layout"]["height"]
    assert "present" not in at.query_params


def test_a_presenter_link_opens_in_presenter_mode():
    at = open_linked_page("pages/layernorm.py", {"present": "1"})
    assert not at.exception
    assert at.sidebar.toggle(key="_presenter_box").value is True
    for chart in at.get("plotly_chart"):
        assert json.loads(chart.proto.spec)["layout"]["font"]["size"] == PRESENTER_FONT


def test_log_axes_are_labelled_at_1_2_and_5_of_each_power_of_ten():
    at = open_app_page("pages/residual.py", "tiny-seed123")
    for chart in at.get("plotly_chart"):
        layout = json.loads(chart.proto.spec)["layout"]
        for axis in (value for name, value in layout.items() if name.startswith(("xaxis", "yaxis"))):
            if axis.get("type") == "log":
                assert axis.get("tickformat") == "~g" and axis.get("dtick") in ("D2", 1)  # never "4 5 6 … 0.1 2 3"
