"""Experiments: switch parts of the model off, see what changes, find the heads that matter, patch prompts."""

from __future__ import annotations

from ui.frame import ensure_app_frame

ensure_app_frame()  # first, before the heavy imports: see ui/frame.py

import time

import numpy as np
import pandas as pd
import streamlit as st
import torch

import ui
from gptcore import GPTModel, HeadAblation, applying, generate
from gptcore.edits import head_importance, next_token_logits, patching_scan
from gptcore.footprint import edited_pass_bytes, generation_bytes, scan_bytes
from gptcore.generation import split_generated_text
from gptcore.tokenizer import get_tokenizer, token_label
from ui.charts.experiments import before_after_figure, importance_figure, patching_figure
from ui.chips import text_html
from ui.continuation import CONTINUATION_TOKENS, greedy_continuation
from ui.experiments import EDITS_KEY, add_edit, code_of, current_edits, describe, edit_of, set_edits
from ui.figures import percent

TOP_K = 10
IMPORTANCE_KEY = "exp_importance"
SCAN_ASKED_KEY = "exp_scan_asked"  # (model, prompt, token) whose scan the student asked for
# Longer prompts wait for a button: the scan reads the prompt once per head (a 16-token prompt takes
# GPT-2 124M 3 s on two cores, 64 tokens 10 s; bench/bench_experiments.py).
AUTO_SCAN_TOKENS = 32
PATCHING_MAX_TOKENS = 64  # L x T runs of T tokens: 64 tokens take GPT-2 124M about a minute on two cores


def describe_code(code: str) -> str:
    return describe(edit_of(code))


def rebuild_edits() -> None:
    """The multiselects' and the neuron box's choices, as the session's one list of edits."""
    chosen = [*st.session_state["exp_heads"], *st.session_state["exp_sublayers"], *st.session_state["exp_shortcuts"]]
    neurons = [f"n{item.strip()}" for item in st.session_state["exp_neurons"].replace(",", " ").split()]
    set_edits([edit for edit in map(edit_of, [*chosen, *neurons]) if edit is not None])


def ask_for_scan(what: tuple) -> None:
    st.session_state[SCAN_ASKED_KEY] = what


def ablate_clicked_head() -> None:
    """The importance map's on_select: a clicked cell (layer, head) joins the edits before the rerun."""
    for point in st.session_state[IMPORTANCE_KEY].selection.points:
        add_edit(HeadAblation(int(point["y"]), int(point["x"])))


@ui.cached
def edited_next(model_id: str, token_ids: tuple[int, ...], codes: tuple[str, ...], _model: GPTModel) -> np.ndarray:
    """(vocab,) next-token logits with the edits of ``codes``."""
    needed = edited_pass_bytes(_model.cfg, len(token_ids), every_position=False)
    with ui.computing(reserve=needed, what="Running the edited model"):
        return next_token_logits(_model, token_ids, [edit_of(code) for code in codes])


@ui.cached
def edited_continuation(model_id: str, token_ids: tuple[int, ...], codes: tuple[str, ...], _model: GPTModel) -> str:
    """As ui.continuation's, with the edits: alone, not in the class's decode batch, whose rows share one pass."""
    needed = generation_bytes(_model.cfg, len(token_ids) + CONTINUATION_TOKENS)
    with ui.computing(reserve=needed, what="Writing with the edits"), applying(_model, [edit_of(c) for c in codes]):
        written = generate(_model, torch.tensor([token_ids]), CONTINUATION_TOKENS, _model.cfg.context_length)
    return split_generated_text(list(token_ids), written[0, len(token_ids) :].tolist())[1]


@ui.cached
def cached_importance(model_id: str, token_ids: tuple[int, ...], target: int, _model: GPTModel, _bar=None):
    with ui.computing(reserve=scan_bytes(_model.cfg, len(token_ids)), what="Switching each head off in turn"):
        return head_importance(_model, token_ids, target, on_batch=_bar)


@ui.cached
def cached_patching(model_id: str, clean: tuple[int, ...], corrupted: tuple[int, ...], _model: GPTModel, _bar=None):
    needed = scan_bytes(_model.cfg, len(clean), keeps_streams=True)
    with ui.computing(reserve=needed, what="Patching every layer and position"):
        return patching_scan(_model, clean, corrupted, on_batch=_bar)


