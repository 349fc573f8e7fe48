"""`scaffold template release` on real template repositories in tmp_path.

The template check is stubbed (the real render + compile matrix is `tests/test_template_check.py`'s
job); the stub records the directory it was given, so the tests can see what was checked.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import types
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from scaffold import release as release_module
from scaffold._git import GitFailed
from scaffold.cli import cli
from scaffold.errors import (
    CheckFailedError,
    DirtyRepoError,
    GitError,
    PolicyError,
    ReleaseError,
    TemplateError,
)
from scaffold.policy import POLICY_FILE
from scaffold.release import CHANGELOG_FILE, ReleaseResult, TemplateRelease
from scaffold.source import latest_version_tag
from scaffold.template_repo import init_template_repo

DAY = dt.date(2025, 3, 14)


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()


@dataclass
class Report:
    passed: bool = True
    failed: Sequence[Any] = ()
    combinations: Sequence[str] = ("go-a", "go-b", "rust-a", "rust-b", "go-c", "rust-c")


@dataclass
class StubChecker:
    report: Report = field(default_factory=Report)
    seen: list[Path] = field(default_factory=list)
    policies: list[str] = field(default_factory=list)

    def __call__(self, src: Path) -> Report:
        self.seen.append(src)
        assert (src / "copier.yml").is_file()
        assert not (src / ".git").exists(), "the check must see a plain directory"
        self.policies.append((src / POLICY_FILE).read_text(encoding="utf-8"))
        return self.report


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A template repository at v1.0.0 with two commits since: a policy change and a fix."""
    path = init_template_repo(tmp_path / "templates", "v1.0.0")
    policy = path / POLICY_FILE
    text = policy.read_text(encoding="utf-8")
    policy.write_text(
        text.replace("    prod: 1.0\n", "    prod: 0.05\n").replace(
            "  timeout_ms: 5000\n", "  timeout_ms: 10000\n"
        ),
        encoding="utf-8",
    )
    _git(path, "commit", "-qam", "Lower prod sampling and raise the export timeout")
    (path / "go" / "NOTES.md").write_text("Notes for template authors.\n", encoding="utf-8")
    _git(path, "add", "-A")
    _git(path, "commit", "-qm", "Add notes for template authors")
    return path


def _state(path: Path) -> tuple[str, str, str]:
    """HEAD, tags and status: what a refused release must leave untouched."""
    return _git(path, "rev-parse", "HEAD"), _git(path, "tag"), _git(path, "status", "--porcelain")


def test_release_writes_the_changelog_commits_and_tags(repo: Path) -> None:
    checker = StubChecker()
    head = _git(repo, "rev-parse", "HEAD")

    result = TemplateRelease(repo, "v1.1.0", checker=checker, date=DAY).run()

    assert isinstance(result, ReleaseResult)
    assert (result.version, result.previous) == ("v1.1.0", "v1.0.0")
    # The check ran once, on the commit being released (the new policy), not on v1.0.0.
    assert len(checker.seen) == 1
    assert "    prod: 0.05\n" in checker.policies[0]
    assert not checker.seen[0].exists(), "the checked copy is temporary"
    assert result.check is checker.report
    # One release commit on top of the released work, holding only the CHANGELOG.
    assert _git(repo, "rev-parse", "HEAD~1") == head
    assert _git(repo, "log", "-1", "--format=%s") == "Release v1.1.0"
    assert _git(repo, "show", "--name-only", "--format=", "HEAD") == CHANGELOG_FILE
    assert result.commit == _git(repo, "rev-parse", "HEAD")
    assert _git(repo, "status", "--porcelain") == ""
    # An annotated tag at the release commit, with the notes, that copier will pick.
    assert _git(repo, "cat-file", "-t", "v1.1.0") == "tag"
    assert _git(repo, "rev-parse", "v1.1.0^{commit}") == result.commit
    tag_message = _git(repo, "tag", "-l", "--format=%(contents)", "v1.1.0")
    assert tag_message.startswith("Template set v1.1.0")
    assert "sampling in prod: 100% -> 5% of new traces" in tag_message
    assert latest_version_tag(repo) == "v1.1.0"

    changelog = (repo / CHANGELOG_FILE).read_text(encoding="utf-8")
    assert changelog == (
        "# Changelog\n"
        "\n"
        "## v1.1.0 (2025-03-14)\n"
        "\n"
        "### Policy\n"
        "\n"
        "- sampling in prod: 100% -> 5% of new traces\n"
        "- exporter timeout 5s -> 10s\n"
        "\n"
        "### Changes\n"
        "\n"
        "- Add notes for template authors\n"
        "- Lower prod sampling and raise the export timeout\n"
    )
    assert result.entry in changelog
    assert [c.path for c in result.policy_changes] == [
        "sampling.environments.prod",
        "exporter.timeout_ms",
    ]
    assert result.subjects == (
        "Add notes for template authors",
        "Lower prod sampling and raise the export timeout",
    )
    assert result.summary()[0].startswith("Released v1.1.0 (since v1.0.0)")


