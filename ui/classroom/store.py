"""A class's state in its database: the class, who joined, what the teacher showed, the rounds and answers.

Nothing here imports Streamlit: ui/classroom/connection.py hands a ClassStore the engine of
``st.connection``, and tests and benchmarks hand it their own. Every method is one short
transaction, so app processes behind nginx, each with its own ClassStore on the same database,
see one class. Mistakes a student or teacher can make raise ClassError with a message to show.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, and_, func, insert, select, update
from sqlalchemy import true as sqlalchemy_true
from sqlalchemy.exc import IntegrityError

from .lesson_records import LessonRecords
from .schema import answers, classes, rounds, students

CODE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread on a projector
CODE_LENGTH = 5
MAX_NAME_CHARS = 40
MAX_GUESS_CHARS = 40
CONNECTED_WITHIN_S = 15.0  # a student whose page polled this recently counts as connected


class ClassError(ValueError):
    """Something a person did that the class cannot take, with the sentence to show them."""


@dataclass(frozen=True)
class Seat:
    """A student's place in a class; ``seat`` is the token that brings a reloaded browser back to it."""

    student_id: int
    class_id: int
    code: str
    name: str
    seat: str


@dataclass(frozen=True)
class Member:
    name: str
    page: str
    last_seen: float
    connected: bool


@dataclass(frozen=True)
class Round:
    id: int
    class_id: int
    number: int
    prompt: str
    model_id: str
    opened_at: float
    revealed_at: float | None
    top_tokens: list[tuple[int, str, float]] | None  # at reveal: the model's top 10 (token id, label, probability)

    @property
    def is_open(self) -> bool:
        return self.revealed_at is None


@dataclass(frozen=True)
class Answer:
    student_id: int
    name: str
    guess: str
    token_id: int
    submitted_at: float
    probability: float | None  # after reveal
    rank: int | None


@dataclass(frozen=True)
class Pulse:
    """What a student's page polls for, in one query: is the class on, what did the teacher last show,
    and which round is the latest."""

    running: bool
    view_number: int
    round_id: int | None
    round_open: bool


@dataclass(frozen=True)
class Score:
    """Over a class's revealed rounds: the model's probability of each guess, summed."""

    rounds: int
    yours: float  # this student's guesses
    class_mean: float  # the mean student's
    top_choice: float  # always guessing the model's first choice: the most any guesser can score


