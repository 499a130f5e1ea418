"""The Generate page's decoding controls: greedy or sampling, temperature, top-k, top-p, seed, how many tokens."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

MAX_NEW_TOKENS = 200  # enough to watch; keeps one student from holding the model for minutes
TOP_K_OPTIONS = ["off", *range(1, 101)]
TOP_P_OPTIONS = ["off", *(round(0.05 * i, 2) for i in range(1, 21))]


@dataclass(frozen=True)
class Settings:
    greedy: bool
    temperature: float
    top_k: int | None
    top_p: float | None
    max_new_tokens: int
    seed: int
    num_candidates: int

    def describe(self) -> str:
        if self.greedy:
            return "greedy (always the most likely token)"
        top_k = "off" if self.top_k is None else self.top_k
        top_p = "off" if self.top_p is None else self.top_p
        return f"sampling, temperature {self.temperature:g}, top-k {top_k}, top-p {top_p}, seed {self.seed}"


def read_controls() -> Settings:
    mode = st.radio("Decoding", ["greedy", "sampling"], horizontal=True, key="generate_mode")
    greedy = mode == "greedy"
    left, middle, right = st.columns(3)
    with left:
        temperature = st.slider(
            "Temperature",
            0.1,
            2.0,
            1.0,
            step=0.05,
            disabled=greedy,
            key="generate_temperature",
            help="Divides the scores before softmax: below 1 sharpens the distribution, above 1 flattens it.",
        )
        seed = st.number_input(
            "Seed",
            min_value=0,
            max_value=2**31 - 1,
            value=123,
            step=1,
            disabled=greedy,
            key="generate_seed",
            help="The same seed and settings draw the same tokens again.",
        )
    with middle:
        top_k = st.select_slider(
            "Top-k",
            TOP_K_OPTIONS,
            value="off",
            disabled=greedy,
            key="generate_top_k",
            help="Keep only the k most likely tokens before drawing.",
        )
        top_p = st.select_slider(
            "Top-p",
            TOP_P_OPTIONS,
            value="off",
            disabled=greedy,
            key="generate_top_p",
            help="Keep the fewest most likely tokens whose probabilities add up to p.",
        )
    with right:
        max_new_tokens = st.number_input(
            "New tokens", min_value=1, max_value=MAX_NEW_TOKENS, value=20, step=1, key="generate_max_new_tokens"
        )
        num_candidates = st.slider("Candidates shown per step", 3, 25, 10, key="generate_num_candidates")
    return Settings(
        greedy=greedy,
        temperature=float(temperature),
        top_k=None if top_k == "off" else int(top_k),
        top_p=None if top_p == "off" else float(top_p),
        max_new_tokens=int(max_new_tokens),
        seed=int(seed),
        num_candidates=int(num_candidates),
    )
