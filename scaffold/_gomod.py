"""The Go side of `scaffold adopt` (and of updating an adopted package): go.mod and the build.

Reconciling, not just adding. A module that already uses OpenTelemetry holds some of its
modules at older versions (otel v1.44, contrib v0.69, a log bridge). Raising only the modules
the telemetry package imports breaks the rest: an old bridge stops compiling against a new
`otel/log`. So the whole family the module requires (`go.opentelemetry.io/otel/...` and
`go.opentelemetry.io/contrib/...`, bridges and instrumentations included) moves at once:

- a module the template requires goes to the template's version;
- a module of the family the template does not know goes to its newest release whose own
  requirements stay within the template's versions (read from the module proxy), so that it
  was built against the same family;
- nothing is ever moved down, and everything moves in one `go get`, so the module graph is
  solved once with every target in it.

Every go command runs with the project's module alone (`GOWORK=off`, `-mod=mod`, the local
toolchain), in a process group of its own that an interrupt stops as a whole.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scaffold import _git
from scaffold.errors import DestinationError, TemplateError

__all__ = [
    "GoMod",
    "GoRun",
    "changes",
    "dependency_of",
    "first_error",
    "in_family",
    "module_requires",
    "moved_module",
    "read_mod",
    "reconcile",
    "run_go",
    "verify",
    "version_key",
]

# The OpenTelemetry family: modules released together, which must move together.
FAMILY = ("go.opentelemetry.io/otel", "go.opentelemetry.io/contrib")
# Seconds a go command may take: a cold `go build` of a large module downloads and compiles a lot.
TIMEOUT = 900.0
_POSITION = re.compile(r"^(?P<file>[^\s:]+\.go):\d+(:\d+)?: ")
# An import spec: an optional name and the quoted path (inside or outside an import block).
_IMPORT = re.compile(r'^\s*(?:import\s+)?(?:(\w+)\s+)?"([^"]+)"', re.M)
_CACHED = re.compile(r"/pkg/mod/(?P<module>[^@]+)@(?P<version>[^/]+)/")


@dataclass(frozen=True)
class GoMod:
    """What a go.mod says: the module path, the go directive, and each requirement.

    Attributes:
        module: the module path.
        go: the go directive ("" when absent).
        requires: module path -> (version, indirect).
    """

    module: str
    go: str
    requires: Mapping[str, tuple[str, bool]]

    def version(self, module: str) -> str | None:
        """The required version of `module`, or None when go.mod does not require it."""
        found = self.requires.get(module)
        return found[0] if found else None


@dataclass(frozen=True)
class GoRun:
    """A finished go command: its exit status and output."""

    code: int
    stdout: str
    stderr: str


def in_family(module: str) -> bool:
    """Whether `module` belongs to the OpenTelemetry family that moves as one."""
    return any(module == root or module.startswith(root + "/") for root in FAMILY)


def version_key(version: str) -> tuple[tuple[int, ...], int, str]:
    """A sort key for Go module versions: numeric core, then release over pre-release."""
    core, _, pre = version.removeprefix("v").split("+", 1)[0].partition("-")
    numbers = tuple(int(n) for n in re.findall(r"\d+", core))
    return (numbers, 0 if pre else 1, pre)


def env() -> dict[str, str]:
    """The environment of every go command: this module alone, the local toolchain."""
    return {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod", "GOWORK": "off"}


def run_go(path: Path, *args: str, timeout: float = TIMEOUT) -> GoRun:
    """Run `go ARGS` in `path`; an interrupt or the time limit stops it and all it started.

    Raises:
        DestinationError: go cannot be started.
    """
    try:
        proc = subprocess.Popen(
            ["go", *args],
            cwd=path,
            env=env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **_git.own_group(),
        )
    except OSError as exc:
        raise DestinationError(
            f"cannot run go: {exc.strerror}", hint="install Go 1.26 or newer and put it on PATH"
        ) from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _git.stop(proc)
        out, err = proc.communicate()
        return GoRun(
            code=-1, stdout=out, stderr=f"{err}\ngo {args[0]} timed out after {timeout:.0f}s"
        )
    except BaseException:
        _git.stop(proc)
        raise
    return GoRun(code=proc.returncode, stdout=out, stderr=err)


def go(path: Path, *args: str) -> str:
    """Run a go command that must succeed; its stdout.

    Raises:
        TemplateError: it failed (most often the module proxy cannot be reached).
    """
    done = run_go(path, *args)
    if done.code != 0:
        reason = first_error(done.stderr or done.stdout) or "failed"
        raise TemplateError(
            f"`go {' '.join(args[:2])}` failed in {path}: {reason}",
            hint="nothing was changed; check access to the Go module proxy (GOPROXY)",
        )
    return done.stdout


def read_mod(path: Path, file: Path | None = None) -> GoMod:
    """Parse the go.mod of the module at `path` (or the go.mod file `file`)."""
    args = ["mod", "edit", "-json"] + ([str(file)] if file is not None else [])
    data: Any = json.loads(go(path, *args))
    requires = {
        r["Path"]: (r["Version"], bool(r.get("Indirect"))) for r in data.get("Require") or []
    }
    return GoMod(
        module=str((data.get("Module") or {}).get("Path") or ""),
        go=str(data.get("Go") or ""),
        requires=requires,
    )


def first_error(output: str) -> str:
    """The first error line of a go command's output (a compiler position if there is one)."""
    lines = [
        ln.strip()
        for ln in output.splitlines()
        if ln.strip() and not ln.startswith(("#", "go: downloading", "go: finding"))
    ]
    positioned = next((ln for ln in lines if _POSITION.match(ln)), None)
    return positioned or (lines[0] if lines else "")


