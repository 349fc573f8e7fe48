"""What arrived at the collector, as comparable records.

The collector's file exporter writes one OTLP/JSON export request per line. `read_telemetry`
turns those lines into flat records: every span, metric data point and log record carries its
resource and scope, and every attribute is a `Value` that keeps the OTLP type next to the
value, so "an int that arrived as a string" is visible and comparable.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# OTLP enum values, by the names the contract uses.
SPAN_KINDS = {
    0: "UNSPECIFIED",
    1: "INTERNAL",
    2: "SERVER",
    3: "CLIENT",
    4: "PRODUCER",
    5: "CONSUMER",
}
STATUS_CODES = {0: "UNSET", 1: "OK", 2: "ERROR"}
TEMPORALITIES = {0: "UNSPECIFIED", 1: "DELTA", 2: "CUMULATIVE"}

# The JSON member of an OTLP AnyValue and the contract's name for its type.
_SCALARS = {
    "stringValue": "string",
    "intValue": "int",
    "doubleValue": "double",
    "boolValue": "bool",
    "bytesValue": "bytes",
}


@dataclass(frozen=True)
class Value:
    """One attribute value with its OTLP type: string, int, double, bool, bytes, map or T[]."""

    type: str
    value: Any

    def __str__(self) -> str:
        return f"{self.value!r} ({self.type})"


def value_of(any_value: Mapping[str, Any]) -> Value:
    """The `Value` of an OTLP/JSON AnyValue."""
    for member, type_name in _SCALARS.items():
        if member in any_value:
            raw = any_value[member]
            # OTLP/JSON writes 64-bit integers as strings.
            return Value(type_name, int(raw) if type_name == "int" else raw)
    if "arrayValue" in any_value:
        items = [value_of(item) for item in any_value["arrayValue"].get("values", [])]
        item_types = {item.type for item in items} or {"string"}
        item_type = item_types.pop() if len(item_types) == 1 else "mixed"
        return Value(f"{item_type}[]", tuple(item.value for item in items))
    if "kvlistValue" in any_value:
        members = attributes_of(any_value["kvlistValue"].get("values", []))
        return Value("map", tuple(sorted(members.items())))
    return Value("empty", None)


def attributes_of(items: Iterable[Mapping[str, Any]]) -> dict[str, Value]:
    """OTLP/JSON `attributes` as a dict from key to `Value`."""
    return {item["key"]: value_of(item.get("value", {})) for item in items}


@dataclass(frozen=True)
class Link:
    trace_id: str
    span_id: str
    attributes: dict[str, Value]


@dataclass(frozen=True)
class Event:
    name: str
    attributes: dict[str, Value]


@dataclass(frozen=True)
class Span:
    resource: dict[str, Value]
    scope: str
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: str
    status: str
    status_message: str
    attributes: dict[str, Value]
    events: tuple[Event, ...]
    links: tuple[Link, ...]
    start_ns: int
    end_ns: int

    @property
    def instance(self) -> str:
        """The `service.instance.id` of the process that made the span."""
        return _instance(self.resource)

    def __str__(self) -> str:
        return f"{self.kind} span {self.name!r}"


@dataclass(frozen=True)
class Exemplar:
    trace_id: str
    span_id: str


@dataclass(frozen=True)
class MetricPoint:
    """One data point of one metric (the last export of a cumulative series wins)."""

    resource: dict[str, Value]
    scope: str
    name: str
    unit: str
    description: str
    type: str
    temporality: str
    monotonic: bool | None
    attributes: dict[str, Value]
    count: int
    sum: float | None
    bounds: tuple[float, ...]
    exemplars: tuple[Exemplar, ...]
    start_ns: int
    time_ns: int

    @property
    def instance(self) -> str:
        return _instance(self.resource)

    @property
    def series(self) -> tuple[object, ...]:
        """What identifies one series of one process: a cumulative series keeps its start time
        across exports (the last export holds the totals); delta points each start anew."""
        return (
            tuple(sorted(self.resource.items())),
            self.scope,
            self.name,
            tuple(sorted(self.attributes.items())),
            self.start_ns,
        )


@dataclass(frozen=True)
class LogRecord:
    resource: dict[str, Value]
    scope: str
    severity_number: int
    severity_text: str
    body: Value
    attributes: dict[str, Value]
    trace_id: str
    span_id: str
    flags: int
    time_ns: int
    observed_time_ns: int
    fields: frozenset[str]
    """The OTLP fields the record set, so the two SDKs' records compare structurally."""

    @property
    def instance(self) -> str:
        return _instance(self.resource)


@dataclass
class Telemetry:
    """Everything one collector wrote, parsed."""

    spans: list[Span] = field(default_factory=list)
    metrics: list[MetricPoint] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    resources: list[dict[str, Value]] = field(default_factory=list)
    raw: str = ""

    def trace(self, trace_id: str) -> list[Span]:
        return [span for span in self.spans if span.trace_id == trace_id]

    def metric(self, name: str) -> list[MetricPoint]:
        return [point for point in self.metrics if point.name == name]


def _instance(resource: Mapping[str, Value]) -> str:
    value = resource.get("service.instance.id")
    return str(value.value) if value is not None else ""


def _add_resource(telemetry: Telemetry, resource: dict[str, Value]) -> None:
    if resource not in telemetry.resources:
        telemetry.resources.append(resource)


