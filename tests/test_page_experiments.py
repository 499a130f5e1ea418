"""The Experiments page through AppTest: picking edits, what changed, the scans, and a shared experiment."""

import json

import numpy as np
from conftest import open_app_page, open_linked_page
from test_page_attention import heatmap_values

from gptcore import PRESETS, HeadAblation, ShortcutRemoval, build_model, run_with_edits
from gptcore.tokenizer import get_tokenizer

TINY = "tiny-seed123"
PROMPT = "Every effort moves you"


def charts(at) -> dict[str, dict]:
    return {chart.proto.id: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}


def chart(at, key: str) -> dict:
    return next(spec for chart_id, spec in charts(at).items() if key in chart_id)


def kl_metric(at) -> float:
    return float(next(m.value for m in at.metric if m.label.startswith("KL divergence")).split()[0])


def test_without_edits_nothing_changes_and_picking_heads_changes_the_next_token():
    at = open_app_page("pages/experiments.py", TINY, PROMPT)
    assert not at.exception
    assert at.title[0].value == "Experiments"
    assert kl_metric(at) == 0.0
    bars = chart(at, "exp_bars")["data"]
    np.testing.assert_array_equal(heatmap_values({"z": bars[0]["x"]}), heatmap_values({"z": bars[1]["x"]}))

    at.multiselect(key="exp_heads").select("h0.1").select("h1.2").run()
    assert not at.exception
    assert at.session_state["experiment_edits"] == ["h0.1", "h1.2"]
    assert at.query_params["edits"] in ("h0.1,h1.2", ["h0.1,h1.2"])
    assert kl_metric(at) > 0
    ids = get_tokenizer().encode(PROMPT)
    model = build_model(PRESETS["tiny"], seed=123)
    expected = run_with_edits(model, ids, [HeadAblation(0, 1), HeadAblation(1, 2)])[-1]
    after = heatmap_values({"z": chart(at, "exp_bars")["data"][1]["x"]})
    top = np.exp(expected - expected.max()) / np.exp(expected - expected.max()).sum()
    assert after.max() == np.float32(top.max()) or abs(float(after.max()) - float(top.max())) < 1e-6

    importance = heatmap_values(chart(at, "exp_importance")["data"][0])
    assert importance.shape == (2, 4)  # layers x heads of the tiny model
    assert any(button.proto.label == "Download CSV" for button in at.get("download_button"))


def test_a_shared_link_opens_the_experiment_and_bad_codes_are_named():
    at = open_linked_page("pages/experiments.py", {"edits": "h0.3,s1,n0.5,x9,h7.0"})
    assert not at.exception
    assert at.multiselect(key="exp_heads").value == ["h0.3"]
    assert at.multiselect(key="exp_shortcuts").value == ["s1"]
    assert at.text_input(key="exp_neurons").value == "0.5"
    warnings = " ".join(warning.value for warning in at.warning)
    assert "'x9' is not an edit" in warnings and "layer 7 is outside the model" in warnings
    html = [element.proto.body for element in at.get("html")]
    assert len(html) == 2 and html[0] != html[1]  # the continuations before and after differ

    at.button(key="exp_clear").click().run()
    assert at.session_state["experiment_edits"] == [] and "edits" not in at.query_params


def test_patching_explains_different_lengths_and_maps_the_same_length():
    at = open_app_page("pages/experiments.py", TINY, PROMPT)
    at.text_input(key="exp_corrupted").input("Every effort moves me forward").run()
    assert any("both need the same number of tokens" in info.value for info in at.info)

    at.text_input(key="exp_corrupted").input("Every effort moves me").run()
    assert not at.exception
    restored = heatmap_values(chart(at, "exp_patching")["data"][0])
    assert restored.shape == (2, 4)
    np.testing.assert_allclose(restored[:, :3], 0.0, atol=1e-5)  # the prompts agree there
    np.testing.assert_allclose(restored[0, 3], 1.0, atol=1e-4)  # the changed token at block 0: all of it


def test_shortcut_removal_on_the_page_matches_the_engine():
    at = open_linked_page("pages/experiments.py", {"edits": "s0,s1"})
    assert not at.exception
    ids = get_tokenizer().encode("Every effort moves you")
    model = build_model(PRESETS["tiny"], seed=123)
    expected = run_with_edits(model, ids, [ShortcutRemoval(0), ShortcutRemoval(1)])[-1]
    after = heatmap_values({"z": chart(at, "exp_bars")["data"][1]["x"]})
    probabilities = np.exp(expected - expected.max()) / np.exp(expected - expected.max()).sum()
    np.testing.assert_allclose(np.sort(after)[::-1][:3], np.sort(probabilities)[::-1][:3], rtol=1e-5)


LONG_PROMPT = " ".join(["the river runs past the old mill"] * 10)  # 70 tokens


def test_a_long_prompts_scan_waits_for_the_button():
    prompt = " ".join(LONG_PROMPT.split()[:40])
    at = open_app_page("pages/experiments.py", TINY, prompt)
    assert not at.exception
    assert len(get_tokenizer().encode(prompt)) == 40
    assert not any("exp_importance" in chart_id for chart_id in charts(at))
    assert any("8 heads: 320 tokens in all" in info.value for info in at.info)  # the tiny model's 2 x 4 heads

    at.button(key="exp_scan_button").click().run()
    assert not at.exception
    assert heatmap_values(chart(at, "exp_importance")["data"][0]).shape == (2, 4)
    at.multiselect(key="exp_heads").select("h1.0").run()  # the scan stays on screen as the student edits
    assert any("exp_importance" in chart_id for chart_id in charts(at))


def test_patching_a_long_prompt_asks_for_a_short_pair():
    at = open_app_page("pages/experiments.py", None, LONG_PROMPT)  # GPT-2 124M, untrained
    at.text_input(key="exp_corrupted").input(LONG_PROMPT.replace("mill", "barn")).run()
    assert not at.exception
    assert any("12 x 70 = 840 runs of 70 tokens" in info.value for info in at.info)
    assert not any("exp_patching" in chart_id for chart_id in charts(at))
    assert any("144 heads: 10,080 tokens in all" in info.value for info in at.info)