def moved_module(path: Path, error: str, moved: Sequence[str]) -> str | None:
    """The version change behind a compiler error in the project's own code, if one is.

    The error names `pkg.Name` (`undefined: otellog.StringValue`); the file's imports say which
    import path `pkg` is, and `moved` (lines of `changes`) which module holding it moved.
    """
    found = _POSITION.match(error)
    if not found:
        return None
    try:
        source = (path / found["file"]).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    imports: dict[str, str] = {}
    for alias, imported in _IMPORT.findall(source):
        imports[alias or imported.rsplit("/", 1)[-1]] = imported
    for name in re.findall(r"\b(\w+)\.\w+", error[found.end() :]):
        imported = imports.get(name)
        if imported is None:
            continue
        owners = {line.split(" ", 1)[0]: line for line in moved}
        holding = [m for m in owners if imported == m or imported.startswith(m + "/")]
        if holding:
            return owners[max(holding, key=len)]
    return None


def dependency_of(error: str) -> str | None:
    """`module@version` when an error line points into the module cache, else None."""
    found = _CACHED.search(error.replace(os.sep, "/"))
    return f"{found['module']}@{found['version']}" if found else None


def reconcile(path: Path, template: Path) -> tuple[list[str], list[str]]:
    """Bring the module at `path` to what the telemetry package of `template` needs.

    `template` is a full render of the service, whose go.mod lists the versions the package
    was tested with. Returns one line per requirement whose version changed (`module old ->
    new`, or `module new (added)`), and notes.

    Raises:
        TemplateError: the module proxy cannot be reached, or `go get` cannot solve the graph.
    """
    ours = read_mod(path)
    theirs = read_mod(template)
    wanted = _targets(path, ours, theirs)
    notes: list[str] = []
    if wanted:
        go(path, "get", *(f"{mod}@{version}" for mod, version in sorted(wanted.items())))
    if theirs.go and (not ours.go or version_key(ours.go) < version_key(theirs.go)):
        go(path, "mod", "edit", f"-go={theirs.go}")
        notes.append(f"raised the go directive from {ours.go or 'none'} to {theirs.go}")
    go(path, "mod", "tidy")
    return changes(ours, read_mod(path)), notes


