"""`scaffold update` and `scaffold check`: take a new template version into a service.

A service records where it came from in `.copier-answers.yml`: `_src_path` (the template
source, a git repository whose tags are versions) and `_commit` (the version it is on). An update
is `copier update` with the options Renovate's copier manager uses, wrapped in what copier leaves
to its caller:

- before: refuse what cannot be updated safely, with one line that says what to do: not a git
  repository, no answers file, uncommitted changes anywhere in the repository, `.rej` files an
  earlier update left in the service, a template source that is not versioned or cannot be
  reached, a version that does not exist or is older than the current one;
- around: copier runs on a scratch copy of the service alone (`scaffold._workspace`), never on
  the repository, so it cannot touch a file outside the service or one git does not track;
- after: find every conflict (unmerged index entries, files with `<<<<<<<` markers) and every
  `.rej` file copier left, and report them; a `.rej` is removed only when every line it holds is
  in the conflicted file, so no edit is ever dropped silently; a file the new version no longer
  has (moved or removed by the template) that the service had edited is put back, as a conflict,
  where copier would delete it with the edits in it; an edited file git treats as binary, whose
  edit copier's diff cannot carry, keeps the service's version, as a conflict with the
  template's version in the index;
- last: write the result into the service in one step that refuses to write over a file git
  does not track and, when it fails or a signal arrives, puts the service back as it was.

`pretend` stops before the last step, so its report (conflicts and refusals included) is exactly
what a real run would do, and the service is not touched.
"""

from __future__ import annotations

import re
import tempfile
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import copier
import yaml
from copier.errors import CopierError
from packaging.version import InvalidVersion, Version
from plumbum import ProcessExecutionError

from scaffold import __version__, _cargo, _git, _gomod, _yaml
from scaffold._git import GitFailed
from scaffold._workspace import Change, Scratch, carry, refuse_in_the_way
from scaffold.bundled import bundled_repo, cache_path, home_spelling, is_bundled_source
from scaffold.errors import (
    BehindError,
    DestinationError,
    DirtyRepoError,
    GitError,
    NotAServiceError,
    NotVersionedError,
    TemplateError,
)
from scaffold.render import copier_answer_error
from scaffold.source import as_tagged, bundled_templates, is_git_root, latest_version, open_source

__all__ = [
    "ANSWERS_FILE",
    "CheckResult",
    "FileChange",
    "TemplateRefs",
    "UpdateResult",
    "UpdateService",
    "check",
    "template_refs",
]

ANSWERS_FILE = ".copier-answers.yml"

ChangeKind = Literal["added", "modified", "deleted", "conflict"]

_REMOTE = re.compile(r"^(\w+://|git@|git\+|gh:|gl:)")
_DESCRIBE = re.compile(r"^(?P<tag>.+)-(?P<distance>\d+)-g(?P<sha>[0-9a-f]+)$")
_SHA = re.compile(r"^[0-9a-f]{7,40}$")
# `git describe --tags` output, which copier records for a commit after a tag: v1.0.0-3-gabc1234.
_DESCRIBED = re.compile(r"-g[0-9a-f]{7,40}$")
_UNMERGED = {"DD", "AU", "UD", "UA", "DU", "AA", "UU"}
# The dependency manifests of an adopted package, per language: the project's own.
_MANIFESTS = {"go": ("go.mod", "go.sum"), "rust": ("Cargo.toml", "Cargo.lock")}
_ALL_MANIFESTS = frozenset(m for files in _MANIFESTS.values() for m in files)


@dataclass(frozen=True)
class FileChange:
    """One file an update added, modified, deleted, or left with conflicts.

    Attributes:
        path: relative to the service root, with forward slashes.
        kind: what happened to it; `conflict` files hold markers to resolve.
    """

    path: str
    kind: ChangeKind


