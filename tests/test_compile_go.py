"""Render + compile tier for Go: the real toolchain on rendered services, and the built binary.

Besides `gofmt`, `go vet` and the generated service's own tests for several answer sets, the
tests here start the real binary of a service with every boundary: its demo routes, the admin
listener, the flags file, context that flows while telemetry is off, and settings that degrade
to a warning instead of stopping the service. A service rendered from a policy with distinct
ratios per environment proves that sampling is decided where the service runs; its measured
figures go to build/go-sampling-figures.json.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from scaffold.questions import BOUNDARIES

from .conftest import ROOT, render, require_tool, run
from .toolchains import GO_ENV, Server, assert_runtime_contract, free_port, go_checks

pytestmark = pytest.mark.compile

COMBINATIONS: dict[str, dict[str, Any]] = {
    "http-only": {"boundaries": ["http_client"]},
    "server-only-http-protobuf": {
        "boundaries": [],
        "exporter_protocol": "http/protobuf",
        "environment": "prod",
    },
    "all-boundaries": {
        "boundaries": list(BOUNDARIES),
        "environment": "prod",
        "sampling_ratio": "0.25",
    },
}

ADMIN_TOKEN = "t0ken-" + "x" * 16
FIGURES = ROOT / "build" / "go-sampling-figures.json"


@pytest.fixture(autouse=True)
def _go() -> None:
    require_tool("go", "gofmt")


@pytest.mark.parametrize("combo", COMBINATIONS, ids=list(COMBINATIONS))
def test_go_service_builds_vets_and_passes_its_tests(tmp_path: Path, combo: str) -> None:
    dest = tmp_path / "svc"
    render(dest, service_name="payments-api", language="go", **COMBINATIONS[combo])
    go_checks(dest)


def test_default_go_service_runs_and_benchmarks(tmp_path: Path) -> None:
    dest = tmp_path / "svc"
    render(dest, service_name="payments-api", language="go")
    binary = tmp_path / "payments-api"
    run(["go", "build", "-o", str(binary), "./cmd/payments-api"], dest, GO_ENV)
    # No collector listens: the service must serve and stop promptly anyway.
    assert_runtime_contract(binary, "payments-api", shutdown_deadline_s=5.0)

    out = run(
        [
            "go",
            "test",
            "-run",
            "^$",
            "-bench",
            ".",
            "-benchtime",
            "200x",
            "-benchmem",
            "./internal/telemetry",
        ],
        dest,
        GO_ENV,
    )
    names = set(re.findall(r"^BenchmarkMiddleware/(\S+?)(?:-\d+)?\s", out, flags=re.M))
    assert len(names) >= 5, out
    assert any("bare" in n.lower() for n in names), names


# --------------------------------------------------------------------------------------------
# The built binary of a service with every boundary


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The service with every boundary, built once for the tests that start it."""
    require_tool("go", "gofmt")
    dest = tmp_path_factory.mktemp("demo") / "svc"
    render(dest, service_name="demo-go", language="go", boundaries=list(BOUNDARIES))
    binary = dest.parent / "demo-go"
    run(["go", "build", "-o", str(binary), "./cmd/demo-go"], dest, GO_ENV)
    return binary


def start(binary: Path, env: dict[str, str] | None = None, port: int | None = None) -> Server:
    """The binary on loopback ports, with no collector and, unless env says so, no admin."""
    defaults = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
        "TELEMETRY_ADMIN_ADDR": "off",
        "GRPC_PORT": str(free_port()),
    }
    return Server(binary, {**defaults, **(env or {})}, port=port)


def request(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, str, dict[str, str]]:
    """Status, body and headers of a request, also when the status is an error."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as response:
            return int(response.status), response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode(), dict(exc.headers)


def records(output: str) -> list[dict[str, Any]]:
    """The JSON log records in a service's output."""
    found = []
    for line in output.splitlines():
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return found


def warnings(output: str, about: str) -> list[dict[str, Any]]:
    """The warnings about a telemetry setting that mention about."""
    return [
        r
        for r in records(output)
        if r.get("level") == "WARN" and r["msg"].startswith("telemetry:") and about in json.dumps(r)
    ]


