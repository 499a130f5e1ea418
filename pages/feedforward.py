"""Feed-forward and GELU: the activation function, the 4x expansion, and which neurons fire for which token."""

from __future__ import annotations

from ui.frame import ensure_app_frame

ensure_app_frame()  # first, before the heavy imports: see ui/frame.py

import pandas as pd
import streamlit as st

import ui
from gptcore import GPTModel, NeuronAblation, Trace, count_parameters
from gptcore.neurons import activation_curves, activation_summary, feedforward_sizes, top_neuron_matrix, top_neurons
from gptcore.stats import histogram
from ui.charts.feedforward import curves_figure, expansion_figure, histogram_figure, neuron_heatmap, summary_figure
from ui.experiments import open_experiments_if_asked, switch_off_in_experiments

LAYER_KEY = "feedforward_layer"  # plain session keys: they survive page switches, widget keys do not
TOP_N_KEY = "feedforward_top_n"
TOP_K = 5  # neurons listed per token in the table


@ui.cached
def cached_curves() -> pd.DataFrame:
    return activation_curves(-4.0, 4.0)


@ui.cached
def cached_sizes(model_id: str, _model: GPTModel) -> tuple[pd.DataFrame, int]:
    """One feed-forward's parameters, and the whole model's count; keyed by id, the model is not hashed."""
    return feedforward_sizes(_model), count_parameters(_model)


@ui.cached
def cached_summary(model_id: str, token_ids: tuple[int, ...], _trace: Trace) -> pd.DataFrame:
    return activation_summary(_trace)


@ui.cached
def cached_layer_histogram(model_id: str, token_ids: tuple[int, ...], layer: int, _trace: Trace) -> pd.DataFrame:
    return histogram(_trace.layer("gelu", layer), bins=80)


@ui.cached
def cached_top_neurons(model_id: str, token_ids: tuple[int, ...], layer: int, _trace: Trace) -> pd.DataFrame:
    return top_neurons(_trace, layer, k=TOP_K)


# ---------------------------------------------------------------------------------------------


st.title("Feed-forward and GELU")
ui.explain(
    "After attention has mixed information between tokens, each block gives every token its own small "
    "neural network: it widens the token's vector four times, bends it with the GELU function, and narrows "
    "it back. Each of the wide layer's numbers is a *neuron*; which neurons fire for which token is where "
    "much of a trained model's knowledge is thought to live. Tokens do not talk to each other here."
)

st.subheader("GELU, the bend in the middle")
ui.plot(curves_figure(cached_curves()), key="feedforward_curves_chart")
st.caption(
    "GELU (solid) is a smooth ReLU (dashed): close to 0 for negative inputs, close to the input for positive "
    "ones, with a small dip below 0 (down to about −0.17) instead of a hard corner at 0."
)

t = ui.current_trace()
model = ui.current_model()
model_id = ui.current_model_id()
token_ids = tuple(t.token_ids.tolist())
labels = ui.labels(t.token_ids)
emb_dim = model.cfg.emb_dim
sizes, total_parameters = cached_sizes(model_id, model)
ff_parameters = int(sizes["parameters"].iloc[-1])

st.subheader("Four times wider, then back")
metrics = st.columns(4)
metrics[0].metric("Token vector", f"{emb_dim:,}")
metrics[1].metric("Hidden layer (4×)", f"{4 * emb_dim:,}")
metrics[2].metric("Parameters, one feed-forward", f"{ff_parameters:,}")
metrics[3].metric(
    "Share of the model",
    f"{ff_parameters * model.cfg.n_layers / total_parameters:.0%}",
    help=f"All {model.cfg.n_layers} feed-forwards together, as a share of every parameter in the model.",
)
ui.plot(expansion_figure(emb_dim), key="feedforward_expansion_chart")
st.caption(
    f"layers[0] turns each {emb_dim}-number vector into {4 * emb_dim} numbers, GELU (layers[1]) bends each of "
    "them, and layers[2] "
    f"brings them back to {emb_dim} so the result can be added to the residual stream."
)
st.dataframe(
    sizes.style.format({"parameters": "{:,}"}), width="stretch", hide_index=True, key="feedforward_sizes_table"
)
st.caption(
    f"PyTorch stores a Linear layer's weight as (outputs × inputs): layers[0]'s is {4 * emb_dim} × {emb_dim} "
    f"and layers[2]'s is {emb_dim} × {4 * emb_dim}, {emb_dim * 4 * emb_dim:,} weights each, plus one bias per "
    "output. The names are the book's: ff.layers is an nn.Sequential of Linear, GELU, Linear."
)

