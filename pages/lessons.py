"""Lessons: guided tours of the book's GPT, step by step, with questions checked against the live model."""

from __future__ import annotations

from ui.frame import ensure_app_frame

ensure_app_frame()  # first, before the heavy imports: see ui/frame.py

import streamlit as st

import ui
from gptcore.tokenizer import get_tokenizer, token_label
from ui.classroom.membership import open_view
from ui.frame import page_title
from ui.lessons.catalog import load_lessons
from ui.lessons.format import Lesson, Measure, Step
from ui.lessons.measures import Computed, Reading, compute, grade
from ui.lessons.progress import Result, keep, results_of

LESSON_KEY = "lesson_chosen"  # plain session keys: the lesson, and each lesson's step
STEP_KEY = "lesson_steps"
OPEN_KEY = "_lesson_open_view"  # a step's view the student asked to open
CHECK_KEY = "_lesson_check"  # the answer the student asked to check, graded where its question is drawn
STEP_PARAM = "lesson_step"  # the step in the link (from 1), so "Show everyone" brings the class to it
VIEW_PARAMS = ("layer", "head", "step")


def step_prompt(step: Step) -> str:
    return step.view.get("prompt") or ui.current_prompt()


def ask_for_step_view(lesson: Lesson, step: Step) -> None:
    """The button's callback: a callback cannot switch pages, so the script does (below) on this rerun."""
    params = {name: step.view[name] for name in VIEW_PARAMS if name in step.view}
    # Opening a view starts the linked choices afresh: the lesson and its step come along.
    params.update({"lesson": lesson.slug, STEP_PARAM: str(current_step(lesson) + 1)})
    view = {
        "page": step.view.get("page", ""),
        "prompt": step_prompt(step),
        "model": step.view.get("model"),
        "params": params,
    }
    st.session_state[OPEN_KEY] = view


def current_step(lesson: Lesson) -> int:
    """The step this session is at in ``lesson``; a session opened from a link starts at the link's step."""
    ui.starts_from_link(STEP_KEY)
    steps = st.session_state.setdefault(STEP_KEY, {})
    linked = ui.opened_with(STEP_PARAM)
    if lesson.slug not in steps and ui.opened_with("lesson") == lesson.slug and linked and linked.isdecimal():
        steps[lesson.slug] = int(linked) - 1
    return min(max(steps.get(lesson.slug, 0), 0), len(lesson.steps) - 1)


def move(lesson: Lesson, by: int) -> None:
    st.session_state.setdefault(STEP_KEY, {})[lesson.slug] = current_step(lesson) + by


def reading_for(step: Step) -> Reading:
    model, model_id = ui.current_model(), ui.current_model_id()
    context = model.cfg.context_length

    def trace_of(text: str):
        return ui.get_trace(model_id, tuple(get_tokenizer().encode(text)[-context:]))

    return Reading(model.cfg, model_id, step_prompt(step), trace_of, model, ui.computing)


def prompt_tokens(step: Step) -> list[int]:
    """The step's prompt as the model reads it: its last context_length tokens, as the measures see it."""
    return get_tokenizer().encode(step_prompt(step))[-ui.current_model().cfg.context_length :]


def answer_widget(step: Step, key: str):
    """The question's input: a token of the prompt, one of the options, or a number."""
    question = step.question
    if question.kind == "token":
        ids = prompt_tokens(step)
        names = ui.option_names(list(range(len(ids))), dict(enumerate(ui.labels(ids))).__getitem__)
        return st.pills("Click a token", list(range(len(ids))), format_func=names, key=key)
    if question.kind == "choice":
        return st.radio(
            "Your answer",
            list(range(len(question.options))),
            format_func=question.options.__getitem__,
            key=key,
            index=None,
        )
    return st.text_input("Your answer (a number)", key=key)


def answer_text(step: Step, given) -> str:
    """The answer as the student saw it, for their results and the teacher's console."""
    if step.question.kind == "token":
        ids = prompt_tokens(step)
        return f"{token_label(ids[int(given)])} (position {int(given)})" if 0 <= int(given) < len(ids) else str(given)
    if step.question.kind == "choice":
        return step.question.options[int(given)]
    return str(given).strip()


