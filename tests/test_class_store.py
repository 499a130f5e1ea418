"""The class's database (ui/classroom): every rule of joining, following and rounds, on SQLite and PostgreSQL."""

import pytest
import sqlalchemy

from ui.classroom.connection import store_for
from ui.classroom.schema import LATEST, migrate, schema_version
from ui.classroom.store import ClassError, ClassStore, Pulse


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(class_database) -> ClassStore:
    found = store_for(sqlalchemy.create_engine(class_database))
    found.clock = Clock()
    return found


def test_migrating_twice_keeps_one_version_row(class_database):
    engine = sqlalchemy.create_engine(class_database)
    assert migrate(engine) == LATEST
    assert migrate(engine) == LATEST  # a second process starting on the same database
    with engine.connect() as db:
        assert db.execute(sqlalchemy.select(sqlalchemy.func.count()).select_from(schema_version)).scalar() == 1


def test_joining_rejoining_and_the_mistakes_a_student_can_make(store):
    class_id, code = store.start_class()
    assert len(code) == 5 and store.running_class() == (class_id, code)
    ana = store.join(code.lower(), "  Ana   B ")  # codes are read in any case, names tidied
    assert ana.name == "Ana B" and ana.class_id == class_id
    assert store.rejoin(ana.seat) == ana  # a reloaded browser comes back as the same student
    for code_typed, name, message in [
        ("ZZZZZ", "Bo", "no class with the code ZZZZZ"),
        (code, "   ", "Type the name"),
        (code, "x" * 41, "41 characters"),
        (code, "Ana B", "already called Ana B"),
    ]:
        with pytest.raises(ClassError, match=message):
            store.join(code_typed, name)
    store.end_class(class_id)
    assert store.rejoin(ana.seat) is None and store.running_class() is None
    with pytest.raises(ClassError, match="has ended"):
        store.join(code, "Cy")


def test_the_roster_says_who_is_connected_and_on_which_page(store):
    class_id, code = store.start_class()
    ana, bo = store.join(code, "Ana"), store.join(code, "Bo")
    store.seen(ana.student_id, "attention")
    store.clock.now += 60
    store.seen(bo.student_id, "generate")
    roster = {member.name: member for member in store.roster(class_id)}
    assert roster["Bo"].connected and roster["Bo"].page == "generate"
    assert not roster["Ana"].connected and roster["Ana"].page == "attention"


def test_show_everyone_numbers_each_view(store):
    class_id, _ = store.start_class()
    assert store.shown_view(class_id) == (0, None)
    view = {"page": "attention", "prompt": "Every effort moves you", "model": "gpt2", "params": {"layer": "0"}}
    assert store.show_everyone(class_id, view) == 1
    assert store.show_everyone(class_id, view | {"page": "generate"}) == 2
    assert store.shown_view(class_id) == (2, view | {"page": "generate"})


