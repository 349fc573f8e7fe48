"""Collector configuration of both tiers, then the real collector validating and running it."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from scaffold.cli import cli
from scaffold.collector import (
    DEFAULT_STRATEGIES_FILE,
    CollectorError,
    CollectorOptions,
    Tier,
    collector_config,
    render_collector_config,
    render_sampling_strategies,
    sampling_strategies,
)
from scaffold.errors import ScaffoldError
from scaffold.policy import Policy, load_policy, parse_policy

from .toolchains import BUILD_SCRIPT, Collector, get

ROOT = Path(__file__).resolve().parent.parent

GATEWAYS = ("gateway-0.otel.svc:4317", "gateway-1.otel.svc:4317")
UPSTREAM = "https://otlp.backend.example:4317"
TIERS: tuple[Tier, ...] = ("agent", "gateway")


@pytest.fixture(scope="module")
def policy(templates: Path) -> Policy:
    return load_policy(templates / "policy.yml")


def options_for(tier: Tier, **overrides: Any) -> CollectorOptions:
    """Options that make a complete collector of the tier, plus the overrides."""
    base: dict[str, Any] = {"gateways": GATEWAYS} if tier == "agent" else {"upstream": UPSTREAM}
    return CollectorOptions(**{**base, **overrides})


def config_of(policy: Policy, tier: Tier, **overrides: Any) -> dict[str, Any]:
    """The rendered YAML text, parsed back: what the collector will read."""
    text = render_collector_config(policy, tier, options_for(tier, **overrides))
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict)
    return loaded


def with_policy(policy: Policy, section: str, **values: Any) -> Policy:
    """A copy of the policy with some fields of one section (dotted path) changed."""
    raw = copy.deepcopy(dict(policy.raw))
    node = raw
    for part in section.split("."):
        node = node[part]
    node.update(values)
    return parse_policy(yaml.safe_dump(raw))


def statements(redaction: dict[str, Any], signal: str) -> str:
    """Every OTTL statement of one signal's groups, joined."""
    return " ".join(s for group in redaction[f"{signal}_statements"] for s in group["statements"])


def network_exporters(config: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v for k, v in config["exporters"].items() if k.split("/")[0] not in ("file", "debug")
    }


# -- rendering -----------------------------------------------------------------------------


@pytest.mark.parametrize("tier", TIERS)
def test_memory_limiter_comes_first_in_every_pipeline(policy: Policy, tier: Tier) -> None:
    config = config_of(policy, tier, debug=True, file_output=Path("/tmp/otel.jsonl"))
    pipelines = config["service"]["pipelines"]
    assert set(pipelines) == {"traces", "metrics", "logs"}
    for name, pipeline in pipelines.items():
        assert pipeline["processors"][0] == "memory_limiter", name
        assert pipeline["processors"][-1] == "batch", name
        assert "transform/redaction" in pipeline["processors"], name
        assert pipeline["receivers"] == ["otlp"], name
        assert pipeline["exporters"], name
    limiter = config["processors"]["memory_limiter"]
    assert limiter["limit_mib"] == policy.raw["collector"]["memory_limit_mib"]
    assert limiter["spike_limit_mib"] == policy.raw["collector"]["memory_spike_limit_mib"]


@pytest.mark.parametrize("tier", TIERS)
def test_redaction_covers_the_policy_headers_and_query_params(policy: Policy, tier: Tier) -> None:
    redaction = config_of(policy, tier)["processors"]["transform/redaction"]
    traces = statements(redaction, "trace")
    for header in policy.raw["http"]["redacted_headers"]:
        for signal in ("trace", "metric", "log"):
            assert header.replace("-", "[-_]") in statements(redaction, signal), signal
    for context in ("span", "spanevent"):
        assert f"delete_matching_keys({context}.attributes" in traces
    for param in policy.raw["http"]["redacted_query_params"]:
        assert param in traces
    for attribute in ("url.full", "url.query"):
        assert f'replace_pattern(span.attributes["{attribute}"]' in traces
        assert f'replace_pattern(log.attributes["{attribute}"]' in statements(redaction, "log")