@dataclass(frozen=True)
class UpdateResult:
    """What `UpdateService.run` did (or, with `pretend`, would do).

    Attributes:
        path: the service root.
        template: the template source (`_src_path`).
        from_version: the version the service was on.
        to_version: the version it is on after the update.
        files: every file the update changed, `.copier-answers.yml` included.
        conflicts: files with conflicts to resolve by hand, relative to `path`.
        rejects: `.rej` files kept because their content is not in the conflicted file; open
            them next to the file they name and apply what they hold by hand.
        removed: files the new version no longer generates (the template moved or removed
            them) that hold the service's own edits. Each is kept as committed and listed in
            `conflicts`; git records it as "deleted by them". Carry the edits over to where
            the template's code went, then `git rm` the file.
        binary: files git treats as binary (a NUL byte, UTF-16 text, a `binary` attribute)
            that both the service and the template changed. A diff cannot merge them: each
            keeps the service's version, is listed in `conflicts`, and the index holds both
            (`git checkout --theirs FILE` gives the template's).
        pretend: nothing was written; the result is what a real run would do.
        notes: the template's own change log between the two versions (commit subjects,
            newest first, at most 20): what the platform team says changed.
        dependencies: for an adopted package (`scope: package`) whose template changed its
            dependencies: one line per requirement moved or added in go.mod or Cargo.toml.
    """

    path: Path
    template: str
    from_version: str
    to_version: str
    files: tuple[FileChange, ...] = ()
    conflicts: tuple[str, ...] = ()
    rejects: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    binary: tuple[str, ...] = ()
    pretend: bool = False
    notes: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether the update changed (or would change) any file."""
        return bool(self.files)

    def summary(self) -> list[str]:
        """A short report, one line each, for a terminal or a pull request."""
        if not self.changed and self.from_version == self.to_version:
            return [f"{self.path} is already on {self.to_version}; nothing to do"]
        verb = "Would update" if self.pretend else "Updated"
        lines = [
            f"{verb} {self.path} from {self.from_version} to {self.to_version}: "
            f"{len(self.files)} file(s) changed, {len(self.conflicts)} conflict(s)"
        ]
        if self.notes:
            lines.append("Template changes:")
            lines += [f"  - {note}" for note in self.notes]
        if self.files:
            lines.append("Files:")
        lines += [f"  {change.kind:<9} {change.path}" for change in self.files]
        if self.dependencies:
            lines.append("Dependencies (the new package needs them):")
            lines += [f"  {dep}" for dep in self.dependencies]
        lines += [f"  kept      {reject} (apply its hunks by hand)" for reject in self.rejects]
        lines += [
            f"  kept      {path} ({self.to_version} moved or removed it; it holds your edits)"
            for path in self.removed
        ]
        lines += [
            f"  kept      {path} (binary: yours is in the file; "
            f"`git checkout --theirs {path}` gives {self.to_version}'s)"
            for path in self.binary
        ]
        if self.pretend:
            return lines
        markers = set(self.conflicts) - set(self.removed) - set(self.binary)
        if self.removed:
            lines.append(
                "Carry your edits out of the kept files into the template's new code and "
                f"`git rm` them{'.' if markers else ', then commit.'}"
            )
        if self.binary:
            lines.append(
                "Make each binary file what it should be from both versions, `git add` it"
                f"{'.' if markers else ', then commit.'}"
            )
        if markers:
            lines.append(
                "Resolve the <<<<<<< markers in the conflicted files, `git add` them, then commit."
            )
        elif self.changed and not self.removed and not self.binary:
            lines.append("Review the change with `git diff`, run the tests, then commit.")
        return lines


@dataclass(frozen=True)
class CheckResult:
    """Whether a service is on the latest version of its template.

    Attributes:
        path: the service root.
        template: the template source (`_src_path`).
        current: the version the service is on (`_commit`).
        latest: the highest release tag of the template source.
        behind: a newer version exists.
    """

    path: Path
    template: str
    current: str | None
    latest: str | None
    behind: bool

    def summary(self) -> str:
        """The result in one line: up to date, or what is available and how to get it."""
        if self.behind:
            return str(BehindError(self.path, self.current, self.latest or ""))
        origin = "the bundled templates" if is_bundled_source(self.template) else self.template
        return f"{self.path} is on {self.current}, the latest version of {origin}"

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON-ready data, for `scaffold check --json`."""
        return {
            "path": str(self.path),
            "template": self.template,
            "current": self.current,
            "latest": self.latest,
            "behind": self.behind,
        }


