"""The Generate page's decoding controls: greedy or sampling, temperature, top-k, top-p, seed, how many tokens."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from .remembered import remembered_choice, remembered_number

MAX_NEW_TOKENS = 200  # enough to watch; keeps one student from holding the model for minutes
MAX_TOP_K = 50_257  # GPT-2's vocabulary: a larger k keeps every token, as off does
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
    """The controls, refilled from plain session keys: they survive a visit to another page, and the
    page's link carries them."""
    mode = remembered_choice(
        st.radio, "Decoding", ["greedy", "sampling"], "generate_mode", link="decoding", horizontal=True
    )
    greedy = mode == "greedy"
    left, middle, right = st.columns(3)
    with left:
        temperature = remembered_number(
            st.slider,
            "Temperature",
            "generate_temperature",
            1.0,
            0.1,
            2.0,
            link="temperature",
            step=0.05,
            disabled=greedy,
            help="Divides the scores before softmax: below 1 sharpens the distribution, above 1 flattens it.",
        )
        seed = remembered_number(
            st.number_input,
            "Seed",
            "generate_seed",
            123,
            0,
            2**31 - 1,
            link="seed",
            step=1,
            disabled=greedy,
            help="The same seed and settings draw the same tokens again.",
        )
    with middle:
        top_k = remembered_number(
            st.number_input,
            "Top-k (0 = off)",
            "generate_top_k",
            0,
            0,
            MAX_TOP_K,
            link="top_k",
            step=1,
            disabled=greedy,
            help="Keep only the k most likely tokens before drawing; 0 keeps them all.",
        )
        top_p = remembered_choice(
            st.select_slider,
            "Top-p",
            TOP_P_OPTIONS,
            "generate_top_p",
            link="top_p",
            disabled=greedy,
            help="Keep the fewest most likely tokens whose probabilities add up to p.",
        )
    with right:
        max_new_tokens = remembered_number(
            st.number_input, "New tokens", "generate_max_new_tokens", 20, 1, MAX_NEW_TOKENS, link="tokens", step=1
        )
        num_candidates = remembered_number(
            st.slider, "Candidates shown per step", "generate_num_candidates", 10, 3, 25, link="candidates"
        )
    return Settings(
        greedy=greedy,
        temperature=float(temperature),
        top_k=int(top_k) or None,
        top_p=None if top_p == "off" else float(top_p),
        max_new_tokens=int(max_new_tokens),
        seed=int(seed),
        num_candidates=int(num_candidates),
    )