@ui.cached
def computed_answer(model_id: str, prompt: str, call: str, _measure: Measure, _step: Step) -> Computed:
    """A question's right answer on one model, computed once per process while the cache keeps it: a
    class pressing Check together waits for one computation (a backward pass, a scan of every head)
    instead of thirty. ``call`` (the measure as the file writes it) is there for the cache's key."""
    return compute(_measure, reading_for(_step))


def ask_to_check(key: str) -> None:
    st.session_state[CHECK_KEY] = key


def check(lesson: Lesson, index: int, step: Step, given) -> Result:
    """Grade the answer on the student's own model; a graded one is kept. It runs where the question is
    drawn, so a wait for the model or for memory shows there. Returns what to tell the student."""
    if given is None or str(given).strip() == "":
        return Result(None, "Choose or type an answer first.")
    model_id, answer = ui.current_model_id(), step.question.answer
    try:
        with st.spinner("Checking your answer on the model you have selected…"):
            computed = computed_answer(model_id, step_prompt(step), answer.call, answer, step)
    except ValueError as error:
        where = f"{lesson.path.name}, line {answer.line}"
        return Result(None, f"This question cannot be answered on this model ({where}): {error}")
    verdict = grade(step.question, given, computed)
    result = Result(verdict.correct, verdict.why, answer_text(step, given), step.question.text)
    if result.correct is not None and not keep(lesson.slug, index, result, model_id):
        st.warning("Your answer is kept in this browser only: the class's database did not answer.", icon="⚠️")
    return result


# ---------------------------------------------------------------------------------------------


if OPEN_KEY in st.session_state:
    open_view(st.session_state.pop(OPEN_KEY))
st.title("Lessons")
ui.explain(
    "Guided tours of the book's GPT, from tokens to training. Each step opens a page with the view it talks "
    "about and says what to look for; a question is checked against the numbers of the model you have "
    "selected, so the untrained and the pretrained model each have their own right answers."
)
lessons, problems = load_lessons()
for problem in problems:
    st.warning(f"A lesson file was left out: {problem}", icon="📄")
if not lessons:
    st.info("There are no lessons on this server yet.")
    st.stop()

titles = {lesson.slug: lesson.title for lesson in lessons}
chosen = ui.remembered_choice(
    st.selectbox, "Lesson", list(titles), LESSON_KEY, link="lesson", format_func=titles.__getitem__
)
lesson = next(lesson for lesson in lessons if lesson.slug == chosen)
index = current_step(lesson)
ui.put_in_link(STEP_PARAM, index + 1)
step = lesson.steps[index]
progress_line = st.empty()  # filled at the end, once this run's check is counted

st.subheader(step.title)
st.markdown(step.text)
if "page" in step.view:
    st.button(
        f"Open {page_title(step.view['page'])} with this step's view",
        key="lesson_open",
        on_click=ask_for_step_view,
        args=(lesson, step),
    )

if step.question is not None:
    st.markdown(f"**{step.question.text}**")
    key = f"lesson_answer_{lesson.slug}_{index}"
    answer_widget(step, key)
    st.button("Check", key="lesson_check", type="primary", on_click=ask_to_check, args=(key,))
    checked = (
        check(lesson, index, step, st.session_state.get(key)) if st.session_state.pop(CHECK_KEY, None) == key else None
    )
results = results_of(lesson)
if step.question is not None:
    result = checked or results.get(index)
    if result is not None and result.correct is True:
        st.success(f"Right. {result.why}")
    elif result is not None and result.correct is False:
        st.error(f"Not quite: {result.answer} is not it. {result.why}")
    elif result is not None:
        st.info(result.why)

back, forward = st.columns(2)
back.button("← Previous step", key="lesson_back", on_click=move, args=(lesson, -1), disabled=index == 0)
forward.button(
    "Next step →", key="lesson_next", on_click=move, args=(lesson, 1), disabled=index == len(lesson.steps) - 1
)

right = sum(1 for result in results.values() if result.correct)
asked = sum(1 for each in lesson.steps if each.question is not None)
chapter = f"In the book: {lesson.chapter} · " if lesson.chapter else ""
progress_line.caption(
    f"{chapter}Step {index + 1} of {len(lesson.steps)}"
    + (f" · {right} of {asked} questions answered right" if asked else "")
)
