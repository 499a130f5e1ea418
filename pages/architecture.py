"""Architecture: the model's config, one transformer block's data flow, and where the parameters are."""

from __future__ import annotations

from dataclasses import fields, replace

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

import ui
from gptcore import PRESETS, GPTConfig, count_parameters, count_parameters_tied, parameter_breakdown, size_mb
from gptcore.stats import ParameterRow, parameter_rows, size_report

ui.ensure_app_frame()

GPT2_SIZES = ("gpt2-small", "gpt2-medium", "gpt2-large", "gpt2-xl")

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
COLOURS = {
    "embeddings": "#9ecae1",
    "layer norms": "#fdd87d",
    "attention": "#fdae6b",
    "feed-forward": "#a1d99b",
    "dropout": "#d9d9d9",
    "shortcut": "#e6550d",
    "final norm": "#fdd87d",
    "output head": "#bcbddc",
    "data": "#ffffff",
}


def config_frame(cfg: GPTConfig) -> pd.DataFrame:
    rows = [(f.name, str(getattr(cfg, f.name)), FIELD_MEANINGS.get(f.name, "")) for f in fields(cfg)]
    rows.append(
        ("head_dim (derived)", str(cfg.head_dim), "emb_dim / n_heads: the size of each head's queries, keys, values.")
    )
    return pd.DataFrame(rows, columns=["field", "value", "what it means"])


def short_count(n: int) -> str:
    """1234567 -> '1.23M': short enough for a box in the diagram."""
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return str(n)