@dataclass
class UpdateService:
    """One `scaffold update` operation: its options, and `run()` to carry it out.

    Attributes:
        path: the root of the service (where `.copier-answers.yml` is).
        to: the template version to update to (a tag, branch or commit); None for the latest
            release tag.
        pretend: report what the update would do without changing anything.
    """

    path: Path = field(default_factory=Path)
    to: str | None = None
    pretend: bool = False

    def run(self) -> UpdateResult:
        """Update the service to the requested template version.

        Conflicts are not an error: they are listed in the result (`conflicts`), the files hold
        standard conflict markers and the index records them as unmerged, as after `git merge`.

        Raises:
            ScaffoldError: (a subclass) when the service cannot be updated; nothing is changed.
                `DirtyRepoError` for uncommitted changes anywhere in the repository, `.rej`
                files of an earlier update, or files git does not track where the update would
                write; `NotAServiceError` for a path that is not a service made from these
                templates, `NotVersionedError` (one of those) for a template source without
                versions, `TemplateError` for an unreachable source or an unknown or older
                version, `GitError` for a service outside git or without commits.
            Interrupted: a termination signal arrived; the service is as it was.
        """
        service = _Service.open(self.path)
        service.refuse_dirty()
        service.refuse_rejects()
        refs = service.template_refs()
        target = _target(service, refs, self.to)
        if _same_version(service.commit, target):
            return UpdateResult(
                path=service.path,
                template=service.src,
                from_version=service.commit,
                to_version=service.commit,
                pretend=self.pretend,
            )
        notes = _check_release(service, target)
        with tempfile.TemporaryDirectory(prefix="scaffold-update-") as tmp:
            try:
                scratch = Scratch.of(service.top, service.pathspec, Path(tmp) / "service")
            except (GitFailed, OSError) as exc:
                why = exc.reason if isinstance(exc, GitFailed) else exc.strerror
                raise GitError(
                    f"could not make a scratch copy of {service.path}: {why}",
                    hint="check free space in the temporary directory",
                ) from None
            copy = replace(service, top=scratch.root, path=scratch.root)
            result, changes = _update(copy, target, Path(tmp) / "old")
            deps = _reconcile_adopted(copy, target, Path(tmp))
            if deps is not None:
                result = _with_manifests(result, copy, deps)
                changes = Scratch(copy.top).changes()
            refuse_in_the_way(service.path, changes)
            if not self.pretend:
                try:
                    carry(scratch, service.top, service.path, changes)
                except OSError as exc:
                    raise DestinationError(
                        f"could not write the update into {service.path}: {exc.strerror}",
                        hint="nothing was changed; free some space or fix the permissions, "
                        "then update again",
                    ) from None
        return replace(result, path=service.path, pretend=self.pretend, notes=notes)


def check(path: Path | str = ".") -> CheckResult:
    """Compare the version a service is on with the latest release of its template source.

    Raises:
        ScaffoldError: (a subclass) the path is not a service made from these templates
            (`NotAServiceError`), its template source is not versioned (`NotVersionedError`)
            or cannot be reached (`TemplateError`).
    """
    service = _Service.open(Path(path))
    refs = service.template_refs()
    latest = latest_version(refs.tags)
    current = service.commit
    if latest is None:
        raise _no_tags(service)
    behind = _behind(current, latest)
    return CheckResult(
        path=service.path, template=service.src, current=current, latest=latest, behind=behind
    )


@dataclass(frozen=True)
class TemplateRefs:
    """What a template source offers: its tags (versions among them) and every ref name."""

    tags: tuple[str, ...]
    names: frozenset[str]


