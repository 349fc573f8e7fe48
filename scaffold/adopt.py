"""`scaffold adopt`: add the instrumentation part of a template to an existing Go module or crate.

The flow: refuse what cannot be adopted safely (not a git repository, uncommitted changes, an
answers file already there) -> detect the language and derive the answers from go.mod or
Cargo.toml -> render the template with `scope: package` (the telemetry package and the answers
file, plus the template's dependency manifests to read versions from) into a scratch directory
-> refuse when any file to copy already exists or a path leads out of the repository -> copy the
package and `.copier-answers.yml` -> reconcile the dependencies (the whole OpenTelemetry family
moves to the template's versions, see `scaffold._gomod` and `scaffold._cargo`) -> stage any
written file a `.gitignore` would hide -> build the result (`go build` + `go vet`, `cargo check`)
-> return the lines that wire the package in.

Nothing is committed: the result is a change in the work tree to review and commit. When any step
fails, the build included, or a signal arrives, every file written or edited is put back and the
index is as it was: `git status` shows what it showed before.

The answers file records `scope: package`, and the template excludes everything but the package
and the answers file in that scope, so later updates (`scaffold update`, plain `copier update`,
Renovate) render nothing else: the project's own main, README and tests are never merged with
the template's.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from scaffold import _cargo, _git, _gomod
from scaffold._git import GitFailed
from scaffold._signals import deferred
from scaffold.errors import (
    AnswerError,
    DestinationError,
    DirtyRepoError,
    GitError,
    TemplateError,
    VerifyError,
)
from scaffold.render import NewService
from scaffold.update import ANSWERS_FILE

__all__ = ["Adopt", "AdoptResult", "WiringStep", "detect_language"]

Language = Literal["go", "rust"]

# Where the telemetry package of a rendered service is, per language, when the template has no
# `telemetry_dir` question (or the answer is not given): what an adopted project copies.
TELEMETRY_DIRS: Mapping[str, str] = {"go": "internal/telemetry", "rust": "src/telemetry"}
# Files adopt edits in place (saved first, put back on failure).
_MANIFESTS: Mapping[str, tuple[str, ...]] = {
    "go": ("go.mod", "go.sum"),
    "rust": ("Cargo.toml", "Cargo.lock"),
}
# The routers whose route template `telemetry.SetRoute` takes, by the module that provides them.
_GO_ROUTERS: Mapping[str, str] = {
    "github.com/gorilla/mux": "gorilla/mux",
    "github.com/go-chi/chi/v5": "chi",
    "github.com/go-chi/chi": "chi",
}
# Server instrumentation that makes a second server span beside `telemetry.Middleware`.
_GO_SERVER_WRAPPERS = re.compile(
    r"\b(otelhttp\.(NewHandler|NewMiddleware)|otelmux\.Middleware|otelchi\.Middleware|"
    r"otelgin\.Middleware|otelecho\.Middleware)\("
)
_MODULE_LINE = re.compile(r"^\s*module\s+(\"[^\"]+\"|`[^`]+`|\S+)", re.M)
_MAJOR_SUFFIX = re.compile(r"^v\d+$")


@dataclass(frozen=True)
class WiringStep:
    """A piece of code to add to the project to turn the telemetry on.

    Attributes:
        key: what it does: `import`, `setup`, `handler`, `exit`, `route`, `module`, `layer`.
        where: where it goes and why, one line, for a comment above the code.
        code: the lines to paste, as they are.
    """

    key: str
    where: str
    code: tuple[str, ...]


@dataclass(frozen=True)
class AdoptResult:
    """What `Adopt.run` did.

    Attributes:
        path: the project root.
        language: `go` or `rust`.
        answers: the answers the telemetry package was rendered with (also in the answers file).
        template: the template source (`_src_path`).
        ref: the template version (`_commit`), None for a plain directory.
        files: files written, relative to `path`, `.copier-answers.yml` included.
        manifests: existing files edited (go.mod, go.sum, Cargo.toml) or added (Cargo.lock).
        dependencies: one line per requirement added or moved (`module old -> new`).
        wiring: the code to add to the project's own code to turn the telemetry on.
        notes: what the user should know (a raised go directive, a kept version).
        warnings: what needs the user's attention (server handlers already instrumented).
        staged: written files a `.gitignore` rule would hide, added with `git add -f`.
        verified: the build commands that passed; empty with `verify=False`.
    """

    path: Path
    language: Language
    answers: Mapping[str, Any]
    template: str
    ref: str | None
    files: tuple[str, ...]
    manifests: tuple[str, ...]
    dependencies: tuple[str, ...]
    wiring: tuple[WiringStep, ...]
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    staged: tuple[str, ...] = ()
    verified: tuple[str, ...] = ()

    def summary(self) -> list[str]:
        """A short report, one line each, for a terminal."""
        lines = [
            f"Added the {self.language} telemetry package to {self.path}: "
            f"{len(self.files)} file(s), {len(self.dependencies)} dependency change(s)"
        ]
        lines += [f"  added     {file}" for file in self.files]
        lines += [f"  changed   {file}" for file in self.manifests]
        if self.dependencies:
            lines.append("Dependencies:")
            lines += [f"  {dep}" for dep in self.dependencies]
        lines += [f"Note: {note}" for note in self.notes]
        if self.staged:
            lines.append(
                f"Note: a .gitignore rule hides {', '.join(self.staged[:3])}"
                + (f" and {len(self.staged) - 3} more" if len(self.staged) > 3 else "")
                + ": staged with `git add -f`, so the commit holds it and later clones can update"
            )
        lines += [f"Warning: {warning}" for warning in self.warnings]
        if self.verified:
            verb = "passes" if len(self.verified) == 1 else "pass"
            lines.append(f"Verified: {' and '.join(f'`{c}`' for c in self.verified)} {verb}.")
        else:
            lines.append("Not verified (--no-verify): build it before you commit.")
        lines.append("Wire it in:")
        for step in self.wiring:
            lines.append(f"  // {step.where}")
            lines += [f"  {line}" if line else "" for line in step.code]
        lines.append("Then build and test, review the change with `git diff`, and commit it.")
        return lines


@dataclass
class Adopt:
    """One `scaffold adopt` operation: its options, and `run()` to carry it out.

    Attributes:
        path: the root of the Go module (go.mod) or crate (Cargo.toml), inside a git repository.
        language: `go` or `rust`; None to detect it from go.mod or Cargo.toml.
        template: template source (path or git URL); None for the bundled set. A git source
            with version tags makes the project updatable with `scaffold update`.
        vcs_ref: template version (git tag or commit) for git sources.
        data: answers given up front; `service_name` overrides the derived name and
            `telemetry_dir` puts the package somewhere else than `TELEMETRY_DIRS[language]`.
        package: for a Cargo workspace root, the member crate to adopt into.
        verify: build the result (and put everything back when it does not build).
    """

    path: Path = field(default_factory=Path)
    language: str | None = None
    template: str | None = None
    vcs_ref: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    package: str | None = None
    verify: bool = True

    def run(self) -> AdoptResult:
        """Add the telemetry package, its dependencies and the answers file to the project.

        Raises:
            ScaffoldError: (a subclass) nothing is changed. `GitError` for a path outside a
                git repository or without commits, `DirtyRepoError` for uncommitted changes,
                `DestinationError` for an already generated project, files that would be
                overwritten or an unreadable manifest, `AnswerError` for an undetectable
                language or an unusable derived answer, `TemplateError` for a template or a
                dependency resolution that fails, `VerifyError` when the result does not build.
        """
        path = self.path.expanduser().absolute()
        if not path.is_dir():
            raise DestinationError(
                f"{path} is not a directory", hint="pass the root of a Go module or Cargo crate"
            )
        path = _cargo.member(path, self.package) if self.language != "go" else path
        top = _refuse_unusable_repo(path)
        if (path / ANSWERS_FILE).exists():
            raise DestinationError(
                f"{path} already has {ANSWERS_FILE}: it was made or adopted from a template",
                hint="run `scaffold update` to take a new template version",
            )
        language = detect_language(path, self.language)
        answers = _merge_answers(derive_answers(path, language), self.data, language)
        with tempfile.TemporaryDirectory(prefix="scaffold-adopt-") as tmp:
            scratch = Path(tmp) / "package"
            rendered = _render(self, scratch, answers, language)
            package_dir = _package_dir(rendered.answers, language)
            files = _telemetry_files(scratch, package_dir)
            _refuse_existing(path, files)
            _refuse_foreign_package(path, package_dir, language)
            _refuse_outside(path, top, [*files, *_MANIFESTS[language]])
            if language == "go":
                _require_go()
            else:
                _cargo.check_edition(path)
            undo = _Undo(top)
            for manifest in _MANIFESTS[language]:
                undo.save(path / manifest)
            if language == "rust":
                root = _cargo.workspace_root(path)
                for manifest in _MANIFESTS[language]:
                    undo.save(root / manifest)
            try:
                for rel in files:
                    undo.write(path / rel, (scratch / rel).read_bytes())
                if language == "go":
                    deps, notes = _gomod.reconcile(path, scratch)
                else:
                    deps, notes = _cargo.reconcile(path, scratch, package_dir, undo.write)
                staged = undo.stage_ignored(path, files)
                verified, lints = (
                    self._verify(path, language, package_dir, deps) if self.verify else ((), ())
                )
            except VerifyError as error:
                with deferred():
                    undo.rollback()
                raise _broken_before(path, language) or error from None
            except BaseException:
                with deferred():
                    undo.rollback()
                raise
        if language == "rust":
            notes += _cargo.doc_notes(path, rendered.answers, package_dir)
        return AdoptResult(
            path=path,
            language=language,
            answers={k: v for k, v in rendered.answers.items() if not k.startswith("_")},
            template=rendered.template,
            ref=rendered.ref,
            files=tuple(files),
            manifests=tuple(undo.edited(path, files)),
            dependencies=tuple(deps),
            wiring=tuple(_wiring(path, language, rendered.answers, package_dir)),
            notes=tuple(notes),
            warnings=tuple(_warnings(path, language, package_dir) + _lint_warnings(lints)),
            staged=tuple(staged),
            verified=verified,
        )

    def _verify(
        self, path: Path, language: Language, package_dir: str, deps: Sequence[str]
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Build the result; the commands that passed, and the package's compiler warnings.

        Raises:
            VerifyError: it does not build; the message holds the first compiler error.
        """
        if language == "rust":
            module = next(s for s in _cargo.wiring(path, {}, package_dir) if s.key == "module")
            checked = _cargo.verify(path, package_dir, module.code, deps)
            return checked.commands, checked.warnings
        failed = _gomod.verify(path, package_dir)
        if failed is not None:
            command, run = failed
            raise _go_verify_error(path, command, run.stderr or run.stdout, deps)
        return ("go build ./...", f"go vet ./{package_dir}/..."), ()


