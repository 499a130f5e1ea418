"""GPT explorer: entry point. The full multipage app arrives with the explorer issue."""

import streamlit as st

from gptcore import GPT_CONFIG_124M, size_report

st.set_page_config(page_title="GPT explorer", page_icon="🔎", layout="wide")
st.title("GPT explorer")
st.write(
    "A GPT-2 written from scratch in PyTorch, following chapter 4 of *Build a Large Language Model "
    "(From Scratch)*. The pages that show its insides are on the way."
)
report = size_report(GPT_CONFIG_124M)
st.metric("Parameters of the book's 124M model", f"{report.parameters:,}")
