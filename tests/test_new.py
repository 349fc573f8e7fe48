"""`scaffold new` end to end through the CLI: output, git, errors, nothing half-written."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import git
import pytest
import yaml
from click.testing import CliRunner, Result

from scaffold import render as render_module
from scaffold.bundled import is_bundled_source
from scaffold.cli import cli
from scaffold.errors import AnswerError, DestinationError, PolicyError, TemplateError
from scaffold.render import NewService

from .conftest import ROOT, caught_signals


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_new_with_defaults_renders_commits_and_records_answers(tmp_path: Path) -> None:
    dest = tmp_path / "payments-api"
    result = invoke(
        "new",
        "payments-api",
        "--lang",
        "go",
        "--defaults",
        "--data",
        "module=github.com/acme/payments-api",
        "--dest",
        str(dest),
    )
    assert result.exit_code == 0, result.output
    assert "Created payments-api (go)" in result.output
    assert "go run ./cmd/payments-api" in result.output
    answers = yaml.safe_load((dest / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["module"] == "github.com/acme/payments-api"
    assert is_bundled_source(answers["_src_path"]) and answers["_commit"].startswith("v")
    assert "policy" not in answers and "effective_sampling_ratio" not in answers
    repo = git.Repo(dest)
    assert not repo.is_dirty(untracked_files=True)
    assert "Create payments-api" in repo.head.commit.message
    assert (dest / "go.mod").is_file()
    assert (dest / "cmd" / "payments-api" / "main.go").is_file()
    # Nothing but the service itself appears next to it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["payments-api"]


def test_new_from_answers_file(tmp_path: Path) -> None:
    answers = tmp_path / "answers.yml"
    answers.write_text(
        "service_name: ledger\nlanguage: go\nteam: money\nenvironment: prod\nboundaries: [database]\n",
        encoding="utf-8",
    )
    result = invoke(
        "new",
        "--data-file",
        str(answers),
        "--dest",
        str(tmp_path / "out"),
        "--defaults",
        "--no-git",
    )
    assert result.exit_code == 0, result.output
    recorded = yaml.safe_load(
        (tmp_path / "out" / ".copier-answers.yml").read_text(encoding="utf-8")
    )
    assert recorded["team"] == "money"
    assert recorded["boundaries"] == ["database"]
    assert not (tmp_path / "out" / ".git").exists()


def test_flags_override_the_answers_file(tmp_path: Path) -> None:
    answers = tmp_path / "answers.yml"
    answers.write_text("service_name: ledger\nteam: money\n", encoding="utf-8")
    result = invoke(
        "new",
        "books",
        "--data-file",
        str(answers),
        "-d",
        "team=ops",
        "--defaults",
        "--no-git",
        "--dest",
        str(tmp_path / "o"),
    )
    assert result.exit_code == 0, result.output
    recorded = yaml.safe_load((tmp_path / "o" / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert (recorded["service_name"], recorded["team"]) == ("books", "ops")


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (
            ["new", "Bad_Name", "--defaults"],
            AnswerError.exit_code,
            "service_name: 'Bad_Name' does not match",
        ),
        (
            ["new", "svc", "--defaults", "-d", "boundaries=[kafka]"],
            AnswerError.exit_code,
            "not a boundary",
        ),
        (
            ["new", "svc", "--defaults", "--data-file", "missing.yml"],
            AnswerError.exit_code,
            "missing.yml not found",
        ),
        (
            ["new", "svc", "--defaults", "--template", "does-not-exist"],
            TemplateError.exit_code,
            "not found; pass --template",
        ),
        (
            ["new", "svc", "--defaults", "--template", "file:///nowhere/templates.git"],
            TemplateError.exit_code,
            "cannot reach template",
        ),
        (["new", "svc"], AnswerError.exit_code, "no answer given"),
        (
            ["new", "tokio", "--lang", "rust", "--defaults"],
            AnswerError.exit_code,
            "a crate the service depends on",
        ),
    ],
)
def test_bad_input_fails_cleanly_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], code: int, words: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == code, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert words in lines[0]
    assert list(tmp_path.iterdir()) == [], "a failed run must leave nothing behind"


def test_non_empty_destination_is_refused_and_untouched(tmp_path: Path) -> None:
    dest = tmp_path / "svc"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine", encoding="utf-8")
    result = CliRunner().invoke(cli, ["new", "svc", "--defaults", "--dest", str(dest)])
    assert result.exit_code == DestinationError.exit_code
    assert "already exists and is not empty" in result.output
    assert [p.name for p in dest.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["svc"]


def test_missing_parents_are_created(tmp_path: Path) -> None:
    dest = tmp_path / "a" / "b" / "svc"
    assert invoke("new", "svc", "--defaults", "--no-git", "--dest", str(dest)).exit_code == 0
    assert (dest / "go.mod").is_file()


def test_failure_inside_copier_removes_everything_it_created(tmp_path: Path) -> None:
    # A template question whose own copier validator refuses what scaffold lets through: the
    # failure happens mid-render, after parents and staging exist.
    template = tmp_path / "tpl"
    shutil.copytree(ROOT / "templates", template)
    with (template / "copier.yml").open("a", encoding="utf-8") as config:
        config.write(
            "\nticket:\n  type: str\n  default: none\n  validator: \"{% if ticket == 'none' %}ticket is required{% endif %}\"\n"
        )
    work = tmp_path / "work"
    work.mkdir()
    result = CliRunner().invoke(
        cli,
        [
            "new",
            "svc",
            "--defaults",
            "--template",
            str(template),
            "--dest",
            str(work / "x" / "y" / "svc"),
        ],
    )
    assert result.exit_code == AnswerError.exit_code, result.output
    assert "ticket is required" in result.output
    assert list(work.iterdir()) == []


def test_empty_destination_is_used(tmp_path: Path) -> None:
    dest = tmp_path / "svc"
    dest.mkdir()
    result = invoke("new", "svc", "--defaults", "--no-git", "--dest", str(dest))
    assert result.exit_code == 0, result.output
    assert (dest / "go.mod").is_file()


def test_malformed_policy_in_template_is_reported_before_rendering(tmp_path: Path) -> None:
    template = tmp_path / "tpl"
    shutil.copytree(ROOT / "templates", template)
    policy = template / "policy.yml"
    policy.write_text(
        policy.read_text(encoding="utf-8").replace("ratio: 0.1\n", "ratio: 7\n", 1),
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli,
        ["new", "svc", "--defaults", "--template", str(template), "--dest", str(tmp_path / "out")],
    )
    assert result.exit_code == PolicyError.exit_code
    assert "sampling.ratio: 7 is out of range" in result.output
    assert not (tmp_path / "out").exists()


def _template_repo(tmp_path: Path) -> Path:
    """A template set in its own git repository, tagged v1.0.0 and v1.1.0 (ratio 0.1 -> 0.2)."""
    repo_dir = tmp_path / "template-repo"
    shutil.copytree(ROOT / "templates", repo_dir)
    repo = git.Repo.init(repo_dir, initial_branch="main")
    repo.git.add(all=True)
    repo.index.commit("v1")
    repo.create_tag("v1.0.0")
    policy = repo_dir / "policy.yml"
    policy.write_text(
        policy.read_text(encoding="utf-8").replace("    dev: 1.0\n", "    dev: 0.2\n"),
        encoding="utf-8",
    )
    repo.git.add(all=True)
    repo.index.commit("v1.1: dev samples 20%")
    repo.create_tag("v1.1.0")
    repo.close()
    return repo_dir


def test_git_template_renders_latest_tag_and_records_it(tmp_path: Path) -> None:
    repo_dir = _template_repo(tmp_path)
    dest = tmp_path / "svc"
    result = invoke(
        "new", "svc", "--defaults", "--no-git", "--template", str(repo_dir), "--dest", str(dest)
    )
    assert result.exit_code == 0, result.output
    assert "v1.1.0" in result.output
    recorded = yaml.safe_load((dest / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert recorded["_commit"] == "v1.1.0"
    assert recorded["_src_path"] == str(repo_dir)
    generated = "\n".join(p.read_text(encoding="utf-8") for p in dest.rglob("*.go"))
    assert "0.2" in generated


def test_git_template_at_an_older_ref(tmp_path: Path) -> None:
    repo_dir = _template_repo(tmp_path)
    dest = tmp_path / "svc"
    result = invoke(
        "new",
        "svc",
        "--defaults",
        "--no-git",
        "--template",
        f"file://{repo_dir}",
        "--vcs-ref",
        "v1.0.0",
        "--dest",
        str(dest),
    )
    assert result.exit_code == 0, result.output
    recorded = yaml.safe_load((dest / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert recorded["_commit"] == "v1.0.0"
    bad = CliRunner().invoke(
        cli,
        [
            "new",
            "svc",
            "--defaults",
            "--template",
            str(repo_dir),
            "--vcs-ref",
            "v9",
            "--dest",
            str(tmp_path / "x"),
        ],
    )
    assert bad.exit_code == TemplateError.exit_code
    assert "has no version 'v9'" in bad.output


# -- interrupts: real signals to a real `scaffold new` -----------------------------------------

# Runs `scaffold new svc --dest DEST` in a child process and sends it SIGNAL right after a step:
# copier rendered into the staging directory ("render"), or the first commit was made ("commit").
_INTERRUPT = """
import os, sys
from scaffold import render

