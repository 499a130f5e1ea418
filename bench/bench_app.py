"""App-level latency, measured server-side with Streamlit's AppTest on the default 124M model.

- rerun of the attention page when only the layer/head changes (the trace comes from the cache);
- a new 32-token prompt: the full trace on its own, and the attention page's first run with it;
- the same layer-change rerun while a training run (the Train page's default) goes on in the background.

    .venv/bin/python -m bench.bench_app [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from bench.bench_train import classroom_text
from gptcore import TRAINING_PRESETS, TrainingSettings, get_tokenizer, trace
from ui import DEFAULT_MODEL_ID, TrainingRegistry, get_model

APP = str(Path(__file__).resolve().parent.parent / "app.py")
# 31 tokens; one more word (each of these is a single token) makes a new 32-token prompt.
PROMPT_31 = (
    "The teacher wrote a short sentence on the board and asked the whole class to guess how a language "
    "model would continue it, one token after another, with the"
)
LAST_WORDS = ["cat", "dog", "sun", "tree", "book", "door", "car", "bird", "lake", "song", "road", "hill"]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help=f"at most {len(LAST_WORDS) - 1}")
    args = parser.parse_args()
    tokenizer = get_tokenizer()
    prompts = [f"{PROMPT_31} {word}" for word in LAST_WORDS]
    assert all(len(tokenizer.encode(p)) == 32 for p in prompts), [len(tokenizer.encode(p)) for p in prompts]
    prompt, fresh_prompts = prompts[0], prompts[1:]
    ids = tokenizer.encode(prompt)

    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state["prompt"] = prompt
    at.run()
    at.switch_page("pages/attention.py").run()  # builds the model and caches this prompt's trace
    assert not at.exception, at.exception
    layer_box = at.selectbox(key="attention_layer_box")
    n_layers = len(layer_box.options)  # options are shown as "layer i"; their values are 0..L-1

    rerun_times = []
    for i in range(args.repeats):
        layer = (i + 1) % n_layers
        rerun_times.append(timed(lambda layer=layer: at.selectbox(key="attention_layer_box").select(layer).run()))
        assert not at.exception, at.exception

    model = get_model(DEFAULT_MODEL_ID)
    trace(model, ids)  # warm-up
    trace_times = [timed(lambda: trace(model, ids)) for _ in range(args.repeats)]

    new_prompt_times = []
    for fresh in fresh_prompts[: args.repeats]:  # prompts the cache has not seen
        at.session_state["prompt"] = fresh
        new_prompt_times.append(timed(at.run))
        assert not at.exception, at.exception

    # A student's training run in the background, started as the Train page starts it.
    at.session_state["prompt"] = prompt
    at.run()
    preset = next(iter(TRAINING_PRESETS))
    with tempfile.TemporaryDirectory() as folder:
        run = TrainingRegistry().start(
            "bench", classroom_text(), TrainingSettings(max_steps=100_000), preset=preset, folder=Path(folder)
        )
        while run.steps_done < 3:  # past the model's construction, into steady training
            time.sleep(0.2)
        training_times = []
        for i in range(args.repeats):
            layer = (i + 1) % n_layers
            training_times.append(
                timed(lambda layer=layer: at.selectbox(key="attention_layer_box").select(layer).run())
            )
            assert not at.exception, at.exception
        run.stop.set()
        run.thread.join()
        steps_meanwhile = run.steps_done

    def ms(times: list[float]) -> str:
        return f"{statistics.median(times) * 1000:7.1f} ms"

    print(f"GPT-2 124M untrained, 32-token prompt, {args.repeats} repeats (medians)")
    print(f"  attention page rerun, layer changed (cached trace): {ms(rerun_times)}  (target < 300)")
    print(f"  full trace of a new 32-token prompt:                {ms(trace_times)}  (target < 1500)")
    print(f"  attention page with a new 32-token prompt:          {ms(new_prompt_times)}")
    print(f"  rerun, layer changed, while a run of {preset!r} trains ({steps_meanwhile} steps):")
    print(f"                                                      {ms(training_times)}  (target < 300)")


if __name__ == "__main__":
    main()
