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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Array, InlineTable, Table

from scaffold import _git
from scaffold._signals import deferred
from scaffold.errors import AnswerError, DestinationError, VerifyError

if TYPE_CHECKING:
    from scaffold.adopt import WiringStep

__all__ = [
    "Checked",
    "broken_before",
    "check_edition",
    "doc_notes",
    "member",
    "own_subscriber",
    "package_name",
    "reconcile",
    "verify",
    "warnings",
    "wiring",
    "workspace_root",
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
# A crate that already exports OpenTelemetry, or makes server spans, from its own code.
_OWN_PIPELINE = re.compile(
    r"\b(global::set_tracer_provider|tracing_opentelemetry::layer|OpenTelemetryLayer::new|"
    r"OtelAxumLayer|OtelInResponseLayer|opentelemetry_tracing_layer)\b"
)
# A crate that installs the global `tracing` subscriber itself.
_SUBSCRIBER_INIT = re.compile(
    r"\bset_global_default\(|\btracing_subscriber::fmt::init\(|\.(try_)?init\(\)"
)

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
    path: Path, scratch: Path, package_dir: str, write: Write, *, create_lock: bool = True
) -> tuple[list[str], list[str]]:
    """Add what the module at `package_dir` needs to the crate, and move its family along.

    `scratch` is a render whose Cargo.toml and Cargo.lock hold the template's versions.
    `write(file, content)` writes a file adopt puts back on failure. With `create_lock`, a
    crate without Cargo.lock gets the render's (adopt); an update leaves the lock to cargo.

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
    if create_lock and not lock.exists() and root == path:
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
        # Parsed from text, so it reads like a hand-written entry: { version = "1", ... }.
        table[name] = tomlkit.parse(f"x = {{ version = {json.dumps(current)}, features = [] }}")[
            "x"
        ]
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
        if isinstance(current, InlineTable):
            # tomlkit appends the key without the space before `}`: write it out again.
            table[name] = _spaced(current)
            current = table[name]
        features = current["features"]
    if not isinstance(features, Array):
        return []
    added = [str(f) for f in wanted if str(f) not in [str(x) for x in features]]
    for feature in added:
        features.append(feature)
    return added


def _spaced(inline: InlineTable) -> Any:
    """`inline` as a hand-written entry: `{ key = value, ... }`."""
    items = ", ".join(
        f"{key.as_string().strip()} = {value.as_string().strip()}"
        for key, value in inline.value.body
        if key
    )
    return tomlkit.parse(f"x = {{ {items} }}")["x"]


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
    """The newest release of `crate` on the template's `opentelemetry` line, as a requirement.

    A crate built on `opentelemetry` qualifies by the version of it that it requires; one that
    never depends on it (opentelemetry-semantic-conventions) is released in step with it, and
    qualifies by its own version.
    """
    if core is None:
        return None
    want = _bucket(core)
    found = []
    for entry in _index_entries(crate):
        version = str(entry.get("vers", ""))
        if entry.get("yanked") or "-" in version:
            continue
        on_core = [
            str(dep.get("req", ""))
            for dep in entry.get("deps", [])
            if (dep.get("package") or dep.get("name")) == CORE
            and dep.get("kind") in (None, "normal")
        ]
        if (on_core and _bucket(on_core[0]) == want) or (not on_core and _bucket(version) == want):
            found.append(_numbers(version))
    if not found:
        return None
    major, minor, *_ = max(found)
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


@dataclass(frozen=True)
class Checked:
    """A `cargo check` that passed, and the warnings it raised in the telemetry module."""

    commands: tuple[str, ...]
    warnings: tuple[str, ...]


def verify(
    path: Path, package_dir: str, declaration: Sequence[str], moved: Sequence[str]
) -> Checked:
    """Check the crate with the module declared as the wiring says; restore the crate root.

    The module is compiled only once a crate root declares it, so the check adds
    `declaration` at the end of src/lib.rs (or src/main.rs) for its duration: the module is
    checked under the crate's own lint settings, and its warnings are returned.

    Raises:
        VerifyError: it does not build; the message names the file, the call and the crate.
    """
    root = next(
        (f for f in (path / "src" / "lib.rs", path / "src" / "main.rs") if f.is_file()), None
    )
    original = root.read_bytes() if root is not None else b""
    try:
        if root is not None:
            with deferred():
                declared = (
                    original.rstrip(b"\n") + b"\n\n" + "\n".join(declaration).encode() + b"\n"
                )
                root.write_bytes(declared)
        done, messages = check(path)
    finally:
        if root is not None:
            with deferred():
                root.write_bytes(original)
    if done.returncode == 0:
        ours = [
            f"{where}: {m.get('message')}"
            for m in messages
            if m.get("level") == "warning"
            for where in [_where(path, m)]
            if where.startswith(package_dir + "/")
        ]
        return Checked(commands=("cargo check --all-targets",), warnings=tuple(ours))
    errors = [m for m in messages if m.get("level") == "error" and m.get("spans")]
    first = errors[0] if errors else None
    where = _where(path, first) if first else ""
    call = _call(first) if first else ""
    text = (first or {}).get("message") or (done.stderr.strip().splitlines() or ["failed"])[-1]
    moved_by = ""
    if where.startswith(package_dir + "/"):
        why = "the telemetry module does not build in this crate"
        hint = "report it to the platform team with the error; --no-verify keeps the change"
    else:
        names = re.findall(r"\w+", f"{call} {text}")
        change = next(
            (line for line in moved if line.split(" ", 1)[0].replace("-", "_") in names), None
        )
        why = "the crate's own code does not build with the reconciled dependencies"
        moved_by = f" ({change.split(' ([', 1)[0]})" if change else ""
        hint = (
            "update that call for the new version (see the crate's changelog), commit, and "
            "adopt again; or adopt with --no-verify and fix it afterwards"
        )
    first_error = (
        (f"{where}: " if where else "") + text + (f": `{call}`" if call else "") + moved_by
    )
    raise VerifyError(
        f"`cargo check --all-targets` failed after adding the telemetry module: {why}: "
        f"{first_error}; nothing was changed",
        command="cargo check --all-targets",
        first_error=first_error,
        output=done.stderr,
        hint=hint,
    )


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


def _primary(message: Mapping[str, Any]) -> Mapping[str, Any] | None:
    spans = [s for s in message.get("spans", []) if s.get("is_primary")] or message.get("spans", [])
    return spans[0] if spans else None


def _where(path: Path, message: Mapping[str, Any]) -> str:
    """`file:line` of a diagnostic's primary span, the file relative to the crate."""
    span = _primary(message)
    if span is None:
        return ""
    name = str(span.get("file_name", ""))
    for base in (path, workspace_root(path)):
        file = base / name
        if file.is_file():
            name = (
                file.resolve().relative_to(path.resolve()).as_posix()
                if file.resolve().is_relative_to(path.resolve())
                else name
            )
            break
    return f"{name}:{span.get('line_start', '')}"


