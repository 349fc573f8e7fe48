"""`scaffold adopt`: add the instrumentation part of a template to an existing Go module or crate.

The flow: refuse what cannot be adopted safely (not a git repository, uncommitted changes, an
answers file already there) -> detect the language and derive the answers from go.mod or
Cargo.toml -> render the whole service into a scratch directory with `NewService` -> refuse when
any file to copy already exists -> copy only the telemetry package (at the `telemetry_dir`
answer, `--package-dir`) and `.copier-answers.yml` -> add the dependencies the telemetry package
needs (`go mod edit` + `go mod tidy`, or a comment-preserving edit of Cargo.toml) -> return the
lines that wire it in.

Nothing is committed: the result is a change in the work tree to review and commit. When a step
fails, every file written so far is put back as it was.

A later `scaffold update` (`copier update`) treats the files of the template the repository
never had (cmd/, README.md, main.rs, ...) as deleted on purpose and keeps them absent.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Array, InlineTable, Table

from scaffold import _git
from scaffold._git import GitFailed
from scaffold._signals import deferred
from scaffold.errors import (
    AnswerError,
    DestinationError,
    DirtyRepoError,
    GitError,
    TemplateError,
)
from scaffold.render import NewService
from scaffold.update import ANSWERS_FILE

__all__ = ["Adopt", "AdoptResult", "detect_language"]

Language = Literal["go", "rust"]

# Where the telemetry package of a rendered service is, per language, when the template has no
# `telemetry_dir` question (or the answer is not given): what an adopted project copies.
TELEMETRY_DIRS: Mapping[str, str] = {"go": "internal/telemetry", "rust": "src/telemetry"}
# The lowest Rust edition the telemetry code compiles with (a missing edition means 2015).
MIN_EDITION = 2021
# Files adopt edits in place (saved first, put back on failure).
_MANIFESTS: Mapping[str, tuple[str, ...]] = {
    "go": ("go.mod", "go.sum"),
    "rust": ("Cargo.toml", "Cargo.lock"),
}
_DEP_TABLES = ("dependencies", "dev-dependencies")
_MODULE_LINE = re.compile(r"^\s*module\s+(\"[^\"]+\"|`[^`]+`|\S+)", re.M)
_MAJOR_SUFFIX = re.compile(r"^v\d+$")


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
        dependencies: one line per dependency added or changed (`name version`).
        wiring: the lines to add to the project's own code to turn the telemetry on.
        notes: what the user should know (versions kept, a Cargo.lock left to cargo).
    """

    path: Path
    language: Language
    answers: Mapping[str, Any]
    template: str
    ref: str | None
    files: tuple[str, ...]
    manifests: tuple[str, ...]
    dependencies: tuple[str, ...]
    wiring: tuple[str, ...]
    notes: tuple[str, ...] = ()

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
        lines.append("Wire it in:")
        lines += [f"  {line}" for line in self.wiring]
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
    """

    path: Path = field(default_factory=Path)
    language: str | None = None
    template: str | None = None
    vcs_ref: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def run(self) -> AdoptResult:
        """Add the telemetry package, its dependencies and the answers file to the project.

        Raises:
            ScaffoldError: (a subclass) nothing is changed. `GitError` for a path outside a
                git repository or without commits, `DirtyRepoError` for uncommitted changes,
                `DestinationError` for an already generated project, files that would be
                overwritten or an unreadable manifest, `AnswerError` for an undetectable
                language or an unusable derived answer, `TemplateError` for a template or a
                dependency resolution that fails.
        """
        path = self.path.expanduser().absolute()
        if not path.is_dir():
            raise DestinationError(
                f"{path} is not a directory", hint="pass the root of a Go module or Cargo crate"
            )
        top = _refuse_unusable_repo(path)
        if (path / ANSWERS_FILE).exists():
            raise DestinationError(
                f"{path} already has {ANSWERS_FILE}: it was made or adopted from a template",
                hint="run `scaffold update` to take a new template version",
            )
        language = detect_language(path, self.language)
        derived = derive_answers(path, language)
        answers = _merge_answers(derived, self.data, language)
        with tempfile.TemporaryDirectory(prefix="scaffold-adopt-") as tmp:
            scratch = Path(tmp) / "service"
            try:
                rendered = NewService(
                    dest=scratch,
                    data=answers,
                    template=self.template,
                    vcs_ref=self.vcs_ref,
                    use_defaults=True,
                    git_init=False,
                ).run()
            except AnswerError as exc:
                if exc.question == "service_name" and "service_name" not in self.data:
                    raise AnswerError(
                        "service_name",
                        f"{answers['service_name']!r} (derived from the project) is not a valid "
                        f"service name ({exc.problem}); pass --data service_name=NAME",
                    ) from None
                raise
            package_dir = _package_dir(rendered.answers, language)
            files = _telemetry_files(scratch, package_dir)
            existing = [rel for rel in files if (path / rel).exists() or (path / rel).is_symlink()]
            if existing:
                raise DestinationError(
                    f"{len(existing)} file(s) the telemetry package needs already exist in "
                    f"{path}: {', '.join(existing[:5])}"
                    + (f" (and {len(existing) - 5} more)" if len(existing) > 5 else ""),
                    hint="adopt never overwrites a file; move or remove them, commit, and retry",
                )
            _refuse_foreign_package(path, package_dir, language)
            _refuse_outside(path, top, [*files, *_MANIFESTS[language]])
            if language == "go":
                _require_go()
            else:
                _check_edition(path)
            undo = _Undo()
            for manifest in _MANIFESTS[language]:
                undo.save(path / manifest)
            try:
                for rel in files:
                    undo.write(path / rel, (scratch / rel).read_bytes())
                if language == "go":
                    deps, notes = _go_dependencies(path, scratch)
                else:
                    deps, notes = _rust_dependencies(path, scratch, undo)
            except BaseException:
                with deferred():
                    undo.rollback()
                raise
        if language == "rust" and (path / "src" / "lib.rs").is_file():
            crate = str(rendered.answers["service_name"]).replace("-", "_")
            if crate != _lib_name(path):
                notes.append(
                    f"the doc examples in {package_dir} import `{crate}`, but the library is "
                    f"`{_lib_name(path)}`: rename them or `cargo test --doc` fails"
                )
        return AdoptResult(
            path=path,
            language=language,
            answers={k: v for k, v in rendered.answers.items() if not k.startswith("_")},
            template=rendered.template,
            ref=rendered.ref,
            files=tuple(files),
            manifests=tuple(undo.edited(path, files)),
            dependencies=tuple(deps),
            wiring=tuple(_wiring(path, language, answers, package_dir)),
            notes=tuple(notes),
        )


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
    package = _cargo_document(path / "Cargo.toml").get("package")
    name = package.get("name") if isinstance(package, Mapping) else None
    if not isinstance(name, str) or not name:
        raise DestinationError(
            f"{path / 'Cargo.toml'} has no [package] name (a workspace root?)",
            hint="pass the directory of the member crate to instrument",
        )
    return {"language": "rust", "service_name": name}


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
    return {**derived, **data, "language": language}


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
    """Files written or edited, with their previous content, to put back on failure."""

    def __init__(self) -> None:
        self._saved: dict[Path, bytes | None] = {}
        self._dirs: list[Path] = []
        self._new: set[Path] = set()

    def save(self, file: Path) -> None:
        if file not in self._saved:
            self._saved[file] = file.read_bytes() if file.exists() else None

    def write(self, file: Path, content: bytes) -> None:
        missing = [p for p in (file.parent, *file.parent.parents) if not p.exists()]
        self._dirs.extend(missing)
        file.parent.mkdir(parents=True, exist_ok=True)
        self.save(file)
        self._new.add(file)
        file.write_bytes(content)

    def edited(self, root: Path, copied: Collection[str]) -> list[str]:
        """Files other than `copied` that were added or changed, relative to `root`."""
        out = []
        for file, before in self._saved.items():
            rel = file.relative_to(root).as_posix()
            if rel in copied or not file.exists():
                continue
            if before is None or file.read_bytes() != before:
                out.append(rel)
        return sorted(out)

    def rollback(self) -> None:
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
            "go is not installed; adopt edits go.mod with `go mod edit` and `go mod tidy`",
            hint="install Go 1.26 or newer and retry",
        )


def _go_env() -> dict[str, str]:
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}
    return env


def _go(path: Path, *args: str) -> str:
    proc = subprocess.run(
        ["go", *args],
        cwd=path,
        env=_go_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if proc.returncode != 0:
        reason = (proc.stderr.strip() or proc.stdout.strip() or "failed").splitlines()[-1]
        raise TemplateError(
            f"`go {' '.join(args[:2])}` failed in {path}: {reason}",
            hint="nothing was changed; check access to the Go module proxy (GOPROXY)",
        )
    return proc.stdout


def _go_mod_json(path: Path) -> dict[str, Any]:
    data = json.loads(_go(path, "mod", "edit", "-json"))
    return data if isinstance(data, dict) else {}


def go_version_key(version: str) -> tuple[tuple[int, ...], int, str]:
    """A sort key for Go module versions: numeric core, then release over pre-release."""
    core, _, pre = version.removeprefix("v").split("+", 1)[0].partition("-")
    numbers = tuple(int(n) for n in re.findall(r"\d+", core))
    return (numbers, 0 if pre else 1, pre)


def _go_dependencies(path: Path, scratch: Path) -> tuple[list[str], list[str]]:
    ours = _go_mod_json(path)
    theirs = _go_mod_json(scratch)
    have = {r["Path"]: r["Version"] for r in ours.get("Require") or []}
    deps: list[str] = []
    notes: list[str] = []
    for req in theirs.get("Require") or []:
        mod, version = req["Path"], req["Version"]
        current = have.get(mod)
        if current is not None and go_version_key(current) >= go_version_key(version):
            continue
        _go(path, "mod", "edit", f"-require={mod}@{version}")
        if not req.get("Indirect"):
            deps.append(f"{mod} {version}" + (f" (was {current})" if current else ""))
    wanted_go = str(theirs.get("Go") or "")
    current_go = str(ours.get("Go") or "")
    if wanted_go and (not current_go or go_version_key(current_go) < go_version_key(wanted_go)):
        _go(path, "mod", "edit", f"-go={wanted_go}")
        notes.append(f"raised the go directive from {current_go or 'none'} to {wanted_go}")
    sums = path / "go.sum"
    before = sums.read_text(encoding="utf-8").splitlines() if sums.is_file() else []
    extra = (scratch / "go.sum").read_text(encoding="utf-8").splitlines()
    merged = sorted({line for line in [*before, *extra] if line.strip()})
    sums.write_text("".join(f"{line}\n" for line in merged), encoding="utf-8")
    _go(path, "mod", "tidy")
    return deps, notes


# -- Rust ----------------------------------------------------------------------------------------


def _cargo_document(file: Path) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, TOMLKitError) as exc:
        raise DestinationError(
            f"cannot read {file}: {exc}", hint="fix Cargo.toml (`cargo metadata` shows why)"
        ) from None


def _check_edition(path: Path) -> None:
    package = _cargo_document(path / "Cargo.toml").get("package")
    edition = package.get("edition") if isinstance(package, Mapping) else None
    if isinstance(edition, Mapping) and edition.get("workspace"):
        return  # inherited from the workspace: cargo checks it when building
    year = int(edition) if isinstance(edition, str) and edition.isdigit() else 2015
    if year < MIN_EDITION:
        raise DestinationError(
            f"the crate is on Rust edition {year}"
            + ("" if edition else " (Cargo.toml sets none)")
            + f"; the telemetry code needs {MIN_EDITION} or newer",
            hint=f'move the crate to edition = "{MIN_EDITION}" (`cargo fix --edition`), commit, '
            "and retry",
        )


def _rust_dependencies(path: Path, scratch: Path, undo: _Undo) -> tuple[list[str], list[str]]:
    manifest = path / "Cargo.toml"
    doc = _cargo_document(manifest)
    rendered = _cargo_document(scratch / "Cargo.toml")
    deps: list[str] = []
    notes: list[str] = []
    package = doc["package"]
    wanted_package = rendered.get("package")
    wanted_msrv = (
        wanted_package.get("rust-version") if isinstance(wanted_package, Mapping) else None
    )
    if isinstance(package, Table) and wanted_msrv is not None:
        msrv = package.get("rust-version")
        if msrv is None:
            _insert_after(package, "edition", "rust-version", str(wanted_msrv))
            notes.append(f"set rust-version = {str(wanted_msrv)!r}, what the telemetry code needs")
        elif isinstance(msrv, str) and _rust_version_key(msrv) < _rust_version_key(
            str(wanted_msrv)
        ):
            notes.append(
                f"the crate declares rust-version {msrv}; the telemetry dependencies need "
                f"{wanted_msrv}"
            )
    for table_name in _DEP_TABLES:
        wanted = rendered.get(table_name)
        if not isinstance(wanted, Mapping):
            continue
        table = doc.get(table_name)
        if table is None:
            table = tomlkit.table()
            doc[table_name] = table
        if not isinstance(table, Table):
            raise DestinationError(
                f"[{table_name}] of {manifest} is not a table", hint="fix Cargo.toml"
            )
        for name, spec in wanted.items():
            if name not in table:
                table[name] = spec
                deps.append(f"{name} {_cargo_version(spec)} ({table_name})")
                continue
            added = _merge_features(table, name, spec)
            if added:
                deps.append(f"{name}: features + {', '.join(added)} ({table_name})")
            have, want = _cargo_version(table[name]), _cargo_version(spec)
            if have != want and have != "*":
                notes.append(
                    f"kept {name} = {have!r} in [{table_name}]; the telemetry code is tested "
                    f"with {want!r}"
                )
    manifest.write_text(tomlkit.dumps(doc), encoding="utf-8")
    lock = path / "Cargo.lock"
    if lock.exists():
        notes.append("Cargo.lock is kept: cargo picks versions for the new dependencies")
    else:
        # The render's lock holds the versions the template was tested with; cargo fixes up the
        # entry of the crate itself on the next build.
        undo.write(lock, (scratch / "Cargo.lock").read_bytes())
    return deps, notes


def _insert_after(table: Table, after: str, key: str, value: str) -> None:
    """Add `key = value` right after `after` (so it stays above trailing comments)."""
    try:
        table.value._insert_after(after, key, tomlkit.item(value))
    except (AttributeError, KeyError, TOMLKitError):
        table[key] = value


def _cargo_version(spec: Any) -> str:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, Mapping):
        return str(spec.get("version", "*"))
    return "*"


def _merge_features(table: Table, name: str, spec: Any) -> list[str]:
    """Add the features the telemetry code needs to an existing dependency; return them."""
    wanted = spec.get("features") if isinstance(spec, Mapping) else None
    if not wanted:
        return []
    current = table[name]
    if isinstance(current, str):
        inline = tomlkit.inline_table()
        inline["version"] = current
        inline["features"] = tomlkit.array()
        table[name] = inline
        current = table[name]
    if not isinstance(current, InlineTable | Table) or isinstance(current, AoT):
        return []
    features = current.get("features")
    if features is None:
        features = tomlkit.array()
        current["features"] = features
        features = current["features"]
    if not isinstance(features, Array):
        return []
    added = [str(f) for f in wanted if str(f) not in [str(x) for x in features]]
    for feature in added:
        features.append(feature)
    return added


def _rust_version_key(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version))


# -- wiring --------------------------------------------------------------------------------------


def _wiring(
    path: Path, language: Language, answers: Mapping[str, Any], package_dir: str
) -> list[str]:
    if language == "go":
        # The package is named telemetry wherever it lives; name the import when the
        # directory says otherwise.
        name = "" if package_dir.rsplit("/", 1)[-1] == "telemetry" else "telemetry "
        return [
            f'import {name}"{answers["module"]}/{package_dir}"',
            "shutdown, err := telemetry.Setup(ctx, telemetry.Config{})  // early in main",
            "defer shutdown(ctx)",
            "handler = telemetry.Middleware()(mux)  // wrap the server's handler",
        ]
    crate = _lib_name(path)
    mod = package_dir.rsplit("/", 1)[-1]  # src/NAME is the module NAME
    if (path / "src" / "lib.rs").is_file():
        module = [
            f"pub mod {mod};  // in src/lib.rs",
            f"use {crate}::{mod};  // in src/main.rs",
        ]
    else:
        module = [f"mod {mod};  // in src/main.rs"]
    return [
        *module,
        f"let _telemetry = {mod}::init({mod}::Config::default());  // inside the runtime",
        f".layer({mod}::OtelLayer::new())  // on the axum Router",
    ]


def _lib_name(path: Path) -> str:
    """The name the crate's library is imported by: [lib] name, or the package name."""
    doc = _cargo_document(path / "Cargo.toml")
    lib, package = doc.get("lib"), doc.get("package")
    name = lib.get("name") if isinstance(lib, Mapping) else None
    if not name and isinstance(package, Mapping):
        name = package.get("name")
    return str(name or "crate").replace("-", "_")
