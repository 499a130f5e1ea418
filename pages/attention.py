"""Attention: one head's pattern up close, every head of a layer, and every layer at a glance."""

from __future__ import annotations

from ui.frame import ensure_app_frame

ensure_app_frame()  # first, before the heavy imports: see ui/frame.py

import functools

import numpy as np
import pandas as pd
import streamlit as st

import ui
from gptcore import Trace
from gptcore.heads import HEAD_STATISTICS, head_summary, masked_pattern, pooled_layers, statistic_grid, tile_patterns
from ui.charts.attention import glance_figure, layer_multiples, statistic_figure
from ui.figures import pattern_heatmap

LAYER_KEY = "attention_layer"  # plain session keys: they survive page switches, widget keys do not
HEAD_KEY = "attention_head"
STATISTIC_KEY = "attention_statistic"
ROW_SCALE_KEY = "attention_row_scaled"
MAX_TOKENS_SHOWN = 96  # a longer prompt is shown through a window, so a heatmap stays light
THUMBNAIL_TOKENS = 48  # small multiples are averaged down to at most this many cells a side
GLANCE_TOKENS = 16  # the every-layer thumbnails, smaller still


@ui.cached
def cached_head_summary(model_id: str, token_ids: tuple[int, ...], _trace: Trace) -> pd.DataFrame:
    """Every layer's per-head statistics; keyed by model and tokens, the trace itself is not hashed."""
    return head_summary(_trace)


@ui.cached
def cached_glance(model_id: str, token_ids: tuple[int, ...], _trace: Trace) -> np.ndarray:
    """All layers x heads, each pattern averaged down to a thumbnail, tiled into one image."""
    thumbnails = pooled_layers(_trace, range(_trace.n_layers), GLANCE_TOKENS)  # (L * H, S, S)
    return tile_patterns(thumbnails, n_cols=_trace.n_heads)


@ui.cached
def cached_thumbnails(model_id: str, token_ids: tuple[int, ...], layer: int, _trace: Trace) -> np.ndarray:
    """(H, S, S) one layer's patterns, averaged down to at most THUMBNAIL_TOKENS a side."""
    return pooled_layers(_trace, [layer], THUMBNAIL_TOKENS)


# ---------------------------------------------------------------------------------------------


st.title("Attention")
ui.explain(
    "Attention is how a token gathers information from the tokens before it. In every layer each head "
    "gives every token (the *query*) a score for each earlier token (the *keys*); softmax turns a row of "
    "scores into weights that add up to 1, and the token takes that weighted mix of the others' values. "
    "A token may never look ahead: the causal mask hides all later tokens, which is why the upper right "
    "triangle is empty."
)

t = ui.current_trace()
model_id = ui.current_model_id()
token_ids = tuple(t.token_ids.tolist())
labels = ui.labels(t.token_ids)

layer, head = ui.layer_and_head(t.n_layers, t.n_heads, LAYER_KEY, HEAD_KEY)

# A long prompt is shown through a window of MAX_TOKENS_SHOWN tokens along the diagonal.
start = 0
if t.num_tokens > MAX_TOKENS_SHOWN:
    start = st.slider(
        "First token shown (the prompt is long, so the heatmaps show a window of it)",
        0,
        t.num_tokens - MAX_TOKENS_SHOWN,
        t.num_tokens - MAX_TOKENS_SHOWN,
        key="attention_window_start",
    )
window = slice(start, start + MAX_TOKENS_SHOWN)

st.subheader(f"Layer {layer}, head {head}")
pattern = t.attention_head(layer, head)  # (T, T), computed from the trace's queries and keys
last_row = pattern[-1]  # (T,) how the last token spreads its attention
strongest = int(np.argmax(last_row))
st.markdown(
    f"The last token, {ui.inline_code(labels[-1])}, looks most at {ui.inline_code(labels[strongest])}: weight "
    f"{last_row[strongest]:.3f}, "
    f"{last_row[strongest]:.0%} of its attention. An orange ring marks each row's strongest key."
)
row_scaled = ui.remembered_choice(
    st.radio,
    "Colour the weights",
    [True, False],
    ROW_SCALE_KEY,
    link="rows",
    format_func=lambda scaled: "within each row" if scaled else "on one scale, 0 to the largest",
    horizontal=True,
    help="Within each row, a row's strongest key is always darkest, so a token that spreads its attention "
    "thinly still shows where it looks. On one scale, the first row (always a lone 1) sets the colour for all.",
)
scores = masked_pattern(t.head_scores(layer, head)[window, window])
weights = masked_pattern(pattern[window, window])
score_col, weight_col = ui.side_by_side(2)
with score_col:
    st.markdown("**Scores** (before softmax)")
    score_figure = ui.shared_figure(
        ("scores", model_id, token_ids, layer, head, start),
        lambda: pattern_heatmap(scores, labels[window], "score", diverging=True),
    )
    ui.plot(score_figure, key="attention_scores_chart", shared=True)
    st.caption(
        "Row = the token that looks, column = the token looked at. Red means a high score, blue a low one; "
        "grey cells are masked (score −∞), because a token may not see the future."
    )
