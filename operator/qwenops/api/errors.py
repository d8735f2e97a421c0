"""Errors the operator reports to people instead of raising to kopf."""


class InvalidSpecError(ValueError):
    """A spec the models refuse; `problems` lists one `field: why` line per bad field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
