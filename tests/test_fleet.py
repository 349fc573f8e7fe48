"""`scaffold fleet status` and `scaffold fleet upgrade` over fleets of real repositories.

Services are rendered from a template repository at v1.0.0 and pushed to bare remotes in temporary
directories; v1.1.0 changes sampling ratios and adds an attribute (see `fleet_world`). Every
fleet names its services with its own prefix: Rust crates share one cargo target directory.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from scaffold.cli import cli
from scaffold.errors import FleetFailedError
from scaffold.fleet import (
    FleetReport,
    FleetUpgrade,
    RepoOutcome,
    fleet_status,
    parse_shard,
    select_shard,
    status_table,
)

from .conftest import require_tool
from .fleet_world import (
    NEW,
    NEW_CODE,
    OLD,
    SAMPLING_LINE,
    VERIFY,
    FleetRepo,
    RepoSpec,
    git,
    make_fleet,
    make_template,
    push_edit,
    verify_env,
)

BRANCH = f"scaffold/{NEW}"
DIFFSTAT = r"[1-9]\d* files? changed, [1-9]\d* insertions?\(\+\), [1-9]\d* deletions?\(-\)"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A template repository tagged v1.0.0 and v1.1.0; tests only read it."""
    return make_template(tmp_path_factory.mktemp("fleet-template"))


# -- helpers ----------------------------------------------------------------------------------


def _refs(repo: Path) -> dict[str, str]:
    """Every branch and tag of a repository: name -> commit."""
    lines = git(repo, "for-each-ref", "--format=%(refname) %(objectname)").splitlines()
    return dict(line.split(" ", 1) for line in lines)


def _local_state(work: Path) -> tuple[str, str, str]:
    """What a person sees in a working tree: status, HEAD, branches."""
    return (
        git(work, "status", "--porcelain", "--untracked-files=all"),
        git(work, "rev-parse", "HEAD"),
        git(work, "branch", "--list"),
    )


def _has_branch(clone: Path, branch: str = BRANCH) -> bool:
    return bool(git(clone, "branch", "--list", branch).strip())


def _trailer(repo: Path, ref: str, key: str) -> str:
    return git(repo, "log", "-1", f"--format=%(trailers:key={key},valueonly)", ref).strip()


def _show(repo: Path, ref: str, path: str) -> str:
    return git(repo, "show", f"{ref}:{path}")


def _by_repo(report: FleetReport) -> dict[str, RepoOutcome]:
    return {outcome.repo: outcome for outcome in report.outcomes}


def _expected_counts(fleet: Sequence[FleetRepo], verify: bool = True) -> dict[str, int]:
    counts = dict.fromkeys(
        ("updated", "current", "conflict", "verify-failed", "skipped", "error"), 0
    )
    for repo in fleet:
        counts[repo.spec.expected(verify)] += 1
    return counts


def _assert_upgrade_branch(repo: FleetRepo, commit: str, default_head: str) -> None:
    """The remote's upgrade branch: one commit of ours on the untouched default branch."""
    remote = repo.remote
    assert git(remote, "rev-parse", f"refs/heads/{BRANCH}").strip() == commit
    assert git(remote, "rev-parse", "refs/heads/main").strip() == default_head
    assert git(remote, "rev-list", f"main..{BRANCH}").split() == [commit]
    assert _trailer(remote, BRANCH, "Scaffold-Version") == NEW
    answers = yaml.safe_load(_show(remote, BRANCH, ".copier-answers.yml"))
    assert answers["_commit"] == NEW
    assert answers["service_name"] == repo.name
    for path, text in NEW_CODE[repo.spec.language].items():
        assert text in _show(remote, BRANCH, path), (repo.name, path)
    for path, text in repo.edits:
        assert text in _show(remote, BRANCH, path), f"{repo.name} lost its edit of {path}"


def _assert_no_upgrade_left(outcome: RepoOutcome) -> None:
    """A failed repository's cache clone: no upgrade branch, no changes."""
    assert outcome.workdir is not None, outcome
    clone = Path(outcome.workdir)
    assert not _has_branch(clone), f"{outcome.repo} left {BRANCH} in {clone}"
    assert git(clone, "status", "--porcelain") == ""


def _fleet_specs(prefix: str) -> list[RepoSpec]:
    """20 generated repositories, mostly Go, and one that does not exist."""
    return [
        *(RepoSpec(f"{prefix}-go{i}") for i in range(1, 10)),
        *(RepoSpec(f"{prefix}-goedit{i}", kind="edited") for i in range(1, 4)),
        RepoSpec(f"{prefix}-rs1", "rust"),
        RepoSpec(f"{prefix}-rs2", "rust"),
        RepoSpec(f"{prefix}-rsedit", "rust", kind="edited"),
        RepoSpec(f"{prefix}-current", version=NEW),
        RepoSpec(f"{prefix}-conflict", kind="conflict"),
        RepoSpec(f"{prefix}-broken", kind="verify-fails"),
        RepoSpec(f"{prefix}-dirty", kind="dirty"),
        RepoSpec(f"{prefix}-noanswers", kind="no-answers"),
        RepoSpec(f"{prefix}-gone", kind="unreachable"),
    ]


# -- fleet upgrade: the whole fleet, verified, pushed, re-run ---------------------------------