with weight_col:
    st.markdown("**Weights** (after softmax)")
    weight_figure = ui.shared_figure(
        ("weights", model_id, token_ids, layer, head, start, row_scaled),
        lambda: pattern_heatmap(weights, labels[window], "weight", row_scaled=row_scaled, mark_strongest=True),
    )
    ui.plot(weight_figure, key="attention_weights_chart", shared=True)
    st.caption(
        ("Darker means more of the row's attention. " if row_scaled else "Darker means more attention. ")
        + "Grey cells are masked and get weight exactly 0. "
        + (
            "Each row adds up to 1. The first token can only look at itself."
            if start == 0
            else "Each token can only look at itself and the tokens before it, so a row adds up to 1 only "
            "together with the tokens before the window."
        )
    )
st.caption(
    "␣ stands for a space. A GPT-2 token usually carries the space in front of its word, so “ effort” is one "
    "token, drawn as ␣effort; the number before it is the token's position."
)
if start:
    st.caption(f"Showing tokens {start} to {start + MAX_TOKENS_SHOWN - 1}; rows also attend to earlier tokens.")

downloads = st.columns(3)
with downloads[0]:
    ui.download(
        "Weights as CSV",
        functools.partial(ui.square_csv, pattern, labels),
        f"attention_weights_layer{layer}_head{head}.csv",
        key="attention_weights_csv",
    )
with downloads[1]:
    ui.figure_download(
        weight_figure,
        f"attention_weights_layer{layer}_head{head}.html",
        label="Weights figure (HTML)",
        key="attention_weights_html",
    )
with downloads[2]:
    ui.figure_download(
        score_figure,
        f"attention_scores_layer{layer}_head{head}.html",
        label="Scores figure (HTML)",
        key="attention_scores_html",
    )

st.subheader(f"All {t.n_heads} heads of layer {layer}")
thumbnails = cached_thumbnails(model_id, token_ids, layer, t)
multiples = ui.shared_figure(("multiples", model_id, token_ids, layer, head), lambda: layer_multiples(thumbnails, head))
ui.plot(multiples, key="attention_layer_multiples", shared=True)
st.caption(
    "The same weights for every head of this layer, side by side (the chosen head is framed in red). "
    "Heads in one layer look at the same tokens but learn different habits."
    + (f" Long prompts are averaged to {THUMBNAIL_TOKENS} cells a side." if t.num_tokens > THUMBNAIL_TOKENS else "")
)

st.subheader("Every layer and head at a glance")
summary = cached_head_summary(model_id, token_ids, t)
statistic = ui.remembered_choice(
    st.selectbox,
    "Statistic",
    list(HEAD_STATISTICS),
    STATISTIC_KEY,
    link="statistic",
    format_func=lambda name: name.replace("_", " "),
)
# Entropy cannot exceed that of evenly spread attention; the other statistics are shares of 1.
highest_value = float(summary["uniform_entropy"].iloc[0]) if statistic == "entropy" else 1.0
highest_value = highest_value or 1.0  # one token: every entropy is 0, keep a sensible colour scale
statistics = ui.shared_figure(
    ("statistic", model_id, token_ids, statistic, layer, head),
    lambda: statistic_figure(statistic_grid(summary, statistic), statistic, highest_value, layer, head),
)
ui.plot(statistics, key="attention_statistic_chart", shared=True)
st.caption(
    f"One cell per head, layers down, heads across. {HEAD_STATISTICS[statistic]}."
    + (" The scale tops out at the entropy of evenly spread attention." if statistic == "entropy" else "")
)
if t.num_tokens == 1:
    st.info("With a single token there is no previous token to attend to: type a longer prompt to compare heads.")

if st.toggle("Show every head's pattern as a thumbnail", key="attention_show_glance"):
    glance = glance_figure(cached_glance(model_id, token_ids, t), t.n_layers, t.n_heads)
    ui.plot(glance, key="attention_glance_chart")
    st.caption(
        "One small weights heatmap per head, layers down, heads across"
        + (f", averaged down to {GLANCE_TOKENS} cells a side." if t.num_tokens > GLANCE_TOKENS else ".")
    )

st.subheader(f"Per-head summary, layer {layer}")
# With one token there is no earlier token, so the share statistics are undefined: their columns go.
layer_summary = summary[summary["layer"] == layer].drop(columns="layer").dropna(axis="columns", how="all")
st.dataframe(
    layer_summary,
    width="stretch",
    height=36 * (len(layer_summary) + 1) + 3,  # every head visible without scrolling
    hide_index=True,
    column_config={name: st.column_config.NumberColumn(format="%.3f") for name in layer_summary.columns[1:]},
    key="attention_summary_table",
)
st.caption(
    "Entropy in nats, averaged over queries: the uniform column is the entropy of a head that spreads its "
    "attention evenly, so a head well below it is focused. An untrained model's heads sit close to uniform."
)
ui.csv_download(
    summary, "attention_head_summary.csv", label="Summary of every layer as CSV", key="attention_summary_csv"
)
