"""Placeholder until this page is written."""

import streamlit as st

st.title("feedforward")
st.info("This page is being built.")
