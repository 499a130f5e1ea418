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
from ui.tables import layernorm_table

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
    """One side of the book's demo: the (2, 6) values, then each example's mean and variance both ways."""
    st.markdown(title)
    st.dataframe(small_table(demo[name], column_name="dim ").style.format("{:.4f}"), width="stretch", key=key)
    moments = pd.DataFrame(
        {
            "mean": demo[f"{name}_mean"][:, 0],
            "variance ÷ (n − 1)": demo[f"{name}_var_unbiased"][:, 0],
            "variance ÷ n": demo[f"{name}_var_biased"][:, 0],
        },
        index=["example 0", "example 1"],
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
parameters = cached_norm_parameters(model_id, layer, ui.current_model())
untrained = {
    norm: bool((parameters[f"{norm}_scale"] == 1).all() and (parameters[f"{norm}_shift"] == 0).all())
    for norm in NORM_INPUTS
}

st.subheader(f"Mean and variance of each token, layer {layer}")
columns = ui.side_by_side(2)
for column, norm in zip(columns, NORM_INPUTS, strict=True):
    with column:
        st.markdown(f"**{NORM_LABELS[norm]}**")
        figure = stats_figure(stats[stats["norm"] == norm], labels)
        ui.plot(figure, key=f"layernorm_{norm}_stats_chart")
after = stats["var_after"]
st.caption(
    "One pair of bars per token: grey is the token's vector as it enters the norm, blue as it leaves. "
    + (
        "After the norm every token has mean 0 and a variance a hair under 1, "
        f"{after.min():.6f} to {after.max():.6f} here: LayerNorm divides by √(variance + eps) with "
        "eps = 0.00001, a guard against dividing by zero, so the variance comes out as variance ÷ "
        "(variance + eps). The bars cannot show a difference that small."
        if all(untrained.values())
        else "Normalising alone would give every token mean 0 and variance 1 (a hair under: eps = 0.00001 is "
        "added before the square root); this trained model's scale and shift move the blue bars away from that."
    )
)
before = stats["var_before"]
if all(untrained.values()):
    st.caption(
        f"Why is the variance before the norm about {before.median():.1f}? The stream starts as the token's "
        "embedding plus its position's embedding. An untrained model draws every number of both from a normal "
        "distribution with variance 1 (PyTorch's nn.Embedding does), and the variances of two independent "
        "numbers add up: 1 + 1 = 2. Every block then adds its own output to the stream, so deeper layers read "
        "a little more."
    )
else:
    st.caption(
        f"The variance before the norm is {before.min():.3g} to {before.max():.3g} here: in a trained model "
        "the stream grows as the blocks add to it, and the norm divides that growth out again."
    )
if t.num_tokens == 1:
    st.caption("With one token there is one pair of bars: LayerNorm works on each token on its own.")
with st.expander("The numbers as a table"):
    numbers = layernorm_table(stats)
    st.dataframe(
        numbers,
        width="stretch",
        hide_index=True,
        column_config={
            column: st.column_config.NumberColumn(format="%.6f")
            for column in ("mean before", "variance before", "mean after", "variance after")
        },
        key="layernorm_stats_table",
    )
    ui.csv_download(numbers, f"layernorm_layer{layer}.csv", key="layernorm_csv")

st.subheader("All values, before and after")
norm = ui.remembered_choice(
    st.radio, "Which norm", list(NORM_INPUTS), NORM_KEY, link="norm", format_func=NORM_LABELS.get, horizontal=True
)
histograms = cached_histograms(model_id, token_ids, layer, norm, t)
ui.plot(histogram_figure(histograms), key="layernorm_histogram_chart")
st.caption(
    f"Every number of every token's {t.layer('norm1_out', layer).shape[-1]}-dimensional vector, counted in bins: "
    "grey before the norm, blue after. "
    + (
        "The blue hump sits around 0 with a spread of about 1, because this norm's scale is still 1 and its shift 0."
        if untrained[norm]
        else "Normalising alone would put the blue values around 0 with a spread of about 1; this norm's learned "
        "scale and shift (below) stretch and move them away from that."
    )
)

st.subheader(f"The learned scale and shift of {norm}, layer {layer}")
ui.plot(parameters_figure(parameters, norm), key="layernorm_parameters_chart")
st.caption(
    "One point per dimension: the norm's output is normalised value × scale + shift. "
    + (
        "Here they are flat lines at 1 and 0, because the model has not been trained yet."
        if untrained[norm]
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
    st.caption(
        "The book prints mean [[0.1324], [0.2170]] and variance [[0.0231], [0.0398]]: the same numbers, in the "
        "÷ (n − 1) column."
    )
with right:
    show_demo_values("**After LayerNorm** `out_norm`", demo, "normalized", "layernorm_demo_norm")
    normalized_var = demo["normalized_var_biased"][:, 0]
    st.caption(
        f"Mean 0 in each row, and in the ÷ n column, the one LayerNorm uses, a variance of {normalized_var[0]:.4f} "
        f"and {normalized_var[1]:.4f}: just under 1, because these outputs vary so little (about 0.02) that "
        "LayerNorm's eps = 0.00001 is a visible share of it."
    )
st.markdown(
    "**Why two variances?** A variance is the average squared distance from the mean. `torch.var` divides "
    "the sum by n − 1 by default: that corrects for the mean being estimated from the same few numbers, "
    "which is what a statistician wants from a sample, and it is what the book prints for `out`. LayerNorm "
    "divides by n (`unbiased=False` in the book's LayerNorm class): it only rescales these exact numbers. "
    "With n = 6 the two differ by a factor 6/5, so a normalised row has variance about 1 ÷ n and about 1.2 "
    "÷ (n − 1). "
    "With GPT-2's 768 dimensions they differ by 0.13%."
)
