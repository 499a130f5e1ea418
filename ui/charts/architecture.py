"""The Architecture page's figures: the block diagram with each part's parameter count, and where the parameters are."""

from __future__ import annotations

import plotly.graph_objects as go

from gptcore import GPTConfig
from gptcore.stats import ParameterRow

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
        # Three short lines, left of the main arrow: on one line the arrow ran through "12 (trf_blocks)".
        text=f"<b>Transformer block</b><br>× n_layers = {cfg.n_layers}<br>(trf_blocks)",
        align="left",
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
