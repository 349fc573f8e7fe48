"""End to end: generated Go and Rust services call each other; a real collector receives them.

The services are rendered from the bundled templates with a policy whose sampling table differs
in every environment (the bundled table samples 1.0 everywhere, which would hide a service that
chose the wrong ratio), built once with the real toolchains and run as processes on loopback
ports, each with an admin listener of its own. They export OTLP/gRPC to a real OpenTelemetry
Collector running the gateway configuration `scaffold collector` renders, with a file exporter
added; the tests read that file back. The remote sampling test adds an agent collector that
serves Jaeger sampling strategies from a file. The measured figures (sampling per environment,
remote sampling, latency, memory, shutdown) are written to build/e2e-figures.json and printed
by `make e2e`.
"""

from __future__ import annotations

import bisect
import copy
import http.client
import json
import math
import secrets
import shutil
import statistics
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from scaffold.collector import render_sampling_strategies
from scaffold.policy import Policy, load_policy

from .conftest import ROOT, render, require_tool, run
from .toolchains import CARGO_ENV, GO_ENV, Collector, Server, free_port

pytestmark = [pytest.mark.compile, pytest.mark.e2e]

# Two processes of the Go build run as two services: the second one is renamed through
# OTEL_SERVICE_NAME, so that a trace's spans say which process made them.
GO_NAME, GO_DOWNSTREAM_NAME, RUST_NAME = "checkout", "stock", "ledger-e2e"
# The sampling table of the policy the services are rendered from: every environment its own
# ratio, and one more for environments the table does not name.
RATIOS = {"dev": 0.25, "staging": 0.5, "prod": 0.1}
OTHER_RATIO = 0.6
SHUTDOWN_DEADLINE_S = 5.0
# How long the gateway's tail sampling holds a trace before it writes it out.
DECISION_WAIT_S = 8.0
FIGURES = ROOT / "build" / "e2e-figures.json"
SECRET = "s3cr3t-" + secrets.token_hex(4)
ADMIN_TOKEN = "admin-" + secrets.token_hex(8)
TENANT = "tenant-42"
TRACESTATE = "acme=e2e-7,vendor=t61rcWkgMzE"
SERVER, CLIENT = 2, 3  # OTLP span kinds
PROCESS_KEY = "e2e.process"


@dataclass
class Span:
    service: str
    process: str
    resource: dict[str, Any]
    trace_id: str
    span_id: str
    parent: str
    name: str
    kind: int
    start_ns: int
    trace_state: str
    attributes: dict[str, Any]


class Service(Server):
    """A generated service on a loopback port, with its admin listener on a port of its own.

    Every process gets its own admin address: two services on the policy's default address
    would collide, and so would services of other test runs on the same machine.
    """

    def __init__(self, binary: Path, env: dict[str, str], admin_path: str) -> None:
        self.admin = f"http://127.0.0.1:{free_port()}{admin_path}"
        address = self.admin.removeprefix("http://").removesuffix(admin_path)
        # A resource attribute of the test's own names the process in everything it exports.
        self.process = secrets.token_hex(6)
        attributes = ",".join(
            filter(None, [env.get("OTEL_RESOURCE_ATTRIBUTES"), f"{PROCESS_KEY}={self.process}"])
        )
        super().__init__(
            binary,
            env | {"TELEMETRY_ADMIN_ADDR": address, "OTEL_RESOURCE_ATTRIBUTES": attributes},
        )

    def telemetry(self) -> dict[str, Any]:
        """The telemetry state the admin listener reports."""
        with urllib.request.urlopen(self.admin, timeout=5) as response:
            state: dict[str, Any] = json.loads(response.read())
            return state

    def put_telemetry(self, **flags: Any) -> tuple[int, dict[str, Any]]:
        """PUT flags to the admin listener with the token, as an operator would."""
        request = urllib.request.Request(
            self.admin,
            data=json.dumps(flags).encode(),
            method="PUT",
            headers={
                "Authorization": f"Bearer {ADMIN_TOKEN}",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status), json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), json.loads(exc.read() or b"{}")


