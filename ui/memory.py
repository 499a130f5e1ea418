"""Free memory, and the refusal a student sees when a model would not fit in it.

``memory_source`` is the one place that reads the machine; tests replace it with a fake.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from gptcore.hub import format_bytes

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


def memory_refusal(name: str, needed_bytes: int) -> str | None:
    """Why ``name`` cannot be loaded now, or None when it fits (or free memory is unknown)."""
    available = memory_source()
    if available is None or needed_bytes <= available:
        return None
    return (
        f"{name} needs about {format_bytes(needed_bytes)} of free memory; this server has "
        f"{format_bytes(available)} available. Pick a smaller model, or free memory on the server first."
    )
