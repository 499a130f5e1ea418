"""Engine speed against transformers, measured in the same run on the same weights.

GPT-2 124M in float32: transformers' GPT2LMHeadModel with random weights, the same weights loaded
into gptcore's GPTModel. Runs alternate between the two so that machine noise hits both alike;
each figure is the median of --repeats runs (fewer for 1024-token traces).

    .venv/bin/python -m bench.bench_engine [--repeats 7] [--lengths 16 64 256 1024]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from gptcore import PRESETS, GPTModel, generate, generate_steps, load_hf_state_dict, trace

PROMPT_TOKENS, NEW_TOKENS = 16, 64


@dataclass(frozen=True)
class Figure:
    """One measured comparison: ``ratio`` is how many times better ours is (above 1 = faster)."""

    name: str
    ours: float
    reference: float
    unit: str  # "ms" (lower is better) or "tokens/s" (higher is better)
    target: float  # the ratio the issue asks for
    reference_name: str = "transformers"

    @property
    def ratio(self) -> float:
        return self.reference / self.ours if self.unit == "ms" else self.ours / self.reference

    def line(self) -> str:
        verdict = "met" if self.ratio >= self.target else "NOT met"
        return (
            f"{self.name:<46} ours {self.ours:8.1f} {self.unit:<8} {self.reference_name} {self.reference:8.1f}"
            f"  -> {self.ratio:4.2f}x (target {self.target:.2f}x, {verdict})"
        )


def timings(fn: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def paired(ours: Callable[[], object], theirs: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median seconds of each, measured alternately after one warm-up call each."""
    ours(), theirs()
    ours_times, theirs_times = [], []
    for _ in range(repeats):
        ours_times += timings(ours, 1)
        theirs_times += timings(theirs, 1)
    return statistics.median(ours_times), statistics.median(theirs_times)


@torch.no_grad()
def read_every_weight_once(model: GPTModel) -> None:
    """The least work one decoding step can do: multiply one vector by every weight matrix once."""
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            torch.nn.functional.linear(torch.ones(1, module.in_features), module.weight)


def models() -> tuple[GPT2LMHeadModel, GPTModel]:
    cfg = PRESETS["gpt2-small"]
    torch.manual_seed(0)
    hf_config = GPT2Config(
        n_embd=cfg.emb_dim, n_layer=cfg.n_layers, n_head=cfg.n_heads, attn_implementation="eager",
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )  # fmt: skip
    hf = GPT2LMHeadModel(hf_config).eval()
    return hf, load_hf_state_dict(GPTModel(cfg).eval(), hf.state_dict())


def run(repeats: int = 7, lengths: tuple[int, ...] = (16, 64, 256, 1024)) -> list[Figure]:
    hf, ours = models()
    ids = torch.randint(0, ours.cfg.vocab_size, (1, max(lengths)), generator=torch.Generator().manual_seed(1))
    figures = []
    for length in lengths:
        prompt = ids[:, :length]

        def hf_trace(prompt: torch.Tensor = prompt) -> None:
            with torch.no_grad():
                hf(prompt, output_attentions=True, output_hidden_states=True)

        ours_s, theirs_s = paired(
            lambda prompt=prompt: trace(ours, prompt[0]), hf_trace, max(3, repeats // (length // 256 + 1))
        )
        figures.append(
            Figure(
                f"full trace, {length} tokens",
                ours_s * 1000,
                theirs_s * 1000,
                "ms",
                1 / 0.8 if length in (64, 256) else 1.0,
            )
        )

    prompt = ids[:, :PROMPT_TOKENS]
    context = ours.cfg.context_length

    def hf_generate() -> torch.Tensor:
        with torch.no_grad():
            return hf.generate(
                prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=NEW_TOKENS,
                min_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=50256,
            )  # fmt: skip

    assert torch.equal(generate(ours, prompt, NEW_TOKENS, context), hf_generate()), (
        "greedy ids differ from transformers"
    )
    ours_s, theirs_s = paired(lambda: generate(ours, prompt, NEW_TOKENS, context), hf_generate, repeats)
    figures.append(
        Figure("greedy generation (16 + 64 tokens)", NEW_TOKENS / ours_s, NEW_TOKENS / theirs_s, "tokens/s", 1.3)
    )

    def with_candidates() -> None:
        for _ in generate_steps(ours, prompt, NEW_TOKENS, context, num_candidates=10):
            pass

    steps_s, plain_s = paired(with_candidates, lambda: generate(ours, prompt, NEW_TOKENS, context), repeats)
    figures.append(
        Figure(
            "generate_steps (top-10 at every step)",
            NEW_TOKENS / steps_s,
            NEW_TOKENS / plain_s,
            "tokens/s",
            0.9,
            "generate",
        )
    )
    ceiling_s = statistics.median(timings(lambda: read_every_weight_once(ours), 5 * repeats))
    figures.append(
        Figure("generation vs the decode ceiling", NEW_TOKENS / plain_s, 1 / ceiling_s, "tokens/s", 0.8, "ceiling")
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--lengths", type=int, nargs="+", default=[16, 64, 256, 1024])
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, GPT-2 124M float32, {args.repeats} repeats")
    for figure in run(args.repeats, tuple(args.lengths)):
        print(figure.line())


if __name__ == "__main__":
    main()