def block_diagram(cfg: GPTConfig, rows: list[ParameterRow]) -> go.Figure:
    """The model's data flow top to bottom: embeddings, one transformer block (with its two shortcut
    connections), the final norm and the output head. Hover a box for what it does."""
    per_block = {}
    for row in rows:
        key = row.part if row.group == "transformer blocks" else row.group
        per_block[key] = per_block.get(key, 0) + row.per_copy
    d, h, v, T = cfg.emb_dim, cfg.n_heads, cfg.vocab_size, "T"
    figure = go.Figure()
    hover_x, hover_y, hover_text = [], [], []
    centre, box_w, box_h = 5.4, 4.6, 0.62

    def box(y, text, kind, hover, x=centre, width=box_w, circle=False):
        colour = COLOURS[kind]
        if circle:
            figure.add_shape(
                type="circle", x0=x - 0.28, x1=x + 0.28, y0=y - 0.28, y1=y + 0.28, fillcolor=colour, line={"width": 1.5}
            )
        else:
            figure.add_shape(
                type="rect",
                x0=x - width / 2,
                x1=x + width / 2,
                y0=y - box_h / 2,
                y1=y + box_h / 2,
                fillcolor=colour,
                line={"width": 1.2, "color": "#444"},
                layer="below",
            )
        font = {"size": 18, "color": "white"} if kind == "shortcut" else {"size": 13, "color": "#111"}
        figure.add_annotation(x=x, y=y, text=f"<b>{text}</b>" if circle else text, showarrow=False, font=font)
        hover_x.append(x)
        hover_y.append(y)
        hover_text.append(hover)

    def link(x_from, y_from, x_to, y_to, colour="#444", width=1.6):
        """An arrow in data coordinates, from (x_from, y_from) to (x_to, y_to)."""
        figure.add_annotation(
            x=x_to,
            y=y_to,
            ax=x_from,
            ay=y_from,
            xref="x",
            yref="y",
            axref="x",
            ayref="y",
            showarrow=True,
            arrowhead=2,
            arrowsize=1.2,
            arrowwidth=width,
            arrowcolor=colour,
            text="",
        )

    def arrow(y_from, y_to):
        link(centre, y_from, centre, y_to)

    def note(x, y, text, colour="#555", **style):
        figure.add_annotation(x=x, y=y, text=text, showarrow=False, font={"size": 11, "color": colour}, **style)

    def shape_note(y, text):
        note(centre + box_w / 2 + 0.15, y, text, xanchor="left")

    # y positions, top to bottom (1 unit between steps)
    y = 0.0
    box(y, f"token ids ({T} tokens)", "data", "The prompt, as token ids.", x=centre - 1.6, width=3.1)
    y_emb = y - 1.2
    note(centre + 1.6, y, "positions 0, 1, …, T−1")
    link(centre + 1.6, y - 0.2, centre + 1.6, y_emb + box_h / 2)
    box(
        y_emb,
        f"token embedding<br><b>tok_emb</b> ({v:,} × {d})",
        "embeddings",
        "Looks up one learned vector per token id.",
        x=centre - 1.6,
        width=3.1,
    )
    box(
        y_emb,
        f"position embedding<br><b>pos_emb</b> ({cfg.context_length:,} × {d})",
        "embeddings",
        "Looks up one learned vector per position 0, 1, 2, … and adds it, so the model knows word order.",
        x=centre + 1.6,
        width=3.1,
    )
    link(centre - 1.6, y - box_h / 2, centre - 1.6, y_emb + box_h / 2)
    y_add = y_emb - 1.1
    box(y_add, "+", "data", "Token vector + position vector: one vector per token.", circle=True)
    link(centre - 1.6, y_emb - box_h / 2, centre - 0.2, y_add + 0.22)
    link(centre + 1.6, y_emb - box_h / 2, centre + 0.2, y_add + 0.22)
    y_drop_emb = y_add - 1.0
    box(y_drop_emb, "Dropout (drop_emb)", "dropout", "Zeroes random values while training; does nothing here.")
    arrow(y_add - 0.28, y_drop_emb + box_h / 2)
    shape_note(y_drop_emb, f"({T}, {d})")

    # The transformer block
    steps = [
        ("LayerNorm 1 (norm1)", "layer norms", "Rescales each token vector to mean 0, variance 1; then scale, shift."),
        (
            f"Multi-head attention (att)<br>{h} heads × {cfg.head_dim} dims",
            "attention",
            "Each token gathers information from itself and the tokens before it (causal mask).",
        ),
        ("Dropout (drop_shortcut)", "dropout", "Zeroes random values while training; does nothing here."),
        ("+", "shortcut", "Shortcut: adds the block's input back to attention's output."),
        ("LayerNorm 2 (norm2)", "layer norms", "Rescales each token vector again before the feed-forward."),
        (
            f"Feed-forward (ff)<br>Linear {d}→{4 * d}, GELU, Linear {4 * d}→{d}",
            "feed-forward",
            "Works on each token on its own: expand 4x, GELU, project back.",
        ),
        ("Dropout (drop_shortcut)", "dropout", "Zeroes random values while training; does nothing here."),
        ("+", "shortcut", "Shortcut: adds the vector from before LayerNorm 2 back to the feed-forward's output."),
    ]
    y_block_top = y_drop_emb - 0.75
    step_y = []
    y = y_block_top - 1.15
    for text, kind, hover in steps:
        step_y.append(y)
        box(y, text, kind, hover, circle=text == "+")
        y -= 1.0
    y_block_bottom = step_y[-1] - 0.6
    figure.add_shape(
        type="rect",
        x0=centre - box_w / 2 - 1.5,
        x1=centre + box_w / 2 + 1.4,
        y0=y_block_bottom,
        y1=y_block_top,
        line={"dash": "dash", "color": "#777", "width": 1.5},
        fillcolor="rgba(240,240,250,0.5)",
        layer="below",
    )
    figure.add_annotation(
        x=centre - box_w / 2 - 1.4,
        y=y_block_top - 0.08,
        text=f"<b>Transformer block</b> × n_layers = {cfg.n_layers} (trf_blocks)",
        showarrow=False,
        xanchor="left",
        yanchor="top",
        font={"size": 12},
    )
    arrow(y_drop_emb - box_h / 2, step_y[0] + box_h / 2)
    for upper, lower, (text_upper, _, _), (text_lower, _, _) in zip(step_y, step_y[1:], steps, steps[1:], strict=False):
        top = upper - (0.28 if text_upper == "+" else box_h / 2)
        bottom = lower + (0.28 if text_lower == "+" else box_h / 2)
        arrow(top, bottom)

    # The two shortcut connections: from just before each LayerNorm, around the right side, into a +.
    x_side = centre + box_w / 2 + 0.85
    for start, plus in ((0, 3), (4, 7)):
        y_split = step_y[start] + box_h / 2 + 0.2
        y_plus = step_y[plus]
        figure.add_shape(
            type="path",
            path=f"M {centre},{y_split} L {x_side},{y_split} L {x_side},{y_plus} L {centre + 0.3},{y_plus}",
            line={"color": COLOURS["shortcut"], "width": 2.5},
        )
        link(centre + 0.9, y_plus, centre + 0.29, y_plus, colour=COLOURS["shortcut"], width=2.5)
        dot = 0.07  # the point where the stream splits into the block and the shortcut
        figure.add_shape(
            type="circle",
            x0=centre - dot,
            x1=centre + dot,
            y0=y_split - dot,
            y1=y_split + dot,
            fillcolor=COLOURS["shortcut"],
            line={"width": 0},
        )
        note(x_side + 0.14, (y_split + y_plus) / 2, "<b>shortcut</b>", COLOURS["shortcut"], textangle=90)
    for i, key in ((1, "attention"), (5, "feed-forward")):
        note(centre - box_w / 2 - 0.1, step_y[i], f"{short_count(per_block[key])}<br>per block", xanchor="right")

    y_final = y_block_bottom - 0.8
    box(y_final, "final LayerNorm (final_norm)", "final norm", "One last normalisation of every token vector.")
    arrow(step_y[-1] - 0.28, y_final + box_h / 2)
    y_head = y_final - 1.0
    box(
        y_head,
        f"output head (out_head)<br>Linear {d}→{v:,}",
        "output head",
        "Turns each vector into one score (logit) per vocabulary token.",
    )
    arrow(y_final - box_h / 2, y_head + box_h / 2)
    shape_note(y_final, f"({T}, {d})")
    y_logits = y_head - 1.0
    box(y_logits, f"logits ({T}, {v:,})", "data", "Softmax of the last row gives the next-token probabilities.")
    arrow(y_head - box_h / 2, y_logits + box_h / 2)

    figure.add_trace(
        go.Scatter(
            x=hover_x,
            y=hover_y,
            mode="markers",
            marker={"size": 30, "opacity": 0},
            hovertext=hover_text,
            hoverinfo="text",
            showlegend=False,
        )
    )
    y_min = y_logits - 0.6
    figure.update_xaxes(visible=False, range=[0.0, 10.6], fixedrange=True)
    figure.update_yaxes(visible=False, range=[y_min, 0.6], fixedrange=True)
    figure.update_layout(
        width=660,  # fixed, so the text always fits its boxes
        height=int(58 * (0.6 - y_min)),
        margin={"l": 0, "r": 0, "t": 10, "b": 10},
        plot_bgcolor="white",
        paper_bgcolor="white",
    )
    return figure


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