def test_the_next_release_goes_on_top(repo: Path) -> None:
    TemplateRelease(repo, "v1.1.0", checker=StubChecker(), date=DAY).run()
    (repo / "go" / "NOTES.md").write_text("More notes.\n", encoding="utf-8")
    _git(repo, "commit", "-qam", "Expand the notes")

    # Written without the `v`, tagged with it: every tag has one spelling.
    result = TemplateRelease(repo, "1.2", checker=StubChecker(), date=DAY).run()

    assert result.version == "v1.2"
    assert "v1.2" in _git(repo, "tag").split()
    changelog = (repo / CHANGELOG_FILE).read_text(encoding="utf-8")
    assert changelog.index("## v1.2 (") < changelog.index("## v1.1.0 (")
    assert changelog.startswith("# Changelog\n\n## v1.2 (2025-03-14)\n")
    assert "No policy changes since v1.1.0." in result.entry
    # Only what happened since v1.1.0: not the v1.1.0 release commit, not older work.
    assert result.subjects == ("Expand the notes",)
    assert changelog.count("# Changelog") == 1
    assert "\n\n\n" not in changelog


def test_a_hand_written_changelog_keeps_its_preamble(repo: Path) -> None:
    (repo / CHANGELOG_FILE).write_text(
        "# Changelog\n\nWhat changed in the acme templates.\n\n## v1.0.0\n\n- First.\n",
        encoding="utf-8",
    )
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "Start a changelog")
    TemplateRelease(repo, "v1.1.0", checker=StubChecker(), date=DAY).run()
    text = (repo / CHANGELOG_FILE).read_text(encoding="utf-8")
    assert text.startswith("# Changelog\n\nWhat changed in the acme templates.\n\n## v1.1.0 (")
    assert text.endswith("\n\n## v1.0.0\n\n- First.\n")


@pytest.mark.parametrize("untracked", [False, True])
def test_a_dirty_tree_is_refused(repo: Path, untracked: bool) -> None:
    if untracked:
        (repo / "scratch.txt").write_text("wip\n", encoding="utf-8")
    else:
        with (repo / POLICY_FILE).open("a", encoding="utf-8") as f:
            f.write("# wip\n")
    before = _state(repo)
    checker = StubChecker()
    with pytest.raises(DirtyRepoError) as caught:
        TemplateRelease(repo, "v1.1.0", checker=checker).run()
    assert caught.value.exit_code == 8
    assert caught.value.files == ["scratch.txt" if untracked else POLICY_FILE]
    assert _state(repo) == before
    assert checker.seen == []


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("v1.0.0", "tag v1.0.0 already exists"),
        ("1.0.0", "tag v1.0.0 already exists"),
        ("0.9.0", "v0.9.0 is not greater than the last version v1.0.0"),
        ("v0.9.0", "v0.9.0 is not greater than the last version v1.0.0"),
        ("banana", "'banana' is not a version copier can read"),
    ],
)
def test_a_version_must_be_pep440_and_newer(repo: Path, version: str, message: str) -> None:
    before = _state(repo)
    checker = StubChecker()
    with pytest.raises(ReleaseError, match=re.escape(message)) as caught:
        TemplateRelease(repo, version, checker=checker).run()
    assert caught.value.exit_code == 12
    assert _state(repo) == before
    assert checker.seen == []