@dataclass
class Stack:
    """The built binaries, the policy they were rendered from and the running collector."""

    go_binary: Path
    rust_binary: Path
    policy: Policy
    collector: Collector
    otelcol: Path
    workdir: Path
    figures: dict[str, Any] = field(default_factory=dict)

    def _service(self, binary: Path, env: dict[str, str]) -> Service:
        exporter = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{self.collector.grpc_port}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        }
        return Service(binary, exporter | env, self.policy.raw["runtime"]["admin_path"])

    def go(self, **env: str) -> Service:
        return self._service(self.go_binary, env)

    def rust(self, **env: str) -> Service:
        return self._service(self.rust_binary, env)

    def start(self, **go_env: str) -> tuple[Service, Service]:
        """A Go service whose /call calls a Rust service's /hello."""
        rust = self.rust()
        go = self.go(DOWNSTREAM_URL=f"{rust.base}/hello", **go_env)
        return go, rust

    def exports(self) -> Iterator[dict[str, Any]]:
        """Every export request the collector wrote, as OTLP/JSON."""
        if self.collector.output.exists():
            # The last line is one the collector may still be writing: complete lines only.
            for line in self.collector.output.read_text(encoding="utf-8").split("\n")[:-1]:
                if line.strip():
                    yield json.loads(line)

    def spans(self) -> list[Span]:
        found: list[Span] = []
        for export in self.exports():
            for resource_spans in export.get("resourceSpans", []):
                resource = _attributes(resource_spans.get("resource", {}).get("attributes", []))
                for scope in resource_spans.get("scopeSpans", []):
                    for span in scope.get("spans", []):
                        found.append(
                            Span(
                                service=str(resource.get("service.name")),
                                process=str(resource.get(PROCESS_KEY)),
                                resource=resource,
                                trace_id=span["traceId"],
                                span_id=span["spanId"],
                                parent=span.get("parentSpanId", ""),
                                name=span["name"],
                                kind=int(span.get("kind", 0)),
                                start_ns=int(span["startTimeUnixNano"]),
                                trace_state=span.get("traceState", ""),
                                attributes=_attributes(span.get("attributes", [])),
                            )
                        )
        return found

    def log_records(self, process: str) -> list[dict[str, Any]]:
        """The OTLP log records of one process."""
        return [
            record
            for export in self.exports()
            for resource_logs in export.get("resourceLogs", [])
            if _attributes(resource_logs.get("resource", {}).get("attributes", [])).get(PROCESS_KEY)
            == process
            for scope in resource_logs.get("scopeLogs", [])
            for record in scope.get("logRecords", [])
        ]

    def measured_requests(self, process: str) -> dict[str, int]:
        """How many requests each request-duration histogram of one process counted."""
        counts: dict[str, int] = {}
        for export in self.exports():
            for resource_metrics in export.get("resourceMetrics", []):
                resource = _attributes(resource_metrics.get("resource", {}).get("attributes", []))
                if resource.get(PROCESS_KEY) != process:
                    continue
                for scope in resource_metrics.get("scopeMetrics", []):
                    for metric in scope.get("metrics", []):
                        if metric["name"].endswith(".request.duration"):
                            points = metric["histogram"]["dataPoints"]
                            # Cumulative: the last export holds the totals.
                            counts[metric["name"]] = max(
                                counts.get(metric["name"], 0),
                                sum(int(point["count"]) for point in points),
                            )
        return counts

    def exported_by(self, process: str) -> list[str]:
        """The signal of each resource one process exported: empty when it exported nothing."""
        return [
            signal
            for export in self.exports()
            for signal in ("resourceSpans", "resourceMetrics", "resourceLogs")
            for item in export.get(signal, [])
            if _attributes(item.get("resource", {}).get("attributes", [])).get(PROCESS_KEY)
            == process
        ]

    def wait_for_traces(
        self, trace_ids: set[str], per_trace: int | dict[str, int], timeout: float = 60
    ) -> dict[str, list[Span]]:
        """Poll the collector's output until every trace has its number of spans."""
        want = per_trace if isinstance(per_trace, dict) else dict.fromkeys(trace_ids, per_trace)
        deadline = time.monotonic() + timeout
        while True:
            traces = by_trace(self.spans())
            if (
                all(len(traces.get(t, [])) >= want[t] for t in trace_ids)
                or time.monotonic() > deadline
            ):
                return traces
            time.sleep(0.5)

    def settle(self) -> None:
        """Wait until the gateway has written out what the stopped services flushed to it."""
        time.sleep(DECISION_WAIT_S + 2)


