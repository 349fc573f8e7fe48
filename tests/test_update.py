"""`scaffold update` / `scaffold check` / `scaffold template init` on real git repositories.

The template source is the bundled set in its own git repository (made by
`init_template_repo`), tagged v1.0.0. v2.0.0 changes the policy: the dev sampling ratio (and the
org-wide `sampling.ratio`) and a new org attribute. Services are rendered at v1.0.0 once per
module and copied (with .git) per test. Nothing touches the network.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, event, given, note, settings
from hypothesis import strategies as st

from scaffold import errors
from scaffold.cli import cli
from scaffold.errors import (
    AnswerError,
    BehindError,
    ConflictError,
    DestinationError,
    DirtyRepoError,
    GitError,
    NotAServiceError,
    PolicyError,
    ScaffoldError,
    TemplateError,
)
from scaffold.render import NewService
from scaffold.source import bundled_templates
from scaffold.template_repo import init_template_repo
from scaffold.update import ANSWERS_FILE, UpdateResult, UpdateService, check

from .conftest import copier_update_as_renovate, render

V2_RATIO = "0.25"
POLICY_GO = "internal/telemetry/policy.go"
ATTRIBUTES_GO = "internal/telemetry/attributes.go"
HTTP_GO = "internal/telemetry/http.go"
# Every Go file the v2 release changes: the property test edits all of them.
CASE_FILES = (
    "README.md",
    POLICY_GO,
    ATTRIBUTES_GO,
    HTTP_GO,
    "internal/telemetry/http_test.go",
    "internal/telemetry/sampling_test.go",
)


CONTEXT_LINES = 3  # copier's default: a local edit this close to a template change may conflict
# Each example edits all CASE_FILES, each an independent case: 30 examples are 210 cases.
PROPERTY_EXAMPLES = int(os.environ.get("SCAFFOLD_UPDATE_EXAMPLES", "30"))


def dev_ratio(ratio: str) -> str:
    """The line of the sampling table in policy.go that holds the dev ratio."""
    return f'\t"dev":     {ratio},\n'


# -- fixtures -------------------------------------------------------------------------------


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


def _commit(path: Path, message: str = "local edits") -> None:
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "--allow-empty", "-m", message)


def _release_v2(repo_dir: Path) -> None:
    """v2.0.0: the dev sampling ratio (and the org default) change, and an attribute is added."""
    policy = repo_dir / "policy.yml"
    text = policy.read_text(encoding="utf-8")
    changes = {
        "  ratio: 0.1\n": "  ratio: 0.05\n",
        "    dev: 1.0\n": f"    dev: {V2_RATIO}\n",
        "  - name: acme.feature.enabled\n": (
            "  - name: acme.region\n    type: string\n    brief: Region serving the request.\n"
            "  - name: acme.feature.enabled\n"
        ),
    }
    for old, new in changes.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    policy.write_text(text, encoding="utf-8")
    _commit(repo_dir, "v2: dev samples 25%, acme.region")
    _git(repo_dir, "tag", "v2.0.0")


@dataclass(frozen=True)
class World:
    template: Path
    base: Path  # a Go service rendered at v1.0.0 and committed

    def copy(self, dest: Path) -> Path:
        shutil.copytree(self.base, dest, symlinks=True)
        return dest


def _service(template: Path, dest: Path) -> Path:
    NewService(
        dest=dest,
        data={"service_name": "payments", "language": "go"},
        template=str(template),
        vcs_ref="v1.0.0",
        use_defaults=True,
        git_init=True,
    ).run()
    return dest


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("update")
    template = init_template_repo(root / "templates", "v1.0.0")
    base = _service(template, root / "base")
    _release_v2(template)
    return World(template=template, base=base)


def _tree(path: Path) -> dict[str, bytes]:
    return {
        p.relative_to(path).as_posix(): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(path).parts
    }


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _answers(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(_read(path / ANSWERS_FILE))
    assert isinstance(loaded, dict)
    return loaded


def _unmerged(path: Path) -> set[str]:
    return {line.split("\t", 1)[1] for line in _git(path, "ls-files", "-u").splitlines()}


def _rej_files(path: Path) -> list[Path]:
    return [p for p in path.rglob("*.rej") if ".git" not in p.parts]


# -- update: the main story -----------------------------------------------------------------


def test_update_applies_v2_and_keeps_committed_local_edits(world: World, tmp_path: Path) -> None:
    svc = world.copy(tmp_path / "svc")
    readme = svc / "README.md"
    readme.write_text("Owned by the payments team.\n\n" + _read(readme), encoding="utf-8")
    setup = svc / POLICY_GO
    setup.write_text(
        _read(setup).replace("package telemetry\n", "package telemetry\n\n// Reviewed.\n", 1),
        encoding="utf-8",
    )
    (svc / "internal" / "app").mkdir()
    (svc / "internal" / "app" / "handler.go").write_text("package app\n", encoding="utf-8")
    _commit(svc)
    before = check(svc)
    assert (before.current, before.latest, before.behind) == ("v1.0.0", "v2.0.0", True)

    result = UpdateService(svc).run()

    assert (result.from_version, result.to_version) == ("v1.0.0", "v2.0.0")
    assert result.changed and result.conflicts == () and result.rejects == ()
    changed = {change.path: change.kind for change in result.files}
    assert changed[POLICY_GO] == changed[ATTRIBUTES_GO] == changed[ANSWERS_FILE] == "modified"
    assert set(changed.values()) == {"modified"}
    # The policy change reached the generated code.
    assert dev_ratio(V2_RATIO) in _read(setup)
    assert 'AcmeRegionKey = attribute.Key("acme.region")' in _read(svc / ATTRIBUTES_GO)
    assert f"| `dev` | {V2_RATIO} |" in _read(readme)
    # The local edits are all still there.
    assert _read(readme).startswith("Owned by the payments team.\n")
    assert "// Reviewed.\n" in _read(setup)
    assert _read(svc / "internal" / "app" / "handler.go") == "package app\n"
    assert _answers(svc)["_commit"] == "v2.0.0"
    assert not _rej_files(svc) and not _unmerged(svc)
    assert result.notes == ("v2: dev samples 25%, acme.region",)
    assert "  - v2: dev samples 25%, acme.region" in result.summary()
    assert any("git diff" in line for line in result.summary())
    # The update is left for review: uncommitted, and exactly the files it reported.
    status = {line[3:] for line in _git(svc, "status", "--porcelain").splitlines()}
    assert status == set(changed)
    _commit(svc, "Update to v2.0.0")
    assert check(svc).behind is False


def test_conflicting_edit_is_reported_and_loses_nothing(world: World, tmp_path: Path) -> None:
    svc = world.copy(tmp_path / "svc")
    setup = svc / POLICY_GO
    setup.write_text(
        _read(setup).replace(dev_ratio("1.0"), dev_ratio("0.7")),
        encoding="utf-8",
    )
    readme = svc / "README.md"
    readme.write_text(_read(readme) + "\nLocal notes.\n", encoding="utf-8")
    _commit(svc)

    result = UpdateService(svc).run()

    assert result.conflicts == (POLICY_GO,)
    assert {c.path for c in result.files if c.kind == "conflict"} == {POLICY_GO}
    text = _read(setup)
    assert "<<<<<<< " in text and "=======" in text and ">>>>>>> " in text
    assert dev_ratio("0.7") in text  # the team's value
    assert dev_ratio(V2_RATIO) in text  # the template's value
    assert _unmerged(svc) == {POLICY_GO}  # git sees it as a conflict, as after a merge
    assert not _rej_files(svc)
    # Everything else was applied.
    assert _read(readme).endswith("\nLocal notes.\n")
    assert "acme.region" in _read(svc / ATTRIBUTES_GO)
    assert any("<<<<<<<" in line for line in result.summary())
    conflict = ConflictError(svc, result.conflicts)
    assert conflict.exit_code == 10 and POLICY_GO in str(conflict)
    # A second update is refused until the conflict is resolved and committed.
    with pytest.raises(DirtyRepoError):
        UpdateService(svc).run()


def test_dirty_tree_is_refused_and_left_alone(world: World, tmp_path: Path) -> None:
    svc = world.copy(tmp_path / "svc")
    (svc / "README.md").write_text("work in progress\n", encoding="utf-8")
    (svc / "scratch.txt").write_text("untracked\n", encoding="utf-8")
    before = _tree(svc)

    with pytest.raises(DirtyRepoError) as caught:
        UpdateService(svc).run()

    message = str(caught.value)
    assert "\n" not in message and message.endswith("commit or stash your changes first")
    assert "README.md" in message and "scratch.txt" in message
    assert caught.value.exit_code == 8
    assert _tree(svc) == before
    with pytest.raises(DirtyRepoError):
        UpdateService(svc, pretend=True).run()


def test_deleted_file_stays_deleted(world: World, tmp_path: Path) -> None:
    svc = world.copy(tmp_path / "svc")
    (svc / HTTP_GO).unlink()  # v2 changes this file
    _commit(svc, "We keep our package docs elsewhere")

    result = UpdateService(svc).run()

    assert not (svc / HTTP_GO).exists()
    assert HTTP_GO not in {change.path for change in result.files}
    assert result.conflicts == ()
    assert dev_ratio(V2_RATIO) in _read(svc / POLICY_GO)


def test_plain_copier_update_gives_the_same_tree(world: World, tmp_path: Path) -> None:
    """What Renovate's copier manager runs gives exactly what `scaffold update` gives."""
    edited = world.copy(tmp_path / "edited")
    setup = edited / POLICY_GO
    setup.write_text(
        _read(setup).replace(dev_ratio("1.0"), dev_ratio("0.7")),
        encoding="utf-8",
    )
    (edited / "README.md").write_text(
        "Owned by payments.\n\n" + _read(edited / "README.md"), encoding="utf-8"
    )
    _commit(edited)
    ours = shutil.copytree(edited, tmp_path / "ours", symlinks=True)
    theirs = shutil.copytree(edited, tmp_path / "theirs", symlinks=True)

    UpdateService(ours, to="v2.0.0").run()
    copier_update_as_renovate(theirs, "v2.0.0")

    assert _tree(ours) == _tree(theirs)
    assert _unmerged(ours) == _unmerged(theirs) == {POLICY_GO}
    assert dev_ratio(V2_RATIO) in _read(theirs / POLICY_GO)


