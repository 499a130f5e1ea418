"""Making GPT-2 124M: building the book's untrained model, and loading one from a local safetensors
folder (time and peak memory), each in a fresh process; and the memory of a 1024-token trace.

The folder is made once with transformers (random weights, saved the way the Hub stores GPT-2).

    .venv/bin/python -m bench.bench_load [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# VmHWM is the process's peak resident memory (Linux), in kB.
PEAK = "int(next(line for line in open('/proc/self/status') if line.startswith('VmHWM')).split()[1]) * 1024"
MEASURE = f"""
import time
from gptcore.local import load_local
from gptcore.stats import count_parameters
before = {PEAK}
start = time.perf_counter()
model = load_local({{folder!r}})
seconds = time.perf_counter() - start
print(seconds, {PEAK} - before, count_parameters(model) * 4)
"""


BUILD = """
import time
from gptcore import GPT_CONFIG_124M, build_model
start = time.perf_counter()
build_model(GPT_CONFIG_124M, seed=123)
print(time.perf_counter() - start)
"""


TRACE = f"""
import torch
from gptcore import GPT_CONFIG_124M, build_model, trace
model = build_model(GPT_CONFIG_124M, seed=123)
ids = torch.randint(0, 50257, (1024,), generator=torch.Generator().manual_seed(0))
trace(model, ids[:16])  # warm up torch's kernels and allocator first
open("/proc/self/clear_refs", "w").write("5")  # restart the peak count (VmHWM) from here
before = {PEAK}
t = trace(model, ids)
print({PEAK} - before)
"""


def make_folder(folder: Path) -> None:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config()).save_pretrained(folder)


def run(code: str) -> list[float]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [float(x) for x in out.stdout.split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        make_folder(Path(tmp))
        runs = [run(MEASURE.format(folder=tmp)) for _ in range(args.repeats)]
    build_s = statistics.median(run(BUILD)[0] for _ in range(args.repeats))
    seconds = statistics.median(r[0] for r in runs)
    peak = statistics.median(r[1] for r in runs)  # above the peak before loading began
    model_bytes = runs[0][2]
    trace_peak = statistics.median(run(TRACE)[0] for _ in range(3))
    print(f"GPT-2 124M, {args.repeats} fresh processes (medians)")
    print(f"  untrained, book's seed: {build_s:6.2f} s   (target <= 1.5 s)")
    print("From a local model.safetensors:")
    print(f"  load time:            {seconds:6.2f} s   (target <= 2 s)")
    print(f"  model in float32:     {model_bytes / 2**20:6.0f} MB (untied head: 163M parameters)")
    print(f"  peak memory added:    {peak / 2**20:6.0f} MB = {peak / model_bytes:.2f}x the model (target < 2x)")
    print("Tracing a 1024-token prompt through the 124M model (3 fresh processes):")
    print(f"  peak memory added:    {trace_peak / 2**30:6.2f} GB (target < 2 GB)")


if __name__ == "__main__":
    main()
