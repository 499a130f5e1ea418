"""The head-importance scan (gptcore.edits.head_importance) on GPT-2 124M, against its target.

Issue target: under 5 s for GPT-2 124M with a 16-token prompt. Each figure is the median of
--repeats runs; the reference measured in the same run is the same 144 ablations done one at a
time (run_with_edits), which is what the batching saves.

    .venv/bin/python -m bench.bench_experiments [--repeats 5] [--tokens 16]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from gptcore import GPT_CONFIG_124M, HeadAblation, build_model, run_with_edits
from gptcore.edits import head_importance

TARGET_S = 5.0


def median_seconds(work, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=16)
    args = parser.parse_args()
    model = build_model(GPT_CONFIG_124M, seed=123)
    ids = torch.randint(0, 50257, (args.tokens,), generator=torch.Generator().manual_seed(0))
    head_importance(model, ids)  # warm up torch's kernels
    batched = median_seconds(lambda: head_importance(model, ids), args.repeats)
    cfg = model.cfg
    one_by_one = median_seconds(
        lambda: [
            run_with_edits(model, ids, [HeadAblation(layer, head)])
            for layer in range(cfg.n_layers)
            for head in range(cfg.n_heads)
        ],
        max(1, args.repeats // 2),
    )
    print(f"head-importance scan, GPT-2 124M, {args.tokens} tokens, {cfg.n_layers * cfg.n_heads} ablations, "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    print(f"  batched (head_importance): median {batched:.2f} s  (target under {TARGET_S:.0f} s: "
          f"{'met' if batched < TARGET_S else 'MISSED'}, {batched / TARGET_S:.0%} of it)")  # fmt: skip
    print(f"  one at a time (run_with_edits): median {one_by_one:.2f} s  ({one_by_one / batched:.1f}x the batched)")


if __name__ == "__main__":
    main()
