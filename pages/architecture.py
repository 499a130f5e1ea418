"""Architecture: the model's config, one transformer block's data flow, and where the parameters are."""

from __future__ import annotations

from ui.frame import ensure_app_frame

ensure_app_frame()  # first, before the heavy imports: see ui/frame.py

from dataclasses import fields, replace

import pandas as pd
import plotly.express as px
import streamlit as st

import ui
from gptcore import PRESETS, GPTConfig, count_parameters, count_parameters_tied, parameter_breakdown, size_mb
from gptcore.stats import ParameterRow, parameter_rows
from ui.charts.architecture import block_diagram, parameter_chart, short_count
from ui.figures import margins
from ui.tables import GPT2_SIZES, four_totals_frame, gpt2_sizes_frame

FIELD_MEANINGS = {
    "vocab_size": "How many different tokens exist. Each has its own row in the token embedding and its own "
    "score in the output.",
    "context_length": "The most tokens the model can read at once: one position embedding per position.",
    "emb_dim": "The length of every token's vector as it travels through the model (the residual stream).",
    "n_heads": "Attention heads per block. Each head looks at the tokens in its own way, with emb_dim / n_heads "
    "dimensions.",
    "n_layers": "How many transformer blocks are stacked, one after the other.",
    "drop_rate": "Share of values dropout sets to zero while training. Inactive here, whatever its value: the app "
    "runs the model in eval mode, where dropout passes every value through unchanged.",
    "qkv_bias": "Whether the query, key and value projections add a bias vector (OpenAI's GPT-2 weights do, the "
    "book's count does not).",
}

# One colour per kind of step, shared by the diagram and the parameter charts.


def config_frame(cfg: GPTConfig) -> pd.DataFrame:
    rows = [(f.name, str(getattr(cfg, f.name)), FIELD_MEANINGS.get(f.name, "")) for f in fields(cfg)]
    rows.append(
        ("head_dim (derived)", str(cfg.head_dim), "emb_dim / n_heads: the size of each head's queries, keys, values.")
    )
    return pd.DataFrame(rows, columns=["field", "value", "what it means"])


def parameter_frame(rows: list[ParameterRow], total: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "group": [r.group for r in rows],
            "part": [r.part for r in rows],
            "component": [r.component for r in rows],
            "module": [r.module for r in rows],
            "shapes (one copy)": [r.shapes for r in rows],
            "parameters per copy": [r.per_copy for r in rows],
            "copies": [r.copies for r in rows],
            "parameters": [r.parameters for r in rows],
            "share of total (%)": [100 * r.parameters / total for r in rows],
        }
    )


st.title("Architecture")
ui.explain(
    "What the model is made of, before any prompt goes in: the settings it was built with, how a token "
    "vector flows through one transformer block, and where its parameters (the learned numbers) sit. "
    "The numbers below are counted on the model you chose in the sidebar."
)

model = ui.current_model()
cfg = model.cfg
rows = parameter_rows(model)
total = count_parameters(model)
tied = count_parameters_tied(model)

st.subheader("Size")
c1, c2, c3, c4 = st.columns(4)
c1.metric("Total parameters", f"{total:,}", help="Every number in the model, as the book counts them (untied).")
c2.metric(
    "Tied total",
    f"{tied:,}",
    help="If out_head reused tok_emb's matrix, as OpenAI's GPT-2 does (weight tying). "
    "That is where the name '124M' comes from.",
)
c3.metric("Memory (float32)", f"{size_mb(total):,.2f} MB", help="4 bytes per parameter, MB = 1024 × 1024 bytes.")
c4.metric("Memory if tied", f"{size_mb(tied):,.2f} MB")
st.caption(
    "The book's GPTModel keeps a separate output head (out_head) of the same shape as the token embedding "
    f"({cfg.vocab_size:,} × {cfg.emb_dim} = {model.out_head.weight.numel():,} parameters). OpenAI's GPT-2 uses "
    "one matrix for both (weight tying): that is why GPT-2 small is called '124M' although the book's untied "
    "model of the same shape has 163M parameters."
)

st.subheader("Configuration")
config = config_frame(cfg)
st.table(config.set_index("field"))
ui.csv_download(config, "config.csv")

