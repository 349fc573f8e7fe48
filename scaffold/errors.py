"""One error hierarchy for the whole library.

Every error a user can cause is a `ScaffoldError`: its message is one line that says what is
wrong and what to do, and its `exit_code` is what the CLI exits with. Library code raises these
and never prints or exits; `scaffold.cli` turns them into stderr text in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "AnswerError",
    "CollectorError",
    "DestinationError",
    "GitError",
    "PolicyError",
    "PolicyProblem",
    "ScaffoldError",
    "TemplateError",
]


class ScaffoldError(Exception):
    """Base of every error the user can act on."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message}; {hint}" if hint else message)


class PolicyProblem:
    """One thing wrong with a policy: where, what, and how to fix it."""

    __slots__ = ("field", "fix", "problem")

    def __init__(self, field: str, problem: str, fix: str) -> None:
        self.field = field
        self.problem = problem
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}; {self.fix}"

    def __repr__(self) -> str:
        return f"PolicyProblem({self.field!r}, {self.problem!r}, {self.fix!r})"


class PolicyError(ScaffoldError, ValueError):
    """The org policy file is missing, unreadable or invalid."""

    exit_code = 3

    def __init__(self, path: Path | str, problems: Sequence[PolicyProblem]) -> None:
        self.path = Path(path)
        self.problems = list(problems)
        first = self.problems[0] if self.problems else "invalid policy"
        more = len(self.problems) - 1
        tail = f" (and {more} more: run `scaffold policy validate {path}`)" if more else ""
        super().__init__(f"{path}: {first}{tail}")


class AnswerError(ScaffoldError, ValueError):
    """An answer to a template question is missing or not acceptable."""

    exit_code = 2

    def __init__(self, question: str, problem: str) -> None:
        self.question = question
        self.problem = problem
        super().__init__(f"{question}: {problem}")


class TemplateError(ScaffoldError):
    """The template set cannot be reached, read or rendered."""

    exit_code = 4


class DestinationError(ScaffoldError):
    """The output location cannot be used (it exists, is not empty, is not writable)."""

    exit_code = 5


class GitError(ScaffoldError):
    """A git operation on the user's repository failed."""

    exit_code = 6


class CollectorError(ScaffoldError):
    """The collector options cannot produce a working configuration."""

    exit_code = 7
