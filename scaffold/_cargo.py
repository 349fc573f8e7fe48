"""The Rust side of `scaffold adopt`: Cargo.toml, the crate's layout, and the build.

The manifest is edited with tomlkit, so the crate's comments, order and layout survive. What
the telemetry module needs is read from the module itself, not from the template's manifest
(which also serves its tests, benches and demo app): a dependency is added when the module's
code names its crate, as a dev-dependency when only the module's own unit tests do.

Reconciling, not just adding: every dependency of the OpenTelemetry family the crate already
has (`opentelemetry*`, `tracing-opentelemetry`, and crates built on `opentelemetry`) moves to
the template's family, in every dependency table, `[workspace.dependencies]` of the workspace
included when a member inherits from it. A family crate the template does not use moves to its
newest release built on the template's `opentelemetry` (read from the crates.io index). If the
crate's own code does not build afterwards, adopt puts everything back and names the call.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Array, InlineTable, Table

from scaffold import _git
from scaffold.errors import AnswerError, DestinationError, VerifyError

if TYPE_CHECKING:
    from scaffold.adopt import WiringStep

__all__ = [
    "broken_before",
    "check_edition",
    "member",
    "package_name",
    "reconcile",
    "verify",
    "warnings",
    "wiring",
]

# The lowest Rust edition the telemetry code compiles with (a missing edition means 2015).
MIN_EDITION = 2021
# Seconds `cargo check` may take: a cold build of the OpenTelemetry stack is minutes.
TIMEOUT = 2400.0
# The crate every other crate of the family is built on.
CORE = "opentelemetry"
_DEP_TABLES = ("dependencies", "dev-dependencies", "build-dependencies")
_INDEX = "https://index.crates.io"
_INDEX_TIMEOUT = 20.0
_TESTS = re.compile(r"^#\[cfg\(test\)\]", re.M)

Write = Callable[[Path, bytes], None]


def cargo_document(file: Path) -> tomlkit.TOMLDocument:
    """Parse a Cargo.toml, keeping its formatting.

    Raises:
        DestinationError: it cannot be read or is not TOML.
    """
    try:
        return tomlkit.parse(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, TOMLKitError) as exc:
        raise DestinationError(
            f"cannot read {file}: {exc}", hint="fix Cargo.toml (`cargo metadata` shows why)"
        ) from None


def package_name(path: Path) -> str:
    """The `[package] name` of the crate at `path`.

    Raises:
        DestinationError: Cargo.toml has no package (a workspace root, say which member).
    """
    doc = cargo_document(path / "Cargo.toml")
    package = doc.get("package")
    name = package.get("name") if isinstance(package, Mapping) else None
    if not isinstance(name, str) or not name:
        members = _member_names(path) if "workspace" in doc else []
        which = f" (members: {', '.join(members)})" if members else ""
        raise DestinationError(
            f"{path / 'Cargo.toml'} has no [package]: it is a workspace root{which}",
            hint="pass --package NAME, or run adopt in the member's directory",
        )
    return name


def member(path: Path, package: str | None) -> Path:
    """The directory of the crate to adopt into: `path`, or the workspace member `package`.

    Raises:
        AnswerError: `package` is not a member of the workspace at `path`.
    """
    if package is None:
        return path
    found = _members(path)
    if package not in found:
        known = ", ".join(sorted(found)) or "none"
        raise AnswerError(
            "--package", f"{package!r} is not a crate of {path} (its crates: {known})"
        )
    return found[package]


def _members(path: Path) -> dict[str, Path]:
    """The crates of the workspace (or the crate) at `path`, by package name."""
    if not (path / "Cargo.toml").is_file():
        raise DestinationError(f"{path} has no Cargo.toml", hint="pass the workspace root")
    proc = subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1", "--offline"],
        cwd=path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        raise DestinationError(
            f"`cargo metadata` cannot read the workspace at {path}: {reason}",
            hint="fix Cargo.toml (`cargo metadata` shows why)",
        )
    data: Any = json.loads(proc.stdout)
    return {p["name"]: Path(p["manifest_path"]).parent for p in data.get("packages", [])}


def _member_names(path: Path) -> list[str]:
    try:
        return sorted(_members(path))
    except (DestinationError, OSError, subprocess.SubprocessError):
        return []


def workspace_root(path: Path) -> Path:
    """The root of the workspace the crate at `path` belongs to (the crate itself if none)."""
    for parent in path.parents:
        manifest = parent / "Cargo.toml"
        if manifest.is_file() and "workspace" in cargo_document(manifest):
            return parent
    return path


def check_edition(path: Path) -> None:
    """Refuse a crate on an edition older than the telemetry code needs.

    Raises:
        DestinationError: the edition is older than `MIN_EDITION`.
    """
    package = cargo_document(path / "Cargo.toml").get("package")
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


# -- what the module uses ----------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """The crates the telemetry module names: in its code, and only in its unit tests."""

    code: frozenset[str]
    tests: frozenset[str]


def usage(module: Path, crates: set[str]) -> Usage:
    """Which of `crates` (dependency names) the module's sources under `module` name."""
    code: set[str] = set()
    tests: set[str] = set()
    for file in sorted(module.rglob("*.rs")):
        text = file.read_text(encoding="utf-8")
        split = _TESTS.search(text)
        body, test = (text[: split.start()], text[split.start() :]) if split else (text, "")
        for crate in crates:
            ident = re.escape(crate.replace("-", "_"))
            named = re.compile(rf"(?<![\w:])(::)?{ident}(::|\s*;|\s*\{{)")
            if named.search(body):
                code.add(crate)
            elif named.search(test):
                tests.add(crate)
    return Usage(code=frozenset(code), tests=frozenset(tests - code))