def test_each_redaction_group_stays_in_its_own_context(policy: Policy) -> None:
    """A group mixing span and span-event paths would run only per span event."""
    redaction = config_of(policy, "gateway")["processors"]["transform/redaction"]
    contexts = []
    for signal in ("trace", "metric", "log"):
        for group in redaction[f"{signal}_statements"]:
            contexts.append(group["context"])
            for statement in group["statements"]:
                paths = re.findall(r"\b(span|spanevent|datapoint|log)\.attributes", statement)
                assert paths and set(paths) == {group["context"]}, statement
    assert contexts == ["span", "spanevent", "datapoint", "log"]


def test_redaction_follows_a_changed_policy(policy: Policy) -> None:
    changed = with_policy(
        policy, "http", redacted_headers=["x-secret-thing"], redacted_query_params=["otp"]
    )
    redaction = config_of(changed, "gateway")["processors"]["transform/redaction"]
    traces = statements(redaction, "trace")
    assert "x[-_]secret[-_]thing" in traces
    assert "(otp)=" in traces
    assert "authorization" not in traces

    no_params = with_policy(policy, "http", redacted_query_params=[])
    redaction = config_of(no_params, "gateway")["processors"]["transform/redaction"]
    assert "replace_pattern" not in statements(redaction, "trace")


def test_gateway_tail_sampling_comes_from_the_policy(policy: Policy) -> None:
    config = config_of(policy, "gateway")
    assert config["service"]["pipelines"]["traces"]["processors"] == [
        "memory_limiter",
        "transform/redaction",
        "tail_sampling",
        "batch",
    ]
    sampling = config["processors"]["tail_sampling"]
    settings = policy.raw["collector"]["tail_sampling"]
    assert sampling["decision_wait"] == f"{settings['decision_wait_ms'] // 1000}s"
    by_type = {p["type"]: p for p in sampling["policies"]}
    assert by_type["status_code"]["status_code"] == {"status_codes": ["ERROR"]}
    assert by_type["latency"]["latency"] == {"threshold_ms": settings["slow_threshold_ms"]}
    assert by_type["probabilistic"]["probabilistic"]["sampling_percentage"] == pytest.approx(
        settings["base_ratio"] * 100
    )

    changed = with_policy(
        policy,
        "collector.tail_sampling",
        decision_wait_ms=2500,
        slow_threshold_ms=300,
        base_ratio=0.05,
    )
    sampling = config_of(changed, "gateway")["processors"]["tail_sampling"]
    assert sampling["decision_wait"] == "2500ms"
    by_type = {p["type"]: p for p in sampling["policies"]}
    assert by_type["latency"]["latency"]["threshold_ms"] == 300
    assert by_type["probabilistic"]["probabilistic"]["sampling_percentage"] == pytest.approx(5)


def test_agent_routes_traces_by_trace_id_to_the_gateways(policy: Policy) -> None:
    config = config_of(policy, "agent")
    assert "tail_sampling" not in config["processors"]
    pipelines = config["service"]["pipelines"]
    assert pipelines["traces"]["exporters"] == ["load_balancing"]
    assert pipelines["logs"]["exporters"] == ["load_balancing"]
    assert pipelines["metrics"]["exporters"] == ["load_balancing/metrics"]
    balancer = config["exporters"]["load_balancing"]
    assert balancer["routing_key"] == "traceID"
    assert balancer["resolver"] == {"static": {"hostnames": list(GATEWAYS)}}
    assert balancer["protocol"]["otlp"]["tls"] == {"insecure": True}
    metrics = config["exporters"]["load_balancing/metrics"]
    assert metrics["routing_key"] == "streamID"
    assert metrics["resolver"] == balancer["resolver"]

    tls = config_of(policy, "agent", gateway_tls=True)["exporters"]["load_balancing"]
    assert tls["protocol"]["otlp"]["tls"] == {"insecure": False}