def _lint_warnings(lints: Sequence[str]) -> list[str]:
    """One line for the compiler warnings the package raised under the project's lint settings."""
    if not lints:
        return []
    more = f" (and {len(lints) - 1} more)" if len(lints) > 1 else ""
    return [
        f"the telemetry package raised {len(lints)} compiler warning(s) under the project's "
        f"lint settings: {lints[0]}{more}; tell the platform team"
    ]


def _broken_before(path: Path, language: Language) -> VerifyError | None:
    """The error to report when the project, as restored, does not build either; else None.

    Then the failure is not adopt's, and the user has to know that first.
    """
    if language == "rust":
        return _cargo.broken_before(path)
    failed = _gomod.verify(path, None)
    if failed is None or failed[0] != "go build ./...":
        return None
    command, run = failed
    first = _gomod.first_error(run.stderr or run.stdout)
    return VerifyError(
        f"{path} does not build even without the telemetry package: {first}; nothing was changed",
        command=command,
        first_error=first,
        output=run.stderr,
        hint="make `go build ./...` pass, commit, and adopt again",
    )


def _go_verify_error(path: Path, command: str, output: str, deps: Sequence[str]) -> VerifyError:
    first = _gomod.first_error(output)
    dependency = _gomod.dependency_of(first)
    moved = _gomod.moved_module(path, first, deps)
    if dependency:
        why = f"the dependency {dependency} does not build with the reconciled versions"
        hint = (
            f"move {dependency.split('@')[0]} to a release built for the template's "
            "OpenTelemetry versions (`go get MODULE@VERSION`), commit, and adopt again"
        )
    elif moved is None and "telemetry" in first.split(":", 1)[0]:
        why = "the telemetry package does not build in this module"
        hint = "report it to the platform team with the error; --no-verify keeps the change"
    else:
        why = "the module's own code does not build with the reconciled dependencies"
        if moved:
            first = f"{first} ({moved})"
        hint = (
            "update that call for the new version (see the module's release notes), commit, "
            "and adopt again; or adopt with --no-verify and fix it afterwards"
        )
    return VerifyError(
        f"`{command}` failed after adding the telemetry package: {why}: {first}; "
        "nothing was changed",
        command=command,
        first_error=first,
        output=output,
        hint=hint,
    )


