"""The class's tables, and the steps that bring any older database up to them.

One SQLAlchemy Core schema serves SQLite and PostgreSQL alike. Every app process runs ``migrate``
when it starts: it creates what is missing and applies each numbered step the database has not
had yet, inside one transaction, so two processes starting together cannot both apply a step.

    classes   a class a teacher started: its join code and the view "Show everyone" sent
    students  who joined, with the seat token that lets a reloaded browser rejoin as them
    rounds    "predict the next token" rounds: prompt, model, and at reveal the model's top 10
    answers   each student's guess in a round (the last one counts), scored at reveal
    lesson_answers  each student's latest answer to each lesson question, graded on their model
"""

from __future__ import annotations

import time

from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError

metadata = MetaData()

classes = Table(
    "classes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(12), nullable=False, unique=True),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("view", Text),  # JSON: the page, prompt, model and link parameters the teacher showed
    Column("view_number", Integer, nullable=False, default=0),  # counts "Show everyone" presses
)

students = Table(
    "students",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("class_id", Integer, ForeignKey("classes.id"), nullable=False),
    Column("name", String(40), nullable=False),
    Column("seat", String(64), nullable=False, unique=True),  # a random token: the student's way back in
    Column("joined_at", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("page", String(40), nullable=False, default=""),
    UniqueConstraint("class_id", "name"),
)

rounds = Table(
    "rounds",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("class_id", Integer, ForeignKey("classes.id"), nullable=False),
    Column("number", Integer, nullable=False),  # 1, 2, ... within the class
    Column("prompt", Text, nullable=False),
    Column("model_id", String(200), nullable=False),
    Column("opened_at", Float, nullable=False),
    Column("revealed_at", Float),  # set when the teacher reveals: the round is closed from then on
    Column("top_tokens", Text),  # JSON at reveal: the model's top 10 as [[token_id, label, probability], ...]
    UniqueConstraint("class_id", "number"),
)

answers = Table(
    "answers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("round_id", Integer, ForeignKey("rounds.id"), nullable=False),
    Column("student_id", Integer, ForeignKey("students.id"), nullable=False),
    Column("guess", String(100), nullable=False),
    Column("token_id", Integer, nullable=False),  # the guess's first token, as the model is asked about it
    Column("submitted_at", Float, nullable=False),
    Column("probability", Float),  # at reveal: the model's probability of token_id
    Column("rank", Integer),  # at reveal: 1 for the model's first choice
    UniqueConstraint("round_id", "student_id"),
)

lesson_answers = Table(
    "lesson_answers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("student_id", Integer, ForeignKey("students.id"), nullable=False),
    Column("lesson", String(100), nullable=False),  # the lesson file's name without .md
    Column("step", Integer, nullable=False),  # 0, 1, ... within the lesson
    Column("question", Text, nullable=False),  # the question's text when it was answered
    Column("answer", String(200), nullable=False),  # as the student saw it: a token, an option or a number
    Column("correct", Boolean, nullable=False),
    Column("why", Text, nullable=False),  # the sentence, with its number, that decided it
    Column("model_id", String(200), nullable=False),  # the model it was graded on
    Column("tries", Integer, nullable=False),
    Column("answered_at", Float, nullable=False),
    UniqueConstraint("student_id", "lesson", "step"),
)

schema_version = Table("schema_version", metadata, Column("version", Integer, nullable=False))

# Numbered steps after the tables above were first created (version 1). A later change to the
# tables adds its step here, e.g. "ALTER TABLE rounds ADD COLUMN ...", and never edits an old one.
# A new table needs no step: create_all adds it to an older database (lesson_answers came so).
MIGRATIONS: dict[int, list[str]] = {}
LATEST = 1 + len(MIGRATIONS)


def migrate(engine: Engine, attempts: int = 3) -> int:
    """Create the tables if needed and apply the steps this database lacks; returns its version.

    Two processes starting on a new SQLite file can race to create a table; the loser finds it
    there on its next attempt."""
    for attempt in range(attempts):
        try:
            return _migrate_once(engine)
        except DBAPIError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _migrate_once(engine: Engine) -> int:
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":  # one migrating process at a time, across processes
            connection.execute(text("SELECT pg_advisory_xact_lock(727401)"))
        metadata.create_all(connection)
        version = connection.execute(select(schema_version.c.version)).scalar()
        if version is None:
            connection.execute(schema_version.insert().values(version=LATEST))
            return LATEST
        for step in range(version + 1, LATEST + 1):
            for statement in MIGRATIONS[step]:
                connection.execute(text(statement))
        if version < LATEST:
            connection.execute(schema_version.update().values(version=LATEST))
        return max(version, LATEST)


def tune_sqlite(engine: Engine) -> None:
    """Several app processes share one SQLite file: write-ahead logging lets them read while one
    writes, and a writer waits up to 10 s for another's lock instead of failing at once."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
