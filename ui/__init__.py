"""The Streamlit helpers the pages share: the app's frame, model choice, prompt, traces, turns, figures.

Pages are thin views: they call ``ui.current_trace()`` (or ``ui.current_model()``) and draw. Shared
values live in plain session keys (MODEL_KEY, PROMPT_KEY), because widget keys vanish when the
page that drew the widget is not rendered; the prompt and model are also mirrored in the URL so a
teacher can share a link that opens the same prompt. The README's module table says what each
module holds.

``ui.<name>`` is imported from its module on first use, so that a page's first line,
``ui.frame.ensure_app_frame``, costs no more than Streamlit itself: on a fresh server it hands a
page Streamlit ran on its own over to app.py before the seconds that torch takes to import.
app.py calls ``ui.start()``, which imports everything once, as a server's first page needs.
"""

import importlib

from . import openmp  # noqa: F401  (first: OpenMP's wait policy must be set before torch is imported)

# isort: split
from . import logs  # noqa: F401  (before the modules that log when imported)

# Where each public name lives: module -> names.
_EXPORTS = {
    "budget": ("MemoryBudget", "MemoryRefusedError"),
    "caches": ("MODELS", "RESULTS", "TRACES", "cached", "clear_caches"),
    "catalog": (
        "CHECKPOINTS_ENV",
        "CHECKPOINT_PREFIX",
        "DEFAULT_MODEL_ID",
        "MODEL_CHOICES",
        "ModelChoice",
        "all_choices",
        "checkpoint_choices",
        "checkpoint_folder",
        "find_choice",
        "is_ready",
        "picker_label",
        "refresh_checkpoints",
    ),
    "display": (
        "PRESENTER_KEY",
        "opening_sidebar_state",
        "plot",
        "presenter_toggle",
        "presenting",
        "shared_figure",
        "side_by_side",
    ),
    "downloads": ("DownloadJob", "DownloadRegistry", "download_registry"),
    "frame": ("app_frame", "ensure_app_frame"),
    "jobs": ("generation_job",),
    "lens": ("read_logit_lens",),
    "memory": ("BUDGET_ENV", "MEMORY_BUDGET", "format_bytes", "memory_refusal", "read_available_memory"),
    "models": (
        "MODEL_KEY",
        "current_choice",
        "current_model",
        "current_model_id",
        "forget_model",
        "get_model",
        "refusal",
    ),
    "picker": ("WANTED_KEY", "choose_model", "render_model_picker"),
    "remembered": (
        "opened_with",
        "option_names",
        "put_in_link",
        "remembered_choice",
        "remembered_number",
        "reopen_with",
        "starts_from_link",
    ),
    "sidebar": ("init_state", "render_sidebar"),
    "state": (
        "COMPARE_LEFT_KEY",
        "COMPARE_TITLES_KEY",
        "COMPARE_RIGHT_KEY",
        "DEFAULT_PROMPT",
        "MAX_PROMPT_CHARS",
        "PROMPT_KEY",
        "compare_before_and_after",
        "current_prompt",
    ),
    "traces": ("current_trace", "get_trace", "prompt_token_ids"),
    "training": (
        "MAX_CONCURRENT_RUNS",
        "TrainingRefusedError",
        "TrainingRegistry",
        "TrainingRun",
        "session_run",
        "session_run_id",
        "training_refusal",
        "training_registry",
    ),
    "turns": (
        "COMPUTE_LOCK",
        "COMPUTE_QUEUE",
        "SCHEDULER",
        "busy_sessions",
        "computing",
        "generated_steps",
        "in_batch",
        "reserving",
    ),
    "uploads": ("MAX_TEXT_BYTES", "TrainingTextError"),
    "view": ("head_choice", "layer_and_head", "layer_choice"),
    "widgets": (
        "MAX_HEATMAP_TOKENS",
        "as_percentages",
        "csv_download",
        "download",
        "explain",
        "figure_download",
        "inline_code",
        "labels",
        "percent_column",
        "square_csv",
        "table_and_figure_downloads",
        "token_vectors_csv",
        "token_window",
    ),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_HOME)
_started = False


def __getattr__(name: str) -> object:
    """``ui.<name>`` on first use: a public name from its module, or one of ui's modules itself."""
    if name in _HOME:
        value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    else:
        try:
            value = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value  # later uses find it directly
    return value


def start() -> None:
    """Import every module the pages use, then leave the libraries out of later garbage collections
    (ui/collector.py). app.py calls it on every run; only the first does anything."""
    global _started
    if _started:
        return
    for module in _EXPORTS:
        importlib.import_module(f".{module}", __name__)
    from .collector import freeze_startup_objects

    freeze_startup_objects()  # last: every library the pages use is imported by now
    _started = True
