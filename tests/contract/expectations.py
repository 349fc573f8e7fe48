"""THE CONTRACT: what every generated service emits, as one table.

Read top to bottom: the semantic-conventions version both languages follow, the attribute tables
of every kind of span the services make, the metrics, and then the scenario script: each step,
the request the tier sends, the answer it expects and every span that request must produce.
Metric data points are derived from those spans (a span and its metric carry the same
attributes, as the conventions pair them), so they are not listed twice.

Values only known at run time are written as `{name}` placeholders or `Ref("name")`:
`service`, `org`, `main_port`, `main_grpc_port`, `closed_port`, the secrets `secret_*`, and,
per scenario, `response_body_size`.

docs/telemetry-contract.md renders this table for readers; change both together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .model import (
    ANY,
    Absent,
    Attr,
    Context,
    Convention,
    Is,
    Level,
    Matcher,
    MetricSpec,
    Ref,
    Request,
    Response,
    Scenario,
    SpanSpec,
)
from .otlp import Value

# The semantic conventions both languages follow: what otelhttp and otelgrpc v0.72 implement
# (they import go.opentelemetry.io/otel/semconv/v1.43.0) and the schema URL of the resource.
SEMCONV_VERSION = "1.43.0"
SCHEMA_URL = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"

REQUIRED, CONDITIONAL, RECOMMENDED = Level.REQUIRED, Level.CONDITIONAL, Level.RECOMMENDED
ADOPTED, ALLOWED, FORBIDDEN = Level.ADOPTED, Level.ALLOWED, Level.FORBIDDEN

# Histogram bucket boundaries the conventions advise, in seconds.
DURATION_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
DB_DURATION_BOUNDS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)

# Log severities: the policy's level names and the OTLP severity numbers they map to.
SEVERITIES = {"DEBUG": 5, "INFO": 9, "WARN": 13, "ERROR": 17}

# gRPC status codes a server counts as its own failure (semconv gRPC server span, note [1]).
GRPC_SERVER_ERRORS = {
    "UNKNOWN",
    "DEADLINE_EXCEEDED",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
}

_SERVER_METRIC_ADDRESS = (
    "policy: a client-controlled Host or :authority must not create metric series"
)
_QUERY_TEXT = "policy database.record_query_text is false"

# --- Spans ------------------------------------------------------------------------------------

# What tracing-opentelemetry adds to every span unless told not to (code location, thread,
# busy/idle time, the tracing target). Go records none of them.
_EXTRAS = "policy spans.extra_attributes is false"
EXTRA_SPAN_ATTRIBUTES = {
    "code.file.path": Attr("string", FORBIDDEN, _EXTRAS),
    "code.line.number": Attr("int", FORBIDDEN, _EXTRAS),
    "code.module.name": Attr("string", FORBIDDEN, _EXTRAS),
    "code.function.name": Attr("string", FORBIDDEN, _EXTRAS),
    "thread.id": Attr("int", FORBIDDEN, _EXTRAS),
    "thread.name": Attr("string", FORBIDDEN, _EXTRAS),
    "busy_ns": Attr("int", FORBIDDEN, _EXTRAS),
    "idle_ns": Attr("int", FORBIDDEN, _EXTRAS),
    "target": Attr("string", FORBIDDEN, _EXTRAS),
}

HTTP_SERVER = Convention(
    title="HTTP server span",
    kind="SERVER",
    attributes={
        **EXTRA_SPAN_ATTRIBUTES,
        "http.request.method": Attr("string", REQUIRED),
        "url.path": Attr("string", REQUIRED),
        "url.scheme": Attr("string", REQUIRED),
        "http.response.status_code": Attr("int", CONDITIONAL),
        "http.route": Attr("string", CONDITIONAL),
        "error.type": Attr("string", CONDITIONAL),
        "http.request.method_original": Attr("string", CONDITIONAL),
        "url.query": Attr("string", CONDITIONAL),
        "server.port": Attr("int", CONDITIONAL),
        "network.protocol.name": Attr("string", CONDITIONAL),
        "client.address": Attr("string", RECOMMENDED),
        "network.peer.address": Attr("string", RECOMMENDED),
        "network.peer.port": Attr("int", RECOMMENDED),
        "network.protocol.version": Attr("string", RECOMMENDED),
        "server.address": Attr("string", RECOMMENDED),
        "user_agent.original": Attr("string", RECOMMENDED),
        "http.request.body.size": Attr("int", ADOPTED),
        "http.response.body.size": Attr("int", ADOPTED),
        "client.port": Attr("int", ALLOWED),
        "http.request.size": Attr("int", ALLOWED),
        "http.response.size": Attr("int", ALLOWED),
        "network.local.address": Attr("string", ALLOWED),
        "network.local.port": Attr("int", ALLOWED),
        "network.transport": Attr("string", ALLOWED),
        "user_agent.synthetic.type": Attr("string", ALLOWED),
        # The bundled policy's http.redacted_headers, never recorded.
        **{
            f"http.request.header.{name}": Attr(
                "string[]", FORBIDDEN, "policy http.redacted_headers"
            )
            for name in (
                "authorization",
                "cookie",
                "set-cookie",
                "proxy-authorization",
                "x-api-key",
            )
        },
        # Org attributes a request carries as baggage members (policy attribute registry).
        "acme.tenant.id": Attr("string", CONDITIONAL),
        "acme.team": Attr("string", CONDITIONAL),
        "acme.owner": Attr("string", CONDITIONAL),
    },
    families={
        "http.request.header.": Attr("string[]", CONDITIONAL),
        "http.response.header.": Attr("string[]", ALLOWED),
    },
    metrics=("http.server.request.duration",),
)

HTTP_CLIENT = Convention(
    title="HTTP client span",
    kind="CLIENT",
    attributes={
        **EXTRA_SPAN_ATTRIBUTES,
        "http.request.method": Attr("string", REQUIRED),
        "server.address": Attr("string", REQUIRED),
        "server.port": Attr("int", REQUIRED),
        "url.full": Attr("string", REQUIRED),
        "http.response.status_code": Attr("int", CONDITIONAL),
        "error.type": Attr("string", CONDITIONAL),
        "http.request.method_original": Attr("string", CONDITIONAL),
        "network.protocol.name": Attr("string", CONDITIONAL),
        "network.protocol.version": Attr("string", RECOMMENDED),
        "http.request.resend_count": Attr("int", CONDITIONAL),
        "network.peer.address": Attr("string", ALLOWED),
        "network.peer.port": Attr("int", ALLOWED),
        "http.request.body.size": Attr("int", ADOPTED),
        "http.response.body.size": Attr("int", ALLOWED),
        "url.scheme": Attr("string", ALLOWED),
        "url.template": Attr("string", ALLOWED),
        "user_agent.original": Attr("string", ALLOWED),
    },
    families={
        "http.request.header.": Attr("string[]", ALLOWED),
        "http.response.header.": Attr("string[]", ALLOWED),
    },
    metrics=("http.client.request.duration",),
)

_RPC = {
    "rpc.system.name": Attr("string", REQUIRED),
    "rpc.method": Attr("string", REQUIRED),
    "rpc.response.status_code": Attr("string", REQUIRED),
    "error.type": Attr("string", CONDITIONAL),
    "rpc.method_original": Attr("string", CONDITIONAL),
    "network.peer.address": Attr("string", ALLOWED),
    "network.peer.port": Attr("int", ALLOWED),
    "network.protocol.name": Attr("string", ALLOWED),
    "network.protocol.version": Attr("string", ALLOWED),
    "network.transport": Attr("string", ALLOWED),
    # The HTTP/2 request under a gRPC call is not an HTTP span.
    "url.full": Attr("string", FORBIDDEN, "a gRPC call is described by rpc.*, not by its URL"),
}

RPC_SERVER = Convention(
    title="gRPC server span",
    kind="SERVER",
    attributes={
        **EXTRA_SPAN_ATTRIBUTES,
        **_RPC,
        "server.address": Attr("string", RECOMMENDED),
        "server.port": Attr("int", RECOMMENDED),
        "client.address": Attr("string", ALLOWED),
        "client.port": Attr("int", ALLOWED),
    },
    families={"rpc.request.metadata.": Attr("string[]", ALLOWED)},
    metrics=("rpc.server.call.duration",),
)

RPC_CLIENT = Convention(
    title="gRPC client span",
    kind="CLIENT",
    attributes={
        **EXTRA_SPAN_ATTRIBUTES,
        **_RPC,
        "server.address": Attr("string", CONDITIONAL),
        "server.port": Attr("int", CONDITIONAL),
    },
    families={"rpc.request.metadata.": Attr("string[]", ALLOWED)},
    metrics=("rpc.client.call.duration",),
)

DB_CLIENT = Convention(
    title="database client span",
    kind="CLIENT",
    attributes={
        **EXTRA_SPAN_ATTRIBUTES,
        "db.system.name": Attr("string", REQUIRED),
        "db.collection.name": Attr("string", CONDITIONAL),
        "db.namespace": Attr("string", CONDITIONAL),
        "db.operation.name": Attr("string", CONDITIONAL),
        "db.response.status_code": Attr("string", CONDITIONAL),
        "error.type": Attr("string", CONDITIONAL),
        "server.port": Attr("int", CONDITIONAL),
        "db.operation.batch.size": Attr("int", CONDITIONAL),
        "db.query.summary": Attr("string", ALLOWED),
        "db.stored_procedure.name": Attr("string", ALLOWED),
        "server.address": Attr("string", ALLOWED),
        "network.peer.address": Attr("string", ALLOWED),
        "network.peer.port": Attr("int", ALLOWED),
        "db.response.returned_rows": Attr("int", ALLOWED),
        "db.query.text": Attr("string", FORBIDDEN, _QUERY_TEXT),
    },
    families={"db.query.parameter.": Attr("string", FORBIDDEN, _QUERY_TEXT)},
    metrics=("db.client.operation.duration",),
)

_MESSAGING = {
    "messaging.operation.name": Attr("string", REQUIRED),
    "messaging.system": Attr("string", REQUIRED),
    "messaging.destination.name": Attr("string", CONDITIONAL),
    "messaging.operation.type": Attr("string", CONDITIONAL),
    "error.type": Attr("string", CONDITIONAL),
    "messaging.batch.message_count": Attr("int", CONDITIONAL),
    "messaging.consumer.group.name": Attr("string", CONDITIONAL),
    "messaging.destination.subscription.name": Attr("string", CONDITIONAL),
    "messaging.destination.template": Attr("string", CONDITIONAL),
    "messaging.destination.anonymous": Attr("bool", CONDITIONAL),
    "messaging.destination.temporary": Attr("bool", CONDITIONAL),
    "server.address": Attr("string", CONDITIONAL),
    "server.port": Attr("int", ALLOWED),
    "messaging.client.id": Attr("string", ALLOWED),
    "messaging.message.id": Attr("string", ALLOWED),
    "messaging.message.conversation_id": Attr("string", ALLOWED),
    "messaging.message.body.size": Attr("int", ALLOWED),
    "messaging.message.envelope.size": Attr("int", ALLOWED),
    "messaging.destination.partition.id": Attr("string", ALLOWED),
    "network.peer.address": Attr("string", ALLOWED),
    "network.peer.port": Attr("int", ALLOWED),
}

MESSAGING_PRODUCER = Convention(
    title="messaging send span",
    kind="PRODUCER",
    attributes={**EXTRA_SPAN_ATTRIBUTES, **_MESSAGING},
    metrics=("messaging.client.operation.duration", "messaging.client.sent.messages"),
)

MESSAGING_CONSUMER = Convention(
    title="messaging process span",
    kind="CONSUMER",
    attributes={**EXTRA_SPAN_ATTRIBUTES, **_MESSAGING},
    metrics=("messaging.process.duration", "messaging.client.consumed.messages"),
)

CONVENTIONS = (
    HTTP_SERVER,
    HTTP_CLIENT,
    RPC_SERVER,
    RPC_CLIENT,
    DB_CLIENT,
    MESSAGING_PRODUCER,
    MESSAGING_CONSUMER,
)

# --- Metrics ----------------------------------------------------------------------------------
# Every metric a service exports is listed here; any other is "not in the contract". Optional
# metrics an upstream library records but can drop with a View (the HTTP body-size
# histograms, otelsql's db.sql.connection.*) are left out on purpose.

_HTTP_PROTOCOL = {"network.protocol.name": Is("http")}
# The attributes of the messaging metrics: those of messaging.process.duration and
# messaging.client.consumed.messages; the others differ by the entries noted where they are used.
_MESSAGING_METRIC = {
    "messaging.operation.name": Attr("string", REQUIRED),
    "messaging.system": Attr("string", REQUIRED),
    "messaging.destination.name": Attr("string", CONDITIONAL),
    "error.type": Attr("string", CONDITIONAL),
    "server.address": Attr("string", CONDITIONAL),
    "messaging.consumer.group.name": Attr("string", CONDITIONAL),
    "messaging.destination.subscription.name": Attr("string", CONDITIONAL),
    "messaging.destination.template": Attr("string", CONDITIONAL),
    "messaging.destination.partition.id": Attr("string", ALLOWED),
    "server.port": Attr("int", ALLOWED),
}
# What a producer's messaging.client.sent.messages leaves out.
_CONSUMER_ONLY = ("messaging.consumer.group.name", "messaging.destination.subscription.name")

METRICS = {
    spec.name: spec
    for spec in (
        MetricSpec(
            name="http.server.request.duration",
            instrument="histogram",
            unit="s",
            bounds=DURATION_BOUNDS,
            attributes={
                "http.request.method": Attr("string", REQUIRED),
                "url.scheme": Attr("string", REQUIRED),
                "http.response.status_code": Attr("int", CONDITIONAL),
                "http.route": Attr("string", CONDITIONAL),
                "error.type": Attr("string", CONDITIONAL),
                "network.protocol.version": Attr("string", RECOMMENDED),
                "network.protocol.name": Attr("string", ADOPTED),
                "user_agent.synthetic.type": Attr("string", ALLOWED),
                "server.address": Attr("string", FORBIDDEN, _SERVER_METRIC_ADDRESS),
                "server.port": Attr("int", FORBIDDEN, _SERVER_METRIC_ADDRESS),
            },
            values=_HTTP_PROTOCOL,
        ),
        MetricSpec(
            name="http.client.request.duration",
            instrument="histogram",
            unit="s",
            bounds=DURATION_BOUNDS,
            attributes={
                "http.request.method": Attr("string", REQUIRED),
                "server.address": Attr("string", REQUIRED),
                "server.port": Attr("int", REQUIRED),
                "http.response.status_code": Attr("int", CONDITIONAL),
                "error.type": Attr("string", CONDITIONAL),
                "network.protocol.version": Attr("string", RECOMMENDED),
                "network.protocol.name": Attr("string", ADOPTED),
                "url.scheme": Attr("string", ADOPTED),
                "url.template": Attr("string", ALLOWED),
            },
            values={**_HTTP_PROTOCOL, "url.scheme": Is("http")},
        ),
        MetricSpec(
            name="rpc.server.call.duration",
            instrument="histogram",
            unit="s",
            bounds=DURATION_BOUNDS,
            attributes={
                "rpc.system.name": Attr("string", REQUIRED),
                "rpc.method": Attr("string", CONDITIONAL),
                "rpc.response.status_code": Attr("string", CONDITIONAL),
                "error.type": Attr("string", CONDITIONAL),
                "server.address": Attr("string", FORBIDDEN, _SERVER_METRIC_ADDRESS),
                "server.port": Attr("int", FORBIDDEN, _SERVER_METRIC_ADDRESS),
            },
        ),
        MetricSpec(
            name="rpc.client.call.duration",
            instrument="histogram",
            unit="s",
            bounds=DURATION_BOUNDS,
            attributes={
                "rpc.system.name": Attr("string", REQUIRED),
                "rpc.method": Attr("string", CONDITIONAL),
                "rpc.response.status_code": Attr("string", CONDITIONAL),
                "error.type": Attr("string", CONDITIONAL),
                "server.address": Attr("string", CONDITIONAL),
                "server.port": Attr("int", CONDITIONAL),
            },
        ),
        MetricSpec(
            name="db.client.operation.duration",
            instrument="histogram",
            unit="s",
            bounds=DB_DURATION_BOUNDS,
            attributes={
                "db.system.name": Attr("string", REQUIRED),
                "db.collection.name": Attr("string", CONDITIONAL),
                "db.namespace": Attr("string", CONDITIONAL),
                "db.operation.name": Attr("string", CONDITIONAL),
                "db.response.status_code": Attr("string", CONDITIONAL),
                "error.type": Attr("string", CONDITIONAL),
                "server.port": Attr("int", CONDITIONAL),
                "server.address": Attr("string", ALLOWED),
                "db.query.summary": Attr("string", ALLOWED),
                "db.stored_procedure.name": Attr("string", ALLOWED),
                "network.peer.address": Attr("string", ALLOWED),
                "network.peer.port": Attr("int", ALLOWED),
                "db.query.text": Attr("string", FORBIDDEN, _QUERY_TEXT),
            },
        ),
        MetricSpec(
            name="messaging.client.operation.duration",
            instrument="histogram",
            unit="s",
            bounds=DURATION_BOUNDS,
            attributes=_MESSAGING_METRIC
            | {"messaging.operation.type": Attr("string", CONDITIONAL)},
        ),
        MetricSpec(
            name="messaging.client.sent.messages",
            instrument="sum",
            unit="{message}",
            attributes={k: v for k, v in _MESSAGING_METRIC.items() if k not in _CONSUMER_ONLY},
        ),
        MetricSpec(
            name="messaging.process.duration",
            instrument="histogram",
            unit="s",
            bounds=DURATION_BOUNDS,
            attributes=_MESSAGING_METRIC,
        ),
        MetricSpec(
            name="messaging.client.consumed.messages",
            instrument="sum",
            unit="{message}",
            attributes=_MESSAGING_METRIC,
        ),
    )
}


class ResponseBodySize(Matcher):
    """`http.response.body.size`: the length of the body the tier received, absent when empty."""

    def _expected(self, ctx: Context) -> Matcher:
        size = int(str(ctx["response_body_size"]))
        return Is(size) if size else Absent("the answer had no body")

    def problem(self, value: Value | None, type_: str, ctx: Context) -> str | None:
        return self._expected(ctx).problem(value, type_, ctx)

    def describe(self, type_: str, ctx: Context) -> str:
        return self._expected(ctx).describe(type_, ctx)


# --- Span builders: the values a request of the scenario script must produce ---------------

USER_AGENT = "contract-tier/1.0"
LOOPBACK = "127.0.0.1"


def http_server(
    name: str,
    *,
    path: str,
    status: int,
    route: str | None = None,
    method: str = "GET",
    method_original: str | None = None,
    query: str | None = None,
    request_body: int = 0,
    from_tier: bool = True,
    parent: int | None = None,
    logs: tuple[str, ...] = (),
    also: Mapping[str, Matcher] | None = None,
) -> SpanSpec:
    """An HTTP server span of a process's public listener (the scenario's, unless `also` says).

    A request `from_tier` has the tier's User-Agent; the others come from the service's own
    HTTP client, which sends a User-Agent of its own. Either way the answer's body reached the
    tier, directly or relayed by /call.
    `also` adds the values a scenario fixes beyond these.
    """
    attributes: dict[str, Matcher] = {
        "http.request.method": Is(method),
        "url.path": Is(path),
        "url.scheme": Is("http"),
        "http.response.status_code": Is(status),
        "server.address": Is(LOOPBACK),
        "server.port": Is(Ref("port")),
        "client.address": Is(LOOPBACK),
        "network.peer.address": Is(LOOPBACK),
        "network.peer.port": ANY,
        "network.protocol.version": Is("1.1"),
        "user_agent.original": Is(USER_AGENT) if from_tier else ANY,
        "http.request.header.user-agent": Is((USER_AGENT,)) if from_tier else ANY,
        # What the tier received: the answer itself, or the downstream's answer relayed.
        "http.response.body.size": ResponseBodySize(),
    }
    if route is not None:
        attributes["http.route"] = Is(route)
    if method_original is not None:
        attributes["http.request.method_original"] = Is(method_original)
    if query is not None:
        attributes["url.query"] = Is(query)
    if request_body:
        attributes["http.request.body.size"] = Is(request_body)
    if status >= 500:
        attributes["error.type"] = Is(str(status))
    attributes.update(also or {})
    return SpanSpec(
        HTTP_SERVER,
        name,
        attributes,
        status="ERROR" if status >= 500 else "UNSET",
        parent=parent,
        logs=logs,
    )


def http_client(*, url: str, port: str, status: int | None, parent: int) -> SpanSpec:
    """The span of a GET through the service's instrumented HTTP client."""
    attributes: dict[str, Matcher] = {
        "http.request.method": Is("GET"),
        "server.address": Is(LOOPBACK),
        "server.port": Is(Ref(port)),
        "url.full": Is(url),
        # The version the client speaks over plain http, known before any answer.
        "network.protocol.version": Is("1.1"),
    }
    if status is None:
        # No answer: the connection was refused. error.type names the error's type.
        attributes["error.type"] = ANY
    else:
        attributes["http.response.status_code"] = Is(status)
        if status >= 400:
            attributes["error.type"] = Is(str(status))
    failed = status is None or status >= 400
    return SpanSpec(HTTP_CLIENT, "GET", attributes, "ERROR" if failed else "UNSET", parent)