def test_demo_routes(demo: Path) -> None:
    port, grpc_port = free_port(), free_port()
    server = start(
        demo,
        {
            "GRPC_PORT": str(grpc_port),
            "DOWNSTREAM_URL": f"http://127.0.0.1:{port}/hello",
            "GRPC_TARGET": f"127.0.0.1:{grpc_port}",
            "LOG_LEVEL": "debug",
        },
        port=port,
    )
    base = server.base
    try:
        hello = {"service": "demo-go", "message": "hello"}
        expectations: list[tuple[str, str, int, Any]] = [
            ("GET", "/hello", 200, hello),
            ("GET", "/fail", 500, {"error": "simulated failure"}),
            ("GET", "/healthz", 200, "ok"),
            ("GET", "/nowhere", 404, None),
            ("POST", "/hello", 405, None),
            ("GET", "/call", 200, hello),
            ("GET", "/grpc/hello?name=ada", 200, {"message": "hello, ada"}),
            ("GET", "/grpc/hello?name=fail", 502, {"error": "gRPC call failed"}),
            ("GET", "/grpc/health", 200, {"status": "SERVING"}),
            ("GET", "/db/query", 200, {"id": 1, "name": "anvil"}),
            ("GET", "/db/query?id=99", 404, {"error": "no such item"}),
            ("POST", "/messages", 202, None),
        ]
        for method, path, want_status, want_body in expectations:
            body = b"an order" if method == "POST" and path == "/messages" else None
            status, text, _ = request(method, base + path, body)
            assert status == want_status, (method, path, text)
            if isinstance(want_body, dict):
                assert json.loads(text) == want_body, (method, path)
            elif want_body is not None:
                assert text == want_body, (method, path)
        time.sleep(0.2)
    finally:
        _, output = server.stop()
    logs = records(output)
    in_spans = {
        (r["level"], r["msg"])
        for r in logs
        if re.fullmatch(r"[0-9a-f]{32}", str(r.get("trace_id")))
    }
    for expected in [
        ("DEBUG", "hello requested"),
        ("INFO", "saying hello"),
        ("WARN", "about to fail"),
        ("ERROR", "simulated failure"),
        ("INFO", "message processed"),
    ]:
        assert expected in in_spans, (expected, output)


@pytest.mark.parametrize(
    ("env", "about"),
    [
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "OTLP protocol"),
        ({"OTEL_PROPAGATORS": "tracecontext,nonesuch,baggage"}, "propagator"),
        ({"OTEL_TRACES_SAMPLER": "nonesuch"}, "OTEL_TRACES_SAMPLER"),
        ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"}, "SAMPLER_ARG"),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "exporter"),
        ({"OTEL_SDK_DISABLED": "yes"}, "OTEL_SDK_DISABLED"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "a=%zz,b"}, "OTEL_RESOURCE_ATTRIBUTES"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://127.0.0.1:9"}, None),
        ({"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"}, None),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, None),
    ],
    ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else str(v),
)
def test_a_bad_setting_warns_once_and_the_service_serves(
    demo: Path, env: dict[str, str], about: str | None
) -> None:
    server = start(demo, env)
    try:
        status, body, _ = request("GET", f"{server.base}/hello")
        assert status == 200, body
    finally:
        _, output = server.stop()
    found = warnings(output, about) if about else []
    assert len(found) == (1 if about else 0), output
    assert not [r for r in records(output) if r.get("level") == "ERROR"], output


def test_an_unreachable_collector_is_reported_once_not_on_every_export(demo: Path) -> None:
    # Exports every 100-200 ms, each failing within its 200 ms timeout: dozens of failures.
    server = start(
        demo,
        {
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_BLRP_SCHEDULE_DELAY": "100",
            "OTEL_METRIC_EXPORT_INTERVAL": "200",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "200",
        },
    )
    try:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            assert request("GET", f"{server.base}/hello")[0] == 200
            time.sleep(0.05)
        running = server.output()
    finally:
        server.stop()
    failures = [r for r in records(running) if r.get("msg") == "opentelemetry"]
    # One line per signal at most (traces, metrics, logs), whatever the number of exports.
    assert 1 <= len(failures) <= 3, running


