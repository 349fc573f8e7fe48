"""Shared fixtures: isolated git config, the bundled template set, toolchain checks."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from scaffold.bundled import CACHE_ENV
from scaffold.render import NewResult, NewService
from scaffold.source import bundled_templates

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(autouse=True, scope="session")
def _git_identity(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Give the test session its own git config so nothing depends on the machine's."""
    home = tmp_path_factory.mktemp("git-home")
    config = home / ".gitconfig"
    config.write_text(
        "[user]\n\tname = Scaffold Tests\n\temail = tests@example.invalid\n"
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n",
        encoding="utf-8",
    )
    saved = {k: os.environ.get(k) for k in ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM")}
    os.environ["GIT_CONFIG_GLOBAL"] = str(config)
    os.environ["GIT_CONFIG_NOSYSTEM"] = "1"
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True, scope="session")
def _template_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep the bundled templates' cache repository in the session, never the user's own."""
    cache = tmp_path_factory.mktemp("template-cache") / "templates"
    saved = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(cache)
    yield cache
    if saved is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = saved


@pytest.fixture(scope="session")
def templates() -> Path:
    return bundled_templates()


@pytest.fixture(scope="session")
def otelcol() -> Path:
    """The collector binary: built by collector/build.sh once per manifest, cached outside."""
    from .toolchains import build_collector

    require_tool("go")
    binary = build_collector()
    assert ROOT not in binary.parents, "the collector must be cached outside the checkout"
    return binary


def require_tool(*tools: str) -> None:
    """Skip when a toolchain is missing; under CI=true a missing toolchain is a failure."""
    for tool in tools:
        if shutil.which(tool) is None:
            message = f"{tool} is not installed; the render+compile tier needs it"
            if IN_CI:
                pytest.fail(f"{message} (CI=true never skips it)")
            pytest.skip(message)


def run(
    cmd: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None, timeout: int = 900
) -> str:
    """Run a command, failing the test with its output when it exits non-zero."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        list(cmd),
        cwd=cwd,
        env=full_env,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"`{' '.join(cmd)}` failed in {cwd} ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc.stdout


def render(
    dest: Path, template: str | None = None, git_init: bool = False, **data: Any
) -> NewResult:
    """Render a service non-interactively from the bundled (or given) template set."""
    return NewService(
        dest=dest, data=data, template=template, use_defaults=True, git_init=git_init
    ).run()


def copier_update_as_renovate(path: Path, to: str) -> str:
    """Plain `copier update` of a service, exactly as Renovate's copier manager runs it."""
    copier = Path(sys.executable).parent / "copier"
    args = ["update", "--skip-answered", "--defaults", "--answers-file", ".copier-answers.yml"]
    return run([str(copier), *args, "--vcs-ref", to, "--quiet"], path)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A local TCP port that accepts every connection and never sends a byte: a dead remote."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


def caught_signals(pid: int) -> int:
    """The mask of signals a running process has handlers for (Linux: /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("SigCgt:"):
            return int(line.split()[1], 16)
    return 0
