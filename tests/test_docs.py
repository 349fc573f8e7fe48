"""The docs say what the code does.

The README's question table is the questions `scaffold new` asks, and docs/quickstart.md works
when a new user follows it literally, command by command, in an empty home directory.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from scaffold.questions import load_questions
from scaffold.source import load_copier_config

from .conftest import IN_CI, ROOT, require_tool
from .toolchains import CARGO_ENV


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_the_readme_lists_the_questions_scaffold_new_asks_in_order() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = re.findall(r"^\| `([a-z_]+)` \|", _section(readme, "## Create a service"), flags=re.M)
    config = load_copier_config(ROOT / "templates" / "copier.yml")
    asked = [q.name for q in load_questions(config) if q.when is not False]
    assert table == asked


# -- the quick start, followed literally ---------------------------------------------------------

QUICKSTART = ROOT / "docs" / "quickstart.md"
# Ports the quick start's commands use as written.
QUICKSTART_PORTS = (4317, 4318, 8080, 8081, 8090, 8091)
# How long a service started in its own terminal may take to answer (a cold `cargo run` builds).
STARTING_S = 900.0
# How long a terminal's promised output may take to appear (a trace waits up to 6 s).
SHOWING_S = 60.0


@dataclass(frozen=True)
class Block:
    """One fenced block of the quick start.

    `kind` is the info string's first word after the language: "" for a command block the
    reader runs in the first terminal, `terminal` for one that needs a terminal (interactive,
    skipped here), `keep-running` for a command the reader leaves running in a terminal of its
    own (`name` is that terminal). A `text` block right after a command block is that block's
    output; `text NAME` is what terminal NAME shows by then.
    """

    language: str
    kind: str
    name: str
    body: str
    follows_command: bool


def quickstart_blocks() -> list[Block]:
    text = QUICKSTART.read_text(encoding="utf-8")
    blocks: list[Block] = []
    pattern = re.compile(r"^```(\S+)(?: (\S+))?(?: (\S+))?\n(.*?)^```\n", re.M | re.S)
    last_end = 0
    for found in pattern.finditer(text):
        language, first, second, body = found.groups()
        between = text[last_end : found.start()]
        follows = bool(blocks) and blocks[-1].language == "sh" and not between.strip()
        last_end = found.end()
        if language == "sh":
            kind, name = first or "", second or ""
        else:
            kind, name = "", first or ""
        blocks.append(Block(language, kind, name, body, follows))
    return blocks


def normalised(line: str, home: str) -> str:
    """A line with what differs from run to run made alike: ids, durations, bars, versions."""
    line = line.replace(home, "~")
    line = re.sub(r"\b[0-9a-f]{16,32}\b", "<id>", line)
    line = re.sub(r"\b\d+(\.\d+)? (µs|ms|s)\b", "<duration>", line)
    line = re.sub(r"█+", "<bar>", line)
    line = re.sub(r"\b\d+\.\d+\.\d+\b", "<version>", line)
    return " ".join(line.split())


def contains_block(output: str, expected: str, home: str) -> bool:
    """Whether the expected lines appear in the output as consecutive lines."""
    want = [normalised(line, home) for line in expected.strip("\n").splitlines()]
    have = [normalised(line, home) for line in output.splitlines()]
    return any(have[i : i + len(want)] == want for i in range(len(have) - len(want) + 1))


class Terminal:
    """A command left running in a terminal of its own: a fresh shell in the home directory."""

    def __init__(self, name: str, script: str, env: dict[str, str], home: Path) -> None:
        self.name = name
        self.log = home.parent / f"terminal-{name}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                ["bash", "-e", "-c", script],
                cwd=home,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def ctrl_c(self) -> None:
        """What Ctrl-C does: SIGINT to every process of the terminal's foreground job."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class Reader:
    """Follows the quick start: one shell session for the first terminal, one per other one."""

    def __init__(self, home: Path, checkout: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = env
        self.first_env = dict(env)
        self.cwd = checkout
        self.terminals: dict[str, Terminal] = {}
        self.started_at: float | None = None
        self.last_output = ("", "")

    def run(self, block: Block, promised: Block | None = None) -> None:
        """Run a command block in the first terminal, keeping its directory and exports.

        A block of `curl` calls made while a service may still be starting is repeated until it
        succeeds and prints what `promised` says, as a reader would call again.
        """
        state = self.home.parent / "state"
        script = (
            f'trap \'status=$?; pwd > "{state}.cwd"; env -0 > "{state}.env"; exit $status\' EXIT\n'
            + block.body
        )
        retry = self.started_at is not None and all(
            line.startswith("curl ") for line in block.body.strip().splitlines()
        )
        deadline = (self.started_at or 0) + STARTING_S
        while True:
            proc = subprocess.run(
                ["bash", "-e", "-c", script],
                cwd=self.cwd,
                env=self.first_env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=1800,
                check=False,
            )
            # Each stream on its own: curl, writing to a pipe rather than a terminal, adds a
            # progress meter on stderr that a reader never sees.
            shown = promised is None or any(
                contains_block(out, promised.body, str(self.home))
                for out in (proc.stdout, proc.stderr)
            )
            if (proc.returncode == 0 and shown) or not retry or time.monotonic() > deadline:
                break
            self._check_terminals()
            time.sleep(2)  # a service still starting: call again, as a reader would
        if proc.returncode != 0:
            pytest.fail(
                f"quick start block failed ({proc.returncode}):\n{block.body}\n"
                f"{proc.stdout}\n{proc.stderr}\n{self._terminal_logs()}"
            )
        self.cwd = Path(Path(f"{state}.cwd").read_text(encoding="utf-8").strip())
        pairs = Path(f"{state}.env").read_text(encoding="utf-8").split("\0")
        self.first_env = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
        self.last_output = (proc.stdout, proc.stderr)

    def start(self, block: Block) -> None:
        self.terminals[block.name] = Terminal(block.name, block.body, self.env, self.home)
        self.started_at = time.monotonic()

    def expect(self, block: Block) -> None:
        """Check a promised output: of the last command, or (polling) of a terminal."""
        home = str(self.home)
        if not block.name:
            assert any(contains_block(out, block.body, home) for out in self.last_output), (
                f"promised output not shown:\n{block.body}\ngot:\n{''.join(self.last_output)}"
            )
            return
        terminal = self.terminals[block.name]
        deadline = time.monotonic() + SHOWING_S
        if block.name == next(iter(self.terminals)) and len(self.terminals) == 1:
            deadline = time.monotonic() + STARTING_S  # the first sink output: a build may run
        while not contains_block(terminal.output(), block.body, home):
            if time.monotonic() > deadline:
                pytest.fail(
                    f"terminal {block.name} did not show:\n{block.body}\n"
                    f"it shows:\n{terminal.output()}\n{self._terminal_logs()}"
                )
            self._check_terminals()
            time.sleep(0.5)

    def stop(self) -> dict[str, int | None]:
        codes = {}
        for name, terminal in reversed(self.terminals.items()):
            terminal.ctrl_c()
            codes[name] = terminal.proc.returncode
        return codes

    def _check_terminals(self) -> None:
        for name, terminal in self.terminals.items():
            if terminal.proc.poll() is not None:
                pytest.fail(
                    f"terminal {name} ended ({terminal.proc.returncode}):\n{terminal.output()}"
                )

    def _terminal_logs(self) -> str:
        return "\n".join(
            f"--- terminal {n}:\n{t.output()[-3000:]}" for n, t in self.terminals.items()
        )


def _fresh_checkout(dest: Path) -> Path:
    """A clone of this repository, with the working tree's uncommitted edits laid over it."""
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(dest)], check=True)
    changed = subprocess.run(
        ["git", "ls-files", "-z", "--modified", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for rel in filter(None, changed):
        source = ROOT / rel
        if source.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / rel)
    return dest


def _fresh_machine_env(home: Path) -> dict[str, str]:
    """A new user's environment: an empty home, no git identity, `scaffold` not installed.

    Kept from this machine: the installed toolchains (PATH without any `scaffold`, rustup's
    homes) and, so that the test takes minutes rather than an hour, the download and build
    caches, which change how long a step takes but not what it does: Go's module and build
    caches, cargo's registry and target directory, pip's cache and the collector build.
    """
    keep = ("PATH", "LANG", "TERM", "USER", "LOGNAME", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["PATH"] = os.pathsep.join(
        d for d in env["PATH"].split(os.pathsep) if not (Path(d) / "scaffold").exists()
    )
    env["HOME"] = str(home)
    go = shutil.which("go")
    if go is not None:
        for name in ("GOMODCACHE", "GOCACHE"):
            env[name] = subprocess.run(
                [go, "env", name], capture_output=True, text=True, check=True
            ).stdout.strip()
    real_home = Path.home()
    env["RUSTUP_HOME"] = os.environ.get("RUSTUP_HOME", str(real_home / ".rustup"))
    env["CARGO_HOME"] = os.environ.get("CARGO_HOME", str(real_home / ".cargo"))
    env["CARGO_TARGET_DIR"] = CARGO_ENV["CARGO_TARGET_DIR"]
    env["PIP_CACHE_DIR"] = os.environ.get("PIP_CACHE_DIR", str(real_home / ".cache" / "pip"))
    env["SCAFFOLD_CACHE"] = os.environ.get(
        "SCAFFOLD_CACHE", str(real_home / ".cache" / "otel-scaffold")
    )
    return env


@pytest.mark.compile
@pytest.mark.e2e
def test_the_quickstart_works_when_followed_literally(tmp_path: Path, otelcol: Path) -> None:
    """Every block of docs/quickstart.md, as a reader runs it, in an empty home directory.

    Skipped, because it needs a terminal: `scaffold new orders --lang go` (the interactive
    questions; tests/test_interactive.py covers them in a pseudo-terminal). Blocks marked
    `keep-running` run in terminals of their own (a fresh shell in the home directory) until
    the end, when they get a Ctrl-C; a `curl` after one is repeated until the service answers.
    """
    require_tool("go", "cargo", "curl", "git")
    busy = [port for port in QUICKSTART_PORTS if _port_taken(port)]
    if busy:
        message = f"ports the quick start uses are taken on this machine: {busy}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    home = tmp_path / "home"
    home.mkdir()
    checkout = _fresh_checkout(tmp_path / "otel-scaffold")
    reader = Reader(home, checkout, _fresh_machine_env(home))
    skipped = []
    try:
        blocks = quickstart_blocks()
        for index, block in enumerate(blocks):
            following = blocks[index + 1] if index + 1 < len(blocks) else None
            if block.language == "sh" and block.kind == "terminal":
                skipped.append(block.body.strip())
            elif block.language == "sh" and block.kind == "keep-running":
                reader.start(block)
            elif block.language == "sh":
                assert block.kind == "", f"unknown block kind {block.kind!r}"
                output = following if following and _is_output_of_last(following) else None
                reader.run(block, output)
            elif block.language == "text" and (block.name or block.follows_command):
                reader.expect(block)
    finally:
        codes = reader.stop()
    assert skipped == ["scaffold new orders --lang go"]
    assert codes.get("sink") == 0, reader.terminals["sink"].output()
    assert "Stopped;" in reader.terminals["sink"].output()


def _is_output_of_last(block: Block) -> bool:
    return block.language == "text" and not block.name and block.follows_command


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False
