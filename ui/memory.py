"""The app process's memory budget: how big it is, what the process holds, and the refusal a student sees.

The budget's limit is set once, when the app starts: ``GPT_EXPLORER_MEMORY_BUDGET`` (e.g. ``6GB``)
if the teacher set it, otherwise BUDGET_SHARE of the memory the process may use then (the smaller
of the system's MemAvailable and the room under a container's limit). Several app processes on one
machine (deploy/start-class.sh) each get their share. ``memory_source`` is the one place that reads
the machine's free memory; tests replace it with a fake.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

from gptcore.stats import format_bytes

from .allocator import trim_heap, tune_allocator
from .budget import MemoryBudget

logger = logging.getLogger(__name__)

BUDGET_ENV = "GPT_EXPLORER_MEMORY_BUDGET"
BUDGET_SHARE = 0.7  # of the memory free at start: the rest is for the system, other programs, slack
FALLBACK_BUDGET = 4 * 10**9  # bytes, when the system does not say how much memory it has

_UNLIMITED = 1 << 60  # cgroup v1 writes "no limit" as a number near 2**63
_CGROUP_FILES = (  # (limit, usage) under /sys/fs/cgroup: v2, then v1
    ("memory.max", "memory.current"),
    ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes"),
)


def _meminfo_available(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """Linux's own estimate of memory that new programs can use without swapping (MemAvailable)."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # the file counts in kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Room left under a container's memory limit (cgroup v2 or v1), or None without a limit."""
    for limit_file, usage_file in _CGROUP_FILES:
        try:
            limit = (root / limit_file).read_text().strip()
            usage = int((root / usage_file).read_text())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < _UNLIMITED:
            return max(0, int(limit) - usage)
    return None


def _sysconf_available() -> int | None:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None  # not a POSIX system that reports it


def read_available_memory() -> int | None:
    """Bytes of memory this server can still use, or None when the system does not say."""
    system = _meminfo_available()
    if system is None:
        system = _sysconf_available()
    container = _cgroup_room()
    known = [value for value in (system, container) if value is not None]
    return min(known) if known else None


memory_source: Callable[[], int | None] = read_available_memory

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes from a size such as "6GB", "6 GiB", "800MB" or "2500000000" (GB = 10**9, GiB = 2**30)."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a size; write it like 6GB, 800MB or 6GiB")
    number, prefix, binary = match.groups()
    power = "_KMGT".index(prefix.upper()) if prefix else 0
    return int(float(number) * (1024 if binary else 1000) ** power)


def budget_limit() -> int:
    """The budget in bytes: the teacher's setting, else BUDGET_SHARE of the memory free now."""
    configured = os.environ.get(BUDGET_ENV, "").strip()
    if configured:
        try:
            return parse_size(configured)
        except ValueError as error:
            raise ValueError(f"{BUDGET_ENV}: {error}") from None
    available = memory_source()
    if available is None:
        logger.warning("free memory is unknown here; the memory budget is %s", format_bytes(FALLBACK_BUDGET))
        return FALLBACK_BUDGET
    return int(BUDGET_SHARE * available)


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int:
    """This process's resident memory now (the second field of /proc/self/statm, in pages); 0 if unknown."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0


tune_allocator()  # before the budget reads its baseline, and before any large block is allocated
MEMORY_BUDGET = MemoryBudget(budget_limit(), resident_bytes, trim=trim_heap)
logger.info("memory %s", MEMORY_BUDGET.describe())


def memory_refusal(name: str, needed_bytes: int) -> str | None:
    """Why ``name`` cannot have ``needed_bytes`` now, or None when it fits in the budget."""
    if MEMORY_BUDGET.would_fit(needed_bytes):
        return None
    free = max(0, MEMORY_BUDGET.free() + MEMORY_BUDGET.evictable())
    return (
        f"{name} needs about {format_bytes(needed_bytes)} of memory; this server's memory budget "
        f"({format_bytes(MEMORY_BUDGET.limit)}) has {format_bytes(free)} free. "
        "Pick a smaller model, or try again once others have finished."
    )
