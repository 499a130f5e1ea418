"""A training run on the Train page: its numbers, curves and samples, redrawn live while it runs."""

from __future__ import annotations

import streamlit as st

from gptcore.memorisation import find_memorising

from .catalog import CHECKPOINT_PREFIX, find_choice, refresh_checkpoints
from .charts.training import grad_figure, loss_figure
from .display import plot, side_by_side
from .models import current_model_id
from .picker import choose_model
from .readings import memorising_message
from .state import compare_before_and_after
from .training import TrainingRun, format_duration, training_registry

COMPARE_REQUESTED = "train_compare_requested"  # plain session key set by the Compare button's callback


def draw_run(run: TrainingRun) -> None:
    """The run's numbers, curves and samples; the same whether it is going or over."""
    steps, evaluations = run.steps(), run.evaluations()
    metrics = st.columns(4)
    metrics[0].metric("Steps", f"{run.steps_done:,} / {run.settings.max_steps:,}")
    metrics[1].metric("Tokens read", f"{steps[-1].tokens_seen:,}" if steps else "0")
    if steps:
        metrics[2].metric("Loss on the last batch", f"{steps[-1].train_loss:.2f}")
    memorising = find_memorising(evaluations)
    if evaluations:
        first, last = evaluations[0], evaluations[-1]
        # Measured from the best step once the loss has turned, so a rise shows red, not a green fall since step 0.
        since = first if memorising is None else min(evaluations, key=lambda report: report.val_loss)
        metrics[3].metric(
            f"Validation loss (step {last.step})",
            f"{last.val_loss:.2f}",
            f"{last.val_loss - since.val_loss:+.2f} since step {since.step}" if last is not since else None,
            delta_color="inverse",  # falling is good
        )
    if memorising is not None:
        st.warning(memorising_message(memorising))

    left, right = side_by_side(2)
    with left:
        st.markdown("**Loss**")
        plot(loss_figure(run, memorising), key="train_loss_chart")
        st.caption(
            "How surprised the model is by the next token, on average (lower is better). The pale line is each "
            "step's own batch; the thick lines are measured at each evaluation on the training text and on the "
            "held-out validation text. When validation stops falling while training keeps falling, the model "
            "is memorising the text rather than learning its patterns."
        )
    with right:
        st.markdown("**Gradient size per block**")
        if steps:
            plot(grad_figure(run), key="train_grad_chart")
        st.caption(
            "The length (L2 norm) of the gradient of each transformer block's weights at every step, on a log "
            "scale: how hard each block is being pushed. Block 0 is nearest the input."
        )

    st.markdown("**What it writes**")
    if evaluations:
        latest = evaluations[-1]
        st.caption(f"At step {latest.step} (validation loss {latest.val_loss:.2f}), greedy continuation of the prompt:")
        st.code(latest.sample, language=None, wrap_lines=True)
        copied = run.copied(latest.step)
        if copied:
            st.caption(
                f"{len(copied.split())} words in a row of this sample are copied word for word from the training "
                f"text: “{copied}”. Copying is memorising, not writing."
            )
        if len(evaluations) > 1:
            with st.expander(f"Every sample so far ({len(evaluations)})"):
                for evaluation in reversed(evaluations):
                    st.caption(f"Step {evaluation.step}, validation loss {evaluation.val_loss:.2f}")
                    st.code(evaluation.sample, language=None, wrap_lines=True)
    else:
        st.caption("The first sample comes as soon as the untrained model's loss has been measured.")


def explore(model_id: str) -> None:
    refresh_checkpoints()
    choose_model(model_id)


def compare_requested(run: TrainingRun) -> None:
    compare_before_and_after(run)
    st.session_state[COMPARE_REQUESTED] = True


def keep_best(run: TrainingRun) -> None:
    best = training_registry().keep_best(run.run_id)
    if best is not None:
        explore(best)


def finished_view(run: TrainingRun) -> None:
    """How the run ended, what to do with its models, and its curves and samples."""
    took = format_duration(run.elapsed_seconds())
    trained = find_choice(run.checkpoint_id) if run.checkpoint_id else None
    if run.state == "failed":
        st.error(run.error)
    elif run.checkpoint_id is None:
        st.info("Training stopped before its first step, so there is no trained model to save.")
    else:
        what = "Finished" if run.state == "done" else "Stopped"
        st.success(
            f"{what} after {run.steps_done:,} steps ({took}). The trained model is saved as "
            f"{run.checkpoint_id.removeprefix(CHECKPOINT_PREFIX)} and is in the sidebar's Model list."
        )
        buttons = st.columns(3)
        with buttons[0]:
            in_use = current_model_id() == run.checkpoint_id
            st.button(
                "Now exploring this model" if in_use else "Explore this model",
                key="train_explore_button",
                type="primary",
                on_click=explore,
                args=(run.checkpoint_id,),
                disabled=in_use or trained is None,
                help="Makes it the sidebar's model, so every page shows what it learned.",
            )
        with buttons[1]:
            st.button(
                "Compare before and after",
                key="train_compare_button",
                on_click=compare_requested,
                args=(run,),
                help="Opens the Compare page with the untrained starting point beside the trained model.",
            )
        if find_memorising(run.evaluations()) is not None and (run.best_file or run.best_checkpoint_id):
            with buttons[2]:
                st.button(
                    f"Explore the model from step {run.best_step}",
                    key="train_best_button",
                    on_click=keep_best,
                    args=(run,),
                    disabled=current_model_id() == run.best_checkpoint_id,
                    help="Saves the weights from the step with the lowest validation loss, before the model "
                    "began to memorise, into the Model list, and explores them.",
                )
        if st.session_state.pop(COMPARE_REQUESTED, False):
            st.switch_page("pages/compare.py")
    if run.steps():
        draw_run(run)


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