@pytest.mark.parametrize(
    ("upstream", "protocol", "exporter", "endpoint", "insecure"),
    [
        (UPSTREAM, "grpc", "otlp_grpc/upstream", "otlp.backend.example:4317", False),
        ("http://10.0.0.9:4317", "grpc", "otlp_grpc/upstream", "10.0.0.9:4317", True),
        ("https://otlp.example/otlp", "http/protobuf", "otlp_http/upstream", None, False),
    ],
)
def test_gateway_exports_to_the_upstream(
    policy: Policy,
    upstream: str,
    protocol: str,
    exporter: str,
    endpoint: str | None,
    insecure: bool,
) -> None:
    config = config_of(policy, "gateway", upstream=upstream, upstream_protocol=protocol)
    assert list(config["exporters"]) == [exporter]
    settings = config["exporters"][exporter]
    assert settings["endpoint"] == (endpoint or upstream)
    assert settings["tls"] == {"insecure": insecure}
    for pipeline in config["service"]["pipelines"].values():
        assert pipeline["exporters"] == [exporter]


@pytest.mark.parametrize("tier", TIERS)
def test_exporters_queue_on_disk_and_retry_for_a_bounded_time(policy: Policy, tier: Tier) -> None:
    config = config_of(policy, tier)
    settings = policy.raw["collector"]
    exporters = network_exporters(config)
    assert exporters
    for name, exporter in exporters.items():
        queue = exporter["sending_queue"]
        assert queue["enabled"] is True, name
        assert queue["storage"] == "file_storage", name
        assert queue["queue_size"] == settings["queue_size"], name
        retry = exporter["retry_on_failure"]
        assert retry["enabled"] is True, name
        assert retry["max_elapsed_time"] == f"{settings['retry_max_elapsed_ms'] // 1000}s", name
        assert exporter["timeout"] == f"{policy.raw['exporter']['timeout_ms'] // 1000}s", name
    storage = config["extensions"]["file_storage"]
    assert storage["directory"] == settings["storage_directory"]
    assert config["service"]["extensions"] == ["health_check", "file_storage"]
    assert config["extensions"]["health_check"] == {"endpoint": "0.0.0.0:13133"}
    assert config["receivers"]["otlp"]["protocols"] == {
        "grpc": {"endpoint": "0.0.0.0:4317"},
        "http": {"endpoint": "0.0.0.0:4318"},
    }

    moved = config_of(policy, tier, storage_directory=Path("/data/queue"))
    assert moved["extensions"]["file_storage"]["directory"] == "/data/queue"


@pytest.mark.parametrize("tier", TIERS)
def test_file_and_debug_exporters_join_every_pipeline(policy: Policy, tier: Tier) -> None:
    config = config_of(policy, tier, file_output=Path("/tmp/out.jsonl"), debug=True)
    assert config["exporters"]["file"] == {"path": "/tmp/out.jsonl", "format": "json"}
    assert "debug" in config["exporters"]
    for pipeline in config["service"]["pipelines"].values():
        assert {"file", "debug"} <= set(pipeline["exporters"])


def test_rendered_text_is_plain_yaml_with_a_header(policy: Policy) -> None:
    options = options_for("agent")
    text = render_collector_config(policy, "agent", options)
    assert text.startswith("# OpenTelemetry Collector, agent tier")
    assert "&id" not in text and "*id" not in text, "YAML anchors make the config hard to read"
    assert yaml.safe_load(text) == collector_config(policy, "agent", options)
    # Each OTTL statement stays on one line.
    for line in text.splitlines():
        if "replace_pattern" in line:
            assert line.rstrip().endswith("!= nil")


def test_internal_metrics_endpoint_can_be_moved_or_turned_off(policy: Policy) -> None:
    moved = config_of(policy, "gateway", metrics_endpoint="127.0.0.1:9888")
    reader = moved["service"]["telemetry"]["metrics"]["readers"][0]
    assert reader["pull"]["exporter"]["prometheus"] == {"host": "127.0.0.1", "port": 9888}
    off = config_of(policy, "gateway", metrics_endpoint=None)
    assert off["service"]["telemetry"]["metrics"] == {"level": "none"}


@pytest.mark.parametrize("gateway", ["[fd00::7]:4317", "10.1.2.3:4317", "gw:1", "a-b.c:65535"])
def test_well_formed_gateways_are_accepted(policy: Policy, gateway: str) -> None:
    config = config_of(policy, "agent", gateways=(gateway,))
    assert config["exporters"]["load_balancing"]["resolver"]["static"]["hostnames"] == [gateway]


