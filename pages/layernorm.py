"""Placeholder until this page is written."""

import streamlit as st

st.title("layernorm")
st.info("This page is being built.")
