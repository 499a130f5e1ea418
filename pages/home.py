"""Start here: what the explorer shows, and the model's first guess for the prompt."""

from ui.frame import ensure_app_frame

ensure_app_frame()  # first, before the heavy imports: see ui/frame.py

import pandas as pd
import plotly.express as px
import streamlit as st

import ui
from gptcore import token_label
from gptcore.lens import top_k
from ui.figures import margins

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
probs = t.probabilities(-1)
top, top_probs = top_k(probs, min(10, len(probs)))
frame = pd.DataFrame({"token": [token_label(int(i)) for i in top], "id": top, "probability": top_probs})
figure = px.bar(frame, x="probability", y="token", orientation="h", text_auto=".2%")
figure.update_layout(yaxis={"autorange": "reversed"}, height=360, margin=margins())
st.plotly_chart(figure, width="stretch")
ui.csv_download(frame, "next_token.csv")