stage, signum, dest = sys.argv[1], int(sys.argv[2]), sys.argv[3]
step = {"render": "_copy", "commit": "commit_all"}[stage]
real = getattr(render, step)

def interrupted(*args, **kwargs):
    out = real(*args, **kwargs)
    os.kill(os.getpid(), signum)
    return out

setattr(render, step, interrupted)
sys.argv = ["scaffold", "new", "svc", "--lang", "go", "--defaults", "--dest", dest]
from scaffold.__main__ import main
main()
"""


@pytest.mark.parametrize("stage", ["render", "commit"])
@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)]
)
def test_an_interrupted_new_leaves_nothing_behind(
    tmp_path: Path, stage: str, signum: int, code: int
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", _INTERRUPT, stage, str(int(signum)), str(work / "a" / "b" / "svc")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(work.iterdir()) == [], "no parent directory, no hidden staging directory"


def test_an_interrupt_while_starting_ends_quietly(tmp_path: Path) -> None:
    """Ctrl-C or SIGTERM while the CLI loads (imports take about half a second): no traceback."""
    for delay in (0.0, 0.1, 0.2, 0.3, 0.5):
        for signum in (signal.SIGINT, signal.SIGTERM):
            proc = subprocess.Popen(
                [sys.executable, "-m", "scaffold", "policy", "validate"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            # From the moment the program's first line ran (its handlers are in place).
            deadline = time.monotonic() + 30
            while not caught_signals(proc.pid) & (1 << (signal.SIGTERM - 1)):
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.005)
            time.sleep(delay)
            proc.send_signal(signum)
            _, err = proc.communicate(timeout=60)
            assert "Traceback" not in err, (delay, signum, err)
            assert proc.returncode in (0, 128 + signum), (delay, signum, proc.returncode, err)


def test_new_never_writes_into_a_destination_that_filled_up_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "svc"
    dest.mkdir()
    real_copy = render_module._copy

    def copy_while_someone_writes(*args: Any, **kwargs: Any) -> None:
        real_copy(*args, **kwargs)
        (dest / "theirs.txt").write_text("written meanwhile\n", encoding="utf-8")

    monkeypatch.setattr(render_module, "_copy", copy_while_someone_writes)
    with pytest.raises(DestinationError, match="no longer empty"):
        NewService(dest=dest, data={"service_name": "svc"}, use_defaults=True).run()
    assert [p.name for p in dest.iterdir()] == ["theirs.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["svc"], "no staging directory left"