# -- the manifest --------------------------------------------------------------------------------


def reconcile(
    path: Path, scratch: Path, package_dir: str, write: Write
) -> tuple[list[str], list[str]]:
    """Add what the module at `package_dir` needs to the crate, and move its family along.

    `scratch` is a render whose Cargo.toml and Cargo.lock hold the template's versions.
    `write(file, content)` writes a file adopt puts back on failure.

    Returns one line per dependency added or changed, and notes.
    """
    manifest = path / "Cargo.toml"
    doc = cargo_document(manifest)
    rendered = cargo_document(scratch / "Cargo.toml")
    deps: list[str] = []
    notes: list[str] = []
    _rust_version(doc, rendered, notes)

    wanted = _table(rendered, "dependencies")
    wanted_dev = _table(rendered, "dev-dependencies")
    use = usage(scratch / package_dir, set(wanted) | set(wanted_dev))
    family = {name: _version_of(spec) for name, spec in wanted.items() if _in_family(name)}

    root = workspace_root(path)
    shared = cargo_document(root / "Cargo.toml") if root != path else None
    shared_deps = _workspace_deps(shared)
    for table_name, table in _dep_tables(doc):
        for name in list(table.keys()):
            line = _move_family(table, str(name), family, shared_deps, path, notes)
            if line:
                deps.append(f"{line} ([{table_name}])")

    for table_name, names in (("dependencies", use.code), ("dev-dependencies", use.tests)):
        for name in sorted(names):
            spec = (
                wanted_dev if table_name == "dev-dependencies" and name in wanted_dev else wanted
            )[name]
            table = _ensure_table(doc, table_name, manifest)
            if name not in table and not (
                table_name == "dev-dependencies" and name in _table(doc, "dependencies")
            ):
                table[name] = spec
                deps.append(f"{name} {_version_of(spec)} (added to [{table_name}])")
                continue
            target = table if name in table else _table(doc, "dependencies")
            added = _merge_features(target, name, spec, shared_deps)
            if added:
                deps.append(f"{name}: features + {', '.join(added)}")
            have, want = _version_of(target[name], shared_deps.get(name)), _version_of(spec)
            if have not in (want, "*") and not _in_family(name):
                notes.append(f"kept {name} = {have!r}; the telemetry code is tested with {want!r}")
    write(manifest, tomlkit.dumps(doc).encode("utf-8"))
    if shared is not None:
        write(root / "Cargo.toml", tomlkit.dumps(shared).encode("utf-8"))
    lock = root / "Cargo.lock"
    if not lock.exists() and root == path:
        # The render's lock holds the versions the template was tested with; cargo fixes up
        # the entry of the crate itself on the next build.
        write(lock, (scratch / "Cargo.lock").read_bytes())
    return deps, notes


def _in_family(name: str) -> bool:
    return name.replace("_", "-").startswith(CORE) or name == "tracing-opentelemetry"


