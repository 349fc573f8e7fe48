"""Hold a run against the policy the services were rendered from.

Resource attributes (the required ones, a unique `service.instance.id`, host and process
detection), redaction of every secret the scenario script planted, untraced routes, metric
series a client's `Host` header could create, the JSON log schema of stdout, and a clean exit
on SIGTERM.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .expectations import SCENARIOS, SEVERITIES
from .findings import Findings, dedupe
from .harness import Run
from .model import ANY, Has, Is, Matcher
from .otlp import Value
from .semconv import match_spans, scenario_context

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
_HEX_LENGTHS = {"trace_id_key": 32, "span_id_key": 16, "trace_flags_key": 2}

# Detected resource attributes that carry more than the contract wants.
FORBIDDEN_RESOURCE = dict.fromkeys(
    ("process.command_args", "process.command_line", "process.command"),
    "a command line can carry credentials",
)


@dataclass(frozen=True)
class PolicyView:
    """The parts of the policy these checks read."""

    raw: Mapping[str, Any]

    @property
    def untraced_routes(self) -> list[str]:
        return list(self.raw["http"]["untraced_routes"])

    @property
    def log_keys(self) -> dict[str, str]:
        return dict(self.raw["logs"])

    def resource(self, service: str) -> dict[str, Matcher]:
        """Every resource attribute a process must carry, and what it must be."""
        org = self.raw["org"]
        known: dict[str, Matcher] = {
            "service.name": Is(service),
            "service.namespace": Is(org["namespace"]),
            "deployment.environment.name": Is(self.raw["default_environment"]),
            f"{org['name']}.team": Is(org["default_team"]),
            f"{org['name']}.owner": Is(org["default_owner"]),
        }
        expected = {key: known.get(key, ANY) for key in self.raw["resource"]["required"]}
        # Unique per process and the same on its three signals; semconv asks for a UUID.
        expected["service.instance.id"] = Has(_UUID)
        # Host and process detection, as both SDKs can do it.
        expected["host.name"] = ANY
        expected["os.type"] = Is("linux")
        expected["process.executable.name"] = ANY
        return expected


def policy_findings(run: Run, policy: PolicyView) -> Findings:
    """Resource, redaction, untraced routes, metric cardinality, stdout schema, SIGTERM."""
    return Findings(
        _resource_findings(run, policy)
        + secret_findings(run)
        + _untraced_findings(run, policy)
        + _host_header_findings(run)
        + _stdout_findings(run, policy)
        + _stop_findings(run)
    )


# --- Resource ---------------------------------------------------------------------------------


def process_resources(run: Run) -> dict[str, list[dict[str, Value]]]:
    """The resources each process exported with.

    A resource belongs to the process whose PID it carries (`process.pid`), else to the
    processes whose scenario spans carry it; a resource both processes use goes to both.
    """
    owners: dict[str, list[dict[str, Value]]] = {name: [] for name in run.processes}
    for resource in run.telemetry.resources:
        pid = resource.get("process.pid")
        names = [n for n, p in run.processes.items() if pid is not None and pid.value == p.pid]
        if not names:
            names = sorted(
                {
                    scenario.process
                    for scenario in SCENARIOS
                    if any(
                        span.resource == resource
                        for span in run.telemetry.trace(run.exchanges[scenario.name].trace_id)
                    )
                }
            )
        for name in names or ["unknown"]:
            owners.setdefault(name, []).append(resource)
    return owners


def _resource_findings(run: Run, policy: PolicyView) -> Findings:
    found = Findings()
    owners = process_resources(run)
    if any(
        sum(resource in rs for rs in owners.values()) > 1 for resource in run.telemetry.resources
    ):
        found.add(
            "resource",
            "the processes of one build",
            "",
            "export the same resource: nothing tells two processes of one service apart",
        )
    instance_ids = {}
    for process, resources in owners.items():
        where = f"resource of the {process} process"
        if process == "unknown":
            found.add(
                "resource",
                where,
                "",
                "belongs to no process: process.pid is missing and no span shows whose it is",
                f"{len(resources)} resource(s)",
            )
            continue
        if not resources:
            found.add("resource", where, "", "is missing: the process exported nothing")
            continue
        if len(resources) > 1:
            differing = sorted(
                {k for r in resources for k in r if any(r.get(k) != o.get(k) for o in resources)}
            )
            found.add(
                "resource", where, "", f"differs between the process's signals in {differing}"
            )
        resource = resources[0]
        for key, matcher in policy.resource(run.service).items():
            if problem := matcher.problem(resource.get(key), "string", run.ctx):
                found.add("resource", where, key, problem)
        if problem := Is(run.processes[process].pid).problem(
            resource.get("process.pid"), "int", run.ctx
        ):
            found.add("resource", where, "process.pid", problem)
        for key, why in FORBIDDEN_RESOURCE.items():
            if key in resource:
                found.add("resource", where, key, f"must be absent ({why})")
        if (instance := resource.get("service.instance.id")) is not None:
            instance_ids[process] = instance.value
    if len(instance_ids) == len(run.processes) and len(set(instance_ids.values())) == 1:
        found.add(
            "resource", "service.instance.id", "", "is not unique per process", str(instance_ids)
        )
    return found


# --- Redaction, untraced routes, cardinality ---------------------------------------------------


def secret_findings(run: Run) -> Findings:
    """Every place a planted secret shows up: exported bytes, stdout, stderr, answers."""
    places: dict[str, str] = {"collector output (every exported byte)": run.telemetry.raw}
    for name, record in run.processes.items():
        places[f"{name} process stdout"] = record.stdout
        places[f"{name} process stderr"] = record.stderr
    for name, exchange in run.exchanges.items():
        places[f"answer to {name}"] = exchange.body.decode(errors="replace")
    found = Findings()
    for secret_name, secret in run.secrets.items():
        for place, text in places.items():
            index = text.find(secret)
            if index >= 0:
                context = text[max(0, index - 120) : index + len(secret) + 40].replace("\n", " ")
                found.add(
                    "redaction",
                    place,
                    secret_name,
                    f"leaked {text.count(secret)} time(s)",
                    f"…{context}…",
                )
    return found


def _untraced_findings(run: Run, policy: PolicyView) -> Findings:
    found = Findings()
    routes = set(policy.untraced_routes)
    for scenario in SCENARIOS:
        if scenario.traced:
            continue
        trace_id = run.exchanges[scenario.name].trace_id
        spans = run.telemetry.trace(trace_id)
        logs = [record for record in run.telemetry.logs if record.trace_id == trace_id]
        if spans or logs:
            found.add(
                "untraced routes",
                scenario.name,
                "",
                f"produced {len(spans)} span(s) and {len(logs)} log record(s)",
            )
    for span in run.telemetry.spans:
        for key in ("url.path", "http.route"):
            value = span.attributes.get(key)
            if value is not None and value.value in routes:
                found.add("untraced routes", str(span), key, "names an untraced route", str(value))
    for point in run.telemetry.metrics:
        route = point.attributes.get("http.route")
        if route is not None and route.value in routes:
            found.add(
                "untraced routes",
                f"metric {point.name}",
                "http.route",
                "names an untraced route: it must not be measured",
                str(route),
            )
    return dedupe(found)


def _host_header_findings(run: Run) -> Findings:
    """A client-chosen `Host` (the spoofed_host scenario) must not create metric series."""
    found = Findings()
    for point in run.telemetry.metrics:
        for key, value in point.attributes.items():
            if "evil.example" in str(value.value) or (key == "server.port" and value.value == 1234):
                found.add(
                    "metric cardinality",
                    f"metric {point.name}",
                    key,
                    "comes from the client's Host header",
                    str(value),
                )
    return dedupe(found)


# --- stdout -----------------------------------------------------------------------------------


def stdout_records(text: str) -> tuple[list[tuple[list[str], dict[str, Any]]], list[str]]:
    """The JSON objects of stdout with their key order, and the lines that are not JSON objects."""
    records, bad = [], []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            pairs = json.loads(line, object_pairs_hook=lambda items: items)
        except ValueError:
            bad.append(line)
            continue
        if isinstance(pairs, list):
            records.append(([key for key, _ in pairs], dict(pairs)))
        else:
            bad.append(line)
    return records, bad


def _stdout_findings(run: Run, policy: PolicyView) -> Findings:
    """Every line is a JSON object of the policy's schema; logs inside spans carry their ids."""
    keys = policy.log_keys
    head = [keys["time_key"], keys["level_key"], keys["message_key"], keys["service_name_key"]]
    correlation = [keys["trace_id_key"], keys["span_id_key"], keys["trace_flags_key"]]
    found = Findings()
    for name, record in run.processes.items():
        where = f"{name} process stdout"
        records, bad = stdout_records(record.stdout)
        if bad:
            found.add(
                "logs (stdout)",
                where,
                "",
                f"has {len(bad)} line(s) that are not JSON objects",
                bad[0][:160],
            )
        counts: Counter[str] = Counter()
        examples: dict[str, str] = {}
        for order, fields in records:
            problems = []
            if order[: len(head)] != head:
                problems.append(f"do not begin with the policy's keys {head}")
            elif keys["trace_id_key"] in fields and order[len(head) : len(head) + 3] != correlation:
                problems.append(f"inside a span, do not continue with {correlation}")
            if not _RFC3339_UTC.fullmatch(str(fields.get(keys["time_key"], ""))):
                problems.append(f"have no {keys['time_key']} in RFC 3339 UTC")
            if fields.get(keys["level_key"]) not in SEVERITIES:
                problems.append(f"have a {keys['level_key']} other than {list(SEVERITIES)}")
            if fields.get(keys["service_name_key"]) != run.service:
                problems.append(f"lack {keys['service_name_key']}={run.service!r}")
            for key_name, length in _HEX_LENGTHS.items():
                value = fields.get(keys[key_name])
                if value is not None and not re.fullmatch(f"[0-9a-f]{{{length}}}", str(value)):
                    problems.append(f"have a {keys[key_name]} that is not {length} hex digits")
            for problem in problems:
                counts[problem] += 1
                examples.setdefault(problem, json.dumps(fields)[:240])
        for problem, count in counts.items():
            found.add(
                "logs (stdout)",
                where,
                "",
                f"{count} of {len(records)} lines {problem}",
                examples[problem],
            )
        found += _stdout_span_findings(run, name, records, keys)
    return found