# -- update: options and refusals -----------------------------------------------------------


def test_pretend_reports_the_real_outcome_and_changes_nothing(world: World, tmp_path: Path) -> None:
    svc = world.copy(tmp_path / "svc")
    setup = svc / POLICY_GO
    setup.write_text(
        _read(setup).replace(dev_ratio("1.0"), dev_ratio("0.7")),
        encoding="utf-8",
    )
    _commit(svc)
    head = _git(svc, "rev-parse", "HEAD")
    before = _tree(svc)

    result = UpdateService(svc, pretend=True).run()

    assert result.pretend and result.path == svc.resolve()
    assert result.conflicts == (POLICY_GO,)
    assert {c.path for c in result.files} >= {ANSWERS_FILE, ATTRIBUTES_GO, POLICY_GO}
    assert result.summary()[0].startswith("Would update")
    assert _tree(svc) == before
    assert _git(svc, "rev-parse", "HEAD") == head
    assert _git(svc, "status", "--porcelain") == ""


def test_same_version_is_a_no_op_and_older_or_unknown_versions_are_refused(
    world: World, tmp_path: Path
) -> None:
    svc = world.copy(tmp_path / "svc")
    same = UpdateService(svc, to="v1.0.0").run()
    assert not same.changed and same.to_version == "v1.0.0"
    assert same.summary() == [f"{svc.resolve()} is already on v1.0.0; nothing to do"]
    assert _git(svc, "status", "--porcelain") == ""

    with pytest.raises(
        TemplateError, match=r"has no version 'v9'; pick an existing tag \(latest: v2.0.0"
    ):
        UpdateService(svc, to="v9").run()

    UpdateService(svc).run()
    _commit(svc, "Update")
    assert UpdateService(svc).run().changed is False  # already on the latest
    with pytest.raises(TemplateError, match="cannot downgrade"):
        UpdateService(svc, to="v1.0.0").run()
    assert _git(svc, "status", "--porcelain") == ""


