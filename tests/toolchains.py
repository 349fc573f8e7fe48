"""Run the Go and Rust toolchains on rendered services, with caches shared across renders."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from scaffold.collector import CollectorOptions, render_collector_config
from scaffold.policy import Policy
from scaffold.templates import StepResult, cargo_env, go_env, go_steps, rust_steps

# The library's environments: GOTOOLCHAIN=local and -mod=readonly for Go; one shared
# CARGO_TARGET_DIR (default ~/.cache/otel-scaffold/cargo-target) for every rendered crate.
CARGO_ENV = cargo_env()
GO_ENV = go_env()


def _fail_on(steps: list[StepResult], project: Path) -> None:
    failed = next((step for step in steps if not step.passed), None)
    if failed is not None:
        pytest.fail(f"`{failed.name}` failed in {project}:\n{failed.output}")


def go_checks(project: Path) -> None:
    """gofmt clean, builds without `go mod tidy`, tidy leaves go.mod alone, vet and tests pass."""
    _fail_on(go_steps(project), project)


def rust_checks(project: Path) -> None:
    """rustfmt clean, clippy clean with warnings denied on every target, tests pass."""
    _fail_on(rust_steps(project), project)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return int(response.status), response.read().decode()


class Server:
    """A service binary running on a loopback port, its output going to a file.

    A file, not a pipe: under sustained load a service logs more than a pipe holds, and a full
    pipe would block it.
    """

    def __init__(self, binary: Path, env: dict[str, str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = Path(tempfile.mkstemp(prefix=f"{binary.name}-", suffix=".log")[1])
        full_env = {**os.environ, **env, "PORT": str(self.port)}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(binary)], env=full_env, stdout=out, stderr=subprocess.STDOUT
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
        self.proc.wait()
        raise AssertionError(f"{binary} did not start: {self.output()}")

    def output(self) -> str:
        """Everything the service printed so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def rss_kib(self) -> int:
        """Resident memory of the process, from /proc."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text(encoding="utf-8")
        return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1))  # type: ignore[union-attr]

    def stop(self) -> tuple[float, str]:
        """SIGTERM the server; return how long it took to exit and everything it printed."""
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"server ignored SIGTERM: {self.output()}") from None
        took = time.monotonic() - start
        output = self.output()
        self.log.unlink(missing_ok=True)
        return took, output


def assert_runtime_contract(binary: Path, service_name: str, shutdown_deadline_s: float) -> None:
    """Run a built service with no collector and check the runtime contract both languages share.

    /hello answers and logs a trace-correlated JSON line, /healthz answers, the admin endpoint
    reports the flags on the admin listener and is not routed on the public one, and SIGTERM
    ends the process within the policy's deadline even though nothing receives its telemetry.
    """
    admin = f"http://127.0.0.1:{free_port()}/admin/telemetry"
    server = Server(
        binary,
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
            "TELEMETRY_ADMIN_ADDR": admin.split("/")[2],
        },
    )
    status, body = get(f"{server.base}/hello")
    assert status == 200
    assert json.loads(body) == {"service": service_name, "message": "hello"}
    assert get(f"{server.base}/healthz") == (200, "ok")
    state = json.loads(get(admin)[1])
    assert state["enabled"] is True and 0.0 <= state["sampling_ratio"] <= 1.0, state
    with pytest.raises(urllib.error.HTTPError) as public:
        get(f"{server.base}/admin/telemetry")
    assert public.value.code == 404
    took, output = server.stop()
    assert took < shutdown_deadline_s + 1.0, f"shutdown took {took:.1f}s, over the policy deadline"
    hello = [json.loads(ln) for ln in output.splitlines() if ln.startswith("{") and "hello" in ln]
    assert hello and re.fullmatch(r"[0-9a-f]{32}", str(hello[0].get("trace_id"))), output


BUILD_SCRIPT = Path(__file__).resolve().parent.parent / "collector" / "build.sh"


def build_collector() -> Path:
    """Build the collector of collector/manifest.yaml once per machine; return the binary."""
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT)],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
        env={**os.environ, "GOTOOLCHAIN": os.environ.get("GOTOOLCHAIN", "local")},
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"collector/build.sh failed ({proc.returncode}):\n{proc.stderr[-6000:]}"
        )
    binary = Path(proc.stdout.strip().splitlines()[-1])
    assert binary.is_file() and os.access(binary, os.X_OK), binary
    return binary


class Collector:
    """A real collector running a rendered gateway configuration on loopback ports.

    Everything it receives is also written as OTLP/JSON lines to `output`. `stop()` and
    `start()` take it away and bring it back on the same ports.
    """

    @classmethod
    def gateway(cls, binary: Path, policy: Policy, workdir: Path) -> Collector:
        """The gateway tier of `policy` on free loopback ports, with a file exporter added."""
        grpc, http, health = free_port(), free_port(), free_port()
        options = CollectorOptions(
            grpc_endpoint=f"127.0.0.1:{grpc}",
            http_endpoint=f"127.0.0.1:{http}",
            health_endpoint=f"127.0.0.1:{health}",
            metrics_endpoint=None,
            storage_directory=workdir / "queue",
            file_output=workdir / "telemetry.jsonl",
        )
        collector = cls(
            binary, render_collector_config(policy, "gateway", options), workdir, health
        )
        collector.grpc_port, collector.http_port = grpc, http
        collector.output = workdir / "telemetry.jsonl"
        return collector

    def __init__(self, binary: Path, config_yaml: str, workdir: Path, health_port: int) -> None:
        self.grpc_port = self.http_port = 0
        self.output = workdir / "telemetry.jsonl"
        self.binary = binary
        self.config = workdir / "otelcol.yaml"
        self.config.write_text(config_yaml, encoding="utf-8")
        self.health = f"http://127.0.0.1:{health_port}/"
        self.log = workdir / "otelcol.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(self.binary), f"--config={self.config}"], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                get(self.health, timeout=1)
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(
            f"the collector did not become healthy:\n{self.log.read_text()[-4000:]}"
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