def _call(message: Mapping[str, Any]) -> str:
    """The line of code a diagnostic's primary span points at, trimmed."""
    span = _primary(message)
    lines = (span or {}).get("text") or []
    return str(lines[0].get("text", "")).strip() if lines else ""


def warnings(path: Path, package_dir: str) -> list[str]:
    """What the crate already does that would double the telemetry, one line each."""
    found = [
        f"{rel}:{number} ({match.group(0).rstrip('(')})"
        for rel, number, match in _matches(path, package_dir, _OWN_PIPELINE)
    ]
    if not found:
        return []
    shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
    return [
        f"the crate already sets up OpenTelemetry or server spans at {shown}: with the "
        f"telemetry module as well, spans are exported twice or every request gets two "
        "server spans; remove that setup where you wire the module in"
    ]


def own_subscriber(path: Path, package_dir: str) -> str | None:
    """Where the crate installs a global `tracing` subscriber of its own (`file:line`), if it does."""
    for rel, number, _ in _matches(path, package_dir, _SUBSCRIBER_INIT):
        return f"{rel}:{number}"
    return None


def _matches(
    path: Path, package_dir: str, pattern: re.Pattern[str]
) -> Iterator[tuple[str, int, re.Match[str]]]:
    """Every match of `pattern` in the crate's own Rust sources: (file, line, match)."""
    for file in sorted((path / "src").rglob("*.rs")) + sorted(path.glob("*.rs")):
        rel = file.relative_to(path).as_posix()
        if rel.startswith(package_dir + "/"):
            continue
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            match = pattern.search(line)
            if match:
                yield rel, number, match


# -- wiring ----------------------------------------------------------------------------------------


def wiring(path: Path, answers: Mapping[str, Any], package_dir: str) -> list[WiringStep]:
    """The code that turns the module on, for the crate's layout and its own subscriber.

    A library crate gets the module alone, as its API: the application that uses it composes
    the layers. A binary-only crate declares the module private, and most of the toolkit goes
    unused there: the declaration says so, or every unused helper is a dead-code warning.
    """
    from scaffold.adopt import WiringStep

    crate = lib_name(path)
    mod = package_dir.rsplit("/", 1)[-1]  # src/NAME is the module NAME
    has_lib = (path / "src" / "lib.rs").is_file()
    has_main = (path / "src" / "main.rs").is_file()
    steps: list[WiringStep] = []
    if has_lib:
        steps.append(WiringStep("module", "in src/lib.rs", (f"pub mod {mod};",)))
    else:
        steps.append(
            WiringStep(
                "module",
                "in src/main.rs: a toolkit, of which the service uses what it needs",
                (
                    '#[allow(dead_code, unused_imports, unreachable_pub, reason = "a toolkit: the service '
                    'uses what it needs")]',
                    f"mod {mod};",
                ),
            )
        )
    if not has_main:
        steps.append(
            WiringStep(
                "layers",
                "in the application that uses this library: add the layers to its subscriber",
                (
                    f"let telemetry = {crate}::{mod}::Telemetry::new({crate}::{mod}::Config::default());",
                    ".with(telemetry.otel_layers())",
                    "let telemetry = telemetry.start();",
                ),
            )
        )
        return steps
    if has_lib:
        steps.append(WiringStep("import", "in src/main.rs", (f"use {crate}::{mod};",)))
    subscriber = own_subscriber(path, package_dir)
    if subscriber is None:
        steps.append(
            WiringStep(
                "setup",
                "first thing in main, inside the Tokio runtime; the guard flushes when dropped",
                (f"let telemetry = {mod}::init({mod}::Config::default());",),
            )
        )
    else:
        steps += [
            WiringStep(
                "setup",
                f"before the crate's own subscriber ({subscriber}), inside the Tokio runtime",
                (f"let telemetry = {mod}::Telemetry::new({mod}::Config::default());",),
            ),
            WiringStep(
                "layers",
                "in that subscriber's chain, before .init() (a fmt() builder: .finish().with(..))",
                (".with(telemetry.otel_layers())",),
            ),
            WiringStep(
                "start",
                "once the subscriber is installed; the guard flushes when dropped",
                ("let telemetry = telemetry.start();",),
            ),
        ]
    steps += [
        WiringStep(
            "layer",
            "on the axum Router (or tonic's Server::builder())",
            (f".layer({mod}::OtelLayer::new())",),
        ),
        WiringStep(
            "exit",
            "std::process::exit runs no destructors: flush before it",
            ("drop(telemetry);",),
        ),
    ]
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