@dataclass(frozen=True)
class _Service:
    """A generated service in a git repository, with what its answers file says."""

    path: Path
    top: Path
    answers: Mapping[str, Any]
    src: str
    commit: str

    @property
    def pathspec(self) -> str:
        rel = self.path.relative_to(self.top).as_posix()
        return "." if rel == "." else rel

    @classmethod
    def open(cls, path: Path) -> _Service:
        path = path.expanduser().absolute()
        # Whether it is a service at all comes first: advice about git is for services only.
        if not path.exists():
            raise NotAServiceError(path, "it does not exist")
        if not path.is_dir():
            raise NotAServiceError(path, "it is not a directory")
        if not (path / ANSWERS_FILE).is_file():
            raise _not_a_service(path)
        try:
            top = Path(_git.run(path, "rev-parse", "--show-toplevel").strip()).resolve()
        except GitFailed:
            raise GitError(
                f"{path} is not in a git repository; an update merges through git history",
                hint="run `git init && git add -A && git commit -m 'Import service'` first",
            ) from None
        path = path.resolve()
        if not _git.ok(top, "rev-parse", "--verify", "--quiet", "HEAD"):
            raise GitError(
                f"the git repository at {top} has no commits yet",
                hint="commit the service first",
            )
        answers = _read_answers(path)
        src = answers.get("_src_path")
        if not isinstance(src, str) or not src:
            raise NotVersionedError(
                path,
                "",
                f"{ANSWERS_FILE} has no _src_path",
                f"set _src_path in {ANSWERS_FILE} to the template repository it was made from",
            )
        if src.startswith("-"):
            raise TemplateError(
                f"_src_path {src!r} in {path / ANSWERS_FILE} is not a path or URL",
                hint="set it to the template repository's URL",
            )
        _refuse_plain_directory(path, src)
        commit = answers.get("_commit")
        if not isinstance(commit, str) or not commit:
            raise NotVersionedError(
                path,
                src,
                f"{ANSWERS_FILE} records no _commit",
                f"set _commit in {ANSWERS_FILE} to the template version it was made from "
                "(e.g. v0.1.0) and commit",
            )
        return cls(path=path, top=top, answers=answers, src=src, commit=commit)

    def refuse_dirty(self) -> None:
        """Refuse uncommitted changes anywhere in the repository (untracked files count).

        Not only in the service: conflict resolution ends in `git reset --hard` or a commit of
        everything for many people, and either would take other work with it.
        """
        status = _git.run(self.top, "status", "--porcelain", "-z")
        files = [entry[3:] for entry in status.split("\0") if len(entry) > 3]
        if not files:
            return
        if self.top == self.path:
            raise DirtyRepoError(self.path, files)
        raise DirtyRepoError(
            self.path,
            files,
            problem=f"is in a repository ({self.top}) with uncommitted changes",
            hint="commit or stash them first: an update leaves the rest of the repository "
            "alone only when it is clean",
        )

    def refuse_rejects(self) -> None:
        """Refuse `.rej` files an earlier update left (ignored ones too): hunks not applied yet.

        copier deletes every `.rej` it finds during an update, applied or not.
        """
        out = _git.run(self.path, "ls-files", "--others", "-z", "--", "*.rej")
        rejects = sorted(path for path in out.split("\0") if path)
        if rejects:
            raise DirtyRepoError(
                self.path,
                rejects,
                problem="holds .rej files of an earlier update, with changes nobody applied yet",
                hint="apply each to the file it names by hand, then delete it; an update would "
                "throw it away",
            )

    def template_refs(self) -> TemplateRefs:
        """The tags and branch names of the service's template source."""
        try:
            return template_refs(self.src, cwd=self.top)
        except TemplateError as exc:
            raise TemplateError(
                f"{exc.message} (recorded in {self.path / ANSWERS_FILE})", hint=exc.hint
            ) from None


def template_refs(src: str, cwd: Path | None = None) -> TemplateRefs:
    """A template source's tags and branch names, read with `git ls-remote`.

    A source that is the bundled templates' cache repository is brought up to date with the
    installed otel-scaffold first, so after an upgrade of the tool its version is there, with no
    network. A relative local path is read from `cwd`.

    Raises:
        TemplateError: the source cannot be reached.
    """
    if is_bundled_source(src):
        bundled_repo()
    try:
        listing = _git.run(cwd or Path.cwd(), "ls-remote", _git_url(src), network=True)
    except GitFailed as exc:
        raise TemplateError(
            f"cannot reach template {src!r}: {exc.reason}",
            hint="if it moved, set _src_path in the answers file to its new location",
        ) from None
    tags: list[str] = []
    names: set[str] = set()
    for line in listing.splitlines():
        _, _, ref = line.partition("\t")
        ref = ref.removesuffix("^{}")
        if ref.startswith("refs/tags/"):
            tags.append(ref.removeprefix("refs/tags/"))
        names.add(ref.removeprefix("refs/tags/").removeprefix("refs/heads/"))
    return TemplateRefs(tags=tuple(dict.fromkeys(tags)), names=frozenset(names))


def _not_a_service(path: Path) -> NotAServiceError:
    """The error for a directory without an answers file, naming the service it is in, if any."""
    problem = f"it has no {ANSWERS_FILE}"
    root = next((p for p in path.parents if (p / ANSWERS_FILE).is_file()), None)
    if root is None:
        return NotAServiceError(path, problem)
    return NotAServiceError(path, problem, hint=f"it is inside the service {root}: pass that path")


def _read_answers(path: Path) -> dict[str, Any]:
    file = path / ANSWERS_FILE
    if not file.is_file():
        raise _not_a_service(path)
    try:
        answers = _yaml.safe_load(file.read_text(encoding="utf-8"))
    except _yaml.YAMLLimitError as exc:
        raise DestinationError(
            f"{file} {exc.problem}", hint=f"restore it with `git checkout -- {ANSWERS_FILE}`"
        ) from None
    except (yaml.YAMLError, UnicodeDecodeError):
        answers = None
    if not isinstance(answers, dict):
        raise DestinationError(
            f"{file} is not a YAML mapping",
            hint=f"restore it with `git checkout -- {ANSWERS_FILE}`",
        )
    return answers