def _render(adopt: Adopt, scratch: Path, answers: Mapping[str, Any], language: Language) -> Any:
    """Render the package scope of the template, with the template's manifests beside it."""
    try:
        return NewService(
            dest=scratch,
            data=answers,
            template=adopt.template,
            vcs_ref=adopt.vcs_ref,
            use_defaults=True,
            git_init=False,
            include=_MANIFESTS[language],
        ).run()
    except AnswerError as exc:
        if exc.question == "service_name" and "service_name" not in adopt.data:
            raise AnswerError(
                "service_name",
                f"{answers['service_name']!r} (derived from the project) is not a valid "
                f"service name ({exc.problem}); pass --data service_name=NAME",
            ) from None
        raise


# -- detection and answers --------------------------------------------------------------------


def detect_language(path: Path, language: str | None = None) -> Language:
    """The language of the project at `path`: the given one, or from go.mod / Cargo.toml.

    Raises:
        AnswerError: the language is unknown, or the project has both or neither manifest.
    """
    has_go = (path / "go.mod").is_file()
    has_rust = (path / "Cargo.toml").is_file()
    if language is not None:
        if language not in ("go", "rust"):
            raise AnswerError("language", f"{language!r} is not one of go, rust")
        manifest = "go.mod" if language == "go" else "Cargo.toml"
        if not (path / manifest).is_file():
            raise DestinationError(
                f"{path} has no {manifest}", hint="pass the root of the Go module or Cargo crate"
            )
        return "go" if language == "go" else "rust"
    if has_go and has_rust:
        raise AnswerError(
            "language", f"{path} has both go.mod and Cargo.toml; pass --lang go or --lang rust"
        )
    if not (has_go or has_rust):
        raise AnswerError(
            "language",
            f"{path} has neither go.mod nor Cargo.toml; pass the root of the Go module or "
            "Cargo crate, or --lang go|rust",
        )
    return "go" if has_go else "rust"


