"""Golden snapshots: a few rendered outputs kept in tests/golden/ and compared on every run.

A template or policy change shows up here as a unified diff, and, once the snapshots are
refreshed, as a readable diff of generated Go and Rust code in review. Refresh them with

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_golden.py

(or `make golden`), read the diff with `git diff tests/golden`, and commit it with the template
change. See docs/template-authoring.md, "Golden snapshots".
"""

from __future__ import annotations

import difflib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import render

GOLDEN = Path(__file__).resolve().parent / "golden"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
UPDATE = os.environ.get("UPDATE_GOLDEN", "") not in ("", "0")


@dataclass(frozen=True)
class Snapshot:
    """One rendered output: the answers it is rendered with, and the files kept of it.

    Only the files that carry the policy and the instrumentation are kept: the telemetry
    package and the manifest, and of those only the ones rendered from a `.jinja` source (a
    file the template copies as it is would only repeat the template). Lock files (go.sum,
    Cargo.lock) are left out: they are large and churn with every dependency bump, and the
    compile tier already proves them.
    """

    answers: dict[str, Any]
    include: tuple[str, ...]
    exclude: tuple[str, ...] = field(default=())

    def files(self, root: Path) -> dict[str, str]:
        """The kept files of a render, by path relative to `root`."""
        verbatim = TEMPLATES / str(self.answers["language"])
        # The telemetry package's template directory is named by the telemetry_dir answer.
        package = yaml.safe_load((root / ".copier-answers.yml").read_text(encoding="utf-8"))[
            "telemetry_dir"
        ]
        kept: dict[str, str] = {}
        for pattern in self.include:
            for path in sorted(root.glob(pattern)):
                rel = path.relative_to(root)
                source = rel.as_posix()
                if source.startswith(f"{package}/"):
                    source = "{{ telemetry_dir }}" + source.removeprefix(package)
                if (verbatim / source).is_file():
                    continue
                if path.is_file() and not any(rel.match(x) for x in self.exclude):
                    kept[rel.as_posix()] = path.read_text(encoding="utf-8")
        return kept


SNAPSHOTS = {
    "go-defaults": Snapshot(
        answers={"service_name": "orders", "language": "go"},
        include=("go.mod", "internal/telemetry/*.go"),
        exclude=("*_test.go",),
    ),
    "rust-defaults": Snapshot(
        answers={"service_name": "ledger", "language": "rust"},
        include=("Cargo.toml", "src/telemetry/*.rs"),
    ),
}


def stored(name: str) -> dict[str, str]:
    root = GOLDEN / name
    return {
        path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def store(name: str, files: dict[str, str]) -> None:
    root = GOLDEN / name
    shutil.rmtree(root, ignore_errors=True)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def unified_diff(name: str, expected: dict[str, str], actual: dict[str, str]) -> str:
    chunks: list[str] = []
    for rel in sorted(expected.keys() | actual.keys()):
        before, after = expected.get(rel), actual.get(rel)
        if before == after:
            continue
        chunks.extend(
            difflib.unified_diff(
                (before or "").splitlines(keepends=True),
                (after or "").splitlines(keepends=True),
                fromfile=f"golden/{name}/{rel}" if before is not None else "/dev/null",
                tofile=f"rendered/{name}/{rel}" if after is not None else "/dev/null",
            )
        )
    return "".join(chunks)


@pytest.mark.parametrize("name", SNAPSHOTS)
def test_render_matches_golden_snapshot(tmp_path: Path, name: str) -> None:
    snapshot = SNAPSHOTS[name]
    render(tmp_path / name, **snapshot.answers)
    actual = snapshot.files(tmp_path / name)
    assert actual, f"the snapshot {name} selects no files: check its include patterns"
    if UPDATE:
        store(name, actual)
        return
    expected = stored(name)
    if not expected:
        pytest.fail(
            f"tests/golden/{name} is missing: run `UPDATE_GOLDEN=1 .venv/bin/pytest "
            "tests/test_golden.py` and commit the result"
        )
    diff = unified_diff(name, expected, actual)
    if diff:
        pytest.fail(
            f"the render of {name} differs from tests/golden/{name}. If the change is intended, "
            "refresh with `UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_golden.py` and commit "
            f"tests/golden with the template change.\n{diff}",
            pytrace=False,
        )


def test_golden_directory_has_no_stale_snapshots() -> None:
    """A snapshot removed from SNAPSHOTS must not linger in tests/golden."""
    if not GOLDEN.is_dir():
        pytest.fail(
            "tests/golden is missing: run `UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_golden.py`"
        )
    stale = sorted(p.name for p in GOLDEN.iterdir() if p.name not in SNAPSHOTS)
    if UPDATE:
        for name in stale:
            shutil.rmtree(GOLDEN / name)
        return
    assert stale == [], f"tests/golden holds snapshots no test renders: {stale}"
