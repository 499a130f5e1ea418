"""GPT explorer: navigation over pages/, page config, and the sidebar every page shares."""

import streamlit as st

from ui.frame import app_pages, render_navigation

# First, before the heavy imports below: on a fresh server this ends Streamlit's pages-folder
# mode, and the page links are drawn at once (ui/frame.py).
pages = app_pages()
current_page = st.navigation(pages, position="hidden")
render_navigation(pages)

import ui

ui.start()  # after the navigation: importing torch and the rest takes seconds on a fresh server
st.set_page_config(
    page_title="GPT explorer", page_icon="🔎", layout="wide", initial_sidebar_state=ui.opening_sidebar_state()
)
ui.render_sidebar(current_page.url_path)
with ui.app_frame():
    current_page.run()