def progress_bar(text: str):
    """A slot for a progress bar, and the callback that fills it, with the time left at the pace so far
    (the slot is cleared after the scan)."""
    slot, started = st.empty(), time.perf_counter()

    def report(done: int, total: int) -> None:
        left = (time.perf_counter() - started) / done * (total - done)
        slot.progress(done / total, text=f"{text} {done} of {total}, about {left:.0f} s left")

    return slot, report


# ---------------------------------------------------------------------------------------------


st.title("Experiments")
ui.explain(
    "The surest way to learn what a part of the model does is to switch it off and see what changes. Pick heads, "
    "neurons, whole sublayers or a block's shortcuts; the model runs your prompt without them, only for you (the "
    "model everyone shares is not changed). The link in the address bar carries your experiment."
)
model, model_id = ui.current_model(), ui.current_model_id()
cfg = model.cfg
ids = tuple(ui.prompt_token_ids()[-cfg.context_length :])
edits, problems = current_edits(cfg)
for problem in problems:
    st.warning(f"Left out of this experiment: {problem}.")

st.subheader("1. Switch parts of the model off")
codes = [code_of(edit) for edit in edits]
st.session_state["exp_heads"] = [code for code in codes if code.startswith("h")]
st.session_state["exp_sublayers"] = [code for code in codes if code[0] in "af"]
st.session_state["exp_shortcuts"] = [code for code in codes if code.startswith("s")]
st.session_state["exp_neurons"] = " ".join(code[1:] for code in codes if code.startswith("n"))
head_codes = [f"h{layer}.{head}" for layer in range(cfg.n_layers) for head in range(cfg.n_heads)]
block_codes = [f"{kind}{layer}" for layer in range(cfg.n_layers) for kind in "af"]
heads_column, blocks_column = st.columns(2)
with heads_column:
    names = ui.option_names(head_codes, describe_code)
    st.multiselect("Heads", head_codes, key="exp_heads", format_func=names, on_change=rebuild_edits)
    st.text_input(
        "Neurons (layer.neuron, e.g. 5.1021)", key="exp_neurons", on_change=rebuild_edits,
        help=f"Each block's feed-forward has {4 * cfg.emb_dim:,} neurons; the Feed-forward page lists the most "
        "active and can switch them off here.",
    )  # fmt: skip
with blocks_column:
    names = ui.option_names(block_codes, describe_code)
    st.multiselect("Sublayers", block_codes, key="exp_sublayers", format_func=names, on_change=rebuild_edits)
    shortcut_codes = [f"s{layer}" for layer in range(cfg.n_layers)]
    names = ui.option_names(shortcut_codes, describe_code)
    st.multiselect("Shortcuts removed", shortcut_codes, key="exp_shortcuts", format_func=names, on_change=rebuild_edits)
set_edits(edits)  # keeps the link in step
if st.session_state.get(EDITS_KEY):
    st.button("Switch everything back on", key="exp_clear", on_click=set_edits, args=([],))

st.subheader("2. What changed")
before = ui.current_trace().last_logits  # the class's shared trace of this prompt
after = edited_next(model_id, ids, tuple(codes), model) if codes else before
p_before, p_after = (np.exp(x - x.max()) / np.exp(x - x.max()).sum() for x in (before, after))  # softmax
target_text = st.text_input("Token to follow (blank: the model's own first choice)", key="exp_target")
target_ids = get_tokenizer().encode(target_text) if target_text else [int(p_before.argmax())]
if len(target_ids) != 1:
    st.info(f"“{target_text}” is {len(target_ids)} tokens; the first one, {token_label(target_ids[0])}, is followed.")