GREETER = "{org}.demo.v1.Greeter/SayHello"


def rpc(convention: Convention, code: str, parent: int) -> SpanSpec:
    """A span of the demo Greeter's unary SayHello, called on the main process's gRPC port."""
    attributes: dict[str, Matcher] = {
        "rpc.system.name": Is("grpc"),
        "rpc.method": Is(GREETER),
        "rpc.response.status_code": Is(code),
        "server.address": Is(LOOPBACK),
        "server.port": Is(Ref("main_grpc_port")),
    }
    failed = code != "OK" and (convention is RPC_CLIENT or code in GRPC_SERVER_ERRORS)
    if failed:
        attributes["error.type"] = Is(code)
    return SpanSpec(convention, GREETER, attributes, "ERROR" if failed else "UNSET", parent)


def messaging(convention: Convention, operation: str, parent: int) -> SpanSpec:
    """A span of the in-process queue `messages`.

    The process span continues the producer's trace (one message: the parent is allowed) and
    links to the producer's span, the message's creation context, as the conventions ask: a
    link, unlike a parent, also works for batches and for traces cut at the queue.
    """
    attributes: dict[str, Matcher] = {
        "messaging.operation.name": Is(operation),
        "messaging.operation.type": Is(operation),
        "messaging.system": ANY,
        "messaging.destination.name": Is("messages"),
    }
    links = (parent,) if convention is MESSAGING_CONSUMER else ()
    return SpanSpec(convention, f"{operation} messages", attributes, parent=parent, links=links)


