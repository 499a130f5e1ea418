"""Keep garbage collection cheap on a server that a whole class shares.

A full collection walks every object the process tracks; once torch, pandas, Plotly and Streamlit
are imported that is about 380,000 objects: 0.17 s on a 2-core machine, holding the interpreter
lock, so every student's page stands still while it runs. Two settings keep that off the class:

- ``gc.freeze()``, called once when ui is imported and before any session exists, moves every
  object alive then (the libraries) into a permanent generation that collections skip; a full
  collection then walks only what the sessions made since. Frozen objects are still freed by
  reference counting, so nothing a session makes is kept alive by this.
- Streamlit's own full collection after every script run is off (``runner.postScriptGC`` in
  .streamlit/config.toml): a class ends a script run with nearly every click, and even the cheaper
  collection after each cost thirty students 1.2-1.7 s of a 10-11 s round (bench/bench_class.py). Python's
  generational collector still frees a page's reference cycles, and the memory budget collects
  before it decides that memory is short (ui/budget.py).
"""

from __future__ import annotations

import gc

import pandas  # noqa: F401  (imported first, so their modules are frozen with the rest)
import plotly.graph_objects  # noqa: F401


def freeze_startup_objects() -> None:
    """Leave everything alive now out of later garbage collections (see the module's docstring)."""
    gc.collect()  # what is garbage already is freed, not frozen
    gc.freeze()