@pytest.mark.compile
def test_fleet_upgrade_gives_each_repo_its_outcome_pushes_only_successes_and_resumes(
    template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_tool("go", "cargo")
    for key, value in verify_env().items():
        monkeypatch.setenv(key, value)
    fleet = make_fleet(tmp_path / "fleet", template, _fleet_specs("flup"), jobs=2)
    assert sum(1 for r in fleet if r.worktree is not None) >= 20
    assert sum(1 for r in fleet if r.spec.language == "rust") >= 3
    locations = [repo.location for repo in fleet]
    named = {repo.name: repo for repo in fleet}
    cache = tmp_path / "cache"
    remotes = [r for r in fleet if r.spec.kind not in ("dirty", "unreachable")]
    refs_before = {r.name: _refs(r.remote) for r in remotes}
    dirty = named["flup-dirty"]
    assert dirty.worktree is not None
    dirty_before = _local_state(dirty.worktree)

    # A partial run first: a few repositories, nothing pushed.
    early = [named[n] for n in ("flup-go1", "flup-go2", "flup-rs1", "flup-goedit1")]
    partial = FleetUpgrade([r.location for r in early], jobs=2, push=False, cache_dir=cache).run()
    assert [o.outcome for o in partial.outcomes] == ["updated"] * len(early), partial.table()
    for repo, outcome in zip(early, partial.outcomes, strict=True):
        assert not outcome.pushed and not outcome.resumed
        assert outcome.workdir is not None and _has_branch(Path(outcome.workdir))
        assert _refs(repo.remote) == refs_before[repo.name], "pushed without --push"
    early_commits = {o.repo: o.commit for o in partial.outcomes}

    # The whole fleet, pushed.
    seen: list[RepoOutcome] = []
    report = FleetUpgrade(
        locations, jobs=2, push=True, cache_dir=cache, on_result=seen.append
    ).run()
    assert sorted(o.repo for o in seen) == sorted(locations)
    assert [o.repo for o in report.outcomes] == locations
    assert report.counts() == _expected_counts(fleet), "\n".join(report.table())
    outcomes = _by_repo(report)
    verify_mtimes: dict[str, int] = {}
    for repo in fleet:
        outcome = outcomes[repo.location]
        assert outcome.outcome == repo.spec.expected(), (repo.name, outcome)
        assert outcome.service == (
            None if repo.spec.kind in ("unreachable", "dirty", "no-answers") else repo.name
        )
        if repo.spec.kind not in ("dirty", "unreachable"):
            # Nobody's default branch moves; only successes gain the upgrade branch.
            refs = _refs(repo.remote)
            main = refs_before[repo.name]["refs/heads/main"]
            if outcome.outcome == "updated":
                assert outcome.pushed and outcome.branch == BRANCH and outcome.commit
                assert refs == {**refs_before[repo.name], f"refs/heads/{BRANCH}": outcome.commit}
                _assert_upgrade_branch(repo, outcome.commit, main)
                assert outcome.language == repo.spec.language
                assert outcome.from_version == OLD and outcome.to_version == NEW
                assert re.fullmatch(DIFFSTAT, outcome.diffstat), outcome.diffstat
            else:
                assert not outcome.pushed and outcome.commit is None
                assert refs == refs_before[repo.name], f"{repo.name} changed its remote"
        if repo.location in early_commits:
            # The partial run's branches are reused and pushed, not redone.
            assert outcome.resumed and outcome.commit == early_commits[repo.location]
            assert outcome.verify is None
        elif outcome.outcome == "updated":
            assert not outcome.resumed
            assert outcome.verify == VERIFY[repo.spec.language]
            assert outcome.verify_log is not None
            assert _trailer(repo.remote, BRANCH, "Scaffold-Verify") == "passed"
            verify_mtimes[repo.location] = Path(outcome.verify_log).stat().st_mtime_ns

    conflict = outcomes[named["flup-conflict"].location]
    assert conflict.conflicts == (SAMPLING_LINE["go"][0],)
    _assert_no_upgrade_left(conflict)
    broken = outcomes[named["flup-broken"].location]
    assert broken.verify == VERIFY["go"]
    assert any("broken.go" in line for line in broken.log_tail), broken.log_tail
    assert "go vet" in broken.reason
    _assert_no_upgrade_left(broken)
    _assert_no_upgrade_left(outcomes[named["flup-current"].location])
    assert "uncommitted changes" in outcomes[dirty.location].reason
    assert outcomes[dirty.location].workdir is None, "a dirty working tree is not even cloned"
    assert _local_state(dirty.worktree) == dirty_before
    assert ".copier-answers.yml" in outcomes[named["flup-noanswers"].location].reason
    assert "does not exist" in outcomes[named["flup-gone"].location].reason

    data = json.loads(json.dumps(report.to_dict()))
    assert data["counts"] == _expected_counts(fleet) and data["to"] is None
    assert [(r["repo"], r["outcome"], r["pushed"], r["commit"]) for r in data["repos"]] == [
        (o.repo, o.outcome, o.pushed, o.commit) for o in report.outcomes
    ]
    with pytest.raises(FleetFailedError) as failed:
        report.raise_for_failures()
    assert sorted(failed.value.failed) == sorted(
        r.location for r in fleet if r.spec.kind in ("conflict", "verify-fails", "unreachable")
    )
    refs_after_first = {r.name: _refs(r.remote) for r in remotes}

    # The same command again, through the CLI: finished repositories are not redone, failures
    # still fail (and with --keep-failed leave their branch to inspect), exit 14.
    json_path = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli,
        [
            "fleet",
            "upgrade",
            *locations,
            "--push",
            "--keep-failed",
            "-j",
            "2",
            "--cache-dir",
            str(cache),
            "--json",
            str(json_path),
        ],
    )
    assert result.exit_code == FleetFailedError.exit_code == 14, result.output
    assert "3 of 21 repositories failed" in result.stderr
    assert "broken.go" in result.stderr, "the verify log tail of the failed repository"
    again = json.loads(json_path.read_text(encoding="utf-8"))
    assert again["counts"] == _expected_counts(fleet) and again["dry_run"] is False
    assert [r["repo"] for r in again["repos"]] == locations
    for entry in again["repos"]:
        first = outcomes[entry["repo"]]
        assert entry["outcome"] == first.outcome, entry
        if first.outcome == "updated":
            assert entry["resumed"] and entry["pushed"] and entry["commit"] == first.commit
            assert entry["verify"] is None
    for location, mtime in verify_mtimes.items():
        log = outcomes[location].verify_log
        assert log is not None and Path(log).stat().st_mtime_ns == mtime, "verify ran again"
    assert {r.name: _refs(r.remote) for r in remotes} == refs_after_first
    for name in ("flup-conflict", "flup-broken"):
        workdir = outcomes[named[name].location].workdir
        assert workdir is not None and _has_branch(Path(workdir)), f"--keep-failed, {name}"
    assert _local_state(dirty.worktree) == dirty_before

    # The team resolves the conflict on its default branch: the next run upgrades it.
    conflicted = named["flup-conflict"]
    path, original, edited = SAMPLING_LINE["go"]
    fixed_main = push_edit(conflicted.remote, tmp_path, path, edited, original)
    final = FleetUpgrade(locations, jobs=2, push=True, cache_dir=cache).run()
    done = _by_repo(final)[conflicted.location]
    assert done.outcome == "updated" and done.pushed and not done.resumed, done
    assert done.commit is not None
    _assert_upgrade_branch(dataclasses.replace(conflicted, edits=()), done.commit, fixed_main)
    expected = {**_expected_counts(fleet), "conflict": 0}
    expected["updated"] += 1
    assert final.counts() == expected, "\n".join(final.table())
    for repo in fleet:
        outcome = _by_repo(final)[repo.location]
        if repo is not conflicted and outcome.outcome == "updated":
            assert outcome.resumed and outcome.commit == outcomes[repo.location].commit
    assert {r.name: _refs(r.remote) for r in remotes} == {
        **refs_after_first,
        conflicted.name: {"refs/heads/main": fixed_main, f"refs/heads/{BRANCH}": done.commit},
    }


