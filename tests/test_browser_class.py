"""A class in Chromium: one teacher's tab and two students' tabs, from joining to a round's reveal and a reload.

Debian's chromium through Playwright (never `playwright install`), against a server of its own
with a teacher's passcode and a scratch class database. Screenshots go to test-output/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from test_browser import OUTPUT_DIR, assert_no_errors_shown, link, save_screenshot

from bench.appserver import running_app, wait_until_rendered

PASSCODE = "correct horse battery"
TINY = "tiny-seed123"
FOLLOW_WITHIN_MS = 10_000  # the students' pages poll every second; generous for a loaded CI machine


@pytest.fixture(scope="module")
def class_url(tmp_path_factory) -> Iterator[str]:
    env = {
        "GPT_EXPLORER_CLASS_DB": str(tmp_path_factory.mktemp("class") / "class.sqlite"),
        "GPT_EXPLORER_TEACHER_PASSCODE": PASSCODE,
    }
    OUTPUT_DIR.mkdir(exist_ok=True)
    with running_app(env, log_path=OUTPUT_DIR / "streamlit-class.log") as url:
        yield url


def sidebar(page: Page):
    return page.get_by_test_id("stSidebar")


def go_to(page: Page, title: str) -> None:
    """Follow the sidebar's link to a page: the session (and the teacher's unlock) stays."""
    sidebar(page).get_by_role("link", name=title).click()
    wait_until_rendered(page, scroll=False)


def join(page: Page, url: str, code: str, name: str) -> None:
    page.goto(link(url, "", model=TINY))
    wait_until_rendered(page, scroll=False)
    sidebar(page).get_by_text("Join the class").click()
    sidebar(page).get_by_label("Class code").fill(code)
    sidebar(page).get_by_label("Your name, as the class will see it").fill(name)
    sidebar(page).get_by_role("button", name="Join").click()
    expect(sidebar(page)).to_contain_text(f"as {name}")


def start_a_class(teacher: Page, url: str) -> str:
    """Unlock the console and start a class (ending one an earlier test left running); its join code."""
    teacher.goto(link(url, "teacher", model=TINY))
    wait_until_rendered(teacher, scroll=False)
    teacher.get_by_label("Teacher's passcode").fill(PASSCODE)
    teacher.get_by_role("button", name="Unlock").click()
    end = teacher.get_by_role("button", name="End the class")
    start = teacher.get_by_role("button", name="Start a class")
    expect(end.or_(start)).to_be_visible()
    if end.is_visible():
        end.click()
    start.click()
    expect(teacher.get_by_text("Students join from the sidebar")).to_be_visible()
    return re.search(r"with the code\s+([A-Z0-9]{5})", teacher.get_by_test_id("stMain").inner_text()).group(1)


def test_a_teacher_and_two_students_from_joining_to_the_reveal(class_url, open_tab):
    teacher = open_tab()
    code = start_a_class(teacher, class_url)

    ana, bo = open_tab(), open_tab()
    join(ana, class_url, code, "Ana")
    join(bo, class_url, code, "Bo")

    go_to(teacher, "Attention")
    sidebar(teacher).get_by_role("button", name="Show everyone this page").click()
    for student in (ana, bo):
        student.wait_for_url(re.compile(r"/attention"), timeout=FOLLOW_WITHIN_MS)
        expect(student.get_by_role("heading", name="Attention", exact=True)).to_be_visible()

    go_to(teacher, "Teacher's console")
    expect(teacher.get_by_text("2 of 2 connected now.")).to_be_visible()
    teacher.get_by_label("The prompt the class continues").fill("Every effort moves you")
    teacher.get_by_role("button", name="Open round 1").click()
    for student, guess in ((ana, "forward"), (bo, "home")):
        expect(student.get_by_text("Round 1: what comes next?")).to_be_visible(timeout=FOLLOW_WITHIN_MS)
        student.get_by_role("textbox", name="What comes next? One word, or the start of one").fill(guess)
        student.get_by_role("button", name="Send my guess").click()
        expect(student.get_by_text("Sent:")).to_be_visible()
    expect(teacher.get_by_text("2 of 2 students have guessed")).to_be_visible(timeout=FOLLOW_WITHIN_MS)

    teacher.get_by_role("button", name="Reveal the answers").click()
    for student in (ana, bo):
        expect(student.get_by_text("choice number")).to_be_visible(timeout=FOLLOW_WITHIN_MS)
        assert_no_errors_shown(student)
    wait_until_rendered(ana)
    save_screenshot(ana, "class-reveal-student")
    save_screenshot(teacher, "class-console")

    ana.reload()  # a reloaded browser comes back as the same student
    wait_until_rendered(ana, scroll=False)
    expect(sidebar(ana)).to_contain_text("as Ana")
    expect(ana.get_by_text("choice number")).to_be_visible()


def lesson_answers(lesson_file: str) -> list[str]:
    """What a careful student types or clicks for each question, on the tiny model the server builds."""
    from gptcore import PRESETS, build_model, get_tokenizer, trace
    from ui.frame import URL_PATHS
    from ui.lessons.catalog import DEFAULT_FOLDER
    from ui.lessons.format import read_lesson
    from ui.lessons.measures import Reading, compute

    model = build_model(PRESETS["tiny"], seed=123)
    lesson = read_lesson(DEFAULT_FOLDER / lesson_file, set(URL_PATHS))
    answers = []
    for step in lesson.steps:
        reading = Reading(
            model.cfg, TINY, step.view["prompt"], lambda text: trace(model, get_tokenizer().encode(text)), model
        )
        answers.append(f"{compute(step.question.answer, reading).value:.10g}")
    return answers


def test_a_student_completes_a_lesson_and_the_teacher_sees_it(class_url, open_tab):
    teacher = open_tab()
    code = start_a_class(teacher, class_url)

    ana = open_tab()
    join(ana, class_url, code, "Ana")
    go_to(ana, "Lessons")
    main = ana.get_by_test_id("stMain")
    main.get_by_test_id("stSelectbox").click()
    ana.get_by_role("option", name="Attention and the causal mask").click()
    strongest, future, itself, read = lesson_answers("02-attention.md")
    # Step 1: click the token the last token attends to most.
    main.get_by_test_id("stButtonGroup").get_by_text(re.compile(rf"^{strongest}:")).click()
    main.get_by_role("button", name="Check").click()
    expect(main.get_by_text("Right. In layer 0, head 3")).to_be_visible()
    for number, answer in enumerate((future, itself, read), start=2):  # steps 2 to 4: type a percentage
        main.get_by_role("button", name="Next step →").click()
        expect(main.get_by_text(f"Step {number} of 4")).to_be_visible()
        main.get_by_role("textbox", name="Your answer (a number)").fill(answer)
        main.get_by_role("textbox", name="Your answer (a number)").press("Enter")
        main.get_by_role("button", name="Check").click()
        expect(main.get_by_text("Right.", exact=False)).to_be_visible()
    expect(main.get_by_text("4 of 4 questions answered right")).to_be_visible()
    assert_no_errors_shown(ana)
    save_screenshot(ana, "lesson-student")

    go_to(teacher, "Teacher's console")  # the console's lesson section redraws itself
    expect(teacher.get_by_text("(1 answered)").first).to_be_visible(timeout=FOLLOW_WITHIN_MS)
    assert_no_errors_shown(teacher)
    save_screenshot(teacher, "lesson-console")

    ana.reload()  # progress lives in the class's database: a reload keeps it
    wait_until_rendered(ana, scroll=False)
    expect(ana.get_by_test_id("stMain").get_by_text("4 of 4 questions answered right")).to_be_visible()
