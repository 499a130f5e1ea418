"""The logit lens of a trace, read by the scheduler a chunk of rows at a time with the class's other readings."""

from __future__ import annotations

import numpy as np

from gptcore import Trace
from gptcore.footprint import logit_lens_bytes
from gptcore.lens import stream_rows

from .models import get_model
from .scheduler import lens_job
from .turns import in_batch, reserving


def read_logit_lens(model_id: str, trace: Trace, positions: slice, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``gptcore.logit_lens(model, trace, k, positions=positions)``: (ids, probs), both (L + 1, P, k).

    Reserves the reading's memory (its stream rows and one chunk's product) while it waits and
    runs; the student sees their place in line, as for a trace.
    """
    model = get_model(model_id)
    rows = stream_rows(trace, positions)  # (L + 1, P, d)
    needed = rows.nbytes + logit_lens_bytes(model.cfg, rows.shape[1])
    with reserving(needed, "Reading the stream through the head"):
        return in_batch(lens_job(model, model_id, rows, k))
