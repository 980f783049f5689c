"""Write the student editions of the notebooks: solutions stubbed, outputs cleared.

    python scripts/make_student.py                        # all notebooks -> build/student/
    python scripts/make_student.py --out /tmp/handout notebooks/04_*.ipynb

The result, ``build/student/notebooks/*.ipynb``, runs from top to bottom (data comes from the
installed package): every check cell reports "not solved yet" until its exercise is filled in. `make
student` runs this script; `tests/test_exercises.py` executes the editions it writes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ffjord_edu.course.exercises import write_student_editions

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "student")
    arguments = parser.parse_args()
    notebooks = arguments.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in write_student_editions(notebooks, arguments.out / "notebooks"):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
