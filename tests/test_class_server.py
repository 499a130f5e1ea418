"""The class on real servers over websockets: crafted messages, a restart mid-round, two processes behind nginx.

A teacher and students are bench/class_client.py's clients, which send what a browser sends.
The class database is a SQLite file each test checks directly through a ClassStore.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import sqlalchemy
from streamlit.proto.WidgetStates_pb2 import WidgetState

from bench.appserver import running_behind_nginx, running_server
from bench.bench_class import SessionError
from bench.class_client import ClassClient, join, unlock_and_start
from ui.classroom.membership import POLL_S
from ui.classroom.schema import classes, students
from ui.classroom.store import ClassStore

PASSCODE = "correct horse battery"
TIMEOUT_S = 120


@pytest.fixture
def class_env(class_database, tmp_path) -> dict[str, str]:
    """The servers' environment: a SQLite file, or a PostgreSQL URL in a secrets.toml of the test's own
    (Streamlit's secrets.files option, set through its environment variable)."""
    env = {"GPT_EXPLORER_TEACHER_PASSCODE": PASSCODE, "CLASS_DATABASE_URL": class_database}
    if class_database.startswith("sqlite"):
        env["GPT_EXPLORER_CLASS_DB"] = class_database.removeprefix("sqlite:///")
    else:
        secrets = tmp_path / "secrets.toml"
        secrets.write_text(f'[connections.classroom]\nurl = "{class_database}"\n')
        env["STREAMLIT_SECRETS_FILES"] = str(secrets)
    return env


def store_of(env: dict[str, str]) -> ClassStore:
    """The class database the servers used, read here directly."""
    return ClassStore(sqlalchemy.create_engine(env["CLASS_DATABASE_URL"]))


def client(url: str, query: str = "model=tiny-seed123", headers: dict | None = None) -> ClassClient:
    return ClassClient(url, query, TIMEOUT_S, headers=headers)


def test_crafted_messages_cannot_reach_the_teachers_actions(class_env):
    async def lesson(url: str) -> bytes:
        async with client(url) as teacher, client(url) as student:
            code = await unlock_and_start(teacher, PASSCODE)
            await teacher.submit("teacher", {"teacher_round_prompt": "Every effort moves you"}, "teacher_open_round")
            await teacher.run("attention")  # a page with the sidebar's Show everyone button drawn
            await teacher.run("teacher")  # the console with the round open: its Reveal button drawn
            await join(student, code, "Mallory")
            # The student sends the teacher's own widget ids from the console, as if pressing its buttons.
            forged = [
                WidgetState(id=teacher.widget(key), trigger_value=True)
                for key in ("teacher_reveal", "teacher_end", "teacher_start", "class_show_everyone")
            ]
            answer = await student.run("teacher", forged)
            # And a value for the plain session key that marks the teacher. Streamlit does not take it; it
            # may even fail that student's own page, which only the sender sees.
            for widget_id in ("_teacher_unlocked", f"$$ID-{'0' * 32}-_teacher_unlocked"):
                with contextlib.suppress(SessionError):
                    answer += await student.run("teacher", [WidgetState(id=widget_id, bool_value=True)])
            return b"".join(answer)

    with running_server(class_env) as (url, _):
        seen = asyncio.run(lesson(url))
    store = store_of(class_env)
    with store.engine.connect() as db:
        assert db.execute(sqlalchemy.select(sqlalchemy.func.count()).select_from(classes)).scalar() == 1
    class_id, _ = store.running_class()  # not ended
    assert store.latest_round(class_id).is_open  # not revealed
    assert store.shown_view(class_id)[0] == 1  # only the round's own "Show everyone"
    assert b"Teacher's passcode" in seen and b"Reveal the answers" not in seen


def test_answers_survive_a_restart_mid_round_and_a_reloaded_student_rejoins(class_env, tmp_path):
    async def before_restart(url: str) -> None:
        async with client(url) as teacher, client(url) as student:
            code = await unlock_and_start(teacher, PASSCODE)
            await join(student, code, "Ana")
            await teacher.submit("teacher", {"teacher_round_prompt": "Every effort moves you"}, "teacher_open_round")
            await student.run("classroom")
            await student.submit("classroom", {"class_guess": "forward"}, "class_guess_button")

    with running_server(class_env, tmp_path / "first.log") as (url, _):
        asyncio.run(before_restart(url))

    store = store_of(class_env)
    with store.engine.connect() as db:
        seat = db.execute(sqlalchemy.select(students.c.seat).where(students.c.name == "Ana")).scalar_one()

    async def after_restart(url: str) -> tuple[bytes, bytes]:
        async with client(url, f"model=tiny-seed123&seat={seat}") as student, client(url) as teacher:
            back = b"".join(await student.run("classroom"))  # the reloaded browser: its address has the seat
            await teacher.run("teacher")
            console = await teacher.submit("teacher", {"teacher_passcode_box": PASSCODE}, "teacher_unlock_button")
            return back, b"".join(console)

    with running_server(class_env, tmp_path / "second.log") as (url, _):
        back, console = asyncio.run(after_restart(url))
    assert b"as Ana" in back and "Your guess now: “forward”".encode() in back
    assert b"Round 1 is open" in console and b"1 of 1 students have guessed" in console


async def polled_until(student: ClassClient, marker: bytes, limit_s: float = 10.0) -> bytes:
    """Poll as a browser does (every POLL_S) until a poll carries ``marker``; what the polls sent.

    One poll may come too soon: a process's sessions share the class's pulse for PULSE_TTL_S, so a
    poll right after the student's own last run can still read the pulse from before the click."""
    received = b""
    for _ in range(int(limit_s / POLL_S)):
        received += b"".join(await student.poll())
        if marker in received:
            break
        await asyncio.sleep(POLL_S)
    return received


def test_two_processes_behind_nginx_share_one_class(class_env, tmp_path):
    async def lesson(url: str, upstreams: set[str]) -> tuple[set[str], bytes]:
        routes = {}
        for index in range(40):  # a route for each process: the teacher on one, the student on the other
            async with client(url, headers={"Cookie": f"gptx_route=r{index}", "Origin": url}) as probe:
                routes.setdefault(probe.websocket.response.headers["X-Upstream"], f"r{index}")
            if len(routes) == len(upstreams):
                break
        teacher_route, student_route = routes.values()
        as_teacher = {"Cookie": f"gptx_route={teacher_route}", "Origin": url}
        as_student = {"Cookie": f"gptx_route={student_route}", "Origin": url}
        async with client(url, headers=as_teacher) as teacher, client(url, headers=as_student) as student:
            code = await unlock_and_start(teacher, PASSCODE)
            await join(student, code, "Bo")
            await teacher.run("attention")
            await teacher.click("attention", "class_show_everyone")
            followed = await polled_until(student, b"attention_layer")  # on the other process
            served_by = {
                teacher.websocket.response.headers["X-Upstream"],
                student.websocket.response.headers["X-Upstream"],
            }
        return served_by, followed

    with running_behind_nginx(tmp_path, class_env) as (url, upstreams):
        served_by, followed = asyncio.run(lesson(url, upstreams))
    assert served_by == upstreams  # teacher and student on different processes
    assert b"Attention" in followed and b"attention_layer" in followed  # the student was sent to the teacher's page
