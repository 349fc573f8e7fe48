"""`scaffold dev`: a local telemetry sink for development, and the traces it receives.

The sink is the project's own collector build (`collector/build.sh`, built once per machine
and cached; the build reports its progress) running a small configuration of its own: OTLP
receivers on the standard ports (gRPC 4317, HTTP 4318), so a service made by `scaffold new`
exports to it with no setting at all; traces written as OTLP/JSON lines to a file in a working
directory; metrics and logs accepted and summarised in the collector's log. `DevSink` reads that
file as it grows and hands out each trace once it is complete (see `scaffold.traces`).

Nothing here prints: the CLI shows the build's output through `on_build_output` and renders
the traces.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import yaml

from scaffold.errors import DevSinkError, NoTraceError
from scaffold.traces import Trace, TraceAssembler

__all__ = [
    "DEFAULT_GRPC_PORT",
    "DEFAULT_HTTP_PORT",
    "DevSink",
    "build_collector",
    "collector_build_script",
    "dev_collector_config",
]

DEFAULT_GRPC_PORT = 4317
DEFAULT_HTTP_PORT = 4318
# The longest a service holds finished spans before exporting them: the batch span
# processor's schedule delay in both SDKs (and in the org policy), plus a second for the
# collector to write them. A trace with a visibly missing piece waits this long for it.
EXPORT_DELAY_S = 6.0
# How long a started collector may take to report healthy.
_START_TIMEOUT_S = 60.0


def collector_build_script() -> Path:
    """The collector's build script: inside the installed package, or in the source checkout.

    Raises:
        DevSinkError: this installation carries no collector build.
    """
    here = Path(__file__).resolve().parent
    for candidate in (here / "_collector" / "build.sh", here.parent / "collector" / "build.sh"):
        if candidate.is_file():
            return candidate
    raise DevSinkError(
        "this installation of otel-scaffold has no collector build script",
        hint="reinstall otel-scaffold, or pass --collector with an OpenTelemetry Collector "
        "binary that has the otlp receiver and the file and debug exporters",
    )


def build_collector(on_output: Callable[[str], None] | None = None) -> Path:
    """Build the collector, or reuse the cached build, and return the binary.

    The build script reports each step on its standard error; every line goes to `on_output`
    as it comes. A cold build takes minutes (Go downloads and compiles the collector's
    modules); later calls return at once.

    Raises:
        DevSinkError: Go is missing or the build failed (its output went to `on_output`).
    """
    script = collector_build_script()
    env = {**os.environ, "GOTOOLCHAIN": os.environ.get("GOTOOLCHAIN", "local")}
    proc = subprocess.Popen(
        ["bash", str(script)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None and proc.stdout is not None
        last = ""
        for line in proc.stderr:
            last = line.rstrip("\n")
            if on_output is not None:
                on_output(last)
        stdout = proc.stdout.read()
        code = proc.wait()
    except BaseException:
        # An interrupted build: the script removes its temporary files when terminated.
        proc.terminate()
        proc.wait()
        raise
    if code != 0:
        reason = "Go is not installed" if code == 127 else f"exit code {code}"
        raise DevSinkError(
            f"the collector build failed ({reason}): {last or 'no output'}",
            hint="install Go 1.26 or newer" if code == 127 else "see the build output above",
        )
    binary = Path(stdout.strip().splitlines()[-1]) if stdout.strip() else Path()
    if not binary.is_file():
        raise DevSinkError(f"the collector build named no binary ({stdout.strip()!r})")
    return binary


def dev_collector_config(
    host: str, grpc_port: int, http_port: int, health_port: int, traces_file: Path, logs_file: Path
) -> dict[str, Any]:
    """The sink's collector configuration: OTLP in, traces and logs to files, metrics counted."""
    return {
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": _join(host, grpc_port)},
                    "http": {"endpoint": _join(host, http_port)},
                }
            }
        },
        "exporters": {
            # A short flush interval: a trace should show within a second of arriving.
            "file/traces": {"path": str(traces_file), "format": "json", "flush_interval": "200ms"},
            # The log lines written inside a span show under it.
            "file/logs": {"path": str(logs_file), "format": "json", "flush_interval": "200ms"},
            "debug": {"verbosity": "basic"},
        },
        "extensions": {"health_check": {"endpoint": _join("127.0.0.1", health_port)}},
        "service": {
            "extensions": ["health_check"],
            "telemetry": {"metrics": {"level": "none"}},
            "pipelines": {
                "traces": {"receivers": ["otlp"], "exporters": ["file/traces"]},
                "logs": {"receivers": ["otlp"], "exporters": ["file/logs"]},
                # Accepted so that services do not log failed exports; counted in the log.
                "metrics": {"receivers": ["otlp"], "exporters": ["debug"]},
            },
        },
    }


