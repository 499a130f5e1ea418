"""App-level latency, measured server-side with Streamlit's AppTest on the default 124M model.

- rerun of the attention page when only the layer/head changes (the trace comes from the cache);
- a new 32-token prompt: the full trace on its own, and the attention page's first run with it.

    .venv/bin/python -m bench.bench_app [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from gptcore import get_tokenizer, trace
from ui import DEFAULT_MODEL_ID, get_model

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PROMPT_32 = (
    "The teacher wrote a sentence on the board and asked the class to guess how a language model "
    "would continue it, one token after another, until the"
)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    tokenizer = get_tokenizer()
    ids = tokenizer.encode(PROMPT_32)[:32]
    prompt = tokenizer.decode(ids)
    assert len(tokenizer.encode(prompt)) == 32

    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state["prompt"] = prompt
    at.run()
    at.switch_page("pages/attention.py").run()  # builds the model and caches this prompt's trace
    assert not at.exception, at.exception
    layer_box = at.selectbox(key="attention_layer")
    layers = list(layer_box.options)

    rerun_times = []
    for i in range(args.repeats):
        layer = layers[(i + 1) % len(layers)]
        rerun_times.append(timed(lambda layer=layer: at.selectbox(key="attention_layer").select(layer).run()))
        assert not at.exception, at.exception

    model = get_model(DEFAULT_MODEL_ID)
    trace(model, ids)  # warm-up
    trace_times = [timed(lambda: trace(model, ids)) for _ in range(args.repeats)]

    new_prompt_times = []
    for i in range(args.repeats):
        fresh = tokenizer.decode([*ids[:-1], 1000 + i])  # a prompt the cache has not seen
        at.session_state["prompt"] = fresh
        new_prompt_times.append(timed(at.run))
        assert not at.exception, at.exception

    def ms(times: list[float]) -> str:
        return f"{statistics.median(times) * 1000:7.1f} ms"

    print(f"GPT-2 124M untrained, 32-token prompt, {args.repeats} repeats (medians)")
    print(f"  attention page rerun, layer changed (cached trace): {ms(rerun_times)}  (target < 300)")
    print(f"  full trace of a new 32-token prompt:                {ms(trace_times)}  (target < 1500)")
    print(f"  attention page with a new 32-token prompt:          {ms(new_prompt_times)}")


if __name__ == "__main__":
    main()