def _refuse_plain_directory(path: Path, src: str) -> None:
    """A local template directory without git history has no versions to update between."""
    if _REMOTE.match(src):
        return
    local = Path(src).expanduser()
    if not local.is_dir() or is_git_root(local):
        return  # a missing directory is reported as unreachable by `template_refs`
    bundled = local.resolve() == bundled_templates().resolve() or local.match("scaffold/_templates")
    if not bundled:
        raise NotVersionedError(
            path,
            src,
            f"{src} is a plain directory without version tags",
            "run `scaffold template init DIR`, then set `_src_path: DIR` and `_commit: v0.1.0` in "
            f"{ANSWERS_FILE} and commit",
        )
    raise NotVersionedError(
        path,
        src,
        "it names the directory of the bundled templates, which has no versions",
        f"set `_src_path: {home_spelling(cache_path())}` and `_commit: v{__version__}` (the "
        "otel-scaffold version that made the service; its first commit names it) in "
        f"{ANSWERS_FILE}, commit, then run `scaffold check`",
    )


def _no_tags(service: _Service) -> NotVersionedError:
    return NotVersionedError(
        service.path,
        service.src,
        f"{service.src} has no release tags",
        "tag a release in the template repository (e.g. `git tag v0.1.0`) and push the tag",
    )


def _target(service: _Service, refs: TemplateRefs, to: str | None) -> str:
    """The ref to update to: checked against the source, and never older than the current."""
    latest = latest_version(refs.tags)
    if latest is None:
        raise _no_tags(service)
    _check_current(service, refs)
    # A version names its tag in either spelling: `--to 1.1.0` finds the tag v1.1.0.
    target = as_tagged(to, refs.names) if to else latest
    if target not in refs.names and not _SHA.match(target):
        known = ", ".join(_newest(refs.tags, 3))
        raise TemplateError(
            f"template {service.src!r} has no version {target!r}",
            hint=f"pick an existing tag (latest: {known})",
        )
    current, wanted = _version(service.commit), _version(target)
    if current is not None and wanted is not None and wanted < current:
        raise TemplateError(
            f"{service.path} is on {service.commit}, newer than {target}; copier cannot downgrade",
            hint="to undo an update, `git revert` the commit that took it",
        )
    return target


def _check_current(service: _Service, refs: TemplateRefs) -> None:
    """The version the service records must still exist: the update renders it to diff against.

    A commit (a hash, or `git describe` output ending in -gHASH) cannot be checked against the
    source's ref names and is left to copier.

    Raises:
        TemplateError: the source no longer has the recorded tag (it was deleted or renamed).
    """
    current = service.commit
    if current in refs.names or _SHA.match(current) or _DESCRIBED.search(current):
        return
    known = ", ".join(_newest(refs.tags, 3)) or "none"
    raise TemplateError(
        f"{service.path} records template version {current!r} (_commit in {ANSWERS_FILE}), but "
        f"{service.src} has no such tag any more, so the update has nothing to diff against "
        f"(latest tags: {known})",
        hint=f"restore the tag {current} in the template repository, or set _commit to the "
        "commit hash it pointed to and commit",
    )


def _check_release(service: _Service, target: str) -> tuple[str, ...]:
    """Check the target version's org policy before anything is written; return its notes.

    The policy is validated as `scaffold new` validates it. The notes are the template's commit
    subjects since the service's version.

    Raises:
        PolicyError: the release's policy is invalid.
        TemplateError: the release cannot be checked out.
    """
    with open_source(_git_url(service.src), target) as source:
        source.policy()
        # Empty when the old version is not a ref of the source (a moved tag, a bare sha).
        log = _git.run(
            source.root, "log", "--format=%s", "-n", "20", f"{service.commit}..HEAD", check=False
        )
    return tuple(line for line in log.splitlines() if line.strip())


