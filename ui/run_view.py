"""A training run on the Train page: its numbers, curves and samples, redrawn live while it runs."""

from __future__ import annotations

import streamlit as st

from .charts.training import grad_figure, loss_figure
from .training import TrainingRun, training_registry


def draw_run(run: TrainingRun) -> None:
    """The run's numbers, curves and samples; the same whether it is going or over."""
    steps, evaluations = run.steps(), run.evaluations()
    metrics = st.columns(4)
    metrics[0].metric("Steps", f"{run.steps_done:,} / {run.settings.max_steps:,}")
    metrics[1].metric("Tokens read", f"{steps[-1].tokens_seen:,}" if steps else "0")
    if steps:
        metrics[2].metric("Loss on the last batch", f"{steps[-1].train_loss:.2f}")
    if evaluations:
        first, last = evaluations[0], evaluations[-1]
        metrics[3].metric(
            f"Validation loss (step {last.step})",
            f"{last.val_loss:.2f}",
            f"{last.val_loss - first.val_loss:+.2f} since step {first.step}" if last is not first else None,
            delta_color="inverse",  # falling is good
        )

    left, right = st.columns(2)
    with left:
        st.markdown("**Loss**")
        st.plotly_chart(loss_figure(run), width="stretch", key="train_loss_chart")
        st.caption(
            "How surprised the model is by the next token, on average (lower is better). The pale line is each "
            "step's own batch; the thick lines are measured at each evaluation on the training text and on the "
            "held-out validation text. When validation stops falling while training keeps falling, the model "
            "is memorising the text rather than learning its patterns."
        )
    with right:
        st.markdown("**Gradient size per block**")
        if steps:
            st.plotly_chart(grad_figure(run), width="stretch", key="train_grad_chart")
        st.caption(
            "The length (L2 norm) of the gradient of each transformer block's weights at every step, on a log "
            "scale: how hard each block is being pushed. Block 0 is nearest the input."
        )

    st.markdown("**What it writes**")
    if evaluations:
        latest = evaluations[-1]
        st.caption(f"At step {latest.step} (validation loss {latest.val_loss:.2f}), greedy continuation of the prompt:")
        st.code(latest.sample, language=None, wrap_lines=True)
        if len(evaluations) > 1:
            with st.expander(f"Every sample so far ({len(evaluations)})"):
                for evaluation in reversed(evaluations):
                    st.caption(f"Step {evaluation.step}, validation loss {evaluation.val_loss:.2f}")
                    st.code(evaluation.sample, language=None, wrap_lines=True)
    else:
        st.caption("The first sample comes as soon as the untrained model's loss has been measured.")


@st.fragment(run_every=1.0)
def live_view(run_id: str) -> None:
    """Progress, Stop button and curves, redrawn every second without rerunning the page."""
    registry = training_registry()
    run = registry.get(run_id)
    if run is None or not run.running:
        st.rerun()  # finished, stopped or failed: the whole page redraws to show the result
    st.progress(run.fraction, text=run.progress_text())
    st.button(
        "Stop training",
        key="train_stop_button",
        on_click=registry.stop,
        args=(run_id,),
        disabled=run.stop.is_set(),
        help="Stops after the current step; the model trained so far is saved and appears in the model list.",
    )
    draw_run(run)
