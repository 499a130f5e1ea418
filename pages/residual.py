"""Residual stream and gradients: the stream's size, the logit lens, and why shortcuts matter."""

from __future__ import annotations

from ui.frame import ensure_app_frame

ensure_app_frame()  # first, before the heavy imports: see ui/frame.py

import numpy as np
import pandas as pd
import streamlit as st

import ui
from gptcore import Trace, gradient_norms, shortcut_experiment
from gptcore.footprint import gradient_bytes
from gptcore.lens import residual_norms, stream_names
from ui.charts.residual import (
    MAX_CELL_TEXT_TOKENS,
    SETTING_COLOURS,
    lens_heatmap,
    log_line,
    mean_norm_line,
    norms_heatmap,
    toy_experiment_figure,
)
from ui.readings import RELATIVE, what_the_gradients_show
from ui.tables import (
    lens_position_frame,
    lens_top_labels,
    lens_wide_table,
    shortcut_experiment_frame,
    shortcut_gradient_frame,
)

LENS_K = 5  # candidates per stream place in the logit lens
GRADIENT_MAX_TOKENS = 256  # a backward pass's cost grows faster than the prompt; the picture by depth does not change


@ui.cached
def cached_residual_norms(model_id: str, token_ids: tuple[int, ...], _trace: Trace) -> np.ndarray:
    """(L + 1, T) residual norms per (model id, token ids); the trace itself is never hashed."""
    return residual_norms(_trace)


@ui.cached
def cached_logit_lens(
    model_id: str, token_ids: tuple[int, ...], start: int, stop: int, _trace: Trace
) -> tuple[np.ndarray, np.ndarray]:
    """logit_lens of positions start..stop-1 per (model id, token ids), read with the class's other readings.

    Only the positions the heatmap shows are read: every position is a full output-head product at
    each place (a 1,000-token prompt on the 124M model: 7 s for all, under 2 s for a 256-token window).
    """
    return ui.read_logit_lens(model_id, _trace, slice(start, stop), LENS_K)  # (L + 1, P, k) each


@ui.cached
def cached_gradient_frame(model_id: str, token_ids: tuple[int, ...]) -> pd.DataFrame:
    """Gradient norms with shortcuts on and off; each backward pass takes its own turn at the model."""
    model = ui.get_model(model_id)
    needed = gradient_bytes(model.cfg, len(token_ids))
    with ui.computing(reserve=needed, what=f"A backward pass over {len(token_ids)} tokens"):
        with_shortcut = gradient_norms(model, token_ids, use_shortcut=True)
    with ui.computing(reserve=needed, what=f"A backward pass over {len(token_ids)} tokens"):
        without_shortcut = gradient_norms(model, token_ids, use_shortcut=False)
    return shortcut_gradient_frame(with_shortcut, without_shortcut)


@ui.cached
def cached_shortcut_experiment() -> pd.DataFrame:
    return shortcut_experiment_frame(shortcut_experiment(True), shortcut_experiment(False))


def token_key(trace: Trace) -> tuple[int, ...]:
    """The trace's own (cropped) token ids: the cache key of everything drawn from it."""
    return tuple(trace.token_ids.tolist())


def show_residual_norms(trace: Trace, token_axis: list[str], streams: list[str], window: slice) -> None:
    st.subheader("How big is the stream at each layer?")
    norms = cached_residual_norms(ui.current_model_id(), token_key(trace), trace)  # (L + 1, T)
    heatmap = norms_heatmap(norms[:, window], token_axis[window], streams)
    ui.plot(heatmap, key="residual_norm_heatmap")
    st.caption(
        "Each cell is the length (L2 norm) of one token's residual vector: rows go down through the model, "
        "columns are the prompt's tokens. Brighter means a longer vector."
    )

    ui.plot(mean_norm_line(streams, norms.mean(axis=1)), key="residual_norm_line")
    st.caption("The average length over all tokens at each place in the stream: each block adds to the sum.")

    table = pd.DataFrame(norms, columns=token_axis)
    table.insert(0, "stream", streams)
    ui.table_and_figure_downloads(table, heatmap, "residual_norms")


def show_logit_lens(trace: Trace, token_axis: list[str], streams: list[str], window: slice) -> None:
    st.subheader("Logit lens: what would each layer predict?")
    st.markdown(
        "The last step of the model turns the stream leaving the last block into next-token scores with the "
        "final LayerNorm and the output head. The *logit lens* applies those same two steps to the stream at "
        "every earlier layer too, as if the model stopped there."
    )
    with st.spinner("Reading every layer through the output head…"):
        ids, probs = cached_logit_lens(ui.current_model_id(), token_key(trace), window.start, window.stop, trace)
    top_labels = lens_top_labels(ids)  # (L + 1, P): the window's positions only
    shown = token_axis[window]
    heatmap = lens_heatmap(probs[:, :, 0], top_labels, shown, streams)
    ui.plot(heatmap, key="residual_lens_heatmap")
    st.caption(
        "Each cell is the single most likely next token if the model read its prediction off that layer, "
        "after that column's token; darker blue means more confident. The bottom row is the model's real prediction."
        + (
            ""
            if len(shown) <= MAX_CELL_TEXT_TOKENS
            else " Hover over a cell to see its token (the prompt is too long to print them)."
        )
        + (
            ""
            if len(shown) == trace.num_tokens
            else f" The lens reads only the {len(shown)} tokens shown; move the slider above to read others."
        )
    )

    positions = list(range(window.start, window.stop))
    position = st.selectbox(
        "Position to inspect",
        positions,
        index=len(positions) - 1,
        format_func=ui.option_names(positions, token_axis.__getitem__),
        key="residual_lens_position",
    )
    frame = lens_position_frame(ids, probs, position - window.start)
    st.dataframe(lens_wide_table(frame, streams), width="stretch", key="residual_lens_table")
    st.caption(
        # No token text in markdown: a token such as "**" or "$" would be formatted instead of shown.
        f"The {LENS_K} most likely next tokens after the chosen position, one row per layer, with probabilities."
    )
    top_frame = pd.DataFrame(top_labels, columns=shown).assign(stream=streams).set_index("stream").reset_index()
    left, middle, right = st.columns(3)
    with left:
        ui.csv_download(frame, f"logit_lens_position_{position}.csv", label="This position as CSV")
    with middle:
        ui.csv_download(top_frame, "logit_lens_top1.csv", label="These top-1 tokens as CSV", key="residual_lens_csv")
    with right:
        ui.figure_download(heatmap, "logit_lens.html", key="residual_lens_html")


