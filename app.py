"""GPT explorer: page config, navigation over pages/, and the sidebar every page shares."""

import streamlit as st

import ui

st.set_page_config(page_title="GPT explorer", page_icon="🔎", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Start here", icon="🏠", default=True),
    st.Page("pages/architecture.py", title="Architecture", icon="🏗️", url_path="architecture"),
    st.Page("pages/tokens.py", title="Tokens and embeddings", icon="🔤", url_path="tokens"),
    st.Page("pages/attention.py", title="Attention", icon="👀", url_path="attention"),
    st.Page("pages/layernorm.py", title="LayerNorm", icon="📏", url_path="layernorm"),
    st.Page("pages/feedforward.py", title="Feed-forward and GELU", icon="⚡", url_path="feedforward"),
    st.Page("pages/residual.py", title="Residual stream and gradients", icon="🌊", url_path="residual"),
    st.Page("pages/generate.py", title="Generate", icon="✍️", url_path="generate"),
    st.Page("pages/train.py", title="Train", icon="🏋️", url_path="train"),
    st.Page("pages/compare.py", title="Compare", icon="⚖️", url_path="compare"),
]

ui.render_sidebar()
page = st.navigation(PAGES)
page.run()
