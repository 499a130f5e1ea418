"""A private PostgreSQL cluster for tests and benchmarks: Debian's server, its own initdb and pg_ctl,
in a scratch folder, on a free loopback port; nothing of the machine's own PostgreSQL is used.

    with private_postgres() as url:  # postgresql+psycopg://explorer@127.0.0.1:PORT/postgres
        ...

PostgreSQL refuses to run as root, so as root the cluster runs as the ``postgres`` user that
Debian's package creates.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.appserver import free_port

USER = "explorer"  # the cluster's superuser; trusted on loopback only, as the cluster lives for one test run


def server_bin() -> Path:
    """The newest installed PostgreSQL's bin folder (/usr/lib/postgresql/<version>/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parent.parent.name))
    if not found:
        raise RuntimeError("PostgreSQL's server is not installed: .ci/system-packages installs Debian's postgresql")
    return Path(found[-1]).parent


def _as_owner(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextmanager
def private_postgres() -> Iterator[str]:
    """Start a throwaway cluster; yield its SQLAlchemy URL; stop it and delete its files."""
    folder = Path(tempfile.mkdtemp(prefix="gpt-explorer-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, port, bin_dir = folder / "data", free_port(), server_bin()
    run = lambda *args: subprocess.run(_as_owner([str(a) for a in args]), check=True, capture_output=True)  # noqa: E731
    try:
        run(bin_dir / "initdb", "-D", data, "-U", USER, "-A", "trust", "-E", "UTF8", "--no-sync")
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        run(bin_dir / "pg_ctl", "-D", data, "-o", options, "-l", folder / "server.log", "-w", "start")
        yield f"postgresql+psycopg://{USER}@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                _as_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]), capture_output=True
            )
        shutil.rmtree(folder, ignore_errors=True)