def read_telemetry(path: Path) -> Telemetry:
    """Parse the file exporter's OTLP/JSON lines at `path` (an absent file is no telemetry)."""
    raw = path.read_text(encoding="utf-8") if path.exists() else ""
    telemetry = Telemetry(raw=raw)
    latest: dict[tuple[object, ...], MetricPoint] = {}
    for line in raw.splitlines():
        if not line.strip():
            continue
        request = json.loads(line)
        for resource_spans in request.get("resourceSpans", []):
            resource = attributes_of(resource_spans.get("resource", {}).get("attributes", []))
            _add_resource(telemetry, resource)
            for scope_spans in resource_spans.get("scopeSpans", []):
                scope = scope_spans.get("scope", {}).get("name", "")
                for span in scope_spans.get("spans", []):
                    telemetry.spans.append(_span(resource, scope, span))
        for resource_metrics in request.get("resourceMetrics", []):
            resource = attributes_of(resource_metrics.get("resource", {}).get("attributes", []))
            _add_resource(telemetry, resource)
            for scope_metrics in resource_metrics.get("scopeMetrics", []):
                scope = scope_metrics.get("scope", {}).get("name", "")
                for metric in scope_metrics.get("metrics", []):
                    for point in _points(resource, scope, metric):
                        previous = latest.get(point.series)
                        if previous is None or point.time_ns >= previous.time_ns:
                            latest[point.series] = point
        for resource_logs in request.get("resourceLogs", []):
            resource = attributes_of(resource_logs.get("resource", {}).get("attributes", []))
            _add_resource(telemetry, resource)
            for scope_logs in resource_logs.get("scopeLogs", []):
                scope = scope_logs.get("scope", {}).get("name", "")
                for record in scope_logs.get("logRecords", []):
                    telemetry.logs.append(_log(resource, scope, record))
    telemetry.metrics = list(latest.values())
    return telemetry


def _span(resource: dict[str, Value], scope: str, span: Mapping[str, Any]) -> Span:
    status = span.get("status", {})
    return Span(
        resource=resource,
        scope=scope,
        trace_id=span.get("traceId", ""),
        span_id=span.get("spanId", ""),
        parent_span_id=span.get("parentSpanId", ""),
        name=span.get("name", ""),
        kind=SPAN_KINDS.get(int(span.get("kind", 0)), "UNSPECIFIED"),
        status=STATUS_CODES.get(int(status.get("code", 0)), "UNSET"),
        status_message=status.get("message", ""),
        attributes=attributes_of(span.get("attributes", [])),
        events=tuple(
            Event(event.get("name", ""), attributes_of(event.get("attributes", [])))
            for event in span.get("events", [])
        ),
        links=tuple(
            Link(
                link.get("traceId", ""),
                link.get("spanId", ""),
                attributes_of(link.get("attributes", [])),
            )
            for link in span.get("links", [])
        ),
        start_ns=int(span.get("startTimeUnixNano", 0)),
        end_ns=int(span.get("endTimeUnixNano", 0)),
    )


def _points(resource: dict[str, Value], scope: str, metric: Mapping[str, Any]) -> list[MetricPoint]:
    for type_name in ("histogram", "sum", "gauge", "exponentialHistogram", "summary"):
        if type_name in metric:
            data = metric[type_name]
            break
    else:
        return []
    temporality = TEMPORALITIES.get(int(data.get("aggregationTemporality", 0)), "UNSPECIFIED")
    monotonic = data.get("isMonotonic", False) if type_name == "sum" else None
    points = []
    for point in data.get("dataPoints", []):
        if type_name in ("histogram", "exponentialHistogram", "summary"):
            count = int(point.get("count", 0))
            total = point.get("sum")
        else:
            # A counter's value is its count (of messages, say); a gauge's is not a count.
            total = float(point.get("asDouble", point.get("asInt", 0)))
            count = int(total) if type_name == "sum" else 0
        points.append(
            MetricPoint(
                resource=resource,
                scope=scope,
                name=metric.get("name", ""),
                unit=metric.get("unit", ""),
                description=metric.get("description", ""),
                type=type_name,
                temporality=temporality,
                monotonic=monotonic,
                attributes=attributes_of(point.get("attributes", [])),
                count=count,
                sum=None if total is None else float(total),
                bounds=tuple(float(b) for b in point.get("explicitBounds", [])),
                exemplars=tuple(
                    Exemplar(e.get("traceId", ""), e.get("spanId", ""))
                    for e in point.get("exemplars", [])
                ),
                start_ns=int(point.get("startTimeUnixNano", 0)),
                time_ns=int(point.get("timeUnixNano", 0)),
            )
        )
    return points


def _log(resource: dict[str, Value], scope: str, record: Mapping[str, Any]) -> LogRecord:
    return LogRecord(
        resource=resource,
        scope=scope,
        severity_number=int(record.get("severityNumber", 0)),
        severity_text=record.get("severityText", ""),
        body=value_of(record.get("body", {})),
        attributes=attributes_of(record.get("attributes", [])),
        trace_id=record.get("traceId", ""),
        span_id=record.get("spanId", ""),
        flags=int(record.get("flags", 0)),
        time_ns=int(record.get("timeUnixNano", 0)),
        observed_time_ns=int(record.get("observedTimeUnixNano", 0)),
        fields=frozenset(key for key in record if key != "attributes"),
    )
