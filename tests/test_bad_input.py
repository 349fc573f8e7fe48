"""Bad input through the CLI: one line on stderr, an exit code, nothing left behind.

Destinations that are the current directory, a symlink, a dangling symlink or a mount point;
a full disk and a read-only file system (a real tmpfs mounted in a private mount namespace);
files that are not UTF-8 or are YAML bombs; a git transport that runs commands; and the
messages for input that is almost right.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import git
import pytest
import yaml
from click.testing import CliRunner, Result

from scaffold.bundled import CACHE_ENV
from scaffold.cli import cli
from scaffold.errors import (
    AnswerError,
    CollectorError,
    DestinationError,
    PolicyError,
    TemplateError,
)
from scaffold.template_repo import init_template_repo

from .conftest import ROOT
from .test_names import billion_laughs

SCAFFOLD = str(Path(sys.executable).with_name("scaffold"))


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def assert_one_line_error(result: Result, code: int, words: str) -> None:
    """The run failed cleanly: no traceback, one `error:` line naming the problem, its code."""
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), f"traceback: {result.exception!r}\n{result.output}"
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert words in lines[0], lines[0]
    assert result.exit_code == code, result.output


def template_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", copy)
    return copy


# -- destinations ----------------------------------------------------------------------------


def test_dest_dot_renders_into_the_empty_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    before = here.stat().st_ino
    monkeypatch.chdir(here)
    result = invoke("new", "svc", "--defaults", "--dest", ".")
    assert result.exception is None, result.output
    assert result.exit_code == 0, result.output
    # The directory the shell stands in is the one that holds the service, not a replacement.
    assert Path.cwd().stat().st_ino == before
    assert (here / "go.mod").is_file() and (here / ".git").is_dir()
    assert not git.Repo(here).is_dirty(untracked_files=True)
    assert [p.name for p in tmp_path.iterdir()] == ["here"]
    assert not [p for p in here.iterdir() if p.name.startswith(".svc.")]


def test_dest_symlink_to_an_empty_directory_renders_into_its_target(tmp_path: Path) -> None:
    (tmp_path / "target").mkdir()
    (tmp_path / "link").symlink_to("target")
    result = invoke("new", "svc", "--defaults", "--no-git", "--dest", str(tmp_path / "link"))
    assert result.exception is None, result.output
    assert (tmp_path / "link").is_symlink()
    assert (tmp_path / "target" / "go.mod").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "target"]


def test_dest_dangling_symlink_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to("nowhere")
    result = invoke("new", "svc", "--defaults", "--dest", str(tmp_path / "link"))
    assert_one_line_error(result, DestinationError.exit_code, "a symlink to nowhere")
    assert str((tmp_path / "link").readlink()) == "nowhere"
    assert [p.name for p in tmp_path.iterdir()] == ["link"]


# -- a real file system: a private mount namespace with a small tmpfs --------------------------


def _can_mount() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "true"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


needs_mount = pytest.mark.skipif(
    not _can_mount(), reason="needs `unshare` and user namespaces to mount a private tmpfs"
)


def in_mount_namespace(
    mounts: list[tuple[Path, str]], *args: str
) -> subprocess.CompletedProcess[str]:
    """Run `scaffold ARGS` with each (directory, tmpfs options) mounted, seen by it alone."""
    script = [f"mount -t tmpfs -o {opts} tmpfs {shlex.quote(str(d))}" for d, opts in mounts]
    script.append(shlex.join([SCAFFOLD, *args]))
    script.append("code=$?")
    # What the run left inside the mounts, before they vanish with the namespace.
    script += [f"find {shlex.quote(str(d))} -mindepth 1 | sed 's/^/LEFT: /'" for d, _ in mounts]
    script.append("exit $code")
    return subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "bash", "-c", "\n".join(script)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, CACHE_ENV: os.environ[CACHE_ENV]},
    )


def assert_clean_failure(proc: subprocess.CompletedProcess[str], code: int, words: str) -> None:
    errors = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(errors) == 1 and errors[0].startswith("error: "), proc.stderr
    assert words in errors[0], errors[0]
    assert proc.returncode == code, (proc.returncode, proc.stderr)


@needs_mount
def test_an_empty_mount_point_is_rendered_into(tmp_path: Path) -> None:
    mount = tmp_path / "mnt"
    mount.mkdir()
    proc = in_mount_namespace(
        [(mount, "size=8m")], "new", "svc", "--defaults", "--dest", str(mount)
    )
    assert proc.returncode == 0, proc.stderr
    left = {ln.removeprefix("LEFT: ") for ln in proc.stdout.splitlines() if ln.startswith("LEFT")}
    assert str(mount / "go.mod") in left and str(mount / ".git") in left
    assert not [p for p in left if Path(p).name.startswith(".svc.")]


@needs_mount
def test_a_full_disk_while_rendering_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    """ENOSPC from a real 64 KiB tmpfs, not a simulated fault."""
    disk = tmp_path / "disk"
    disk.mkdir()
    proc = in_mount_namespace(
        [(disk, "size=64k")], "new", "svc", "--defaults", "--dest", str(disk / "a" / "svc")
    )
    assert_clean_failure(proc, DestinationError.exit_code, "No space left on device")
    assert "LEFT" not in proc.stdout, proc.stdout


@needs_mount
def test_a_read_only_out_target_is_one_line(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    args = ["collector", "--tier", "gateway", "--upstream", "http://backend:4317"]
    proc = in_mount_namespace([(ro, "ro,size=1m")], *args, "--out", str(ro / "otelcol.yaml"))
    assert_clean_failure(proc, CollectorError.exit_code, "Read-only file system")


@needs_mount
@pytest.mark.parametrize("command", ["status", "upgrade"])
def test_a_read_only_fleet_cache_is_one_line(tmp_path: Path, command: str) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    repo = tmp_path / "service"
    repo.mkdir()
    proc = in_mount_namespace(
        [(ro, "ro,size=1m")], "fleet", command, "--cache-dir", str(ro / "cache"), str(repo)
    )
    assert_clean_failure(proc, DestinationError.exit_code, "cannot use")
    assert "Read-only file system" in proc.stderr


# -- files that are not what they claim ------------------------------------------------------


def test_data_file_that_is_not_utf8(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("answers.yml").write_bytes("description: caf\u00e9\n".encode("latin-1"))
    result = invoke("new", "svc", "--defaults", "--data-file", "answers.yml")
    assert_one_line_error(result, AnswerError.exit_code, "is not UTF-8")
    assert [p.name for p in tmp_path.iterdir()] == ["answers.yml"]


def test_copier_yml_that_is_not_utf8(tmp_path: Path) -> None:
    templates = template_copy(tmp_path)
    with (templates / "copier.yml").open("ab") as out:
        out.write("# caf\u00e9\n".encode("latin-1"))
    dest = tmp_path / "svc"
    result = invoke("new", "svc", "--defaults", "--template", str(templates), "--dest", str(dest))
    assert_one_line_error(result, TemplateError.exit_code, "is not UTF-8")
    assert not dest.exists()


@pytest.mark.parametrize("where", ["data-file", "policy", "copier.yml", "answers"])
def test_yaml_bombs_are_refused_wherever_yaml_is_read(tmp_path: Path, where: str) -> None:
    bomb = billion_laughs()
    started = time.monotonic()
    if where == "data-file":
        (tmp_path / "bomb.yml").write_text(bomb, encoding="utf-8")
        result = invoke("new", "svc", "--defaults", "--data-file", str(tmp_path / "bomb.yml"))
        code, words = AnswerError.exit_code, "expands to more than"
    elif where in ("policy", "copier.yml"):
        templates = template_copy(tmp_path)
        target = templates / ("policy.yml" if where == "policy" else "copier.yml")
        target.write_text(target.read_text(encoding="utf-8") + bomb, encoding="utf-8")
        result = invoke(
            "new", "svc", "--defaults", "--template", str(templates), "--dest", str(tmp_path / "o")
        )
        code = PolicyError.exit_code if where == "policy" else TemplateError.exit_code
        words = "expands to more than"
    else:
        service = tmp_path / "svc"
        assert invoke("new", "svc", "--defaults", "--dest", str(service)).exit_code == 0
        (service / ".copier-answers.yml").write_text(bomb, encoding="utf-8")
        repo = git.Repo(service)
        repo.git.commit("-qam", "bomb")
        result = invoke("update", str(service))
        code, words = DestinationError.exit_code, "expands to more than"
    assert_one_line_error(result, code, words)
    assert time.monotonic() - started < 60


# -- template sources ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source", ["ext::sh -c touch% {marker}", "ext::sh -c touch% {marker}.git", "fd::17"]
)
def test_git_transport_helpers_are_refused_and_never_run(tmp_path: Path, source: str) -> None:
    marker = tmp_path / "ran"
    result = invoke(
        "new", "svc", "--defaults", "--template", source.format(marker=marker), "--dest", "x"
    )
    assert_one_line_error(result, TemplateError.exit_code, "is not a path or URL git may clone")
    assert not marker.exists()


# -- clear messages --------------------------------------------------------------------------


def test_a_value_starting_with_a_bracket_is_text_unless_the_question_is_a_list(
    tmp_path: Path,
) -> None:
    dest = tmp_path / "svc"
    result = invoke(
        "new", "svc", "--defaults", "--no-git", "-d", "description=[beta] payments",
        "-d", "boundaries=[database, grpc_server]", "--dest", str(dest),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    answers = yaml.safe_load((dest / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["description"] == "[beta] payments"
    assert answers["boundaries"] == ["grpc_server", "database"]


def test_a_min_ratio_with_many_decimals_and_an_override(tmp_path: Path) -> None:
    """A tiny policy bound reaches copier as text through tojson (1e-07): no str/float error."""
    templates = template_copy(tmp_path)
    policy = templates / "policy.yml"
    text = policy.read_text(encoding="utf-8")
    policy.write_text(text.replace("  min_ratio: 0.01\n", "  min_ratio: 0.0000001\n"))
    args = ["new", "svc", "--defaults", "--no-git", "--template", str(templates)]
    result = invoke(*args, "-d", "sampling_ratio=0.0000005", "--dest", str(tmp_path / "a"))
    assert result.exception is None and result.exit_code == 0, result.output
    go = (tmp_path / "a" / "internal" / "telemetry" / "policy.go").read_text(encoding="utf-8")
    assert "const serviceRatio = 0.0000005\n" in go
    result = invoke(*args, "-d", "sampling_ratio=0.00000005", "--dest", str(tmp_path / "b"))
    assert_one_line_error(
        result, AnswerError.exit_code, "outside the org range; use a number from 0.0000001 to 1,"
    )


def test_a_deleted_commit_tag_is_named_not_taken_for_a_new_question(tmp_path: Path) -> None:
    template = init_template_repo(tmp_path / "template", "v1.0.0")
    repo = git.Repo(template)
    (template / "README.md").write_text("v1.1\n", encoding="utf-8")
    repo.git.add(all=True)
    repo.git.commit("-qm", "v1.1")
    repo.git.tag("v1.1.0")
    service = tmp_path / "svc"
    args = ["new", "svc", "--defaults", "--template", str(template), "--vcs-ref", "v1.0.0"]
    assert invoke(*args, "--dest", str(service)).exit_code == 0
    repo.git.tag("-d", "v1.0.0")
    result = invoke("update", str(service))
    assert_one_line_error(result, TemplateError.exit_code, "has no such tag any more")
    assert "'v1.0.0'" in result.output and "new question" not in result.output
    assert not git.Repo(service).is_dirty(untracked_files=True)


@pytest.mark.parametrize("branch", ["up/{foo}", "up/{version", "up/{0}", "bad..name/{version}"])
def test_a_bad_branch_pattern_is_a_usage_error(tmp_path: Path, branch: str) -> None:
    result = invoke(
        "fleet", "upgrade", "--cache-dir", str(tmp_path / "c"), "--branch", branch, str(tmp_path)
    )
    assert result.exit_code == 2, result.output
    assert "Invalid value for --branch" in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "c").exists()


def test_a_backtracking_name_pattern_does_not_hang_new(tmp_path: Path) -> None:
    """^(a+)+$ takes minutes on 36 characters; the policy is refused before any matching."""
    templates = template_copy(tmp_path)
    policy = templates / "policy.yml"
    text = policy.read_text(encoding="utf-8")
    pattern = '  name_pattern: "^[a-z][a-z0-9]*(-[a-z0-9]+)*$"\n'
    assert pattern in text
    policy.write_text(text.replace(pattern, '  name_pattern: "^(a+)+$"\n'), encoding="utf-8")
    started = time.monotonic()
    proc = subprocess.run(
        [SCAFFOLD, "new", "a" * 36 + "b", "--defaults", "--template", str(templates)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert_clean_failure(proc, PolicyError.exit_code, "backtracks exponentially")
    assert time.monotonic() - started < 60
