"""Run the Go and Rust toolchains on rendered services, with caches shared across renders."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from .conftest import run

CACHE = Path(os.environ.get("SCAFFOLD_CACHE", Path.home() / ".cache" / "otel-scaffold"))
# One target directory for every rendered crate: dependencies compile once per machine.
CARGO_ENV = {"CARGO_TARGET_DIR": os.environ.get("CARGO_TARGET_DIR", str(CACHE / "cargo-target"))}
GO_ENV = {"GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly"}


def go_checks(project: Path) -> None:
    """gofmt clean, builds without `go mod tidy`, tidy leaves go.mod alone, vet and tests pass."""
    unformatted = run(["gofmt", "-l", "."], project, GO_ENV).strip()
    assert unformatted == "", f"gofmt would change: {unformatted}"
    run(["go", "build", "./..."], project, GO_ENV)
    before = (project / "go.mod").read_text(encoding="utf-8")
    run(["go", "mod", "tidy"], project, {**GO_ENV, "GOFLAGS": ""})
    assert (project / "go.mod").read_text(encoding="utf-8") == before, "go mod tidy changed go.mod"
    run(["go", "vet", "./..."], project, GO_ENV)
    run(["go", "test", "-count=1", "./..."], project, GO_ENV)


def rust_checks(project: Path) -> None:
    """rustfmt clean, clippy clean with warnings denied on every target, tests pass."""
    run(["cargo", "fmt", "--check"], project, CARGO_ENV)
    run(
        ["cargo", "clippy", "--all-targets", "--", "-D", "warnings"],
        project,
        CARGO_ENV,
        timeout=2400,
    )
    run(["cargo", "test"], project, CARGO_ENV, timeout=2400)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return int(response.status), response.read().decode()


class Server:
    """A generated service binary running on a loopback port."""

    def __init__(self, binary: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        full_env = {**os.environ, **env, "PORT": str(self.port)}
        self.proc = subprocess.Popen(
            [str(binary)], env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                get(f"{self.base}/healthz", timeout=0.5)
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        self.proc.kill()
        output = self.proc.communicate()[0]
        raise AssertionError(f"{binary} did not start: {output}")

    def stop(self) -> tuple[float, str]:
        """SIGTERM the server; return how long it took to exit and everything it printed."""
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            output = self.proc.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            self.proc.kill()
            output = self.proc.communicate()[0]
            raise AssertionError(f"server ignored SIGTERM: {output}") from None
        return time.monotonic() - start, output
