"""Traces read back from OTLP/JSON: spans grouped by trace, and when a trace is complete.

The collector's file exporter (`format: json`) writes one OTLP export request per line. A trace
arrives in pieces: every service exports its own spans, each on its own schedule (the batch
span processor's delay, 5 s by default), so the Go half of a trace may land seconds before the
Rust half. `TraceAssembler` collects the pieces and says when a trace is *settled*: nothing new
arrived for a short quiet period and no piece is visibly missing (a client span without the
server span it called, a span without its parent), or, if a piece is missing, the longest
export delay has passed. A piece that still arrives later makes the trace settled again, as a
new revision.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

__all__ = [
    "Span",
    "SpanEvent",
    "SpanKind",
    "SpanStatus",
    "Trace",
    "TraceAssembler",
    "spans_from_request",
]

SpanKind = Literal["unspecified", "internal", "server", "client", "producer", "consumer"]
SpanStatus = Literal["unset", "ok", "error"]

_KINDS: dict[Any, SpanKind] = {
    0: "unspecified",
    1: "internal",
    2: "server",
    3: "client",
    4: "producer",
    5: "consumer",
    "SPAN_KIND_UNSPECIFIED": "unspecified",
    "SPAN_KIND_INTERNAL": "internal",
    "SPAN_KIND_SERVER": "server",
    "SPAN_KIND_CLIENT": "client",
    "SPAN_KIND_PRODUCER": "producer",
    "SPAN_KIND_CONSUMER": "consumer",
}
_STATUSES: dict[Any, SpanStatus] = {
    0: "unset",
    1: "ok",
    2: "error",
    "STATUS_CODE_UNSET": "unset",
    "STATUS_CODE_OK": "ok",
    "STATUS_CODE_ERROR": "error",
}
# Kinds of span that call out of the service: the callee's span belongs under them.
_OUTGOING = frozenset(("client", "producer"))


@dataclass(frozen=True)
class SpanEvent:
    """Something that happened during a span: a log record, an exception.

    A log record the service exported with the span's ids counts as an event of that span; its
    name is the record's body.
    """

    name: str
    time_ns: int
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Span:
    """One span, with the `service.name` of the resource that reported it."""

    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: SpanKind
    service: str
    start_ns: int
    end_ns: int
    status: SpanStatus = "unset"
    status_message: str = ""
    attributes: Mapping[str, Any] = field(default_factory=dict)
    events: tuple[SpanEvent, ...] = ()

    @property
    def duration_ns(self) -> int:
        """How long the span took (0 for a span that ends before it starts)."""
        return max(0, self.end_ns - self.start_ns)


@dataclass(frozen=True)
class Trace:
    """The spans of one trace received so far, in start order.

    Attributes:
        trace_id: 32 lowercase hex digits.
        spans: every span received, ordered by start time.
        revision: 1 the first time the trace is settled, one more each time later spans
            settle it again.
    """

    trace_id: str
    spans: tuple[Span, ...]
    revision: int = 1

    @property
    def services(self) -> tuple[str, ...]:
        """The services with spans in the trace, in the order they joined it."""
        return tuple(dict.fromkeys(span.service for span in self.spans))

    @property
    def start_ns(self) -> int:
        """When the earliest span started."""
        return min(span.start_ns for span in self.spans)

    @property
    def end_ns(self) -> int:
        """When the last span ended."""
        return max(span.end_ns for span in self.spans)

    @property
    def duration_ns(self) -> int:
        """From the first start to the last end."""
        return max(0, self.end_ns - self.start_ns)

    @property
    def has_error(self) -> bool:
        """Whether any span has the error status."""
        return any(span.status == "error" for span in self.spans)

    def roots(self) -> list[Span]:
        """Spans whose parent is not in the trace: the true root, and any span cut off from it."""
        ids = {span.span_id for span in self.spans}
        return [span for span in self.spans if span.parent_id not in ids]

    def children(self, span_id: str) -> list[Span]:
        """The direct children of a span, in start order."""
        return [span for span in self.spans if span.parent_id == span_id]

    @property
    def connected(self) -> bool:
        """Whether every span hangs from one root: the trace reads as one tree."""
        return len(self.roots()) == 1

    def walk(self) -> Iterator[tuple[Span, tuple[bool, ...]]]:
        """Every span depth first, under its parent, with where it stands in the tree.

        Yields:
            (span, lasts): `lasts` has one entry per ancestor level below the root and the
            span's own level, True where that node is the last child of its parent. A root
            yields an empty tuple. This is what a tree drawing needs.
        """

        def visit(span: Span, lasts: tuple[bool, ...]) -> Iterator[tuple[Span, tuple[bool, ...]]]:
            yield span, lasts
            children = self.children(span.span_id)
            for index, child in enumerate(children):
                yield from visit(child, (*lasts, index == len(children) - 1))

        for root in self.roots():
            yield from visit(root, ())

    def missing_pieces(self) -> bool:
        """Whether a part of the trace visibly has not arrived yet.

        A client or producer span without a child is waiting for the span of the service it
        called; a span whose parent is absent is waiting for its parent (unless the parent is
        outside of everything that reports here, which only time tells).
        """
        parents = {span.parent_id for span in self.spans}
        if any(s.kind in _OUTGOING and s.span_id not in parents for s in self.spans):
            return True
        return any(root.parent_id for root in self.roots())


def spans_from_request(request: Mapping[str, Any]) -> Iterator[Span]:
    """The spans of one OTLP/JSON trace export request (`{"resourceSpans": [...]}`).

    Malformed parts are skipped rather than refused: this reads what a collector wrote, to
    show it, and one odd span must not hide the others.
    """
    for resource_spans in _list(request.get("resourceSpans")):
        resource = _attributes(_dict(resource_spans.get("resource")).get("attributes"))
        service = str(resource.get("service.name") or "unknown_service")
        for scope_spans in _list(resource_spans.get("scopeSpans")):
            for raw in _list(scope_spans.get("spans")):
                span = _span(raw, service)
                if span is not None:
                    yield span


def logs_from_request(request: Mapping[str, Any]) -> Iterator[tuple[str, str, SpanEvent]]:
    """The log records of one OTLP/JSON log export request that were written inside a span.

    Yields (trace id, span id, the record as an event). Records outside any span are left out.
    """
    for resource_logs in _list(request.get("resourceLogs")):
        for scope_logs in _list(resource_logs.get("scopeLogs")):
            for raw in _list(scope_logs.get("logRecords")):
                if not isinstance(raw, dict):
                    continue
                trace_id, span_id = raw.get("traceId"), raw.get("spanId")
                if not isinstance(trace_id, str) or not isinstance(span_id, str):
                    continue
                if not trace_id.strip("0") or not span_id.strip("0"):
                    continue
                body = _value(raw.get("body"))
                attributes = _attributes(raw.get("attributes"))
                if raw.get("severityText"):
                    attributes["log.severity"] = str(raw["severityText"])
                time_ns = _int(raw.get("timeUnixNano")) or _int(raw.get("observedTimeUnixNano"))
                event = SpanEvent(name=str(body or ""), time_ns=time_ns, attributes=attributes)
                yield trace_id.lower(), span_id.lower(), event


class TraceAssembler:
    """Collects spans into traces and hands each trace out once it is settled.

    `add_line` and `add_request` take what the collector wrote; `settled` returns the traces
    that became complete (or complete again) since it was last called.

    Args:
        quiet: seconds without a new span of a trace before it may be shown.
        max_wait: seconds without a new span after which a trace is shown even though a piece
            is visibly missing: the longest export delay of the services that report here.
        max_traces: traces kept; the oldest are forgotten first.
    """

    def __init__(self, quiet: float = 1.0, max_wait: float = 6.0, max_traces: int = 1000) -> None:
        self.quiet = quiet
        self.max_wait = max_wait
        self.max_traces = max_traces
        self.span_count = 0
        self._spans: dict[str, dict[str, Span]] = {}
        # Log records by trace and span: they may arrive before or after their span.
        self._logs: dict[str, dict[str, dict[tuple[int, str], SpanEvent]]] = {}
        self._arrived: dict[str, float] = {}
        self._revision: dict[str, int] = {}
        self._pending: set[str] = set()

    def add_line(self, line: str, now: float) -> int:
        """Add the spans and log records of one line of the collector's file output.

        Returns how many spans were new.
        """
        if not line.strip():
            return 0
        try:
            request = json.loads(line)
        except ValueError:
            return 0
        return self.add_request(request, now) if isinstance(request, dict) else 0

    def add_request(self, request: Mapping[str, Any], now: float) -> int:
        """Add the spans or log records of one OTLP/JSON export request.

        Returns how many spans were new. A log record written inside a span shows as an event
        of that span; a trace already shown is shown again with it.
        """
        for trace_id, span_id, event in logs_from_request(request):
            events = self._logs.setdefault(trace_id, {}).setdefault(span_id, {})
            if (event.time_ns, event.name) in events:
                continue  # a retried export
            events[(event.time_ns, event.name)] = event
            while len(self._logs) > self.max_traces:  # unsampled traces log too
                del self._logs[next(iter(self._logs))]
            if trace_id in self._spans:
                self._arrived[trace_id] = now
                self._pending.add(trace_id)
        added = 0
        for span in spans_from_request(request):
            spans = self._spans.setdefault(span.trace_id, {})
            if span.span_id in spans:
                continue  # a retried export delivers the same span twice
            spans[span.span_id] = span
            self._arrived[span.trace_id] = now
            self._pending.add(span.trace_id)
            added += 1
        self.span_count += added
        self._forget_oldest()
        return added

    def settled(self, now: float) -> list[Trace]:
        """Traces that are complete by now and were not handed out in this state before."""
        ready = []
        for trace_id in sorted(self._pending, key=self._arrived.__getitem__):
            waited = now - self._arrived[trace_id]
            if waited < self.quiet:
                continue
            revision = self._revision.get(trace_id, 0) + 1
            trace = self._trace(trace_id, revision)
            if waited < self.max_wait and trace.missing_pieces():
                continue
            self._pending.discard(trace_id)
            self._revision[trace_id] = revision
            ready.append(trace)
        return ready

    def flush(self) -> list[Trace]:
        """Every trace not handed out in its current state, settled or not (at the end)."""
        return self.settled(now=float("inf"))

    def find(self, services: int) -> Trace | None:
        """The first trace that reads as one tree with spans from at least `services` services."""
        for trace_id in self._spans:
            trace = self._trace(trace_id)
            if len(trace.services) >= services and trace.connected:
                return trace
        return None

    def traces(self) -> list[Trace]:
        """Every trace kept, oldest first."""
        return [self._trace(trace_id) for trace_id in self._spans]

    def _trace(self, trace_id: str, revision: int | None = None) -> Trace:
        spans = sorted(
            (self._with_logs(span) for span in self._spans[trace_id].values()),
            key=lambda s: (s.start_ns, s.span_id),
        )
        if revision is None:
            revision = max(1, self._revision.get(trace_id, 0))
        return Trace(trace_id, tuple(spans), revision)

    def _with_logs(self, span: Span) -> Span:
        logs = self._logs.get(span.trace_id, {}).get(span.span_id)
        if not logs:
            return span
        events = sorted((*span.events, *logs.values()), key=lambda e: e.time_ns)
        return replace(span, events=tuple(events))

    def _forget_oldest(self) -> None:
        while len(self._spans) > self.max_traces:
            oldest = next(iter(self._spans))
            del self._spans[oldest]
            self._logs.pop(oldest, None)
            self._arrived.pop(oldest, None)
            self._revision.pop(oldest, None)
            self._pending.discard(oldest)


# -- OTLP/JSON decoding ------------------------------------------------------------------------


def _span(raw: Any, service: str) -> Span | None:
    if not isinstance(raw, dict):
        return None
    trace_id, span_id = raw.get("traceId"), raw.get("spanId")
    if not isinstance(trace_id, str) or not isinstance(span_id, str) or not trace_id:
        return None
    status = _dict(raw.get("status"))
    return Span(
        trace_id=trace_id.lower(),
        span_id=span_id.lower(),
        parent_id=str(raw.get("parentSpanId") or "").lower(),
        name=str(raw.get("name") or ""),
        kind=_KINDS.get(raw.get("kind", 0), "unspecified"),
        service=service,
        start_ns=_int(raw.get("startTimeUnixNano")),
        end_ns=_int(raw.get("endTimeUnixNano")),
        status=_STATUSES.get(status.get("code", 0), "unset"),
        status_message=str(status.get("message") or ""),
        attributes=_attributes(raw.get("attributes")),
        events=tuple(_events(raw.get("events"))),
    )


def _events(raw: Any) -> Iterable[SpanEvent]:
    for event in _list(raw):
        if isinstance(event, dict):
            yield SpanEvent(
                name=str(event.get("name") or ""),
                time_ns=_int(event.get("timeUnixNano")),
                attributes=_attributes(event.get("attributes")),
            )


def _attributes(raw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in _list(raw):
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            out[item["key"]] = _value(item.get("value"))
    return out


def _value(raw: Any) -> Any:
    """An OTLP AnyValue as a plain Python value (int64 values arrive as JSON strings)."""
    if not isinstance(raw, dict) or not raw:
        return None
    kind, value = next(iter(raw.items()))
    if kind == "intValue":
        return _int(value)
    if kind == "arrayValue":
        return [_value(v) for v in _list(_dict(value).get("values"))]
    if kind == "kvlistValue":
        return _attributes(_dict(value).get("values"))
    return value


def _int(raw: Any) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        return 0


def _list(raw: Any) -> list[Any]:
    return raw if isinstance(raw, list) else []


def _dict(raw: Any) -> dict[str, Any]:
    return raw if isinstance(raw, dict) else {}