HELLO = {"service": "{service}", "message": "hello"}

# The processes of one build a run starts, by name, with their DOWNSTREAM_URL; each listens on
# `{name}_port` and `{name}_grpc_port`, and its GRPC_TARGET is its own gRPC port, so every span
# of a run comes from one language.
PROCESSES = {
    # Calls its own /hello, a secret in the query.
    "main": "http://127.0.0.1:{main_port}/hello?token={secret_downstream}&page=1",
    # Calls a closed port.
    "broken": "http://127.0.0.1:{closed_port}/hello?token={secret_closed}",
    # Calls a path of the main process that no route matches: a 4xx for its client.
    "relay": "http://127.0.0.1:{main_port}/no/such/route?token={secret_relay}",
}

# The secrets the script plants; none may show up anywhere.
SECRETS = (
    "secret_query",
    "secret_auth",
    "secret_cookie",
    "secret_downstream",
    "secret_closed",
    "secret_relay",
)

# --- The scenario script ----------------------------------------------------------------------
# Sent in this order to both languages, each request with its own sampled `traceparent` (so its
# trace is known) and `User-Agent: contract-tier/1.0`. Span 0 is the server span of the request
# the tier sends; `parent=N` points at span N of the same scenario.

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "publish",
        "POST /messages publishes to the in-process queue; the consumer processes it",
        Request("POST", "/messages", body=b"order-1"),
        Response(202),
        (
            http_server(
                "POST /messages",
                path="/messages",
                route="/messages",
                method="POST",
                status=202,
                request_body=7,
            ),
            messaging(MESSAGING_PRODUCER, "send", parent=0),
            messaging(MESSAGING_CONSUMER, "process", parent=1),
        ),
    ),
    Scenario(
        "hello",
        "GET /hello answers 200 and logs DEBUG and INFO inside its span",
        Request("GET", "/hello"),
        Response(200, json=HELLO),
        (
            http_server(
                "GET /hello", path="/hello", route="/hello", status=200, logs=("DEBUG", "INFO")
            ),
        ),
    ),
    Scenario(
        "not_found",
        "a path no route matches answers 404: a span named by the method alone, no error",
        Request("GET", "/no/such/route"),
        Response(404),
        (http_server("GET", path="/no/such/route", status=404),),
    ),
    Scenario(
        "fail",
        "GET /fail answers 500, an error span, and logs WARN and ERROR inside it",
        Request("GET", "/fail"),
        Response(500, json={"error": "simulated failure"}),
        (
            http_server(
                "GET /fail", path="/fail", route="/fail", status=500, logs=("WARN", "ERROR")
            ),
        ),
    ),
    Scenario(
        "unknown_method",
        "FOO /hello: _OTHER, the original method, a span named HTTP; the router answers 405",
        Request("FOO", "/hello"),
        Response(405),
        (http_server("HTTP", path="/hello", method="_OTHER", method_original="FOO", status=405),),
    ),
    Scenario(
        "secrets",
        "Authorization, Cookie and ?token= carry secrets: redacted, never recorded",
        Request(
            "GET",
            "/hello?token={secret_query}&page=2",
            headers={
                "Authorization": "Bearer {secret_auth}",
                "Cookie": "session={secret_cookie}",
                "X-Request-Id": "req-7",
            },
        ),
        Response(200, json=HELLO),
        (
            http_server(
                "GET /hello",
                path="/hello",
                route="/hello",
                status=200,
                query="token=REDACTED&page=2",
                logs=("DEBUG", "INFO"),
                also={"http.request.header.x-request-id": Is(("req-7",))},
            ),
        ),
    ),
    Scenario(
        "client_ok",
        "GET /call relays DOWNSTREAM_URL (its own /hello, a secret in the query); baggage flows",
        Request("GET", "/call", headers={"baggage": "acme.tenant.id=tenant-42"}),
        Response(200, json=HELLO),
        (
            http_server(
                "GET /call",
                path="/call",
                route="/call",
                status=200,
                also={"acme.tenant.id": Is("tenant-42")},
            ),
            http_client(
                url="http://127.0.0.1:{main_port}/hello?token=REDACTED&page=1",
                port="main_port",
                status=200,
                parent=0,
            ),
            http_server(
                "GET /hello",
                path="/hello",
                route="/hello",
                status=200,
                query="token=REDACTED&page=1",
                from_tier=False,
                parent=1,
                logs=("DEBUG", "INFO"),
                also={"acme.tenant.id": Is("tenant-42")},
            ),
        ),
    ),
    Scenario(
        "client_error",
        "GET /call to a closed port (a secret in its query): 502 without the URL or the cause",
        Request("GET", "/call"),
        Response(502, json={"error": "downstream call failed"}),
        (
            http_server("GET /call", path="/call", route="/call", status=502),
            http_client(
                url="http://127.0.0.1:{closed_port}/hello?token=REDACTED",
                port="closed_port",
                status=None,
                parent=0,
            ),
        ),
        process="broken",
    ),
    Scenario(
        "client_status",
        "GET /call relays a downstream 404: an error for the client, not for either server",
        Request("GET", "/call"),
        Response(404),
        (
            http_server("GET /call", path="/call", route="/call", status=404),
            http_client(
                url="http://127.0.0.1:{main_port}/no/such/route?token=REDACTED",
                port="main_port",
                status=404,
                parent=0,
            ),
            http_server(
                "GET",
                path="/no/such/route",
                status=404,
                query="token=REDACTED",
                from_tier=False,
                parent=1,
                also={"server.port": Is(Ref("main_port"))},
            ),
        ),
        process="relay",
    ),
    Scenario(
        "grpc_ok",
        "GET /grpc/hello calls the Greeter on GRPC_TARGET (its own gRPC port)",
        Request("GET", "/grpc/hello?name=world"),
        Response(200),
        (
            http_server(
                "GET /grpc/hello",
                path="/grpc/hello",
                route="/grpc/hello",
                status=200,
                query="name=world",
            ),
            rpc(RPC_CLIENT, "OK", parent=0),
            rpc(RPC_SERVER, "OK", parent=1),
        ),
    ),
    Scenario(
        "grpc_error",
        "name=fail makes the Greeter answer INTERNAL: an error on both sides, 502 to the caller",
        Request("GET", "/grpc/hello?name=fail"),
        Response(502),
        (
            http_server(
                "GET /grpc/hello",
                path="/grpc/hello",
                route="/grpc/hello",
                status=502,
                query="name=fail",
            ),
            rpc(RPC_CLIENT, "INTERNAL", parent=0),
            rpc(RPC_SERVER, "INTERNAL", parent=1),
        ),
    ),
    Scenario(
        "grpc_health",
        "GET /grpc/health: grpc.health.v1.Health/Check is traced on neither side",
        Request("GET", "/grpc/health"),
        Response(200),
        (http_server("GET /grpc/health", path="/grpc/health", route="/grpc/health", status=200),),
    ),
    Scenario(
        "db_query",
        "GET /db/query runs SELECT name FROM items WHERE id = ? on the stand-in database",
        Request("GET", "/db/query"),
        Response(200),
        (
            http_server("GET /db/query", path="/db/query", route="/db/query", status=200),
            SpanSpec(
                DB_CLIENT,
                "SELECT items",
                {
                    "db.system.name": ANY,
                    "db.operation.name": Is("SELECT"),
                    "db.collection.name": Is("items"),
                },
                parent=0,
            ),
        ),
    ),
    Scenario(
        "untraced",
        "GET /healthz is an untraced route: no span, no metric point, no log record",
        Request("GET", "/healthz"),
        Response(200, text="ok"),
        (),
        traced=False,
    ),
    Scenario(
        "spoofed_host",
        "a client-chosen Host header shows on the span, never as a metric attribute",
        Request("GET", "/hello", headers={"Host": "evil.example:1234"}),
        Response(200, json=HELLO),
        (
            http_server(
                "GET /hello",
                path="/hello",
                route="/hello",
                status=200,
                logs=("DEBUG", "INFO"),
                also={"server.address": Is("evil.example"), "server.port": Is(1234)},
            ),
        ),
    ),
)


# --- Upstream limitations ---------------------------------------------------------------------
# The only differences between Go and Rust the contract accepts: each is a gap in an upstream
# library that a template cannot close, with its reason and upstream issue. An entry excuses a
# difference whose key matches `key` (fnmatch) when `language` shows `value` there. An entry that
# excuses nothing fails the tier: take it out (here and in docs/telemetry-contract.md).


@dataclass(frozen=True)
class Limitation:
    key: str
    language: str
    value: str
    reason: str
    upstream: str


LIMITATIONS: tuple[Limitation, ...] = (
    Limitation(
        key="metric * exemplars",
        language="rust",
        value="no",
        reason=(
            "The opentelemetry-rust 0.33 metrics SDK has the exemplar data types but no "
            "exemplar filter or reservoir: every aggregation exports an empty list. Go's SDK "
            "samples exemplars from sampled spans (trace-based filter)."
        ),
        upstream="https://github.com/open-telemetry/opentelemetry-rust/issues/3369",
    ),
)