def test_a_release_with_an_invalid_policy_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    template = init_template_repo(tmp_path / "templates", "v1.0.0")
    svc = _service(template, tmp_path / "svc")
    policy = template / "policy.yml"
    policy.write_text(_read(policy).replace("  ratio: 0.1\n", "  ratio: 7\n"), encoding="utf-8")
    _commit(template, "v2: a typo")
    _git(template, "tag", "v2.0.0")
    before = _tree(svc)
    with pytest.raises(PolicyError, match=r"sampling\.ratio: 7 is out of range") as caught:
        UpdateService(svc).run()
    assert caught.value.exit_code == 3
    assert _tree(svc) == before and _git(svc, "status", "--porcelain") == ""


def test_moved_template_source_is_a_clear_error(world: World, tmp_path: Path) -> None:
    svc = world.copy(tmp_path / "svc")
    answers = svc / ANSWERS_FILE
    answers.write_text(
        _read(answers).replace(str(world.template), str(tmp_path / "gone")), encoding="utf-8"
    )
    _commit(svc, "point at a template that moved")
    for call in (lambda: UpdateService(svc).run(), lambda: check(svc)):
        with pytest.raises(TemplateError) as caught:
            call()
        message = str(caught.value)
        assert "cannot reach template" in message and "_src_path" in message
        assert "\n" not in message and caught.value.exit_code == TemplateError.exit_code
    assert _git(svc, "status", "--porcelain") == ""


def test_not_a_git_repository_or_not_a_service(world: World, tmp_path: Path) -> None:
    # A service outside git: the advice is about git.
    plain = tmp_path / "plain"
    shutil.copytree(world.base, plain, ignore=shutil.ignore_patterns(".git"))
    with pytest.raises(GitError, match=r"not in a git repository.*git init"):
        UpdateService(plain).run()
    # Anything else is not a service, in or out of git: one message, one exit code.
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "main.go").write_text("package main\n", encoding="utf-8")
    _git(repo, "init", "-q")
    _commit(repo, "init")
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "file").write_text("x\n", encoding="utf-8")
    for path, why in (
        (repo, "it has no .copier-answers.yml"),
        (empty, "it has no .copier-answers.yml"),
        (tmp_path / "missing", "it does not exist"),
        (tmp_path / "file", "it is not a directory"),
    ):
        for call in (UpdateService(path).run, functools.partial(check, path)):
            with pytest.raises(NotAServiceError) as caught:
                call()
            assert str(caught.value).startswith(
                f"{path} is not a service made from these templates: {why}; pass the root "
            )
            assert "git init" not in str(caught.value)
    # A directory of a service: the message names the service.
    with pytest.raises(NotAServiceError, match=rf"inside the service {re.escape(str(plain))}"):
        check(plain / "cmd")


def test_cli_update_and_check_outside_a_service(tmp_path: Path) -> None:
    runner = CliRunner()
    for command in ("update", "check"):
        result = runner.invoke(cli, [command, str(tmp_path)])
        assert result.exit_code == NotAServiceError.exit_code == 9
        assert result.output == (
            f"error: {tmp_path} is not a service made from these templates: it has no "
            ".copier-answers.yml; pass the root directory of a service made by `scaffold new` "
            "or `scaffold adopt`\n"
        )


# -- .rej files and failures inside copier (copier replaced by a stand-in) -------------------


def _fake_copier(
    monkeypatch: pytest.MonkeyPatch, effect: Any, *, fail: BaseException | None = None
) -> None:
    def run_update(dst_path: Path, **_: Any) -> None:
        effect(Path(dst_path))
        if fail is not None:
            raise fail

    monkeypatch.setattr("scaffold.update.copier.run_update", run_update)