def _update(service: _Service, target: str, old_dir: Path) -> tuple[UpdateResult, list[Change]]:
    """Run copier's update on `service` (a scratch copy) and settle what copier leaves."""
    old = _OldRender(service, old_dir)
    try:
        with warnings.catch_warnings(), _git.copier_limits():
            warnings.simplefilter("ignore")
            copier.run_update(
                service.path,
                answers_file=ANSWERS_FILE,
                vcs_ref=target,
                overwrite=True,
                skip_answered=True,
                defaults=True,
                conflict="inline",
                unsafe=False,
                quiet=True,
            )
        removed = _keep_edited_removals(service, old)
        binary = _keep_binary_edits(service, old)
    except ValueError as exc:
        if isinstance(exc, CopierError):
            raise _copier_failed(service, target, exc) from None
        # copier reports an answer the new version's validators refuse, or a question it
        # cannot answer with defaults, this way.
        raise copier_answer_error(exc, f"asked by {target}") from None
    except (CopierError, ProcessExecutionError, GitFailed, OSError) as exc:
        raise _copier_failed(service, target, exc) from None
    result = _report(service, target, removed, binary)
    return result, Scratch(service.top).changes()


def _copier_failed(service: _Service, target: str, exc: BaseException) -> TemplateError:
    return TemplateError(
        f"copier could not update the service to {target}: {_first_line(exc)}",
        hint="nothing was changed; check the template source and version",
    )


def _reconcile_adopted(service: _Service, target: str, tmp: Path) -> tuple[str, ...] | None:
    """Move an adopted package's dependencies to what the new version of the package needs.

    An adopted project (`scope: package`) takes no manifest from the template: its go.mod or
    Cargo.toml is its own. When the template's manifest differs between the two versions, the
    project's dependencies are reconciled with the new one, as adopt did with the first (the
    whole OpenTelemetry family moves together). Returns the requirement changes, one line
    each, or None when there was nothing to reconcile.

    Raises:
        TemplateError: the template cannot be rendered, or the dependencies cannot be resolved.
    """
    language = str(service.answers.get("language") or "")
    if service.answers.get("scope") != "package" or language not in _MANIFESTS:
        return None
    manifest = _MANIFESTS[language][0]
    answers = {k: v for k, v in service.answers.items() if not k.startswith("_")}
    renders = {}
    for name, ref in (("old", service.commit), ("new", target)):
        dest = tmp / f"manifests-{name}"
        try:
            with warnings.catch_warnings(), _git.copier_limits():
                warnings.simplefilter("ignore")
                copier.run_copy(
                    service.src,
                    dest,
                    data=answers,
                    vcs_ref=ref,
                    defaults=True,
                    overwrite=True,
                    unsafe=False,
                    quiet=True,
                    exclude=[f"!/{m}" for m in _MANIFESTS[language]],
                )
        except (CopierError, ValueError, ProcessExecutionError, OSError) as exc:
            raise _copier_failed(service, ref, exc) from None
        renders[name] = dest
    if (renders["old"] / manifest).read_bytes() == (renders["new"] / manifest).read_bytes():
        return None
    if language == "go":
        deps, _ = _gomod.reconcile(service.path, renders["new"])
    else:
        package_dir = str(answers.get("telemetry_dir") or "src/telemetry")
        deps, _ = _cargo.reconcile(
            service.path, renders["new"], package_dir, _write_file, create_lock=False
        )
    return tuple(deps)


def _write_file(file: Path, content: bytes) -> None:
    file.write_bytes(content)


def _with_manifests(result: UpdateResult, service: _Service, deps: tuple[str, ...]) -> UpdateResult:
    """The result with the manifests the reconciliation changed among its files."""
    listed = {change.path for change in result.files}
    extra = [
        FileChange(path, "modified" if "M" in code else "added")
        for code, path in _status(service)
        if path in _ALL_MANIFESTS and path not in listed
    ]
    files = tuple(sorted((*result.files, *extra), key=lambda change: change.path))
    return replace(result, files=files, dependencies=deps)


class _OldRender:
    """The version the service is on, rendered afresh with its answers, when first needed.

    Only what copier leaves behind unmerged needs it: a file it deleted, a binary file.
    """

    def __init__(self, service: _Service, dest: Path) -> None:
        self.service = service
        self.dest = dest
        self._done = False

    def read(self, path: str) -> bytes | None:
        """The old version's content of `path`, or None when it had no such file."""
        if not self._done:
            answers = {k: v for k, v in self.service.answers.items() if not k.startswith("_")}
            with _git.copier_limits():
                copier.run_copy(
                    self.service.src,
                    self.dest,
                    data=answers,
                    vcs_ref=self.service.commit,
                    defaults=True,
                    overwrite=True,
                    unsafe=False,
                    quiet=True,
                )
            self._done = True
        file = self.dest / path
        return file.read_bytes() if file.is_file() else None


