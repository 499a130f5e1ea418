"""The app's own log lines (memory budget, scheduler batches) go to the server's output.

Streamlit sets up handlers for its own loggers only, so without one here the ``ui.*`` loggers'
INFO lines would be dropped. The level comes from GPT_EXPLORER_LOG_LEVEL (default INFO).
"""

from __future__ import annotations

import logging
import os

LEVEL_ENV = "GPT_EXPLORER_LOG_LEVEL"


def configure() -> None:
    app_logger = logging.getLogger("ui")
    if app_logger.handlers:
        return  # configured already (the module is imported once per process, but tests may call again)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    app_logger.addHandler(handler)
    app_logger.setLevel(os.environ.get(LEVEL_ENV, "INFO").upper())
    app_logger.propagate = False  # one copy of each line, even if someone configures the root logger


configure()
