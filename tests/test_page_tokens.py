"""The Tokens and embeddings page: token chips, embedding heatmaps, PCA, neighbours, position similarity."""

import base64
import json
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import ui
from gptcore import PRESETS, build_model, get_tokenizer, trace
from gptcore.embeddings import cosine_similarity_matrix, nearest_tokens

TINY = "tiny-seed123"
BOOK = "book-124m-seed123"
PROMPT = "Every effort moves you"


def tokens_page(model_id: str = TINY, prompt: str = PROMPT) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=180)
    at.session_state["model_id"] = model_id
    at.session_state["prompt"] = prompt
    at.run()
    at.switch_page("pages/tokens.py").run()
    assert not at.exception, at.exception
    return at


def figure(at: AppTest, key: str) -> dict:
    [chart] = [c for c in at.get("plotly_chart") if json.loads(c.proto.spec) and c.key == key]
    return json.loads(chart.proto.spec)


def array(value) -> np.ndarray:
    """Plotly sends NumPy arrays base64-encoded; plain lists stay lists."""
    if isinstance(value, dict) and "bdata" in value:
        data = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape", str(len(data)))  # "rows, columns" as text
        return data.reshape([int(n) for n in str(shape).split(",")])
    return np.asarray(value)


def chips(at: AppTest) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("<div"))


def dataframes(at: AppTest):
    return [d.value for d in at.dataframe]


@pytest.fixture(scope="module")
def tiny_page() -> AppTest:
    return tokens_page()


@pytest.fixture(scope="module")
def tiny_trace():
    model = ui.get_model(TINY)
    return model, trace(model, get_tokenizer().encode(PROMPT))


def test_tokens_show_as_chips_with_ids_and_visible_spaces(tiny_page):
    html = chips(tiny_page)
    for label, token_id in [("Every", 6109), ("␣effort", 3626), ("␣moves", 6100), ("␣you", 345)]:
        assert f">{label}</span>" in html
        assert f">{token_id}</span>" in html
    assert tiny_page.subheader[0].value == "The prompt as 4 tokens"
    table = dataframes(tiny_page)[0]
    assert table["id"].tolist() == [6109, 3626, 6100, 345]


def test_chip_labels_are_escaped_and_emoji_pieces_show_as_hex():
    at = tokens_page(prompt="<b>hi</b> *x* $y$ :smile: 🦙")
    html = chips(at)
    assert ">&lt;</span>" in html and ">&lt;/</span>" in html  # GPT-2 reads "<b>" as "<", "b", ">"
    own_tags = re.sub(r'</?(div|span)( (title|style)="[^"<>]*")*>', "", html)
    assert "<" not in own_tags and ">" not in own_tags  # every other bracket is escaped
    shown = "".join(re.findall(r'color:#111;">(.*?)</span>', html))
    for char, entity in [("*", "&#42;"), ("$", "&#36;"), (":", "&#58;")]:  # emphasis, LaTeX, :emoji:
        assert char not in shown and entity in shown
    assert "\u2039F0 9F\u203a" in html  # the llama's first two bytes, in guillemets
    assert "\n\n" not in html  # one HTML block


def test_heatmaps_are_the_traced_embeddings(tiny_page, tiny_trace):
    _, t = tiny_trace
    for key, expected in [
        ("heatmap_token_embedding", t.tok_emb),
        ("heatmap_position_embedding", t.pos_emb),
        ("heatmap_embedding_sum", t.embeddings),
    ]:
        data = figure(tiny_page, key)["data"][0]
        np.testing.assert_array_equal(array(data["z"]), expected)
        assert list(data["y"]) == ["0:Every", "1:␣effort", "2:␣moves", "3:␣you"]
    assert [tab.label for tab in tiny_page.tabs] == [
        "Token embedding",
        "Position embedding",
        "Sum (enters the first block)",
    ]


