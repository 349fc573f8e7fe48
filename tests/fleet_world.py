"""A fleet of generated service repositories, for the fleet tests and the fleet benchmark.

`make_template(root)` makes a template repository tagged v1.0.0 and v1.1.0; `make_fleet(root,
template, specs)` renders one service per `RepoSpec` from it and gives each the shape its `kind`
names: a bare remote in `root/remotes` (the fleet is given `file://` URLs of those), local edits,
a conflicting edit, a broken build, no answers file, an uncommitted change in a local working
tree, or no repository at all. v1.1.0 changes the policy's sampling ratios and adds an attribute,
so an upgrade touches generated Go and Rust code; its `verify` commands are cheap but real
(`go vet`, `cargo check`), and `verify_env()` gives them the shared toolchain caches.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from scaffold.fleet import Outcome
from scaffold.render import NewService
from scaffold.template_repo import init_template_repo
from scaffold.templates import cargo_env, go_env

__all__ = [
    "NEW",
    "NEW_CODE",
    "NEW_RATIO",
    "OLD",
    "SAMPLING_LINE",
    "VERIFY",
    "FleetRepo",
    "Kind",
    "RepoSpec",
    "git",
    "make_fleet",
    "make_template",
    "push_edit",
    "release_next",
    "verify_env",
]

OLD = "v1.0.0"
NEW = "v1.1.0"
NEW_RATIO = "0.25"  # the dev sampling ratio of NEW (OLD has 1.0); services default to dev
VERIFY = {"go": "go vet ./...", "rust": "cargo check --quiet"}
# What NEW puts in generated code, per language: file -> text it must hold after an upgrade.
NEW_CODE = {
    "go": {
        "internal/telemetry/policy.go": f'"dev":     {NEW_RATIO},',
        "internal/telemetry/attributes.go": '"acme.region"',
    },
    "rust": {
        "src/telemetry/defaults.rs": f'"dev" => {NEW_RATIO},',
        "src/telemetry/attributes.rs": '"acme.region"',
    },
}

Kind = Literal[
    "plain",  # generated and pushed as it is
    "edited",  # committed local edits that the upgrade must keep
    "conflict",  # a committed edit of a line NEW changes too
    "verify-fails",  # a committed edit that breaks the build
    "dirty",  # a local working tree (no remote) with uncommitted changes
    "no-answers",  # the answers file removed from the default branch
    "unreachable",  # a file:// URL of a path that does not exist
]

# The line of a generated file that NEW changes, and how a "conflict" repository edits it.
SAMPLING_LINE = {
    "go": (
        "internal/telemetry/policy.go",
        '"dev":     1.0,',
        '"dev":     0.5,',
    ),
    "rust": (
        "src/telemetry/defaults.rs",
        '"dev" => 1.0,',
        '"dev" => 0.5,',
    ),
}
_IDENTITY = {
    "GIT_AUTHOR_NAME": "Service Team",
    "GIT_AUTHOR_EMAIL": "team@example.invalid",
    "GIT_COMMITTER_NAME": "Service Team",
    "GIT_COMMITTER_EMAIL": "team@example.invalid",
}


@dataclass(frozen=True)
class RepoSpec:
    """One repository of a fleet: its service name (unique per render), language and shape."""

    name: str
    language: Literal["go", "rust"] = "go"
    kind: Kind = "plain"
    version: str = OLD

    def expected(self, verify: bool = True) -> Outcome:
        """The outcome `fleet upgrade` to NEW must give this repository."""
        if self.kind in ("dirty", "no-answers"):
            return "skipped"
        if self.kind == "unreachable":
            return "error"
        if self.kind == "conflict":
            return "conflict"
        if self.version == NEW:
            return "current"
        if self.kind == "verify-fails" and verify:
            return "verify-failed"
        return "updated"


@dataclass(frozen=True)
class FleetRepo:
    """A repository of a built fleet.

    Attributes:
        spec: what it was built from.
        location: what the fleet is given: a `file://` URL of the bare remote, or the local
            working tree for a "dirty" repository.
        remote: the bare remote (the working tree for "dirty"; a missing path for "unreachable").
        worktree: where the service was rendered (None for "unreachable").
        edits: (file, text) pairs the repository's own commits put in; an upgrade must keep them.
    """

    spec: RepoSpec
    location: str
    remote: Path
    worktree: Path | None
    edits: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        return self.spec.name


def git(cwd: Path, *args: str) -> str:
    """Run git, raising with its stderr when it fails."""
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **_IDENTITY},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} in {cwd}: {proc.stderr.strip()}")
    return proc.stdout


def make_template(root: Path, verify: Mapping[str, str] = VERIFY) -> Path:
    """A template repository at `root/template`: the bundled set tagged OLD, then NEW."""
    template = init_template_repo(root / "template", OLD)
    release_next(template, verify)
    return template


def release_next(template: Path, verify: Mapping[str, str] = VERIFY) -> None:
    """Release NEW: other sampling ratios, one more org attribute, cheaper verify commands."""
    policy = template / "policy.yml"
    text = policy.read_text(encoding="utf-8")
    changes = {
        "  ratio: 0.1\n": "  ratio: 0.05\n",
        "    dev: 1.0\n": f"    dev: {NEW_RATIO}\n",
        "  - name: acme.feature.enabled\n": (
            "  - name: acme.region\n    type: string\n    brief: Region serving the request.\n"
            "  - name: acme.feature.enabled\n"
        ),
    }
    for old, new in changes.items():
        if text.count(old) != 1:
            raise AssertionError(f"policy.yml no longer has exactly one {old!r}")
        text = text.replace(old, new)
    section = f"verify:\n  go: {verify['go']}\n  rust: {verify['rust']}\n"
    text, found = re.subn(r"(?m)^verify:\n(?:[ #].*\n)*", section, text)
    if found != 1:
        raise AssertionError("policy.yml has no verify section")
    policy.write_text(text, encoding="utf-8")
    git(template, "commit", "-q", "-am", "Sample 25% in dev; add acme.region")
    git(template, "tag", NEW)


def verify_env() -> dict[str, str]:
    """Environment for the verify commands: the local toolchains and their shared caches."""
    return {**go_env(), **cargo_env()}


def make_fleet(
    root: Path, template: Path, specs: Sequence[RepoSpec], jobs: int = 1
) -> list[FleetRepo]:
    """Render and shape every repository of `specs` under `root` (work/ and remotes/).

    Renders run in `jobs` worker processes (copier changes the working directory of the
    process it runs in); the result is in the order of `specs`.
    """
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ValueError("service names must be unique: cargo shares one target directory")
    (root / "work").mkdir(parents=True, exist_ok=True)
    (root / "remotes").mkdir(parents=True, exist_ok=True)
    rendered = [spec for spec in specs if spec.kind != "unreachable"]
    if jobs <= 1 or len(rendered) <= 1:
        return [_make_repo(root, template, spec) for spec in specs]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = [pool.submit(_make_repo, root, template, spec) for spec in specs]
        return [future.result() for future in futures]


def _make_repo(root: Path, template: Path, spec: RepoSpec) -> FleetRepo:
    remote = root / "remotes" / f"{spec.name}.git"
    if spec.kind == "unreachable":
        return FleetRepo(spec, remote.as_uri(), remote, None)
    work = root / "work" / spec.name
    NewService(
        dest=work,
        data={"service_name": spec.name, "language": spec.language},
        template=str(template),
        vcs_ref=spec.version,
        use_defaults=True,
        git_init=True,
    ).run()
    edits = _shape(work, spec)
    if spec.kind == "dirty":
        return FleetRepo(spec, str(work), work, work, edits)
    git(root, "clone", "-q", "--bare", str(work), str(remote))
    return FleetRepo(spec, remote.as_uri(), remote, work, edits)


def _shape(work: Path, spec: RepoSpec) -> tuple[tuple[str, str], ...]:
    """Make the repository's own changes for its kind; the committed ones are returned."""
    edits: list[tuple[str, str]] = []
    if spec.kind == "edited":
        if spec.language == "go":
            text = (
                f'package app\n\n// Greeting is {spec.name}\'s own code.\nconst Greeting = "hi"\n'
            )
            edits.append(("internal/app/greeting.go", text))
            edits.append(_append(work, f"cmd/{spec.name}/main.go", "\n// Owned by the team.\n"))
        else:
            edits.append(
                _append(
                    work,
                    "src/app/mod.rs",
                    '\n/// The team\'s own code.\npub const GREETING: &str = "hi";\n',
                )
            )
    elif spec.kind == "conflict":
        path, line, edited = SAMPLING_LINE[spec.language]
        _replace(work / path, line, edited)
        edits.append((path, edited))
    elif spec.kind == "verify-fails":
        if spec.language == "go":
            edits.append(("internal/broken/broken.go", 'package broken\n\nvar Answer int = "42"\n'))
        else:
            edits.append(
                _append(work, "src/lib.rs", '\n/// Broken.\npub fn answer() -> u8 {\n    "42"\n}\n')
            )
    for path, text in edits:
        target = work / path
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    if spec.kind == "no-answers":
        git(work, "rm", "-q", ".copier-answers.yml")
    if edits or spec.kind == "no-answers":
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", f"Our own change ({spec.kind})")
    if spec.kind == "dirty":
        _append(work, "README.md", "\nWork in progress.\n")
        (work / "notes.txt").write_text("not committed\n", encoding="utf-8")
    return tuple(edits)


def push_edit(remote: Path, scratch: Path, path: str, old: str, new: str) -> str:
    """Commit a change of `old` to `new` in `path` on the remote's default branch, as a team would.

    Returns the new head of the default branch.
    """
    work = Path(tempfile.mkdtemp(prefix=f"edit-{remote.stem}-", dir=scratch)) / "repo"
    git(scratch, "clone", "-q", str(remote), str(work))
    _replace(work / path, old, new)
    git(work, "commit", "-q", "-am", f"Edit {path}")
    git(work, "push", "-q", "origin", "HEAD")
    return git(work, "rev-parse", "HEAD").strip()


def _replace(target: Path, old: str, new: str) -> None:
    text = target.read_text(encoding="utf-8")
    if text.count(old) != 1:
        raise AssertionError(f"{target} no longer has exactly one {old!r}")
    target.write_text(text.replace(old, new), encoding="utf-8")


def _append(work: Path, path: str, text: str) -> tuple[str, str]:
    target = work / path
    target.write_text(target.read_text(encoding="utf-8") + text, encoding="utf-8")
    return path, text