def _attributes(items: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        value = item.get("value", {})
        out[item["key"]] = next(iter(value.values()), None) if value else None
    return out


def by_trace(spans: list[Span]) -> dict[str, list[Span]]:
    traces: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        traces[span.trace_id].append(span)
    return traces


class Client:
    """A keep-alive HTTP client, so latency figures measure the services, not connection set-up."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, float]:
        start = time.perf_counter()
        self.conn.request("GET", path, headers=headers or {})
        response = self.conn.getresponse()
        body = response.read()
        return response.status, body, time.perf_counter() - start

    def close(self) -> None:
        self.conn.close()


@dataclass
class Roots:
    """Root requests (no traceparent) sent one at a time to one service, and when each ran.

    A request's server span starts while the request runs, and requests do not overlap, so
    the spans the collector received tell which requests the service sampled.
    """

    service: Service
    path: str = "/hello"
    windows: list[tuple[int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.client = Client(self.service.port)

    def send(self) -> None:
        start = time.time_ns()
        status, body, _ = self.client.get(self.path)
        self.windows.append((start, time.time_ns()))
        assert status == 200, body

    def sampled(self, spans: list[Span]) -> list[bool]:
        """For each request sent, whether the collector holds the root span it started."""
        starts = sorted(
            s.start_ns
            for s in spans
            if s.process == self.service.process and s.kind == SERVER and not s.parent
        )
        flags = []
        for begin, end in self.windows:
            at = bisect.bisect_left(starts, begin)
            flags.append(at < len(starts) and starts[at] <= end)
        return flags

    def close(self) -> None:
        self.client.close()


def paced(count: int, interval: float) -> Iterator[int]:
    """Yield count times, at most once per interval: under the policy's roots-per-second limit."""
    due = time.monotonic()
    for i in range(count):
        time.sleep(max(0.0, due - time.monotonic()))
        due = max(due + interval, time.monotonic())
        yield i


def within(count: int, ratio: float, sampled: int) -> bool:
    """A binomial count: within four standard deviations of its expectation."""
    spread = 4 * math.sqrt(count * ratio * (1 - ratio))
    return count * ratio - spread <= sampled <= count * ratio + spread


def traceparent() -> tuple[str, str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, otelcol: Path) -> Iterator[Stack]:
    require_tool("go", "cargo")
    began = time.monotonic()
    root = tmp_path_factory.mktemp("e2e")
    templates = root / "templates"
    shutil.copytree(ROOT / "templates", templates)
    policy_file = templates / "policy.yml"
    raw = yaml.safe_load(policy_file.read_text(encoding="utf-8"))
    raw["sampling"] |= {"ratio": OTHER_RATIO, "environments": RATIOS}
    policy_file.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    policy = load_policy(policy_file)

    render(
        root / "go",
        template=str(templates),
        service_name=GO_NAME,
        language="go",
        boundaries=["http_client"],
    )
    render(
        root / "rust",
        template=str(templates),
        service_name=RUST_NAME,
        language="rust",
        boundaries=["http_client"],
    )
    go_binary = root / GO_NAME
    run(["go", "build", "-o", str(go_binary), f"./cmd/{GO_NAME}"], root / "go", GO_ENV)
    run(["cargo", "build", "--bin", RUST_NAME], root / "rust", CARGO_ENV, timeout=2400)
    rust_binary = Path(CARGO_ENV["CARGO_TARGET_DIR"]) / "debug" / RUST_NAME
    built_after = time.monotonic() - began

    # The gateway tier of the policy; only the tail-sampling decision wait is shortened (both
    # services flush within it) and its base rate set to keep every trace, so what the
    # services sample is what the file shows.
    gateway = copy.deepcopy(dict(policy.raw))
    gateway["collector"]["tail_sampling"] |= {
        "decision_wait_ms": int(DECISION_WAIT_S * 1000),
        "base_ratio": 1.0,
    }
    (root / "gateway").mkdir()
    collector = Collector.gateway(otelcol, Policy(raw=gateway, path=policy.path), root / "gateway")
    built = Stack(go_binary, rust_binary, policy, collector, otelcol, root)
    try:
        yield built
    finally:
        collector.stop()
        built.figures["tier_seconds"] = {
            "build": round(built_after, 1),
            "total": round(time.monotonic() - began, 1),
        }
        FIGURES.parent.mkdir(exist_ok=True)
        previous = json.loads(FIGURES.read_text(encoding="utf-8")) if FIGURES.exists() else {}
        FIGURES.write_text(json.dumps(previous | built.figures, indent=2) + "\n", encoding="utf-8")


def test_one_trace_spans_both_services_with_policy_naming_and_redaction(stack: Stack) -> None:
    go, rust = stack.start(OTEL_TRACES_SAMPLER="parentbased_always_on")
    client = Client(go.port)
    trace_id, parent_id, header = traceparent()
    status, body, _ = client.get(
        f"/call?token={SECRET}&page=2",
        {
            "traceparent": header,
            "baggage": "acme.tenant.id=tenant-42",
            "Authorization": f"Bearer {SECRET}",
            "Cookie": f"session={SECRET}",
        },
    )
    assert status == 200, body
    assert json.loads(body) == {"service": RUST_NAME, "message": "hello"}
    status, _, _ = client.get("/call")  # a root request: the trace starts in the Go service
    assert status == 200
    log_trace, _, log_header = traceparent()
    assert client.get("/hello", {"traceparent": log_header})[0] == 200
    client.close()
    go_took, go_log = go.stop()
    rust_took, rust_log = rust.stop()

    traces = stack.wait_for_traces({trace_id}, per_trace=3)
    spans = {(s.service, s.kind): s for s in traces[trace_id]}
    server, client_span, downstream = (
        spans[(GO_NAME, 2)],
        spans[(GO_NAME, 3)],
        spans[(RUST_NAME, 2)],
    )
    # One trace, linked end to end: caller -> Go server -> Go client -> Rust server.
    assert server.parent == parent_id
    assert client_span.parent == server.span_id
    assert downstream.parent == client_span.span_id
    # Span names and attributes follow the policy in both languages.
    assert server.name == "GET /call"
    assert downstream.name == "GET /hello"
    assert (
        server.attributes["http.route"] == "/call"
        and downstream.attributes["http.route"] == "/hello"
    )
    assert int(downstream.attributes["http.response.status_code"]) == 200
    assert server.attributes["url.query"] == "token=REDACTED&page=2"
    # The baggage crossed both services: each recorded the org attribute it carries.
    assert server.attributes["acme.tenant.id"] == "tenant-42"
    assert downstream.attributes["acme.tenant.id"] == "tenant-42"
    for span in (server, downstream):
        assert span.resource["service.namespace"] == "acme"
        assert span.resource["deployment.environment.name"] == "dev"
        assert span.resource["acme.team"] == "platform"
        assert span.resource["acme.owner"] == "platform@acme.example"
        assert span.resource["service.version"]
    assert SECRET not in stack.collector.output.read_text(encoding="utf-8"), (
        "a redacted value reached the collector"
    )
    assert not any(
        "authorization" in k or "cookie" in k for s in traces[trace_id] for k in s.attributes
    )

    # A request without traceparent starts its trace in Go and still reaches Rust.
    roots = [
        t
        for t, ss in by_trace(stack.spans()).items()
        if t != trace_id and any(s.service == RUST_NAME for s in ss)
    ]
    assert roots, "the root request's trace did not reach the Rust service"
    # Both services' logs carry the trace id of the request they served.
    assert _logged_trace_ids(rust_log) >= {trace_id}
    assert log_trace in _logged_trace_ids(go_log)
    stack.figures["shutdown_seconds_collector_up"] = {
        "go": round(go_took, 2),
        "rust": round(rust_took, 2),
    }


def _logged_trace_ids(output: str) -> set[str]:
    ids = set()
    for line in output.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            ids.add(record.get("trace_id") or record.get("fields", {}).get("trace_id") or "")
    return ids - {""}


@pytest.mark.parametrize("off", ["kill-switch", "sdk-disabled"])
def test_one_trace_stays_connected_through_a_service_that_records_nothing(
    stack: Stack, off: str
) -> None:
    """Go -> Rust -> Go, the Rust service in the middle switched off or disabled.

    Off means "record nothing", never "forget the context": the middle service passes the
    caller's traceparent, tracestate and baggage on untouched, so the second Go service
    continues the first one's trace as if the middle were not there.
    """
    downstream = stack.go(OTEL_SERVICE_NAME=GO_DOWNSTREAM_NAME)
    middle_env = {
        "DOWNSTREAM_URL": f"{downstream.base}/hello",
        "TELEMETRY_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    if off == "sdk-disabled":
        middle_env["OTEL_SDK_DISABLED"] = "true"
    middle = stack.rust(**middle_env)
    edge = stack.go(DOWNSTREAM_URL=f"{middle.base}/call")
    processes = (edge, middle, downstream)
    headers = {"tracestate": TRACESTATE, "baggage": f"acme.tenant.id={TENANT}"}
    client = Client(edge.port)
    try:
        if off == "kill-switch":
            assert middle.telemetry()["enabled"] is True
            assert middle.put_telemetry(enabled=False) == (200, middle.telemetry())
            assert middle.telemetry()["enabled"] is False
        else:
            assert middle.telemetry()["enabled"] is False
            assert middle.put_telemetry(enabled=True)[0] == 409

        off_trace, caller, header = traceparent()
        status, body, _ = client.get("/call", {"traceparent": header, **headers})
        assert (status, json.loads(body)) == (200, {"service": GO_NAME, "message": "hello"})

        on_trace = ""
        if off == "kill-switch":
            # Switched on again: the same process records the next request.
            assert middle.put_telemetry(enabled=True)[1]["enabled"] is True
            on_trace, _, header = traceparent()
            assert client.get("/call", {"traceparent": header, **headers})[0] == 200
    finally:
        client.close()
        outputs = {p.process: p.stop()[1] for p in processes}

    want = {off_trace: 3} | ({on_trace: 5} if on_trace else {})
    traces = stack.wait_for_traces(set(want), want)
    spans = {(s.service, s.kind): s for s in traces[off_trace]}
    assert set(spans) == {(GO_NAME, SERVER), (GO_NAME, CLIENT), (GO_DOWNSTREAM_NAME, SERVER)}, [
        (s.service, s.name, s.process) for s in traces[off_trace]
    ]
    edge_server, edge_client = spans[(GO_NAME, SERVER)], spans[(GO_NAME, CLIENT)]
    downstream_server = spans[(GO_DOWNSTREAM_NAME, SERVER)]
    # One trace from the caller to the second Go service: its server span is the child of the
    # first one's client span, because the middle passed the traceparent on unchanged.
    assert edge_server.parent == caller
    assert edge_client.parent == edge_server.span_id
    assert downstream_server.parent == edge_client.span_id
    assert (edge_server.process, downstream_server.process) == (edge.process, downstream.process)
    # The tracestate and the baggage crossed the middle too.
    assert downstream_server.trace_state == edge_server.trace_state == TRACESTATE
    assert downstream_server.attributes["acme.tenant.id"] == TENANT

    # The middle exported nothing of the request it passed on.
    middle_spans = [s for s in stack.spans() if s.process == middle.process]
    assert not [s for s in middle_spans if s.trace_id == off_trace]
    assert not [r for r in stack.log_records(middle.process) if r.get("traceId") == off_trace]

    figures = stack.figures.setdefault("context_through_a_service_off", {})
    if off == "sdk-disabled":
        # Disabled from the start, it exported nothing at all, in any signal.
        assert stack.exported_by(middle.process) == []
        # (Not vacuous: the other processes' exports do carry their PROCESS_KEY.)
        assert stack.exported_by(edge.process) and stack.exported_by(downstream.process)
        figures[off] = {"trace_spans": len(traces[off_trace]), "middle_exports": 0}
        return

    # Switched on again without a restart, the middle's spans are back in the trace, between
    # the two Go services.
    back = {(s.service, s.kind): s for s in traces[on_trace]}
    assert set(back) == {
        (GO_NAME, SERVER),
        (GO_NAME, CLIENT),
        (RUST_NAME, SERVER),
        (RUST_NAME, CLIENT),
        (GO_DOWNSTREAM_NAME, SERVER),
    }, [(s.service, s.name) for s in traces[on_trace]]
    assert back[(RUST_NAME, SERVER)].parent == back[(GO_NAME, CLIENT)].span_id
    assert back[(RUST_NAME, CLIENT)].parent == back[(RUST_NAME, SERVER)].span_id
    assert back[(GO_DOWNSTREAM_NAME, SERVER)].parent == back[(RUST_NAME, CLIENT)].span_id
    assert back[(RUST_NAME, SERVER)].process == middle.process
    assert back[(RUST_NAME, SERVER)].attributes["acme.tenant.id"] == TENANT
    assert {s.trace_id for s in middle_spans} == {on_trace}
    # Its request metrics counted only the request it served while on.
    assert stack.measured_requests(middle.process) == {
        "http.server.request.duration": 1,
        "http.client.request.duration": 1,
    }
    # Each flip is logged with its source.
    flips = [
        line
        for line in outputs[middle.process].splitlines()
        if '"WARN"' in line and '"source":"admin"' in line
    ]
    assert len(flips) == 2, outputs[middle.process]
    figures[off] = {
        "trace_spans_while_off": len(traces[off_trace]),
        "trace_spans_after_switching_on": len(traces[on_trace]),
    }


ENVIRONMENT_REQUESTS = 400


def test_sampling_ratio_is_chosen_where_the_service_runs(stack: Stack) -> None:
    """One build per language, started in three environments: each samples its own ratio.

    `deployment.environment.name` comes from OTEL_RESOURCE_ATTRIBUTES at start-up; `qa` is not
    in the policy's table, so it gets the policy's ratio for any other environment. The Go
    service roots its traces and calls the Rust one, which follows the Go decision, so every
    trace is whole or absent; the Rust service roots traces of its own too. The shares are
    read back from the collector.
    """
    ratios = {"dev": RATIOS["dev"], "prod": RATIOS["prod"], "qa": OTHER_RATIO}
    started: dict[str, tuple[Service, Service]] = {}
    senders: dict[tuple[str, str], Roots] = {}
    try:
        for env in ratios:
            where = {"OTEL_RESOURCE_ATTRIBUTES": f"deployment.environment.name={env}"}
            rust = stack.rust(**where)
            go = stack.go(DOWNSTREAM_URL=f"{rust.base}/hello", **where)
            started[env] = (go, rust)
            senders[(env, "go")] = Roots(go, "/call")
            senders[(env, "rust")] = Roots(rust, "/hello")
        for env, (go, rust) in started.items():
            assert go.telemetry()["sampling_ratio"] == ratios[env]
            assert rust.telemetry()["sampling_ratio"] == ratios[env]
        # At most 100 roots a second per process: the policy's rate limit never bites.
        for _ in paced(ENVIRONMENT_REQUESTS, 0.01):
            for sender in senders.values():
                sender.send()
    finally:
        for sender in senders.values():
            sender.close()
        for processes in started.values():
            for process in processes:
                process.stop()
    stack.settle()

    spans = stack.spans()
    traces = by_trace(spans)
    shares: dict[str, dict[str, float]] = {}
    partial = 0
    for env, (go, rust) in started.items():
        for span in spans:
            if span.process in (go.process, rust.process):
                assert span.resource["deployment.environment.name"] == env
        # Every trace the Go process took part in is whole: its server and client span and
        # the Rust server span under them.
        go_traces = [ss for ss in traces.values() if any(s.process == go.process for s in ss)]
        whole = [
            ss
            for ss in go_traces
            if sorted((s.process, s.kind) for s in ss)
            == sorted([(go.process, SERVER), (go.process, CLIENT), (rust.process, SERVER)])
        ]
        orphans = [
            s
            for s in spans
            if s.process == rust.process
            and s.parent
            and not any(o.process == go.process for o in traces[s.trace_id])
        ]
        partial += len(go_traces) - len(whole) + len(orphans)
        go_sampled = sum(senders[(env, "go")].sampled(spans))
        rust_sampled = sum(senders[(env, "rust")].sampled(spans))
        assert go_sampled == len(whole)
        shares[env] = {
            "go": round(go_sampled / ENVIRONMENT_REQUESTS, 3),
            "rust": round(rust_sampled / ENVIRONMENT_REQUESTS, 3),
        }
        for language, sampled in (("go", go_sampled), ("rust", rust_sampled)):
            assert within(ENVIRONMENT_REQUESTS, ratios[env], sampled), (
                f"{language} in {env}: {sampled} of {ENVIRONMENT_REQUESTS} roots sampled, "
                f"ratio {ratios[env]}"
            )
    stack.figures["sampling_by_environment"] = {
        "measured_from": "root server spans in the collector's output",
        "roots_per_service": ENVIRONMENT_REQUESTS,
        "ratio": ratios,
        "sampled_share": shares,
        "partial_traces": partial,
    }
    assert partial == 0, f"{partial} traces were sampled in one service but not the other"


# Remote sampling: the agent re-reads its strategies file every second, the services poll it
# every half second. The served rate goes from 0.5 to 1.0: a rate the services reach only
# through the agent (their own ratio is 0.25), and one whose arrival shows to the request (from
# it on, every root is sampled).
AGENT_RELOAD_MS, REMOTE_POLL_MS = 1000, 500
SERVED_BEFORE, SERVED_AFTER = 0.5, 1.0
REMOTE_INTERVAL_S = 0.02
# How long the new rate may take to arrive: the agent's reload, the services' poll, and slack
# for a loaded machine.
REMOTE_CHANGE_S = (AGENT_RELOAD_MS + REMOTE_POLL_MS) / 1000 + 2
REMOTE_FALLBACK_S = REMOTE_POLL_MS / 1000 + 2


def _serve(strategies: Path, policy: Policy, rate: float) -> int:
    """Write the strategies file: the policy's default, and `rate` for both services.

    The new file replaces the old one by a rename, as a ConfigMap update does. Returns when
    (wall clock, ns).
    """
    document = json.loads(render_sampling_strategies(policy, "dev"))
    document["service_strategies"] = [
        {"service": name, "type": "probabilistic", "param": rate} for name in (GO_NAME, RUST_NAME)
    ]
    staged = strategies.with_name(f".{strategies.name}.new")
    staged.write_text(json.dumps(document, indent=2), encoding="utf-8")
    staged.replace(strategies)
    return time.time_ns()


def _share(sampled: list[bool]) -> dict[str, Any]:
    return {
        "roots": len(sampled),
        "sampled": sum(sampled),
        "share": round(sum(sampled) / len(sampled), 3),
    }


@pytest.fixture(scope="module")
def remote_sampling(stack: Stack) -> dict[str, dict[str, Any]]:
    """One Go and one Rust service sampling by the strategies of an agent collector.

    Root requests go to both, one each every 20 ms, through four phases: the first strategy
    served; the file edited; the agent stopped; the services falling back. Which requests
    were sampled is read back from the collector. Returns the figures of each language.
    """
    workdir = stack.workdir / "agent"
    workdir.mkdir()
    raw = copy.deepcopy(dict(stack.policy.raw))
    raw["sampling"]["remote"] |= {"reload_interval_ms": AGENT_RELOAD_MS}
    policy = Policy(raw=raw, path=stack.policy.path)
    strategies = workdir / "strategies.json"
    _serve(strategies, policy, SERVED_BEFORE)
    agent = Collector.agent(stack.otelcol, policy, workdir, strategies)
    remote = {
        "OTEL_TRACES_SAMPLER": "parentbased_jaeger_remote",
        "OTEL_TRACES_SAMPLER_ARG": f"endpoint={agent.sampling_url},pollingIntervalMs={REMOTE_POLL_MS}",
    }
    services: dict[str, Service] = {}
    roots: dict[str, Roots] = {}
    marks: dict[str, tuple[int, int]] = {}  # phase -> (first request, wall clock ns)

    def mark(phase: str, at: int | None = None) -> None:
        marks[phase] = (len(next(iter(roots.values())).windows), at or time.time_ns())

    def send(count: int) -> None:
        for _ in paced(count, REMOTE_INTERVAL_S):
            for sender in roots.values():
                sender.send()

    def send_for(seconds: float) -> None:
        send(round(seconds / REMOTE_INTERVAL_S))

    try:
        for language, start in (("go", stack.go), ("rust", stack.rust)):
            services[language] = start(**remote)
            roots[language] = Roots(services[language])
        time.sleep(3 * REMOTE_POLL_MS / 1000)  # the first strategy is in force
        mark("before")
        send(300)
        mark("edit", _serve(strategies, policy, SERVED_AFTER))
        send_for(REMOTE_CHANGE_S)
        mark("after")
        send(150)
        agent.stop()
        mark("agent stopped")
        send_for(REMOTE_FALLBACK_S)
        mark("fallback")
        send(300)
        mark("end")
        running = {language: s.proc.poll() is None for language, s in services.items()}
    finally:
        agent.stop()
        for sender in roots.values():
            sender.close()
        for service in services.values():
            service.stop()
    stack.settle()

    spans = stack.spans()
    first = {phase: index for phase, (index, _) in marks.items()}
    edited, stopped = marks["edit"][1], marks["agent stopped"][1]
    results: dict[str, dict[str, Any]] = {}
    for language, sender in roots.items():
        sampled = sender.sampled(spans)
        # The new rate applied with the first request of the run of sampled ones that lasts
        # until the agent stopped, if that run covers the whole phase after the change; the
        # fallback with the first request not sampled after the agent stopped.
        changed = first["agent stopped"]
        while changed > first["edit"] and sampled[changed - 1]:
            changed -= 1
        fell_back = next(
            (i for i in range(first["agent stopped"], len(sampled)) if not sampled[i]), None
        )
        results[language] = {
            "before": _share(sampled[first["before"] : first["edit"]]),
            "after": _share(sampled[first["after"] : first["agent stopped"]]),
            "fallback": _share(sampled[first["fallback"] : first["end"]]),
            "new_rate_after_seconds": (
                None
                if changed > first["after"]
                else round((sender.windows[changed][0] - edited) / 1e9, 2)
            ),
            "fallback_after_seconds": (
                None
                if fell_back is None
                else round((sender.windows[fell_back][0] - stopped) / 1e9, 2)
            ),
            "same_process": running[language],
        }
    stack.figures["remote_sampling"] = {
        "measured_from": "root server spans in the collector's output, matched to each request",
        "agent_reload_interval_ms": AGENT_RELOAD_MS,
        "poll_interval_ms": REMOTE_POLL_MS,
        "request_interval_ms": int(REMOTE_INTERVAL_S * 1000),
        "served": {"before": SERVED_BEFORE, "after": SERVED_AFTER},
        "policy_ratio": RATIOS["dev"],
        **results,
    }
    return results


# Both Rust failures have one cure in the template: poll the agent itself, as the Go template
# does, reading the answer whatever its `strategyType`, and sample by the policy's root sampler
# whenever the last poll failed.
@pytest.mark.parametrize("language", ["go", "rust"])
def test_remote_sampling_changes_the_rate_without_a_restart(
    remote_sampling: dict[str, dict[str, Any]], language: str
) -> None:
    run = remote_sampling[language]
    before = run["before"]
    assert within(before["roots"], SERVED_BEFORE, before["sampled"]), run
    assert run["after"]["share"] == SERVED_AFTER, run
    assert run["new_rate_after_seconds"] is not None, run
    assert run["new_rate_after_seconds"] <= REMOTE_CHANGE_S, run
    assert run["same_process"], run


@pytest.mark.parametrize("language", ["go", "rust"])
def test_remote_sampling_falls_back_to_the_policy_ratio_without_the_agent(
    remote_sampling: dict[str, dict[str, Any]], language: str
) -> None:
    run = remote_sampling[language]
    # Only a service that followed the agent can show that it stopped following it.
    assert run["after"]["share"] == SERVED_AFTER, run
    fallback = run["fallback"]
    assert within(fallback["roots"], RATIOS["dev"], fallback["sampled"]), run
    assert run["fallback_after_seconds"] is not None, run
    assert run["fallback_after_seconds"] <= REMOTE_FALLBACK_S, run


def _latencies(port: int, count: int) -> list[float]:
    client = Client(port)
    try:
        times = []
        for _ in range(count):
            status, _, took = client.get("/call")
            assert status == 200
            times.append(took)
        return times
    finally:
        client.close()


def _p99(times: list[float]) -> float:
    return statistics.quantiles(times, n=100)[98]


def test_services_do_not_suffer_when_the_collector_is_gone(stack: Stack) -> None:
    go, rust = stack.start(OTEL_TRACES_SAMPLER="parentbased_always_on")
    try:
        _latencies(go.port, 300)  # warm up both services and their connection pools
        up = _latencies(go.port, 3000)
        stack.collector.stop()
        down = _latencies(go.port, 3000)
        p99_up, p99_down = _p99(up), _p99(down)

        # Sustained load with nowhere to export: memory must stay bounded by the queues.
        rss_before = {"go": go.rss_kib(), "rust": rust.rss_kib()}
        with ThreadPoolExecutor(4) as pool:
            sent = sum(
                len(batch) for batch in pool.map(lambda _: _latencies(go.port, 5000), range(4))
            )
        rss_after = {"go": go.rss_kib(), "rust": rust.rss_kib()}

        # The collector comes back: new spans flow again without a restart of the services.
        # Spans made while the queues were full were dropped, and the exporters reconnect on
        # their own schedule, so send a fresh traced request every second until one arrives.
        stack.collector.start()
        back = time.monotonic()
        recovered_after = None
        client = Client(go.port)
        sent_ids: set[str] = set()
        while recovered_after is None and time.monotonic() - back < 180:
            trace_id, _, header = traceparent()
            assert client.get("/call", {"traceparent": header})[0] == 200
            sent_ids.add(trace_id)
            traces = by_trace(stack.spans())
            if any(len(traces.get(t, [])) == 3 for t in sent_ids):
                recovered_after = time.monotonic() - back
            time.sleep(1)
        client.close()
        assert recovered_after is not None, (
            "spans did not flow again within 3 minutes of the collector's return"
        )

        # Shutdown with the collector gone again still ends within the policy deadline.
        stack.collector.stop()
        _latencies(go.port, 200)
    finally:
        go_took, _ = go.stop()
        rust_took, _ = rust.stop()
        stack.collector.start()

    growth = {name: (rss_after[name] - rss_before[name]) / 1024 for name in rss_before}
    stack.figures["resilience"] = {
        "p99_ms_collector_up": round(p99_up * 1000, 3),
        "p99_ms_collector_down": round(p99_down * 1000, 3),
        "p99_ratio": round(p99_down / p99_up, 3),
        "requests_under_sustained_load": sent,
        "rss_mib_before": {k: round(v / 1024, 1) for k, v in rss_before.items()},
        "rss_growth_mib": {k: round(v, 1) for k, v in growth.items()},
        "shutdown_seconds_collector_down": {"go": round(go_took, 2), "rust": round(rust_took, 2)},
        "spans_flow_again_after_seconds": round(recovered_after, 1),
    }
    assert p99_down <= 1.2 * p99_up, (
        f"p99 {p99_down * 1000:.2f} ms with the collector down vs {p99_up * 1000:.2f} ms up"
    )
    assert sent >= 20_000
    for name, mib in growth.items():
        assert mib < 64, (
            f"{name} grew by {mib:.1f} MiB over {sent} requests with the collector down"
        )
    assert go_took <= SHUTDOWN_DEADLINE_S + 1.5, f"Go took {go_took:.1f}s to shut down"
    assert rust_took <= SHUTDOWN_DEADLINE_S + 1.5, f"Rust took {rust_took:.1f}s to shut down"