class ClassStore:
    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock
        self.lessons = LessonRecords(engine, clock)  # the students' lesson progress

    # --- classes -------------------------------------------------------------------------------

    def start_class(self) -> tuple[int, str]:
        """A new class and its join code."""
        for _ in range(20):
            code = "".join(secrets.choice(CODE_LETTERS) for _ in range(CODE_LENGTH))
            try:
                with self.engine.begin() as db:
                    row = db.execute(insert(classes).values(code=code, started_at=self.clock(), view_number=0))
                    return int(row.inserted_primary_key[0]), code
            except IntegrityError:  # the code is taken: draw another
                continue
        raise ClassError("could not find a free join code; try again")

    def end_class(self, class_id: int) -> None:
        with self.engine.begin() as db:
            db.execute(update(classes).where(classes.c.id == class_id).values(ended_at=self.clock()))

    def running_class(self) -> tuple[int, str] | None:
        """The most recently started class that has not ended: a teacher's console finds it again."""
        with self.engine.connect() as db:
            row = db.execute(
                select(classes.c.id, classes.c.code)
                .where(classes.c.ended_at.is_(None))
                .order_by(classes.c.id.desc())
                .limit(1)
            ).first()
        return (int(row.id), row.code) if row else None

    def class_code(self, class_id: int) -> str | None:
        """The class's join code while it runs; None once it has ended."""
        with self.engine.connect() as db:
            row = db.execute(select(classes.c.code, classes.c.ended_at).where(classes.c.id == class_id)).first()
        return row.code if row and row.ended_at is None else None

    # --- students ------------------------------------------------------------------------------

    def join(self, code: str, name: str) -> Seat:
        name = " ".join(name.split())
        code = code.strip().upper()
        if not name:
            raise ClassError("Type the name the class should see.")
        if len(name) > MAX_NAME_CHARS:
            raise ClassError(f"That name is {len(name)} characters; {MAX_NAME_CHARS} at most, please.")
        with self.engine.begin() as db:
            found = db.execute(select(classes.c.id, classes.c.ended_at).where(classes.c.code == code)).first()
            if found is None:
                raise ClassError(f"There is no class with the code {code or '(empty)'}: check it with your teacher.")
            if found.ended_at is not None:
                raise ClassError(f"The class {code} has ended.")
            seat = secrets.token_urlsafe(16)
            now = self.clock()
            try:
                with db.begin_nested():
                    row = db.execute(
                        insert(students).values(
                            class_id=found.id, name=name, seat=seat, joined_at=now, last_seen=now, page=""
                        )
                    )
            except IntegrityError:
                raise ClassError(
                    f"Someone in this class is already called {name}. Add an initial, or, if that is you in "
                    "another tab, carry on there."
                ) from None
        return Seat(int(row.inserted_primary_key[0]), int(found.id), code, name, seat)

    def rejoin(self, seat: str) -> Seat | None:
        """The student a seat token belongs to, while their class runs (a reloaded browser's way back)."""
        with self.engine.connect() as db:
            row = db.execute(
                select(students.c.id, students.c.class_id, students.c.name, classes.c.code)
                .join(classes, classes.c.id == students.c.class_id)
                .where(and_(students.c.seat == seat, classes.c.ended_at.is_(None)))
            ).first()
        return Seat(int(row.id), int(row.class_id), row.code, row.name, seat) if row else None

    def seen(self, student_id: int, page: str) -> None:
        with self.engine.begin() as db:
            db.execute(update(students).where(students.c.id == student_id).values(last_seen=self.clock(), page=page))

    def roster(self, class_id: int) -> list[Member]:
        now = self.clock()
        with self.engine.connect() as db:
            rows = db.execute(
                select(students.c.name, students.c.page, students.c.last_seen)
                .where(students.c.class_id == class_id)
                .order_by(students.c.name)
            ).all()
        return [Member(r.name, r.page, r.last_seen, now - r.last_seen <= CONNECTED_WITHIN_S) for r in rows]

    # --- what the teacher shows ----------------------------------------------------------------

    def show_everyone(self, class_id: int, view: dict) -> int:
        """Send the class to ``view`` (page, prompt, model, link parameters); returns its number."""
        with self.engine.begin() as db:
            db.execute(
                update(classes)
                .where(classes.c.id == class_id)
                .values(view=json.dumps(view), view_number=classes.c.view_number + 1)
            )
            return int(db.execute(select(classes.c.view_number).where(classes.c.id == class_id)).scalar_one())

    def shown_view(self, class_id: int) -> tuple[int, dict | None]:
        """(number, view) of the last "Show everyone"; (0, None) before the first."""
        with self.engine.connect() as db:
            row = db.execute(select(classes.c.view_number, classes.c.view).where(classes.c.id == class_id)).first()
        if row is None or row.view is None:
            return 0, None
        return int(row.view_number), json.loads(row.view)

    def pulse(self, class_id: int) -> Pulse:
        latest = (
            select(rounds.c.id, rounds.c.revealed_at)
            .where(rounds.c.class_id == class_id)
            .order_by(rounds.c.number.desc())
            .limit(1)
            .subquery()
        )
        with self.engine.connect() as db:
            row = db.execute(
                select(classes.c.ended_at, classes.c.view_number, latest.c.id, latest.c.revealed_at)
                .select_from(classes.outerjoin(latest, sqlalchemy_true()))
                .where(classes.c.id == class_id)
            ).first()
        if row is None:
            return Pulse(False, 0, None, False)
        return Pulse(row.ended_at is None, int(row.view_number), row.id, row.id is not None and row.revealed_at is None)

    # --- rounds --------------------------------------------------------------------------------

    def open_round(self, class_id: int, prompt: str, model_id: str) -> Round:
        if not prompt.strip():
            raise ClassError("A round needs a prompt for the class to continue.")
        with self.engine.begin() as db:
            last = db.execute(
                select(rounds.c.number, rounds.c.revealed_at)
                .where(rounds.c.class_id == class_id)
                .order_by(rounds.c.number.desc())
                .limit(1)
            ).first()
            if last is not None and last.revealed_at is None:
                raise ClassError(f"Round {last.number} is still open: reveal it first.")
            number = 1 if last is None else last.number + 1
            db.execute(
                insert(rounds).values(
                    class_id=class_id, number=number, prompt=prompt, model_id=model_id, opened_at=self.clock()
                )
            )
        latest = self.latest_round(class_id)
        assert latest is not None
        return latest

    def latest_round(self, class_id: int) -> Round | None:
        with self.engine.connect() as db:
            row = db.execute(
                select(rounds).where(rounds.c.class_id == class_id).order_by(rounds.c.number.desc()).limit(1)
            ).first()
        return _round(row) if row else None

    def rounds_of(self, class_id: int) -> list[Round]:
        with self.engine.connect() as db:
            rows = db.execute(select(rounds).where(rounds.c.class_id == class_id).order_by(rounds.c.number)).all()
        return [_round(row) for row in rows]

    def submit(self, round_id: int, student_id: int, guess: str, token_id: int) -> None:
        """Record a guess; a later one replaces it. Refused once the round is revealed."""
        check_guess(guess)
        now = self.clock()
        with self.engine.begin() as db:
            revealed = db.execute(select(rounds.c.revealed_at).where(rounds.c.id == round_id)).first()
            if revealed is None or revealed.revealed_at is not None:
                raise ClassError("This round has closed: your guess arrived after the reveal.")
            replaced = db.execute(
                update(answers)
                .where(and_(answers.c.round_id == round_id, answers.c.student_id == student_id))
                .values(guess=guess.strip(), token_id=token_id, submitted_at=now)
            )
            if replaced.rowcount == 0:
                db.execute(
                    insert(answers).values(
                        round_id=round_id, student_id=student_id, guess=guess.strip(), token_id=token_id,
                        submitted_at=now,
                    )
                )  # fmt: skip

    def reveal(
        self, round_id: int, top_tokens: list[tuple[int, str, float]], score: Callable[[int], tuple[float, int]]
    ) -> None:
        """Close the round, keep the model's top 10, and score every answer: ``score(token_id)`` gives
        the model's (probability, rank) of a token."""
        with self.engine.begin() as db:
            db.execute(
                update(rounds)
                .where(and_(rounds.c.id == round_id, rounds.c.revealed_at.is_(None)))
                .values(revealed_at=self.clock(), top_tokens=json.dumps(top_tokens))
            )
        with self.engine.begin() as db:  # after the close: an answer that raced it is scored too
            for answer_id, token_id in db.execute(
                select(answers.c.id, answers.c.token_id).where(answers.c.round_id == round_id)
            ).all():
                probability, rank = score(int(token_id))
                db.execute(update(answers).where(answers.c.id == answer_id).values(probability=probability, rank=rank))

    def answers_of(self, round_id: int) -> list[Answer]:
        with self.engine.connect() as db:
            rows = db.execute(
                select(answers, students.c.name)
                .join(students, students.c.id == answers.c.student_id)
                .where(answers.c.round_id == round_id)
                .order_by(students.c.name)
            ).all()
        return [Answer(r.student_id, r.name, r.guess, r.token_id, r.submitted_at, r.probability, r.rank) for r in rows]

    def score(self, class_id: int, student_id: int | None) -> Score:
        """The class's score over its revealed rounds, and ``student_id``'s (0 for a teacher)."""
        revealed = [r for r in self.rounds_of(class_id) if not r.is_open and r.top_tokens]
        with self.engine.connect() as db:
            totals = db.execute(
                select(answers.c.student_id, func.sum(answers.c.probability))
                .join(rounds, rounds.c.id == answers.c.round_id)
                .where(and_(rounds.c.class_id == class_id, rounds.c.revealed_at.is_not(None)))
                .group_by(answers.c.student_id)
            ).all()
        by_student = {int(sid): float(total or 0.0) for sid, total in totals}
        return Score(
            rounds=len(revealed),
            yours=by_student.get(student_id, 0.0) if student_id is not None else 0.0,
            class_mean=sum(by_student.values()) / len(by_student) if by_student else 0.0,
            top_choice=sum(r.top_tokens[0][2] for r in revealed),
        )

    def export_rows(self, class_id: int) -> list[dict]:
        """One row per answer (and one per round nobody answered), for the teacher's CSV."""
        rows = []
        for found in self.rounds_of(class_id):
            top = found.top_tokens[0] if found.top_tokens else (None, "", None)
            base = {
                "round": found.number,
                "prompt": found.prompt,
                "model": found.model_id,
                "model_first_choice": top[1],
                "model_first_choice_probability": top[2],
            }
            given = self.answers_of(found.id)
            for answer in given:
                rows.append(
                    base
                    | {
                        "student": answer.name,
                        "guess": answer.guess,
                        "guess_token_id": answer.token_id,
                        "probability": answer.probability,
                        "rank": answer.rank,
                        "submitted_at": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(answer.submitted_at)),
                    }
                )
            if not given:
                rows.append(base)
        return rows


def check_guess(guess: str) -> None:
    if not guess.strip():
        raise ClassError("Type a guess first: a word, or part of one.")
    if len(guess.strip()) > MAX_GUESS_CHARS:
        raise ClassError(
            f"That guess is {len(guess.strip())} characters. The model predicts one token at a time, so guess "
            "just the next word."
        )


def _round(row) -> Round:
    top = [tuple(item) for item in json.loads(row.top_tokens)] if row.top_tokens else None
    return Round(row.id, row.class_id, row.number, row.prompt, row.model_id, row.opened_at, row.revealed_at, top)
