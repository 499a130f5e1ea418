"""The Architecture page: config, block diagram, parameter tables and charts, the four GPT-2 sizes."""

import json

import pytest
from streamlit.testing.v1 import AppTest

TINY = "tiny-seed123"
BOOK = "book-124m-seed123"


def architecture(model_id: str, prompt: str | None = None) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=180)
    at.session_state["model_id"] = model_id
    if prompt is not None:
        at.session_state["prompt"] = prompt
    at.run()
    at.switch_page("pages/architecture.py").run()
    assert not at.exception, at.exception
    return at


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.fixture(scope="module")
def tiny_page() -> AppTest:
    return architecture(TINY)


@pytest.fixture(scope="module")
def book_page() -> AppTest:
    return architecture(BOOK)


def test_the_books_model_shows_the_books_sizes(book_page):
    assert book_page.title[0].value == "Architecture"
    assert metrics(book_page) == {
        "Total parameters": "163,009,536",
        "Tied total": "124,412,160",
        "Memory (float32)": "621.83 MB",
        "Memory if tied": "474.59 MB",
    }


def test_the_tiny_model_counts_its_own_parameters(tiny_page):
    # tok_emb and out_head are 50,257 x 32 each; tiny uses qkv_bias=True.
    assert metrics(tiny_page)["Total parameters"] == "3,243,968"
    assert metrics(tiny_page)["Tied total"] == "1,635,744"


def test_config_table_uses_the_books_field_names_and_explains_them(tiny_page):
    config = tiny_page.table[0].value
    assert list(config.index[:7]) == [
        "vocab_size",
        "context_length",
        "emb_dim",
        "n_heads",
        "n_layers",
        "drop_rate",
        "qkv_bias",
    ]
    assert config.loc["emb_dim", "value"] == "32"
    assert config.loc["head_dim (derived)", "value"] == "8"
    assert config["what it means"].str.len().min() > 20


def test_the_diagram_draws_the_block_and_both_shortcuts(book_page):
    diagram = figures(book_page)[0]
    texts = " | ".join(a.get("text", "") for a in diagram["layout"]["annotations"])
    for step in (
        "tok_emb",
        "pos_emb",
        "LayerNorm 1 (norm1)",
        "Multi-head attention",
        "12 heads × 64 dims",
        "Dropout (drop_shortcut)",
        "LayerNorm 2 (norm2)",
        "Feed-forward (ff)",
        "Linear 768→3072",
        "final LayerNorm (final_norm)",
        "output head (out_head)",
        "n_layers = 12",
    ):
        assert step in texts, step
    assert texts.count("shortcut</b>") == 2
    paths = [s for s in diagram["layout"]["shapes"] if s["type"] == "path"]
    assert len(paths) == 2  # the two shortcut lines around attention and feed-forward
    # Each shortcut ends in an arrow pointing into its "+" circle.
    annotations = diagram["layout"]["annotations"]
    shortcut_plus = [a for a in annotations if a.get("text") == "<b>+</b>" and a["font"]["color"] == "white"]
    assert len(shortcut_plus) == 2
    for plus in shortcut_plus:
        [into] = [a for a in annotations if a.get("showarrow") and a["y"] == plus["y"]]
        assert into["ax"] > into["x"] > plus["x"]  # comes from the right-hand shortcut line, ends at the circle


def test_parameter_tables_add_up_and_split_attention_and_feed_forward(book_page):
    frames = [d.value for d in book_page.dataframe]
    summary = next(f for f in frames if list(f.columns[:2]) == ["component", "parameters"])
    details = next(f for f in frames if "module" in f.columns)
    assert summary["parameters"].sum() == details["parameters"].sum() == 163_009_536
    assert details["share of total (%)"].sum() == pytest.approx(100.0)
    attention = details[details["part"] == "attention"]
    assert list(attention["module"].str.rsplit(".", n=1).str[-1]) == ["W_query", "W_key", "W_value", "out_proj"]
    assert details[details["part"] == "feed-forward"]["module"].tolist() == [
        "trf_blocks.*.ff.layers.0",
        "trf_blocks.*.ff.layers.2",
    ]


def test_the_treemap_holds_the_same_numbers(book_page):
    treemap = figures(book_page)[1]["data"][0]
    assert treemap["type"] == "treemap"
    values = dict(zip(treemap["ids"], treemap["values"], strict=True))
    assert values["model"] == 163_009_536
    assert values["transformer blocks/attention"] == 28_320_768
    assert values["trf_blocks.*.att.W_query"] == 12 * 768 * 768


def test_sunburst_and_blocks_only(tiny_page):
    at = tiny_page
    at.radio(key="architecture_chart_kind").set_value("Sunburst").run()
    at.toggle(key="architecture_blocks_only").set_value(True).run()
    assert not at.exception
    chart = figures(at)[1]["data"][0]
    assert chart["type"] == "sunburst"
    values = dict(zip(chart["ids"], chart["values"], strict=True))
    assert "tok_emb" not in values and "out_head" not in values
    assert values["model"] == 2 * (4 * (32 * 32 + 32) + 2 * 64 + (32 * 128 + 128) + (128 * 32 + 32))


def test_the_four_gpt2_sizes_show_the_presets_real_counts(tiny_page):
    sizes = next(d.value for d in tiny_page.dataframe if "model" in d.value.columns)
    assert sizes["model"].tolist() == ["gpt2-small", "gpt2-medium", "gpt2-large", "gpt2-xl"]
    assert sizes[["emb_dim", "n_layers", "n_heads"]].values.tolist() == [
        [768, 12, 12],
        [1024, 24, 16],
        [1280, 36, 20],
        [1600, 48, 25],
    ]
    # As released: qkv_bias=True and the head tied, Hugging Face's famous 124,439,808.
    assert sizes["parameters"].tolist() == [124_439_808, 354_823_168, 774_030_080, 1_557_611_200]
    assert sizes["MB (float32)"].tolist()[3] == pytest.approx(5941.8)
    assert list(sizes.columns) == ["model", "emb_dim", "n_layers", "n_heads", "parameters", "MB (float32)"]  # fits
    bars = figures(tiny_page)[2]["data"]
    assert [trace["y"] for trace in bars] and len(bars) == 1

    # GPT-2 small's four totals, each named by the two choices that make it.
    totals = next(d.value for d in tiny_page.dataframe if "own output head" in d.value.columns)
    assert totals.to_dict() == {
        "own output head": {"qkv_bias=False (the book)": 163_009_536, "qkv_bias=True (OpenAI's weights)": 163_037_184},
        "head tied to tok_emb": {
            "qkv_bias=False (the book)": 124_412_160,
            "qkv_bias=True (OpenAI's weights)": 124_439_808,
        },
    }
    assert any("Why GPT-2 small has four totals" in m.value for m in tiny_page.markdown)


def test_every_table_and_figure_can_be_downloaded(tiny_page):
    names = [b.proto.label for b in tiny_page.get("download_button")]
    assert names.count("Download CSV") == 4  # config, summary, details, sizes
    assert names.count("Download figure (HTML)") == 3  # diagram, parameter chart, sizes chart


def test_the_page_needs_no_prompt():
    at = architecture(TINY, prompt="")
    assert metrics(at)["Total parameters"] == "3,243,968"
