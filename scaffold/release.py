"""`scaffold template release VERSION`: prove, record and tag a new version of a template set.

The flow, on the platform team's template repository:

1. refuse a tree with uncommitted or untracked changes (the release must be exactly a commit);
2. refuse a version that is not PEP 440, or not greater than every version tag already there;
3. run `scaffold template check` on the commit being released (a copy of HEAD, so the check
   sees what services will get, not the previous tag);
4. write a CHANGELOG.md entry at the top: the version, the date, what the policy change means
   for services (`scaffold.policy_diff` between the last release's policy.yml and this one) and
   the commit subjects since the last release;
5. commit it and create an annotated tag holding the same notes.

Nothing is left half-done: a refusal or a failed check changes nothing, and a failure while
committing or tagging puts the repository back where it was.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import git
from packaging.version import InvalidVersion, Version

from scaffold.errors import (
    CheckFailedError,
    DirtyRepoError,
    GitError,
    ReleaseError,
    ScaffoldError,
)
from scaffold.policy import POLICY_FILE, Policy, load_policy
from scaffold.policy_diff import PolicyChange, diff_policies, policy_at_ref
from scaffold.source import COPIER_FILE, git_reason, latest_version_tag

__all__ = ["CHANGELOG_FILE", "CheckOutcome", "ReleaseResult", "TemplateRelease"]

CHANGELOG_FILE = "CHANGELOG.md"
CHANGELOG_TITLE = "# Changelog"

_FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "otel-scaffold",
    "GIT_AUTHOR_EMAIL": "otel-scaffold@localhost",
    "GIT_COMMITTER_NAME": "otel-scaffold",
    "GIT_COMMITTER_EMAIL": "otel-scaffold@localhost",
}


class CheckOutcome(Protocol):
    """What a template check returns: `scaffold.templates.CheckReport` has this shape."""

    @property
    def passed(self) -> bool:
        """Whether every combination passed."""

    @property
    def failed(self) -> Sequence[Any]:
        """The combinations that failed (names, or results with a `name`)."""


Checker = Callable[[Path], CheckOutcome]


@dataclass(frozen=True)
class ReleaseResult:
    """What `TemplateRelease.run` did.

    Attributes:
        repo: the template repository.
        version: the tag created.
        previous: the release before it (None for the first one).
        commit: the release commit (it adds the CHANGELOG entry); the tag points at it.
        subjects: commit subjects since `previous`, newest first.
        policy_changes: what the policy change means for services.
        entry: the CHANGELOG.md entry written, in Markdown.
        check: the template check's report; None when the check was skipped.
    """

    repo: Path
    version: str
    previous: str | None
    commit: str
    subjects: tuple[str, ...]
    policy_changes: tuple[PolicyChange, ...]
    entry: str
    check: CheckOutcome | None = None

    def summary(self) -> list[str]:
        """A short report, one line each, for a terminal."""
        since = f" (since {self.previous})" if self.previous else " (first release)"
        checked = "checked" if self.check is not None else "NOT checked (--no-check)"
        return [
            f"Released {self.version}{since} in {self.repo}: {len(self.subjects)} commit(s), "
            f"{len(self.policy_changes)} policy change(s), {checked}",
            f"Tagged {self.version} at {self.commit[:12]}; {CHANGELOG_FILE} updated",
            f"Next: git push --follow-tags; services take it with `scaffold update --to {self.version}`",
        ]


@dataclass
class TemplateRelease:
    """One `scaffold template release` operation: its options, and `run()` to carry it out.

    Attributes:
        repo: the template repository (its root).
        version: the new version tag, PEP 440 (`v1.2.0`), greater than every existing one.
        check: run the template check before releasing.
        checker: runs the check on a directory holding the commit being released; None for
            `scaffold.templates.TemplateCheck` (the full render + compile matrix).
        date: the date written in the CHANGELOG; None for today.
    """

    repo: Path
    version: str
    check: bool = True
    checker: Checker | None = None
    date: dt.date | None = None

    def run(self) -> ReleaseResult:
        """Release the version.

        Raises:
            DirtyRepoError: the tree has uncommitted or untracked changes.
            ReleaseError: not a template repository, a bad or not-newer version, nothing to
                release since the last tag.
            PolicyError: the policy being released is invalid.
            CheckFailedError: a template combination failed its check.
            GitError: git failed while committing or tagging; the repository is as it was.
        """
        root = self.repo.expanduser().absolute()
        repo = _open(root)
        with repo:
            env = _git_env(repo)
            _refuse_dirty(repo, root)
            version = _check_version(repo, self.version)
            previous = latest_version_tag(repo)
            head = repo.head.commit.hexsha
            subjects = _subjects(repo, previous)
            if previous is not None and not subjects:
                raise ReleaseError(
                    f"nothing to release: no commits since {previous}",
                    hint="commit the template change first",
                )
            policy_changes = _policy_changes(repo, root, previous)
            report = self._run_check(repo, head) if self.check else None
            entry = changelog_entry(
                version, self.date or dt.date.today(), previous, subjects, policy_changes
            )
            commit = _commit_and_tag(repo, root, head, version, entry, env)
        return ReleaseResult(
            repo=root,
            version=version,
            previous=previous,
            commit=commit,
            subjects=tuple(subjects),
            policy_changes=tuple(policy_changes),
            entry=entry,
            check=report,
        )

    def _run_check(self, repo: git.Repo, head: str) -> CheckOutcome:
        checker = self.checker or _default_checker
        with tempfile.TemporaryDirectory(prefix="scaffold-release-") as tmp:
            tree = Path(tmp) / "templates"
            _export(repo, head, tree)
            report = checker(tree)
        if not report.passed:
            failed = [_name(item) for item in report.failed]
            raise CheckFailedError(failed or ["(unnamed)"], _total(report, len(failed)))
        return report


def _commit_and_tag(
    repo: git.Repo, root: Path, head: str, version: str, entry: str, env: dict[str, str] | None
) -> str:
    """Commit the CHANGELOG entry and tag it; on any failure, leave the repository as it was."""
    path = root / CHANGELOG_FILE
    original = path.read_bytes() if path.exists() else None
    try:
        path.write_text(_prepend(original, entry), encoding="utf-8")
        repo.git.add("--", CHANGELOG_FILE)
        repo.git.commit("-q", "-m", f"Release {version}", "--", CHANGELOG_FILE, env=env)
        commit: str = repo.head.commit.hexsha
        _tag(repo, version, entry, env)
    except BaseException as exc:
        _restore(repo, head, version, path, original)
        if isinstance(exc, git.GitCommandError):
            raise GitError(
                f"could not commit and tag {version} in {root}: {git_reason(exc)}",
                hint="nothing was changed; fix the git problem and release again",
            ) from None
        raise
    return commit


def changelog_entry(
    version: str,
    date: dt.date,
    previous: str | None,
    subjects: Sequence[str],
    policy_changes: Sequence[PolicyChange],
) -> str:
    """The Markdown CHANGELOG entry of a release."""
    lines = [f"## {version} ({date.isoformat()})", ""]
    lines += ["### Policy", ""]
    if previous is None:
        lines.append("First release.")
    elif not policy_changes:
        lines.append(f"No policy changes since {previous}.")
    else:
        lines += [f"- {change.sentence}" for change in policy_changes]
    lines += ["", "### Changes", ""]
    lines += [f"- {subject}" for subject in subjects] or ["- (no commits)"]
    return "\n".join(lines) + "\n"


# -- steps ------------------------------------------------------------------------------------


def _open(root: Path) -> git.Repo:
    try:
        repo = git.Repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise ReleaseError(
            f"{root} is not a git repository",
            hint="run it in a template repository (see `scaffold template init`)",
        ) from None
    if repo.bare or not repo.head.is_valid():
        repo.close()
        raise ReleaseError(
            f"{root} has no commits to release", hint="commit the template set first"
        )
    if (
        not (root / COPIER_FILE).is_file()
        or Path(repo.working_tree_dir or "").resolve() != root.resolve()
    ):
        repo.close()
        raise ReleaseError(
            f"{root} is not the root of a template set (no copier.yml)",
            hint="run it at the root of the template repository",
        )
    return repo


def _git_env(repo: git.Repo) -> dict[str, str] | None:
    """A fallback identity for machines without a git user, as `scaffold template init` uses."""
    reader = repo.config_reader()
    configured = reader.has_option("user", "name") and reader.has_option("user", "email")
    return None if configured else {**os.environ, **_FALLBACK_IDENTITY}


def _refuse_dirty(repo: git.Repo, root: Path) -> None:
    status = repo.git.status("--porcelain", "--untracked-files=all")
    files = [line[3:] for line in status.splitlines() if line.strip()]
    if files:
        raise DirtyRepoError(root, files)


def _check_version(repo: git.Repo, version: str) -> str:
    try:
        wanted = Version(version)
    except InvalidVersion:
        raise ReleaseError(
            f"{version!r} is not a version copier can read",
            hint="use a PEP 440 version such as v1.2.0",
        ) from None
    if version in {tag.name for tag in repo.tags}:
        raise ReleaseError(f"tag {version} already exists", hint="pick the next version")
    newest: tuple[Version, str] | None = None
    for tag in repo.tags:
        try:
            existing = Version(tag.name)
        except InvalidVersion:
            continue
        if newest is None or existing > newest[0]:
            newest = (existing, tag.name)
    if newest is not None and wanted <= newest[0]:
        raise ReleaseError(
            f"{version} is not greater than the last version {newest[1]}",
            hint=f"pick a version above {newest[1]}",
        )
    return version


def _subjects(repo: git.Repo, previous: str | None) -> list[str]:
    """Commit subjects since `previous` (all of them for a first release), newest first."""
    span = f"{previous}..HEAD" if previous else "HEAD"
    out = repo.git.log("--no-merges", "--format=%s", span)
    return [line.strip() for line in out.splitlines() if line.strip()]


def _policy_changes(repo: git.Repo, root: Path, previous: str | None) -> list[PolicyChange]:
    """What the policy change since `previous` means for services (empty for a first release)."""
    new = load_policy(root / POLICY_FILE)
    if previous is None:
        return []
    try:
        old = policy_at_ref(root, previous, validate=False)
    except ScaffoldError:
        # The last release had no policy.yml: every field is new.
        return diff_policies(_empty_policy(previous), new)
    return diff_policies(old, new)


def _empty_policy(ref: str) -> Policy:
    return Policy(raw={}, path=Path(f"{ref}:{POLICY_FILE}"))


def _default_checker(src: Path) -> CheckOutcome:
    # Imported here: the full render + compile matrix is heavy, and only a release needs it.
    templates = importlib.import_module("scaffold.templates")
    report: CheckOutcome = templates.TemplateCheck(src=str(src)).run()
    return report


def _export(repo: git.Repo, commit: str, dest: Path) -> None:
    """Write the tree of `commit` to `dest`, without .git: a plain template directory."""
    dest.mkdir(parents=True)
    archive = dest.parent / "tree.tar"
    with archive.open("wb") as out:
        repo.archive(out, treeish=commit, format="tar")
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    archive.unlink()


def _name(item: Any) -> str:
    if isinstance(item, str):
        return item
    for attr in ("name", "label", "combination"):
        value = getattr(item, attr, None)
        if isinstance(value, str) and value:
            return value
    return str(item)


def _total(report: CheckOutcome, failed: int) -> int:
    for attr in ("total", "combinations", "results"):
        value = getattr(report, attr, None)
        if isinstance(value, int):
            return value
        if isinstance(value, Sequence):
            return len(value)
    return failed


def _prepend(original: bytes | None, entry: str) -> str:
    """The CHANGELOG with `entry` above every earlier entry, below the title and preamble."""
    text = original.decode("utf-8") if original is not None else f"{CHANGELOG_TITLE}\n"
    lines = text.splitlines(keepends=True)
    at = next((i for i, line in enumerate(lines) if line.startswith("## ")), len(lines))
    head = "".join(lines[:at]).rstrip("\n")
    tail = "".join(lines[at:])
    parts = [head, "", entry.rstrip("\n")] if head else [entry.rstrip("\n")]
    body = "\n".join(parts) + "\n"
    return f"{body}\n{tail}" if tail else body


def _tag(repo: git.Repo, version: str, entry: str, env: dict[str, str] | None) -> None:
    notes = entry.split("\n", 2)[-1].strip()
    repo.git.tag("-a", version, "-m", f"Template set {version}\n\n{notes}", env=env)


def _restore(repo: git.Repo, head: str, version: str, path: Path, original: bytes | None) -> None:
    """Undo a half-made release: the tree was clean at `head`, so going back to it is safe."""
    try:
        if version in {tag.name for tag in repo.tags}:
            repo.git.tag("-d", version)
        repo.git.reset("-q", "--hard", head)
    finally:
        if original is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(original)
