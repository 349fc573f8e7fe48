"""Template versions that rename an answer or move a file, crossed by old services (issue 5).

The template set stays trust-free: no `_migrations`, `_tasks` or Jinja extensions. A release
that renames a question deletes the old one and gives the new one a default that reads the old
answer; a release that moves a file moves it in the template. These tests build such releases
in real git template repositories (the bundled set, tagged v1.0.0, then edited and tagged), make
services at v1.0.0 and take them across with `scaffold update` and with plain `copier update`,
the command Renovate's copier manager runs. Nothing needs a Go or Rust toolchain.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from scaffold.cli import cli
from scaffold.errors import AnswerError, ConflictError, DirtyRepoError
from scaffold.questions import load_questions, resolve_answers
from scaffold.render import NewService
from scaffold.source import open_source
from scaffold.template_repo import init_template_repo
from scaffold.update import ANSWERS_FILE, UpdateService, check

from .conftest import copier_update_as_renovate

TEAM = "payments-core"  # a team of its own, not the policy's `default_team`
SETUP_GO = "internal/telemetry/setup.go"
LOG_GO = "internal/telemetry/log.go"
OLD_FILE = "internal/telemetry/killswitch.go"
NEW_FILE = "internal/telemetry/switch.go"
# Where the telemetry packages live in the template set (directories named by an answer).
GO_PACKAGE = "go/{{ telemetry_dir }}"
RUST_PACKAGE = "rust/{{ telemetry_dir }}"
# v2 of the move also rewords one comment of the moved file.
MOVED_COMMENT = (
    "\t// switchedOff is the runtime kill switch. Its zero value, false, means telemetry is on.\n",
    "\t// switchedOff is the runtime kill switch; false (its zero value) means telemetry is on.\n",
)
LOCAL_EDIT = "\n// Ops: flip the switch from the admin port before paging the platform team.\n"


# -- helpers --------------------------------------------------------------------------------


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


def _commit(path: Path, message: str) -> None:
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", message)


def _release(template: Path, version: str, message: str) -> None:
    _commit(template, message)
    _git(template, "tag", "-a", version, "-m", f"Template set {version}")


def _replace(file: Path, old: str, new: str, count: int = 1) -> None:
    text = file.read_text(encoding="utf-8")
    assert text.count(old) == count, f"{file}: {old!r}"
    file.write_text(text.replace(old, new), encoding="utf-8")


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _tree(path: Path) -> dict[str, bytes]:
    return {
        p.relative_to(path).as_posix(): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(path).parts
    }


def _code(tree: Mapping[str, bytes]) -> dict[str, bytes]:
    """Every file but the answers file."""
    return {path: data for path, data in tree.items() if path != ANSWERS_FILE}


def _answers(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(_read(path / ANSWERS_FILE))
    assert isinstance(loaded, dict)
    return loaded


def _unmerged(path: Path) -> dict[str, set[int]]:
    """Unmerged paths and the index stages git holds for each."""
    stages: dict[str, set[int]] = {}
    for line in _git(path, "ls-files", "-u").splitlines():
        info, name = line.split("\t", 1)
        stages.setdefault(name, set()).add(int(info.split()[2]))
    return stages


def _rej_files(path: Path) -> list[Path]:
    return [p for p in path.rglob("*.rej") if ".git" not in p.parts]


def _service(template: Path, dest: Path, **data: str) -> Path:
    NewService(
        dest=dest,
        data={"service_name": "payments", "language": "go", **data},
        template=str(template),
        vcs_ref="v1.0.0",
        use_defaults=True,
        git_init=True,
    ).run()
    return dest


# -- the releases ---------------------------------------------------------------------------


def _release_rename(template: Path) -> None:
    """v2.0.0: the question `team` becomes `owning_team`, as docs/template-authoring.md says."""
    config = template / "copier.yml"
    _replace(config, "\nteam:\n", "\nowning_team:\n")
    _replace(
        config,
        'default: "{{ policy.org.default_team }}"',
        'default: "{{ team | default(policy.org.default_team) }}"',
    )
    _replace(config, "(team |", "(owning_team |")
    uses = {
        "go/README.md.jinja": "{{ team }}",
        f"{GO_PACKAGE}/setup.go.jinja": "{{ team }}",
        f"{GO_PACKAGE}/setup_test.go.jinja": "{{ team }}",
        "rust/README.md.jinja": "{{ team }}",
        f"{RUST_PACKAGE}/defaults.rs.jinja": "&str', team)",
    }
    for name, use in uses.items():
        _replace(template / name, use, use.replace("team", "owning_team"))
    # Every template use of the old answer is switched: none is left for copier to render empty.
    leftover = re.compile(r"\{\{[^}]*(?<![\w.'])team\b(?!')[^}]*\}\}")
    for file in template.rglob("*.jinja"):
        assert not leftover.search(_read(file)), file
    _release(template, "v2.0.0", "Rename the question team to owning_team")


def _release_unrelated(template: Path) -> None:
    """v3.0.0: a new org attribute, nothing to do with the rename."""
    _replace(
        template / "policy.yml",
        "  - name: acme.feature.enabled\n",
        "  - name: acme.region\n    type: string\n    brief: Region serving the request.\n"
        "  - name: acme.feature.enabled\n",
    )
    _release(template, "v3.0.0", "Add the acme.region attribute")


def _release_move(template: Path) -> None:
    """v2.0.0: killswitch.go becomes switch.go, with one comment reworded."""
    old = template / GO_PACKAGE / "killswitch.go.jinja"
    _replace(old, *MOVED_COMMENT)
    _git(template, "mv", f"{GO_PACKAGE}/killswitch.go.jinja", f"{GO_PACKAGE}/switch.go.jinja")
    _release(template, "v2.0.0", "Move the kill switch to switch.go")


@dataclass(frozen=True)
class World:
    template: Path
    base: Path  # a Go service made at v1.0.0 and committed
    v1: dict[str, bytes]  # what v1.0.0 generated for it

    def copy(self, dest: Path) -> Path:
        shutil.copytree(self.base, dest, symlinks=True)
        return dest


@pytest.fixture(scope="module")
def renamed(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("rename")
    template = init_template_repo(root / "templates", "v1.0.0")
    base = _service(template, root / "base", team=TEAM)
    _release_rename(template)
    return World(template=template, base=base, v1=_tree(base))


@pytest.fixture(scope="module")
def moved(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("move")
    template = init_template_repo(root / "templates", "v1.0.0")
    base = _service(template, root / "base")
    _release_move(template)
    return World(template=template, base=base, v1=_tree(base))


# -- renaming an answer ---------------------------------------------------------------------


def test_renamed_answer_carries_the_old_value_across(renamed: World, tmp_path: Path) -> None:
    svc = renamed.copy(tmp_path / "svc")
    log_go = svc / LOG_GO
    log_go.write_text(_read(log_go) + "\n// Reviewed by payments-core.\n", encoding="utf-8")
    (svc / "internal" / "app").mkdir()
    (svc / "internal" / "app" / "handler.go").write_text("package app\n", encoding="utf-8")
    _commit(svc, "local edits")
    edited = _tree(svc)
    before = _answers(svc)
    assert before["team"] == TEAM
    plain = shutil.copytree(svc, tmp_path / "plain", symlinks=True)

    result = UpdateService(svc, to="v2.0.0").run()
    copier_update_as_renovate(plain, "v2.0.0")

    assert (result.from_version, result.to_version) == ("v1.0.0", "v2.0.0")
    assert result.conflicts == result.rejects == result.removed == ()
    assert {change.path: change.kind for change in result.files} == {ANSWERS_FILE: "modified"}
    # The answers file records the new name with the value the service chose at v1.
    answers = _answers(svc)
    assert answers["owning_team"] == TEAM and "team" not in answers
    expected = {k: v for k, v in before.items() if k != "team"}
    assert answers == {**expected, "owning_team": TEAM, "_commit": "v2.0.0"}
    # The code is what v1 generated for that value, and the local edits are still there.
    after = _tree(svc)
    assert _code(after) == _code(edited)
    assert re.search(rf'\n\tteam += "{TEAM}"\n', _read(svc / SETUP_GO))
    assert _read(log_go).endswith("\n// Reviewed by payments-core.\n")
    # Plain copier (Renovate) crosses the rename the same way.
    assert _tree(plain) == after
    assert not _unmerged(svc) and not _unmerged(plain) and not _rej_files(svc)
    _commit(svc, "Update to v2.0.0")
    status = check(svc)
    assert (status.current, status.latest, status.behind) == ("v2.0.0", "v2.0.0", False)


def test_a_service_that_skips_the_renaming_version_still_crosses_it(tmp_path: Path) -> None:
    template = init_template_repo(tmp_path / "templates", "v1.0.0")
    svc = _service(template, tmp_path / "svc", team=TEAM)
    v1 = _tree(svc)
    _release_rename(template)
    _release_unrelated(template)

    result = UpdateService(svc).run()  # the latest: v3.0.0, straight from v1.0.0

    assert result.to_version == "v3.0.0" and result.conflicts == ()
    answers = _answers(svc)
    assert answers["owning_team"] == TEAM and "team" not in answers
    assert answers["_commit"] == "v3.0.0"
    assert re.search(rf'\n\tteam += "{TEAM}"\n', _read(svc / SETUP_GO))
    assert 'AcmeRegionKey = attribute.Key("acme.region")' in _read(
        svc / "internal/telemetry/attributes.go"
    )
    # The new attribute arrived; the renamed answer changed no code.
    changed = {change.path for change in result.files}
    assert {ANSWERS_FILE, "internal/telemetry/attributes.go"} <= changed
    assert SETUP_GO not in changed and (svc / SETUP_GO).read_bytes() == v1[SETUP_GO]
    _commit(svc, "Update to v3.0.0")
    assert check(svc).behind is False


def test_new_at_the_renaming_version_asks_the_new_question(renamed: World, tmp_path: Path) -> None:
    """`scaffold new` reads questions from copier.yml, so it asks `owning_team` with no code
    change; with no `_RULES` entry for that name, copier's validator is what refuses a bad one."""
    with open_source(str(renamed.template), "v2.0.0") as source:
        policy = source.policy()
        questions = load_questions(source.config())
    names = [question.name for question in questions]
    assert "owning_team" in names and "team" not in names
    settled = resolve_answers(
        questions, policy, {"service_name": "x", "language": "go"}, use_defaults=True, ask=None
    )
    assert settled["owning_team"] == policy.raw["org"]["default_team"]

    fresh = tmp_path / "fresh"
    made = NewService(
        dest=fresh,
        data={"service_name": "payments", "language": "go", "owning_team": TEAM},
        template=str(renamed.template),
        vcs_ref="v2.0.0",
        use_defaults=True,
        git_init=False,
    ).run()
    assert made.answers["owning_team"] == TEAM
    # A service made at v2 is the one a v1 service becomes by updating.
    assert _code(_tree(fresh)) == _code(renamed.v1)
    v1_answers = yaml.safe_load(renamed.v1[ANSWERS_FILE])
    del v1_answers["team"]
    assert _answers(fresh) == {**v1_answers, "owning_team": TEAM, "_commit": "v2.0.0"}

    with pytest.raises(AnswerError, match=r"^team: is not a question of this template"):
        NewService(
            dest=tmp_path / "old-name",
            data={"service_name": "payments", "language": "go", "team": TEAM},
            template=str(renamed.template),
            vcs_ref="v2.0.0",
            use_defaults=True,
        ).run()
    with pytest.raises(AnswerError) as caught:
        NewService(
            dest=tmp_path / "bad",
            data={"service_name": "payments", "language": "go", "owning_team": "Payments Core"},
            template=str(renamed.template),
            vcs_ref="v2.0.0",
            use_defaults=True,
        ).run()
    assert caught.value.question == "owning_team"
    assert "Team must be lowercase letters" in caught.value.problem
    assert not (tmp_path / "old-name").exists() and not (tmp_path / "bad").exists()


