"""How every figure reaches the screen: one house style, and presenter mode for a projector.

Pages call ``ui.plot(figure, key=...)`` instead of st.plotly_chart. It sets the colours every chart
shares (a colour-blind-safe palette: Streamlit's own starts with two near-identical blues) and hides
Plotly's hover toolbar, which covered legends and titles (zoom by dragging still works; each chart has
its own download button). In presenter mode, switched on in the sidebar or by ``?present=1`` in a
link, text and ticks are larger and darker, charts taller, sequential colour scales high-contrast,
and charts that sit side by side are stacked, so that a projector at 150 % zoom still shows every label.
"""

from __future__ import annotations

from collections.abc import Callable

import plotly.graph_objects as go
import streamlit as st

from .remembered import opened_with, put_in_link

PRESENTER_KEY = "presenter_mode"  # plain session key: presenter mode is on for this session
# Okabe and Ito's palette: told apart with every common colour-vision deficiency, and in greyscale.
CATEGORY_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
PRESENTER_FONT, PRESENTER_TICKS = 20, 17  # px; the default ticks are 12 px grey
PRESENTER_HEIGHT = 1.35  # charts grow by this much, so heatmap cells stay big enough to read
# High contrast from end to end and readable with colour-vision deficiency; reversed, so that darker
# still means more, as the pages' captions say.
PRESENTER_SEQUENTIAL = "Cividis_r"
PRESENTER_CSS = """
<style>
html { font-size: 20px; }
[data-testid="stMainBlockContainer"] { max-width: 100%; padding-left: 2rem; padding-right: 2rem; }
</style>
"""


def opening_sidebar_state() -> str:
    """A presenter link opens with the sidebar folded away, so the projector's width goes to the charts."""
    return "collapsed" if st.query_params.get("present") in ("1", "true", "on") else "auto"


def presenting() -> bool:
    return bool(st.session_state.get(PRESENTER_KEY, False))


def presenter_toggle() -> None:
    """The sidebar's switch; a link with ?present=1 opens with it on, and the address keeps it."""
    if PRESENTER_KEY not in st.session_state:
        st.session_state[PRESENTER_KEY] = opened_with("present") in ("1", "true", "on")
    st.session_state["_presenter_box"] = st.session_state[PRESENTER_KEY]
    st.toggle(
        "Presenter mode",
        key="_presenter_box",
        on_change=lambda: st.session_state.update({PRESENTER_KEY: st.session_state["_presenter_box"]}),
        help="For a projector: larger text and ticks, taller charts, high-contrast colours, charts stacked "
        "instead of side by side. A link copied now opens in presenter mode too.",
    )
    if presenting():
        put_in_link("present", "1")
        st.html(PRESENTER_CSS)
    else:
        st.query_params.pop("present", None)


def styled(figure: go.Figure) -> go.Figure:
    """The figure in the house style, and in presenter mode's when it is on (changed in place)."""
    figure.update_layout(colorway=CATEGORY_COLOURS)
    if not presenting():
        return figure
    ink = "#f0f0f0" if st.context.theme.type == "dark" else "#111111"
    figure.update_layout(font={"size": PRESENTER_FONT, "color": ink}, legend_font_size=PRESENTER_TICKS)
    figure.update_xaxes(
        tickfont={"size": PRESENTER_TICKS, "color": ink}, title_font={"size": PRESENTER_FONT, "color": ink}
    )
    figure.update_yaxes(
        tickfont={"size": PRESENTER_TICKS, "color": ink}, title_font={"size": PRESENTER_FONT, "color": ink}
    )
    figure.update_annotations(font_size=PRESENTER_FONT)  # subplot titles
    if figure.layout.height:
        figure.update_layout(height=int(figure.layout.height * PRESENTER_HEIGHT))
    for trace in figure.data:
        if trace.type == "heatmap" and trace.zmid is None:  # sequential, not a diverging scale centred on 0
            trace.colorscale = PRESENTER_SEQUENTIAL
    return figure


def plot(figure: go.Figure, key: str | None = None, width: str = "stretch", where=st, shared: bool = False, **kwargs):
    """st.plotly_chart in the house style, without Plotly's hover toolbar; ``where``: a slot such as st.empty().
    A ``shared`` figure (from shared_figure) is styled already and is not changed.

    Returns what st.plotly_chart returns: with ``on_select="rerun"``, the cells a student clicked.
    """
    config = {"displayModeBar": False, **kwargs.pop("config", {})}
    return where.plotly_chart(figure if shared else styled(figure), width=width, key=key, config=config, **kwargs)


def shared_figure(view: tuple, build: Callable[[], go.Figure]) -> go.Figure:
    """The figure of ``view`` (what it shows, e.g. ("weights", model, prompt, layer, head)), built and
    styled once per view, presenter mode and theme, then shared read-only by every session showing
    it: thirty students sent to a page by their teacher build its figures once, not thirty times.
    Draw it with plot(figure, shared=True)."""
    from .caches import RESULTS

    theme = st.context.theme.type if presenting() else None
    return RESULTS.get_or_compute(("shared figure", view, presenting(), theme), lambda: styled(build()))


def side_by_side(count: int = 2) -> list:
    """st.columns(count), or in presenter mode containers one under the other, each as wide as the page."""
    if presenting():
        return [st.container() for _ in range(count)]
    return st.columns(count)
