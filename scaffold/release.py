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
import io
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from packaging.version import InvalidVersion, Version

from scaffold import _git
from scaffold._git import GitFailed
from scaffold._signals import deferred
from scaffold.errors import (
    CheckFailedError,
    DirtyRepoError,
    GitError,
    ReleaseError,
    ScaffoldError,
)
from scaffold.policy import POLICY_FILE, Policy, load_policy
from scaffold.policy_diff import PolicyChange, diff_policies, policy_at_ref
from scaffold.render import identity_env
from scaffold.source import COPIER_FILE, latest_version_tag, tags, version_tag

__all__ = ["CHANGELOG_FILE", "CheckOutcome", "ReleaseResult", "TemplateRelease"]

CHANGELOG_FILE = "CHANGELOG.md"
CHANGELOG_TITLE = "# Changelog"


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
        head = _open(root)
        env = identity_env(root)
        _refuse_dirty(root)
        version = _check_version(root, self.version)
        previous = latest_version_tag(root)
        subjects = _subjects(root, previous)
        if previous is not None and not subjects:
            raise ReleaseError(
                f"nothing to release: no commits since {previous}",
                hint="commit the template change first",
            )
        policy_changes = _policy_changes(root, previous)
        report = self._run_check(root, head) if self.check else None
        entry = changelog_entry(
            version, self.date or dt.date.today(), previous, subjects, policy_changes
        )
        commit = _commit_and_tag(root, head, version, entry, env)
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

    def _run_check(self, root: Path, head: str) -> CheckOutcome:
        checker = self.checker or _default_checker
        with tempfile.TemporaryDirectory(prefix="scaffold-release-") as tmp:
            tree = Path(tmp) / "templates"
            _export(root, head, tree)
            report = checker(tree)
        if not report.passed:
            failed = [_name(item) for item in report.failed]
            raise CheckFailedError(failed or ["(unnamed)"], _total(report, len(failed)))
        return report


def _commit_and_tag(root: Path, head: str, version: str, entry: str, env: dict[str, str]) -> str:
    """Commit the CHANGELOG entry and tag it; on any failure, leave the repository as it was."""
    path = root / CHANGELOG_FILE
    original = path.read_bytes() if path.exists() else None
    try:
        path.write_text(_prepend(original, entry), encoding="utf-8")
        _git.run(root, "add", "--", CHANGELOG_FILE)
        _git.run(
            root,
            "commit",
            "-q",
            "--no-verify",
            "-m",
            f"Release {version}",
            "--",
            CHANGELOG_FILE,
            env=env,
        )
        commit = _git.run(root, "rev-parse", "HEAD").strip()
        _tag(root, version, entry, env)
    except BaseException as exc:
        with deferred():
            _restore(root, head, version, path, original)
        if isinstance(exc, GitFailed):
            raise GitError(
                f"could not commit and tag {version} in {root}: {exc.reason}",
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


def _open(root: Path) -> str:
    """Check that `root` is the top of a template repository with commits; return its HEAD."""
    if not root.is_dir() or not _git.ok(root, "rev-parse", "--git-dir"):
        raise ReleaseError(
            f"{root} is not a git repository",
            hint="run it in a template repository (see `scaffold template init`)",
        )
    head = _git.run(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
    top = _git.run(root, "rev-parse", "--show-toplevel", check=False).strip()
    if not head.strip() or not top:
        raise ReleaseError(
            f"{root} has no commits to release", hint="commit the template set first"
        )
    if not (root / COPIER_FILE).is_file() or Path(top).resolve() != root.resolve():
        raise ReleaseError(
            f"{root} is not the root of a template set (no copier.yml)",
            hint="run it at the root of the template repository",
        )
    return head.strip()


def _refuse_dirty(root: Path) -> None:
    status = _git.run(root, "status", "--porcelain", "-z", "--untracked-files=all")
    files = [entry[3:] for entry in status.split("\0") if len(entry) > 3]
    if files:
        raise DirtyRepoError(root, files)


def _check_version(root: Path, version: str) -> str:
    try:
        wanted = Version(version)
    except InvalidVersion:
        raise ReleaseError(
            f"{version!r} is not a version copier can read",
            hint="use a PEP 440 version such as v1.2.0",
        ) from None
    version = version_tag(version)
    existing_tags = tags(root)
    if version in existing_tags:
        raise ReleaseError(f"tag {version} already exists", hint="pick the next version")
    newest: tuple[Version, str] | None = None
    for tag in existing_tags:
        try:
            existing = Version(tag)
        except InvalidVersion:
            continue
        if newest is None or existing > newest[0]:
            newest = (existing, tag)
    if newest is not None and wanted <= newest[0]:
        raise ReleaseError(
            f"{version} is not greater than the last version {newest[1]}",
            hint=f"pick a version above {newest[1]}",
        )
    return version


def _subjects(root: Path, previous: str | None) -> list[str]:
    """Commit subjects since `previous` (all of them for a first release), newest first."""
    span = f"{previous}..HEAD" if previous else "HEAD"
    out = _git.run(root, "log", "--no-merges", "--format=%s", span)
    return [line.strip() for line in out.splitlines() if line.strip()]


def _policy_changes(root: Path, previous: str | None) -> list[PolicyChange]:
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


def _export(root: Path, commit: str, dest: Path) -> None:
    """Write the tree of `commit` to `dest`, without .git: a plain template directory."""
    dest.mkdir(parents=True)
    archive = _git.run_bytes(root, "archive", "--format=tar", commit)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")


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


def _tag(root: Path, version: str, entry: str, env: dict[str, str]) -> None:
    notes = entry.split("\n", 2)[-1].strip()
    _git.run(
        root,
        "tag",
        "--no-sign",
        "-a",
        version,
        "-m",
        f"Template set {version}\n\n{notes}",
        env=env,
    )


def _restore(root: Path, head: str, version: str, path: Path, original: bytes | None) -> None:
    """Undo a half-made release: the tree was clean at `head`, so going back to it is safe."""
    try:
        if version in tags(root):
            _git.run(root, "tag", "-d", version)
        _git.run(root, "reset", "-q", "--hard", head)
    finally:
        if original is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(original)
