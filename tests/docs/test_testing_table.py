"""docs/testing.md names the test that checks each behaviour of the emulated cluster: each exists."""

from __future__ import annotations

import re

from docs import counts

TESTING = counts.REPO / "docs" / "testing.md"
_NAMED = re.compile(r"`(?P<file>test_[a-z0-9_]+\.py)?(?:::(?P<test>test_[a-z0-9_]+))?`")


def named_tests(text: str) -> list[tuple[str, str]]:
    """(file, test) for each `file.py::test` in the text; a `::test` after it is of the same file."""
    found, current = [], None
    for match in _NAMED.finditer(text):
        current = match["file"] or current
        if match["test"]:
            assert current is not None, f"::{match['test']} names no file before it"
            found.append((current, match["test"]))
    return found


def test_every_test_the_testing_page_names_exists() -> None:
    named = named_tests(TESTING.read_text())
    assert len(named) > 10, "testing.md names no tests: the test lost its way"
    missing = []
    for file, test in named:
        paths = list((counts.REPO / "tests").rglob(file))
        if not any(re.search(rf"^(async )?def {test}\(", p.read_text(), re.MULTILINE) for p in paths):
            missing.append(f"{file}::{test}")
    assert missing == []


def test_a_missing_test_is_found() -> None:
    assert named_tests("`test_a.py::test_one`, `::test_two` and `test_b.py`") == [
        ("test_a.py", "test_one"),
        ("test_a.py", "test_two"),
    ]
