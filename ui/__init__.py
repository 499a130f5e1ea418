"""The only Streamlit helpers shared by the pages: model choice, prompt, cached loaders, downloads.

Pages are thin views: they call ``current_trace()`` (or ``current_model()``) and draw. Shared
values live in plain session keys (MODEL_KEY, PROMPT_KEY), because widget keys vanish when the
page that drew the widget is not rendered; the prompt and model are also mirrored in the URL so a
teacher can share a link that opens the same prompt.

- catalog.py: every model a student can pick, with ids, labels and memory needs
- models.py: the session's model, loaded once per server (get_model)
- memory.py: free memory, and the refusal when a model would not fit
- downloads.py: background downloads of OpenAI's weights, shared by the whole server
- picker.py: the sidebar's model picker, Download button and progress
- sidebar.py: the app's frame and the sidebar every page shares
- state.py: the prompt
- traces.py: the prompt's trace, computed once and shared
- turns.py: computing(), memory and a turn at the model, with the messages a waiting student sees
- queue.py: ComputeQueue, the first-come-first-served turns behind computing()
- scheduler.py: the thread that runs every session's traces and generations in batches
- budget.py, memory.py, caches.py, allocator.py: the process's memory budget and byte-bounded caches
- logs.py: the app's own log lines in the server's output
- collector.py: the libraries' objects left out of the garbage collection after every script run
- openmp.py: torch's OpenMP threads wait passively (imported before anything loads torch)
- widgets.py: labels, explanations, download buttons, remembered choices
- training.py: training runs in background threads, one per session, a few at a time per server
"""

from . import openmp  # noqa: F401  (first: OpenMP's wait policy must be set before torch is imported)

# isort: split
from . import logs  # noqa: F401  (before the modules that log when imported)

# isort: split
from .budget import MemoryBudget, MemoryRefusedError
from .caches import MODELS, RESULTS, TRACES, cached, clear_caches
from .catalog import (
    CHECKPOINT_PREFIX,
    CHECKPOINTS_ENV,
    DEFAULT_MODEL_ID,
    MODEL_CHOICES,
    ModelChoice,
    all_choices,
    checkpoint_choices,
    checkpoint_folder,
    find_choice,
    is_ready,
    picker_label,
    refresh_checkpoints,
)
from .collector import freeze_startup_objects
from .downloads import DownloadJob, DownloadRegistry, download_registry
from .lens import read_logit_lens
from .memory import BUDGET_ENV, MEMORY_BUDGET, format_bytes, memory_refusal, read_available_memory
from .models import MODEL_KEY, current_choice, current_model, current_model_id, forget_model, get_model, refusal
from .picker import WANTED_KEY, choose_model, render_model_picker
from .scheduler import generation_job
from .sidebar import ensure_app_frame, init_state, render_sidebar
from .state import DEFAULT_PROMPT, MAX_PROMPT_CHARS, PROMPT_KEY, current_prompt
from .traces import current_trace, get_trace, prompt_token_ids
from .training import (
    COMPARE_LEFT_KEY,
    COMPARE_RIGHT_KEY,
    MAX_CONCURRENT_RUNS,
    MAX_TEXT_BYTES,
    TrainingRefusedError,
    TrainingRegistry,
    TrainingRun,
    TrainingTextError,
    compare_before_and_after,
    session_run,
    session_run_id,
    training_refusal,
    training_registry,
)
from .turns import (
    COMPUTE_LOCK,
    COMPUTE_QUEUE,
    SCHEDULER,
    busy_sessions,
    computing,
    generated_steps,
    in_batch,
    reserving,
)
from .widgets import (
    MAX_HEATMAP_TOKENS,
    csv_download,
    download,
    explain,
    figure_download,
    labels,
    option_names,
    remembered_choice,
    square_csv,
    token_vectors_csv,
    token_window,
)

__all__ = [
    "BUDGET_ENV",
    "CHECKPOINTS_ENV",
    "CHECKPOINT_PREFIX",
    "COMPARE_LEFT_KEY",
    "COMPARE_RIGHT_KEY",
    "COMPUTE_LOCK",
    "COMPUTE_QUEUE",
    "DEFAULT_MODEL_ID",
    "DEFAULT_PROMPT",
    "MAX_CONCURRENT_RUNS",
    "MAX_HEATMAP_TOKENS",
    "MAX_PROMPT_CHARS",
    "MAX_TEXT_BYTES",
    "MEMORY_BUDGET",
    "MODELS",
    "MODEL_CHOICES",
    "MODEL_KEY",
    "PROMPT_KEY",
    "RESULTS",
    "SCHEDULER",
    "TRACES",
    "WANTED_KEY",
    "DownloadJob",
    "DownloadRegistry",
    "MemoryBudget",
    "MemoryRefusedError",
    "ModelChoice",
    "TrainingRefusedError",
    "TrainingRegistry",
    "TrainingRun",
    "TrainingTextError",
    "all_choices",
    "busy_sessions",
    "cached",
    "checkpoint_choices",
    "checkpoint_folder",
    "choose_model",
    "clear_caches",
    "compare_before_and_after",
    "computing",
    "csv_download",
    "current_choice",
    "current_model",
    "current_model_id",
    "current_prompt",
    "current_trace",
    "download",
    "download_registry",
    "ensure_app_frame",
    "explain",
    "figure_download",
    "find_choice",
    "forget_model",
    "format_bytes",
    "generated_steps",
    "generation_job",
    "get_model",
    "get_trace",
    "in_batch",
    "init_state",
    "is_ready",
    "labels",
    "memory_refusal",
    "option_names",
    "picker_label",
    "prompt_token_ids",
    "read_available_memory",
    "read_logit_lens",
    "refresh_checkpoints",
    "refusal",
    "remembered_choice",
    "render_model_picker",
    "render_sidebar",
    "reserving",
    "session_run",
    "session_run_id",
    "square_csv",
    "token_vectors_csv",
    "token_window",
    "training_refusal",
    "training_registry",
]

freeze_startup_objects()  # last: every library the pages use is imported by now