def test_a_rej_file_whose_lines_are_in_the_markers_becomes_a_conflict(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = world.copy(tmp_path / "svc")

    def effect(dst: Path) -> None:
        (dst / "README.md").write_text(
            "<<<<<<< before updating\nmine\n=======\ntheirs\n>>>>>>> after updating\n",
            encoding="utf-8",
        )
        (dst / "README.md.rej").write_text("@@ -1 +1 @@\n-old\n+mine\n", encoding="utf-8")

    _fake_copier(monkeypatch, effect)
    result = UpdateService(svc).run()
    assert result.conflicts == ("README.md",) and result.rejects == ()
    assert not (svc / "README.md.rej").exists()


def test_a_rej_file_with_content_found_nowhere_else_is_kept_and_reported(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = world.copy(tmp_path / "svc")
    (svc / ".gitignore").write_text(_read(svc / ".gitignore") + "*.rej\n", encoding="utf-8")
    _commit(svc, "ignore .rej")

    def effect(dst: Path) -> None:
        (dst / HTTP_GO).write_text("package telemetry\n", encoding="utf-8")
        (dst / (HTTP_GO + ".rej")).write_text("@@ -1 +1 @@\n-x\n+only here\n", encoding="utf-8")

    _fake_copier(monkeypatch, effect)
    result = UpdateService(svc).run()
    assert result.conflicts == (HTTP_GO,)
    assert result.rejects == (HTTP_GO + ".rej",)
    assert (svc / (HTTP_GO + ".rej")).read_text(encoding="utf-8").endswith("+only here\n")
    assert any("kept" in line and ".rej" in line for line in result.summary())


def test_a_failure_inside_copier_puts_the_service_back(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from copier.errors import UserMessageError

    svc = world.copy(tmp_path / "svc")
    before = _tree(svc)

    def effect(dst: Path) -> None:
        (dst / "README.md").write_text("half written\n", encoding="utf-8")
        (dst / "new.txt").write_text("half written\n", encoding="utf-8")

    _fake_copier(monkeypatch, effect, fail=UserMessageError("template is broken"))
    with pytest.raises(TemplateError, match="template is broken; nothing was changed"):
        UpdateService(svc).run()
    assert _tree(svc) == before
    assert _git(svc, "status", "--porcelain") == ""


# -- check, template init, exit codes -------------------------------------------------------


def test_check_reports_versions_for_ci(world: World, tmp_path: Path) -> None:
    svc = world.copy(tmp_path / "svc")
    result = check(svc)
    assert result.to_dict() == {
        "path": str(svc.resolve()),
        "template": str(world.template),
        "current": "v1.0.0",
        "latest": "v2.0.0",
        "behind": True,
    }
    behind = BehindError(svc, result.current, "v2.0.0")
    assert behind.exit_code == 11 and "scaffold update --to v2.0.0" in str(behind)
    # copier records `git describe` names for commits between tags.
    answers = svc / ANSWERS_FILE
    for commit, is_behind in (("v1.0.0-2-gabcdef0", True), ("v2.0.0-1-gabcdef0", False)):
        answers.write_text(_read(answers).replace("_commit: v1.0.0", f"_commit: {commit}"), "utf-8")
        assert check(svc).behind is is_behind
        answers.write_text(_read(answers).replace(f"_commit: {commit}", "_commit: v1.0.0"), "utf-8")


def test_exit_codes_are_distinct() -> None:
    classes = [
        getattr(errors, name)
        for name in errors.__all__
        if isinstance(getattr(errors, name), type)
        and issubclass(getattr(errors, name), ScaffoldError)
    ]
    # A subclass that keeps its parent's code is a kind of the same outcome
    # (NotVersionedError of NotAServiceError); every other class has a code of its own.
    codes = [cls.exit_code for cls in classes if "exit_code" in vars(cls)]
    assert len(codes) == len(set(codes)), codes


def test_template_init_makes_a_tagged_repository_services_update_from(tmp_path: Path) -> None:
    repo_dir = init_template_repo(tmp_path / "org-templates")
    repo = git.Repo(repo_dir)
    assert [tag.name for tag in repo.tags] == ["v0.1.0"]
    assert repo.tags[0].tag is not None  # annotated: a release with a date and an author
    assert not repo.is_dirty(untracked_files=True)
    assert repo.active_branch.name == "main"
    for name in ("copier.yml", "policy.yml", "go", "rust"):
        assert (repo_dir / name).exists()
    assert _tree(repo_dir) == {
        path: data for path, data in _tree(bundled_templates()).items() if "__pycache__" not in path
    }

    # The documented fix for a service made from the bundled directory: re-point it.
    svc = tmp_path / "svc"
    render(svc, git_init=True, service_name="svc")
    answers = _answers(svc)
    answers.update(_src_path=str(repo_dir), _commit="v0.1.0")
    (svc / ANSWERS_FILE).write_text(yaml.safe_dump(answers), encoding="utf-8")
    _commit(svc, "Take updates from the org template repository")
    assert check(svc).behind is False

    with pytest.raises(DestinationError, match="not empty"):
        init_template_repo(repo_dir)
    with pytest.raises(TemplateError, match="PEP 440"):
        init_template_repo(tmp_path / "x", "latest")
    assert not (tmp_path / "x").exists()


# -- the property: no local edit is ever lost silently ----------------------------------------


@dataclass(frozen=True)
class Case:
    """One file of the property world: its v1 and v2 renders and where the template changed."""

    path: str
    base: list[str]
    new: list[str]
    regions: list[tuple[int, int, int, int]]  # difflib opcodes (i1, i2, j1, j2) that differ

    def changed(self, line: int) -> bool:
        return any(i1 <= line < i2 for i1, i2, _, _ in self.regions)

    def distance(self, kind: str, pos: int) -> int:
        touched = {pos} if kind == "replace" else {pos - 1, pos}
        best = len(self.base) + 1
        for i1, i2, _, _ in self.regions:
            lines = range(i1, i2) if i2 > i1 else (i1 - 1, i1)
            best = min(best, *(abs(t - r) for t in touched for r in lines))
        return best

    def hot(self) -> list[int]:
        """Positions near the template's changes, where conflicts live."""
        spots = {
            p
            for i1, i2, _, _ in self.regions
            for p in range(i1 - CONTEXT_LINES - 2, i2 + CONTEXT_LINES + 2)
        }
        return sorted(p for p in spots if 0 <= p < len(self.base))

    def expected_clean(self, edits: list[tuple[str, int]], markers: list[str]) -> list[str]:
        """v2 with edits far from every template change: where each lands is certain."""
        mapping: dict[int, int] = {len(self.base): len(self.new)}
        for tag, i1, i2, j1, _ in difflib.SequenceMatcher(
            a=self.base, b=self.new, autojunk=False
        ).get_opcodes():
            if tag == "equal":
                mapping.update({i: j1 + i - i1 for i in range(i1, i2)})
        return _apply(self.new, [(k, mapping[p]) for k, p in edits], markers)


@dataclass(frozen=True)
class PropertyWorld:
    base: Path
    cases: list[Case] = field(repr=False)


def _apply(lines: list[str], edits: list[tuple[str, int]], markers: list[str]) -> list[str]:
    replaced = {pos: m for (kind, pos), m in zip(edits, markers, strict=True) if kind == "replace"}
    inserted: dict[int, list[str]] = {}
    for (kind, pos), marker in zip(edits, markers, strict=True):
        if kind == "insert":
            inserted.setdefault(pos, []).append(marker)
    out: list[str] = []
    for i in range(len(lines) + 1):
        out.extend(inserted.get(i, []))
        if i < len(lines):
            out.append(replaced.get(i, lines[i]))
    return out


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")


@pytest.fixture(scope="module")
def property_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PropertyWorld]:
    """The bundled template set cut down to the Go files v2 changes: copier's fixed cost per
    update is what limits the example count, and it grows with every file it renders."""
    root = tmp_path_factory.mktemp("property")
    keep = {f"{p}.jinja" for p in CASE_FILES} | {".gitignore.jinja"}
    template = root / "templates"
    shutil.copytree(bundled_templates(), template, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.rmtree(template / "rust")
    for file in (template / "go").rglob("*"):
        # The Go package directory is named by an answer; a default render puts it here.
        rel = file.relative_to(template / "go").as_posix()
        rel = rel.replace("{{ telemetry_dir }}", "internal/telemetry")
        if file.is_file() and rel not in keep and "answers_file" not in rel:
            file.unlink()
    _git(template, "init", "-q", "-b", "main")
    _commit(template, "v1")
    _git(template, "tag", "v1.0.0")
    base = _service(template, root / "base")
    _release_v2(template)
    updated = shutil.copytree(base, root / "updated", symlinks=True)
    UpdateService(updated).run()
    cases = []
    for path in CASE_FILES:
        old, new = _lines(base / path), _lines(updated / path)
        opcodes = difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes()
        regions = [(i1, i2, j1, j2) for tag, i1, i2, j1, j2 in opcodes if tag != "equal"]
        assert regions, f"v2 must change {path}"
        cases.append(Case(path=path, base=old, new=new, regions=regions))
    yield PropertyWorld(base=base, cases=cases)


@st.composite
def _edits(draw: st.DrawFn, case: Case) -> list[tuple[str, int]]:
    changed = [line for line in range(len(case.base)) if case.changed(line)] or case.hot()
    position = st.one_of(
        st.integers(0, len(case.base) - 1), st.sampled_from(case.hot()), st.sampled_from(changed)
    )
    edit = st.tuples(st.sampled_from(["replace", "insert"]), position)
    return draw(st.lists(edit, max_size=3, unique=True))


@settings(
    max_examples=PROPERTY_EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_no_local_edit_is_ever_lost(property_world: PropertyWorld, data: st.DataObject) -> None:
    """Far edits merge cleanly and exactly; overlapping ones conflict; none vanishes silently."""
    plan = []
    for n, case in enumerate(property_world.cases):
        edits = data.draw(_edits(case), label=case.path)
        markers = [f"// local edit {n}.{k}" for k in range(len(edits))]
        plan.append((case, edits, markers))
    with tempfile.TemporaryDirectory(prefix="update-property-") as tmp:
        svc = shutil.copytree(property_world.base, Path(tmp) / "svc", symlinks=True)
        for case, edits, markers in plan:
            (svc / case.path).write_text("\n".join(_apply(case.base, edits, markers)), "utf-8")
        _commit(svc)

        result: UpdateResult = UpdateService(svc).run()

        unmerged = _unmerged(svc)
        assert not _rej_files(svc)
        for case, edits, markers in plan:
            text = (svc / case.path).read_text(encoding="utf-8")
            lines = text.split("\n")
            conflicted = case.path in result.conflicts
            overlapping = any(kind == "replace" and case.changed(pos) for kind, pos in edits)
            far = all(case.distance(kind, pos) > CONTEXT_LINES for kind, pos in edits)
            note(f"{case.path}: edits={edits} overlapping={overlapping} far={far}")
            # Reported exactly when git and the file say so.
            assert conflicted == ("<<<<<<< " in text) == (case.path in unmerged)
            # Zero edits lost silently: every one is still in the file.
            missing = [m for m in markers if m not in lines]
            assert not missing, f"{case.path} lost {missing}"
            if overlapping:
                assert conflicted, f"{case.path}: an overlapping edit must conflict"
            if far:
                assert not conflicted
                assert lines == case.expected_clean(edits, markers)
            if not conflicted:
                # The template's change arrived too.
                for _, _, j1, j2 in case.regions:
                    assert all(line in lines for line in case.new[j1:j2])
            event(
                "conflict"
                if conflicted
                else ("clean, far" if far else "clean, near")
                if edits
                else "untouched"
            )


# -- the commands, as a user runs them ------------------------------------------------------


def test_cli_flow_init_new_check_update(tmp_path: Path) -> None:
    runner = CliRunner()
    template = tmp_path / "templates"
    made = runner.invoke(cli, ["template", "init", str(template), "--tag", "v1.0.0"])
    assert made.exit_code == 0, made.output
    service = tmp_path / "payments"
    created = runner.invoke(
        cli, ["new", "payments", "--defaults", "--template", str(template), "--dest", str(service)]
    )
    assert created.exit_code == 0, created.output
    assert runner.invoke(cli, ["check", str(service)]).exit_code == 0

    _release_v2(template)
    behind = runner.invoke(cli, ["check", str(service), "--json"])
    assert behind.exit_code == BehindError.exit_code
    assert (json.loads(behind.output)["current"], json.loads(behind.output)["latest"]) == (
        "v1.0.0",
        "v2.0.0",
    )
    # Behind is a normal answer: one line on stdout, the exit code says it; no `error:`.
    behind = runner.invoke(cli, ["check", str(service)])
    assert behind.exit_code == BehindError.exit_code
    assert behind.stdout == (
        f"{service.resolve()} is on v1.0.0; v2.0.0 is available; run `scaffold update --to "
        "v2.0.0`\n"
    )
    assert behind.stderr == ""

    (service / "notes.txt").write_text("wip\n", encoding="utf-8")
    dirty = runner.invoke(cli, ["update", str(service)])
    assert dirty.exit_code == DirtyRepoError.exit_code
    assert "commit or stash your changes first" in dirty.output
    (service / "notes.txt").unlink()

    updated = runner.invoke(cli, ["update", str(service)])
    assert updated.exit_code == 0, updated.output
    assert "v2.0.0" in updated.output
    assert runner.invoke(cli, ["check", str(service)]).exit_code == 0


def test_init_and_release_tag_one_spelling_and_update_takes_either(tmp_path: Path) -> None:
    """`template init --tag 1.0.0` and `template release 1.1.0` both tag with a `v`; `update
    --to` finds a tag written either way, including a hand-made tag without the `v`."""
    runner = CliRunner()
    template = tmp_path / "templates"
    made = runner.invoke(cli, ["template", "init", str(template), "--tag", "1.0.0"])
    assert made.exit_code == 0, made.output
    assert made.output.startswith(f"Created template repository {template} at v1.0.0\n")
    service = tmp_path / "payments"
    created = runner.invoke(
        cli, ["new", "payments", "--defaults", "--template", str(template), "--dest", str(service)]
    )
    assert created.exit_code == 0, created.output

    (template / "NOTES.md").write_text("Notes for service teams.\n", encoding="utf-8")
    _commit(template, "Add notes")
    released = runner.invoke(
        cli, ["template", "release", "1.1.0", "--repo", str(template), "--no-check"]
    )
    assert released.exit_code == 0, released.output
    assert [tag.name for tag in git.Repo(template).tags] == ["v1.0.0", "v1.1.0"]

    updated = runner.invoke(cli, ["update", str(service), "--to", "1.1.0"])
    assert updated.exit_code == 0, updated.output
    assert _answers(service)["_commit"] == "v1.1.0"
    _commit(service, "Update to v1.1.0")

    _release_v2(template)
    _git(template, "tag", "2.0.0", "v2.0.0")  # a tag made by hand, without the `v`
    _git(template, "tag", "-d", "v2.0.0")
    assert UpdateService(service, to="v2.0.0").run().to_version == "2.0.0"


def test_a_multi_line_template_validator_is_reported_whole(world: World, tmp_path: Path) -> None:
    """copier keeps a validator's line breaks; the report must not stop at the first one."""
    template = tmp_path / "templates"
    shutil.copytree(world.template, template, symlinks=True)
    with (template / "copier.yml").open("a", encoding="utf-8") as config:
        # A new question whose default its validator refuses: an update with --defaults fails.
        config.write(
            "\nregion:\n  type: str\n  default: ''\n  validator: >-\n"
            "    {% if not region %}Every service now names its region,\n"
            "      as the platform team announced;\n    answer with --data region=eu-1{% endif %}\n"
        )
    _commit(template, "Ask for the region")
    _git(template, "tag", "v3.0.0")
    svc = world.copy(tmp_path / "svc")
    answers = _answers(svc)
    answers["_src_path"] = str(template)
    (svc / ANSWERS_FILE).write_text(yaml.safe_dump(answers), encoding="utf-8")
    _commit(svc, "Take updates from the copy")

    with pytest.raises(AnswerError) as caught:
        UpdateService(svc, to="v3.0.0").run()
    assert str(caught.value) == (
        "region: Every service now names its region, as the platform team announced; answer "
        "with --data region=eu-1 (asked by v3.0.0)"
    )
    assert _git(svc, "status", "--porcelain") == ""


def test_cli_update_with_a_conflict_exits_with_its_own_code(world: World, tmp_path: Path) -> None:
    service = world.copy(tmp_path / "svc")
    setup = service / POLICY_GO
    setup.write_text(re.sub(r'"dev": +[0-9.]+,', dev_ratio("0.7").strip(), _read(setup)), "utf-8")
    _commit(service, "our own ratio")
    result = CliRunner().invoke(cli, ["update", str(service)])
    assert result.exit_code == ConflictError.exit_code, result.output
    assert POLICY_GO in result.output
    assert "<<<<<<<" in _read(setup)


# -- no lost data, nothing touched outside the service -------------------------------------------


def _own_template(world: World, tmp_path: Path, svc: Path) -> Path:
    """A clone of the template repository for one test, which the service is re-pointed at."""
    template = tmp_path / "own-templates"
    _git(tmp_path, "clone", "-q", str(world.template), str(template))
    answers = svc / ANSWERS_FILE
    answers.write_text(_read(answers).replace(str(world.template), str(template)), encoding="utf-8")
    _commit(svc, "Take the template from our own clone")
    return template


def _release(template: Path, version: str, files: dict[str, str]) -> None:
    for path, text in files.items():
        (template / path).parent.mkdir(parents=True, exist_ok=True)
        (template / path).write_text(text, encoding="utf-8")
    _commit(template, f"{version}: add {', '.join(files)}")
    _git(template, "tag", version)


def _state(path: Path) -> tuple[dict[str, bytes], str, str]:
    """Every file (ignored ones too), `git status`, and the index: all an update may change."""
    return (
        _tree(path),
        _git(path, "status", "--porcelain", "--ignored", "--untracked-files=all"),
        _git(path, "ls-files", "--stage"),
    )


def test_a_new_template_file_never_replaces_an_ignored_local_file(
    world: World, tmp_path: Path
) -> None:
    svc = world.copy(tmp_path / "svc")
    (svc / ".gitignore").write_text(_read(svc / ".gitignore") + "local/\n", encoding="utf-8")
    _commit(svc, "Keep local settings out of git")
    template = _own_template(world, tmp_path, svc)
    _release(
        template,
        "v3.0.0",
        {
            "go/.env": "OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317\n",
            "go/local/dev.yml": "a: 1\n",
        },
    )
    (svc / ".env").write_text("DATABASE_PASSWORD=hunter2\n", encoding="utf-8")
    (svc / "local").mkdir()
    (svc / "local" / "dev.yml").write_text("mine: true\n", encoding="utf-8")
    before = _state(svc)

    for pretend in (True, False):
        with pytest.raises(DirtyRepoError) as caught:
            UpdateService(svc, pretend=pretend).run()
        message = str(caught.value)
        assert ".env" in message and "local/dev.yml" in message, message
        assert "git does not track" in message and caught.value.exit_code == 8
        assert _state(svc) == before

    # Moved out of the way, the update brings the template's files.
    (svc / ".env").unlink()
    shutil.rmtree(svc / "local")
    result = UpdateService(svc).run()
    assert {".env", "local/dev.yml"} <= {c.path for c in result.files if c.kind == "added"}
    assert _read(svc / ".env").startswith("OTEL_EXPORTER_OTLP_ENDPOINT=")


def test_a_rej_file_of_an_earlier_update_is_refused_by_name(world: World, tmp_path: Path) -> None:
    svc = world.copy(tmp_path / "svc")
    (svc / ".gitignore").write_text(_read(svc / ".gitignore") + "*.rej\n", encoding="utf-8")
    _commit(svc, "ignore .rej")
    hunk = "@@ -1 +1 @@\n-old\n+a change nobody applied yet\n"
    (svc / (POLICY_GO + ".rej")).write_text(hunk, encoding="utf-8")
    before = _state(svc)

    for pretend in (True, False):
        with pytest.raises(DirtyRepoError) as caught:
            UpdateService(svc, pretend=pretend).run()
        assert POLICY_GO + ".rej" in str(caught.value) and caught.value.exit_code == 8
        assert "apply each" in str(caught.value)
    assert _state(svc) == before


def test_binary_edits_are_kept_and_reported_never_dropped(world: World, tmp_path: Path) -> None:
    svc = world.copy(tmp_path / "svc")
    main_go = "cmd/payments/main.go"  # v2 does not change it
    readme = _read(svc / "README.md").replace("# payments", "# Payments (edited)", 1)
    (svc / "README.md").write_bytes(readme.encode("utf-16"))  # v2 changes it too
    (svc / main_go).write_bytes((svc / main_go).read_bytes() + b"// \x00 our marker\n")
    _commit(svc, "Re-save the README as UTF-16; a NUL byte in main.go")
    ours_readme, ours_main = (svc / "README.md").read_bytes(), (svc / main_go).read_bytes()

    result = UpdateService(svc).run()

    assert result.binary == ("README.md",) and "README.md" in result.conflicts
    assert (svc / "README.md").read_bytes() == ours_readme
    assert (svc / main_go).read_bytes() == ours_main, "an edit the template did not touch stays"
    assert main_go not in {c.path for c in result.files}
    assert _unmerged(svc) == {"README.md"}
    theirs = subprocess.run(
        ["git", "show", ":3:README.md"], cwd=svc, capture_output=True, check=True
    ).stdout.decode()
    assert f"| `dev` | {V2_RATIO} |" in theirs
    assert any("git checkout --theirs README.md" in line for line in result.summary())
    assert dev_ratio(V2_RATIO) in _read(svc / POLICY_GO)


def _monorepo(world: World, tmp_path: Path) -> Path:
    """A repository holding the service in `services/payments`, and other work beside it."""
    repo = tmp_path / "mono"
    shutil.copytree(world.base, repo / "services" / "payments", symlinks=True)
    shutil.rmtree(repo / "services" / "payments" / ".git")
    (repo / "docs").mkdir()
    (repo / "docs" / "notes.md").write_text("notes v1\n", encoding="utf-8")
    (repo / ".gitignore").write_text("*.rej\n", encoding="utf-8")
    _git(tmp_path, "init", "-q", str(repo))
    _commit(repo, "A monorepo")
    # A .rej of some other tool, ignored, beside a file outside the service.
    (repo / "docs" / "notes.md.rej").write_text("@@ -1 +1 @@\n+keep me\n", encoding="utf-8")
    return repo


def test_a_service_in_a_monorepo_is_updated_without_touching_anything_else(
    world: World, tmp_path: Path
) -> None:
    repo = _monorepo(world, tmp_path)
    svc = repo / "services" / "payments"
    setup = svc / POLICY_GO
    setup.write_text(
        _read(setup).replace(dev_ratio("1.0"), dev_ratio("0.7")),
        encoding="utf-8",
    )
    _commit(repo, "Our own ratio")

    # Uncommitted work outside the service: refused, and nothing changes.
    (repo / "docs" / "notes.md").write_text("notes v1\nwork in progress\n", encoding="utf-8")
    before = _state(repo)
    with pytest.raises(DirtyRepoError) as caught:
        UpdateService(svc).run()
    assert "docs/notes.md" in str(caught.value) and str(repo) in str(caught.value)
    assert _state(repo) == before

    _git(repo, "checkout", "-q", "--", "docs/notes.md")
    outside = {p: c for p, c in _tree(repo).items() if not p.startswith("services/")}
    result = UpdateService(svc).run()

    assert result.conflicts == (POLICY_GO,)
    assert "<<<<<<<" in _read(setup)
    assert {p: c for p, c in _tree(repo).items() if not p.startswith("services/")} == outside
    assert (repo / "docs" / "notes.md.rej").read_text(encoding="utf-8").endswith("+keep me\n")
    changed = _git(repo, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert changed and all(line[3:].startswith("services/payments/") for line in changed)
    assert _unmerged(repo) == {f"services/payments/{POLICY_GO}"}


# -- interrupted updates: real signals to a real `scaffold update` -------------------------------

# Runs `scaffold update PATH` in a child process and sends it SIGNAL at a point of the update:
# right after copier has written the update ("copier"), or while the result is being written
# into the service ("carry", after its second file).
_INTERRUPT = """
import os, signal, sys
import copier
from scaffold import _workspace

stage, signum, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
real_update, real_put, written = copier.run_update, _workspace._put, []

def run_update(*args, **kwargs):
    real_update(*args, **kwargs)
    if stage == "copier":
        os.kill(os.getpid(), signum)

def put(*args, **kwargs):
    real_put(*args, **kwargs)
    written.append(args)
    if stage == "carry" and len(written) == 2:
        os.kill(os.getpid(), signum)

copier.run_update, _workspace._put = run_update, put
sys.argv = ["scaffold", "update", path]
from scaffold.__main__ import main
main()
"""


@pytest.mark.parametrize("stage", ["copier", "carry"])
@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)]
)
def test_an_interrupted_update_puts_the_service_back_exactly(
    world: World, tmp_path: Path, stage: str, signum: int, code: int
) -> None:
    svc = world.copy(tmp_path / "svc")
    setup = svc / POLICY_GO
    setup.write_text(
        _read(setup).replace("package telemetry\n", "package telemetry\n\n// Ours.\n", 1),
        encoding="utf-8",
    )
    _commit(svc, "Our own comment")
    (svc / ".env").write_text("SECRET=1\n", encoding="utf-8")  # ignored, must survive
    before = _state(svc)
    temp = tmp_path / "tmp"
    temp.mkdir()

    proc = subprocess.run(
        [sys.executable, "-c", _INTERRUPT, stage, str(int(signum)), str(svc)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TMPDIR": str(temp)},
        check=False,
    )

    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().endswith("the step in progress was undone")
    assert _state(svc) == before
    assert list(temp.iterdir()) == [], "no temporary directory is left behind"


def test_a_failure_while_writing_the_update_puts_everything_back(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from scaffold import _workspace

    svc = world.copy(tmp_path / "svc")
    (svc / ".env").write_text("SECRET=1\n", encoding="utf-8")
    before = _state(svc)
    real_put = _workspace._put
    written: list[tuple[Any, ...]] = []

    def disk_full(*args: Any, **kwargs: Any) -> None:
        if len(written) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_put(*args, **kwargs)
        written.append(args)

    monkeypatch.setattr(_workspace, "_put", disk_full)
    with pytest.raises(DestinationError, match="No space left on device; nothing was changed"):
        UpdateService(svc).run()
    assert _state(svc) == before
