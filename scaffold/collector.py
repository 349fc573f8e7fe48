"""`scaffold collector`: OpenTelemetry Collector configuration for the agent and gateway tiers.

Services export OTLP to an **agent** collector next to them (a sidecar or a node daemon). The
agent routes every trace, by trace id, to one of several **gateway** collectors, so each gateway
sees whole traces and can sample them by their tail (errors, slow requests, a base rate) before
exporting to the backend. Both tiers protect themselves with a memory limiter, strip what the org
policy says must never be recorded, batch, and buffer in a disk-backed queue with bounded retries.
With remote sampling on, the agent also serves Jaeger sampling strategies from a file that it
re-reads, so a platform team changes a service's sampling rate without restarting anything.

Every number comes from the org policy (`policy.collector`, `policy.http`, `policy.exporter`,
`policy.sampling`); `CollectorOptions` only says where this one collector listens and where it
sends.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml

from scaffold._defaults import DEFAULT_STRATEGIES_FILE, TIERS, Tier
from scaffold._signals import deferred
from scaffold.errors import CollectorError
from scaffold.policy import Policy

__all__ = [
    "DEFAULT_STRATEGIES_FILE",
    "TIERS",
    "CollectorError",
    "CollectorOptions",
    "Tier",
    "collector_config",
    "render_collector_config",
    "render_sampling_strategies",
    "sampling_strategies",
    "write_files_atomic",
    "write_text_atomic",
]

# Component ids shared by the config and its tests.
MEMORY_LIMITER = "memory_limiter"
REDACTION = "transform/redaction"
TAIL_SAMPLING = "tail_sampling"
BATCH = "batch"
STORAGE = "file_storage"
HEALTH_CHECK = "health_check"
LOAD_BALANCING = "load_balancing"
LOAD_BALANCING_METRICS = "load_balancing/metrics"
REMOTE_SAMPLING = "jaegerremotesampling"
SIGNALS = ("traces", "metrics", "logs")

# The only path the jaegerremotesampling extension serves strategies on.
_STRATEGIES_PATH = "/sampling"

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


@dataclass(frozen=True)
class CollectorOptions:
    """Where one collector listens and sends; the org policy decides everything else.

    Attributes:
        grpc_endpoint: host:port of the OTLP/gRPC receiver (default 0.0.0.0:4317).
        http_endpoint: host:port of the OTLP/HTTP receiver (default 0.0.0.0:4318).
        gateways: agent tier only, required: host:port of every gateway's OTLP/gRPC receiver.
            The agent spreads traces over them by trace id (static resolver).
        upstream: gateway tier only: URL of the backend's OTLP endpoint, `http://` for
            plaintext or `https://` for TLS, e.g. `https://otlp.example.com:4317`.
        upstream_protocol: `grpc` (default) or `http/protobuf` for `upstream`.
        gateway_tls: agent tier: talk TLS (system roots) to the gateways. Off by default
            because agents and gateways usually share a private network.
        storage_directory: directory of the persistent sending queues; default
            `policy.collector.storage_directory`. Must be absolute.
        file_output: absolute path of an extra file exporter writing OTLP/JSON lines, one
            export request per line, in every pipeline (tests and local debugging).
        debug: add the debug exporter (a summary of what passes, on the collector's log).
        health_endpoint: host:port of the health check extension (default 0.0.0.0:13133).
        metrics_endpoint: host:port where the collector serves its own Prometheus metrics
            (default 0.0.0.0:8888); None turns them off.
        remote_sampling: agent tier only: serve Jaeger remote sampling strategies (the
            jaegerremotesampling extension). None (default) follows
            `policy.sampling.remote.enabled`.
        sampling_strategies: absolute path of the strategies file the agent serves and
            re-reads every `policy.sampling.remote.reload_interval_ms`; default
            `DEFAULT_STRATEGIES_FILE`.
        sampling_endpoint: host:port of the strategies' HTTP listener; default 0.0.0.0 with the
            port of `policy.sampling.remote.endpoint`, the URL the services poll.
        sampling_grpc_endpoint: host:port of the extension's Jaeger gRPC listener, which it
            always opens; loopback by default because the generated services poll over HTTP.
    """

    grpc_endpoint: str = "0.0.0.0:4317"
    http_endpoint: str = "0.0.0.0:4318"
    gateways: tuple[str, ...] = ()
    upstream: str | None = None
    upstream_protocol: Literal["grpc", "http/protobuf"] = "grpc"
    gateway_tls: bool = False
    storage_directory: Path | None = None
    file_output: Path | None = None
    debug: bool = False
    health_endpoint: str = "0.0.0.0:13133"
    metrics_endpoint: str | None = "0.0.0.0:8888"
    remote_sampling: bool | None = None
    sampling_strategies: Path = DEFAULT_STRATEGIES_FILE
    sampling_endpoint: str | None = None
    sampling_grpc_endpoint: str = "127.0.0.1:14250"


def render_collector_config(policy: Policy, tier: Tier, options: CollectorOptions) -> str:
    """Render the collector configuration of one tier as YAML text.

    Raises:
        CollectorError: the tier is unknown or the options are inconsistent (an agent without
            gateways, a malformed host:port, a gateway with nowhere to export, ...).
    """
    config = collector_config(policy, tier, options)
    header = (
        f"# OpenTelemetry Collector, {tier} tier, rendered by `scaffold collector` from the org\n"
        "# policy. Change the policy and render again rather than editing this file.\n"
    )
    # A wide line keeps each OTTL statement on one line instead of folding it.
    return header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=10_000)


def write_text_atomic(path: Path, text: str) -> None:
    """Write a file so that it either appears complete or not at all.

    Raises:
        CollectorError: the directory does not exist or is not writable.
    """
    write_files_atomic({path: text})


def write_files_atomic(files: Mapping[Path, str]) -> None:
    """Write several files so that either all of them appear complete or none changes.

    Raises:
        CollectorError: a directory does not exist or is not writable.
    """
    targets = {path.expanduser(): text for path, text in files.items()}
    for path in targets:
        if not path.parent.is_dir():
            raise CollectorError(
                f"{path.parent} does not exist", hint="create it or choose another path"
            )
    # Stage every file next to its target before publishing any: a write that fails (a full
    # disk, a read-only directory) then leaves every target as it was.
    staged: dict[Path, Path] = {}
    for path, text in targets.items():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        staged[path] = tmp
        try:
            tmp.write_text(text, encoding="utf-8")
        except OSError as exc:
            for leftover in staged.values():
                # On a read-only file system even removing a file that is not there fails.
                with contextlib.suppress(OSError):
                    leftover.unlink(missing_ok=True)
            raise CollectorError(
                f"cannot write {path}: {exc.strerror}", hint="choose another path"
            ) from None
    with deferred():  # an interrupt waits: every file is published, or none
        for path, tmp in staged.items():
            tmp.replace(path)


def sampling_strategies(policy: Policy, environment: str | None = None) -> dict[str, Any]:
    """The Jaeger sampling strategies an agent serves until the platform team edits them.

    Every service gets the policy's ratio for the agent's environment (default: the policy's
    `default_environment`), the rate it samples at without remote sampling, so turning remote
    sampling on changes nothing by itself. A service's own rate is an entry of
    `service_strategies` (see docs/collector.md). The default strategy is always written out:
    without one the extension would serve 0.001.

    Raises:
        CollectorError: the environment is not one of the policy's.
    """
    if environment is None:
        environment = str(policy.raw["default_environment"])
    if environment not in policy.environments:
        raise CollectorError(
            f"unknown environment {environment!r}",
            hint=f"use one of: {', '.join(policy.environments)}",
        )
    return {
        "default_strategy": {"type": "probabilistic", "param": policy.sampling_ratio(environment)},
        "service_strategies": [],
    }


def render_sampling_strategies(policy: Policy, environment: str | None = None) -> str:
    """`sampling_strategies` as the JSON text of a strategies file."""
    return json.dumps(sampling_strategies(policy, environment), indent=2) + "\n"


def collector_config(policy: Policy, tier: Tier, options: CollectorOptions) -> dict[str, Any]:
    """The collector configuration of one tier as a mapping; see `render_collector_config`."""
    remote_sampling = _remote_sampling(policy, tier, options)
    _check_options(tier, options, remote_sampling)
    settings = policy.raw["collector"]
    storage = options.storage_directory or Path(settings["storage_directory"])

    processors: dict[str, Any] = {
        MEMORY_LIMITER: {
            "check_interval": "1s",
            "limit_mib": settings["memory_limit_mib"],
            "spike_limit_mib": settings["memory_spike_limit_mib"],
        },
        REDACTION: _redaction(policy),
    }
    if tier == "gateway":
        processors[TAIL_SAMPLING] = _tail_sampling(settings["tail_sampling"])
    processors[BATCH] = {"send_batch_size": 8192, "send_batch_max_size": 8192, "timeout": "1s"}

    if tier == "agent":
        exporters = _agent_exporters(policy, options)
    elif options.upstream is not None:
        exporters = _gateway_exporters(policy, options, options.upstream)
    else:
        exporters = {}  # a gateway for tests or local debugging: file and/or debug only
    if options.file_output is not None:
        exporters["file"] = {"path": str(options.file_output), "format": "json"}
    if options.debug:
        exporters["debug"] = {"verbosity": "basic"}

    pipelines: dict[str, Any] = {}
    for signal in SIGNALS:
        chain = [MEMORY_LIMITER, REDACTION]
        if signal == "traces" and tier == "gateway":
            chain.append(TAIL_SAMPLING)
        chain.append(BATCH)
        pipelines[signal] = {
            "receivers": ["otlp"],
            "processors": chain,
            "exporters": [name for name in exporters if _carries(name, signal)],
        }

    extensions: dict[str, Any] = {
        HEALTH_CHECK: {"endpoint": options.health_endpoint},
        STORAGE: {
            "directory": str(storage),
            "create_directory": True,
            "compaction": {"on_start": True, "on_rebound": True, "directory": str(storage)},
        },
    }
    if remote_sampling is not None:
        extensions[REMOTE_SAMPLING] = remote_sampling

    return {
        "extensions": extensions,
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": options.grpc_endpoint},
                    "http": {"endpoint": options.http_endpoint},
                }
            }
        },
        "processors": processors,
        "exporters": exporters,
        "service": {
            "extensions": list(extensions),
            "pipelines": pipelines,
            "telemetry": _telemetry(options.metrics_endpoint),
        },
    }


def _remote_sampling(policy: Policy, tier: str, options: CollectorOptions) -> dict[str, Any] | None:
    """The jaegerremotesampling extension of an agent that serves strategies, else None.

    Strategies come from a file re-read every `reload_interval_ms`: an edit is served without
    a restart, and a file that cannot be read or parsed keeps the last good strategies.
    """
    remote = policy.raw["sampling"]["remote"]
    enabled = remote["enabled"] if options.remote_sampling is None else options.remote_sampling
    if tier != "agent" or not enabled:
        if tier == "gateway" and options.remote_sampling:
            raise CollectorError(
                "a gateway collector does not serve sampling strategies",
                hint="services poll their agent: render the agent tier with remote sampling",
            )
        return None
    return {
        "http": {"endpoint": options.sampling_endpoint or _strategies_listener(remote["endpoint"])},
        "grpc": {"endpoint": options.sampling_grpc_endpoint},
        "source": {
            "file": str(options.sampling_strategies),
            "reload_interval": _duration(remote["reload_interval_ms"]),
        },
    }


def _strategies_listener(endpoint: str) -> str:
    """0.0.0.0 with the port of the URL the services poll, which must be one the agent serves."""
    url = urlsplit(endpoint)
    if url.scheme != "http" or url.path != _STRATEGIES_PATH:
        raise CollectorError(
            f"policy sampling.remote.endpoint {endpoint!r} is not a URL the agent serves",
            hint=f"use http://HOST:PORT{_STRATEGIES_PATH}: the agent serves strategies over "
            f"plain HTTP on {_STRATEGIES_PATH} only",
        )
    return f"0.0.0.0:{url.port or 80}"


# -- processors ----------------------------------------------------------------------------


def _redaction(policy: Policy) -> dict[str, Any]:
    """OTTL statements that delete never-recorded headers and mask secret query values.

    The transform processor does both jobs: the attributes processor cannot rewrite part of a
    value and the redaction processor masks keys instead of removing them. Each OTTL context
    gets its own group: in one mixed group the processor would run every statement in the
    narrowest context (per span event, say) and skip spans without events.
    """
    http = policy.raw["http"]
    # Instrumentations disagree on `-` vs `_` inside header attribute keys: match both.
    headers = "|".join(h.replace("-", "[-_]") for h in http["redacted_headers"])
    # `$$` is the collector config's escape for a literal `$` (environment expansion).
    header_keys = f"(?i)^http[.](request|response)[.]header[.]({headers})$$"
    params = [p.replace(".", "[.]") for p in http.get("redacted_query_params", [])]
    # `name=value` at the start of url.query or after `?`/`&` in url.full; the replacement
    # keeps the separator and the name (groups 1 and 2).
    query = f"(?i)(^|[?&])({'|'.join(params)})=[^&#]*"

    def group(context: str, mask_urls: bool) -> dict[str, Any]:
        statements = [f'delete_matching_keys({context}.attributes, "{header_keys}")']
        for attribute in ("url.full", "url.query") if mask_urls and params else ():
            target = f'{context}.attributes["{attribute}"]'
            statements.append(
                f'replace_pattern({target}, "{query}", "$${{1}}$${{2}}=REDACTED")'
                f" where {target} != nil"
            )
        return {"context": context, "statements": statements}

    return {
        "error_mode": "ignore",
        "trace_statements": [group("span", True), group("spanevent", True)],
        "metric_statements": [group("datapoint", False)],
        "log_statements": [group("log", True)],
    }


def _tail_sampling(settings: dict[str, Any]) -> dict[str, Any]:
    """Keep every trace with an error or a slow span, and a share of the rest."""
    return {
        "decision_wait": _duration(settings["decision_wait_ms"]),
        "policies": [
            {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
            {
                "name": "slow",
                "type": "latency",
                "latency": {"threshold_ms": settings["slow_threshold_ms"]},
            },
            {
                "name": "base-rate",
                "type": "probabilistic",
                "probabilistic": {"sampling_percentage": round(settings["base_ratio"] * 100, 6)},
            },
        ],
    }


# -- exporters -----------------------------------------------------------------------------


def _delivery(policy: Policy) -> dict[str, Any]:
    """Timeout, persistent sending queue and bounded retry shared by every network exporter."""
    exporter = policy.raw["exporter"]
    settings = policy.raw["collector"]
    return {
        "timeout": _duration(exporter["timeout_ms"]),
        "sending_queue": {
            "enabled": True,
            "storage": STORAGE,
            "sizer": "requests",
            "queue_size": settings["queue_size"],
        },
        "retry_on_failure": {
            "enabled": True,
            "initial_interval": _duration(exporter["retry"]["initial_interval_ms"]),
            "max_interval": _duration(exporter["retry"]["max_interval_ms"]),
            "max_elapsed_time": _duration(settings["retry_max_elapsed_ms"]),
        },
    }


def _agent_exporters(policy: Policy, options: CollectorOptions) -> dict[str, Any]:
    """Traces and logs by trace id, metrics by stream, each to one of the gateways."""

    def balancer(routing_key: str) -> dict[str, Any]:
        return {
            **_delivery(policy),
            "routing_key": routing_key,
            "protocol": {"otlp": {"tls": {"insecure": not options.gateway_tls}}},
            "resolver": {"static": {"hostnames": list(options.gateways)}},
        }

    return {
        LOAD_BALANCING: balancer("traceID"),
        # A trace id means nothing to metrics; routing by stream keeps every series on one
        # gateway, so its points arrive in order.
        LOAD_BALANCING_METRICS: balancer("streamID"),
    }


def _gateway_exporters(policy: Policy, options: CollectorOptions, upstream: str) -> dict[str, Any]:
    """One OTLP exporter to the backend."""
    url = urlsplit(upstream)
    tls = {"insecure": url.scheme == "http"}
    if options.upstream_protocol == "grpc":
        return {"otlp_grpc/upstream": {"endpoint": url.netloc, "tls": tls, **_delivery(policy)}}
    return {"otlp_http/upstream": {"endpoint": upstream, "tls": tls, **_delivery(policy)}}


def _carries(exporter: str, signal: str) -> bool:
    if exporter == LOAD_BALANCING:
        return signal != "metrics"
    if exporter == LOAD_BALANCING_METRICS:
        return signal == "metrics"
    return True


def _telemetry(endpoint: str | None) -> dict[str, Any]:
    if endpoint is None:
        return {"metrics": {"level": "none"}}
    host, port = _split_host_port(endpoint)
    prometheus = {"host": host, "port": port}
    return {"metrics": {"readers": [{"pull": {"exporter": {"prometheus": prometheus}}}]}}


def _duration(ms: int) -> str:
    """A Go duration string: whole seconds when exact, milliseconds otherwise."""
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


# -- option checks -------------------------------------------------------------------------


def _check_options(
    tier: str, options: CollectorOptions, remote_sampling: dict[str, Any] | None
) -> None:
    if tier not in TIERS:
        raise CollectorError(f"unknown collector tier {tier!r}", hint="use agent or gateway")
    listeners = {
        "grpc_endpoint": options.grpc_endpoint,
        "http_endpoint": options.http_endpoint,
        "health_endpoint": options.health_endpoint,
    }
    if options.metrics_endpoint is not None:
        listeners["metrics_endpoint"] = options.metrics_endpoint
    if remote_sampling is not None:
        listeners["sampling_endpoint"] = remote_sampling["http"]["endpoint"]
        listeners["sampling_grpc_endpoint"] = remote_sampling["grpc"]["endpoint"]
    ports: dict[int, str] = {}
    for name, endpoint in listeners.items():
        port = _endpoint(name, endpoint)
        if port in ports:
            raise CollectorError(
                f"{name} and {ports[port]} both use port {port}",
                hint="give every listener its own port",
            )
        ports[port] = name

    if tier == "agent":
        _check_agent(options)
    else:
        _check_gateway(options)

    for name, path in (
        ("storage_directory", options.storage_directory),
        ("file_output", options.file_output),
        ("sampling_strategies", options.sampling_strategies),
    ):
        if path is not None and not path.is_absolute():
            raise CollectorError(
                f"{name} {str(path)!r} is not an absolute path",
                hint="the collector may run from any directory: give the full path",
            )


def _check_agent(options: CollectorOptions) -> None:
    if not options.gateways:
        raise CollectorError(
            "an agent collector needs at least one gateway",
            hint="pass --gateway HOST:PORT for each gateway collector",
        )
    if len(set(options.gateways)) != len(options.gateways):
        raise CollectorError("a gateway is listed twice", hint="list each gateway's host:port once")
    for gateway in options.gateways:
        _endpoint("gateway", gateway)
    if options.upstream is not None:
        raise CollectorError(
            "an agent exports to its gateways, not to an upstream",
            hint="drop --upstream, or render the gateway tier",
        )


def _check_gateway(options: CollectorOptions) -> None:
    if options.gateways:
        raise CollectorError(
            "a gateway collector does not route to other gateways",
            hint="drop --gateway, or render the agent tier",
        )
    if options.upstream_protocol not in ("grpc", "http/protobuf"):
        raise CollectorError(
            f"unknown upstream protocol {options.upstream_protocol!r}",
            hint="use grpc or http/protobuf",
        )
    if options.upstream is None:
        if options.file_output is None and not options.debug:
            raise CollectorError(
                "a gateway collector needs an upstream to export to",
                hint="pass --upstream https://HOST:PORT (the backend's OTLP endpoint)",
            )
        return
    _check_upstream(options.upstream, options.upstream_protocol)


def _check_upstream(upstream: str, protocol: str) -> None:
    hint = "write it as http://HOST:PORT (plaintext) or https://HOST:PORT (TLS)"
    url = urlsplit(upstream)
    try:
        port = url.port
    except ValueError:
        raise CollectorError(f"upstream {upstream!r} has an invalid port", hint=hint) from None
    if url.scheme not in ("http", "https") or not url.hostname or not _valid_host(url.hostname):
        raise CollectorError(f"upstream {upstream!r} is not an http(s) URL", hint=hint)
    if url.query or url.fragment or url.username or url.password:
        raise CollectorError(
            f"upstream {upstream!r} carries a query, fragment or credentials", hint=hint
        )
    if protocol == "grpc":
        if port is None:
            raise CollectorError(f"upstream {upstream!r} has no port", hint=hint)
        if url.path not in ("", "/"):
            raise CollectorError(
                f"upstream {upstream!r} has a path, which OTLP/gRPC cannot use",
                hint="drop the path, or use --upstream-protocol http/protobuf",
            )


def _endpoint(name: str, value: str) -> int:
    """Check a host:port and return its port."""
    try:
        _, port = _split_host_port(value)
    except ValueError:
        raise CollectorError(
            f"{name} {value!r} is not a host:port",
            hint="write it as HOST:PORT, e.g. gateway-0.otel:4317, 10.0.0.7:4317 or [::1]:4317",
        ) from None
    return port


def _split_host_port(value: str) -> tuple[str, int]:
    """Split HOST:PORT (IPv6 hosts in brackets); ValueError when either part is malformed."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(value)
    if host.startswith("[") and host.endswith("]"):
        ipaddress.IPv6Address(host[1:-1])
        return host[1:-1], int(port_text)
    if not _valid_host(host) or ":" in host:
        raise ValueError(value)
    return host, int(port_text)


def _valid_host(host: str) -> bool:
    """A DNS name or an IP address."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return bool(_HOSTNAME.match(host)) and not host.replace(".", "").isdigit()
    return True