def _keep_edited_removals(service: _Service, old: _OldRender) -> tuple[str, ...]:
    """Put back each file copier deleted that the service had edited; return their paths.

    copier deletes every file the new template version no longer has, edited or not: the
    edit's hunks cannot apply to a file the template moved away, and copier discards their
    `.rej`. The old version tells edited files from untouched ones. An edited one is restored
    as committed and recorded in the index as a modify/delete conflict, as `git merge` records
    one: stage 1 the old template's file, stage 2 the service's, no stage 3 (deleted by them).
    """
    deleted = [path for code, path in _status(service) if code == " D"]
    kept: list[str] = []
    for path in deleted:
        _git.run(service.path, "checkout", "-q", "HEAD", "--", path)
        base = old.read(path)
        if base == (service.path / path).read_bytes():
            (service.path / path).unlink()  # untouched: the template's removal stands
            continue
        _record_conflict(service, path, base=base, theirs=None)
        kept.append(path)
    return tuple(kept)


def _keep_binary_edits(service: _Service, old: _OldRender) -> tuple[str, ...]:
    """Keep each edit of a binary file that copier dropped; return the conflicted paths.

    copier carries the service's edits as a text diff; for a file git treats as binary the diff
    says only "Binary files differ", `git apply` skips it, and the file is left as the new
    template renders it, the edit gone. So for each file the update changed that git sees as
    binary: untouched by the service (same as the old version), the template's version stands;
    untouched by the template (old and new render alike), the service's version is put back;
    changed by both, the service's version is put back and the index records the conflict
    (stage 1 old, 2 the service's, 3 the template's), as `git merge` records a binary one.
    """
    changed = [path for code, path in _status(service) if code == " M"]
    if not changed:
        return ()
    numstat = _git.run(
        service.top,
        "diff",
        "--numstat",
        "-z",
        "HEAD",
        "--",
        *(_top_path(service, p) for p in changed),
    )
    binary = [
        _service_path(service, entry.split("\t", 2)[2])
        for entry in numstat.split("\0")
        if entry.startswith("-\t-\t")
    ]
    kept: list[str] = []
    for path in binary:
        file = service.path / path
        ours = _git.run_bytes(service.top, "cat-file", "blob", f"HEAD:{_top_path(service, path)}")
        theirs = file.read_bytes()
        base = old.read(path)
        if base == ours:
            continue  # the service never edited it: the template's change stands
        file.write_bytes(ours)
        if base != theirs:
            _record_conflict(service, path, base=base, theirs=theirs)
            kept.append(path)
    return tuple(kept)


def _record_conflict(
    service: _Service, path: str, *, base: bytes | None, theirs: bytes | None
) -> None:
    """Record `path` as unmerged: stage 1 `base`, 2 what HEAD has, 3 `theirs` (when given)."""
    top_path = _top_path(service, path)
    mode, ours, _ = _git.run(service.top, "ls-files", "-s", "--", top_path).split(None, 2)
    entries = [f"0 {'0' * 40}\t{top_path}", f"{mode} {ours} 2\t{top_path}"]
    for stage, content in ((1, base), (3, theirs)):
        if content is not None:
            blob = _git.run_bytes(service.top, "hash-object", "-w", "--stdin", input=content)
            entries.append(f"{mode} {blob.decode().strip()} {stage}\t{top_path}")
    _git.run(
        service.top, "update-index", "-z", "--index-info", input="".join(f"{e}\0" for e in entries)
    )


def _top_path(service: _Service, path: str) -> str:
    return (service.path / path).relative_to(service.top).as_posix()


def _service_path(service: _Service, top_path: str) -> str:
    return (service.top / top_path).relative_to(service.path).as_posix()


def _report(
    service: _Service,
    target: str,
    removed: tuple[str, ...] = (),
    binary: tuple[str, ...] = (),
) -> UpdateResult:
    """Read what copier did from git: changed files, conflicts, and stray `.rej` files."""
    entries = _status(service)
    unmerged = {path for code, path in entries if code in _UNMERGED}
    changes: dict[str, ChangeKind] = {}
    for code, path in entries:
        if path.endswith(".rej"):
            continue
        if path in unmerged:
            changes[path] = "conflict"
        elif "D" in code:
            changes[path] = "deleted"
        elif code in ("??", "!!") or "A" in code:
            changes[path] = "added"
        else:
            changes[path] = "modified"
    for path, kind in changes.items():
        if kind != "deleted" and _has_markers(service.path / path):
            changes[path] = "conflict"
    kept: list[str] = []
    for reject in sorted(_rejects(service)):
        target_file = reject.removesuffix(".rej")
        changes[target_file] = "conflict"
        if not _represented(service.path / reject, service.path / target_file):
            kept.append(reject)
        else:
            (service.path / reject).unlink()
    answers = _read_answers(service.path)
    return UpdateResult(
        path=service.path,
        template=service.src,
        from_version=service.commit,
        to_version=str(answers.get("_commit") or target),
        files=tuple(FileChange(path, kind) for path, kind in sorted(changes.items())),
        conflicts=tuple(sorted(p for p, kind in changes.items() if kind == "conflict")),
        rejects=tuple(kept),
        removed=removed,
        binary=binary,
    )


