"""Start here: what the explorer shows, and the model's first guess for the prompt."""

from ui.frame import ensure_app_frame

ensure_app_frame()  # first, before the heavy imports: see ui/frame.py

import streamlit as st

import ui
from ui.figures import next_token_figure
from ui.tables import next_token_frame

st.title("GPT explorer")
ui.explain(
    "Type a prompt in the sidebar. A GPT-2, written from scratch in PyTorch exactly as in chapter 4 of "
    "*Build a Large Language Model (From Scratch)*, reads the whole prompt in one parallel pass, each token "
    "looking only at itself and the tokens before it; when it writes, it adds one token at a time. Every "
    "chart in this app is drawn from the real numbers the model computes, not from a sketch. Use the pages "
    "on the left to follow the prompt through the model: tokens, attention, LayerNorm, the feed-forward "
    "layers, the residual stream, and finally the next-token probabilities as it writes."
)

t = ui.current_trace()
st.subheader("Your prompt, as the model sees it")
st.write(" ".join(f"`{label}`" for label in ui.labels(t.token_ids)))

st.subheader("What the model expects next")
frame = next_token_frame(t, k=10)
ui.plot(next_token_figure(frame), key="home_next_token_chart")
st.caption(
    "The ten tokens the model finds most likely to come right after your prompt, out of 50,257, and the "
    "probability it gives each."
)
ui.csv_download(frame, "next_token.csv")
