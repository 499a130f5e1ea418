"""Engine speed against transformers, measured in the same run on the same weights.

GPT-2 124M in float32: transformers' GPT2LMHeadModel with random weights, the same weights loaded
into gptcore's GPTModel. Runs alternate between the two so that machine noise hits both alike;
each figure is the median of --repeats runs.

    .venv/bin/python -m bench.bench_engine [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from gptcore import PRESETS, GPTModel, generate, generate_steps, load_hf_state_dict, trace


def median_seconds(fn: Callable[[], object], repeats: int) -> list[float]:
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
        ours_times += median_seconds(ours, 1)
        theirs_times += median_seconds(theirs, 1)
    return statistics.median(ours_times), statistics.median(theirs_times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    cfg = PRESETS["gpt2-small"]
    torch.manual_seed(0)
    hf = GPT2LMHeadModel(
        GPT2Config(
            n_embd=cfg.emb_dim,
            n_layer=cfg.n_layers,
            n_head=cfg.n_heads,
            attn_implementation="eager",
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
        )
    ).eval()
    ours = load_hf_state_dict(GPTModel(cfg).eval(), hf.state_dict())
    ids = torch.randint(0, cfg.vocab_size, (1, 64), generator=torch.Generator().manual_seed(1))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, GPT-2 124M float32, {args.repeats} repeats\n")

    def hf_trace() -> None:
        with torch.no_grad():
            hf(ids, output_attentions=True, output_hidden_states=True)

    ours_s, theirs_s = paired(lambda: trace(ours, ids[0]), hf_trace, args.repeats)
    print("Full trace of a 64-token prompt (transformers: forward with attentions and hidden states)")
    print(f"  gptcore trace  {ours_s * 1000:8.1f} ms")
    print(f"  transformers   {theirs_s * 1000:8.1f} ms")
    print(f"  ratio (ours / theirs): {ours_s / theirs_s:.2f}x the time  (target <= 1.0)\n")

    prompt, new_tokens = ids[:, :16], 64
    ours_ids = generate(ours, prompt, new_tokens, cfg.context_length)

    def hf_generate() -> torch.Tensor:
        with torch.no_grad():
            return hf.generate(
                prompt,
                attention_mask=torch.ones_like(prompt),
                max_new_tokens=new_tokens,
                min_new_tokens=new_tokens,
                do_sample=False,
                pad_token_id=50256,
            )

    assert torch.equal(ours_ids, hf_generate()), "greedy ids differ from transformers"
    ours_s, theirs_s = paired(lambda: generate(ours, prompt, new_tokens, cfg.context_length), hf_generate, args.repeats)
    print("Greedy generation, 16-token prompt, 64 new tokens (KV cache on both sides; identical ids)")
    print(f"  gptcore generate  {new_tokens / ours_s:8.1f} tokens/s")
    print(f"  transformers      {new_tokens / theirs_s:8.1f} tokens/s")
    print(f"  ratio (ours / theirs): {theirs_s / ours_s:.2f}x the tokens/s  (target >= 1.0)\n")

    def with_candidates() -> None:
        for _ in generate_steps(ours, prompt, new_tokens, cfg.context_length, num_candidates=10):
            pass

    steps_s, plain_s = paired(
        with_candidates, lambda: generate(ours, prompt, new_tokens, cfg.context_length), args.repeats
    )
    ceiling_s = statistics.median(median_seconds(lambda: read_every_weight_once(ours), 5 * args.repeats))
    print("generate_steps (top-10 candidates at every step) and the machine's decode ceiling")
    print(f"  generate_steps    {new_tokens / steps_s:8.1f} tokens/s = {steps_s / plain_s:.2f}x generate's time")
    print(f"  decode ceiling    {1 / ceiling_s:8.1f} tokens/s (one matrix-vector pass over every weight matrix)")
    print(f"  generate reaches {new_tokens / plain_s * ceiling_s:.0%} of the ceiling")


@torch.no_grad()
def read_every_weight_once(model: GPTModel) -> None:
    """The least work one decoding step can do: multiply one vector by every weight matrix once."""
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            torch.nn.functional.linear(torch.ones(1, module.in_features), module.weight)


if __name__ == "__main__":
    main()