def test_pca_scatter_labels_every_distinct_token(tiny_page):
    data = figure(tiny_page, "pca")["data"][0]
    assert list(data["text"]) == ["Every", "␣effort", "␣moves", "␣you"]
    layout = figure(tiny_page, "pca")["layout"]
    assert "of the variance" in layout["xaxis"]["title"]["text"]


def test_nearest_tokens_table_matches_the_engine(tiny_page, tiny_trace):
    model, _ = tiny_trace
    wide = next(d for d in dataframes(tiny_page) if "1st" in d.columns)
    assert wide.shape == (4, 7)
    _, sims = nearest_tokens(model, [6109, 3626, 6100, 345])
    first = wide.loc[wide["id"] == 3626, "1st"].item()
    assert first.endswith(f"({sims[1, 0]:.3f})")
    assert any("untrained, so these neighbours are random" in i.value for i in tiny_page.info)


def test_position_similarity_heatmap(tiny_page, tiny_trace):
    _, t = tiny_trace
    data = figure(tiny_page, "position_similarity_prompt")["data"][0]
    z = array(data["z"])
    np.testing.assert_allclose(z, cosine_similarity_matrix(t.pos_emb))
    np.testing.assert_allclose(np.diag(z), 1.0)
    assert (data["zmin"], data["zmax"]) == (-1.0, 1.0)


def test_the_whole_context_positions_on_request():
    at = tokens_page()
    assert not [c for c in at.get("plotly_chart") if c.key == "position_similarity_context"]
    at.toggle(key="tokens_context_positions").set_value(True).run()
    slider = at.slider(key="tokens_context_n")
    assert slider.max == 64  # the tiny model's context_length, below the 128 cap
    slider.set_value(40).run()
    assert not at.exception
    z = array(figure(at, "position_similarity_context")["data"][0]["z"])
    model = build_model(PRESETS["tiny"], seed=123)
    expected = cosine_similarity_matrix(model.pos_emb.weight.detach().numpy()[:40])
    np.testing.assert_allclose(z, expected)


def test_repeated_and_single_tokens():
    at = tokens_page(prompt=" the the the")
    wide = next(d for d in dataframes(at) if "1st" in d.columns)
    assert wide["id"].tolist() == [262]  # one distinct token, one row
    assert any("only one distinct token" in i.value for i in at.info)


def test_a_long_prompt_on_the_124m_model_gets_a_window_slider():
    prompt = " ".join(f"word{i}" for i in range(60))  # well over 64 tokens
    at = tokens_page(BOOK, prompt)
    n_tokens = len(get_tokenizer().encode(prompt))
    slider = at.slider(key="tokens_window_start")
    assert slider.max == n_tokens - 64
    slider.set_value(10).run()
    assert not at.exception
    rows = figure(at, "heatmap_token_embedding")["data"][0]["y"]
    assert len(rows) == 64 and rows[0].startswith("10:")
    assert array(figure(at, "heatmap_token_embedding")["data"][0]["z"]).shape == (64, 768)


def test_a_trained_model_gets_no_random_neighbours_warning(monkeypatch):
    choice = ui.ModelChoice(
        "test-trained-tiny",
        "Tiny, pretend trained",
        lambda: build_model(PRESETS["tiny"], seed=5),
        trained=True,
        about="test",
    )
    monkeypatch.setitem(ui.MODEL_CHOICES, choice.model_id, choice)
    at = tokens_page(choice.model_id)
    assert not any("neighbours are random" in i.value for i in at.info)
    assert any("neighbours are meaningful" in c.value for c in at.caption)


def test_downloads_for_tables_and_figures(tiny_page):
    labels = [b.proto.label for b in tiny_page.get("download_button")]
    assert labels.count("Download CSV") == 3  # tokens, PCA coordinates, neighbours
    assert labels.count("Download figure (HTML)") == 5  # three heatmaps, PCA, position similarity
    assert "Download all three as CSV" in labels