# -- fleet upgrade: cheaper paths -------------------------------------------------------------


def test_no_verify_upgrades_without_running_verify_and_works_each_repo_once(
    template: Path, tmp_path: Path
) -> None:
    fleet = make_fleet(
        tmp_path / "fleet",
        template,
        [RepoSpec("flnv-go"), RepoSpec("flnv-broken", kind="verify-fails")],
    )
    plain, broken = fleet
    refs_before = {r.name: _refs(r.remote) for r in fleet}
    cache = tmp_path / "cache"
    json_path = tmp_path / "report.json"
    # The same repository given twice, and given again as a path instead of a URL.
    given = [plain.location, broken.location, plain.location, f"{broken.remote}/"]
    args = ["fleet", "upgrade", *given, "--no-verify", "-j", "2", "--cache-dir", str(cache)]
    result = CliRunner().invoke(cli, [*args, "--json", str(json_path)])
    # The broken build is upgraded: nothing ran it.
    assert result.exit_code == 0, result.output
    report = json.loads(json_path.read_text(encoding="utf-8"))
    assert [r["repo"] for r in report["repos"]] == [plain.location, broken.location]
    assert report["counts"]["updated"] == 2
    assert result.stderr.count(": updated (") == 2, "one progress line per repository"
    for repo, outcome in zip(fleet, report["repos"], strict=True):
        assert outcome["outcome"] == "updated" and outcome["verify"] is None, outcome
        assert outcome["verify_log"] is None and not outcome["pushed"]
        clone = Path(outcome["workdir"])
        assert git(clone, "rev-parse", BRANCH).strip() == outcome["commit"]
        assert _trailer(clone, BRANCH, "Scaffold-Verify") == "skipped"
        assert _trailer(clone, BRANCH, "Scaffold-Version") == NEW
        assert _refs(repo.remote) == refs_before[repo.name]
    assert list(cache.glob("*.verify.log")) == []

    # A dry run that meets a conflict reports it and leaves the earlier run's branch alone.
    path, original, edited = SAMPLING_LINE["go"]
    push_edit(plain.remote, tmp_path, path, original, edited)
    refs = _refs(plain.remote)
    dry = FleetUpgrade([plain.location], dry_run=True, cache_dir=cache).run()
    (outcome,) = dry.outcomes
    assert outcome.outcome == "conflict" and outcome.dry_run, outcome
    assert outcome.conflicts == (path,)
    clone = Path(report["repos"][0]["workdir"])
    assert git(clone, "rev-parse", BRANCH).strip() == report["repos"][0]["commit"]
    assert git(clone, "status", "--porcelain") == ""
    assert _refs(plain.remote) == refs


