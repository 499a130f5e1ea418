"""LayerNorm: each token's mean and variance before and after normalisation, and the book's small demo."""

from __future__ import annotations

from ui.frame import ensure_app_frame

ensure_app_frame()  # first, before the heavy imports: see ui/frame.py

import numpy as np
import pandas as pd
import streamlit as st

import ui
from gptcore import GPTModel, Trace
from gptcore.normalization import NORM_INPUTS, layernorm_demo, layernorm_histograms, layernorm_stats, norm_parameters
from ui.charts.layernorm import histogram_figure, parameters_figure, stats_figure

LAYER_KEY = "layernorm_layer"  # plain session keys: they survive page switches, widget keys do not
NORM_KEY = "layernorm_norm"
NORM_LABELS = {
    "norm1": "norm1 (before attention)",
    "norm2": "norm2 (before the feed-forward)",
}


@ui.cached
def cached_stats(model_id: str, token_ids: tuple[int, ...], layer: int, _trace: Trace) -> pd.DataFrame:
    return layernorm_stats(_trace, layer)


@ui.cached
def cached_histograms(model_id: str, token_ids: tuple[int, ...], layer: int, norm: str, _trace: Trace) -> pd.DataFrame:
    return layernorm_histograms(_trace, layer, norm)


@ui.cached
def cached_norm_parameters(model_id: str, layer: int, _model: GPTModel) -> pd.DataFrame:
    """Keyed by the model id; the model itself is never hashed."""
    return norm_parameters(_model, layer)


@ui.cached
def cached_demo() -> dict[str, np.ndarray]:
    return layernorm_demo()


def small_table(array: np.ndarray, row_name: str = "example", column_name: str = "") -> pd.DataFrame:
    """A 2-D array as a frame with named rows (example 0, 1) and columns, for the demo tables."""
    columns = [f"{column_name}{j}" for j in range(array.shape[1])] if column_name else None
    return pd.DataFrame(array, index=[f"{row_name} {i}" for i in range(array.shape[0])], columns=columns)


def show_demo_values(title: str, demo: dict[str, np.ndarray], name: str, key: str) -> None:
    """One side of the book's demo: the (2, 6) values, then each example's mean and variance."""
    st.markdown(title)
    st.dataframe(small_table(demo[name], column_name="dim ").style.format("{:.4f}"), width="stretch", key=key)
    moments = pd.DataFrame(
        {"mean": demo[f"{name}_mean"][:, 0], "variance": demo[f"{name}_var"][:, 0]}, index=["example 0", "example 1"]
    )
    moments = moments.round(4).add(0.0)  # turns -0.0 (a rounded -1e-8) into 0.0
    st.dataframe(moments.style.format("{:.4f}"), width="stretch", key=f"{key}_stats")


# ---------------------------------------------------------------------------------------------


st.title("LayerNorm")
ui.explain(
    "Before attention and before the feed-forward, every block rescales each token's vector so that its "
    "numbers have mean 0 and variance 1. This keeps values in a steady range however deep the model is, "
    "which makes training stable. Afterwards two learned vectors, *scale* and *shift*, may stretch and move "
    "each dimension again: in an untrained model they are still 1 and 0, so the output has mean 0 and variance 1."
)

t = ui.current_trace()
model_id = ui.current_model_id()
token_ids = tuple(t.token_ids.tolist())
labels = ui.labels(t.token_ids)

layer = ui.layer_choice(t.n_layers, LAYER_KEY)
stats = cached_stats(model_id, token_ids, layer, t)

st.subheader(f"Mean and variance of each token, layer {layer}")
columns = st.columns(2)
for column, norm in zip(columns, NORM_INPUTS, strict=True):
    with column:
        st.markdown(f"**{NORM_LABELS[norm]}**")
        figure = stats_figure(stats[stats["norm"] == norm], labels)
        st.plotly_chart(figure, width="stretch", key=f"layernorm_{norm}_stats_chart")
st.caption(
    "One pair of bars per token: grey is the token's vector as it enters the norm, blue as it leaves. "
    "After the norm every token has mean ≈ 0 and variance ≈ 1 (just under 1: a tiny eps is added to the "
    "variance to avoid dividing by zero); a trained model's scale and shift move these away from 0 and 1."
)
if t.num_tokens == 1:
    st.caption("With one token there is one pair of bars: LayerNorm works on each token on its own.")
with st.expander("The numbers as a table"):
    st.dataframe(stats, width="stretch", hide_index=True, key="layernorm_stats_table")
    ui.csv_download(stats, f"layernorm_layer{layer}.csv", key="layernorm_csv")

st.subheader("All values, before and after")
norm = ui.remembered_choice(
    st.radio, "Which norm", list(NORM_INPUTS), NORM_KEY, link="norm", format_func=NORM_LABELS.get, horizontal=True
)
parameters = cached_norm_parameters(model_id, layer, ui.current_model())
untrained = bool((parameters[f"{norm}_scale"] == 1).all() and (parameters[f"{norm}_shift"] == 0).all())
histograms = cached_histograms(model_id, token_ids, layer, norm, t)
st.plotly_chart(histogram_figure(histograms), width="stretch", key="layernorm_histogram_chart")
st.caption(
    f"Every number of every token's {t.layer('norm1_out', layer).shape[-1]}-dimensional vector, counted in bins: "
    "grey before the norm, blue after. "
    + (
        "The blue hump sits around 0 with a spread of about 1, because this norm's scale is still 1 and its shift 0."
        if untrained
        else "Normalising alone would put the blue values around 0 with a spread of about 1; this norm's learned "
        "scale and shift (below) stretch and move them away from that."
    )
)

st.subheader(f"The learned scale and shift of {norm}, layer {layer}")
st.plotly_chart(parameters_figure(parameters, norm), width="stretch", key="layernorm_parameters_chart")
st.caption(
    "One point per dimension: the norm's output is normalised value × scale + shift. "
    + (
        "Here they are flat lines at 1 and 0, because the model has not been trained yet."
        if untrained
        else "Training has moved them away from 1 and 0."
    )
)

st.subheader("The book's small example")
st.markdown(
    "Chapter 4 starts with two examples of 5 numbers each, passes them through a tiny layer "
    "(`Linear(5, 6)` then `ReLU`) and normalises its outputs. Computed live, with the book's seed 123:"
)
st.code(
    "torch.manual_seed(123)\n"
    "batch_example = torch.randn(2, 5)\n"
    "layer = nn.Sequential(nn.Linear(5, 6), nn.ReLU())\n"
    "out = layer(batch_example)\n"
    "out_norm = LayerNorm(emb_dim=6)(out)",
    language="python",
)
demo = cached_demo()
left, right = st.columns(2)
with left:
    show_demo_values("**The layer's outputs** `out`", demo, "outputs", "layernorm_demo_out")
    st.caption("The book prints mean [[0.1324], [0.2170]] and variance [[0.0231], [0.0398]]: the same numbers.")
with right:
    show_demo_values("**After LayerNorm** `out_norm`", demo, "normalized", "layernorm_demo_norm")
    st.caption(
        "Mean 0 and variance ≈ 1 in each row. The variance is a hair under 1 because of eps; the book's "
        "variance above uses n − 1 in the divisor, LayerNorm uses n."
    )
