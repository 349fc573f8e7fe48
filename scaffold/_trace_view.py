"""The terminal front end of `scaffold dev`: each trace as a waterfall, one tree per trace.

One line per span: the service, the span's name indented under its parent, a bar that shows
when it ran within the trace, its duration, and the few attributes that say what it did (the
HTTP status, the URL a client called, the RPC method, the database operation, the message
destination, the error). Span events, the log lines the services recorded inside a span, come
under it. Written for 80 columns; wider terminals get longer bars.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

import click
from rich.console import Console, Group
from rich.text import Text

from scaffold.dev import DevSink
from scaffold.traces import Span, Trace

__all__ = ["TraceView", "format_duration", "run_dev"]

# Colours given to services in the order they appear, so that one service keeps its colour.
_PALETTE = ("cyan", "magenta", "green", "yellow", "blue", "bright_red")
# Events shown under one span; the rest are counted.
_MAX_EVENTS = 3
_BAR = "█"
# Column widths, in characters.
_GAP = 2
_MAX_SERVICE = 20
_MAX_NAME = 40
_DURATION = 8
_MIN_BAR = 10
_MAX_BAR = 40


def format_duration(ns: int) -> str:
    """A duration in the unit that reads best: 850 µs, 4.2 ms, 1.25 s."""
    if ns < 1_000_000:
        return f"{ns / 1_000:.0f} µs"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:.1f} ms"
    return f"{ns / 1_000_000_000:.2f} s"


class TraceView:
    """Renders traces for one terminal (or one log, when output is not a terminal)."""

    def __init__(self, file: IO[str] | None = None, width: int | None = None) -> None:
        self.console = Console(file=file, width=width, highlight=False, soft_wrap=False)
        self._colours: dict[str, str] = {}

    def show(self, trace: Trace) -> None:
        """Print one trace and a blank line after it."""
        self.console.print(self.render(trace))
        self.console.print()

    def render(self, trace: Trace) -> Group:
        """The header line and the waterfall of one trace."""
        header = Text()
        header.append(f"trace {trace.trace_id}", style="bold")
        spans, services = len(trace.spans), len(trace.services)
        header.append(
            f"  {spans} span{'s' * (spans != 1)}, {services} service{'s' * (services != 1)}, "
            f"{format_duration(trace.duration_ns)}"
        )
        if trace.revision > 1:
            header.append("  (more spans arrived)", style="dim")
        if trace.has_error:
            header.append("  error", style="bold red")
        return Group(header, self._waterfall(trace))

    def _waterfall(self, trace: Trace) -> Group:
        """One line per span, columns aligned; details that do not fit go on the next line."""
        rows = list(trace.walk())
        service_width = min(_MAX_SERVICE, max(len(span.service) for span, _ in rows))
        name_width = min(_MAX_NAME, max(len(_indent(lasts) + span.name) for span, lasts in rows))
        fixed = service_width + name_width + _DURATION + 3 * _GAP
        bar_width = max(_MIN_BAR, min(_MAX_BAR, (self.console.width - fixed) // 3))
        details_at = fixed + bar_width + _GAP
        lines: list[Text] = []
        for span, lasts in rows:
            colour = self._colour(span.service)
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append(_fit(span.service, service_width), style=colour)
            line.append(" " * _GAP)
            line.append(
                _fit(_indent(lasts) + span.name, name_width),
                style="red" if span.status == "error" else "",
            )
            line.append(" " * _GAP)
            line.append(_bar(trace, span, bar_width).ljust(bar_width), style=colour)
            line.append(" " * _GAP)
            line.append(format_duration(span.duration_ns).rjust(_DURATION))
            details = _details(span)
            if not lasts and span.parent_id:
                # A span whose parent never arrived: its caller does not report here.
                details.append(" " * bool(details) + "(parent not received)", style="dim")
            under = " " * (service_width + _GAP) + _indent(lasts, continuation=True)
            under += "│  " if trace.children(span.span_id) else "   "
            if details and details_at + len(details) > self.console.width:
                line.rstrip()
                lines.append(line)
                line = Text(under, no_wrap=True, overflow="ellipsis") + details
            elif details:
                line.append(" " * _GAP)
                line.append_text(details)
            line.rstrip()
            lines.append(line)
            for event in span.events[:_MAX_EVENTS]:
                lines.append(Text(f"{under}• {event.name}", style="dim"))
            if len(span.events) > _MAX_EVENTS:
                more = len(span.events) - _MAX_EVENTS
                lines.append(Text(f"{under}• {more} more events", style="dim"))
        return Group(*lines)

    def _colour(self, service: str) -> str:
        if service not in self._colours:
            self._colours[service] = _PALETTE[len(self._colours) % len(_PALETTE)]
        return self._colours[service]


def _fit(text: str, width: int) -> str:
    """`text` padded or cut (with an ellipsis) to exactly `width` characters."""
    return text.ljust(width) if len(text) <= width else text[: width - 1] + "…"


def _indent(lasts: Sequence[bool], continuation: bool = False) -> str:
    """Tree glyphs for a span at this place in the tree (or for the lines under it)."""
    if not lasts:
        return ""
    ancestors = "".join("   " if last else "│  " for last in lasts[:-1])
    if continuation:
        return ancestors + ("   " if lasts[-1] else "│  ")
    return ancestors + ("└─ " if lasts[-1] else "├─ ")


def _bar(trace: Trace, span: Span, width: int) -> str:
    """Where the span ran within the trace, `width` characters for the whole trace."""
    total = trace.duration_ns or 1
    start = min(width - 1, (span.start_ns - trace.start_ns) * width // total)
    end = max(start + 1, -(-(span.end_ns - trace.start_ns) * width // total))
    return " " * start + _BAR * (min(end, width) - start)


def _details(span: Span) -> Text:
    """The few attributes that say what a span did, by the semantic conventions."""
    attrs = span.attributes
    text = Text()

    def add(value: object, style: str = "") -> None:
        if value is None or value == "":
            return
        if text:
            text.append(" ")
        text.append(str(value), style=style)

    status = attrs.get("http.response.status_code")
    if isinstance(status, int):
        add(status, "red" if status >= 500 else "yellow" if status >= 400 else "")
    if span.kind == "client":
        add(attrs.get("url.full") or _address(attrs))
    add(attrs.get("rpc.method"))
    rpc_status = attrs.get("rpc.response.status_code") or attrs.get("rpc.grpc.status_code")
    if rpc_status not in (None, "OK", 0):
        add(rpc_status, "yellow")
    if attrs.get("db.system.name") or attrs.get("db.system"):
        add(attrs.get("db.system.name") or attrs.get("db.system"))
        add(attrs.get("db.query.summary") or attrs.get("db.operation.name"))
        add(attrs.get("db.collection.name"))
    if attrs.get("messaging.system"):
        add(attrs.get("messaging.operation.name") or attrs.get("messaging.operation.type"))
        add(attrs.get("messaging.destination.name"))
    if span.status == "error":
        add(attrs.get("error.type") or "error", "red")
        add(span.status_message, "red")
        for event in span.events:
            if event.name == "exception":
                add(event.attributes.get("exception.message"), "red")
    return text


def _address(attrs: Mapping[str, Any]) -> str | None:
    host, port = attrs.get("server.address"), attrs.get("server.port")
    if not host:
        return None
    return f"{host}:{port}" if port else str(host)


def run_dev(
    sink: DevSink,
    expect_services: int | None,
    timeout: float,
    echo: Callable[[str], None],
) -> None:
    """Run the sink in the foreground: show every trace, or wait for one across services.

    `echo` prints status lines (to stderr in the CLI); traces go to standard output.

    Raises:
        DevSinkError: the sink cannot start or its collector stopped.
        NoTraceError: `expect_services` is set and no such trace arrived within `timeout`.
    """
    view = TraceView()
    with sink:
        echo(
            f"Receiving OTLP on {sink.grpc_endpoint} (gRPC) and {sink.http_endpoint} (HTTP); "
            "services made by `scaffold new` send here by default."
        )
        if expect_services is None:
            echo("Each trace is shown once it is complete. Ctrl-C stops.")
            try:
                for trace in sink.watch():
                    view.show(trace)
            except KeyboardInterrupt as exc:
                echo(f"Stopped; {sink.span_count} span(s) received.")
                # Ctrl-C is how one ends it; SIGTERM and SIGHUP report themselves as usual.
                if getattr(exc, "signum", signal.SIGINT) != signal.SIGINT:
                    raise
            return
        echo(f"Waiting up to {timeout:g}s for a trace with spans from {expect_services} services.")
        found = sink.wait_for_trace(expect_services, timeout, on_trace=view.show)
        view.show(found)
        services = ", ".join(found.services)
        click.secho(
            f"One trace across {len(found.services)} services ({services}): {found.trace_id}",
            fg="green",
            err=True,
        )