@dataclass
class DevSink:
    """A collector on this machine that receives OTLP and shows the traces it got.

    Use it as a context manager: entering builds (or reuses) the collector and starts it,
    leaving stops it and removes the working directory it made.

    Attributes:
        host: address the OTLP receivers listen on; 127.0.0.1 keeps them private to this
            machine, 0.0.0.0 lets containers reach them.
        grpc_port: OTLP/gRPC port (the standard 4317).
        http_port: OTLP/HTTP port (the standard 4318).
        collector: a collector binary to run; None builds or reuses the project's own.
        workdir: where the configuration, the traces (`traces.jsonl`) and the collector's log
            (`collector.log`) go, kept afterwards; None uses a temporary directory.
        on_build_output: receives each line the collector build prints.
        quiet: seconds without a new span before a complete trace is handed out.
        max_wait: seconds a trace with a visibly missing piece waits for it.
    """

    host: str = "127.0.0.1"
    grpc_port: int = DEFAULT_GRPC_PORT
    http_port: int = DEFAULT_HTTP_PORT
    collector: Path | None = None
    workdir: Path | None = None
    on_build_output: Callable[[str], None] | None = field(default=None, repr=False)
    quiet: float = 1.0
    max_wait: float = EXPORT_DELAY_S

    def __post_init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None
        self._made_dir = False
        self._readers: list[_LineReader] = []
        self._assembler = TraceAssembler(quiet=self.quiet, max_wait=self.max_wait)

    def __enter__(self) -> DevSink:
        try:
            self.start()
        except BaseException:
            # Interrupted or failed while the collector started: it must not outlive us.
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def grpc_endpoint(self) -> str:
        """Where services send OTLP/gRPC: the value for OTEL_EXPORTER_OTLP_ENDPOINT."""
        return f"http://{_join(_reachable(self.host), self.grpc_port)}"

    @property
    def http_endpoint(self) -> str:
        """Where services send OTLP/HTTP (with OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf)."""
        return f"http://{_join(_reachable(self.host), self.http_port)}"

    @property
    def traces_file(self) -> Path:
        """The OTLP/JSON lines the collector writes (valid once started)."""
        return self._workdir() / "traces.jsonl"

    @property
    def logs_file(self) -> Path:
        """The OTLP/JSON lines of the log records the collector received (valid once started)."""
        return self._workdir() / "logs.jsonl"

    @property
    def log_file(self) -> Path:
        """The collector's own log (valid once started)."""
        return self._workdir() / "collector.log"

    @property
    def span_count(self) -> int:
        """Spans received so far."""
        return self._assembler.span_count

    def start(self) -> None:
        """Build or reuse the collector, check the ports, start it and wait until it is ready.

        Raises:
            DevSinkError: a port is taken, the build failed, or the collector did not start.
        """
        for name, port in (("OTLP/gRPC", self.grpc_port), ("OTLP/HTTP", self.http_port)):
            _check_port_free(self.host, port, name)
        binary = self.collector or build_collector(self.on_build_output)
        if self.workdir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="scaffold-dev-"))
            self._made_dir = True
        else:
            self._dir = self.workdir.expanduser().absolute()
            try:
                self._dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DevSinkError(
                    f"cannot create {self._dir}: {exc.strerror}", hint="choose another --workdir"
                ) from None
        self.traces_file.unlink(missing_ok=True)
        self.logs_file.unlink(missing_ok=True)
        health = _free_port()
        config = self._dir / "collector.yaml"
        config.write_text(
            yaml.safe_dump(
                dev_collector_config(
                    self.host,
                    self.grpc_port,
                    self.http_port,
                    health,
                    self.traces_file,
                    self.logs_file,
                ),
                sort_keys=False,
            ),
            encoding="utf-8",
        )
        with self.log_file.open("wb") as log:
            self._proc = subprocess.Popen(
                [str(binary), f"--config={config}"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: the sink stops it in order, after a Ctrl-C reached us.
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self._readers = [_LineReader(self.logs_file), _LineReader(self.traces_file)]
        self._wait_until_ready(health)

    def stop(self) -> None:
        """Stop the collector (it flushes what it holds) and remove a temporary working directory."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for reader in self._readers:
            reader.close()
        self._readers = []
        if self._made_dir and self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._made_dir = False

    def poll(self) -> list[Trace]:
        """Read what arrived since the last call; return the traces that are complete now.

        Raises:
            DevSinkError: the collector stopped by itself.
        """
        self._read()
        return self._assembler.settled(time.monotonic())

    def watch(self, interval: float = 0.25) -> Iterator[Trace]:
        """Every trace as it completes, until the caller stops iterating.

        Raises:
            DevSinkError: the collector stopped by itself.
        """
        while True:
            yield from self.poll()
            time.sleep(interval)

    def wait_for_trace(
        self,
        services: int,
        timeout: float,
        on_trace: Callable[[Trace], None] | None = None,
        interval: float = 0.25,
    ) -> Trace:
        """Wait for one trace, read as one tree, with spans from at least `services` services.

        Other traces that complete meanwhile go to `on_trace`, and at the timeout every trace
        not shown yet, so a caller can show what did arrive.

        Raises:
            NoTraceError: no such trace arrived within `timeout` seconds.
            DevSinkError: the collector stopped by itself.
        """
        deadline = time.monotonic() + timeout
        while True:
            settled = self.poll()
            found = self._assembler.find(services)
            if found is not None:
                return found
            if on_trace is not None:
                for trace in settled:
                    on_trace(trace)
            if time.monotonic() >= deadline:
                if on_trace is not None:
                    for trace in self._assembler.flush():
                        on_trace(trace)
                raise NoTraceError(services, timeout, self._assembler.traces())
            time.sleep(interval)

    # -- internals -------------------------------------------------------------------------

    def _workdir(self) -> Path:
        if self._dir is None:
            raise RuntimeError("the sink has not been started")
        return self._dir

    def _read(self) -> None:
        if not self._readers:
            raise RuntimeError("the sink has not been started")
        now = time.monotonic()
        for reader in self._readers:
            for line in reader.lines():
                self._assembler.add_line(line, now)
        if self._proc is not None and self._proc.poll() is not None:
            code = self._proc.returncode
            self._proc = None
            raise DevSinkError(
                f"the collector stopped by itself (exit code {code}): {self._log_tail()}",
                hint=f"its log is {self.log_file}" if not self._made_dir else None,
            )

    def _wait_until_ready(self, health_port: int) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        url = f"http://127.0.0.1:{health_port}/"
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                code = None if self._proc is None else self._proc.returncode
                tail = self._log_tail()
                self.stop()
                raise DevSinkError(f"the collector did not start (exit code {code}): {tail}")
            try:
                with urllib.request.urlopen(url, timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        tail = self._log_tail()
        self.stop()
        raise DevSinkError(f"the collector did not become ready in time: {tail}")

    def _log_tail(self) -> str:
        """The collector's last error line (or last line), cut to a readable length."""
        try:
            lines = self.log_file.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return "no log"
        errors = [ln for ln in lines if "\terror\t" in ln or "Error:" in ln]
        line = (errors or lines or ["no log"])[-1].strip()
        return line if len(line) <= 400 else line[:400] + "..."


class _LineReader:
    """Complete lines appended to a file since the last read; the file may appear later."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None
        self._partial = b""

    def lines(self) -> list[str]:
        if self._file is None:
            try:
                self._file = self.path.open("rb")
            except FileNotFoundError:
                return []
        data = self._partial + self._file.read()
        *complete, self._partial = data.split(b"\n")
        return [line.decode("utf-8", errors="replace") for line in complete]

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _check_port_free(host: str, port: int, name: str) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        # As the collector binds: an old connection in TIME_WAIT does not make a port busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise DevSinkError(
                    f"port {port} ({name}) is in use: another collector or `scaffold dev` runs",
                    hint="stop it, or pass another port and point the services at it with "
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                ) from None
            raise DevSinkError(
                f"cannot listen on {_join(host, port)}: {exc.strerror}",
                hint="pass --host with an address of this machine",
            ) from None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _reachable(host: str) -> str:
    """The address a local service uses to reach a listener bound to `host`."""
    return "localhost" if host in ("0.0.0.0", "::", "127.0.0.1") else host


def _die_with_parent() -> None:
    """Linux: end the collector when the process that started it dies, however it dies.

    Without this, a `scaffold dev` killed by SIGKILL would leave its collector holding the
    standard ports, and the next `scaffold dev` could not start.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