target = target_ids[0]
shown = list(dict.fromkeys([*np.argsort(-p_before)[:TOP_K], *np.argsort(-p_after)[:TOP_K]]))  # both top 10s
ui.plot(before_after_figure([token_label(int(i)) for i in shown], p_before[shown], p_after[shown]), key="exp_bars")
kl = float(np.sum(p_before * (np.log(p_before + 1e-30) - np.log(p_after + 1e-30))))
metrics = st.columns(2)
metrics[0].metric("KL divergence, before ‖ after", f"{kl:.4f} nats", help="0 when the edits change nothing.")
metrics[1].metric(
    f"Probability of {token_label(target)}", percent(p_after[target]), percent(p_after[target] - p_before[target])
)
left, right = st.columns(2)
with left:
    st.markdown(f"**Before**: the next {CONTINUATION_TOKENS} tokens, greedy")
    unedited = greedy_continuation(model_id, ids, model)
    st.html(text_html("", unedited))
with right:
    st.markdown(f"**After the edits**: the next {CONTINUATION_TOKENS} tokens, greedy")
    edited = (
        edited_continuation(model_id, ids, tuple(codes), model) if codes else greedy_continuation(model_id, ids, model)
    )
    st.html(text_html("", edited))

st.subheader(f"3. Which heads matter for {token_label(target)}")
st.markdown(
    f"Each of the {cfg.n_layers * cfg.n_heads} heads switched off alone: how the probability of {token_label(target)} "
    "changes. Blue cells raise it, red ones lower it. Click a cell to switch that head off above."
)
heads = cfg.n_layers * cfg.n_heads
if len(ids) > AUTO_SCAN_TOKENS and st.session_state.get(SCAN_ASKED_KEY) != (model_id, ids, target):
    st.info(
        f"The scan runs the prompt once for each of the {heads} heads: {heads * len(ids):,} tokens in all for this "
        f"{len(ids)}-token prompt, which takes a while (a bar shows how long is left). Short prompts are scanned "
        "as soon as they are shown."
    )
    st.button("Run the scan", key="exp_scan_button", on_click=ask_for_scan, args=((model_id, ids, target),))
else:
    slot, report = progress_bar("Switching each head off in turn:")
    scan = cached_importance(model_id, ids, target, model, report)
    slot.empty()
    ui.plot(importance_figure(scan.probability_change), key=IMPORTANCE_KEY, on_select=ablate_clicked_head)
    importance = pd.DataFrame(scan.probability_change).rename_axis("layer").add_prefix("head ").reset_index()
    ui.csv_download(importance, f"head_importance_{target}.csv", key="exp_importance_csv")

st.subheader("4. Patch one prompt into another")
st.markdown(
    "Activation patching: run a *corrupted* prompt, but at one layer and position take the stream from the clean "
    "prompt (the sidebar's). Where that brings the clean answer back, the model carries the difference there."
)
corrupted_text = st.text_input("Corrupted prompt (the same number of tokens)", key="exp_corrupted")
if corrupted_text:
    corrupted = tuple(get_tokenizer().encode(corrupted_text)[-cfg.context_length :])
    if len(ids) > PATCHING_MAX_TOKENS:
        st.info(
            f"Patching runs the corrupted prompt once for every block and position: {cfg.n_layers} x {len(ids)} = "
            f"{cfg.n_layers * len(ids):,} runs of {len(ids)} tokens for this prompt, too many to wait for. It is "
            f"made for pairs of short prompts (at most {PATCHING_MAX_TOKENS} tokens) that differ in a word or two: "
            "put a short prompt in the sidebar."
        )
    elif len(corrupted) != len(ids):
        st.info(
            f"The sidebar's prompt has {len(ids)} tokens and this one {len(corrupted)}. Patching swaps the stream at "
            "one position for the same position of the other prompt, so both need the same number of tokens: change "
            "a word for another that is also one token (the Tokens page shows how a text splits)."
        )
    else:
        slot, report = progress_bar("Patching:")
        patched = cached_patching(model_id, ids, corrupted, model, report)
        slot.empty()
        labels = ui.labels(list(corrupted))
        ui.plot(patching_figure(patched.restored, labels), key="exp_patching")
        st.caption(f"The clean answer: {token_label(patched.answer_token)}. 100% means the patch restores it fully.")
        frame = pd.DataFrame(patched.restored, columns=labels).rename_axis("block").reset_index()
        ui.csv_download(frame, "activation_patching.csv", key="exp_patching_csv")
