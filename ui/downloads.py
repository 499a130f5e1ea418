"""Downloads of OpenAI's weights in background threads, one per model for the whole server.

The registry lives in st.cache_resource, so every session sees the same jobs: two students who
click Download for the same model share one download, and pages keep working meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import streamlit as st

from gptcore import hub

logger = logging.getLogger(__name__)

# downloader(hub_name, progress=callback(bytes_done, bytes_total), cancel=threading.Event)
Downloader = Callable[..., object]
SPEED_WINDOW_S = 5.0  # the speed shown is the average over the last few seconds


def hub_downloader(hub_name: str, progress: Callable[[int, int], None], cancel: threading.Event) -> object:
    return hub.download_pretrained(hub_name, progress=progress, cancel=cancel)


@dataclass
class DownloadJob:
    hub_name: str  # e.g. "gpt2-medium"
    name: str  # for messages, e.g. "GPT-2 355M"
    total_bytes: int  # expected size; replaced by the downloader's own total once it reports
    cancel: threading.Event = field(default_factory=threading.Event)
    started_at: float = field(default_factory=time.monotonic)
    done_bytes: int = 0
    state: str = "running"  # "running", "done", "failed" or "cancelled"
    error: str | None = None  # what went wrong and what to do, for st.error
    thread: threading.Thread | None = None
    _samples: deque = field(default_factory=lambda: deque(maxlen=256))  # (time, bytes done)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # the thread appends while sessions read

    @property
    def running(self) -> bool:
        return self.state == "running"

    def report(self, bytes_done: int, bytes_total: int | None = None) -> None:
        """The downloader's progress callback (runs in the download thread)."""
        if bytes_total:
            self.total_bytes = int(bytes_total)
        self.done_bytes = int(bytes_done)
        with self._lock:
            self._samples.append((time.monotonic(), self.done_bytes))

    @property
    def fraction(self) -> float:
        return min(1.0, self.done_bytes / self.total_bytes) if self.total_bytes else 0.0

    def speed(self) -> float:
        """Bytes per second over the last few seconds."""
        with self._lock:
            samples = [(self.started_at, 0), *self._samples]  # the start counts until there are two reports
        if len(samples) < 2:
            return 0.0
        if len(samples) > 2:
            samples = samples[1:]
        now_t, now_bytes = samples[-1]
        recent = [sample for sample in samples[:-1] if now_t - sample[0] <= SPEED_WINDOW_S]
        then_t, then_bytes = recent[0] if recent else samples[-2]  # slow links report less often
        return (now_bytes - then_bytes) / (now_t - then_t) if now_t > then_t else 0.0

    def progress_text(self) -> str:
        if self.cancel.is_set():
            return "Cancelling…"
        if not self._samples:
            return f"Connecting… ({self.total_bytes / 1e6:,.0f} MB to fetch)"
        return f"{self.done_bytes / 1e6:,.0f} of {self.total_bytes / 1e6:,.0f} MB, {self.speed() / 1e6:.1f} MB/s"


class DownloadRegistry:
    """At most one running download per model; finished, failed and cancelled ones stay to be reported."""

    def __init__(self, downloader: Downloader = hub_downloader) -> None:
        self.downloader = downloader
        self._jobs: dict[str, DownloadJob] = {}
        self._lock = threading.Lock()

    def get(self, hub_name: str) -> DownloadJob | None:
        return self._jobs.get(hub_name)

    def start(self, hub_name: str, name: str, total_bytes: int) -> DownloadJob:
        """Start downloading ``hub_name``, or return the download already running."""
        with self._lock:
            job = self._jobs.get(hub_name)
            if job is not None and job.running:
                return job
            job = DownloadJob(hub_name, name, total_bytes)
            job.thread = threading.Thread(target=self._run, args=(job,), name=f"download-{hub_name}", daemon=True)
            self._jobs[hub_name] = job
            job.thread.start()
            return job

    def cancel(self, hub_name: str) -> None:
        job = self._jobs.get(hub_name)
        if job is not None and job.running:
            job.cancel.set()

    def _run(self, job: DownloadJob) -> None:
        try:
            self.downloader(job.hub_name, progress=job.report, cancel=job.cancel)
        except hub.DownloadCancelled:
            job.state = "cancelled"
        except hub.HubUnavailableError as error:  # its message says which files to fetch and where to put them
            job.error = str(error)
            job.state = "failed"
        except Exception as error:  # anything else: a message for the sidebar, the traceback for the log
            logger.exception("downloading %s failed", job.hub_name)
            job.error = f"Downloading {job.name} failed: {error}"
            job.state = "failed"
        else:
            job.state = "done"


@st.cache_resource(show_spinner=False)
def download_registry() -> DownloadRegistry:
    """The server's one registry of downloads, shared by every session."""
    return DownloadRegistry()
