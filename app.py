"""GPT explorer: navigation over pages/, page config, and the sidebar every page shares."""

import streamlit as st

from ui.frame import app_pages

# First, before the heavy imports below: on a fresh server this ends Streamlit's pages-folder
# mode, so the first visitor already sees this navigation (ui/frame.py).
current_page = st.navigation(app_pages())

import ui

ui.start()  # after the navigation: importing torch and the rest takes seconds on a fresh server
st.set_page_config(page_title="GPT explorer", page_icon="🔎", layout="wide")
ui.render_sidebar()
with ui.app_frame():
    current_page.run()
