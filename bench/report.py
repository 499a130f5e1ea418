"""Run every benchmark and write docs/benchmarks.md with a chart (docs/benchmarks.svg).

    .venv/bin/python -m bench.report [--repeats 7]

The engine figures are ratios against transformers (or against the machine's own limits)
measured in the same run; the app and loading benchmarks run in their own processes.
"""

from __future__ import annotations

import argparse
import html
import platform
import subprocess
import sys
from datetime import date
from pathlib import Path

import torch

from bench.bench_engine import Figure, run

DOCS = Path(__file__).resolve().parent.parent / "docs"
BAR_HEIGHT, LABEL_WIDTH, CHART_WIDTH = 26, 300, 420


def chart_svg(figures: list[Figure]) -> str:
    """Horizontal bars of each ratio, with its target marked; green where the target is met."""
    top = max(max(f.ratio for f in figures), max(f.target for f in figures)) * 1.1
    scale = CHART_WIDTH / top
    height = BAR_HEIGHT * len(figures) + 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{LABEL_WIDTH + CHART_WIDTH + 80}" height="{height}" '
        'font-family="sans-serif" font-size="13">',
        f'<line x1="{LABEL_WIDTH + scale}" y1="0" x2="{LABEL_WIDTH + scale}" y2="{height - 30}" stroke="#999" '
        'stroke-dasharray="4 3"/>',
        f'<text x="{LABEL_WIDTH + scale}" y="{height - 12}" text-anchor="middle" fill="#555">1x = the reference</text>',
    ]
    for row, figure in enumerate(figures):
        y = row * BAR_HEIGHT + 4
        colour = "#2e7d32" if figure.ratio >= figure.target else "#c62828"
        tick = LABEL_WIDTH + figure.target * scale
        parts += [
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 16}" text-anchor="end">{html.escape(figure.name)}</text>',
            f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{figure.ratio * scale:.1f}" height="{BAR_HEIGHT - 8}" '
            f'fill="{colour}"/>',
            f'<line x1="{tick:.1f}" y1="{y}" x2="{tick:.1f}" y2="{y + BAR_HEIGHT - 2}" stroke="#000" '
            'stroke-width="2"/>',
            f'<text x="{LABEL_WIDTH + figure.ratio * scale + 6:.1f}" y="{y + 16}">{figure.ratio:.2f}x</text>',
        ]
    parts.append("</svg>")
    return "\n".join(parts)


def run_module(module: str, repeats: int) -> str:
    done = subprocess.run(
        [sys.executable, "-m", module, "--repeats", str(repeats)], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    figures = run(args.repeats)
    app = run_module("bench.bench_app", args.repeats)
    load = run_module("bench.bench_load", min(args.repeats, 5))

    rows = [
        f"| {f.name} | {f.ours:.1f} {f.unit} | {f.reference:.1f} {f.unit} ({f.reference_name}) | **{f.ratio:.2f}x** "
        f"| {f.target:.2f}x | {'met' if f.ratio >= f.target else 'not met'} |"
        for f in figures
    ]
    (DOCS / "benchmarks.svg").write_text(chart_svg(figures))
    (DOCS / "benchmarks.md").write_text(
        f"""# Benchmarks

Measured {date.today().isoformat()} on {platform.machine()} with {torch.get_num_threads()} threads,
torch {torch.__version__}, GPT-2 124M in float32, medians of {args.repeats} runs.
Regenerate with `.venv/bin/python -m bench.report`.

Ratios say how many times better gptcore does than the reference measured in the same run (above 1x
is faster); the black tick on each bar is the target.

![ratios against the references](benchmarks.svg)

| measurement | gptcore | reference | ratio | target | |
| --- | --- | --- | --- | --- | --- |
{chr(10).join(rows)}

## The app (server side, AppTest)

```
{app}
```

## Building and loading

```
{load}
```
"""
    )
    for figure in figures:
        print(figure.line())
    print(app, load, sep="\n")


if __name__ == "__main__":
    main()
