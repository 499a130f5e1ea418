"""Shared fixtures: models are built once per test session because the 124M one takes seconds."""

import os
import tempfile
from collections.abc import Callable, Iterator

import pytest
import torch
from playwright.sync_api import BrowserContext, Page, expect

from bench.appserver import CHROMIUM, chromium
from gptcore import GPT_CONFIG_124M, PRESETS, GPTModel, build_model, get_tokenizer

# The class database of every app the tests start (AppTest sessions, servers) is a scratch file,
# never checkpoints/class.sqlite; tests of the class give each test its own.
os.environ.setdefault(
    "GPT_EXPLORER_CLASS_DB", os.path.join(tempfile.mkdtemp(prefix="gpt-explorer-class-"), "class.sqlite")
)
os.environ.pop("GPT_EXPLORER_TEACHER_PASSCODE", None)


@pytest.fixture(scope="session")
def tokenizer():
    return get_tokenizer()


@pytest.fixture(scope="session")
def tiny_model() -> GPTModel:
    """Two layers, four heads, 32 dims, the real 50,257-token vocabulary: fast and realistic."""
    return build_model(PRESETS["tiny"], seed=7)


@pytest.fixture(scope="session")
def book_model() -> GPTModel:
    """The book's untrained 124M model: GPT_CONFIG_124M built right after torch.manual_seed(123)."""
    return build_model(GPT_CONFIG_124M, seed=123)


@pytest.fixture
def prompt_ids(tokenizer) -> torch.Tensor:
    return torch.tensor(tokenizer.encode("Every effort moves you toward the light of"))


def fake_hub_cache(cache_dir, hf_model, repo: str):
    """Save a transformers model where huggingface_hub would cache a download of ``repo``.

    The layout is refs/main -> snapshots/<commit>/{config.json, model.safetensors}; returns the snapshot.
    """
    repo_dir = cache_dir / ("models--" + repo.replace("/", "--"))
    snapshot = repo_dir / "snapshots" / "0123abcd"
    hf_model.save_pretrained(snapshot)
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text("0123abcd")
    return snapshot


def open_app_page(page: str, model_id: str | None = None, prompt: str = "Every effort moves you"):
    """A fresh AppTest session with this model and prompt, switched to ``page`` (e.g. "pages/attention.py")."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../app.py", default_timeout=120)
    if model_id:
        at.session_state["model_id"] = model_id
    at.session_state["prompt"] = prompt
    at.run()
    return at.switch_page(page).run()


def open_linked_page(page: str, link: dict[str, str], model_id: str = "tiny-seed123"):
    """A fresh AppTest session opened from a shared link with these parameters, on ``page``."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../app.py", default_timeout=120)
    at.session_state["model_id"] = model_id
    at.query_params.update(link)
    at.run()
    return at.switch_page(page).run()


@pytest.fixture
def free_memory(monkeypatch):
    """Set how much of the app's memory budget is free: ``free_memory(1_000)`` leaves 1 kB.

    Everything the budget counts now stays counted, resident memory stops moving, no cache entry
    may be dropped to make room, and a wait for memory gives up after a second instead of minutes.
    """
    import ui
    import ui.turns

    budget = ui.MEMORY_BUDGET

    def set_free(nbytes: int) -> None:
        used = budget.used()
        monkeypatch.setattr(budget, "resident", lambda: used)
        monkeypatch.setattr(budget, "limit", used + nbytes)
        monkeypatch.setattr(budget, "evictable", lambda: 0)
        monkeypatch.setattr(ui.turns, "MAX_MEMORY_WAIT_S", 1.0)

    return set_free


@pytest.fixture(scope="session")
def postgres_server():
    """One private PostgreSQL cluster for the test session (bench/postgres.py); yields its URL."""
    from bench.postgres import private_postgres

    with private_postgres() as url:
        yield url


_databases = iter(range(1, 10**6))


@pytest.fixture(params=["sqlite", "postgresql"])
def class_database(request, tmp_path) -> str:
    """The URL of an empty class database: a SQLite file, or a new database in the private cluster."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'class.sqlite'}"
    import sqlalchemy

    server = request.getfixturevalue("postgres_server")
    name = f"class_{next(_databases)}"
    admin = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return server.rsplit("/", 1)[0] + f"/{name}"


# --- Chromium (tests/test_browser*.py) --------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserContext]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (never `playwright install`)")
    with chromium() as context:
        context.set_default_timeout(60_000)
        # expect() waits for what a page should show; on a loaded CI machine a server may need more
        # than Playwright's 5 s default to send it. Speed is measured in bench/, not here.
        expect.set_options(timeout=30_000)
        yield context


@pytest.fixture
def open_tab(browser: BrowserContext) -> Iterator[Callable[[], Page]]:
    """New tabs (each one a new Streamlit session) whose uncaught JavaScript errors fail the test."""
    tabs: list[Page] = []
    page_errors: list[str] = []

    def open_new() -> Page:
        tab = browser.new_page()
        tab.on("pageerror", lambda error: page_errors.append(f"{tab.url}: {error}"))
        tabs.append(tab)
        return tab

    yield open_new
    for tab in tabs:
        tab.close()
    assert not page_errors, f"uncaught errors in the browser: {page_errors}"
