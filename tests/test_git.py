"""`scaffold._git`: one way to run git, with limits that make a dead remote fail, not hang.

The dead remote is a local socket that accepts connections and never answers (`silent_server`),
reached over http, ssh and the git protocol. The CLI must fail with one line, quickly.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scaffold import _git
from scaffold._git import GitFailed
from scaffold.errors import GitError

ROOT = Path(__file__).resolve().parent.parent
STALL = 2  # seconds, for the tests; the default is 30


@pytest.fixture
def short_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_git.STALL_ENV, str(STALL))
    monkeypatch.setenv(_git.TIMEOUT_ENV, "6")


def _leftovers(port: int) -> list[str]:
    """Processes still running whose command line names the dead remote's port."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if f"127.0.0.1:{port}" in cmdline or f"-p {port}" in cmdline:
            found.append(cmdline)
    return found


@pytest.mark.parametrize(
    ("scheme", "within"),
    [
        ("http", STALL + 3),  # curl's low-speed limit
        ("ssh", STALL + 3),  # ssh's ConnectTimeout (the banner never comes)
        ("git", 6 + 3),  # the git protocol has no stall limit: the hard limit stops it
    ],
)
def test_a_remote_that_never_answers_fails_with_one_line(
    silent_server: int, short_limits: None, scheme: str, within: float
) -> None:
    if scheme == "ssh" and shutil.which("ssh") is None:
        pytest.skip("ssh is not installed")
    url = f"{scheme}://127.0.0.1:{silent_server}/team/service.git"
    started = time.monotonic()
    with pytest.raises(GitFailed) as caught:
        _git.run(None, "ls-remote", url, network=True)
    took = time.monotonic() - started
    assert took < within, f"{scheme}: {took:.1f}s"
    assert caught.value.exit_code == 6
    assert "\n" not in str(caught.value)
    if scheme == "git":
        assert caught.value.timed_out and "no answer within 6s" in str(caught.value)
    deadline = time.monotonic() + 5
    while _leftovers(silent_server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _leftovers(silent_server) == [], "git and its helpers are stopped with it"


def test_new_from_a_template_url_that_never_answers_fails_with_one_line(
    silent_server: int, short_limits: None, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{silent_server}/acme/templates.git"
    started = time.monotonic()
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "scaffold", "new", "svc", "--lang", "go", "--defaults"),
            *("--template", url, "--dest", str(tmp_path / "svc")),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert time.monotonic() - started < STALL + 15
    assert proc.returncode == 4, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot reach template '{url}'")
    assert "too slow" in lines[0]
    assert not (tmp_path / "svc").exists()


def test_the_limits_reach_the_git_commands_copier_runs(
    monkeypatch: pytest.MonkeyPatch, short_limits: None
) -> None:
    from plumbum import local

    monkeypatch.setenv("GIT_DIR", "/somewhere/else/.git")
    probe = local["sh"]["-c", "echo $GIT_HTTP_LOW_SPEED_TIME ${GIT_DIR-unset} $GIT_SSH_COMMAND"]
    with _git.copier_limits():
        inside = probe().split()
    assert inside[:2] == [str(STALL), "unset"]
    assert f"ConnectTimeout={STALL}" in inside and "BatchMode=yes" in inside
    assert "GIT_HTTP_LOW_SPEED_TIME" not in local.env  # put back after the block


def test_a_configured_ssh_command_is_left_alone(
    monkeypatch: pytest.MonkeyPatch, short_limits: None
) -> None:
    monkeypatch.setenv("GIT_SSH_COMMAND", "ssh -i /keys/deploy")
    env = _git.environment(network=True)
    assert env["GIT_SSH_COMMAND"] == "ssh -i /keys/deploy"
    assert env["GIT_HTTP_LOW_SPEED_TIME"] == str(STALL)


@pytest.mark.parametrize("value", ["soon", "0", "-5"])
def test_a_bad_limit_setting_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(_git.TIMEOUT_ENV, value)
    with pytest.raises(GitError, match=f"{_git.TIMEOUT_ENV}={value!r} is not a number of seconds"):
        _git.run(None, "ls-remote", "https://example.invalid/x.git", network=True)


def test_a_failure_says_what_git_said(tmp_path: Path) -> None:
    with pytest.raises(GitFailed) as caught:
        _git.run(tmp_path, "rev-parse", "HEAD")
    assert caught.value.returncode == 128
    assert (
        str(caught.value)
        == "git rev-parse failed: not a git repository (or any of the parent directories): .git"
    )


def _runs_git(node: ast.AST) -> bool:
    """A call like `subprocess.run(["git", ...])`, `local["git"]`, or `git.Repo(...)`."""
    if isinstance(node, ast.Call):
        first = node.args[0] if node.args else None
        if isinstance(first, ast.List | ast.Tuple) and first.elts:
            head = first.elts[0]
            return isinstance(head, ast.Constant) and head.value == "git"
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Constant) and node.slice.value == "git"
    return False


def test_every_git_command_goes_through_the_git_module() -> None:
    offenders = []
    for source in sorted((ROOT / "scaffold").glob("*.py")):
        if source.name == "_git.py":
            continue
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            imports_gitpython = (
                isinstance(node, ast.Import) and any(a.name == "git" for a in node.names)
            ) or (isinstance(node, ast.ImportFrom) and node.module == "git")
            if imports_gitpython or _runs_git(node):
                offenders.append(f"{source.name}:{getattr(node, 'lineno', '?')}")
    assert offenders == []