def changes(before: GoMod, after: GoMod) -> list[str]:
    """One line per requirement that is new or whose version changed, family first."""
    lines: list[tuple[bool, str, str]] = []
    for mod, (version, indirect) in after.requires.items():
        old = before.version(mod)
        if old == version:
            continue
        if old:
            line = f"{mod} {old} -> {version}" + (" (indirect)" if indirect else "")
        else:
            line = f"{mod} {version} (added" + (", indirect)" if indirect else ")")
        lines.append((not in_family(mod), mod, line))
    return [line for _, _, line in sorted(lines)]


def _targets(path: Path, ours: GoMod, theirs: GoMod) -> dict[str, str]:
    """The version each module must be raised to: the template's, or the family's."""
    wanted: dict[str, str] = {}
    for mod, (version, indirect) in theirs.requires.items():
        if indirect and not (in_family(mod) and mod in ours.requires):
            continue  # the graph settles these; pinning them could move the project's down
        wanted[mod] = version
    template = {mod: version for mod, (version, _) in theirs.requires.items()}
    for mod, (version, _) in ours.requires.items():
        if in_family(mod) and mod not in template:
            compatible = _compatible(path, mod, version, template)
            if compatible is not None:
                wanted[mod] = compatible
    return {
        mod: version
        for mod, version in wanted.items()
        if ours.version(mod) is None or version_key(version) > version_key(ours.version(mod) or "")
    }


def _compatible(path: Path, module: str, current: str, template: Mapping[str, str]) -> str | None:
    """The newest release of `module` (not older than `current`) built within `template`'s family.

    A release qualifies when every module it requires that the template also requires is at
    most at the template's version. None when no release qualifies (the current one stays).
    """
    listed = go(path, "list", "-m", "-versions", module).split()[1:]
    candidates = sorted(
        (v for v in listed if "-" not in v and version_key(v) >= version_key(current)),
        key=version_key,
        reverse=True,
    )
    for version in candidates:
        if _within(path, module, version, template):
            return version
    return None


def _within(path: Path, module: str, version: str, template: Mapping[str, str]) -> bool:
    info: Any = json.loads(go(path, "mod", "download", "-json", f"{module}@{version}"))
    gomod = info.get("GoMod") if isinstance(info, dict) else None
    if not gomod:
        return False
    with tempfile.TemporaryDirectory(prefix="scaffold-gomod-") as tmp:
        # `go mod edit` reads a file named go.mod only.
        copy = Path(tmp) / "go.mod"
        copy.write_text(Path(gomod).read_text(encoding="utf-8"), encoding="utf-8")
        needs = read_mod(Path(tmp), copy)
    return all(
        version_key(v) <= version_key(template[mod])
        for mod, (v, _) in needs.requires.items()
        if mod in template
    )


def module_requires(path: Path, modules: Iterable[str]) -> list[str]:
    """Which of `modules` the go.mod at `path` requires (a quick text check, no go command)."""
    try:
        text = (path / "go.mod").read_text(encoding="utf-8")
    except OSError:
        return []
    return [m for m in modules if re.search(rf"(^|\s){re.escape(m)}\s+v", text, re.M)]


def verify(path: Path, package_dir: str | None) -> tuple[str, GoRun] | None:
    """Build every package of the module, and vet the telemetry package when one is named.

    Returns the command that failed, as shown to a user, and its run; None when all pass.
    Executables go to a temporary directory, never into the project.
    """
    with tempfile.TemporaryDirectory(prefix="scaffold-build-") as out:
        steps: list[tuple[tuple[str, ...], str]] = [
            (("build", "-o", out + os.sep, "./..."), "go build ./...")
        ]
        if package_dir is not None:
            steps.append((("vet", f"./{package_dir}/..."), f"go vet ./{package_dir}/..."))
        for args, shown in steps:
            done = run_go(path, *args)
            if done.code != 0:
                return shown, done
    return None