def derive_answers(path: Path, language: Language) -> dict[str, Any]:
    """The answers a project's manifest gives: the module path (Go) and a service name.

    Raises:
        DestinationError: the manifest cannot be read or names no module or package.
    """
    if language == "go":
        module = go_module(path)
        return {"language": "go", "module": module, "service_name": service_name_of(module)}
    return {"language": "rust", "service_name": _cargo.package_name(path)}


def go_module(path: Path) -> str:
    """The module path declared by `path/go.mod`."""
    gomod = path / "go.mod"
    try:
        text = gomod.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DestinationError(f"cannot read {gomod}: {exc}", hint="fix go.mod") from None
    text = re.sub(r"//.*", "", text)
    found = _MODULE_LINE.search(text)
    if found is None:
        raise DestinationError(f"{gomod} has no module line", hint="run `go mod init MODULE`")
    return found.group(1).strip('"`')


def service_name_of(module: str) -> str:
    """The last element of a module path, without a major version suffix (`/v2`)."""
    parts = [p for p in module.split("/") if p]
    if len(parts) > 1 and _MAJOR_SUFFIX.match(parts[-1]):
        parts.pop()
    return parts[-1] if parts else module


def _merge_answers(
    derived: Mapping[str, Any], data: Mapping[str, Any], language: Language
) -> dict[str, Any]:
    given = data.get("language")
    if given is not None and given != language:
        raise AnswerError("language", f"the project is {language}, not {given!r}")
    module = data.get("module")
    if language == "go" and module is not None and module != derived["module"]:
        raise AnswerError(
            "module",
            f"must be the module path of go.mod ({derived['module']}), not {module!r}; "
            "the telemetry package imports itself by it",
        )
    scope = data.get("scope", "package")
    if scope != "package":
        raise AnswerError("scope", f"adopt takes the package alone (scope: package), not {scope!r}")
    return {**derived, **data, "language": language, "scope": "package"}