def test_console_exporter_prints_spans_soon_after_they_end(demo: Path) -> None:
    # OTEL_BSP_SCHEDULE_DELAY wins over the policy's batch delay of seconds.
    server = start(
        demo,
        {
            "OTEL_TRACES_EXPORTER": "console",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        },
    )
    try:
        assert request("GET", f"{server.base}/hello")[0] == 200
        deadline = time.monotonic() + 2
        while '"Name": "GET /hello"' not in server.output() and time.monotonic() < deadline:
            time.sleep(0.05)
        printed = '"Name": "GET /hello"' in server.output()
    finally:
        _, output = server.stop()
    assert printed, output


def test_admin_listener(demo: Path) -> None:
    admin = f"127.0.0.1:{free_port()}"
    server = start(demo, {"TELEMETRY_ADMIN_ADDR": admin, "TELEMETRY_ADMIN_TOKEN": ADMIN_TOKEN})
    url = f"http://{admin}/admin/telemetry"
    json_body = {"Content-Type": "application/json"}
    bearer = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    try:
        status, body, _ = request("GET", url)
        assert status == 200 and json.loads(body)["enabled"] is True
        assert request("GET", f"{server.base}/admin/telemetry")[0] == 404
        assert request("PUT", f"{server.base}/admin/telemetry", b"{}", json_body)[0] in (404, 405)

        off = b'{"enabled": false}'
        assert request("PUT", url, off, json_body)[0] == 401
        assert request("PUT", url, off, {**json_body, "Authorization": "Bearer nope"})[0] == 401
        assert request("PUT", url, b"off", {**bearer, "Content-Type": "text/plain"})[0] == 415
        assert request("PUT", url, b'{"enabled": fals', {**bearer, **json_body})[0] == 400
        status, _, headers = request("POST", url, off, {**bearer, **json_body})
        assert status == 405 and headers.get("Allow") == "GET, PUT"
        assert json.loads(request("GET", url)[1])["enabled"] is True

        status, body, _ = request("PUT", url, off, {**bearer, **json_body})
        assert status == 200 and json.loads(body)["enabled"] is False, body
        status, body, _ = request("PUT", url, b'{"sampling_ratio": 0.05}', {**bearer, **json_body})
        assert json.loads(body) | {"sampler": ""} == {
            "enabled": False,
            "sampling_ratio": 0.05,
            "sampler": "",
        }
    finally:
        _, output = server.stop()
    changes = [r for r in records(output) if r.get("msg") == "telemetry settings changed"]
    assert [
        (c["level"], c["source"], c.get("enabled"), c.get("sampling_ratio")) for c in changes
    ] == [
        ("WARN", "admin", False, None),
        ("WARN", "admin", None, 0.05),
    ], output
    assert all(c["remote"].startswith("127.0.0.1:") for c in changes), changes
    assert ADMIN_TOKEN not in output


def test_flags_file_changes_a_running_service(demo: Path, tmp_path: Path) -> None:
    flags = tmp_path / "flags.json"
    flags.write_text('{"enabled": false}', encoding="utf-8")
    admin = f"127.0.0.1:{free_port()}"
    server = start(demo, {"TELEMETRY_ADMIN_ADDR": admin, "TELEMETRY_FLAGS_FILE": str(flags)})

    def state() -> dict[str, Any]:
        reported: dict[str, Any] = json.loads(request("GET", f"http://{admin}/admin/telemetry")[1])
        return reported

    try:
        assert state()["enabled"] is False
        flags.with_suffix(".tmp").write_text(
            '{"enabled": true, "sampling_ratio": 0.5}', encoding="utf-8"
        )
        flags.with_suffix(".tmp").replace(flags)
        deadline = time.monotonic() + 10
        while (now := state())["enabled"] is not True or now["sampling_ratio"] != 0.5:
            assert time.monotonic() < deadline, now
            time.sleep(0.2)
    finally:
        _, output = server.stop()
    sources = {
        r.get("source") for r in records(output) if r.get("msg") == "telemetry settings changed"
    }
    assert sources == {"file"}, output


