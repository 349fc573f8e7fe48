"""End to end: a generated Go service calls a generated Rust service; a real collector receives both.

Both services are rendered from the bundled templates and policy, built with the real toolchains
and run as processes on loopback ports. They export OTLP/gRPC to a real OpenTelemetry Collector
running the gateway configuration `scaffold collector` renders, with a file exporter added; the
tests read that file back. The measured figures (sampling, latency, memory, shutdown) are
written to build/e2e-figures.json and printed by `make e2e`.
"""

from __future__ import annotations

import copy
import http.client
import json
import math
import secrets
import statistics
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from scaffold.policy import Policy, load_policy

from .conftest import ROOT, render, require_tool, run
from .toolchains import CARGO_ENV, GO_ENV, Collector, Server

pytestmark = [pytest.mark.compile, pytest.mark.e2e]

GO_NAME, RUST_NAME = "checkout", "ledger-e2e"
SAMPLING_RATIO = 0.25
SHUTDOWN_DEADLINE_S = 5.0
FIGURES = ROOT / "build" / "e2e-figures.json"
SECRET = "s3cr3t-" + secrets.token_hex(4)


@dataclass
class Span:
    service: str
    resource: dict[str, Any]
    trace_id: str
    span_id: str
    parent: str
    name: str
    kind: int
    attributes: dict[str, Any]


@dataclass
class Stack:
    """The built binaries, the running collector and where its output goes."""

    go: Path
    rust: Path
    collector: Collector
    figures: dict[str, Any] = field(default_factory=dict)

    def start(self, **go_env: str) -> tuple[Server, Server]:
        common = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{self.collector.grpc_port}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        }
        rust = Server(self.rust, common)
        go = Server(self.go, {**common, "DOWNSTREAM_URL": f"{rust.base}/hello", **go_env})
        return go, rust

    def spans(self) -> list[Span]:
        found: list[Span] = []
        if not self.collector.output.exists():
            return found
        for line in self.collector.output.read_text(encoding="utf-8").splitlines():
            for resource_spans in json.loads(line).get("resourceSpans", []) if line.strip() else []:
                resource = _attributes(resource_spans.get("resource", {}).get("attributes", []))
                for scope in resource_spans.get("scopeSpans", []):
                    for span in scope.get("spans", []):
                        found.append(
                            Span(
                                service=str(resource.get("service.name")),
                                resource=resource,
                                trace_id=span["traceId"],
                                span_id=span["spanId"],
                                parent=span.get("parentSpanId", ""),
                                name=span["name"],
                                kind=int(span.get("kind", 0)),
                                attributes=_attributes(span.get("attributes", [])),
                            )
                        )
        return found

    def wait_for_traces(
        self, trace_ids: set[str], per_trace: int, timeout: float = 60
    ) -> dict[str, list[Span]]:
        """Poll the collector's output until every trace has `per_trace` spans."""
        deadline = time.monotonic() + timeout
        while True:
            traces = by_trace(self.spans())
            if (
                all(len(traces.get(t, [])) >= per_trace for t in trace_ids)
                or time.monotonic() > deadline
            ):
                return traces
            time.sleep(0.5)


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


def traceparent() -> tuple[str, str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, otelcol: Path) -> Iterator[Stack]:
    require_tool("go", "cargo")
    root = tmp_path_factory.mktemp("e2e")
    render(
        root / "go",
        service_name=GO_NAME,
        language="go",
        boundaries=["http_client"],
        sampling_ratio=str(SAMPLING_RATIO),
    )
    render(root / "rust", service_name=RUST_NAME, language="rust", boundaries=[])
    go_binary = root / GO_NAME
    run(["go", "build", "-o", str(go_binary), f"./cmd/{GO_NAME}"], root / "go", GO_ENV)
    run(["cargo", "build", "--bin", RUST_NAME], root / "rust", CARGO_ENV, timeout=2400)
    rust_binary = Path(CARGO_ENV["CARGO_TARGET_DIR"]) / "debug" / RUST_NAME

    # The gateway tier of the bundled policy; only the tail-sampling decision wait is shortened
    # (both services flush within it) and its base rate set to keep every trace, so what the
    # services sample is what the file shows.
    policy = load_policy(ROOT / "templates")
    raw = copy.deepcopy(dict(policy.raw))
    raw["collector"]["tail_sampling"] |= {"decision_wait_ms": 8000, "base_ratio": 1.0}
    collector = Collector.gateway(otelcol, Policy(raw=raw, path=policy.path), root)
    built = Stack(go_binary, rust_binary, collector)
    try:
        yield built
    finally:
        collector.stop()
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


def test_sampling_keeps_whole_traces_at_the_policy_ratio(stack: Stack) -> None:
    before = set(by_trace(stack.spans()))
    go, rust = stack.start()  # no OTEL_TRACES_SAMPLER: the generated default applies
    client = Client(go.port)
    requests = 200
    for _ in range(requests):
        assert client.get("/call")[0] == 200
    client.close()
    go.stop()
    rust.stop()
    time.sleep(10)  # past the gateway's decision wait
    traces = {t: ss for t, ss in by_trace(stack.spans()).items() if t not in before}
    complete = [
        t
        for t, ss in traces.items()
        if {s.service for s in ss} == {GO_NAME, RUST_NAME} and len(ss) == 3
    ]
    partial = set(traces) - set(complete)
    assert not partial, f"{len(partial)} traces were sampled in one service but not the other"
    # A binomial count: four standard deviations either side of the expectation.
    mean = requests * SAMPLING_RATIO
    spread = 4 * math.sqrt(requests * SAMPLING_RATIO * (1 - SAMPLING_RATIO))
    assert mean - spread <= len(complete) <= mean + spread, f"{len(complete)} of {requests} sampled"
    stack.figures["sampling"] = {
        "requests": requests,
        "ratio": SAMPLING_RATIO,
        "sampled": len(complete),
        "partial": len(partial),
    }


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
