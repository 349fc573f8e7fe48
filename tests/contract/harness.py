"""Build the two services, run them against a collector, drive the scenario script.

One `Run` is one language over one OTLP protocol: a fresh collector that writes everything it
receives to a file, the processes of `expectations.PROCESSES` (one build, each with its own
ports and DOWNSTREAM_URL; its gRPC target is its own gRPC port), the scenario script sent to
them, then SIGTERM so they flush, and the collector's output parsed.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..toolchains import CARGO_ENV, GO_ENV, Collector, free_port
from .expectations import PROCESSES, SCENARIOS, SECRETS, USER_AGENT
from .model import Context, Scenario, resolve
from .otlp import Telemetry, read_telemetry

LANGUAGES = ("go", "rust")
PROTOCOLS = ("grpc", "http/protobuf")

# How each language is told to log at debug level.
DEBUG_LOGGING = {"go": {"LOG_LEVEL": "debug"}, "rust": {"RUST_LOG": "debug"}}
# Variables of the test's own environment that must not leak into a service's configuration.
_SCRUBBED_PREFIXES = ("OTEL_", "TELEMETRY_")
_SCRUBBED = {"RUST_LOG", "LOG_LEVEL", "PORT", "GRPC_PORT", "DOWNSTREAM_URL", "GRPC_TARGET"}

START_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 10.0
# The policy's shutdown deadline is 5 s; draining the servers comes on top.
STOP_TIMEOUT_S = 20.0
# The consumer of the in-process queue works after POST /messages has answered.
SETTLE_S = 1.0


class HarnessError(AssertionError):
    """The harness could not run a service: it did not build, start or answer at all."""


@dataclass(frozen=True)
class Build:
    language: str
    service: str
    binary: Path


def build(language: str, project: Path, service: str, run_tool: RunTool) -> Build:
    """Build the rendered `project` once with the real toolchain; return its binary."""
    if language == "go":
        binary = project / service
        run_tool(["go", "build", "-o", str(binary), f"./cmd/{service}"], project, GO_ENV, 900)
    else:
        run_tool(["cargo", "build", "--bin", service], project, CARGO_ENV, 2400)
        built = Path(CARGO_ENV["CARGO_TARGET_DIR"]) / "debug" / service
        if not built.is_file():
            raise HarnessError(f"the rust build left no binary at {built}")
        # The target directory is shared: keep this build's binary from the next one's.
        binary = project / service
        shutil.copy2(built, binary)
    if not binary.is_file():
        raise HarnessError(f"the {language} build left no binary at {binary}")
    return Build(language, service, binary)


class RunTool(Protocol):
    """Runs a toolchain command; conftest's `run` fits (it fails the test on an error)."""

    def __call__(
        self, cmd: list[str], cwd: Path, env: Mapping[str, str], timeout: int
    ) -> object: ...


@dataclass
class ProcessRecord:
    """What a service process left behind."""

    name: str
    pid: int
    stdout: str
    stderr: str
    exit_code: int | None
    stop_seconds: float


class Process:
    """A service process on loopback ports, stdout and stderr each to its own file."""

    def __init__(self, name: str, binary: Path, env: Mapping[str, str], workdir: Path) -> None:
        self.name = name
        self.port = int(env["PORT"])
        self.grpc_port = int(env["GRPC_PORT"])
        self.stdout_path = workdir / f"{name}.stdout"
        self.stderr_path = workdir / f"{name}.stderr"
        base = {
            key: value
            for key, value in os.environ.items()
            if key not in _SCRUBBED and not key.startswith(_SCRUBBED_PREFIXES)
        }
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [str(binary)],
                env={**base, **env},
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )
        self._wait_until_serving()

    def _wait_until_serving(self) -> None:
        """Wait until GET /healthz answers 200 and the gRPC port accepts connections."""
        deadline = time.monotonic() + START_TIMEOUT_S
        http_up = grpc_up = False
        while time.monotonic() < deadline and self.proc.poll() is None:
            if not http_up:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                    conn.request("GET", "/healthz")
                    http_up = conn.getresponse().status == 200
                    conn.close()
                except OSError:
                    pass
            if not grpc_up:
                try:
                    socket.create_connection(("127.0.0.1", self.grpc_port), timeout=1).close()
                    grpc_up = True
                except OSError:
                    pass
            if http_up and grpc_up:
                return
            time.sleep(0.1)
        exited = self.proc.poll()
        if exited is None:
            self.proc.kill()
            self.proc.wait()
        state = (
            f"it exited with {exited}"
            if exited is not None
            else f"HTTP {'up' if http_up else 'down'}, gRPC {'up' if grpc_up else 'down'}"
        )
        raise HarnessError(
            f"the {self.name} process did not start serving on HTTP {self.port} and gRPC "
            f"{self.grpc_port} within {START_TIMEOUT_S:.0f}s ({state}):\n{self.output()}"
        )

    def output(self) -> str:
        stdout = self.stdout_path.read_text(encoding="utf-8", errors="replace")
        stderr = self.stderr_path.read_text(encoding="utf-8", errors="replace")
        return f"--- stdout\n{stdout[-4000:]}\n--- stderr\n{stderr[-4000:]}"

    def stop(self) -> ProcessRecord:
        """SIGTERM, so the service drains and flushes; SIGKILL after `STOP_TIMEOUT_S`."""
        start = time.monotonic()
        exit_code: int | None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            exit_code = self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            exit_code = None
        return ProcessRecord(
            name=self.name,
            pid=self.proc.pid,
            stdout=self.stdout_path.read_text(encoding="utf-8", errors="replace"),
            stderr=self.stderr_path.read_text(encoding="utf-8", errors="replace"),
            exit_code=exit_code,
            stop_seconds=time.monotonic() - start,
        )


