"""The logit lens of a trace, read by the scheduler a chunk of rows at a time with the class's other readings."""

from __future__ import annotations

import threading

import numpy as np

from gptcore import GPTConfig, Trace
from gptcore.footprint import logit_lens_bytes
from gptcore.lens import LENS_CHUNK, stream_rows

from .jobs import lens_job
from .models import get_model
from .turns import in_batch, reserving


class _Workspace:
    """What the lens's one workspace is reserved with: it lives as long as the server."""

    nbytes = 0


_WORKSPACE = _Workspace()
_workspace_lock = threading.Lock()


def read_logit_lens(model_id: str, trace: Trace, positions: slice, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``gptcore.logit_lens(model, trace, k, positions=positions)``: (ids, probs), both (L + 1, P, k).

    Reserves the reading's memory (its stream rows and results) while it waits in the lens line;
    the student sees their place, as for a trace.
    """
    model = get_model(model_id)
    _reserve_workspace(model.cfg)
    # Reserved before the rows are copied out of the trace: (L + 1) x P float32 vectors of width d,
    # and for each of them k int64 ids and k float64 probabilities.
    n_rows = (trace.n_layers + 1) * len(range(*positions.indices(trace.num_tokens)))
    needed = n_rows * (trace.embeddings.itemsize * trace.embeddings.shape[-1] + k * (8 + 8))
    with reserving(needed, "Reading the stream through the head"):
        return in_batch(lens_job(model, model_id, stream_rows(trace, positions), k))  # rows (L + 1, P, d)


def _reserve_workspace(cfg: GPTConfig) -> None:
    """The memory of one output-head product over LENS_CHUNK rows, reserved once for the server.

    The scheduler's thread runs the products of every student's reading one at a time, so one
    workspace serves the whole class: reserving it per reading would count thirty readings in
    line as thirty products (4 GB for GPT-2) and keep the class waiting for memory no one uses.
    """
    needed = logit_lens_bytes(cfg, LENS_CHUNK)
    with _workspace_lock:
        if needed <= _WORKSPACE.nbytes:
            return
        with reserving(needed - _WORKSPACE.nbytes, "The logit lens's workspace") as reservation:
            reservation.keep_with(_WORKSPACE)
        _WORKSPACE.nbytes = needed
