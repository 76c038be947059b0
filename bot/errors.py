"""The exception tree of studybot.

StudybotError
├── UserError          the member did something we can explain to them (shown ephemerally)
│   ├── UnknownTopic   carries the closest topic names
│   ├── UnknownPost    a button on a post the bot does not know
│   ├── PermissionDenied
│   └── InvalidInput
├── BankError          the question bank is broken (file, line, question id, field)
├── ConfigError        settings are missing or invalid
└── StorageError       the database cannot be opened or used (which file, why, what to do)
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence


class StudybotError(Exception):
    """Base class of every error studybot raises on purpose."""


class UserError(StudybotError):
    """An error whose message is safe and useful to show to the member."""


class UnknownTopic(UserError):
    def __init__(self, query: str, suggestions: Sequence[str]) -> None:
        self.query = query
        self.suggestions = list(suggestions)
        hint = f" Did you mean: {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"I don't know the topic “{query}”.{hint}")


class UnknownPost(UserError):
    def __init__(self) -> None:
        super().__init__(
            "I can't find that question any more. It may come from an older install; "
            "run /quiz for a fresh one."
        )


class PermissionDenied(UserError):
    """`what` names the command; the dispatcher words who may use it in the platform's terms."""

    def __init__(self, what: str = "this command") -> None:
        self.what = what
        super().__init__(f"Only admins can use {what}.")


class InvalidInput(UserError):
    pass


class ConfigError(StudybotError):
    pass


class StorageError(StudybotError):
    pass


def shown_path(path: object) -> str:
    """A path for an error message, unless it looks like a secret pasted into the wrong setting (no folder
    part and long): then only that it was the configured path."""
    text = str(path)
    return text if "/" in text or len(text) <= 24 else "(the configured path)"


class BankIssue:
    """One problem in the bank, located as precisely as the YAML allows."""

    __slots__ = ("field", "file", "line", "message", "question_id")

    def __init__(
        self,
        file: str,
        message: str,
        *,
        line: int | None = None,
        question_id: str | None = None,
        field: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.question_id = question_id
        self.field = field
        self.message = message

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [where]
        if self.question_id:
            parts.append(f"question '{self.question_id}'")
        if self.field:
            parts.append(f"field '{self.field}'")
        return ": ".join([*parts, self.message])


class BankError(StudybotError):
    def __init__(self, issues: Sequence[BankIssue]) -> None:
        self.issues = list(issues)
        lines = "\n".join(f"  {issue}" for issue in self.issues)
        super().__init__(f"the question bank has {len(self.issues)} error(s):\n{lines}")


def new_reference() -> str:
    """A short id that ties a member-facing 'something went wrong' to a logged traceback."""
    return secrets.token_hex(4)