def _table(doc: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    table = doc.get(name)
    return table if isinstance(table, Mapping) else {}


def _dep_tables(doc: tomlkit.TOMLDocument) -> Iterator[tuple[str, Table | InlineTable]]:
    """Every dependency table of a manifest: plain ones and `[target.'cfg'.*]` ones."""
    for name in _DEP_TABLES:
        table = doc.get(name)
        if isinstance(table, Table | InlineTable):
            yield name, table
    target = doc.get("target")
    if isinstance(target, Table):
        for cfg, tables in target.items():
            if not isinstance(tables, Table):
                continue
            for name in _DEP_TABLES:
                table = tables.get(name)
                if isinstance(table, Table | InlineTable):
                    yield f"target.{cfg}.{name}", table


def _workspace_deps(shared: tomlkit.TOMLDocument | None) -> Any:
    """`[workspace.dependencies]` of the workspace root, edited in place; {} without one."""
    if shared is None:
        return {}
    workspace = shared.get("workspace")
    table = workspace.get("dependencies") if isinstance(workspace, Mapping) else None
    return table if isinstance(table, Table | InlineTable) else {}


def _ensure_table(doc: tomlkit.TOMLDocument, name: str, manifest: Path) -> Table:
    table = doc.get(name)
    if table is None:
        table = tomlkit.table()
        doc[name] = table
    if not isinstance(table, Table):
        raise DestinationError(f"[{name}] of {manifest} is not a table", hint="fix Cargo.toml")
    return table


def _version_of(spec: Any, inherited: Any = None) -> str:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, Mapping):
        if spec.get("workspace") and inherited is not None:
            return _version_of(inherited)
        return str(spec.get("version", "*"))
    return "*"


def _move_family(
    table: Table | InlineTable,
    name: str,
    family: Mapping[str, str],
    shared: Mapping[str, Any],
    path: Path,
    notes: list[str],
) -> str | None:
    """Move one dependency of the OpenTelemetry family to the template's; the change line."""
    spec = table[name]
    real = str(spec.get("package", name)) if isinstance(spec, Mapping) else name
    inherited = isinstance(spec, Mapping) and bool(spec.get("workspace"))
    holder: Any = shared if inherited else table
    key = name
    if inherited and key not in holder:
        return None
    current = _version_of(holder[key])
    if real in family:
        target: str | None = family[real]
    elif _in_family(real) or _built_on_core(real, current):
        target = _compatible_release(real, family.get(CORE))
        if target is None:
            notes.append(
                f"kept {real} {current}: no release of it is built on {CORE} "
                f"{family.get(CORE, '?')} (crates.io index)"
            )
            return None
    else:
        return None
    if target is None or _same_bucket(current, target):
        return None
    _set_version(holder, key, target)
    where = " (in [workspace.dependencies])" if inherited else ""
    return f"{real} {current} -> {target}{where}"


def _set_version(table: Any, name: str, version: str) -> None:
    spec = table[name]
    if isinstance(spec, str):
        table[name] = version
    elif isinstance(spec, InlineTable | Table) and "version" in spec:
        spec["version"] = version


def _same_bucket(a: str, b: str) -> bool:
    """Whether two requirements select the same semver-compatible line (0.33 and ^0.33.1)."""
    return _bucket(a) == _bucket(b)


def _bucket(requirement: str) -> tuple[int, ...]:
    numbers = [int(n) for n in re.findall(r"\d+", requirement.split(",")[0])]
    while len(numbers) < 3:
        numbers.append(0)
    major, minor, patch = numbers[:3]
    if major:
        return (major,)
    if minor:
        return (0, minor)
    return (0, 0, patch)


def _rust_version(
    doc: tomlkit.TOMLDocument, rendered: tomlkit.TOMLDocument, notes: list[str]
) -> None:
    package = doc.get("package")
    wanted_package = rendered.get("package")
    wanted = wanted_package.get("rust-version") if isinstance(wanted_package, Mapping) else None
    if not isinstance(package, Table) or wanted is None:
        return
    msrv = package.get("rust-version")
    if msrv is None:
        _insert_after(package, "edition", "rust-version", str(wanted))
        notes.append(f"set rust-version = {str(wanted)!r}, what the telemetry code needs")
    elif isinstance(msrv, str) and _numbers(msrv) < _numbers(str(wanted)):
        notes.append(
            f"the crate declares rust-version {msrv}; the telemetry dependencies need {wanted}"
        )


def _insert_after(table: Table, after: str, key: str, value: str) -> None:
    """Add `key = value` right after `after` (so it stays above trailing comments)."""
    try:
        table.value._insert_after(after, key, tomlkit.item(value))
    except (AttributeError, KeyError, TOMLKitError):
        table[key] = value


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version))