def _stdout_span_findings(
    run: Run,
    process: str,
    records: list[tuple[list[str], dict[str, Any]]],
    keys: Mapping[str, str],
) -> Findings:
    found = Findings()
    for scenario in SCENARIOS:
        if scenario.process != process or not scenario.traced:
            continue
        ctx = scenario_context(run, scenario)
        for spec, span in zip(scenario.spans, match_spans(scenario, run, ctx), strict=True):
            for severity in spec.logs if span is not None else ():
                assert span is not None
                if not any(
                    fields.get(keys["trace_id_key"]) == span.trace_id
                    and fields.get(keys["span_id_key"]) == span.span_id
                    and fields.get(keys["level_key"]) == severity
                    for _, fields in records
                ):
                    found.add(
                        "logs (stdout)",
                        f"{scenario.name} > {span}",
                        f"{severity} line",
                        "with this span's trace_id and span_id is missing",
                    )
    return found


# --- Shutdown ---------------------------------------------------------------------------------


def _stop_findings(run: Run) -> Findings:
    found = Findings()
    for name, record in run.processes.items():
        if record.exit_code is None:
            found.add(
                "shutdown",
                f"{name} process",
                "",
                "ignored SIGTERM and was killed",
                f"after {record.stop_seconds:.0f}s",
            )
        elif record.exit_code != 0:
            found.add(
                "shutdown",
                f"{name} process",
                "",
                "did not exit with 0 on SIGTERM",
                f"exit code {record.exit_code}, stderr …{record.stderr[-300:]}",
            )
    return found
