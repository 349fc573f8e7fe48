"""One error hierarchy for the whole library.

Every error a user can cause is a `ScaffoldError`: its message is one line that says what is
wrong and what to do, and its `exit_code` is what the CLI exits with. Library code raises these
and never prints or exits; `scaffold.cli` turns them into stderr text in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scaffold.traces import Trace

__all__ = [
    "AnswerError",
    "BehindError",
    "CheckFailedError",
    "CollectorError",
    "ConflictError",
    "DestinationError",
    "DevSinkError",
    "DirtyRepoError",
    "FleetFailedError",
    "GitError",
    "NoTraceError",
    "NotAServiceError",
    "NotVersionedError",
    "PolicyError",
    "PolicyProblem",
    "ReleaseError",
    "ScaffoldError",
    "TemplateError",
    "VerifyError",
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


# Exit codes of `scaffold update` and `scaffold check` (8 and up; 1-7 are above):
#   8  DirtyRepoError     the service has uncommitted changes; nothing was done
#   9  NotAServiceError   not a service made from these templates, or (NotVersionedError) one
#                         made from a template source without versions (git tags)
#   10 ConflictError      the update was applied but conflicts remain to be resolved
#   11 BehindError        `scaffold check`: a newer template version exists
# ConflictError and BehindError describe a result, not a failure of the library call:
# `scaffold.update` returns them in its results and the CLI raises them to set the exit code.


def _listing(files: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(files[:limit])
    return f"{shown} (and {len(files) - limit} more)" if len(files) > limit else shown


class DirtyRepoError(GitError):
    """Files in the working tree stand in the way; nothing was done.

    By default: uncommitted changes, which an update could not be told apart from. The same
    code covers other local state an operation refuses to touch (files git does not track at a
    path the operation would write, `.rej` files of an earlier update), with its own wording.
    """

    exit_code = 8

    def __init__(
        self,
        path: Path | str,
        files: Sequence[str],
        *,
        problem: str = "has uncommitted changes",
        hint: str = "commit or stash your changes first",
    ) -> None:
        self.path = Path(path)
        self.files = list(files)
        super().__init__(f"{path} {problem} ({_listing(self.files)})", hint=hint)


class NotAServiceError(ScaffoldError):
    """`update` and `check`: the path is not a service made from these templates.

    Nothing can be updated there: nothing made it (no answers file), or what made it has no
    versions to move between (`NotVersionedError`). Both exit with the same code.
    """

    exit_code = 9

    def __init__(
        self,
        path: Path | str,
        problem: str,
        *,
        hint: str = "pass the root directory of a service made by `scaffold new` or "
        "`scaffold adopt`",
    ) -> None:
        self.path = Path(path)
        super().__init__(f"{path} is not a service made from these templates: {problem}", hint=hint)


class NotVersionedError(NotAServiceError):
    """The service's template source has no versions (git tags) to update between."""

    def __init__(self, path: Path | str, source: str, problem: str, fix: str) -> None:
        self.path = Path(path)
        self.source = source
        ScaffoldError.__init__(
            self, f"{path} was not made from a versioned template source ({problem})", hint=fix
        )


class ConflictError(ScaffoldError):
    """An update was applied, and some files hold conflict markers to resolve by hand."""

    exit_code = 10

    def __init__(self, path: Path | str, files: Sequence[str]) -> None:
        self.path = Path(path)
        self.files = list(files)
        super().__init__(
            f"{len(self.files)} file(s) in {path} have conflicts: {_listing(self.files)}",
            hint="resolve the conflicts listed above (<<<<<<< markers to merge, or kept files to "
            "carry over and `git rm`), `git add` the files, then commit",
        )


class BehindError(ScaffoldError):
    """`scaffold check`: the service is behind the latest version of its template."""

    exit_code = 11

    def __init__(self, path: Path | str, current: str | None, latest: str) -> None:
        self.path = Path(path)
        self.current = current
        self.latest = latest
        super().__init__(
            f"{path} is on {current or 'an unknown version'}; {latest} is available",
            hint=f"run `scaffold update --to {latest}`",
        )


class ReleaseError(ScaffoldError):
    """`scaffold template release` cannot release this version (order, tag, state)."""

    exit_code = 12


class CheckFailedError(ScaffoldError):
    """`scaffold template check`: at least one combination failed; the report lists them."""

    exit_code = 13

    def __init__(self, failed: Sequence[str], total: int) -> None:
        self.failed = list(failed)
        super().__init__(
            f"{len(self.failed)} of {total} template combination(s) failed: {_listing(self.failed)}",
            hint="fix the template and run `scaffold template check` again",
        )


class FleetFailedError(ScaffoldError):
    """`scaffold fleet upgrade`: at least one repository ended in conflict, verify failure or error."""

    exit_code = 14

    def __init__(self, failed: Sequence[str], total: int) -> None:
        self.failed = list(failed)
        super().__init__(
            f"{len(self.failed)} of {total} repositories failed: {_listing(self.failed)}",
            hint="see the table or the JSON report for each reason, fix, and run the same "
            "command again (finished repositories are not redone)",
        )


class DevSinkError(ScaffoldError):
    """`scaffold dev`: the local telemetry sink cannot start, or its collector stopped.

    A port in use, a failed collector build, a collector that exits by itself.
    """

    exit_code = 15


class NoTraceError(ScaffoldError):
    """`scaffold dev --expect-trace`: no trace across enough services arrived in time."""

    exit_code = 16

    def __init__(self, services: int, timeout: float, received: Sequence[Trace]) -> None:
        self.services = services
        self.timeout = timeout
        self.received = list(received)
        if not self.received:
            seen = "no span arrived at all"
            hint = (
                "start the services with the sink running; they export to localhost:4317 unless "
                "OTEL_EXPORTER_OTLP_ENDPOINT says otherwise"
            )
        else:
            widest = max(self.received, key=lambda t: (len(t.services), len(t.spans)))
            seen = (
                f"{len(self.received)} trace(s) arrived; the widest has spans from "
                f"{', '.join(widest.services)}"
            )
            hint = (
                "check that each service is running, that the calls between them go through "
                "the instrumented clients, and that every service exports here"
            )
        super().__init__(
            f"no trace with spans from {services} services arrived within {timeout:g}s ({seen})",
            hint=hint,
        )


class VerifyError(ScaffoldError):
    """`scaffold adopt`: the project does not build with the telemetry package added.

    The repository is put back exactly as it was before this error is raised.

    Attributes:
        command: the build command that failed, like `go build ./...`.
        first_error: the first error the compiler reported, one line.
        output: everything the command wrote.
    """

    exit_code = 17

    def __init__(
        self, message: str, *, command: str, first_error: str, output: str, hint: str
    ) -> None:
        self.command = command
        self.first_error = first_error
        self.output = output
        super().__init__(message, hint=hint)