@pytest.mark.parametrize(
    ("tier", "overrides", "fragment"),
    [
        ("agent", {"gateways": ()}, "at least one gateway"),
        ("agent", {"gateways": ("gateway-0",)}, "not a host:port"),
        ("agent", {"gateways": ("gateway-0:",)}, "not a host:port"),
        ("agent", {"gateways": (":4317",)}, "not a host:port"),
        ("agent", {"gateways": ("gateway-0:99999",)}, "not a host:port"),
        ("agent", {"gateways": ("gateway-0:otlp",)}, "not a host:port"),
        ("agent", {"gateways": ("fd00::7:4317",)}, "not a host:port"),
        ("agent", {"gateways": ("bad_host:4317",)}, "not a host:port"),
        ("agent", {"gateways": ("http://gw:4317",)}, "not a host:port"),
        ("agent", {"gateways": ("gw:4317", "gw:4317")}, "listed twice"),
        ("agent", {"upstream": UPSTREAM}, "not to an upstream"),
        ("gateway", {"gateways": GATEWAYS}, "does not route"),
        ("gateway", {"upstream": None}, "needs an upstream"),
        ("gateway", {"upstream": "otlp.example:4317"}, "not an http(s) URL"),
        ("gateway", {"upstream": "ftp://otlp.example:4317"}, "not an http(s) URL"),
        ("gateway", {"upstream": "https://otlp.example"}, "has no port"),
        ("gateway", {"upstream": "https://otlp.example:4317/v1"}, "has a path"),
        ("gateway", {"upstream": "https://otlp.example:port"}, "invalid port"),
        ("gateway", {"upstream": "https://u:p@otlp.example:4317"}, "credentials"),
        ("gateway", {"upstream_protocol": "thrift"}, "unknown upstream protocol"),
        ("gateway", {"grpc_endpoint": "0.0.0.0:4318"}, "both use port 4318"),
        ("gateway", {"health_endpoint": "0.0.0.0"}, "not a host:port"),
        ("gateway", {"storage_directory": Path("queue")}, "not an absolute path"),
        ("gateway", {"file_output": Path("out.jsonl")}, "not an absolute path"),
    ],
)
def test_bad_options_raise_a_collector_error(
    policy: Policy, tier: Tier, overrides: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(CollectorError) as caught:
        render_collector_config(policy, tier, options_for(tier, **overrides))
    error = caught.value
    assert isinstance(error, ScaffoldError)
    assert error.exit_code == 7
    assert fragment in error.message
    assert "\n" not in str(error)
    assert error.hint


def test_unknown_tier_is_a_collector_error(policy: Policy) -> None:
    with pytest.raises(CollectorError, match="unknown collector tier"):
        render_collector_config(policy, "sidecar", CollectorOptions())  # type: ignore[arg-type]


# -- remote sampling -----------------------------------------------------------------------


def test_agent_serves_remote_sampling_strategies_when_the_policy_turns_it_on(
    policy: Policy,
) -> None:
    assert policy.raw["sampling"]["remote"]["enabled"] is False
    assert "jaegerremotesampling" not in config_of(policy, "agent")["extensions"]

    remote = with_policy(policy, "sampling.remote", enabled=True)
    config = config_of(remote, "agent")
    assert config["extensions"]["jaegerremotesampling"] == {
        "http": {"endpoint": "0.0.0.0:5778"},
        "grpc": {"endpoint": "127.0.0.1:14250"},
        "source": {"file": str(DEFAULT_STRATEGIES_FILE), "reload_interval": "10s"},
    }
    assert config["service"]["extensions"] == [
        "health_check",
        "file_storage",
        "jaegerremotesampling",
    ]

    moved = with_policy(
        policy,
        "sampling.remote",
        enabled=True,
        endpoint="http://localhost:15778/sampling",
        reload_interval_ms=2500,
    )
    extension = config_of(moved, "agent", sampling_strategies=Path("/etc/otel/strategies.json"))[
        "extensions"
    ]["jaegerremotesampling"]
    assert extension["http"] == {"endpoint": "0.0.0.0:15778"}
    assert extension["source"] == {"file": "/etc/otel/strategies.json", "reload_interval": "2500ms"}


def test_the_remote_sampling_option_overrides_the_policy(policy: Policy) -> None:
    assert "jaegerremotesampling" in config_of(policy, "agent", remote_sampling=True)["extensions"]
    remote = with_policy(policy, "sampling.remote", enabled=True)
    off = config_of(remote, "agent", remote_sampling=False)
    assert "jaegerremotesampling" not in off["extensions"]
    assert off["service"]["extensions"] == ["health_check", "file_storage"]
    # Services poll their agent, never a gateway.
    assert "jaegerremotesampling" not in config_of(remote, "gateway")["extensions"]


@pytest.mark.parametrize(
    ("tier", "policy_endpoint", "overrides", "fragment"),
    [
        ("gateway", None, {"remote_sampling": True}, "does not serve sampling strategies"),
        ("agent", "http://localhost:5778/api/sampling", {}, "is not a URL the agent serves"),
        ("agent", "https://localhost:5778/sampling", {}, "is not a URL the agent serves"),
        ("agent", None, {"sampling_endpoint": "0.0.0.0:4317"}, "both use port 4317"),
        ("agent", None, {"sampling_grpc_endpoint": "0.0.0.0:5778"}, "both use port 5778"),
        ("agent", None, {"sampling_endpoint": "localhost"}, "not a host:port"),
        ("agent", None, {"sampling_strategies": Path("s.json")}, "not an absolute path"),
    ],
)
def test_bad_remote_sampling_settings_raise_a_collector_error(
    policy: Policy,
    tier: Tier,
    policy_endpoint: str | None,
    overrides: dict[str, Any],
    fragment: str,
) -> None:
    remote = with_policy(policy, "sampling.remote", enabled=True)
    if policy_endpoint is not None:
        remote = with_policy(remote, "sampling.remote", endpoint=policy_endpoint)
    with pytest.raises(CollectorError) as caught:
        render_collector_config(remote, tier, options_for(tier, **overrides))
    assert fragment in caught.value.message
    assert caught.value.hint


def test_default_strategies_carry_the_policy_ratio_of_the_environment(policy: Policy) -> None:
    changed = with_policy(policy, "sampling.environments", staging=0.5, prod=0.05)
    for environment, ratio in (("dev", 1.0), ("staging", 0.5), ("prod", 0.05)):
        assert sampling_strategies(changed, environment) == {
            "default_strategy": {"type": "probabilistic", "param": ratio},
            "service_strategies": [],
        }
    # Without an environment: the policy's default one.
    assert sampling_strategies(changed) == sampling_strategies(changed, "dev")
    # An environment without an entry in the table samples at `sampling.ratio`.
    unlisted = parse_policy(
        yaml.safe_dump({**changed.raw, "sampling": {**changed.raw["sampling"], "environments": {}}})
    )
    assert sampling_strategies(unlisted, "prod")["default_strategy"]["param"] == pytest.approx(
        policy.raw["sampling"]["ratio"]
    )
    text = render_sampling_strategies(changed, "prod")
    assert text.endswith("}\n") and json.loads(text) == sampling_strategies(changed, "prod")
    with pytest.raises(CollectorError, match="unknown environment 'qa'") as caught:
        sampling_strategies(policy, "qa")
    assert "dev, staging, prod" in str(caught.value)


# -- the real collector --------------------------------------------------------------------


@pytest.mark.compile
@pytest.mark.parametrize(
    ("tier", "overrides"),
    [
        ("agent", {}),
        ("agent", {"gateway_tls": True, "debug": True}),
        ("agent", {"remote_sampling": True}),
        ("gateway", {}),
        ("gateway", {"upstream": "http://otlp.example:4318", "upstream_protocol": "http/protobuf"}),
    ],
)
def test_the_real_collector_accepts_both_tiers(
    otelcol: Path, policy: Policy, tmp_path: Path, tier: Tier, overrides: dict[str, Any]
) -> None:
    config = tmp_path / f"{tier}.yaml"
    config.write_text(
        render_collector_config(policy, tier, options_for(tier, **overrides)), encoding="utf-8"
    )
    proc = subprocess.run(
        [str(otelcol), "validate", f"--config={config}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"otelcol validate rejected {tier}:\n{proc.stdout}{proc.stderr}"


@pytest.fixture
def gateway(otelcol: Path, policy: Policy, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A gateway collector on loopback ports writing to a file; yields (OTLP/HTTP port, file)."""
    # A short decision wait keeps the test quick; every other setting is the bundled policy's.
    fast = with_policy(policy, "collector.tail_sampling", decision_wait_ms=500)
    collector = Collector.gateway(otelcol, fast, tmp_path)
    try:
        yield collector.http_port, collector.output
    finally:
        collector.stop()


def _string(value: str) -> dict[str, Any]:
    return {"stringValue": value}


@pytest.mark.compile
def test_gateway_strips_redacted_headers_and_masks_secret_query_values(
    gateway: tuple[int, Path],
) -> None:
    port, output = gateway
    trace_id, span_id = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
    now = time.time_ns()
    attributes = {
        "http.request.method": _string("GET"),
        "http.request.header.authorization": {
            "arrayValue": {"values": [_string("Bearer s3cr3t-t0ken")]}
        },
        "http.request.header.user-agent": {"arrayValue": {"values": [_string("curl/8")]}},
        "url.full": _string("https://api.example/pay?token=abc123&id=7"),
        "url.query": _string("id=7&api_key=k3y"),
    }
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": _string("pay")}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "test"},
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": span_id,
                                "name": "GET /pay",
                                "kind": 2,
                                "startTimeUnixNano": str(now - 5_000_000),
                                "endTimeUnixNano": str(now),
                                "attributes": [
                                    {"key": k, "value": v} for k, v in attributes.items()
                                ],
                                # An error: the tail-sampling `errors` policy keeps it for sure.
                                "status": {"code": 2, "message": "boom"},
                            }
                        ],
                    }
                ],
            }
        ]
    }
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/traces",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200

    span = _wait_for_span(output, span_id, timeout=60)
    assert span["traceId"] == trace_id
    recorded = {a["key"]: a["value"] for a in span.get("attributes", [])}
    assert "http.request.header.authorization" not in recorded
    assert recorded["http.request.header.user-agent"] == {
        "arrayValue": {"values": [_string("curl/8")]}
    }
    assert recorded["url.full"] == _string("https://api.example/pay?token=REDACTED&id=7")
    assert recorded["url.query"] == _string("id=7&api_key=REDACTED")
    text = output.read_text(encoding="utf-8")
    for secret in ("s3cr3t-t0ken", "abc123", "k3y"):
        assert secret not in text


@pytest.mark.compile
def test_agent_serves_the_strategies_file_and_follows_edits_without_a_restart(
    otelcol: Path, policy: Policy, tmp_path: Path
) -> None:
    """Edit the strategies file as a platform team would; the running agent serves the change.

    The figures (how long after an edit the agent served it) go to build/collector-figures.json.
    """
    reload_ms = 1000
    remote = with_policy(policy, "sampling.remote", reload_interval_ms=reload_ms)
    remote = with_policy(remote, "sampling.environments", prod=0.25)
    strategies = tmp_path / "strategies.json"
    strategies.write_text(render_sampling_strategies(remote, "prod"), encoding="utf-8")
    agent = Collector.agent(otelcol, remote, tmp_path, strategies)
    assert agent.proc is not None
    pid = agent.proc.pid
    try:
        default = {"probabilisticSampling": {"samplingRate": 0.25}}
        assert _strategy(agent, "checkout") == default

        # Each edit lands at another point of the reload cycle: the agent served the previous
        # one just after re-reading the file, so waiting a share of the interval spreads them.
        served_after = []
        for step, rate in enumerate((0.05, 0.5, 0.01, 0.75, 0.2)):
            time.sleep(step / 5 * reload_ms / 1000)
            edited = _with_service_strategy(strategies, "checkout", "probabilistic", rate)
            served_after.append(
                _served_after(agent, edited, {"probabilisticSampling": {"samplingRate": rate}})
            )
        assert _strategy(agent, "ledger") == default, "other services keep the default strategy"

        limited = _with_service_strategy(strategies, "checkout", "ratelimiting", 5)
        # Jaeger's wire format: the strategy type as its enum number (1 = RATE_LIMITING), left
        # out for PROBABILISTIC (0).
        rate_limited = {"strategyType": 1, "rateLimitingSampling": {"maxTracesPerSecond": 5}}
        _served_after(agent, limited, rate_limited)

        # A broken edit (or a file that went missing) keeps the last good strategies.
        strategies.write_text('{"default_strategy": ', encoding="utf-8")
        time.sleep(3 * reload_ms / 1000)
        assert _strategy(agent, "checkout") == rate_limited
        assert "failed to update sampling strategies" in agent.log.read_text(encoding="utf-8")
        assert agent.proc is not None and agent.proc.pid == pid and agent.proc.poll() is None
    finally:
        agent.stop()

    reload_s = reload_ms / 1000
    assert max(served_after) <= reload_s + 1.0, served_after
    figures = ROOT / "build" / "collector-figures.json"
    figures.parent.mkdir(exist_ok=True)
    figures.write_text(
        json.dumps(
            {
                "remote_sampling_reload": {
                    "reload_interval_s": reload_s,
                    "edits": len(served_after),
                    "served_after_s": [round(s, 2) for s in served_after],
                    "mean_s": round(sum(served_after) / len(served_after), 2),
                    "max_s": round(max(served_after), 2),
                }
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )


def _strategy(agent: Collector, service: str) -> dict[str, Any]:
    """What the agent answers a service polling for its sampling strategy."""
    status, body = get(f"{agent.sampling_url}?service={service}", timeout=5)
    assert status == 200
    answer = json.loads(body)
    assert isinstance(answer, dict)
    return answer


def _with_service_strategy(path: Path, service: str, kind: str, param: float) -> float:
    """Give one service its own strategy in the file; return when the edit landed.

    The new file replaces the old one by a rename, as a ConfigMap update does.
    """
    document = json.loads(path.read_text(encoding="utf-8"))
    document["service_strategies"] = [{"service": service, "type": kind, "param": param}]
    staged = path.with_name(f".{path.name}.new")
    staged.write_text(json.dumps(document, indent=2), encoding="utf-8")
    staged.replace(path)
    return time.monotonic()


def _served_after(agent: Collector, edited: float, expected: dict[str, Any]) -> float:
    """Seconds from an edit to the agent serving `expected` to the `checkout` service."""
    deadline = edited + 30
    while time.monotonic() < deadline:
        if _strategy(agent, "checkout") == expected:
            return time.monotonic() - edited
        time.sleep(0.05)
    pytest.fail(f"the agent never served {expected}:\n{agent.log.read_text()[-3000:]}")


def _wait_for_span(output: Path, span_id: str, timeout: float) -> dict[str, Any]:
    """Poll the file exporter's OTLP/JSON lines until the span shows up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if output.exists():
            for line in output.read_text(encoding="utf-8").splitlines():
                if not line.strip():
                    continue
                for resource in json.loads(line).get("resourceSpans", []):
                    for scope in resource.get("scopeSpans", []):
                        for span in scope.get("spans", []):
                            if span.get("spanId") == span_id:
                                return dict(span)
        time.sleep(0.3)
    pytest.fail(f"span {span_id} never reached {output}")


def test_cli_renders_both_tiers(tmp_path: Path) -> None:
    runner = CliRunner()
    agent = runner.invoke(
        cli, ["collector", "--tier", "agent", "--gateway", "gw-1:4317", "--gateway", "gw-2:4317"]
    )
    assert agent.exit_code == 0, agent.output
    assert yaml.safe_load(agent.output)["exporters"]["load_balancing"]
    out = tmp_path / "gateway.yaml"
    gateway = runner.invoke(
        cli,
        [
            "collector",
            "--tier",
            "gateway",
            "--upstream",
            "https://otlp.example.com:4317",
            "--out",
            str(out),
        ],
    )
    assert gateway.exit_code == 0, gateway.output
    assert "tail_sampling" in yaml.safe_load(out.read_text(encoding="utf-8"))["processors"]
    assert [p.name for p in tmp_path.iterdir()] == ["gateway.yaml"]
    bad = runner.invoke(cli, ["collector", "--tier", "agent"])
    assert bad.exit_code == 7
    assert bad.output.startswith("error: ") and bad.output.count("\n") == 1
    missing_dir = runner.invoke(
        cli,
        [
            "collector",
            "--tier",
            "gateway",
            "--upstream",
            "http://x:4317",
            "--out",
            str(tmp_path / "no" / "x.yaml"),
        ],
    )
    assert missing_dir.exit_code == 7 and "does not exist" in missing_dir.output


def test_cli_renders_an_agent_with_remote_sampling_and_its_strategies(tmp_path: Path) -> None:
    runner = CliRunner()
    agent, strategies = tmp_path / "agent.yaml", tmp_path / "strategies.json"
    args = ["collector", "--tier", "agent", "--gateway", "gw-1:4317", "--remote-sampling"]
    result = runner.invoke(
        cli,
        [
            *args,
            "--sampling-strategies",
            "/etc/otel/strategies.json",
            "--strategies-out",
            str(strategies),
            "--environment",
            "prod",
            "--out",
            str(agent),
        ],
    )
    assert result.exit_code == 0, result.output
    extension = yaml.safe_load(agent.read_text(encoding="utf-8"))["extensions"]
    assert extension["jaegerremotesampling"]["source"]["file"] == "/etc/otel/strategies.json"
    document = json.loads(strategies.read_text(encoding="utf-8"))
    assert document["default_strategy"] == {"type": "probabilistic", "param": 1.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent.yaml", "strategies.json"]

    # The default file path, and the config on stdout.
    stdout = runner.invoke(cli, args)
    assert stdout.exit_code == 0, stdout.output
    source = yaml.safe_load(stdout.output)["extensions"]["jaegerremotesampling"]["source"]
    assert source["file"] == "/etc/otelcol/sampling/strategies.json"

    # One file that cannot be written: neither is.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    failed = runner.invoke(
        cli,
        [
            *args,
            "--out",
            str(fresh / "agent.yaml"),
            "--strategies-out",
            str(tmp_path / "missing" / "strategies.json"),
        ],
    )
    assert failed.exit_code == 7 and "does not exist" in failed.output
    assert list(fresh.iterdir()) == []
    unknown = runner.invoke(cli, [*args, "--environment", "qa"])
    assert unknown.exit_code == 7 and "unknown environment" in unknown.output


@pytest.mark.compile
def test_the_build_reports_its_progress_and_a_failed_step(otelcol: Path, tmp_path: Path) -> None:
    """A build says what it will take and where it goes, reports each step, shows a failure."""
    cached = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=60, check=True
    )
    assert cached.stdout.strip() == str(otelcol)
    assert "using the cached collector" in cached.stderr

    # A component the proxy refuses: the builder is installed, then resolving fails.
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        (BUILD_SCRIPT.parent / "manifest.yaml")
        .read_text(encoding="utf-8")
        .replace(
            "\nreceivers:\n",
            "\nreceivers:\n  - gomod: go.opentelemetry.io/collector/receiver/nopreceiver v0.0.1\n",
        ),
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "COLLECTOR_MANIFEST": str(manifest),
        "SCAFFOLD_CACHE": str(tmp_path / "cache"),
        "COLLECTOR_PROGRESS_SECONDS": "1",
    }
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=600, env=env
    )
    assert proc.returncode != 0 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert re.search(r"expect .*(minutes|seconds)", lines[1]), lines
    digest_dir = next((tmp_path / "cache" / "collector").iterdir())
    assert f"cached as {digest_dir}/otelcol" in lines[2]
    installing = [ln for ln in lines if "installing the collector builder" in ln]
    # A progress line while the step runs, or only its "done" line when it took under a second.
    assert re.search(
        r"installing the collector builder v\S+: (done in )?\d+s, \d+ modules resolved, \d+ downloaded",
        installing[0],
    )
    assert re.search(r"done in \d+s", installing[-1])
    failed = next(ln for ln in lines if "resolving and downloading modules failed after" in ln)
    assert str(digest_dir / "failed-build.log") in failed
    assert "nopreceiver" in proc.stderr.split(failed)[1]
    assert "nopreceiver" in (digest_dir / "failed-build.log").read_text(encoding="utf-8")
    assert not list(digest_dir.glob(".build.*")), "the work directory is removed"