# -- git ---------------------------------------------------------------------------------------


def _refuse_unusable_repo(path: Path) -> Path:
    """Refuse a project outside git, without commits, or with uncommitted changes; return its top."""
    try:
        top = Path(_git.run(path, "rev-parse", "--show-toplevel").strip())
    except GitFailed:
        raise GitError(
            f"{path} is not in a git repository; adopt needs a clean tree to show its change "
            "and to update later",
            hint="run `git init && git add -A && git commit -m 'Import project'` first",
        ) from None
    if not _git.ok(top, "rev-parse", "--verify", "--quiet", "HEAD"):
        raise GitError(
            f"the git repository at {top} has no commits yet", hint="commit the project first"
        )
    status = _git.run(path, "status", "--porcelain", "-z", "--", ".")
    files = [entry[3:] for entry in status.split("\0") if len(entry) > 3]
    if files:
        raise DirtyRepoError(path, files)
    return top


def _refuse_outside(path: Path, top: Path, files: Collection[str]) -> None:
    """Refuse to write any file whose real location is outside the repository.

    A committed symbolic link (`internal -> ../elsewhere`, or a go.mod that links to a shared
    one) would carry the writes out of the repository, where nothing shows them and nothing
    can undo them. Every path is resolved, links in its directories and in the file itself
    followed, before anything is written.
    """
    root = top.resolve()
    outside = sorted(rel for rel in files if not (path / rel).resolve().is_relative_to(root))
    if outside:
        shown = ", ".join(f"{rel} -> {(path / rel).resolve()}" for rel in outside[:3])
        more = f" (and {len(outside) - 3} more)" if len(outside) > 3 else ""
        raise DestinationError(
            f"{len(outside)} file(s) adopt would write lead out of the repository {root} "
            f"through a symbolic link: {shown}{more}",
            hint="adopt writes only inside the repository; replace the link with a directory "
            "or pass --package-dir with another place",
        )


# -- files ---------------------------------------------------------------------------------------


def _package_dir(answers: Mapping[str, Any], language: Language) -> str:
    """Where the telemetry package was rendered: the `telemetry_dir` answer, or the default."""
    chosen = answers.get("telemetry_dir")
    return str(chosen) if chosen else TELEMETRY_DIRS[language]


def _telemetry_files(scratch: Path, package_dir: str) -> list[str]:
    """The rendered files to copy: the telemetry package and the answers file, sorted."""
    package = scratch / package_dir
    files = [p.relative_to(scratch).as_posix() for p in package.rglob("*") if p.is_file()]
    if not files or not (scratch / ANSWERS_FILE).is_file():
        raise TemplateError(
            f"the template rendered no {package_dir} package or no {ANSWERS_FILE}",
            hint="adopt needs a template set with the otel-scaffold layout",
        )
    return [*sorted(files), ANSWERS_FILE]


