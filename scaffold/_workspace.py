"""Where an update runs: a scratch repository holding the service alone, and one step back.

copier's update works on the whole git repository the service is in: it diffs the repository's
tree, applies hunks with `git apply --reject` at the repository's top, and for every `.rej` file
anywhere in it runs `git checkout` and deletes the `.rej`. In a repository that holds more than
the service (a monorepo), that reaches files that are none of the update's business; in the
service itself, it writes over files git does not track. So `scaffold update` never lets copier
near the real repository:

1. `Scratch.of` makes a throw-away repository whose only commit is the service directory at
   HEAD (its objects borrowed from the real repository), checked out: the service exactly as
   committed, with nothing else around it, no ignored files, no `.rej`.
2. copier updates the scratch copy, and the update's own checks run there.
3. `carry` writes what changed into the service: files added, changed and deleted, and the
   index entries of conflicts. It refuses before writing anything when a path it would write
   is taken by a file git does not track (a git-ignored `.env`, say) or leads out of the
   service, and it is all or nothing: a failure or a signal (held back while it writes) puts
   every written path back as it was.

The real repository must be clean (no uncommitted change anywhere, which the caller checks),
so every tracked path of the service holds what HEAD holds and "as it was" is HEAD.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from scaffold import _git
from scaffold._signals import deferred
from scaffold.errors import DestinationError, DirtyRepoError

__all__ = ["Change", "Scratch", "carry", "refuse_in_the_way"]

_IDENTITY = {
    "GIT_AUTHOR_NAME": "otel-scaffold",
    "GIT_AUTHOR_EMAIL": "otel-scaffold@localhost",
    "GIT_COMMITTER_NAME": "otel-scaffold",
    "GIT_COMMITTER_EMAIL": "otel-scaffold@localhost",
}
_UNMERGED = {"DD", "AU", "UD", "UA", "DU", "AA", "UU"}


@dataclass(frozen=True)
class Change:
    """One path the update changed, relative to the service root.

    Attributes:
        path: with forward slashes.
        code: its two-letter `git status --porcelain` code in the scratch repository.
        tracked: HEAD has it (a new path is not tracked).
        exists: the update left something at the path (a deleted path does not exist).
    """

    path: str
    code: str
    tracked: bool
    exists: bool

    @property
    def unmerged(self) -> bool:
        """The index records a conflict for the path."""
        return self.code in _UNMERGED


@dataclass(frozen=True)
class Scratch:
    """A throw-away repository whose work tree is one directory of a repository at HEAD."""

    root: Path

    @classmethod
    def of(cls, top: Path, subdir: str, dest: Path) -> Scratch:
        """Check out `subdir` of the repository at `top`, as committed at HEAD, into `dest`.

        Raises:
            GitFailed: git could not read the repository or write the copy.
        """
        objects = Path(_git.run(top, "rev-parse", "--git-path", "objects").strip())
        objects = objects if objects.is_absolute() else top / objects
        head = _git.run(top, "rev-parse", "HEAD").strip()
        tree = _git.run(top, "rev-parse", f"HEAD:{'' if subdir == '.' else subdir}").strip()
        _git.run(None, "init", "-q", str(dest))
        # Borrow the real repository's objects instead of copying them (`clone --shared`).
        (dest / ".git" / "objects" / "info" / "alternates").write_text(
            f"{objects.resolve()}\n", encoding="utf-8"
        )
        commit = _git.run(
            dest, "commit-tree", "--no-gpg-sign", tree, "-m", f"{subdir} at {head}", env=_IDENTITY
        ).strip()
        _git.run(dest, "update-ref", "HEAD", commit)
        _git.run(dest, "read-tree", "-u", "--reset", "HEAD")
        return cls(root=dest.resolve())

    def changes(self) -> list[Change]:
        """Every path that differs from HEAD, git-ignored new files included."""
        out = _git.run(
            self.root,
            "status",
            "--porcelain",
            "-z",
            "--untracked-files=all",
            "--ignored",
            "--no-renames",
        )
        tracked = set(_git.run(self.root, "ls-tree", "-r", "-z", "--name-only", "HEAD").split("\0"))
        changes = []
        for entry in out.split("\0"):
            if len(entry) <= 3:
                continue
            code, path = entry[:2], entry[3:]
            exists = os.path.lexists(self.root / path)
            changes.append(Change(path=path, code=code, tracked=path in tracked, exists=exists))
        return changes

    def unmerged(self) -> dict[str, list[tuple[str, str, str]]]:
        """The conflict entries of the index: path -> [(mode, blob, stage)]."""
        out = _git.run(self.root, "ls-files", "-u", "-z")
        entries: dict[str, list[tuple[str, str, str]]] = {}
        for entry in out.split("\0"):
            if not entry:
                continue
            info, _, path = entry.partition("\t")
            mode, blob, stage = info.split()
            entries.setdefault(path, []).append((mode, blob, stage))
        return entries


def refuse_in_the_way(service: Path, changes: Iterable[Change]) -> None:
    """Refuse when a path the update would write is taken by a file git does not track.

    In a clean repository such a file is git-ignored (an `.env`, a build output): it exists
    nowhere else, so writing over it would lose it. A path that leads out of the service
    through a symbolic link is refused too.

    Raises:
        DirtyRepoError: the paths in the way, named.
        DestinationError: a path would be written outside the service.
    """
    root = service.resolve()
    taken: list[str] = []
    for change in changes:
        if not change.exists:
            continue
        target = service / change.path
        if not target.parent.resolve().is_relative_to(root):
            raise DestinationError(
                f"{change.path} leads out of {service} through a symbolic link",
                hint="an update writes only inside the service; replace the link with a directory",
            )
        if change.tracked:
            continue
        blocked = [
            parent
            for parent in target.parents
            if parent != service and parent.is_relative_to(service)
        ]
        if os.path.lexists(target) or any(os.path.lexists(p) and not p.is_dir() for p in blocked):
            taken.append(change.path)
    if taken:
        raise DirtyRepoError(
            service,
            taken,
            problem="has files git does not track where the update writes new ones",
            hint="git keeps no copy of them, so move them out of the service, update, then "
            "merge them back by hand",
        )


def carry(scratch: Scratch, top: Path, service: Path, changes: Sequence[Change]) -> None:
    """Write the scratch copy's changes into `service`, conflicts in the index included.

    All or nothing: on any failure, or a termination signal during or right after the
    writing, every path is put back as HEAD has it and the exception is raised again.

    Raises:
        GitFailed: git could not record the conflicts.
        OSError: a file could not be written (the service is as it was).
    """
    prefix = service.relative_to(top).as_posix()
    prefix = "" if prefix == "." else prefix + "/"
    created: list[Path] = []
    try:
        with deferred():
            for change in sorted(changes, key=lambda c: (c.exists, c.path)):
                target = service / change.path
                if change.exists:
                    _put(scratch.root / change.path, target, service, created)
                elif os.path.lexists(target):
                    target.unlink()
                    _prune(target.parent, service, scratch.root)
            _record_conflicts(scratch, top, prefix)
    except BaseException:
        with deferred():
            _restore(top, service, prefix, created, changes)
        raise


def _put(source: Path, target: Path, service: Path, created: list[Path]) -> None:
    """Write `source` (a file or a symbolic link) at `target`, replacing what is there."""
    missing = [p for p in target.parents if p.is_relative_to(service) and not p.exists()]
    for directory in reversed(missing):
        directory.mkdir()
        created.append(directory)
    if not os.path.lexists(target):
        created.append(target)
    temporary = target.with_name(f".{target.name}.scaffold-update")
    if os.path.lexists(temporary):
        temporary.unlink()
    if source.is_symlink():
        temporary.symlink_to(source.readlink())
    else:
        shutil.copyfile(source, temporary)
        temporary.chmod(source.stat().st_mode & 0o777)
    temporary.replace(target)


def _prune(directory: Path, service: Path, scratch: Path) -> None:
    """Remove directories a deletion left empty, as the update left them in the scratch copy."""
    while directory != service and directory.is_relative_to(service):
        if (scratch / directory.relative_to(service)).exists() or any(directory.iterdir()):
            return
        directory.rmdir()
        directory = directory.parent


def _record_conflicts(scratch: Scratch, top: Path, prefix: str) -> None:
    """Copy the scratch index's conflict stages (and their blobs) into the real index."""
    entries = scratch.unmerged()
    if not entries:
        return
    lines = []
    for path, stages in sorted(entries.items()):
        lines.append(f"0 {'0' * 40}\t{prefix}{path}")
        for mode, blob, stage in stages:
            content = _git.run_bytes(scratch.root, "cat-file", "blob", blob)
            copied = _git.run_bytes(top, "hash-object", "-w", "--stdin", input=content)
            lines.append(f"{mode} {copied.decode().strip()} {stage}\t{prefix}{path}")
    _git.run(top, "update-index", "-z", "--index-info", input="".join(f"{ln}\0" for ln in lines))


def _restore(
    top: Path, service: Path, prefix: str, created: list[Path], changes: Sequence[Change]
) -> None:
    """Put every path `carry` may have touched back as HEAD has it (the tree was clean)."""
    for path in sorted(created, key=lambda p: len(p.parts), reverse=True):
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        except OSError:
            continue
    tracked = [f"{prefix}{c.path}" for c in changes if c.tracked]
    _git.run(top, "reset", "-q", "HEAD", "--", prefix or ".", check=False)
    if tracked:
        _git.run(
            top,
            "checkout",
            "-q",
            "HEAD",
            "--pathspec-from-file=-",
            "--pathspec-file-nul",
            input="".join(f"{path}\0" for path in tracked),
            check=False,
        )