def _status(service: _Service) -> list[tuple[str, str]]:
    """`git status` of the service as (XY code, path relative to the service root)."""
    out = _git.run(
        service.top,
        "status",
        "--porcelain",
        "-z",
        "--untracked-files=all",
        "--ignored",
        "--no-renames",
        "--",
        service.pathspec,
    )
    prefix = "" if service.pathspec == "." else service.pathspec + "/"
    return [
        (entry[:2], entry[3:].removeprefix(prefix)) for entry in out.split("\0") if len(entry) > 3
    ]


def _rejects(service: _Service) -> list[str]:
    """Untracked `.rej` files in the service, ignored ones included (`*.rej` is often ignored)."""
    out = _git.run(service.path, "ls-files", "--others", "-z", "--", "*.rej")
    return [path for path in out.split("\0") if path]


def _has_markers(file: Path) -> bool:
    """Whether a file holds a complete set of conflict markers."""
    try:
        lines = file.read_bytes().splitlines()
    except OSError:
        return False
    start = next((i for i, ln in enumerate(lines) if ln.startswith(b"<<<<<<< ")), None)
    if start is None:
        return False
    middle = next((i for i, ln in enumerate(lines) if i > start and ln == b"======="), None)
    return middle is not None and any(ln.startswith(b">>>>>>> ") for ln in lines[middle:])


def _represented(reject: Path, target: Path) -> bool:
    """Whether every line a `.rej` file wanted to add is in the target, inside markers."""
    if not target.is_file() or not _has_markers(target):
        return False
    have = set(target.read_bytes().splitlines())
    wanted = [
        line[1:]
        for line in reject.read_bytes().splitlines()
        if line.startswith(b"+") and not line.startswith(b"+++")
    ]
    return all(line in have for line in wanted)


def _git_url(src: str) -> str:
    """What `git` itself accepts for a copier template URL (`git+`, `gh:` and `gl:` spellings)."""
    if src.startswith("gh:"):
        return f"https://github.com/{src[3:]}"
    if src.startswith("gl:"):
        return f"https://gitlab.com/{src[3:]}"
    if src.startswith("~"):
        return str(Path(src).expanduser())  # copier expands it; git does not
    return src.removeprefix("git+")


def _first_line(exc: BaseException) -> str:
    stderr = getattr(exc, "stderr", None)
    text = stderr if isinstance(stderr, str) and stderr.strip() else str(exc)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    fatal = [ln for ln in lines if "fatal:" in ln]
    return (fatal or lines or [type(exc).__name__])[0].split("fatal:", 1)[-1].strip()


def _version(ref: str | None) -> Version | None:
    """The PEP 440 version of a tag, or of a `git describe` name (`v1.2.0-3-gabc1234`)."""
    if not ref:
        return None
    described = _DESCRIBE.match(ref)
    try:
        if described:
            return Version(f"{described['tag']}.post{described['distance']}")
        return Version(ref)
    except InvalidVersion:
        return None


def _releases(tags: Iterable[str]) -> list[tuple[Version, str]]:
    found = []
    for tag in tags:
        version = _version(tag)
        if version is not None and not version.is_prerelease and not _DESCRIBE.match(tag):
            found.append((version, tag))
    return sorted(found)


def _newest(tags: Sequence[str], count: int) -> list[str]:
    return [tag for _, tag in reversed(_releases(tags)[-count:])]


def _same_version(current: str, target: str) -> bool:
    if current == target:
        return True
    a, b = _version(current), _version(target)
    return a is not None and b is not None and a == b and not _DESCRIBE.match(target)


def _behind(current: str | None, latest: str) -> bool:
    version = _version(current)
    if version is None:
        return current != latest
    return Version(latest) > version
