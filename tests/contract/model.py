"""The vocabulary of the contract table: attribute levels, value matchers, spans, metrics.

`expectations.py` writes the contract with these types; `checks.py` holds recorded telemetry
against it. Nothing here knows a scenario or a language.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from .otlp import Value


class Level(Enum):
    """How the contract treats an attribute, after the semantic conventions' requirement levels.

    REQUIRED     semconv Required: always present.
    CONDITIONAL  semconv Conditionally Required: the scenario says whether the condition holds;
                 present when it does, absent when it does not (the contract pins both sides).
    RECOMMENDED  semconv Recommended, demanded by the contract: present whenever available.
    ADOPTED      semconv Opt-In that an upstream instrumentation records and cannot turn off;
                 the contract adopts it so that both languages emit it.
    ALLOWED      semconv attribute the contract does not demand; may appear (Go = Rust decides).
    FORBIDDEN    the policy forbids it.
    """

    REQUIRED = "required"
    CONDITIONAL = "conditionally required"
    RECOMMENDED = "recommended"
    ADOPTED = "adopted opt-in"
    ALLOWED = "allowed"
    FORBIDDEN = "forbidden"


@dataclass(frozen=True)
class Attr:
    """One attribute of a convention: its OTLP type and level (and why, when forbidden)."""

    type: str
    level: Level
    why: str = ""


Context = Mapping[str, object]
"""Values known only at run time (ports, the service name), by name."""


@dataclass(frozen=True)
class Ref:
    """A value taken from the run's context, like the port a process listens on."""

    name: str

    def resolve(self, ctx: Context) -> object:
        return ctx[self.name]


def resolve(value: object, ctx: Context) -> object:
    """`value`, with `Ref`s looked up and `{name}` placeholders of strings filled from `ctx`."""
    if isinstance(value, Ref):
        return value.resolve(ctx)
    if isinstance(value, str) and "{" in value:
        return value.format(**ctx)
    return value


class Matcher:
    """What a recorded value must be; `problem` says what is wrong, or None."""

    def problem(self, value: Value | None, type_: str, ctx: Context) -> str | None:
        raise NotImplementedError

    def describe(self, type_: str, ctx: Context) -> str:
        raise NotImplementedError

    def brief(self, type_: str, ctx: Context) -> str:
        """The value in a series description: short, without the type when it is exact."""
        return self.describe(type_, ctx)

    @property
    def present(self) -> bool:
        return True


def _type_problem(value: Value, type_: str) -> str | None:
    if value.type != type_:
        return f"is of type {value.type} but must be {type_}"
    return None


@dataclass(frozen=True)
class Is(Matcher):
    """Present, of the convention's type, with exactly this value."""

    value: object

    def problem(self, value: Value | None, type_: str, ctx: Context) -> str | None:
        expected = resolve(self.value, ctx)
        if value is None:
            return f"is missing (expected {expected!r})"
        if (wrong := _type_problem(value, type_)) is not None:
            return wrong
        if value.value != expected:
            return f"is {value.value!r}, expected {expected!r}"
        return None

    def describe(self, type_: str, ctx: Context) -> str:
        return f"{resolve(self.value, ctx)!r} ({type_})"

    def brief(self, type_: str, ctx: Context) -> str:
        return repr(resolve(self.value, ctx))


@dataclass(frozen=True)
class Has(Matcher):
    """Present and of the convention's type; any value (optionally matching a regex)."""

    pattern: str = ""

    def problem(self, value: Value | None, type_: str, ctx: Context) -> str | None:
        if value is None:
            return "is missing"
        if (wrong := _type_problem(value, type_)) is not None:
            return wrong
        if self.pattern and not re.fullmatch(self.pattern, str(value.value)):
            return f"is {value.value!r}, which does not match {self.pattern!r}"
        return None

    def describe(self, type_: str, ctx: Context) -> str:
        return f"any {type_}" + (f" matching {self.pattern!r}" if self.pattern else "")


@dataclass(frozen=True)
class Absent(Matcher):
    """Not recorded (a conditional attribute whose condition does not hold)."""

    because: str = ""

    def problem(self, value: Value | None, type_: str, ctx: Context) -> str | None:
        if value is None:
            return None
        reason = f" ({self.because})" if self.because else ""
        return f"must be absent{reason}"

    def describe(self, type_: str, ctx: Context) -> str:
        return "absent"

    @property
    def present(self) -> bool:
        return False


ANY = Has()


@dataclass(frozen=True)
class Convention:
    """A kind of span of the semantic conventions, with the contract's attribute table."""

    title: str
    kind: str
    attributes: Mapping[str, Attr]
    # Attribute families such as `http.request.header.<name>`: prefix -> attribute.
    families: Mapping[str, Attr] = field(default_factory=dict)
    # The metrics a span of this kind feeds, as the conventions pair them.
    metrics: tuple[str, ...] = ()

    def attr(self, key: str) -> Attr | None:
        if key in self.attributes:
            return self.attributes[key]
        for prefix, attr in self.families.items():
            if key.startswith(prefix):
                return attr
        return None


@dataclass(frozen=True)
class SpanSpec:
    """One span a scenario must produce."""

    convention: Convention
    name: str
    attributes: Mapping[str, Matcher]
    status: str = "UNSET"
    # Index of the parent among the scenario's spans; None: the caller's (remote) span.
    parent: int | None = None
    # Severities the service logs inside this span (OTLP and stdout).
    logs: tuple[str, ...] = ()
    # Links the span must carry, as indexes of the scenario's spans.
    links: tuple[int, ...] = ()


@dataclass(frozen=True)
class MetricSpec:
    """A metric of the contract: instrument, unit, bucket boundaries and attribute table."""

    name: str
    instrument: str
    unit: str
    attributes: Mapping[str, Attr]
    bounds: tuple[float, ...] = ()
    # Values of metric-only attributes (not on the paired span), by key.
    values: Mapping[str, Matcher] = field(default_factory=dict)

    @property
    def monotonic(self) -> bool | None:
        return True if self.instrument == "sum" else None


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Response:
    status: int
    # The exact JSON body, when the contract page fixes it.
    json: object = None
    text: str | None = None


@dataclass(frozen=True)
class Scenario:
    """One step of the scenario script and everything it must produce."""

    name: str
    what: str
    request: Request
    response: Response
    spans: tuple[SpanSpec, ...]
    # The process that serves it, one of `expectations.PROCESSES`.
    process: str = "main"
    # False for untraced routes: the request must leave no span, metric point or log record.
    traced: bool = True