def _merge_features(table: Any, name: str, spec: Any, shared: Mapping[str, Any]) -> list[str]:
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
        inherited = shared.get(name) if current.get("workspace") else None
        have = inherited.get("features", []) if isinstance(inherited, Mapping) else []
        missing = [str(f) for f in wanted if str(f) not in [str(x) for x in have]]
        if not missing:
            return []
        current["features"] = tomlkit.array()
        features = current["features"]
    if not isinstance(features, Array):
        return []
    added = [str(f) for f in wanted if str(f) not in [str(x) for x in features]]
    for feature in added:
        features.append(feature)
    return added


# -- the crates.io index ---------------------------------------------------------------------


def _index_entries(crate: str) -> list[dict[str, Any]]:
    """The crates.io sparse index entries of `crate` (one per release); [] when unreachable."""
    name = crate.lower()
    if len(name) <= 2:
        prefix = str(len(name))
    elif len(name) == 3:
        prefix = f"3/{name[0]}"
    else:
        prefix = f"{name[:2]}/{name[2:4]}"
    url = f"{os.environ.get('SCAFFOLD_CRATES_INDEX', _INDEX)}/{prefix}/{name}"
    try:
        with urllib.request.urlopen(url, timeout=_INDEX_TIMEOUT) as response:
            text = response.read().decode("utf-8")
    except (urllib.error.URLError, OSError, ValueError):
        return []
    entries = []
    for line in text.splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return entries


def _built_on_core(crate: str, requirement: str) -> bool:
    """Whether the release of `crate` that `requirement` selects depends on `opentelemetry`."""
    bucket = _bucket(requirement)
    for entry in reversed(_index_entries(crate)):
        if _bucket(str(entry.get("vers", ""))) == bucket:
            return any(dep.get("name") == CORE for dep in entry.get("deps", []))
    return False


def _compatible_release(crate: str, core: str | None) -> str | None:
    """The newest release of `crate` built on the template's `opentelemetry` line."""
    if core is None:
        return None
    want = _bucket(core)
    best: tuple[tuple[int, ...], str] | None = None
    for entry in _index_entries(crate):
        version = str(entry.get("vers", ""))
        if entry.get("yanked") or "-" in version:
            continue
        for dep in entry.get("deps", []):
            real = dep.get("package") or dep.get("name")
            if (
                real == CORE
                and dep.get("kind", "normal") == "normal"
                and _bucket(dep.get("req", "")) == want
            ):
                key = _numbers(version)
                if best is None or key > best[0]:
                    best = (key, version)
    if best is None:
        return None
    major, minor = best[0][0], best[0][1]
    return f"{major}.{minor}" if major == 0 else str(major)


# -- the build -------------------------------------------------------------------------------------