def _refuse_existing(path: Path, files: Sequence[str]) -> None:
    existing = [rel for rel in files if (path / rel).exists() or (path / rel).is_symlink()]
    if existing:
        raise DestinationError(
            f"{len(existing)} file(s) the telemetry package needs already exist in "
            f"{path}: {', '.join(existing[:5])}"
            + (f" (and {len(existing) - 5} more)" if len(existing) > 5 else ""),
            hint="adopt never overwrites a file; move or remove them, commit, and retry",
        )


def _refuse_foreign_package(path: Path, package_dir: str, language: Language) -> None:
    """Refuse a package directory the project already uses for code of its own.

    Go: a directory holding Go files (two packages cannot share it). Rust: `src/NAME.rs` next
    to `src/NAME/`, which rustc refuses as two files for one module.
    """
    target = path / package_dir
    if language == "rust":
        single = target.with_name(target.name + ".rs")
        if single.exists() or single.is_symlink():
            rel = f"{package_dir}.rs"
            raise DestinationError(
                f"{rel} already exists: the crate has a module {target.name} of its own",
                hint="pass --package-dir with another module directory, like src/otel",
            )
        return
    if not target.is_dir():
        return
    own = sorted(p.name for p in target.glob("*.go") if p.is_file())
    if own:
        raise DestinationError(
            f"{package_dir} already holds Go files ({', '.join(own[:3])}"
            + (", ..." if len(own) > 3 else "")
            + "); the telemetry package needs a directory of its own",
            hint="pass --package-dir with a new directory, like internal/telemetry",
        )


class _Undo:
    """Files written or edited, with their previous content, and index entries added.

    `rollback` puts them all back: the tree was clean before adopt, so afterwards `git status`
    shows exactly what it showed before.
    """

    def __init__(self, top: Path) -> None:
        self._top = top
        self._saved: dict[Path, bytes | None] = {}
        self._dirs: list[Path] = []
        self._staged: list[str] = []

    def save(self, file: Path) -> None:
        if file not in self._saved:
            self._saved[file] = file.read_bytes() if file.exists() else None

    def write(self, file: Path, content: bytes) -> None:
        missing = [p for p in (file.parent, *file.parent.parents) if not p.exists()]
        self._dirs.extend(missing)
        file.parent.mkdir(parents=True, exist_ok=True)
        self.save(file)
        file.write_bytes(content)

    def stage_ignored(self, root: Path, files: Sequence[str]) -> list[str]:
        """`git add -f` the written files a `.gitignore` rule hides; return them.

        Without it the answers file (a `.*` rule hides it) or the package would be left out of
        the commit, and no clone could update them.
        """
        paths = [(root / rel).relative_to(self._top).as_posix() for rel in files]
        listed = _git.run(
            self._top, "check-ignore", "-z", "--stdin", input="\0".join(paths) + "\0", check=False
        )
        ignored = [p for p in listed.split("\0") if p]
        if ignored:
            self._staged.extend(ignored)
            _git.run(
                self._top,
                "add",
                "-f",
                "--pathspec-from-file=-",
                "--pathspec-file-nul",
                input="".join(f"{p}\0" for p in ignored),
            )
        return [(self._top / p).relative_to(root).as_posix() for p in ignored]

    def edited(self, root: Path, copied: Collection[str]) -> list[str]:
        """Files other than `copied` that were added or changed, relative to `root`.

        A workspace's own Cargo.toml and Cargo.lock lie above a member: `../../Cargo.toml`.
        """
        out = []
        for file, before in self._saved.items():
            rel = Path(os.path.relpath(file, root)).as_posix()
            if rel in copied or not file.exists():
                continue
            if before is None or file.read_bytes() != before:
                out.append(rel)
        return sorted(out)

    def rollback(self) -> None:
        if self._staged:
            _git.run(
                self._top,
                "reset",
                "-q",
                "--pathspec-from-file=-",
                "--pathspec-file-nul",
                input="".join(f"{p}\0" for p in self._staged),
                check=False,
            )
        for file, before in self._saved.items():
            try:
                if before is None:
                    file.unlink(missing_ok=True)
                else:
                    file.write_bytes(before)
            except OSError:
                continue
        for directory in sorted(set(self._dirs), key=lambda p: len(p.parts), reverse=True):
            shutil.rmtree(directory, ignore_errors=True)


