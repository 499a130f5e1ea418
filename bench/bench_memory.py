"""The memory budget's estimates (gptcore.footprint) against the peaks the work really reaches.

One fresh process, with the app's allocator settings, builds GPT-2 124M, then runs each kind of
work the app reserves memory for at several prompt lengths: a trace, a batch of two traces (as the
scheduler runs a class's), one logit-lens place, a backward pass, 20 generated tokens, a pass with
edits, and the first batch of each Experiments scan (the later batches repeat it). Before each
it frees what it can (gc, malloc_trim) and restarts the kernel's peak count (VmHWM), so each
peak is that work's own: its resident memory at the highest point, less what the process held before.

    .venv/bin/python -m bench.bench_memory [--tokens 128 512 1024]

Prints estimate, measured peak and their ratio; tests/test_footprint.py asserts the ratios.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("trace", "trace_batch", "logit_lens", "gradients", "generation", "edited_pass", "head_scan", "patching_scan")
BATCH = 2  # trace_batch: this many prompts of the same length in one pass, as the scheduler runs them
NEW_TOKENS = 20

MEASURE = """
import ctypes, gc, json, sys
import ui
ui.start()  # first, as app.py does: the app's allocator settings (ui/allocator.py), so peaks are the app's
import torch
from gptcore import GPT_CONFIG_124M, HeadAblation, NeuronAblation, build_model, generate_steps, gradient_norms
from gptcore import footprint, run_with_edits, trace
from gptcore.batching import trace_batch
from gptcore.edits import head_importance, patching_scan
from gptcore.lens import lens_top_k

libc = ctypes.CDLL("libc.so.6")

def status(field):
    return int(next(line for line in open("/proc/self/status") if line.startswith(field)).split()[1]) * 1024

def peak_of(work, repeats=1):
    # The middle of a few runs: one run can reuse pages an earlier one left and look smaller,
    # another can catch a burst of the allocator (a lens place once measured 214 MB, usually 110).
    found = sorted((one_peak_of(work) for _ in range(repeats)), key=lambda found: found[0])
    return found[len(found) // 2]

def one_peak_of(work):
    gc.collect()
    libc.malloc_trim(0)
    open("/proc/self/clear_refs", "w").write("5")  # VmHWM restarts from the resident memory now
    before = status("VmRSS:")
    result = work()
    return status("VmHWM:") - before, result

class FirstBatchDone(Exception):
    pass

def first_batch_of(scan):
    # A scan's batches are alike, so its peak is its first batch's; stopping there saves a minute.
    def stop(done, total):
        raise FirstBatchDone
    def work():
        try:
            scan(on_batch=stop)
        except FirstBatchDone:
            pass
    return work

torch.set_num_threads(int(sys.argv[2]))
model = build_model(GPT_CONFIG_124M, seed=123)
cfg = model.cfg
trace(model, [1, 2, 3])  # warm up torch's kernels and allocator first
rows = []
for n in json.loads(sys.argv[1]):
    ids = torch.randint(0, cfg.vocab_size, (n,), generator=torch.Generator().manual_seed(n))
    peak, t = peak_of(lambda: trace(model, ids))
    residual = t.layer("resid_pre", 3).copy()
    del t
    rows.append(("trace", n, footprint.trace_bytes(cfg, n), peak))
    peak, _ = peak_of(lambda: lens_top_k(model, residual), repeats=5)
    rows.append(("logit_lens", n, footprint.logit_lens_bytes(cfg, n), peak))
    peak, _ = peak_of(lambda: gradient_norms(model, ids))
    rows.append(("gradients", n, footprint.gradient_bytes(cfg, n), peak))
    peak, _ = peak_of(lambda: list(generate_steps(model, ids[None], NEW_TOKENS, context_size=cfg.context_length)), 5)
    rows.append(("generation", n, footprint.generation_bytes(cfg, n + NEW_TOKENS), peak))
    peak, _ = peak_of(lambda: run_with_edits(model, ids, [HeadAblation(0, 3), NeuronAblation(5, 100)]), 3)
    rows.append(("edited_pass", n, footprint.edited_pass_bytes(cfg, n), peak))
# Batches last: their large blocks, freed, must not change the small peaks measured above.
for n in json.loads(sys.argv[1]):
    ids = torch.randint(0, cfg.vocab_size, (n,), generator=torch.Generator().manual_seed(n))
    peak, _ = peak_of(first_batch_of(lambda **report: head_importance(model, ids, **report)), 3)
    rows.append(("head_scan", n, footprint.scan_bytes(cfg, n), peak))
    corrupted = ids.clone()
    corrupted[n // 2] = (corrupted[n // 2] + 1) % cfg.vocab_size
    peak, _ = peak_of(first_batch_of(lambda **report: patching_scan(model, ids, corrupted, **report)), 3)
    rows.append(("patching_scan", n, footprint.scan_bytes(cfg, n, keeps_streams=True), peak))
    others = [ids.roll(shift) for shift in range(BATCH)]
    peak, batch = peak_of(lambda: trace_batch(model, others))
    del batch
    rows.append(("trace_batch", n, BATCH * footprint.trace_bytes(cfg, n), peak))
print(json.dumps(rows))
"""


def measure(token_counts: list[int], threads: int = 2) -> list[dict]:
    """Rows of {kind, tokens, estimate, peak, ratio} from one fresh process (about two minutes for 256/512/1000)."""
    measuring = MEASURE.replace("NEW_TOKENS", str(NEW_TOKENS)).replace("BATCH", str(BATCH))
    completed = subprocess.run(
        [sys.executable, "-c", measuring, json.dumps(token_counts), str(threads)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = json.loads(completed.stdout.strip().splitlines()[-1])
    return [
        {"kind": kind, "tokens": n, "estimate": estimate, "peak": peak, "ratio": estimate / peak}
        for kind, n, estimate, peak in rows
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, nargs="+", default=[128, 512, 1024])
    args = parser.parse_args()
    print(f"{'work':12s} {'tokens':>6s} {'estimate MB':>12s} {'peak MB':>9s} {'estimate/peak':>14s}")
    for row in measure(args.tokens):
        print(
            f"{row['kind']:12s} {row['tokens']:6d} {row['estimate'] / 1e6:12.0f} {row['peak'] / 1e6:9.0f} "
            f"{row['ratio']:14.2f}"
        )


if __name__ == "__main__":
    main()
