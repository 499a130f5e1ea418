"""A teacher and students over websockets, as their browsers would drive the app (bench_class's client).

Used by tests/test_class_server.py (crafted messages, two processes, a restart) and by
bench/bench_classroom.py (30 students following and answering).

A browser reruns a fragment with ``run_every`` itself: the server says so in an ``auto_rerun``
message, and the browser then asks for that fragment alone every interval. ``ClassClient.poll``
sends that same request once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState, WidgetStates

from bench.bench_class import SessionError, StreamlitClient

JOIN_CODE = re.compile(rb"letter-spacing:0.3rem'>([A-Z0-9]{5})<")


class ClassClient(StreamlitClient):
    """StreamlitClient that also follows page switches and can rerun the class's polling fragment."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.page_script_hash = ""
        self.auto_reruns: dict[str, float] = {}  # fragment id -> interval, as the server asked
        self.watched: dict[bytes, float] = {}  # marker -> when a payload first carried it (perf_counter)

    def watch(self, marker: bytes) -> None:
        """Note when ``marker`` first arrives: the moment a browser would show it."""
        self.watched[marker] = 0.0

    def arrived(self, payload: bytes) -> None:
        for marker, seen in self.watched.items():
            if not seen and marker in payload:
                self.watched[marker] = time.perf_counter()

    def _note(self, payloads: Sequence[bytes]) -> None:
        for payload in payloads:
            msg = ForwardMsg.FromString(payload)
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                self.page_script_hash = msg.new_session.page_script_hash
            elif kind == "navigation":  # every full run starts with it, then names its fragments again
                self.page_script_hash = msg.navigation.page_script_hash or self.page_script_hash
                self.auto_reruns.clear()
            elif kind == "auto_rerun":
                self.auto_reruns[msg.auto_rerun.fragment_id] = msg.auto_rerun.interval
            elif kind == "stop_auto_rerun":
                for fragment_id in msg.stop_auto_rerun.fragment_ids:
                    self.auto_reruns.pop(fragment_id, None)

    async def run(self, page_name: str, widgets: Sequence[WidgetState] = ()) -> list[bytes]:
        received = await super().run(page_name, widgets)
        self._note(received)
        return received

    def widget(self, key: str) -> str:
        matches = [widget_id for widget_id in self.widget_ids if widget_id.endswith(f"-{key}")]
        if not matches:
            raise SessionError(f"no widget with key {key!r} has been drawn")
        return matches[-1]

    async def submit(self, page_name: str, texts: dict[str, str], button: str) -> list[bytes]:
        """Fill text boxes (by key) and press ``button``, as a form sends its values with its submit."""
        widgets = [WidgetState(id=self.widget(key), string_value=value) for key, value in texts.items()]
        widgets.append(WidgetState(id=self.widget(button), trigger_value=True))
        return await self.run(page_name, widgets)

    async def poll(self) -> list[bytes]:
        """Rerun the page's polling fragments once, as the browser does every ``run_every`` seconds."""
        received: list[bytes] = []
        for fragment_id in list(self.auto_reruns):
            state = ClientState(
                query_string=self.query_string,
                page_script_hash=self.page_script_hash,
                fragment_id=fragment_id,
                is_auto_rerun=True,
                widget_states=WidgetStates(),
            )
            await self.websocket.send(BackMsg(rerun_script=state).SerializeToString())
            done = (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY)
            received += await self.read_run("the class's polling fragment", done)
        self._note(received)
        self.payloads += received
        return received


async def unlock_and_start(teacher: ClassClient, passcode: str) -> str:
    """Unlock the console with ``passcode``, start a class, and return its join code."""
    await teacher.run("teacher")
    await teacher.submit("teacher", {"teacher_passcode_box": passcode}, "teacher_unlock_button")
    started = b"".join(await teacher.click("teacher", "teacher_start"))
    found = JOIN_CODE.search(started)
    if found is None:
        raise SessionError("the console did not show a join code")
    return found.group(1).decode()


async def join(student: ClassClient, code: str, name: str) -> None:
    await student.run("")
    await student.submit("", {"join_code_sidebar": code, "join_name_sidebar": name}, "join_button_sidebar")