def parameter_chart(rows: list[ParameterRow], n_layers: int, kind: str) -> go.Figure:
    """Treemap or sunburst: model -> group -> (part inside the blocks) -> component."""
    ids, labels, parents, values, colours = [], [], [], [], []

    def add(node_id, label, parent, value, colour):
        ids.append(node_id)
        labels.append(label)
        parents.append(parent)
        values.append(value)
        colours.append(colour)

    add("model", "GPT model", "", sum(r.parameters for r in rows), "#f0f0f0")
    # Each group shows as one box when it has one member, e.g. the output head.
    for group in dict.fromkeys(r.group for r in rows):
        members = [r for r in rows if r.group == group]
        label = f"{group} (× {n_layers})" if group == "transformer blocks" else group
        if len(members) == 1:
            add(members[0].module, members[0].component, "model", members[0].parameters, COLOURS.get(group, "#ccc"))
            continue
        add(group, label, "model", sum(r.parameters for r in members), COLOURS.get(group, "#eee"))
        for part in dict.fromkeys(r.part for r in members):
            in_part = [r for r in members if r.part == part]
            parent = group
            if part != group:
                parent = f"{group}/{part}"
                add(parent, part, group, sum(r.parameters for r in in_part), COLOURS.get(part, "#ccc"))
            for r in in_part:
                add(r.module, r.component, parent, r.parameters, COLOURS.get(part, "#ccc"))
    common = {
        "ids": ids,
        "labels": labels,
        "parents": parents,
        "values": values,
        "branchvalues": "total",
        "marker": {"colors": colours},
        "hovertemplate": "<b>%{label}</b><br>%{value:,} parameters<br>%{percentRoot:.2%} of all shown<extra></extra>",
    }
    if kind == "Sunburst":
        figure = go.Figure(go.Sunburst(**common, textinfo="label+percent root"))
    else:
        figure = go.Figure(go.Treemap(**common, textinfo="label+value+percent root"))
    figure.update_layout(height=520, margin={"l": 0, "r": 0, "t": 10, "b": 0})
    return figure