def test_a_round_keeps_the_last_guess_refuses_late_ones_and_scores_at_reveal(store):
    class_id, code = store.start_class()
    ana, bo = store.join(code, "Ana"), store.join(code, "Bo")
    first = store.open_round(class_id, "The Eiffel Tower is in", "gpt2")
    assert first.number == 1 and first.is_open
    with pytest.raises(ClassError, match="Round 1 is still open"):
        store.open_round(class_id, "Another", "gpt2")
    store.submit(first.id, ana.student_id, "London", 3576)
    store.clock.now += 5
    store.submit(first.id, ana.student_id, "Paris", 6342)  # the last submission counts
    store.submit(first.id, bo.student_id, "Rome", 10598)
    for guess, message in [("   ", "Type a guess"), ("y" * 41, "41 characters")]:
        with pytest.raises(ClassError, match=message):
            store.submit(first.id, bo.student_id, guess, 0)

    model = {6342: (0.30, 1), 10598: (0.05, 4)}  # token -> (probability, rank), as the page computes them
    store.reveal(first.id, [(6342, "␣Paris", 0.30), (4881, "␣France", 0.2)], model.__getitem__)
    with pytest.raises(ClassError, match="has closed"):
        store.submit(first.id, bo.student_id, "Paris", 6342)
    given = {answer.name: answer for answer in store.answers_of(first.id)}
    assert (given["Ana"].guess, given["Ana"].probability, given["Ana"].rank) == ("Paris", 0.30, 1)
    assert (given["Bo"].guess, given["Bo"].rank) == ("Rome", 4)

    second = store.open_round(class_id, "Every effort moves", "gpt2")
    store.submit(second.id, bo.student_id, "you", 345)
    store.reveal(second.id, [(345, "␣you", 0.5)], lambda token: (0.5, 1))
    score = store.score(class_id, ana.student_id)
    assert score.rounds == 2 and score.yours == pytest.approx(0.30)
    assert score.class_mean == pytest.approx((0.30 + 0.05 + 0.5) / 2)
    assert score.top_choice == pytest.approx(0.30 + 0.5)

    rows = store.export_rows(class_id)
    assert [(row["round"], row["student"], row["guess"]) for row in rows] == [
        (1, "Ana", "Paris"), (1, "Bo", "Rome"), (2, "Bo", "you")
    ]  # fmt: skip
    assert rows[0]["model_first_choice"] == "␣Paris" and rows[0]["probability"] == 0.30


def test_two_stores_on_one_database_see_one_class(class_database):
    """Two app processes behind nginx each have their own engine on the same database."""
    first = ClassStore(sqlalchemy.create_engine(class_database))
    migrate(first.engine)
    second = ClassStore(sqlalchemy.create_engine(class_database))
    class_id, code = first.start_class()
    seat = second.join(code, "Ana")
    assert first.rejoin(seat.seat) == seat
    second.show_everyone(class_id, {"page": "tokens"})
    assert first.shown_view(class_id) == (1, {"page": "tokens"})


def test_the_pulse_a_student_polls_for_is_one_query_of_the_class_view_and_round(store):
    class_id, _ = store.start_class()
    assert store.pulse(class_id) == Pulse(running=True, view_number=0, round_id=None, round_open=False)
    store.show_everyone(class_id, {"page": "tokens"})
    opened = store.open_round(class_id, "Every effort moves", "gpt2")
    assert store.pulse(class_id) == Pulse(True, 1, opened.id, True)
    store.reveal(opened.id, [(345, "␣you", 0.5)], lambda token: (0.5, 1))
    assert store.pulse(class_id) == Pulse(True, 1, opened.id, False)
    store.end_class(class_id)
    assert not store.pulse(class_id).running


def test_lesson_answers_keep_the_latest_count_tries_and_stay_in_their_class(store):
    first, code = store.start_class()
    ana, bo = store.join(code, "Ana"), store.join(code, "Bo")
    record = store.lessons.record
    record(ana.student_id, "02-attention", 0, "Which token?", "␣moves (position 2)", False, "30.3% to ␣moves", "m")
    record(ana.student_id, "02-attention", 0, "Which token?", "Every (position 0)", True, "54.1% to Every", "m")
    record(bo.student_id, "02-attention", 1, "What weight?", "0", True, "exactly 0", "m")
    kept = store.lessons.of_student(ana.student_id, "02-attention")
    assert list(kept) == [0] and kept[0].correct and kept[0].tries == 2 and kept[0].answer == "Every (position 0)"
    assert kept[0].question == "Which token?"
    assert store.lessons.of_student(ana.student_id, "01-tokens") == {}

    _, other_code = store.start_class()
    cy = store.join(other_code, "Cy")
    record(cy.student_id, "02-attention", 0, "Which token?", "x" * 500, False, "why", "m")  # a long answer is cut
    assert [(a.student, a.step) for a in store.lessons.of_class(first)] == [("Ana", 0), ("Bo", 1)]
    assert len(store.lessons.of_student(cy.student_id, "02-attention")[0].answer) == 200