def test_a_pre_release_counts_when_ordering(repo: Path) -> None:
    TemplateRelease(repo, "v2.0.0rc1", checker=StubChecker()).run()
    (repo / "go" / "NOTES.md").write_text("Again.\n", encoding="utf-8")
    _git(repo, "commit", "-qam", "Fix after rc1")
    with pytest.raises(
        ReleaseError, match=re.escape("not greater than the last version v2.0.0rc1")
    ):
        TemplateRelease(repo, "v1.5.0", checker=StubChecker()).run()
    # The final release's notes run from the last final release, rc1's changes included.
    result = TemplateRelease(repo, "v2.0.0", checker=StubChecker()).run()
    assert result.previous == "v1.0.0"
    assert "Fix after rc1" in result.subjects
    assert "Release v2.0.0rc1" in result.subjects


def test_nothing_to_release(tmp_path: Path) -> None:
    repo = init_template_repo(tmp_path / "templates", "v1.0.0")
    with pytest.raises(ReleaseError, match=re.escape("no commits since v1.0.0")):
        TemplateRelease(repo, "v1.0.1", checker=StubChecker()).run()
    assert _git(repo, "tag") == "v1.0.0"


def test_a_failed_check_changes_nothing(repo: Path) -> None:
    before = _state(repo)
    checker = StubChecker(Report(passed=False, failed=["go-grpc-http", "rust-defaults"]))
    with pytest.raises(CheckFailedError) as caught:
        TemplateRelease(repo, "v1.1.0", checker=checker).run()
    assert caught.value.exit_code == 13
    assert caught.value.failed == ["go-grpc-http", "rust-defaults"]
    assert "2 of 6 template combination(s) failed" in str(caught.value)
    assert _state(repo) == before
    assert not (repo / CHANGELOG_FILE).exists()


def test_failed_results_are_named_by_their_name(repo: Path) -> None:
    @dataclass
    class Result:
        name: str

    report = Report(passed=False, failed=[Result("go-1")], combinations=["go-1", "go-2"])
    with pytest.raises(CheckFailedError, match="1 of 2 template combination") as caught:
        TemplateRelease(repo, "v1.1.0", checker=StubChecker(report)).run()
    assert caught.value.failed == ["go-1"]


def test_no_check_skips_the_checker(repo: Path) -> None:
    checker = StubChecker()
    result = TemplateRelease(repo, "v1.1.0", check=False, checker=checker).run()
    assert checker.seen == []
    assert result.check is None
    assert "NOT checked" in result.summary()[0]


