"""Tokens and embeddings: the prompt as tokens, and the vectors the model looks up for them."""

from __future__ import annotations

from ui.frame import ensure_app_frame

ensure_app_frame()  # first, before the heavy imports: see ui/frame.py

import functools

import numpy as np
import pandas as pd
import streamlit as st
import torch

import ui
from gptcore import get_tokenizer, token_labels
from gptcore.embeddings import (
    cosine_similarity_matrix,
    nearest_tokens,
    normalized_token_embeddings,
    pca_2d,
    position_vectors,
    token_vectors,
)
from gptcore.footprint import unit_embedding_bytes
from ui.charts.tokens import heatmap, pca_scatter
from ui.chips import token_chips

MAX_ROWS = 64  # tokens per heatmap before a slider picks which ones to show
MAX_CONTEXT_POSITIONS = 128  # the most positions the whole-context similarity map shows
MAX_TEXT_LABELS = 60  # above this many points the PCA scatter shows labels on hover only
N_NEIGHBOURS = 5


@ui.cached
def unit_token_embeddings(model_id: str) -> torch.Tensor:
    """The token embedding matrix with rows of length 1, kept once per model (154 MB for 124M)."""
    model = ui.get_model(model_id)  # outside the lock: a model being loaded must not hold up other sessions
    with ui.computing(reserve=unit_embedding_bytes(model.cfg), what="Comparing with the whole vocabulary"):
        return normalized_token_embeddings(model)


@ui.cached
def neighbours(model_id: str, token_ids: tuple[int, ...], k: int = N_NEIGHBOURS) -> tuple[np.ndarray, np.ndarray]:
    """Nearest vocabulary tokens by cosine similarity, cached per (model id, token ids)."""
    model = ui.get_model(model_id)
    unit = unit_token_embeddings(model_id)
    with ui.computing():
        return nearest_tokens(model, list(token_ids), k=k, normalized=unit)


st.title("Tokens and embeddings")
ui.explain(
    "The model never sees letters. The tokenizer cuts the prompt into **tokens** (whole words, pieces of words, "
    "spaces, bytes) and numbers each one with its **id** in a vocabulary of 50,257. The model then looks up two "
    "learned vectors per token: one for *what* the token is (token embedding, `tok_emb`) and one for *where* it "
    "is (position embedding, `pos_emb`). Their sum is what enters the first transformer block."
)

t = ui.current_trace()
model = ui.current_model()
model_id = ui.current_model_id()
trained = ui.current_choice().trained
cfg = model.cfg
ids = [int(i) for i in t.token_ids]
labels = token_labels(ids)
axis_labels = ui.labels(ids)
n_tokens = len(ids)

# --- Tokens -----------------------------------------------------------------------------------
st.subheader(f"The prompt as {n_tokens} token{'s' if n_tokens != 1 else ''}")
st.markdown(token_chips(t.token_ids, labels), unsafe_allow_html=True)
st.caption(
    "␣ is a space, ↵ a new line, ⇥ a tab. A space usually belongs to the word after it, so ' you' (␣you) and "
    "'you' are different tokens with different ids. Text between ‹ › is raw bytes in hex: pieces of one "
    "character (an emoji, say) that GPT-2 splits over several tokens. Hover a chip for its bytes."
)
tokenizer = get_tokenizer()
token_table = pd.DataFrame(
    {
        "position": range(n_tokens),
        "id": ids,
        "token": labels,
        "bytes (hex)": [tokenizer.decode_single_token_bytes(i).hex(" ").upper() for i in ids],
    }
)
with st.expander("As a table"):
    st.dataframe(token_table, hide_index=True, width="stretch")
    ui.csv_download(token_table, "tokens.csv")

# --- Embedding heatmaps ---------------------------------------------------------------------------
st.subheader("The vectors the model looks up")
st.markdown(
    f"Each row is one token, each column one of the {cfg.emb_dim} dimensions; red is positive, blue negative. "
    "Row *i* of the token embedding is row *id* of `tok_emb.weight`; row *i* of the position embedding is row "
    "*i* of `pos_emb.weight`, whatever the token."
    + (
        ""
        if trained
        else " In this untrained model both are random numbers (drawn from a normal distribution), so the "
        "pictures look like noise: training is what gives them structure."
    )
)
start = 0
if n_tokens > MAX_ROWS:
    start = st.slider(
        f"First token shown (the heatmaps show {MAX_ROWS} tokens at a time)",
        0,
        n_tokens - MAX_ROWS,
        0,
        key="tokens_window_start",
    )
window = slice(start, start + MAX_ROWS)
rows_shown = axis_labels[window]
tabs = st.tabs(["Token embedding", "Position embedding", "Sum (enters the first block)"])
matrices = {
    "token_embedding": t.tok_emb,
    "position_embedding": t.pos_emb,
    "embedding_sum": t.embeddings,
}
for tab, (name, matrix) in zip(tabs, matrices.items(), strict=True):
    with tab:
        figure = heatmap(matrix[window], rows_shown, "embedding dimension", "value")
        ui.plot(figure, key=f"heatmap_{name}")
        ui.figure_download(figure, f"{name}.html", key=f"dl_{name}.html")


ui.download(
    "Download all three as CSV",
    functools.partial(ui.token_vectors_csv, matrices, labels, ids),
    "embedding_vectors.csv",
    key="dl_embedding_vectors.csv",
)