st.subheader("Activations in every layer")
layer = ui.layer_choice(t.n_layers, LAYER_KEY)
summary = cached_summary(model_id, token_ids, t)
box_col, hist_col = ui.side_by_side(2)
with box_col:
    ui.plot(summary_figure(summary, layer), key="feedforward_summary_chart")
    st.caption(
        "One box per layer over all tokens and neurons: the box holds the middle half of the activations, the "
        "line is the median, whiskers reach 1.5 box-heights out, the triangle marks the largest activation."
    )
with hist_col:
    counts = cached_layer_histogram(model_id, token_ids, layer, t)
    ui.plot(histogram_figure(counts), key="feedforward_histogram_chart")
    share_negative = summary.loc[summary["layer"] == layer, "share_negative"].iloc[0]
    st.caption(
        f"Layer {layer}: all {t.num_tokens * 4 * emb_dim:,} activations ({t.num_tokens} tokens × {4 * emb_dim} "
        f"neurons). {share_negative:.0%} are slightly negative: GELU squeezes every negative input into [−0.17, 0]."
    )
ui.csv_download(summary, "gelu_summary.csv", label="Box-plot numbers as CSV", key="feedforward_summary_csv")

st.subheader(f"The most active neurons, layer {layer}")
table = cached_top_neurons(model_id, token_ids, layer, t)
st.dataframe(
    table.style.format(precision=3),
    width="stretch",
    hide_index=True,
    key="feedforward_top_table",
)
st.caption(f"For each token, the {TOP_K} neurons with the largest activation after GELU, strongest first.")
ui.csv_download(table, f"top_neurons_layer{layer}.csv", key="feedforward_top_csv")

n_neurons = st.slider("Neurons in the heatmap", 5, 50, st.session_state.get(TOP_N_KEY, 20), key="feedforward_top_n_box")
st.session_state[TOP_N_KEY] = n_neurons
neurons, activations = top_neuron_matrix(t, layer, n_neurons)  # (n,), (n, T)
window = ui.token_window(t.num_tokens, key="feedforward_window_start")
heatmap = neuron_heatmap(neurons, activations[:, window], labels[window])
ui.plot(heatmap, key="feedforward_neuron_chart")
st.caption(
    "Rows are the neurons with the highest peak activation anywhere in the prompt, columns are tokens: a dark "
    "cell is a neuron firing strongly for that token. In an untrained model the pattern is random."
)
activation_table = pd.DataFrame(activations, index=[f"neuron {n}" for n in neurons], columns=labels)
left, right = st.columns(2)
with left:
    ui.csv_download(
        activation_table.rename_axis("neuron").reset_index(),
        f"neuron_activations_layer{layer}.csv",
        label="Every token's activations as CSV",
        key="feedforward_neuron_csv",
    )
with right:
    ui.figure_download(heatmap, f"top_neurons_layer{layer}.html", label="Heatmap (HTML)", key="feedforward_neuron_html")

st.markdown(f"**What does a neuron do?** Switch some of layer {layer}'s most active neurons off and see what changes.")
picked = st.multiselect(
    f"Neurons of layer {layer}", [int(n) for n in neurons], key="feedforward_ablate", format_func="neuron {}".format
)
st.button(
    "Switch them off on the Experiments page",
    key="feedforward_ablate_button",
    disabled=not picked,
    on_click=switch_off_in_experiments,
    args=([NeuronAblation(layer, neuron) for neuron in picked],),
)
open_experiments_if_asked()