# -- moving a file --------------------------------------------------------------------------


def _moved_v2(v1: bytes) -> bytes:
    old, new = MOVED_COMMENT
    assert v1.count(old.encode()) == 1
    return v1.replace(old.encode(), new.encode())


def test_moved_file_the_service_never_edited_moves_with_the_template(
    moved: World, tmp_path: Path
) -> None:
    svc = moved.copy(tmp_path / "svc")

    result = UpdateService(svc).run()

    assert {change.path: change.kind for change in result.files} == {
        ANSWERS_FILE: "modified",
        OLD_FILE: "deleted",
        NEW_FILE: "added",
    }
    assert result.conflicts == result.rejects == result.removed == ()
    assert not (svc / OLD_FILE).exists()
    assert (svc / NEW_FILE).read_bytes() == _moved_v2(moved.v1[OLD_FILE])
    assert not _unmerged(svc) and not _rej_files(svc)
    assert result.summary()[-1].startswith("Review the change with `git diff`")
    _commit(svc, "Update to v2.0.0")
    assert check(svc).behind is False
    assert _code(_tree(svc)) == {
        **{path: data for path, data in _code(moved.v1).items() if path != OLD_FILE},
        NEW_FILE: _moved_v2(moved.v1[OLD_FILE]),
    }


def test_moved_file_with_a_local_edit_is_kept_and_reported(moved: World, tmp_path: Path) -> None:
    """copier deletes the old file, edit and all; `scaffold update` keeps it as a conflict."""
    svc = moved.copy(tmp_path / "svc")
    with (svc / OLD_FILE).open("a", encoding="utf-8") as file:
        file.write(LOCAL_EDIT)
    _commit(svc, "Document how ops use the kill switch")
    committed = (svc / OLD_FILE).read_bytes()
    plain = shutil.copytree(svc, tmp_path / "plain", symlinks=True)
    head = _git(svc, "rev-parse", "HEAD")

    result = UpdateService(svc, pretend=True).run()
    assert _git(svc, "status", "--porcelain") == "" and _git(svc, "rev-parse", "HEAD") == head
    run = CliRunner().invoke(cli, ["update", str(svc)])
    copier_update_as_renovate(plain, "v2.0.0")

    # Plain copier: the edited file is gone, no conflict, no .rej; the edit is only in history.
    assert not (plain / OLD_FILE).exists()
    assert not _unmerged(plain) and not _rej_files(plain)
    assert _git(plain, "status", "--porcelain", "--", OLD_FILE) == f" D {OLD_FILE}\n"
    # scaffold (`--pretend` says so first): the file is kept as committed, as a conflict.
    assert result.conflicts == (OLD_FILE,) and result.removed == (OLD_FILE,)
    assert result.rejects == ()
    assert {change.path: change.kind for change in result.files} == {
        ANSWERS_FILE: "modified",
        OLD_FILE: "conflict",
        NEW_FILE: "added",
    }
    assert (svc / OLD_FILE).read_bytes() == committed
    assert (svc / NEW_FILE).read_bytes() == _moved_v2(moved.v1[OLD_FILE])
    # git records it as after a merge: modified by us, deleted by them.
    assert _unmerged(svc) == {OLD_FILE: {1, 2}}
    assert _git(svc, "show", f":1:{OLD_FILE}").encode() == moved.v1[OLD_FILE]
    assert _git(svc, "show", f":2:{OLD_FILE}").encode() == committed
    assert f"UD {OLD_FILE}\n" in _git(svc, "status", "--porcelain")
    assert not _rej_files(svc)
    # Apart from the kept file, the update is exactly what plain copier does.
    assert _tree(svc) == {**_tree(plain), OLD_FILE: committed}
    # What the user is told.
    kept = f"  kept      {OLD_FILE} (v2.0.0 moved or removed it; it holds your edits)"
    assert kept in result.summary()
    assert run.exit_code == ConflictError.exit_code, run.output
    output = run.output.splitlines()
    assert f"  conflict  {OLD_FILE}" in output and kept in output
    assert (
        "Carry your edits out of the kept files into the template's new code and "
        "`git rm` them, then commit."
    ) in output
    report = [line for line in output if not line.startswith("error:")]
    assert not any("Review the change" in line or "<<<<<<<" in line for line in report)
    with pytest.raises(DirtyRepoError):
        UpdateService(svc).run()

    # Resolving it the git way: move the edit, `git rm` the old file, commit.
    with (svc / NEW_FILE).open("a", encoding="utf-8") as file:
        file.write(LOCAL_EDIT)
    _git(svc, "rm", "-q", OLD_FILE)
    _commit(svc, "Update to v2.0.0")
    assert check(svc).behind is False
    assert _read(svc / NEW_FILE).endswith(LOCAL_EDIT)
    assert _git(svc, "status", "--porcelain") == ""