st.subheader("Data flow")
left, right = st.columns([3, 2], gap="large")
with right:
    st.markdown(
        "**Reading the diagram.** A prompt of T tokens becomes T vectors of emb_dim numbers. Each block first "
        "lets the tokens exchange information (attention), then works on every token on its own (feed-forward). "
        "Before each of the two, a LayerNorm rescales the vectors; after each, the **shortcut** (orange) adds the "
        "block's input back, so every block only *adds* a change to the stream. The stacked blocks are identical "
        "in shape but each has its own weights. Hover a box to see what it does."
    )
with left:
    diagram = block_diagram(cfg, rows)
    ui.plot(diagram, width="content", config={"displayModeBar": False})
    ui.figure_download(diagram, "architecture_diagram.html")

st.subheader("Where the parameters are")
chart_kind, blocks_only = st.columns([1, 2])
kind = chart_kind.radio("Chart", ["Treemap", "Sunburst"], horizontal=True, key="architecture_chart_kind")
only_blocks = blocks_only.toggle(
    "Only the transformer blocks",
    key="architecture_blocks_only",
    help="The embeddings and the output head can dwarf everything else (in the tiny model they are 99%): "
    "leave them out to see how a block's parameters split.",
)
shown = [r for r in rows if r.group == "transformer blocks"] if only_blocks else rows
chart = parameter_chart(shown, cfg.n_layers, kind)
ui.plot(chart)
ui.figure_download(chart, f"parameters_{kind.lower()}.html")

summary = pd.DataFrame(parameter_breakdown(model), columns=["component", "parameters"])
summary["share of total (%)"] = 100 * summary["parameters"] / total
number_formats = {
    "parameters": st.column_config.NumberColumn(format="localized"),
    "parameters per copy": st.column_config.NumberColumn(format="localized"),
    "share of total (%)": st.column_config.NumberColumn(format="%.3f"),
}
st.markdown("**Summary** (attention, feed-forward and layer norms summed over all blocks)")
st.dataframe(summary, hide_index=True, width="stretch", column_config=number_formats)
ui.csv_download(summary, "parameters_summary.csv")
st.markdown(
    f"**Every weight matrix** (one copy per block, × {cfg.n_layers} blocks). The query, key and value "
    "projections are separate Linear layers, as in the book; the feed-forward is two Linear layers with GELU "
    "between them."
)
details = parameter_frame(rows, total)
st.dataframe(
    details,
    hide_index=True,
    width="stretch",
    height=35 * (len(details) + 1) + 3,
    column_config=number_formats,
    # On screen, what fits 1366 px; the CSV has group, part and module too.
    column_order=[
        "component",
        "shapes (one copy)",
        "parameters per copy",
        "copies",
        "parameters",
        "share of total (%)",
    ],
)
ui.csv_download(details, "parameters_detailed.csv")

st.subheader("The four GPT-2 sizes")
ui.explain(
    "OpenAI released GPT-2 in four sizes that differ only in emb_dim, n_layers and n_heads. Each is named "
    "after its parameter count as released: the output head shares the token embedding's weights (tied), "
    "and the query, key and value projections have biases (qkv_bias=True)."
)
sizes = gpt2_sizes_frame()
st.dataframe(sizes, hide_index=True, width="stretch", column_config=number_formats)
ui.csv_download(sizes, "gpt2_sizes.csv")
bars = px.bar(sizes, x="model", y="parameters", text=sizes["parameters"].map(short_count), labels={"model": ""})
bars.update_layout(height=340, margin=margins())
ui.plot(bars)
ui.figure_download(bars, "gpt2_sizes.html")

st.markdown("**Why GPT-2 small has four totals.** Two choices change the count, so four numbers all mean “124M”:")
st.dataframe(four_totals_frame(PRESETS["gpt2-small"]), width="stretch", column_config=number_formats)
st.caption(
    "The book's GPTModel has its own output head and no qkv biases: chapter 4 prints 163,009,536, and "
    "124,412,160 once the head is counted as the token embedding's weights. OpenAI's weights add a bias to "
    "the query, key and value projections, 3 × 768 = 2,304 numbers per block, 27,648 in all: 124,439,808 "
    "is GPT-2 small as released. Loading OpenAI's weights (chapter 5) sets qkv_bias=True and keeps a "
    "separate head holding a copy of the embedding, so the loaded model counts 163,037,184."
)
same = [n for n in GPT2_SIZES if replace(PRESETS[n], qkv_bias=cfg.qkv_bias, drop_rate=cfg.drop_rate) == cfg]
if same:
    st.caption(f"The model chosen in the sidebar has the shape of **{same[0]}** (with qkv_bias={cfg.qkv_bias}).")