# --- PCA ----------------------------------------------------------------------------------------
st.subheader("The token embeddings in two dimensions")
unique_ids = list(dict.fromkeys(ids))
unique_labels = token_labels(unique_ids)
st.markdown(
    f"A {cfg.emb_dim}-dimensional vector cannot be drawn, but PCA finds the two directions in which the prompt's "
    "token vectors differ most and places each token by its coordinates along them. Tokens that appear twice "
    "are one point: they share one vector."
)
if len(unique_ids) < 2:
    st.info("The prompt has only one distinct token; PCA needs at least two to find a direction.")
else:
    coords, ratio = pca_2d(token_vectors(model, unique_ids))
    pca_frame = pd.DataFrame({"token": unique_labels, "id": unique_ids, "pc1": coords[:, 0], "pc2": coords[:, 1]})
    scatter = pca_scatter(pca_frame, ratio, show_text=len(unique_ids) <= MAX_TEXT_LABELS)
    ui.plot(scatter, key="pca")
    st.caption(
        f"The two directions keep {ratio.sum():.1%} of how much these {len(unique_ids)} vectors vary; "
        "the rest is lost in the picture."
    )
    ui.table_and_figure_downloads(pca_frame, scatter, "token_pca")

# --- Nearest neighbours ---------------------------------------------------------------------------
st.subheader("Nearest tokens in the vocabulary")
st.markdown(
    f"For each token, the {N_NEIGHBOURS} other tokens of the whole vocabulary whose embedding points most nearly "
    "the same way (cosine similarity: 1 = same direction, 0 = unrelated, -1 = opposite)."
)
with st.spinner("Comparing with every token of the vocabulary…"):
    neighbour_ids, similarities = neighbours(model_id, tuple(unique_ids))
if trained:
    st.caption(
        "In a trained model, neighbours are meaningful: related words, other spellings, the same word with and "
        "without a leading space or a capital."
    )
else:
    st.info(
        "**This model is untrained, so these neighbours are random.** Random vectors in many dimensions point in "
        f"almost unrelated directions: even the best of {cfg.vocab_size - 1:,} candidates reaches a similarity of "
        f"only about {float(np.median(similarities[:, 0])):.2f} here ({cfg.emb_dim} dimensions). In a trained "
        "GPT-2 the neighbours are meaningful: related words, other spellings, the same word with and without a "
        "leading space.",
        icon="🎲",
    )
ordinals = ["1st", "2nd", "3rd", "4th", "5th", "6th", "7th", "8th", "9th", "10th"]
wide = pd.DataFrame({"token": unique_labels, "id": unique_ids})
for rank in range(N_NEIGHBOURS):
    wide[ordinals[rank]] = [
        f"{label} ({similarity:.3f})"
        for label, similarity in zip(
            token_labels(neighbour_ids[:, rank].tolist()), similarities[:, rank].tolist(), strict=True
        )
    ]
st.dataframe(wide, hide_index=True, width="stretch")
long = pd.DataFrame(
    {
        "token": np.repeat(unique_labels, N_NEIGHBOURS),
        "id": np.repeat(unique_ids, N_NEIGHBOURS),
        "rank": np.tile(np.arange(1, N_NEIGHBOURS + 1), len(unique_ids)),
        "neighbour": token_labels(neighbour_ids.reshape(-1).tolist()),
        "neighbour id": neighbour_ids.reshape(-1),
        "cosine similarity": similarities.reshape(-1),
    }
)
ui.csv_download(long, "nearest_tokens.csv")

# --- Position similarities ------------------------------------------------------------------------
st.subheader("How alike are the positions?")
st.markdown(
    "Cosine similarity between the position embeddings of the prompt's positions. The diagonal is 1 (every "
    "vector matches itself)."
    + (
        " In a trained GPT-2, neighbouring positions have similar vectors: a bright band along the diagonal."
        if trained
        else " In this untrained model the position vectors are random, so apart from the diagonal everything is "
        "close to 0; in a trained GPT-2 neighbouring positions have similar vectors, a bright band along the "
        "diagonal."
    )
)
position_sims = cosine_similarity_matrix(t.pos_emb[window])
similarity_style = {
    "zmin": -1.0,
    "zmax": 1.0,
    "x": rows_shown,
    "hovertemplate": "%{y} vs %{x}<br>cosine %{z:.3f}<extra></extra>",
    "height": max(320, min(760, 18 * len(rows_shown) + 160)),
}
figure = heatmap(position_sims, rows_shown, "position", "cosine", **similarity_style)
figure.update_xaxes(type="category", tickangle=-45)
ui.plot(figure, key="position_similarity_prompt")
ui.figure_download(figure, "position_similarity_prompt.html", key="dl_position_similarity_prompt.html")

longest = min(MAX_CONTEXT_POSITIONS, cfg.context_length)
if st.toggle(f"Show the first positions of the whole context (up to {longest})", key="tokens_context_positions"):
    n_positions = st.slider("Positions", 2, longest, min(64, longest), key="tokens_context_n")
    context_sims = cosine_similarity_matrix(position_vectors(model, n_positions))
    position_names = [str(i) for i in range(n_positions)]
    figure = heatmap(
        context_sims,
        position_names,
        "position",
        "cosine",
        zmin=-1.0,
        zmax=1.0,
        x=position_names,
        hovertemplate="position %{y} vs %{x}<br>cosine %{z:.3f}<extra></extra>",
        height=min(760, 8 * n_positions + 200),
    )
    ui.plot(figure, key="position_similarity_context")
    ui.figure_download(figure, "position_similarity_context.html", key="dl_position_similarity_context.html")
