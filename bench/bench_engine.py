"""Engine speed against transformers, measured in the same run on the same weights.

GPT-2 124M in float32: transformers' GPT2LMHeadModel with random weights, the same weights loaded
into gptcore's GPTModel. Runs alternate between the two so that machine noise hits both alike;
each figure is the median of --repeats runs (fewer for 1024-token traces).

    .venv/bin/python -m bench.bench_engine [--repeats 7] [--lengths 16 64 256 1024] [--batched-only]

The last figures are continuous batching (gptcore.decoding): 30 sequences generated in batches of
1, 8 and 30, against 30 separate runs of generate() in the same process.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from gptcore import PRESETS, DecodeBatch, GPTModel, generate, generate_steps, load_hf_state_dict, trace

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
    return figures + batched_decode_figures(ours, ids, max(1, repeats // 3))


CLASS_SEQUENCES = 30  # a class's worth of sequences, generated in batches of 1, 8 or all 30
BATCH_TARGETS = {1: 0.9, 8: 1.0, 30: 8.0}  # batch 30 is the target; batch 1 may cost 10% at most


def batched_decode_figures(model: GPTModel, ids: torch.Tensor, repeats: int) -> list[Figure]:
    """30 sequences of 16 prompt tokens + 64 greedy tokens each: in batches against 30 separate runs.

    Both sides read the prompts (prefill) and write every token, so tokens/s counts the whole work.
    """
    context = model.cfg.context_length
    prompts = [ids[0, start : start + PROMPT_TOKENS] for start in range(0, CLASS_SEQUENCES * 8, 8)]  # (16,) each

    def separately() -> None:
        for prompt in prompts:
            generate(model, prompt[None], NEW_TOKENS, context)

    def in_batches(size: int) -> None:
        for first in range(0, len(prompts), size):
            batch = DecodeBatch(model)
            # The prompts are read in one padded pass, as the app's scheduler reads a class that arrives together.
            batch.join_all(
                [{"token_ids": prompt, "max_new_tokens": NEW_TOKENS} for prompt in prompts[first : first + size]]
            )
            while len(batch):
                batch.step()

    # The same tokens, or the figure means nothing.
    check = DecodeBatch(model)
    joined = [check.join(prompt, 8) for prompt in prompts[:4]]
    while len(check):
        check.step()
    for prompt, generation in zip(prompts, joined, strict=False):
        expected = generate(model, prompt[None], 8, context)[0, PROMPT_TOKENS:].tolist()
        assert [step.token_id for step in generation.steps] == expected, "batched tokens differ from generate()"

    total_tokens = CLASS_SEQUENCES * NEW_TOKENS
    # Separate and batched runs alternate, so a noisy minute on a shared machine slows both alike.
    runs = {"separate": separately} | {size: functools.partial(in_batches, size) for size in BATCH_TARGETS}
    seconds: dict[object, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run_once in runs.items():
            seconds[name] += timings(run_once, 1)
    separate_s = statistics.median(seconds["separate"])
    figures = []
    for size, target in BATCH_TARGETS.items():
        batched_s = statistics.median(seconds[size])
        figures.append(
            Figure(
                f"30 sequences decoded in batches of {size}",
                total_tokens / batched_s,
                total_tokens / separate_s,
                "tokens/s",
                target,
                "30 runs",
            )
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--lengths", type=int, nargs="+", default=[16, 64, 256, 1024])
    parser.add_argument("--batched-only", action="store_true", help="only the batched-decode figures")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, GPT-2 124M float32, {args.repeats} repeats")
    if args.batched_only:
        _, ours = models()
        ids = torch.randint(0, ours.cfg.vocab_size, (1, 1024), generator=torch.Generator().manual_seed(1))
        figures = batched_decode_figures(ours, ids, args.repeats)
    else:
        figures = run(args.repeats, tuple(args.lengths))
    for figure in figures:
        print(figure.line())


if __name__ == "__main__":
    main()