def test_the_default_checker_is_template_check(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a checker, `scaffold.templates.TemplateCheck(src=...)` runs (stubbed here)."""
    calls: list[str] = []

    class TemplateCheck:
        def __init__(self, src: str) -> None:
            calls.append(src)

        def run(self) -> Report:
            assert (Path(calls[-1]) / POLICY_FILE).is_file()
            return Report(passed=False, failed=["go-1"])

    fake = types.ModuleType("scaffold.templates")
    fake.TemplateCheck = TemplateCheck  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "scaffold.templates", fake)
    with pytest.raises(CheckFailedError):
        TemplateRelease(repo, "v1.1.0").run()
    assert len(calls) == 1
    assert isinstance(calls[0], str)


def test_a_git_failure_while_tagging_is_rolled_back(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _state(repo)

    def broken_tag(*args: Any, **kwargs: Any) -> None:
        raise GitFailed(["tag"], "disk full", returncode=128, stderr="fatal: disk full")

    monkeypatch.setattr(release_module, "_tag", broken_tag)
    with pytest.raises(GitError, match="disk full") as caught:
        TemplateRelease(repo, "v1.1.0", checker=StubChecker()).run()
    assert "nothing was changed" in str(caught.value)
    assert _state(repo) == before
    assert not (repo / CHANGELOG_FILE).exists()


def test_an_interrupt_after_tagging_is_rolled_back_too(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / CHANGELOG_FILE).write_text("# Changelog\n\nKept as it was.\n", encoding="utf-8")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "Start a changelog")
    before = _state(repo)
    real_tag = release_module._tag

    def tag_then_interrupt(*args: Any, **kwargs: Any) -> None:
        real_tag(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(release_module, "_tag", tag_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        TemplateRelease(repo, "v1.1.0", checker=StubChecker()).run()
    assert _state(repo) == before
    text = (repo / CHANGELOG_FILE).read_text(encoding="utf-8")
    assert text == "# Changelog\n\nKept as it was.\n"


def test_an_invalid_policy_is_not_released(repo: Path) -> None:
    policy = repo / POLICY_FILE
    policy.write_text(
        policy.read_text(encoding="utf-8").replace("timeout_ms: 10000", "timeout_ms: 5"),
        encoding="utf-8",
    )
    _git(repo, "commit", "-qam", "A bad timeout")
    before = _state(repo)
    with pytest.raises(PolicyError, match=re.escape("exporter.timeout_ms")):
        TemplateRelease(repo, "v1.1.0", checker=StubChecker()).run()
    assert _state(repo) == before


def test_not_a_template_repository(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError, match="not a git repository"):
        TemplateRelease(tmp_path, "v1.0.0", checker=StubChecker()).run()
    _git(tmp_path, "init", "-q")
    with pytest.raises(ReleaseError, match="no commits"):
        TemplateRelease(tmp_path, "v1.0.0", checker=StubChecker()).run()
    (tmp_path / "README.md").write_text("not templates\n", encoding="utf-8")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "init")
    with pytest.raises(ReleaseError, match=re.escape("no copier.yml")):
        TemplateRelease(tmp_path, "v1.0.0", checker=StubChecker()).run()


def test_a_first_release_lists_every_commit(tmp_path: Path) -> None:
    repo = init_template_repo(tmp_path / "templates", "v1.0.0")
    _git(repo, "tag", "-d", "v1.0.0")
    result = TemplateRelease(repo, "v1.0.0", checker=StubChecker(), date=DAY).run()
    assert result.previous is None
    assert result.policy_changes == ()
    assert "First release." in result.entry
    assert result.subjects == ("Start the template set at v1.0.0",)


def test_cli_policy_diff_and_release(repo: Path) -> None:
    runner = CliRunner()
    diff = runner.invoke(cli, ["policy", "diff", "git:v1.0.0", str(repo), "--repo", str(repo)])
    assert diff.exit_code == 0, diff.output
    assert "prod" in diff.output and "100% -> 5%" in diff.output
    assert "5s -> 10s" in diff.output
    as_json = runner.invoke(
        cli, ["policy", "diff", "git:v1.0.0", str(repo), "--repo", str(repo), "--json"]
    )
    assert {c["path"] for c in json.loads(as_json.output)} >= {"exporter.timeout_ms"}
    missing = runner.invoke(cli, ["policy", "diff", "git:v9", str(repo), "--repo", str(repo)])
    assert missing.exit_code == TemplateError.exit_code

    older = runner.invoke(cli, ["template", "release", "0.9.0", "--repo", str(repo), "--no-check"])
    assert older.exit_code == ReleaseError.exit_code
    released = runner.invoke(
        cli, ["template", "release", "1.1.0", "--repo", str(repo), "--no-check"]
    )
    assert released.exit_code == 0, released.output
    assert "## v1.1.0" in released.output
    assert "v1.1.0" in _git(repo, "tag").split()  # the tag is v-prefixed