@ui.cached
def gpt2_sizes() -> pd.DataFrame:
    """The four GPT-2 presets, counted on the meta device (no memory, milliseconds)."""
    records = []
    for name in GPT2_SIZES:
        cfg = PRESETS[name]
        report = size_report(cfg)
        book = size_report(replace(cfg, qkv_bias=False))
        records.append(
            {
                "model": name,
                "emb_dim": cfg.emb_dim,
                "n_layers": cfg.n_layers,
                "n_heads": cfg.n_heads,
                "parameters": report.parameters,
                "tied parameters": report.parameters_tied,
                "MB (float32)": round(report.size_mb, 2),
                "MB tied (float32)": round(size_mb(report.parameters_tied), 2),
                "book's tied count (qkv_bias=False)": book.parameters_tied,
            }
        )
    return pd.DataFrame(records)


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
    st.plotly_chart(diagram, width="content", config={"displayModeBar": False})
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
st.plotly_chart(chart)
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
    details, hide_index=True, width="stretch", height=35 * (len(details) + 1) + 3, column_config=number_formats
)
ui.csv_download(details, "parameters_detailed.csv")

st.subheader("The four GPT-2 sizes")
ui.explain(
    "OpenAI released GPT-2 in four sizes that differ only in emb_dim, n_layers and n_heads. The counts below "
    "are the presets' real numbers, with **qkv_bias=True** as in OpenAI's weights; the book counts with "
    "qkv_bias=False, which is 3 × emb_dim × n_layers fewer (last column). The 'tied' count is the famous one: "
    "124M, 355M, 774M, 1.5B."
)
sizes = gpt2_sizes()
st.dataframe(
    sizes,
    hide_index=True,
    width="stretch",
    column_config={
        "parameters": st.column_config.NumberColumn(format="localized"),
        "tied parameters": st.column_config.NumberColumn(format="localized"),
        "book's tied count (qkv_bias=False)": st.column_config.NumberColumn(format="localized"),
    },
)
ui.csv_download(sizes, "gpt2_sizes.csv")
long = sizes.melt(id_vars="model", value_vars=["parameters", "tied parameters"], var_name="count", value_name="n")
long["label"] = long["n"].map(short_count)
bars = px.bar(
    long, x="model", y="n", color="count", barmode="group", labels={"n": "parameters", "model": ""}, text="label"
)
bars.update_layout(height=380, margin={"l": 10, "r": 10, "t": 10, "b": 10})
st.plotly_chart(bars)
ui.figure_download(bars, "gpt2_sizes.html")
same = [n for n in GPT2_SIZES if replace(PRESETS[n], qkv_bias=cfg.qkv_bias, drop_rate=cfg.drop_rate) == cfg]
if same:
    st.caption(f"The model chosen in the sidebar has the shape of **{same[0]}** (with qkv_bias={cfg.qkv_bias}).")