def _cargo(path: Path, *args: str, target: Path | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if target is not None:
        env["CARGO_TARGET_DIR"] = str(target)
    proc = subprocess.Popen(
        ["cargo", *args],
        cwd=path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **_git.own_group(),
    )
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except BaseException:
        _git.stop(proc)
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _target_dir(path: Path) -> Path | None:
    """Where cargo builds: the user's choice, else a temporary one when `target/` would show.

    A `target/` directory git does not ignore would be new in `git status`.
    """
    if os.environ.get("CARGO_TARGET_DIR"):
        return None
    root = workspace_root(path)
    if (root / "target").exists() or _git.ok(root, "check-ignore", "-q", "target"):
        return None
    return Path(tempfile.gettempdir()) / f"scaffold-adopt-target-{root.name}"


def _diagnostics(stdout: str) -> Iterator[dict[str, Any]]:
    for line in stdout.splitlines():
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if message.get("reason") == "compiler-message":
            yield message.get("message") or {}


def check(path: Path) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    """`cargo check --all-targets` of the crate; its run and every diagnostic."""
    done = _cargo(
        path, "check", "--all-targets", "--message-format=json", "--quiet", target=_target_dir(path)
    )
    return done, list(_diagnostics(done.stdout))


def verify(path: Path, package_dir: str) -> tuple[str, ...]:
    """Check the crate with the module added; the commands that passed.

    Raises:
        VerifyError: it does not build; the message names the file, the call and the crate.
    """
    done, messages = check(path)
    if done.returncode == 0:
        return ("cargo check --all-targets",)
    errors = [m for m in messages if m.get("level") == "error" and m.get("spans")]
    first = errors[0] if errors else None
    where, call = _position(first) if first else ("", "")
    text = (first or {}).get("message") or (done.stderr.strip().splitlines() or ["failed"])[-1]
    ours = where.startswith(package_dir + "/")
    crate = next((c for c in _family_names(path) if c.replace("-", "_") in f"{call} {text}"), None)
    if ours:
        why = "the telemetry module does not build in this crate"
        hint = "report it to the platform team with the error; --no-verify keeps the change"
    else:
        which = f" ({crate} moved to the template's version)" if crate else ""
        why = f"the crate's own code does not build with the reconciled dependencies{which}"
        hint = (
            "update that call for the new OpenTelemetry versions (see the crate's changelog), "
            "or adopt with --no-verify and fix it then"
        )
    first_error = f"{where}: {text}" + (f" in `{call}`" if call else "") if where else text
    return_error = VerifyError(
        f"`cargo check --all-targets` failed after adding the telemetry module: {why}: "
        f"{first_error}; nothing was changed",
        command="cargo check --all-targets",
        first_error=first_error,
        output=done.stderr,
        hint=hint,
    )
    raise return_error


def broken_before(path: Path) -> VerifyError | None:
    """The error to report when the restored crate does not build either; else None."""
    done, messages = check(path)
    if done.returncode == 0:
        return None
    errors = [m for m in messages if m.get("level") == "error"]
    text = errors[0].get("message", "failed") if errors else "failed"
    return VerifyError(
        f"{path} does not build even without the telemetry module: {text}; nothing was changed",
        command="cargo check --all-targets",
        first_error=text,
        output=done.stderr,
        hint="make `cargo check --all-targets` pass, commit, and adopt again",
    )


def _position(message: Mapping[str, Any]) -> tuple[str, str]:
    """`file:line` of a diagnostic's primary span, and the code it points at."""
    spans = [s for s in message.get("spans", []) if s.get("is_primary")] or message.get("spans", [])
    if not spans:
        return "", ""
    span = spans[0]
    lines = span.get("text") or []
    call = ""
    if lines:
        text = str(lines[0].get("text", ""))
        start, end = lines[0].get("highlight_start", 1), lines[0].get("highlight_end", 1)
        call = text[start - 1 : end - 1].strip() or text.strip()
    return f"{span.get('file_name', '')}:{span.get('line_start', '')}", call


def _family_names(path: Path) -> list[str]:
    doc = cargo_document(path / "Cargo.toml")
    names = {str(name) for _, table in _dep_tables(doc) for name in table}
    return sorted((n for n in names if _in_family(n)), key=len, reverse=True)


def warnings(path: Path, package_dir: str) -> list[str]:
    """What needs the user's attention in a crate adopt changed (none known yet)."""
    return []


# -- wiring ----------------------------------------------------------------------------------------


def wiring(path: Path, answers: Mapping[str, Any], package_dir: str) -> list[WiringStep]:
    """The lines that turn the module on, for the crate's layout."""
    from scaffold.adopt import WiringStep

    crate = lib_name(path)
    mod = package_dir.rsplit("/", 1)[-1]  # src/NAME is the module NAME
    steps: list[WiringStep] = []
    if (path / "src" / "lib.rs").is_file():
        steps.append(WiringStep("module", "in src/lib.rs", (f"pub mod {mod};",)))
        if (path / "src" / "main.rs").is_file():
            steps.append(WiringStep("import", "in src/main.rs", (f"use {crate}::{mod};",)))
    else:
        steps.append(WiringStep("module", "in src/main.rs", (f"mod {mod};",)))
    if (path / "src" / "main.rs").is_file():
        steps.append(
            WiringStep(
                "setup",
                "inside the runtime, early in main",
                (f"let _telemetry = {mod}::init({mod}::Config::default())?;",),
            )
        )
        steps.append(
            WiringStep("layer", "on the axum Router", (f".layer({mod}::OtelLayer::new())",))
        )
    return steps


def doc_notes(path: Path, answers: Mapping[str, Any], package_dir: str) -> list[str]:
    """A note when the module's doc examples import the library by another name."""
    if not (path / "src" / "lib.rs").is_file():
        return []
    crate = str(answers["service_name"]).replace("-", "_")
    if crate == lib_name(path):
        return []
    return [
        f"the doc examples in {package_dir} import `{crate}`, but the library is "
        f"`{lib_name(path)}`: rename them or `cargo test --doc` fails"
    ]


def lib_name(path: Path) -> str:
    """The name the crate's library is imported by: [lib] name, or the package name."""
    doc = cargo_document(path / "Cargo.toml")
    lib, package = doc.get("lib"), doc.get("package")
    name = lib.get("name") if isinstance(lib, Mapping) else None
    if not name and isinstance(package, Mapping):
        name = package.get("name")
    return str(name or "crate").replace("-", "_")