class _Capture(BaseHTTPRequestHandler):
    """Records the trace context headers of the requests it answers."""

    seen: ClassVar[list[dict[str, str | None]]] = []

    def do_GET(self) -> None:
        type(self).seen.append(
            {k: self.headers.get(k) for k in ("traceparent", "tracestate", "baggage")}
        )
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def capture() -> Iterator[tuple[str, list[dict[str, str | None]]]]:
    """An HTTP server on loopback that records the trace context of what it receives."""
    _Capture.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/", _Capture.seen
    httpd.shutdown()


@pytest.mark.parametrize("mode", ["OTEL_SDK_DISABLED", "kill switch off", "dropping sampler"])
def test_trace_context_crosses_a_service_that_records_nothing(
    demo: Path, capture: tuple[str, list[dict[str, str | None]]], mode: str
) -> None:
    url, seen = capture
    admin = f"127.0.0.1:{free_port()}"
    env = {
        "DOWNSTREAM_URL": url,
        "TELEMETRY_ADMIN_ADDR": admin,
        "TELEMETRY_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    if mode == "OTEL_SDK_DISABLED":
        env["OTEL_SDK_DISABLED"] = "true"
    if mode == "dropping sampler":
        env["OTEL_TRACES_SAMPLER"] = "always_off"
    server = start(demo, env)
    incoming = {
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "tracestate": "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
        "baggage": "acme.tenant.id=t-42",
    }
    try:
        if mode == "kill switch off":
            status, body, _ = request(
                "PUT",
                f"http://{admin}/admin/telemetry",
                b'{"enabled": false}',
                {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"},
            )
            assert status == 200, body
        assert request("GET", f"{server.base}/call", headers=incoming)[0] == 200
    finally:
        server.stop()
    assert len(seen) == 1
    out = seen[0]
    assert out["tracestate"] == incoming["tracestate"] and out["baggage"] == incoming["baggage"]
    if mode == "dropping sampler":
        version, trace_id, parent, flags = str(out["traceparent"]).split("-")
        assert (version, trace_id, flags) == ("00", "4bf92f3577b34da6a3ce929d0e0e4736", "00")
        assert parent != "00f067aa0ba902b7"
    else:
        assert out["traceparent"] == incoming["traceparent"]


# --------------------------------------------------------------------------------------------
# Sampling decided where the service runs, with a policy of distinct ratios

DISTINCT_RATIOS = {"dev": 1.0, "staging": 0.5, "prod": 0.05}
DEFAULT_RATIO = 0.2


def test_sampling_follows_the_environment_the_service_runs_in(tmp_path: Path) -> None:
    template = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", template)
    raw = yaml.safe_load((template / "policy.yml").read_text(encoding="utf-8"))
    raw["environments"] = ["dev", "staging", "prod", "qa"]
    raw["sampling"] |= {"ratio": DEFAULT_RATIO, "min_ratio": 0.01, "environments": DISTINCT_RATIOS}
    # Remote sampling on, from an agent that is not there: the table's ratios are the fallback.
    raw["sampling"]["remote"] |= {
        "enabled": True,
        "endpoint": "http://127.0.0.1:9/sampling",
        "poll_interval_ms": 100,
        "reload_interval_ms": 10000,
    }
    (template / "policy.yml").write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    dest = tmp_path / "svc"
    render(dest, template=str(template), service_name="sampled-go", language="go")

    out = run(
        [
            "go",
            "test",
            "-count=1",
            "-v",
            "-run",
            "TestSamplingRatioFollowsTheEnvironment|TestRemoteSampling$|TestPolicySamplerDescription",
            "./internal/telemetry",
        ],
        dest,
        GO_ENV,
    )
    measured = {
        env: (float(share), float(ratio))
        for env, share, ratio in re.findall(
            r"environment (\S+): sampled ([\d.]+) of \d+ roots, ratio ([\d.]+)", out
        )
    }
    want = DISTINCT_RATIOS | {"qa": DEFAULT_RATIO, "elsewhere": DEFAULT_RATIO}
    assert {env: ratio for env, (_, ratio) in measured.items()} == want, out
    for env, (share, ratio) in measured.items():
        assert abs(share - ratio) < 0.02, (env, share, ratio)
    followed = re.search(r"rate 0\.5 -> 0\.1 followed after (\S+) without a restart", out)
    assert followed, out

    # The built binary picks its ratio when it starts, from where it runs.
    binary = tmp_path / "sampled-go"
    run(["go", "build", "-o", str(binary), "./cmd/sampled-go"], dest, GO_ENV)
    started: dict[str, float] = {}
    for env in ["prod", "qa"]:
        admin = f"127.0.0.1:{free_port()}"
        server = start(
            binary,
            {
                "TELEMETRY_ADMIN_ADDR": admin,
                "OTEL_RESOURCE_ATTRIBUTES": f"deployment.environment.name={env}",
            },
        )
        try:
            started[env] = json.loads(request("GET", f"http://{admin}/admin/telemetry")[1])[
                "sampling_ratio"
            ]
        finally:
            server.stop()
    assert started == {"prod": DISTINCT_RATIOS["prod"], "qa": DEFAULT_RATIO}

    FIGURES.parent.mkdir(exist_ok=True)
    FIGURES.write_text(
        json.dumps(
            {
                "sampled_share": {env: share for env, (share, _) in measured.items()},
                "ratio": want,
                "remote_sampling": {"from": 0.5, "to": 0.1, "followed_after": followed.group(1)},
                "binary_start_ratio": started,
            },
            indent=2,
        ),
        encoding="utf-8",
    )


# --------------------------------------------------------------------------------------------
# The OpenFeature adapter of the generated README, against the real go-sdk


OPENFEATURE_TEST = """package main

import (
	"context"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/memprovider"

	"github.com/acme/flagged-go/internal/telemetry"
)

func TestFeatureFlagsFeedTheTelemetrySettings(t *testing.T) {
	t.Setenv("TELEMETRY_ADMIN_ADDR", "off")
	provider := memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		"telemetry-enabled": {
			Key: "telemetry-enabled", State: memprovider.Enabled, DefaultVariant: "off",
			Variants: map[string]any{"on": true, "off": false},
		},
		"telemetry-sampling-ratio": {
			Key: "telemetry-sampling-ratio", State: memprovider.Enabled, DefaultVariant: "low",
			Variants: map[string]any{"low": 0.05},
		},
	})
	if err := openfeature.SetProviderAndWait(provider); err != nil {
		t.Fatal(err)
	}
	shutdown, err := telemetry.Setup(context.Background(), telemetry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go telemetry.WatchFlags(ctx, "openfeature", featureFlags{openfeature.NewDefaultClient()})

	deadline := time.Now().Add(5 * time.Second)
	for telemetry.Enabled() || telemetry.SamplingRatio() != 0.05 {
		if time.Now().After(deadline) {
			t.Fatalf("enabled %t, ratio %g: the flags did not apply", telemetry.Enabled(), telemetry.SamplingRatio())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
"""


def test_openfeature_adapter_of_the_readme_works_with_the_go_sdk(tmp_path: Path) -> None:
    dest = tmp_path / "svc"
    render(dest, service_name="flagged-go", language="go")
    readme = (dest / "README.md").read_text(encoding="utf-8")
    adapter = re.search(r"```go\n(package main\n.*?)```", readme, re.S)
    assert adapter, "the README has no OpenFeature adapter"
    command = dest / "cmd" / "flagged-go"
    (command / "openfeature.go").write_text(adapter.group(1), encoding="utf-8")
    (command / "openfeature_test.go").write_text(OPENFEATURE_TEST, encoding="utf-8")
    # The version the README names: the service itself does not depend on the go-sdk.
    version = re.search(r"go get (github\.com/open-feature/go-sdk@v[\d.]+)", readme)
    assert version, readme
    assert "open-feature" not in (dest / "go.mod").read_text(encoding="utf-8")
    writable = {**GO_ENV, "GOFLAGS": ""}
    run(["go", "get", version.group(1)], dest, writable)
    run(["go", "mod", "tidy"], dest, writable)
    run(["go", "vet", "./cmd/flagged-go"], dest, GO_ENV)
    run(["go", "test", "-count=1", "./cmd/flagged-go"], dest, GO_ENV)
