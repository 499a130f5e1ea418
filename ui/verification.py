"""Checking the server's cached copies of OpenAI's GPT-2 against their published checksums, in the background.

A check reads every byte of the model's files (a second for GPT-2 124M, half a minute for 1558M), so
it runs in a thread once per cached copy and server; until it ends, the picker says "checking". A
copy that fails is offered as an "unverified copy", with what did not match: a damaged download, or
weights that are not OpenAI's (a test's random "gpt2" once sat in a cache as if it were).
"""

from __future__ import annotations

import logging
import threading

import streamlit as st

from gptcore import hub
from gptcore.checksums import Verdict

logger = logging.getLogger(__name__)

CHECKING = "checking"
QUICK_CHECK_S = 0.2  # a check that ends this soon is shown at once rather than as "checking"


class VerdictBoard:
    """Every cached pretrained model's verdict, keyed by name and snapshot folder (a new download is a new key)."""

    def __init__(self) -> None:
        self._verdicts: dict[tuple[str, str], Verdict] = {}
        self._running: dict[tuple[str, str], threading.Thread] = {}
        self._lock = threading.Lock()

    def verdict(self, hub_name: str, wait: bool = False) -> Verdict | str | None:
        """The verdict, CHECKING while the check runs (started here if need be), or None if not cached."""
        folder = hub.find_local(hub_name)
        if folder is None:
            return None
        key = (hub_name, str(folder))
        with self._lock:
            if key in self._verdicts:
                return self._verdicts[key]
            thread = self._running.get(key)
            started = thread is None
            if started:
                thread = threading.Thread(target=self._check, args=(key,), name=f"verify-{hub_name}", daemon=True)
                self._running[key] = thread
                thread.start()
        if wait or started:  # a check already under way is not waited for again on every rerun
            thread.join(timeout=None if wait else QUICK_CHECK_S)
        with self._lock:
            return self._verdicts.get(key, CHECKING)

    def _check(self, key: tuple[str, str]) -> None:
        hub_name, _ = key
        try:
            verdict = hub.verify_local(hub_name)
        except OSError as error:  # unreadable files fail the check; they do not crash the server
            verdict = Verdict(False, "the published checksums", f"its files could not be read ({error})")
        if verdict is None:
            verdict = Verdict(False, "the published checksums", "its files left the cache during the check")
        if not verdict.verified:
            logger.warning("the cached %s does not match %s: %s", hub_name, verdict.against, verdict.problem)
        with self._lock:
            self._verdicts[key] = verdict
            self._running.pop(key, None)


@st.cache_resource(show_spinner=False)
def verdict_board() -> VerdictBoard:
    """The server's one board: each cached copy is checked once, whoever looks first."""
    return VerdictBoard()
