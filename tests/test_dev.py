"""`scaffold dev`: the local telemetry sink, its trace assembly and its terminal view.

The unit tests feed OTLP/JSON export requests to `TraceAssembler` and render traces at 80
columns. The others run the real thing: the project's collector build receiving OTLP/HTTP, and
`make demo-trace`, where the two `make demo` services (Go calls Rust via /call) report to
`scaffold dev --expect-trace`.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from scaffold._trace_view import TraceView, format_duration
from scaffold.traces import TraceAssembler

from .conftest import ROOT, require_tool
from .toolchains import CARGO_ENV, GO_ENV, free_port

SCAFFOLD = str(Path(sys.executable).with_name("scaffold"))
TRACE = "5b8efff798038103d269b633813fc60c"
MS = 1_000_000
BASE = 1_796_000_000_000_000_000


def span(
    span_id: str,
    name: str,
    kind: int,
    start_ms: float,
    end_ms: float,
    parent: str = "",
    trace: str = TRACE,
    **attributes: Any,
) -> dict[str, Any]:
    attrs = []
    for key, value in attributes.items():
        typed = {"intValue": str(value)} if isinstance(value, int) else {"stringValue": value}
        attrs.append({"key": key.replace("__", "."), "value": typed})
    return {
        "traceId": trace,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": name,
        "kind": kind,
        "startTimeUnixNano": str(BASE + int(start_ms * MS)),
        "endTimeUnixNano": str(BASE + int(end_ms * MS)),
        "attributes": attrs,
        "status": {},
    }


def request(service: str, *spans: dict[str, Any]) -> dict[str, Any]:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": list(spans)}]}]}


GO_HALF = request(
    "payments-api",
    span("aaaaaaaaaaaaaaa1", "GET /call", 2, 0, 4.2, http__response__status_code=200),
    span(
        "aaaaaaaaaaaaaaa2",
        "HTTP GET",
        3,
        0.5,
        3.9,
        parent="aaaaaaaaaaaaaaa1",
        http__response__status_code=200,
        url__full="http://localhost:8090/hello",
    ),
)
RUST_HALF = request(
    "ledger",
    {
        **span(
            "bbbbbbbbbbbbbbb1",
            "GET /hello",
            2,
            1.6,
            2.1,
            parent="aaaaaaaaaaaaaaa2",
            http__response__status_code=200,
        ),
        "events": [{"name": "said hello", "timeUnixNano": str(BASE + 2 * MS)}],
    },
)


# -- trace assembly --------------------------------------------------------------------------


def test_a_trace_waits_for_the_service_its_client_span_called() -> None:
    assembler = TraceAssembler(quiet=1.0, max_wait=6.0)
    assert assembler.add_request(GO_HALF, now=0.0) == 2
    assert assembler.settled(now=2.0) == []  # the client span has no child yet
    assert assembler.find(services=2) is None
    assembler.add_request(RUST_HALF, now=3.0)
    assert assembler.settled(now=3.5) == []  # still quiet-waiting
    [trace] = assembler.settled(now=4.1)
    assert trace.services == ("payments-api", "ledger")
    assert trace.connected and trace.revision == 1
    assert [s.name for s, _ in trace.walk()] == ["GET /call", "HTTP GET", "GET /hello"]
    assert assembler.find(services=2) == trace
    assert assembler.settled(now=10.0) == []  # handed out once


def test_a_missing_half_is_given_up_on_after_the_export_delay_and_shown_again_later() -> None:
    assembler = TraceAssembler(quiet=1.0, max_wait=6.0)
    assembler.add_request(GO_HALF, now=0.0)
    assert assembler.settled(now=5.9) == []
    [first] = assembler.settled(now=6.1)
    assert first.services == ("payments-api",) and first.revision == 1
    assembler.add_request(RUST_HALF, now=7.0)
    [second] = assembler.settled(now=8.1)
    assert second.revision == 2 and len(second.spans) == 3


def test_a_trace_without_missing_pieces_is_shown_after_the_quiet_period() -> None:
    assembler = TraceAssembler(quiet=1.0, max_wait=6.0)
    assembler.add_request(request("solo", span("ccccccccccccccc1", "GET /hello", 2, 0, 1)), 0.0)
    assert assembler.settled(now=0.5) == []
    [trace] = assembler.settled(now=1.0)
    assert trace.services == ("solo",)


def test_log_lines_written_inside_a_span_show_under_it_whenever_they_arrive() -> None:
    assembler = TraceAssembler(quiet=0.5, max_wait=5)
    early = log_request("ledger", "bbbbbbbbbbbbbbb1", "saying hello", 1.5)
    assembler.add_request(early, now=0)  # before its span
    assembler.add_request(GO_HALF, now=0)
    assembler.add_request(RUST_HALF, now=0)
    assembler.add_request(early, now=0)  # a retried export
    outside = log_request("ledger", "0" * 16, "no span", 1.0, trace="0" * 32)
    assembler.add_request(outside, now=0)
    [trace] = assembler.settled(now=1)
    by_id = {s.span_id: s for s in trace.spans}
    # In time order with the span's own event (at 2 ms); nothing from outside a span.
    assert [e.name for e in by_id["bbbbbbbbbbbbbbb1"].events] == ["saying hello", "said hello"]
    assert [e.name for s in trace.spans for e in s.events] == ["saying hello", "said hello"]

    # A record after the trace was shown shows it again, with the line under its span.
    late = log_request("payments-api", "aaaaaaaaaaaaaaa1", "calling ledger", 0.5)
    assembler.add_request(late, now=2)
    [again] = assembler.settled(now=3)
    assert again.revision == 2
    out = io.StringIO()
    TraceView(file=out, width=80).show(again)
    assert "• calling ledger" in out.getvalue() and "• saying hello" in out.getvalue()


def test_duplicates_and_malformed_lines_are_skipped() -> None:
    assembler = TraceAssembler()
    assert assembler.add_line(json.dumps(GO_HALF), 0.0) == 2
    assert assembler.add_line(json.dumps(GO_HALF), 0.0) == 0  # a retried export
    assert assembler.add_line("{not json", 0.0) == 0
    assert assembler.add_line('{"resourceSpans": [{"scopeSpans": [{"spans": [7]}]}]}', 0.0) == 0
    assert assembler.add_line("", 0.0) == 0
    assert assembler.span_count == 2


def test_two_services_in_two_pieces_are_not_one_tree() -> None:
    """A broken propagation shows as a callee span cut off from its caller: not a pass."""
    assembler = TraceAssembler()
    go_root = request("payments-api", span("aaaaaaaaaaaaaaa1", "GET /call", 2, 0, 4))
    cut_off = request("ledger", span("bbbbbbbbbbbbbbb1", "GET /hello", 2, 1, 2, parent="ffff"))
    assembler.add_request(go_root, 0.0)
    assembler.add_request(cut_off, 0.0)
    [trace] = assembler.traces()
    assert len(trace.services) == 2 and not trace.connected
    assert assembler.find(services=2) is None


# -- the terminal view -----------------------------------------------------------------------


def rendered(*requests: dict[str, Any], width: int = 80) -> list[str]:
    assembler = TraceAssembler(quiet=0, max_wait=0)
    for item in requests:
        assembler.add_request(item, 0.0)
    out = io.StringIO()
    view = TraceView(file=out, width=width)
    for trace in assembler.settled(now=1.0):
        view.show(trace)
    return out.getvalue().splitlines()


def test_one_trace_across_two_services_is_one_tree_at_80_columns() -> None:
    assert rendered(GO_HALF, RUST_HALF) == [
        f"trace {TRACE}  3 spans, 2 services, 4.2 ms",
        "payments-api  GET /call         ████████████    4.2 ms  200",
        "payments-api  └─ HTTP GET        ███████████    3.4 ms",
        "                 │  200 http://localhost:8090/hello",
        "ledger           └─ GET /hello      ██          500 µs  200",
        "                       • said hello",
        "",
    ]


def test_wide_terminals_keep_details_on_the_span_line() -> None:
    lines = rendered(GO_HALF, RUST_HALF, width=140)
    assert lines[2].endswith("3.4 ms  200 http://localhost:8090/hello")
    assert all(len(line) <= 140 and line == line.rstrip() for line in lines)


def test_errors_and_orphans_are_marked() -> None:
    failing = span("ddddddddddddddd1", "GET /pay", 2, 0, 9, parent="0123456789abcdef")
    failing["status"] = {"code": 2, "message": "downstream timed out"}
    failing["attributes"].append({"key": "error.type", "value": {"stringValue": "timeout"}})
    lines = rendered(request("payments-api", failing))
    assert lines[0].endswith("1 span, 1 service, 9.0 ms  error")
    assert "timeout downstream timed out (parent not received)" in "\n".join(lines)


@pytest.mark.parametrize(
    ("ns", "text"),
    [(850_000, "850 µs"), (4_200_000, "4.2 ms"), (1_250_000_000, "1.25 s"), (0, "0 µs")],
)
def test_durations_read_in_their_unit(ns: int, text: str) -> None:
    assert format_duration(ns) == text


# -- the real sink ---------------------------------------------------------------------------


def test_a_port_in_use_is_refused_before_anything_is_built(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [SCAFFOLD, "dev", "--grpc-port", str(port), "--http-port", str(free_port())],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert proc.returncode == 15, proc.stderr
    assert f"port {port} (OTLP/gRPC) is in use" in proc.stderr
    assert "build.sh" not in proc.stderr


def test_without_go_the_build_fails_with_what_to_install(tmp_path: Path) -> None:
    """No cached collector and no Go: one line that says what is missing, exit 15."""
    proc = subprocess.run(
        [SCAFFOLD, "dev", "--grpc-port", str(free_port()), "--http-port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PATH": "/usr/bin:/bin", "SCAFFOLD_CACHE": str(tmp_path / "cache")},
    )
    assert proc.returncode == 15, proc.stderr
    assert "the collector build failed (Go is not installed)" in proc.stderr
    assert "install Go 1.26 or newer" in proc.stderr


def log_request(
    service: str, span_id: str, body: str, at_ms: float, trace: str = TRACE
) -> dict[str, Any]:
    """An OTLP/JSON log export: one record written inside the span `span_id`."""
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    record = {
        "timeUnixNano": str(BASE + int(at_ms * MS)),
        "severityText": "INFO",
        "body": {"stringValue": body},
        "traceId": trace,
        "spanId": span_id,
    }
    return {"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": [record]}]}]}


def post_otlp(port: int, body: dict[str, Any]) -> None:
    signal_path = "/v1/logs" if "resourceLogs" in body else "/v1/traces"
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{signal_path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as response:
        assert response.status == 200


def start_dev(*args: str) -> tuple[subprocess.Popen[str], int, int]:
    grpc, http = free_port(), free_port()
    proc = subprocess.Popen(
        [SCAFFOLD, "dev", "--grpc-port", str(grpc), "--http-port", str(http), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **GO_ENV},
    )
    deadline = time.monotonic() + 1800  # a cold collector build takes minutes
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"scaffold dev exited ({proc.returncode}):\n{proc.stderr.read()}")  # type: ignore[union-attr]
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", http)) == 0:
                return proc, grpc, http
        time.sleep(0.2)
    proc.kill()
    pytest.fail("scaffold dev did not listen in time")


def test_watch_mode_shows_each_trace_and_stops_cleanly_on_ctrl_c(otelcol: Path) -> None:
    proc, _, http = start_dev()
    try:
        post_otlp(http, GO_HALF)
        post_otlp(http, RUST_HALF)
        post_otlp(
            http, request("solo", span("ccccccccccccccc1", "GET /hello", 2, 0, 1, trace="e" * 32))
        )
        post_otlp(http, log_request("solo", "ccccccccccccccc1", "said hello", 0.5, trace="e" * 32))
        time.sleep(4)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Stopped; 4 span(s) received." in err
    assert f"trace {TRACE}  3 spans, 2 services, 4.2 ms" in out
    assert f"trace {'e' * 32}  1 span, 1 service, 1.0 ms" in out
    assert "• said hello" in out  # a log record the collector received, under its span
    with socket.socket() as probe:  # the collector is gone with it
        assert probe.connect_ex(("127.0.0.1", http)) != 0


def test_sigterm_stops_the_collector_too_and_reports_itself(otelcol: Path) -> None:
    proc, grpc, http = start_dev()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    for port in (grpc, http):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_expect_trace_times_out_and_says_what_arrived(otelcol: Path) -> None:
    proc, _, http = start_dev("--expect-trace", "--services", "2", "--timeout", "4")
    post_otlp(http, GO_HALF)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 16, err
    assert f"trace {TRACE}  2 spans, 1 service, 4.2 ms" in out  # what did arrive is shown
    assert (
        "no trace with spans from 2 services arrived within 4s (1 trace(s) arrived; the widest "
        "has spans from payments-api)"
    ) in err


@pytest.mark.compile
@pytest.mark.e2e
def test_make_demo_trace_sees_one_trace_across_go_and_rust(tmp_path: Path, otelcol: Path) -> None:
    """The README's first command: the `make demo` services, Go calling Rust, seen by the sink."""
    require_tool("go", "cargo", "make", "curl")
    ports = {
        "DEMO_GO_PORT": free_port(),
        "DEMO_GO_GRPC_PORT": free_port(),
        "DEMO_RUST_PORT": free_port(),
        "OTLP_GRPC_PORT": free_port(),
        "OTLP_HTTP_PORT": free_port(),
    }
    proc = subprocess.run(
        ["make", "--no-print-directory", "demo-trace", f"DEMO_DIR={tmp_path / 'demo'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        env={**os.environ, **GO_ENV, **CARGO_ENV, **{k: str(v) for k, v in ports.items()}},
    )
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    assert "One trace across 2 services (payments-api, ledger)" in proc.stderr
    # The tree: the Go server span, its client span, and the Rust server span under it.
    tree = proc.stdout[proc.stdout.index("2 services") :].splitlines()
    assert tree[1].startswith("payments-api  GET /call ")
    assert tree[2].startswith("payments-api  └─ GET ")
    assert any(line.startswith("ledger           └─ GET /hello ") for line in tree[3:5]), tree
