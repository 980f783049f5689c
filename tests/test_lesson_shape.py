"""The shape of every lesson: questions that make students think, and screens without clutter.

Every notebook from 01 asks at least one "predict before you run" question (a markdown cell that
says so, a solution cell where the student commits to a letter, then a check cell whose
`check_prediction` reveals what the run measured) and sets one open exercise, whose rubric is in
`docs/teaching.md`. No code cell is longer than `MAX_CODE_LINES`, except cells tagged
`code-is-the-lesson`, and no lesson takes longer to read than
`LONGEST_READING_MINUTES` (06, once the longest, under 45).
"""

import ast
import re
from pathlib import Path

import nbformat
import pytest

from ffjord_edu.course.reading import reading_time

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
LESSONS = [p for p in NOTEBOOKS if not p.name.startswith("00_")]
TEACHING = ROOT / "docs" / "teaching.md"

PREDICT_MARK = "**Predict before you run.**"
OPEN_EXERCISE_HEADING = "### Open exercise"
RUBRICS_HEADING = "## Open exercises and their rubrics"
LESSON_CODE_TAG = "code-is-the-lesson"
MAX_CODE_LINES = 25
LONGEST_READING_MINUTES = 75
READING_LIMITS = {"06": 45}  # 06 was 90 minutes, a lab report in places
MAX_LESSON_CODE_CELLS = 2


def tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def cells_of(path: Path) -> list:
    return nbformat.read(path, as_version=4).cells


def prediction_calls(source: str) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("check_prediction")
    ]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_lesson_asks_a_prediction_before_the_run(path):
    cells = cells_of(path)
    questions = [
        i for i, c in enumerate(cells) if c.cell_type == "markdown" and PREDICT_MARK in c.source
    ]
    assert questions, f"{path.name} has no markdown cell with {PREDICT_MARK!r}"
    for index in questions:
        code = [c for c in cells[index + 1 :] if c.cell_type == "code"]
        commit, reveal = code[0], code[1]
        assert "solution" in tags(commit), (
            f"{path.name}: the code cell after the question in cell {index} must be a solution "
            "cell where the student commits to a letter (the student edition blanks it)"
        )
        assert "check" in tags(reveal) and prediction_calls(reveal.source), (
            f"{path.name}: the question in cell {index} is not revealed by a check cell calling "
            "check_prediction right after the commitment"
        )


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_a_prediction_is_revealed_by_what_the_run_measured(path):
    """`outcome` is computed in the notebook, never a letter typed into the check cell."""
    for cell in cells_of(path):
        if cell.cell_type != "code":
            continue
        for call in prediction_calls(cell.source):
            outcome = next((k.value for k in call.keywords if k.arg == "outcome"), None)
            if outcome is None and len(call.args) >= 3:
                outcome = call.args[2]
            assert outcome is not None, f"{path.name}: check_prediction without an outcome"
            assert not isinstance(outcome, ast.Constant), (
                f"{path.name}: check_prediction's outcome is the literal {outcome.value!r}; "
                "derive it from the experiment's measurement"
            )


def rubric_sections() -> dict[str, str]:
    """`docs/teaching.md`'s rubric section, split by its `### NN ...` subsections."""
    text = TEACHING.read_text(encoding="utf-8")
    assert RUBRICS_HEADING in text, f"docs/teaching.md has no {RUBRICS_HEADING!r} section"
    section = text.split(RUBRICS_HEADING, 1)[1].split("\n## ", 1)[0]
    parts = re.split(r"^### (\d\d) ", section, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_lesson_sets_an_open_exercise_with_a_rubric(path):
    cells = cells_of(path)
    assert any(
        c.cell_type == "markdown" and c.source.lstrip().startswith(OPEN_EXERCISE_HEADING)
        for c in cells
    ), f"{path.name} has no markdown cell starting with {OPEN_EXERCISE_HEADING!r}"
    rubric = rubric_sections().get(path.name[:2], "")
    assert "**Rubric**" in rubric and rubric.count("\n- ") >= 3, (
        f"docs/teaching.md gives {path.name[:2]}'s open exercise no **Rubric** list (three "
        "criteria or more)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_cells_fit_on_a_screen(path):
    cells = [c for c in cells_of(path) if c.cell_type == "code"]
    long = [
        (i, len(c.source.splitlines()))
        for i, c in enumerate(cells)
        if len(c.source.splitlines()) > MAX_CODE_LINES and LESSON_CODE_TAG not in tags(c)
    ]
    assert not long, (
        f"{path.name}: code cells (index among code cells, lines) {long} run over "
        f"{MAX_CODE_LINES} lines; move the plotting into ffjord_edu.viz, or tag the cell "
        f"{LESSON_CODE_TAG!r} where the code is the lesson"
    )
    lesson_code = sum(LESSON_CODE_TAG in tags(c) for c in cells)
    assert lesson_code <= MAX_LESSON_CODE_CELLS, (
        f"{path.name}: {lesson_code} cells tagged {LESSON_CODE_TAG!r}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_lesson_reads_in_one_sitting(path):
    limit = READING_LIMITS.get(path.name[:2], LONGEST_READING_MINUTES)
    time = reading_time(path)
    assert time.minutes < limit, (
        f"{path.name} reads in about {time.minutes:.0f} minutes ({time}), over its {limit}; "
        "move reference material to docs/ or an appendix"
    )


def test_teaching_md_reading_times_match_the_notebooks():
    """The table in docs/teaching.md shows each notebook's counts and reading time as they are."""
    text = TEACHING.read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        row = next(line for line in text.splitlines() if line.startswith(f"| {path.name[:2]} "))
        counts = re.search(r"\| ([\d,]+) / (\d+) / ([\d,]+) \| (\d+) min", row)
        assert counts, f"docs/teaching.md's row for {path.name[:2]} has no counts: {row}"
        words, equations, code, minutes = (int(g.replace(",", "")) for g in counts.groups())
        time = reading_time(path)
        assert (words, equations, code) == (time.words, time.equations, time.code_lines), (
            f"docs/teaching.md's counts for {path.name[:2]} are stale: the notebook has {time}"
        )
        assert abs(minutes - time.minutes) <= 5, (
            f"docs/teaching.md says {path.name[:2]} reads in {minutes} min; the rule gives "
            f"{time.minutes:.0f}"
        )


def test_teaching_md_lists_vae_basics_before_notebook_09():
    prerequisites = TEACHING.read_text(encoding="utf-8").split("## Prerequisites", 1)[1]
    prerequisites = prerequisites.split("\n## ", 1)[0]
    assert re.search(r"VAE|variational auto-?encoder", prerequisites, flags=re.IGNORECASE)
    assert "09" in prerequisites