# -- Go ------------------------------------------------------------------------------------------


def _require_go() -> None:
    if shutil.which("go") is None:
        raise DestinationError(
            "go is not installed; adopt reconciles go.mod with `go get` and builds the result",
            hint="install Go 1.26 or newer and retry",
        )


def _warnings(path: Path, language: Language, package_dir: str) -> list[str]:
    """Server instrumentation the project already has, which would double every server span."""
    if language != "go":
        return _cargo.warnings(path, package_dir)
    found: list[str] = []
    for file in sorted(path.rglob("*.go")):
        rel = file.relative_to(path)
        if rel.as_posix().startswith(package_dir + "/") or {"vendor", "testdata"} & set(rel.parts):
            continue
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            match = _GO_SERVER_WRAPPERS.search(line)
            if match:
                found.append(f"{rel.as_posix()}:{number} ({match.group(1)})")
    if not found:
        return []
    shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
    return [
        f"the code already instruments HTTP servers at {shown}: with telemetry.Middleware as "
        "well, every request gets two server spans; remove those wrappers where you add it"
    ]


# -- wiring --------------------------------------------------------------------------------------


def _wiring(
    path: Path, language: Language, answers: Mapping[str, Any], package_dir: str
) -> list[WiringStep]:
    if language == "rust":
        return _cargo.wiring(path, answers, package_dir)
    # The package is named telemetry wherever it lives; name the import when the directory
    # says otherwise.
    name = "" if package_dir.rsplit("/", 1)[-1] == "telemetry" else "telemetry "
    steps = [
        WiringStep(
            "import", "in main.go's imports", (f'{name}"{answers["module"]}/{package_dir}"',)
        ),
        WiringStep(
            "setup",
            "first thing in main: set up, and flush when main returns",
            ("stopTelemetry := telemetry.Start()", "defer stopTelemetry()"),
        ),
        WiringStep(
            "handler",
            "wrap the handler where the server takes it (http.DefaultServeMux where it takes nil)",
            ("telemetry.Middleware()(handler)",),
        ),
        WiringStep(
            "exit",
            "os.Exit and log.Fatal skip deferred calls: make the call, flush, then exit",
            ("serveErr := server.ListenAndServe()", "stopTelemetry()", "log.Fatal(serveErr)"),
        ),
    ]
    for router in dict.fromkeys(_GO_ROUTERS[m] for m in _gomod.module_requires(path, _GO_ROUTERS)):
        steps.append(_route_step(router))
    return steps


def _route_step(router: str) -> WiringStep:
    """How a gorilla/mux or chi router tells the telemetry which route matched."""
    body: tuple[str, ...]
    if router == "gorilla/mux":
        body = (
            "\t\tif route := mux.CurrentRoute(r); route != nil {",
            "\t\t\tif template, err := route.GetPathTemplate(); err == nil {",
            "\t\t\t\ttelemetry.SetRoute(r, template)",
            "\t\t\t}",
            "\t\t}",
            "\t\tnext.ServeHTTP(w, r)",
        )
        where = "gorilla/mux: name spans and metrics by the route template (after routes are added)"
    else:
        body = (
            "\t\tnext.ServeHTTP(w, r)",
            "\t\ttelemetry.SetRoute(r, chi.RouteContext(r.Context()).RoutePattern())",
        )
        where = "chi: name spans and metrics by the route pattern (before routes are added)"
    code = (
        "router.Use(func(next http.Handler) http.Handler {",
        "\treturn http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {",
        *body,
        "\t})",
        "})",
    )
    return WiringStep("route", where, code)
