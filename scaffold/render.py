"""`scaffold new`: render an instrumented service from a template set and the org policy.

The flow: resolve the template source -> load and validate its policy -> settle every answer
(flags, answers file, defaults, prompts) and validate it -> copier copy into a staging directory
-> git init and a first commit -> move the finished tree into place. Nothing appears at the
destination unless every step succeeded.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import copier
from copier.errors import CopierError

from scaffold import __version__, _git
from scaffold._git import GitFailed
from scaffold._signals import deferred
from scaffold.errors import AnswerError, DestinationError, GitError, TemplateError
from scaffold.questions import Asker, load_questions, resolve_answers
from scaffold.source import open_source

__all__ = [
    "FALLBACK_IDENTITY",
    "NewResult",
    "NewService",
    "commit_all",
    "copier_answer_error",
    "identity_env",
]

# Who commits when git has no user configured (a fresh CI runner, a container).
FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "otel-scaffold",
    "GIT_AUTHOR_EMAIL": "otel-scaffold@localhost",
    "GIT_COMMITTER_NAME": "otel-scaffold",
    "GIT_COMMITTER_EMAIL": "otel-scaffold@localhost",
}


@dataclass(frozen=True)
class NewResult:
    """What `NewService.run` produced."""

    dest: Path
    answers: Mapping[str, Any]
    template: str
    ref: str | None
    commit: str | None
    next_steps: list[str]


@dataclass
class NewService:
    """One `scaffold new` operation: its options, and `run()` to carry it out.

    Attributes:
        dest: where the service goes; default ./<service_name>. Must not exist or be empty.
        data: answers given up front (flags and answers file merged).
        template: template source (path or git URL); None for the bundled set.
        vcs_ref: template version (git tag or commit) for git sources.
        use_defaults: take the default of every question not answered in `data`.
        ask: interactive front end for the remaining questions; None means never prompt.
        git_init: create a git repository with a first commit.
        include: paths to render besides what the template's own exclusions let through
            (`scaffold adopt` takes the dependency manifests of a package-scope render).
    """

    dest: Path | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    template: str | None = None
    vcs_ref: str | None = None
    use_defaults: bool = False
    ask: Asker | None = None
    git_init: bool = True
    include: tuple[str, ...] = ()

    def run(self) -> NewResult:
        """Render the service.

        Raises:
            ScaffoldError: (a subclass) for a bad policy, answer, template, destination or git
                failure; the destination is left untouched.
        """
        # The destination is checked before anything is asked: the given one at once, the one a
        # service name implies as soon as the name is known.
        checks = {}
        if self.dest is None:
            checks["service_name"] = _name_fits_destination
        else:
            _check_destination(self.dest.expanduser().absolute())
        with open_source(self.template, self.vcs_ref) as source:
            policy = source.policy()
            questions = load_questions(source.config())
            answers = resolve_answers(
                questions,
                policy,
                self.data,
                use_defaults=self.use_defaults,
                ask=self.ask,
                checks=checks,
            )
            _check_crate_name(source.root, answers)
            dest = (self.dest or Path(answers["service_name"])).expanduser().absolute()
            _check_destination(dest)
            with _written(dest), _Staging.open(dest) as staging:
                _copy(source.url, source.ref, staging.out, answers, self.include)
                commit = None
                if self.git_init:
                    commit = commit_all(staging.out, _first_commit_message(answers, source.ref))
                staging.finish()
        return NewResult(
            dest=dest,
            answers=answers,
            template=source.url,
            ref=source.ref,
            commit=commit,
            next_steps=_next_steps(dest, answers),
        )


def _check_crate_name(root: Path, answers: Mapping[str, Any]) -> None:
    """Refuse a Rust service named like one of its own dependencies: cargo cannot build it."""
    lock = root / "rust" / "Cargo.lock.jinja"
    if answers.get("language") != "rust" or not lock.is_file():
        return
    crate = str(answers["service_name"]).replace("-", "_")
    for name in re.findall(r'^name = "([^"{]+)"$', lock.read_text(encoding="utf-8"), flags=re.M):
        if name.replace("-", "_") == crate:
            raise AnswerError(
                "service_name",
                f"{answers['service_name']!r} is the name of a crate the service depends on; pick another name",
            )


def _name_fits_destination(name: str) -> None:
    """A service name is also its directory (without --dest): refuse one that is taken."""
    try:
        _check_destination(Path(name).absolute())
    except DestinationError as exc:
        raise DestinationError(exc.message, hint="choose another name, or pass --dest") from None


def _check_destination(dest: Path) -> None:
    if dest.is_symlink() and not dest.exists():
        raise DestinationError(
            f"{dest} is a symlink to {dest.readlink()}, which does not exist",
            hint="remove the link, create its target, or choose another --dest",
        )
    try:
        occupied = dest.exists() and (not dest.is_dir() or any(dest.iterdir()))
    except OSError as exc:
        raise DestinationError(
            f"cannot look into {dest}: {exc.strerror}", hint="choose another --dest"
        ) from None
    if occupied:
        raise DestinationError(
            f"{dest} already exists and is not empty", hint="choose another --dest"
        )
    # An existing empty directory is rendered into, whatever it is (the current directory, a
    # symlink's target, a mount point); otherwise its first existing parent is written to.
    existing = next(p for p in (dest, *dest.parents) if p.exists())
    if not existing.is_dir():
        raise DestinationError(f"{existing} is a file", hint="choose another --dest")
    if not os.access(existing, os.W_OK):
        raise DestinationError(f"{existing} is not writable", hint="choose another --dest")


@contextlib.contextmanager
def _written(dest: Path) -> Iterator[None]:
    """Report a failed write under the destination (a full disk, say) as one clear error."""
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            hint = "free some space there, or choose another --dest"
        else:
            hint = "check the destination, or choose another --dest"
        where = f" ({exc.filename})" if exc.filename else ""
        raise DestinationError(
            f"cannot write the service to {dest}: {exc.strerror or exc}{where}; nothing was left "
            "behind",
            hint=hint,
        ) from None


@dataclass
class _Staging:
    """Where a service is rendered before it appears, and how it gets to its destination.

    A missing destination is staged in a hidden directory next to it and renamed into place,
    so it appears whole. An existing empty directory is kept (it may be the current directory,
    a symlink to a directory or a mount point, none of which can be replaced): the service is
    staged in a hidden directory inside it, on the same file system, and its entries are moved
    up. Whatever fails, what was created is removed again.
    """

    dest: Path
    stage: Path
    created: Path | None
    moved: list[Path] = field(default_factory=list)

    @classmethod
    @contextlib.contextmanager
    def open(cls, dest: Path) -> Iterator[_Staging]:
        created = None
        # Signals wait while directories appear or go: an interrupt never strands one.
        with deferred():
            if dest.is_dir():
                container = dest
            else:
                created = _make_parents(dest.parent)
                container = dest.parent
            try:
                stage = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=container))
            except BaseException:
                if created is not None:
                    shutil.rmtree(created, ignore_errors=True)
                raise
        staging = cls(dest=dest, stage=stage, created=created)
        try:
            yield staging
        except BaseException:
            with deferred():
                staging.undo()
            raise
        finally:
            with deferred():
                shutil.rmtree(stage, ignore_errors=True)

    @property
    def out(self) -> Path:
        """The directory copier renders into."""
        return self.stage / self.dest.name

    def finish(self) -> None:
        """Move the rendered tree to the destination, never over anything that appeared there.

        Raises:
            DestinationError: the destination filled up since it was checked.
        """
        with deferred():
            if self.stage.parent != self.dest:
                _move_into_place(self.out, self.dest)
                return
            appeared = sorted(e.name for e in self.dest.iterdir() if e != self.stage)
            if appeared:
                raise DestinationError(
                    f"{self.dest} is no longer empty ({', '.join(appeared)} appeared)",
                    hint="nothing was written there; choose another --dest",
                )
            for entry in sorted(self.out.iterdir()):
                target = self.dest / entry.name
                entry.rename(target)
                self.moved.append(target)

    def undo(self) -> None:
        for path in self.moved:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        if self.created is not None:
            shutil.rmtree(self.created, ignore_errors=True)


def _make_parents(parent: Path) -> Path | None:
    """Create missing parent directories; return the topmost one created, to undo on failure."""
    missing = [p for p in (parent, *parent.parents) if not p.exists()]
    parent.mkdir(parents=True, exist_ok=True)
    return missing[-1] if missing else None


def _move_into_place(out: Path, dest: Path) -> None:
    """Move the finished tree to `dest`, which must not exist or be an empty directory.

    `rename` replaces an empty directory and fails on a non-empty one, in one step: whatever
    appeared at the destination since it was checked is never written over.

    Raises:
        DestinationError: the destination is no longer empty (or no longer usable).
    """
    try:
        out.rename(dest)
    except OSError as exc:
        raise DestinationError(
            f"{dest} is no longer empty (or cannot be replaced): {exc.strerror}",
            hint="nothing was written there; choose another --dest",
        ) from None


def _copy(
    src: str, ref: str | None, out: Path, answers: Mapping[str, Any], include: tuple[str, ...] = ()
) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            copier.run_copy(
                src,
                out,
                data=dict(answers),
                vcs_ref=ref,
                defaults=True,
                unsafe=False,
                quiet=True,
                overwrite=True,
                # copier applies these after the template's own: a negation lets a path back in.
                exclude=[f"!/{path}" for path in include],
            )
    except ValueError as exc:
        raise copier_answer_error(exc) from None
    except CopierError as exc:
        raise TemplateError(
            f"copier could not render the template: {exc}", hint="check the template set"
        ) from None


_COPIER_VALIDATION = re.compile(r"Validation error for question '([^']+)': (.*)", re.S)


def copier_answer_error(exc: ValueError, context: str = "") -> AnswerError:
    """An answer copier refused, with the template validator's message whole, on one line.

    copier reports its own question validators (from copier.yml) as a ValueError whose text
    keeps the validator's line breaks: a multi-line message must not be cut at the first one.
    `context` is added in parentheses.
    """
    text = " ".join(str(exc).split())
    found = _COPIER_VALIDATION.fullmatch(text)
    question, problem = (found[1], found[2]) if found else ("answers", text)
    return AnswerError(question, f"{problem} ({context})" if context else problem)


def commit_all(path: Path, message: str) -> str:
    """Initialise (if needed) a git repository at `path` and commit everything in it.

    Raises:
        GitError: git is missing or the commit failed.
    """
    try:
        if not (path / ".git").exists():
            _git.run(path, "init", "-q", "--initial-branch=main")
        _git.run(path, "add", "-A")
        # No hooks and no signing prompt: this is the tool's commit of what it rendered.
        _git.run(
            path,
            "commit",
            "-q",
            "--no-verify",
            "--no-gpg-sign",
            "-m",
            message,
            env=identity_env(path),
        )
        return _git.run(path, "rev-parse", "HEAD").strip()
    except GitFailed as exc:
        raise GitError(
            f"could not commit in {path}: {exc.reason}", hint="check that git is installed"
        ) from None


def identity_env(path: Path) -> dict[str, str]:
    """`FALLBACK_IDENTITY` when git has no user name and email for `path`; else nothing."""
    configured = all(
        _git.run(path, "config", key, check=False).strip() for key in ("user.name", "user.email")
    )
    return {} if configured else dict(FALLBACK_IDENTITY)


def _first_commit_message(answers: Mapping[str, Any], ref: str | None) -> str:
    version = f" {ref}" if ref else ""
    return f"Create {answers['service_name']} from otel-scaffold{version}\n\notel-scaffold {__version__}"


def _next_steps(dest: Path, answers: Mapping[str, Any]) -> list[str]:
    try:
        cwd = Path.cwd()
    except OSError:  # the current directory was removed
        cwd = Path("/")
    where = dest.relative_to(cwd) if dest != cwd and dest.is_relative_to(cwd) else dest
    if answers.get("language") == "rust":
        test, run = "cargo test", "cargo run"
    else:
        test, run = "go test ./...", f"go run ./cmd/{answers['service_name']}"
    # `scaffold dev` blocks, as the service does: each gets a terminal of its own.
    width = max(len(run), len("scaffold dev"))
    return [
        f"cd {where}",
        test,
        f"{'scaffold dev':<{width}}  # in a second terminal: shows each trace the service sends",
        f"{run:<{width}}  # then: curl localhost:8080/hello",
    ]