@dataclass(frozen=True)
class Exchange:
    """One request of the scenario script and what came back."""

    scenario: str
    process: str
    trace_id: str
    # The span id of the caller's span in the `traceparent` the tier sent.
    caller_span_id: str
    status: int
    body: bytes
    error: str = ""


@dataclass
class Run:
    """Everything one language produced over one protocol."""

    language: str
    protocol: str
    service: str
    ctx: dict[str, object]
    secrets: dict[str, str]
    exchanges: dict[str, Exchange]
    processes: dict[str, ProcessRecord]
    telemetry: Telemetry
    seconds: float
    collector_log: str = ""


def _collector_config(grpc: int, http_port: int, health: int, output: Path) -> str:
    """A collector that writes everything it receives to `output`, untouched.

    Not the gateway tier: its processors (tail sampling, redaction) would hide what the
    services themselves send, and the contract is about the services.
    """
    return f"""\
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
      http:
        endpoint: 127.0.0.1:{http_port}
exporters:
  file:
    path: {output}
    format: json
extensions:
  health_check:
    endpoint: 127.0.0.1:{health}
service:
  extensions: [health_check]
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file]
    metrics:
      receivers: [otlp]
      exporters: [file]
    logs:
      receivers: [otlp]
      exporters: [file]
"""


def run_contract(service: Build, protocol: str, otelcol: Path, workdir: Path, org: str) -> Run:
    """Run `service` through the scenario script, exporting over `protocol`; collect the output."""
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    grpc, http_port, health = free_port(), free_port(), free_port()
    output = workdir / "telemetry.jsonl"
    collector = Collector(
        otelcol, _collector_config(grpc, http_port, health, output), workdir, health
    )
    endpoint = f"http://127.0.0.1:{grpc if protocol == 'grpc' else http_port}"

    run_secrets = {name: f"{name.replace('_', '-')}-{secrets.token_hex(8)}" for name in SECRETS}
    ports = {f"{name}_{kind}": free_port() for name in PROCESSES for kind in ("port", "grpc_port")}
    ports["closed_port"] = free_port()
    ctx: dict[str, object] = {"service": service.service, "org": org, **ports, **run_secrets}
    processes: dict[str, Process] = {}
    records: dict[str, ProcessRecord] = {}
    exchanges: dict[str, Exchange] = {}
    try:
        for name, downstream in PROCESSES.items():
            env = {
                "PORT": str(ports[f"{name}_port"]),
                "GRPC_PORT": str(ports[f"{name}_grpc_port"]),
                "GRPC_TARGET": f"127.0.0.1:{ports[f'{name}_grpc_port']}",
                "DOWNSTREAM_URL": str(resolve(downstream, ctx)),
                "TELEMETRY_ADMIN_ADDR": f"127.0.0.1:{free_port()}",
                "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
                **DEBUG_LOGGING[service.language],
            }
            processes[name] = Process(name, service.binary, env, workdir)
        for scenario in SCENARIOS:
            exchanges[scenario.name] = send(scenario, processes[scenario.process].port, ctx)
        time.sleep(SETTLE_S)
    finally:
        for name, process in processes.items():
            records[name] = process.stop()
        collector.stop()
    return Run(
        language=service.language,
        protocol=protocol,
        service=service.service,
        ctx=ctx,
        secrets=run_secrets,
        exchanges=exchanges,
        processes=records,
        telemetry=read_telemetry(output),
        seconds=time.monotonic() - started,
        collector_log=collector.log.read_text(encoding="utf-8", errors="replace"),
    )


def send(scenario: Scenario, port: int, ctx: Context) -> Exchange:
    """Send one scenario's request with a fresh sampled `traceparent`; never raise."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    request = scenario.request
    headers = {
        "traceparent": f"00-{trace_id}-{span_id}-01",
        "User-Agent": USER_AGENT,
        **{key: str(resolve(value, ctx)) for key, value in request.headers.items()},
    }
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
    try:
        conn.request(request.method, str(resolve(request.path, ctx)), request.body or None, headers)
        response = conn.getresponse()
        return Exchange(
            scenario.name, scenario.process, trace_id, span_id, response.status, response.read()
        )
    except OSError as err:
        return Exchange(scenario.name, scenario.process, trace_id, span_id, 0, b"", str(err))
    finally:
        conn.close()


def response_json(exchange: Exchange) -> object:
    """The JSON body of an answer, or None when it is not JSON."""
    try:
        return json.loads(exchange.body)
    except ValueError:
        return None
