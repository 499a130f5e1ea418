"""Compare: two models read the same prompt, side by side (e.g. before and after training)."""

from __future__ import annotations

from ui.frame import ensure_app_frame

ensure_app_frame()  # first, before the heavy imports: see ui/frame.py

import numpy as np
import pandas as pd
import streamlit as st

import ui
from gptcore import GPTModel, Trace
from gptcore.generation import split_generated_text
from gptcore.lens import logit_lens
from gptcore.normalization import layernorm_profile
from ui.charts.compare import attention_figure, norm_figure
from ui.chips import text_html
from ui.continuation import CONTINUATION_TOKENS, greedy_continuation
from ui.figures import next_token_figure
from ui.pair import Side, default_pair, each_side, load_side, pick_model, shown_view
from ui.tables import last_position_lens_frame, next_token_frame

LEFT_KEY = ui.COMPARE_LEFT_KEY  # plain session keys: they survive page switches, widget keys do not
RIGHT_KEY = ui.COMPARE_RIGHT_KEY  # (the Train page's "Compare before and after" sets both)
LAYER_KEY = "compare_layer"
HEAD_KEY = "compare_head"
TOP_K = 10  # next-token candidates per model
MAX_TOKENS_SHOWN = 48  # a longer prompt's heatmap shows its last tokens, so two heatmaps fit side by side
PROMPT_TAIL_CHARS = 160  # the continuations show only the prompt's end, so the two stay side by side


@ui.cached
def cached_next_tokens(model_id: str, token_ids: tuple[int, ...], _trace: Trace) -> pd.DataFrame:
    return next_token_frame(_trace, TOP_K)


@ui.cached
def cached_lens(model_id: str, token_ids: tuple[int, ...], _model: GPTModel, _trace: Trace) -> pd.DataFrame:
    """Keyed by model id and tokens; one stream place per turn at the model."""
    ids, probs = logit_lens(_model, _trace, k=1, step=ui.computing, positions=slice(-1, None))  # (L + 1, 1, 1)
    return last_position_lens_frame(ids, probs)


@ui.cached
def cached_norms(model_id: str, token_ids: tuple[int, ...], _trace: Trace) -> pd.DataFrame:
    return layernorm_profile(_trace)


# ---------------------------------------------------------------------------------------------


st.title("Compare two models")
ui.explain(
    "Two models read the same prompt (the one in the sidebar), each in its own column. Put an untrained "
    "model next to the same model after training and see what training changed: where the heads look, "
    'how sure the model is about the next token, from which layer on it already "knows" the answer, '
    "and how large the numbers inside it have grown."
)

prompt_ids = ui.prompt_token_ids()
all_choices = ui.all_choices()
left_default, right_default = default_pair(all_choices)
picker_columns = st.columns(2)
picked = []
for column, (label, state_key, default) in zip(
    picker_columns,
    (("Left model", LEFT_KEY, left_default), ("Right model", RIGHT_KEY, right_default)),
    strict=True,
):
    with column:
        choice = pick_model(label, state_key, all_choices, default)
        st.caption(choice.about)
        picked.append(choice)

sides: list[Side | None] = []
for column, choice in zip(st.columns(2), picked, strict=True):
    with column:
        sides.append(load_side(choice, prompt_ids))
loaded = [side for side in sides if side is not None]
if not loaded:
    st.stop()
if picked[0].model_id == picked[1].model_id:
    st.info("Both columns show the same model: pick another one on one side to compare.")

# ---- Continuations --------------------------------------------------------------------------
st.subheader("What each model writes next")
st.markdown(f"Each model continues the prompt with {CONTINUATION_TOKENS} tokens, always taking the most likely one.")
prompt_text = split_generated_text(prompt_ids, [])[0]
shown_prompt = prompt_text if len(prompt_text) <= PROMPT_TAIL_CHARS else "…" + prompt_text[-PROMPT_TAIL_CHARS:]
for _index, side in each_side(sides):
    with st.spinner("Writing…"):
        continuation = greedy_continuation(*side.key, side.model)
    st.html(text_html(shown_prompt, continuation))

