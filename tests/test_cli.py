"""The command line as a whole: fast help, shell completion in real shells, packaging."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest

from .conftest import ROOT

BIN = Path(sys.executable).parent
SCAFFOLD = str(BIN / "scaffold")
# What `--help` must not load: each takes tens to hundreds of milliseconds to import.
HEAVY = (
    "copier",
    "questionary",
    "prompt_toolkit",
    "rich",
    "yaml",
    "git",
    "jinja2",
    "plumbum",
    "pydantic",
    "packaging",
    "tomlkit",
)

# Runs `--help` of every command and group in one process, then lists the heavy modules loaded.
_HELP_IMPORTS = """
import contextlib, io, json, sys
import click
from scaffold.cli import cli

def paths(group, prefix=()):
    yield prefix
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from paths(command, (*prefix, name))
        else:
            yield (*prefix, name)

shown = []
for path in paths(cli):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        cli.main([*path, "--help"], prog_name="scaffold", standalone_mode=False)
    shown.append([list(path), "Usage: scaffold" in out.getvalue()])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
print(json.dumps({"shown": shown, "heavy": heavy}))
"""


def test_help_of_every_command_loads_no_heavy_module() -> None:
    script = f"HEAVY = {HEAVY!r}\n{_HELP_IMPORTS}"
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    report = json.loads(proc.stdout)
    assert len(report["shown"]) > 15 and all(ok for _, ok in report["shown"]), report["shown"]
    assert report["heavy"] == [], "imported for --help; import it in the command that uses it"


def _seconds(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=True)
    return time.perf_counter() - start


def test_help_takes_at_most_half_the_time_of_copier_help() -> None:
    # Interleaved, medians: a busy machine slows both alike (`make bench` has every command).
    copier, scaffold = [], []
    for _ in range(5):
        copier.append(_seconds([str(BIN / "copier"), "--help"]))
        scaffold.append(_seconds([SCAFFOLD, "--help"]))
        scaffold.append(_seconds([SCAFFOLD, "fleet", "upgrade", "--help"]))
    ratio = statistics.median(scaffold) / statistics.median(copier)
    assert ratio <= 0.5, f"scaffold --help takes x{ratio:.2f} the time of copier --help"


# -- shell completion -------------------------------------------------------------------------


def _shell_env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def test_completion_scripts_name_the_command_and_their_shell() -> None:
    for shell, marker in (
        ("bash", "complete -o nosort -F _scaffold_completion scaffold"),
        ("zsh", "#compdef scaffold"),
        ("fish", "complete --no-files --command scaffold"),
    ):
        proc = subprocess.run(
            [SCAFFOLD, "completion", shell], capture_output=True, text=True, check=True
        )
        assert marker in proc.stdout and "_SCAFFOLD_COMPLETE" in proc.stdout
    refused = subprocess.run([SCAFFOLD, "completion", "tcsh"], capture_output=True, text=True)
    assert refused.returncode == 2 and "'tcsh' is not one of" in refused.stderr


def _bash_complete(words: list[str]) -> list[str]:
    """What bash offers after `words` (the last one being completed) with the script loaded."""
    line = " ".join(f"'{w}'" if w else "''" for w in words)
    script = (
        'eval "$(scaffold completion bash)"\n'
        f"COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}\n"
        '_scaffold_completion scaffold; printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    proc = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script],
        capture_output=True,
        text=True,
        env=_shell_env(),
        check=True,
    )
    return [w for w in proc.stdout.splitlines() if w]


def test_bash_completes_commands_subcommands_options_and_choices() -> None:
    assert _bash_complete(["scaffold", "fl"]) == ["fleet"]
    assert _bash_complete(["scaffold", "fleet", ""]) == ["status", "upgrade"]
    assert _bash_complete(["scaffold", "new", "--la"]) == ["--lang"]
    assert _bash_complete(["scaffold", "new", "--lang", ""]) == ["go", "rust"]
    assert _bash_complete(["scaffold", "collector", "--tier", "g"]) == ["gateway"]
    assert _bash_complete(["scaffold", "completion", ""]) == ["bash", "zsh", "fish"]


def test_fish_completes_from_the_script() -> None:
    if shutil.which("fish") is None:
        pytest.skip("fish is not installed")
    script = 'scaffold completion fish | source; complete -C "scaffold template "'
    proc = subprocess.run(
        ["fish", "--no-config", "-c", script],
        capture_output=True,
        text=True,
        env=_shell_env(),
        check=True,
    )
    offered = [line.split("\t")[0] for line in proc.stdout.splitlines()]
    assert offered == ["check", "init", "release"], proc.stdout


def test_zsh_completes_at_the_prompt(tmp_path: Path) -> None:
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed")
    child = pexpect.spawn(
        "zsh",
        ["-f", "-i"],
        env={**_shell_env(), "HOME": str(tmp_path), "PS1": "> ", "TERM": "xterm"},
        encoding="utf-8",
        timeout=20,
        dimensions=(24, 100),
    )
    child.sendline('autoload -Uz compinit && compinit -u && eval "$(scaffold completion zsh)"')
    child.sendline("echo ready")
    child.expect("\r\nready")
    child.send("scaffold fleet up\t")
    child.expect("upgrade")  # completed in place
    child.send("\x15scaffold new --lang \t")
    child.expect("go.*rust")  # the choices, listed below the line
    child.send("\x15exit\r")
    child.expect(pexpect.EOF)


# -- packaging --------------------------------------------------------------------------------


def _warnings(output: str) -> list[str]:
    return [line for line in output.splitlines() if re.search(r"warn|deprecat", line, re.I)]


def test_pip_install_and_make_install_print_no_setuptools_warning(tmp_path: Path) -> None:
    wheel = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", ROOT],
        capture_output=True,
        text=True,
    )
    assert wheel.returncode == 0, wheel.stderr
    assert _warnings(wheel.stdout + wheel.stderr) == []
    # The editable install of `make install`, with its own environment, into a bare venv.
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    found = re.search(r"^\t(.*)\$\(BIN\)/pip install --quiet -e ", makefile, re.M)
    assert found, "the Makefile's editable install line moved"
    env = dict(item.split("=", 1) for item in shlex.split(found[1]))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", tmp_path / "venv"], check=True)
    editable = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", tmp_path / "venv" / "bin" / "python"),
            *("install", "--no-deps", "--quiet", "-e", ROOT),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    assert editable.returncode == 0, editable.stderr
    assert _warnings(editable.stdout + editable.stderr) == []
