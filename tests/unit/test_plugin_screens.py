"""The plugin's pure screens added for on call: fitting a terminal, the list, and what `wait --for` means."""

import re
from datetime import timedelta

import pytest

from qwenops.kubectl.screens.fit import clip, fit
from qwenops.kubectl.screens.listing import render_list
from qwenops.kubectl.screens.status import render_status
from qwenops.kubectl.screens.style import visible_len
from qwenops.kubectl.screens.wait_for import met, never, parse_for
from tests import status_fixtures as f

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _plain(text: str) -> str:
    return ANSI.sub("", text)


NOW = f.NOW


def test_clip_counts_visible_characters_and_closes_an_open_colour() -> None:
    assert clip("abcdef", 4) == "abcd"
    assert clip("\x1b[1mbold text\x1b[0m tail", 4) == "\x1b[1mbold\x1b[0m"
    assert clip("\x1b[2mab\x1b[0mcdef", 4) == "\x1b[2mab\x1b[0mcd"
    assert clip("short", 80) == "short"


@pytest.mark.parametrize(("width", "height"), [(80, 20), (40, 12), (120, 60), (20, 5)])
def test_a_status_screen_fits_any_terminal_and_keeps_its_top(width: int, height: int) -> None:
    text = render_status(f.canary_at_step_2(), NOW, color=True, unicode=True)
    rows = fit(text, ["footer"], width, height)
    assert len(rows) <= height
    assert all(visible_len(row) <= width for row in rows)
    assert rows[0].startswith("\x1b[1mName:")
    assert rows[-1] == "footer"[:width]
    if len(text.splitlines()) + 1 > height:
        assert rows[-2].startswith("... ") and "more lines" in rows[-2]


@pytest.mark.parametrize("color", [False, True])
def test_the_message_is_wrapped_under_its_column_not_cut(color: bool) -> None:
    obj = f.canary_at_step_2()
    obj["status"]["message"] = "word " * 30
    rows = [_plain(row) for row in fit(render_status(obj, NOW, color=color), [], 60, 40)]
    assert all(len(row) <= 60 for row in rows)
    start = next(i for i, row in enumerate(rows) if row.startswith("Message:"))
    continued = [row for row in rows[start + 1 :] if row.startswith(" " * 15)]
    assert "".join(row[15:] for row in [rows[start], *continued]).split() == ["word"] * 30


def test_the_list_is_cut_to_the_width_unless_wide() -> None:
    healthy = f.healthy()
    healthy["metadata"]["creationTimestamp"] = (NOW - timedelta(days=3)).isoformat()
    objects = [f.canary_at_step_2(), healthy, f.rolled_back()]
    narrow = render_list(objects, NOW, namespaces=True, width=80).splitlines()
    assert all(len(line) <= 80 for line in narrow)
    assert narrow[0].split() == ["NAMESPACE", "NAME", "PHASE", "STABLE", "CANARY", "WEIGHT", "AGE", "MESSAGE"]
    wide = render_list(objects, NOW, namespaces=False, width=80, wide=True).splitlines()
    assert any(len(line) > 80 for line in wide)
    assert wide[0].split()[6:] == ["STEP", "STABLE", "MODEL", "CANARY", "MODEL", "MESSAGE"]
    assert "3d" in "".join(narrow)


@pytest.mark.parametrize(
    ("text", "healthy", "progressing"),
    [
        ("condition=Available", True, True),
        ("condition=Progressing", False, True),
        ("condition=SLOBreached=false", False, True),
        ("jsonpath={.status.phase}=Healthy", True, False),
        ("jsonpath={.status.canary}", False, True),
        ("phase=Healthy", True, False),
        ("promoted", True, False),
    ],
)
def test_what_wait_for_means(text: str, healthy: bool, progressing: bool) -> None:
    wanted = parse_for(text)
    assert met(wanted, f.healthy()) is healthy
    assert met(wanted, f.canary_at_step_2()) is progressing


def test_a_status_of_an_older_generation_does_not_meet_phase_or_promoted() -> None:
    behind = f.healthy()
    behind["metadata"]["generation"] = behind["status"]["observedGeneration"] + 1
    assert not met(parse_for("phase=Healthy"), behind)
    assert not met(parse_for("promoted"), behind)
    assert met(parse_for("condition=Available"), behind)  # as kubectl's: the condition as it is


def test_a_rollout_that_ended_elsewhere_never_meets_it_but_a_running_one_may() -> None:
    assert never(parse_for("promoted"), f.rolled_back()) is not None
    assert never(parse_for("phase=RolledBack"), f.rolled_back()) is None  # met, not never
    assert never(parse_for("promoted"), f.canary_at_step_2()) is None


@pytest.mark.parametrize(
    "text", ["bogus", "phase=Sunny", "condition=", "jsonpath=.status.phase", "jsonpath={x}=1"]
)
def test_a_for_wait_cannot_read_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="condition=TYPE"):
        parse_for(text)