# ---- Attention ------------------------------------------------------------------------------
st.subheader("Attention")
st.markdown(
    "One head's attention weights: each row is a token, each column a token it may look at. Models of "
    "different sizes share the choice; a model with fewer layers or heads shows its last one instead."
)
layer, head = ui.layer_and_head(
    max(side.trace.n_layers for side in loaded), max(side.trace.n_heads for side in loaded), LAYER_KEY, HEAD_KEY
)
for index, side in each_side(sides, lambda side: "layer {}, head {}".format(*shown_view(side, layer, head))):
    shown_layer, shown_head = shown_view(side, layer, head)
    ui.plot(
        attention_figure(side.trace, shown_layer, shown_head, MAX_TOKENS_SHOWN),
        key=f"compare_attention_{index}",
    )
    if (shown_layer, shown_head) != (layer, head):
        st.caption(
            f"This model has {side.trace.n_layers} layers of {side.trace.n_heads} heads, so it shows "
            f"layer {shown_layer}, head {shown_head}."
        )
if any(side.trace.num_tokens > MAX_TOKENS_SHOWN for side in loaded):
    st.caption(f"Long prompts: the heatmaps show the last {MAX_TOKENS_SHOWN} tokens.")

# ---- Next token -----------------------------------------------------------------------------
st.subheader("Next token")
st.markdown(f"The {TOP_K} tokens each model finds most likely to come right after the prompt.")
next_frames = [None if side is None else cached_next_tokens(*side.key, side.trace) for side in sides]
highest = max(float(frame["probability"].max()) for frame in next_frames if frame is not None)
for index, _side in each_side(sides):
    ui.plot(next_token_figure(next_frames[index], highest), key=f"compare_next_{index}")
st.caption(
    "Both charts share one scale. An untrained model spreads its bets thinly over 50,257 tokens (about "
    "0.002% each); training makes it pick a few."
)

# ---- Logit lens -----------------------------------------------------------------------------
st.subheader("Logit lens at the last token")
st.markdown(
    "What would each model predict if it stopped early? The final LayerNorm and output head are applied "
    "to the stream entering each block and to the stream leaving the last one (see *Residual stream and "
    "gradients*). That last row is the model's real prediction."
)
for index, side in each_side(sides):
    with st.spinner("Reading every layer through the output head…"):
        lens = cached_lens(*side.key, side.model, side.trace)
    st.dataframe(
        ui.as_percentages(lens[["stream", "token", "probability"]]),
        hide_index=True,
        width="stretch",
        height=36 * (len(lens) + 1) + 3,
        column_config={
            "probability": st.column_config.ProgressColumn("probability", format="%.3g%%", min_value=0, max_value=100)
        },
        key=f"compare_lens_{index}",
    )

# ---- LayerNorm ------------------------------------------------------------------------------
st.subheader("LayerNorm statistics")
st.markdown(
    "The mean and variance of the vectors entering each LayerNorm, averaged over the prompt's tokens: what "
    "each norm divides out. The variance shows how large the residual stream has grown by that point."
)
profiles = [None if side is None else cached_norms(*side.key, side.trace) for side in sides]
variances = np.concatenate([profile["variance"].to_numpy() for profile in profiles if profile is not None])
positive = variances[variances > 0]
low, high = (positive.min(), positive.max()) if positive.size else (1.0, 1.0)
variance_range = (float(np.log10(low)) - 0.1, float(np.log10(high)) + 0.1)  # one scale for both models
for index, _side in each_side(sides):
    ui.plot(norm_figure(profiles[index], variance_range), key=f"compare_norms_{index}")
st.caption("The variance axis is logarithmic and shared by both charts.")