@pytest.mark.compile
def test_a_branch_made_without_verify_is_verified_when_a_later_run_verifies(
    template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_tool("go")
    for key, value in verify_env().items():
        monkeypatch.setenv(key, value)
    fleet = make_fleet(
        tmp_path / "fleet",
        template,
        [RepoSpec("flrv-go"), RepoSpec("flrv-broken", kind="verify-fails")],
    )
    cache = tmp_path / "cache"
    first = FleetUpgrade([r.location for r in fleet], verify=False, cache_dir=cache).run()
    assert [o.outcome for o in first.outcomes] == ["updated", "updated"]

    again = FleetUpgrade([r.location for r in fleet], push=True, cache_dir=cache, jobs=2).run()
    plain, broken = again.outcomes
    assert plain.outcome == "updated" and plain.resumed and plain.pushed, plain
    assert plain.commit == first.outcomes[0].commit, "the branch is reused, not redone"
    assert plain.verify == VERIFY["go"]
    assert broken.outcome == "verify-failed" and broken.resumed, broken
    assert not broken.pushed
    assert _refs(fleet[1].remote) == {
        "refs/heads/main": git(fleet[1].remote, "rev-parse", "main").strip()
    }
    assert f"refs/heads/{BRANCH}" in _refs(fleet[0].remote)


def test_dry_run_reports_diffstats_and_changes_nothing(template: Path, tmp_path: Path) -> None:
    fleet = make_fleet(
        tmp_path / "fleet",
        template,
        [
            RepoSpec("fldry-go"),
            RepoSpec("fldry-rsedit", "rust", kind="edited"),
            RepoSpec("fldry-current", version=NEW),
            RepoSpec("fldry-noanswers", kind="no-answers"),
        ],
    )
    refs_before = {r.name: _refs(r.remote) for r in fleet}
    cache = tmp_path / "cache"
    report = FleetUpgrade([r.location for r in fleet], jobs=2, dry_run=True, cache_dir=cache).run()
    assert [o.outcome for o in report.outcomes] == [r.spec.expected() for r in fleet]
    go, rust, current, noanswers = report.outcomes
    for outcome in (go, rust):
        assert re.fullmatch(DIFFSTAT, outcome.diffstat), outcome.diffstat
        assert outcome.dry_run and outcome.to_version == NEW and outcome.from_version == OLD
        assert outcome.branch is None and outcome.commit is None and not outcome.pushed
        assert outcome.verify is None, "a dry run verifies nothing"
    assert current.diffstat == ""
    assert report.dry_run and report.to_dict()["dry_run"]
    assert "would update" in "\n".join(report.table())
    for repo, outcome in zip(fleet, report.outcomes, strict=True):
        assert _refs(repo.remote) == refs_before[repo.name], f"{repo.name}: remote changed"
        if outcome.workdir is not None:
            clone = Path(outcome.workdir)
            assert "scaffold/" not in git(clone, "branch", "--list", "--all"), clone
            assert git(clone, "status", "--porcelain") == "", clone
    assert ".copier-answers.yml" in noanswers.reason

    # The CLI prints the same, and writes the same JSON.
    json_path = tmp_path / "dry.json"
    args = ["fleet", "upgrade", fleet[0].location, "--dry-run", "--cache-dir", str(cache)]
    result = CliRunner().invoke(cli, [*args, "--json", str(json_path)])
    assert result.exit_code == 0, result.output
    assert f"would update {OLD} -> {NEW}; {go.diffstat}" in result.stdout
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert data["dry_run"] is True and data["counts"]["updated"] == 1
    assert data["repos"][0]["diffstat"] == go.diffstat
    assert _refs(fleet[0].remote) == refs_before["fldry-go"]


def test_push_with_dry_run_and_no_repositories_are_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    cache = ["--cache-dir", str(tmp_path / "cache")]
    both = runner.invoke(cli, ["fleet", "upgrade", str(tmp_path), "--push", "--dry-run", *cache])
    assert both.exit_code == 2, both.output
    assert "--push and --dry-run" in both.stderr
    for command in ("status", "upgrade"):
        none = runner.invoke(cli, ["fleet", command, *cache])
        assert none.exit_code == 2, none.output
    assert not (tmp_path / "cache").exists(), "a usage error must not start any work"


# -- fleet status ------------------------------------------------------------------------------


def test_fleet_status_reports_versions_and_problems(tmp_path: Path) -> None:
    # Its own template: this test releases another version.
    template = make_template(tmp_path / "tpl")
    fleet = make_fleet(
        tmp_path / "fleet",
        template,
        [
            RepoSpec("flst-go"),
            RepoSpec("flst-rs", "rust"),
            RepoSpec("flst-current", version=NEW),
            RepoSpec("flst-dirty", kind="dirty"),
            RepoSpec("flst-noanswers", kind="no-answers"),
            RepoSpec("flst-gone", kind="unreachable"),
        ],
    )
    go, rust, current, dirty, noanswers, gone = fleet
    locations = [repo.location for repo in fleet]
    cache = tmp_path / "cache"
    statuses = fleet_status(locations, cache_dir=cache, jobs=2)
    assert [s.repo for s in statuses] == locations
    by = {s.repo: s for s in statuses}

    def fields(repo: FleetRepo) -> tuple[Any, ...]:
        s = by[repo.location]
        return (s.service, s.language, s.template, s.current, s.latest, s.behind)

    tpl = str(template)
    assert fields(go) == ("flst-go", "go", tpl, OLD, NEW, 1)
    assert fields(rust) == ("flst-rs", "rust", tpl, OLD, NEW, 1)
    assert fields(current) == ("flst-current", "go", tpl, NEW, NEW, 0)
    assert fields(dirty) == ("flst-dirty", "go", tpl, OLD, NEW, 1)
    for repo in (go, rust, current):
        assert by[repo.location].problems == ()
    (problem,) = by[dirty.location].problems
    assert problem.startswith("dirty: uncommitted changes in 2 file(s)"), problem
    assert by[noanswers.location].problems == ("no .copier-answers.yml",)
    assert by[noanswers.location].current is None
    (problem,) = by[gone.location].problems
    assert "does not exist" in problem
    assert by[gone.location].language is None

    runner = CliRunner()
    args = ["fleet", "status", *locations, "-j", "2", "--cache-dir", str(cache)]
    table = runner.invoke(cli, args)
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines == status_table(statuses)
    assert lines[0].split() == ["REPOSITORY", "LANG", "CURRENT", "LATEST", "BEHIND", "STATUS"]
    rows = {line.split()[0]: line.split(None, 5)[1:] for line in lines[1:]}
    assert rows[go.location] == ["go", OLD, NEW, "1", "behind"]
    assert rows[rust.location] == ["rust", OLD, NEW, "1", "behind"]
    assert rows[current.location] == ["go", NEW, NEW, "0", "ok"]
    assert rows[noanswers.location] == ["-", "-", "-", "-", "no .copier-answers.yml"]
    as_json = runner.invoke(cli, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == [s.to_dict() for s in statuses]

    # A new release shows on the next call, in the same process.
    policy = template / "policy.yml"
    policy.write_text(
        policy.read_text(encoding="utf-8").replace("    staging: 1.0\n", "    staging: 0.4\n"),
        encoding="utf-8",
    )
    git(template, "commit", "-q", "-am", "Sample 40% in staging")
    git(template, "tag", "v1.2.0")
    later = {s.repo: s for s in fleet_status(locations, cache_dir=cache, jobs=2)}
    assert (later[go.location].latest, later[go.location].behind) == ("v1.2.0", 2)
    assert (later[current.location].latest, later[current.location].behind) == ("v1.2.0", 1)


def test_a_directory_that_is_not_a_git_repository_is_reported_as_such(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "main.go").write_text("package main\n", encoding="utf-8")
    outer = tmp_path / "outer"
    (outer / "svc").mkdir(parents=True)
    (outer / "svc" / "main.go").write_text("package main\n", encoding="utf-8")
    git(outer, "init", "-q")
    git(outer, "add", "-A")
    git(outer, "commit", "-q", "-m", "init")
    afile = tmp_path / "notes.txt"
    afile.write_text("x\n", encoding="utf-8")
    expected = {
        str(plain): f"{plain} is not a git repository",
        str(outer / "svc"): f"{outer / 'svc'} is not a git repository (it is a directory inside "
        f"{outer.resolve()})",
        str(afile): f"{afile} is not a directory, so not a git repository",
    }
    cache = tmp_path / "cache"
    statuses = fleet_status(list(expected), cache_dir=cache, jobs=2)
    assert {s.repo: s.problems for s in statuses} == {r: (p,) for r, p in expected.items()}
    report = CliRunner().invoke(
        cli, ["fleet", "upgrade", *expected, "--cache-dir", str(cache), "--no-verify"]
    )
    assert report.exit_code == FleetFailedError.exit_code
    rows = [line.split(None, 2) for line in report.stdout.splitlines()[1:-1]]
    assert {repo: (outcome, detail) for repo, outcome, detail in rows} == {
        repo: ("error", problem) for repo, problem in expected.items()
    }


def test_an_unreadable_repos_file_is_one_line(tmp_path: Path) -> None:
    for path, why in (
        (tmp_path / "missing.txt", "No such file or directory"),
        (tmp_path, "Is a directory"),
    ):
        result = CliRunner().invoke(cli, ["fleet", "status", "--repos-file", str(path)])
        assert result.exit_code == 5
        assert result.stderr == (
            f"error: cannot read the repository list {path}: {why}; pass --repos-file with a "
            "text file of one path or git URL per line\n"
        )


# -- shards ------------------------------------------------------------------------------------


def _many_repos() -> list[str]:
    paths = [f"/srv/git/team-{i}/service-{i}" for i in range(9)]
    urls = [f"file:///srv/mirror/svc-{i}.git" for i in range(7)]
    remote = [f"git@git.example.com:acme/api-{i}.git" for i in range(5)]
    return [*paths, *urls, *remote, "https://git.example.com/acme/edge", "relative/checkout"]


@pytest.mark.parametrize("total", [1, 2, 3, 4, 5])
def test_shards_partition_the_fleet_whatever_the_order(total: int) -> None:
    repos = _many_repos()
    shards = [select_shard(repos, i, total) for i in range(1, total + 1)]
    assert sorted(r for shard in shards for r in shard) == sorted(repos), "each exactly once"
    sizes = [len(shard) for shard in shards]
    assert max(sizes) - min(sizes) <= 1, sizes
    for shard in shards:
        assert shard == [r for r in repos if r in shard], "kept in the order given"
    rng = random.Random(total)
    for _ in range(5):
        shuffled = rng.sample(repos, len(repos))
        again = [set(select_shard(shuffled, i, total)) for i in range(1, total + 1)]
        assert again == [set(shard) for shard in shards]
    doubled = [set(select_shard(repos + repos[:4], i, total)) for i in range(1, total + 1)]
    assert doubled == [set(shard) for shard in shards], "a repeated repository moves nothing"


def test_parse_shard() -> None:
    assert parse_shard("2/3") == (2, 3)
    assert parse_shard(" 1 / 1 ") == (1, 1)
    for bad in ("0/3", "4/3", "1/0", "3", "a/b", "-1/2", "1/2/3", ""):
        with pytest.raises(ValueError):
            parse_shard(bad)


def test_cli_shard_selects_that_shard(tmp_path: Path) -> None:
    repos = [str(tmp_path / f"missing-{i}") for i in range(7)]
    listed = tmp_path / "repos.txt"
    listed.write_text(
        "# the fleet\n" + "\n".join(f"{r}  # team {i}" for i, r in enumerate(repos)) + "\n\n",
        encoding="utf-8",
    )
    args = ["fleet", "status", "--repos-file", str(listed), "--cache-dir", str(tmp_path / "c")]
    result = CliRunner().invoke(cli, [*args, "--shard", "2/3", "--json"])
    assert result.exit_code == 0, result.output
    statuses = json.loads(result.stdout)
    assert [s["repo"] for s in statuses] == select_shard(repos, 2, 3)
    assert all("does not exist" in s["problems"][0] for s in statuses)


@pytest.mark.parametrize("command", ["status", "upgrade"])
@pytest.mark.parametrize("shard", ["0/3", "4/3", "1/0", "3", "two/three"])
def test_cli_rejects_a_bad_shard(tmp_path: Path, command: str, shard: str) -> None:
    cache = tmp_path / "cache"
    result = CliRunner().invoke(
        cli, ["fleet", command, str(tmp_path), "--shard", shard, "--cache-dir", str(cache)]
    )
    assert result.exit_code == 2, result.output
    assert "--shard" in result.stderr
    assert not cache.exists()


# -- safety: rewritten history, interrupts, dead remotes ----------------------------------------

SECRET = "DEPLOY_TOKEN=ghp_this-must-never-come-back\n"


def _rewrite_default_branch(remote: Path, scratch: Path) -> str:
    """A team commits a secret to the remote's main; returns the secret's blob id."""
    work = scratch / f"team-{remote.stem}"
    git(scratch, "clone", "-q", str(remote), str(work))
    (work / "deploy.env").write_text(SECRET, encoding="utf-8")
    git(work, "add", "deploy.env")
    git(work, "commit", "-q", "-m", "Add deploy settings")
    git(work, "push", "-q", "origin", "HEAD")
    return git(work, "hash-object", "deploy.env").strip()


def _purge(remote: Path, scratch: Path) -> str:
    """The team removes the secret from history and force-pushes main; returns the new head."""
    work = scratch / f"team-{remote.stem}"
    git(work, "reset", "-q", "--hard", "HEAD~1")
    (work / "NOTES.md").write_text("Credentials live in the vault.\n", encoding="utf-8")
    git(work, "add", "NOTES.md")
    git(work, "commit", "-q", "-m", "Keep credentials in the vault")
    git(work, "push", "-q", "--force", "origin", "HEAD")
    return git(work, "rev-parse", "HEAD").strip()


def test_a_branch_made_before_main_was_rewritten_is_rebuilt_never_pushed_back(
    template: Path, tmp_path: Path
) -> None:
    cached, pushed = make_fleet(
        tmp_path / "fleet", template, [RepoSpec("flrw-cached"), RepoSpec("flrw-pushed")]
    )
    secrets = {r.name: _rewrite_default_branch(r.remote, tmp_path) for r in (cached, pushed)}
    cache = tmp_path / "cache"
    # An earlier run: one branch stays in the cache (no --push), one is pushed.
    first = FleetUpgrade([cached.location], verify=False, cache_dir=cache).run()
    assert first.outcomes[0].outcome == "updated" and not first.outcomes[0].pushed
    first = FleetUpgrade([pushed.location], verify=False, push=True, cache_dir=cache).run()
    assert first.outcomes[0].pushed
    heads = {r.name: _purge(r.remote, tmp_path) for r in (cached, pushed)}

    report = FleetUpgrade(
        [cached.location, pushed.location], verify=False, push=True, cache_dir=cache
    ).run()

    for repo, outcome in zip((cached, pushed), report.outcomes, strict=True):
        assert outcome.outcome == "updated" and outcome.pushed, outcome
        assert not outcome.resumed, "a branch on the old history is rebuilt, not reused"
        remote = repo.remote
        assert git(remote, "rev-parse", "main").strip() == heads[repo.name]
        assert git(remote, "rev-list", f"main..{BRANCH}").split() == [outcome.commit]
        reachable = git(remote, "rev-list", "--objects", "--all")
        assert secrets[repo.name] not in reachable, f"{repo.name}: the secret came back"
        assert _show(remote, BRANCH, "NOTES.md") == "Credentials live in the vault.\n"


def _lines(stream: Any, into: list[str]) -> None:
    for line in stream:
        into.append(line)


@pytest.mark.parametrize("interrupts", [1, 2])
def test_interrupted_fleet_upgrade_stops_its_workers_and_a_rerun_resumes(
    tmp_path: Path, interrupts: int
) -> None:
    # Go repositories verify "forever"; the Rust one verifies at once and finishes first. With
    # two interrupts, the Go verify ignores SIGTERM: the polite stop would take its grace
    # period (5s), so only the second interrupt's kill ends the run sooner.
    sleep = f"sleep {59 + interrupts}.{os.getpid() % 97}"
    verify = sleep if interrupts == 1 else f"trap '' TERM; {sleep}"
    template = make_template(tmp_path / "tpl", verify={"go": verify, "rust": "echo verified"})
    fleet = make_fleet(
        tmp_path / "fleet",
        template,
        [
            RepoSpec(f"flint{interrupts}-rs", "rust"),
            *(RepoSpec(f"flint{interrupts}-go{i}") for i in (1, 2)),
        ],
    )
    rust, *gos = fleet
    cache = tmp_path / "cache"
    command = [
        sys.executable,
        "-m",
        "scaffold",
        "fleet",
        "upgrade",
        "-j",
        "3",
        "--cache-dir",
        str(cache),
    ]
    proc = subprocess.Popen(
        [*command, *(r.location for r in fleet)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    progress: list[str] = []
    reader = threading.Thread(target=_lines, args=(proc.stderr, progress), daemon=True)
    reader.start()
    deadline = time.monotonic() + 240
    while not (
        any(f"{rust.location}: updated" in line for line in progress)
        and len(_running(sleep)) >= len(gos)
    ):
        assert proc.poll() is None and time.monotonic() < deadline, progress
        time.sleep(0.1)

    started = time.monotonic()
    for _ in range(interrupts):
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
    proc.wait(timeout=60)
    reader.join(timeout=10)
    assert time.monotonic() - started < (30 if interrupts == 1 else 4.5), "stopped promptly"
    assert proc.returncode == 130, progress
    assert not any("Traceback" in line for line in progress), progress
    assert _running(sleep) == [], "no verify command outlives the run"
    for clone in (p for p in cache.iterdir() if (p / ".git").is_dir()):
        assert not list((clone / ".git").glob("*.lock")), clone
        git(clone, "status", "--porcelain")  # a usable repository
        if interrupts == 1 and "-go" in clone.name:
            assert not _has_branch(clone), "an interrupted repository is put back"
            assert git(clone, "status", "--porcelain", "--untracked-files=all") == ""

    rerun = subprocess.run(
        [
            *command,
            "--no-verify",
            "--json",
            str(tmp_path / "rerun.json"),
            *(r.location for r in fleet),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stderr
    outcomes = json.loads((tmp_path / "rerun.json").read_text(encoding="utf-8"))["repos"]
    assert [(o["outcome"], o["resumed"]) for o in outcomes] == [
        ("updated", True),
        ("updated", False),
        ("updated", False),
    ]


def _running(command: str) -> list[int]:
    """Processes whose command line is `bash -c COMMAND` or `COMMAND` itself."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except OSError:
                continue
            if cmdline.endswith(command):
                found.append(int(entry.name))
    return found


def test_a_repository_that_never_answers_fails_alone_and_quickly(
    template: Path, tmp_path: Path, silent_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Long enough for the good repository to finish first, short for a test.
    stall = 15
    monkeypatch.setenv("SCAFFOLD_GIT_STALL_TIMEOUT", str(stall))
    (good,) = make_fleet(tmp_path / "fleet", template, [RepoSpec("fldead-go")])
    dead = f"http://127.0.0.1:{silent_server}/acme/ledger.git"
    cache = tmp_path / "cache"
    runner = CliRunner()
    for command in ("status", "upgrade"):
        args = ["fleet", command, dead, good.location, "-j", "2", "--cache-dir", str(cache)]
        started = time.monotonic()
        result = runner.invoke(cli, [*args, *(["--no-verify"] if command == "upgrade" else [])])
        assert time.monotonic() - started < stall + 30, command
        assert result.exit_code == (0 if command == "status" else 14), result.output
        rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:3]}
        assert "too slow" in rows[dead], rows
        assert ("behind" if command == "status" else "updated") in rows[good.location], rows
        # The good repository is reported as soon as it is done, before the dead one.
        progress = [line for line in result.stderr.splitlines() if line.startswith("[")]
        assert good.location in progress[0] and dead in progress[1], progress


def test_an_interrupted_fleet_status_stops_its_git_commands(
    tmp_path: Path, silent_server: int
) -> None:
    dead = [f"http://127.0.0.1:{silent_server}/acme/{name}.git" for name in ("a", "b")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaffold", "fleet", "status", *dead, "-j", "2", "--cache-dir", "c"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SCAFFOLD_GIT_STALL_TIMEOUT": "300"},
    )
    deadline = time.monotonic() + 60
    while len(_running_with(f"127.0.0.1:{silent_server}")) < 2:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 10
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    assert _running_with(f"127.0.0.1:{silent_server}") == []


def _running_with(text: str) -> list[int]:
    """Processes whose command line holds `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline:
                found.append(int(entry.name))
    return found


# -- monorepos ---------------------------------------------------------------------------------


def _monorepo(root: Path, template: Path, prefix: str, conflict: bool = False) -> Path:
    """A bare remote of a repository holding two services and other work beside them."""
    from scaffold.render import NewService

    work = root / "mono"
    for name in ("payments", "ledger"):
        NewService(
            dest=work / "services" / name,
            data={"service_name": f"{prefix}-{name}", "language": "go"},
            template=str(template),
            vcs_ref=OLD,
            use_defaults=True,
            git_init=False,
        ).run()
    (work / "docs").mkdir()
    (work / "docs" / "notes.md").write_text("the team's notes\n", encoding="utf-8")
    # An answers file of another copier template is not a service of these templates.
    (work / "web").mkdir()
    (work / "web" / ".copier-answers.yml").write_text("_src_path: gh:acme/web\n_commit: v3\n")
    if conflict:
        path, line, edited = SAMPLING_LINE["go"]
        target = work / "services" / "ledger" / path
        target.write_text(target.read_text(encoding="utf-8").replace(line, edited), "utf-8")
    git(root, "init", "-q", "--initial-branch=main", str(work))
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "Two services and their notes")
    remote = root / "mono.git"
    git(root, "clone", "-q", "--bare", str(work), str(remote))
    return remote


def test_fleet_status_and_upgrade_take_every_service_of_a_monorepo_on_one_branch(
    template: Path, tmp_path: Path
) -> None:
    remote = _monorepo(tmp_path, template, "flmono")
    location = f"file://{remote}"
    cache = tmp_path / "cache"

    statuses = fleet_status([location], cache_dir=cache)

    assert [(s.path, s.service, s.current, s.latest, s.behind) for s in statuses] == [
        ("services/ledger", "flmono-ledger", OLD, NEW, 1),
        ("services/payments", "flmono-payments", OLD, NEW, 1),
    ]
    table = status_table(statuses)
    assert table[1].startswith(f"{location}//services/ledger ")
    assert table[2].startswith(f"{location}//services/payments ")

    report = FleetUpgrade([location], verify=False, push=True, cache_dir=cache).run()

    assert [(o.path, o.outcome, o.pushed) for o in report.outcomes] == [
        ("services/ledger", "updated", True),
        ("services/payments", "updated", True),
    ], report.table()
    assert report.table()[-1].startswith("1 repository, 2 services in ")
    head = _refs(remote)[f"refs/heads/{BRANCH}"]
    commits = git(remote, "rev-list", f"main..{BRANCH}").split()
    assert len(commits) == 2 and head == commits[0]
    assert {o.commit for o in report.outcomes} == set(commits)
    for outcome in report.outcomes:
        touched = git(remote, "show", "--name-only", "--format=", outcome.commit or "").split()
        assert touched and all(p.startswith(outcome.path + "/") for p in touched), touched
        assert _trailer(remote, outcome.commit or "", "Scaffold-Service") == outcome.path
        assert _trailer(remote, outcome.commit or "", "Scaffold-Version") == NEW
        policy = _show(remote, BRANCH, f"{outcome.path}/internal/telemetry/policy.go")
        assert NEW_CODE["go"]["internal/telemetry/policy.go"] in policy
    assert _show(remote, BRANCH, "docs/notes.md") == "the team's notes\n"
    assert yaml.safe_load(_show(remote, BRANCH, "web/.copier-answers.yml"))["_commit"] == "v3"

    again = FleetUpgrade([location], verify=False, push=True, cache_dir=cache).run()
    assert [(o.outcome, o.resumed, o.commit) for o in again.outcomes] == [
        ("updated", True, o.commit) for o in report.outcomes
    ]
    assert _refs(remote)[f"refs/heads/{BRANCH}"] == head, "nothing redone, nothing pushed again"


def test_a_conflict_in_one_service_of_a_monorepo_leaves_the_others_upgraded(
    template: Path, tmp_path: Path
) -> None:
    remote = _monorepo(tmp_path, template, "flmonoc", conflict=True)
    location = f"file://{remote}"

    report = FleetUpgrade([location], verify=False, push=True, cache_dir=tmp_path / "c").run()

    ledger, payments = report.outcomes
    assert (ledger.path, ledger.outcome, ledger.commit, ledger.pushed) == (
        "services/ledger",
        "conflict",
        None,
        False,
    )
    assert ledger.conflicts == ("internal/telemetry/policy.go",)
    assert (payments.outcome, payments.pushed) == ("updated", True)
    assert git(remote, "rev-list", f"main..{BRANCH}").split() == [payments.commit]
    assert report.counts()["conflict"] == 1 and report.counts()["updated"] == 1
    with pytest.raises(FleetFailedError, match=f"{re.escape(location)}//services/ledger"):
        report.raise_for_failures()
