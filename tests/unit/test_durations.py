from datetime import timedelta

import pytest

from qwenops.api.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30s", 30), ("5m", 300), ("1h30m", 5400), ("500ms", 0.5), ("2h", 7200), ("1m30s", 90)],
)
def test_parse(text: str, expected: float) -> None:
    assert parse_duration(text) == timedelta(seconds=expected)


@pytest.mark.parametrize("text", ["", "5", "5 minutes", "-1s", "1d", "1.5m", "m5", "5M"])
def test_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="30s, 5m"):
        parse_duration(text)