def show_gradients(token_ids: tuple[int, ...]) -> None:
    st.subheader("Gradients with and without shortcut connections")
    st.markdown(
        "Training nudges every weight against the gradient of the loss: how wrong the model was about each "
        "next token of your prompt. The gradient flows backwards from the output to the first block. In a deep "
        "network it can shrink at every layer it passes until the early layers hardly learn: the **vanishing "
        "gradient** problem of the book's section 4.4. A shortcut adds a block's input to its output, so "
        "whatever gradient reaches a block's output also reaches its input, unchanged. Here your prompt runs "
        "through this GPT twice, with its shortcuts on and off."
    )
    if len(token_ids) < 2:
        st.info(
            "The loss needs at least two tokens: one to read and one to predict. Add a word to the prompt "
            "to see the gradients."
        )
        return
    gradient_tokens = token_ids[:GRADIENT_MAX_TOKENS]
    with st.spinner("Computing the loss and its gradients, with shortcuts on and off…"):
        frame = cached_gradient_frame(ui.current_model_id(), gradient_tokens)
    losses = frame.groupby("setting", sort=False)["loss"].first()
    metric_columns = st.columns(len(losses))
    for column, (setting, loss) in zip(metric_columns, losses.items(), strict=True):
        column.metric(f"Loss, {setting}", f"{loss:.3f}")

    last = int(frame["block"].max())
    resid_figure = log_line(frame, RELATIVE, "Gradient reaching the stream, ÷ the last block's")
    params_figure = log_line(frame, "parameter gradient norm", "Gradient of each block's weights")
    left, right = ui.side_by_side(2)
    with left:
        ui.plot(resid_figure, key="residual_stream_grads")
        st.caption(
            "The size (L2 norm) of the loss's gradient with respect to the stream entering each block, all tokens "
            f"together, as a multiple of the one entering block {last}. Block 0 is nearest the input: its gradient "
            "has travelled furthest. The y axis is logarithmic."
        )
        ui.figure_download(resid_figure, "residual_gradients.html", key="residual_stream_grads_html")
    with right:
        ui.plot(params_figure, key="residual_param_grads")
        st.caption("The size (L2 norm) of the gradient of all of each block's weights; the y axis is logarithmic.")
        ui.figure_download(params_figure, "parameter_gradients.html", key="residual_param_grads_html")
    st.markdown(what_the_gradients_show(frame, last))
    if len(gradient_tokens) < len(token_ids):
        st.caption(
            f"These gradients come from the first {len(gradient_tokens)} of the prompt's {len(token_ids)} tokens: "
            "a backward pass over a long prompt takes many times longer, and the picture from block to block "
            "stays the same."
        )
    ui.csv_download(frame, "gradient_norms.csv")


def show_toy_experiment() -> None:
    st.subheader("The book's five-layer experiment")
    st.markdown(
        "A tiny network of five layers, one input, one target. Without shortcuts, the gradient shrinks "
        "as it travels back towards layer 1; with them, every layer gets a useful gradient."
    )
    frame = cached_shortcut_experiment()
    figure = toy_experiment_figure(frame)
    ui.plot(figure, key="residual_toy_chart")
    st.caption("Mean absolute gradient of each layer's weights (log scale): layer 1 is nearest the input.")
    wide = frame.pivot(index="layer", columns="setting", values="mean absolute gradient")
    scientific = st.column_config.NumberColumn(format="%.3e")  # the values span four powers of ten
    st.dataframe(
        wide[list(SETTING_COLOURS)],
        width="stretch",
        column_config=dict.fromkeys(SETTING_COLOURS, scientific),
        key="residual_toy_table",
    )
    ui.table_and_figure_downloads(frame, figure, "shortcut_experiment")


st.title("Residual stream and gradients")
ui.explain(
    "Every block reads the *residual stream*, a running vector for each token, and adds its own "
    "contribution back into it instead of replacing it. This page follows that stream from the embeddings to "
    "the output: how long its vectors grow, what the model would already predict from the stream at each "
    "layer, and how the error signal travels back through it during training."
)

# Each section is a function so that its arrays and figures go when it ends, before the next one
# runs; the page itself is the six lines below.
current = ui.current_trace()
axis_labels = ui.labels(current.token_ids)
stream_labels = stream_names(current.n_layers)
token_window = ui.token_window(current.num_tokens, key="residual_window_start")
show_residual_norms(current, axis_labels, stream_labels, token_window)
show_logit_lens(current, axis_labels, stream_labels, token_window)
prompt_ids = token_key(current)
# The backward passes need only the ids. Letting go of the trace lets the server's memory budget
# hand its memory to them (or to another student) instead of waiting while this page holds it.
del current
show_gradients(prompt_ids)
show_toy_experiment()
