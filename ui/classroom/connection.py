"""Where the class's database is, through Streamlit's own ``st.connection("classroom", type="sql")``.

- With ``[connections.classroom] url = "postgresql+psycopg://..."`` in .streamlit/secrets.toml
  (the connection's standard place), the class lives in that PostgreSQL database.
- Otherwise it is a SQLite file: GPT_EXPLORER_CLASS_DB if set, else class.sqlite beside the
  checkpoints. Several app processes on one machine share it.

Each process migrates the schema once, on its first use (schema.migrate).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import streamlit as st
from sqlalchemy import Engine

from ..catalog import checkpoint_folder
from .schema import migrate, tune_sqlite
from .store import ClassStore

CONNECTION_NAME = "classroom"
DB_ENV = "GPT_EXPLORER_CLASS_DB"
_STORE_KEY = "_class_store"  # plain session key
log = logging.getLogger(__name__)

_migrated: dict[int, ClassStore] = {}
_lock = threading.Lock()


def secret(*path: str) -> object | None:
    """A value from .streamlit/secrets.toml (e.g. secret("connections", "classroom", "url")), or None
    when there is no secrets file or no such value."""
    try:
        value: object = st.secrets
        for name in path:
            value = value[name]  # type: ignore[index]
        return value
    except (KeyError, FileNotFoundError, st.errors.StreamlitSecretNotFoundError):
        return None


def sqlite_path() -> Path:
    return Path(os.environ.get(DB_ENV) or checkpoint_folder() / "class.sqlite")


def class_store() -> ClassStore:
    """The ClassStore over this server's class database, migrated on first use; found once per session,
    as a class's pages ask for it every second and reading secrets.toml each time is not free."""
    if _STORE_KEY not in st.session_state:
        st.session_state[_STORE_KEY] = _find_store()
    return st.session_state[_STORE_KEY]


def _find_store() -> ClassStore:
    url = secret("connections", CONNECTION_NAME, "url")
    if url:  # passed on, rather than left for the connection to find, so AppTest's secrets reach it too
        connection = st.connection(CONNECTION_NAME, type="sql", url=str(url), pool_pre_ping=True)
    else:
        path = sqlite_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = st.connection(
            CONNECTION_NAME, type="sql", url=f"sqlite:///{path}", connect_args={"check_same_thread": False}
        )
    return store_for(connection.engine)


def store_for(engine: Engine) -> ClassStore:
    """One ClassStore per engine, whose database is migrated before it is first handed out."""
    with _lock:
        if id(engine) not in _migrated:
            tune_sqlite(engine)
            version = migrate(engine)
            log.info("class database %s at schema version %d", engine.url.render_as_string(), version)
            _migrated[id(engine)] = ClassStore(engine)
        return _migrated[id(engine)]
