"""`scaffold new`: render an instrumented service from a template set and the org policy.

The flow: resolve the template source -> load and validate its policy -> settle every answer
(flags, answers file, defaults, prompts) and validate it -> copier copy into a staging directory
next to the destination -> git init and a first commit -> move the finished tree into place.
Nothing appears at the destination unless every step succeeded.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Mapping
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

__all__ = ["FALLBACK_IDENTITY", "NewResult", "NewService", "commit_all", "identity_env"]

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
    """

    dest: Path | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    template: str | None = None
    vcs_ref: str | None = None
    use_defaults: bool = False
    ask: Asker | None = None
    git_init: bool = True

    def run(self) -> NewResult:
        """Render the service.

        Raises:
            ScaffoldError: (a subclass) for a bad policy, answer, template, destination or git
                failure; the destination is left untouched.
        """
        with open_source(self.template, self.vcs_ref) as source:
            policy = source.policy()
            questions = load_questions(source.config())
            answers = resolve_answers(
                questions, policy, self.data, use_defaults=self.use_defaults, ask=self.ask
            )
            _check_crate_name(source.root, answers)
            dest = (self.dest or Path(answers["service_name"])).expanduser().absolute()
            _check_destination(dest)
            created: list[Path] = []
            staging: Path | None = None
            try:
                with deferred():
                    created = _make_parents(dest.parent)
                    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
                out = staging / dest.name
                _copy(source.url, source.ref, out, answers)
                commit = None
                if self.git_init:
                    commit = commit_all(out, _first_commit_message(answers, source.ref))
                with deferred():
                    _move_into_place(out, dest)
            except BaseException:
                with deferred():
                    for directory in created:
                        shutil.rmtree(directory, ignore_errors=True)
                raise
            finally:
                with deferred():
                    if staging is not None:
                        shutil.rmtree(staging, ignore_errors=True)
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


def _check_destination(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise DestinationError(
            f"{dest} already exists and is not empty", hint="choose another --dest"
        )
    existing = next(p for p in dest.parents if p.exists())
    if not existing.is_dir():
        raise DestinationError(f"{existing} is a file", hint="choose another --dest")
    if not os.access(existing, os.W_OK):
        raise DestinationError(f"{existing} is not writable", hint="choose another --dest")


def _make_parents(parent: Path) -> list[Path]:
    """Create missing parent directories; return the topmost one created, to undo on failure."""
    missing = [p for p in (parent, *parent.parents) if not p.exists()]
    parent.mkdir(parents=True, exist_ok=True)
    return missing[-1:]


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


def _copy(src: str, ref: str | None, out: Path, answers: Mapping[str, Any]) -> None:
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
            )
    except ValueError as exc:
        # copier's own question validators (from copier.yml) report here.
        text = str(exc)
        question = text.split("'")[1] if text.count("'") >= 2 else "answer"
        raise AnswerError(question, text.split(":", 1)[-1].strip().replace("\n", " ")) from None
    except CopierError as exc:
        raise TemplateError(
            f"copier could not render the template: {exc}", hint="check the template set"
        ) from None


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
    cwd = Path.cwd()
    where = dest.relative_to(cwd) if dest.is_relative_to(cwd) else dest
    steps = [f"cd {where}"]
    if answers.get("language") == "rust":
        steps += ["cargo test", "cargo run"]
    else:
        steps += ["go test ./...", f"go run ./cmd/{answers['service_name']}"]
    return steps
