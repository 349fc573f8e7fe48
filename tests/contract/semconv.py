"""Hold a run against the contract table: answers, spans, metrics, OTLP log records.

Spans are found by the trace id of the request that caused them and matched to the scenario's
span specs by kind and name. A metric data point is the measurement a span implies: the span's
attributes projected onto the metric's table, so metrics are checked against what the script
did, counts included (an untraced route that is measured shows up as a count too many).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .expectations import METRICS, SCENARIOS, SEVERITIES
from .findings import Findings, dedupe
from .harness import Exchange, Run, response_json
from .model import ANY, Absent, Context, Is, Level, Matcher, MetricSpec, Scenario, SpanSpec
from .otlp import MetricPoint, Span, Value


def semconv_findings(run: Run) -> Findings:
    """The scenario answers, every span, metric and OTLP log record against the table."""
    found = Findings()
    telemetry = run.telemetry
    if not (telemetry.spans or telemetry.metrics or telemetry.logs):
        found.add(
            "export",
            "the collector",
            "",
            "received nothing",
            f"its log ends …{run.collector_log[-600:]}",
        )
    for scenario in SCENARIOS:
        ctx = scenario_context(run, scenario)
        found += _answer_findings(scenario, run.exchanges[scenario.name], ctx)
        if scenario.traced:
            found += _span_findings(scenario, match_spans(scenario, run, ctx), run, ctx)
    found += metric_findings(run)
    found += _log_record_findings(run)
    found += _sdk_resource_findings(run)
    return found


def scenario_context(run: Run, scenario: Scenario) -> dict[str, object]:
    """The run's context plus what only this scenario knows: its port and the answer's size."""
    return {
        **run.ctx,
        "port": run.ctx[f"{scenario.process}_port"],
        "response_body_size": len(run.exchanges[scenario.name].body),
    }


def fill(value: str, ctx: Context) -> str:
    """`value` with its `{name}` placeholders filled from `ctx`."""
    return value.format(**ctx) if "{" in value else value


def _fill_json(value: object, ctx: Context) -> object:
    if isinstance(value, str):
        return fill(value, ctx)
    if isinstance(value, dict):
        return {key: _fill_json(item, ctx) for key, item in value.items()}
    return value


# --- Answers ----------------------------------------------------------------------------------


def _answer_findings(scenario: Scenario, exchange: Exchange, ctx: Context) -> Findings:
    found = Findings()
    where = f"{scenario.name} ({scenario.request.method} {fill(scenario.request.path, ctx)})"
    expected = scenario.response
    body = exchange.body[:200]
    if exchange.status == 0:
        found.add("demo routes", where, "", f"got no answer: {exchange.error}")
        return found
    if exchange.status != expected.status:
        hint = " (is the demo route missing?)" if exchange.status in (404, 405) else ""
        found.add(
            "demo routes",
            where,
            "status",
            f"is {exchange.status}, expected {expected.status}{hint}",
            repr(body),
        )
    if expected.json is not None and response_json(exchange) != _fill_json(expected.json, ctx):
        want = json.dumps(_fill_json(expected.json, ctx))
        found.add("demo routes", where, "body", f"is not the JSON {want}", repr(body))
    if expected.text is not None and exchange.body.decode(errors="replace") != expected.text:
        found.add("demo routes", where, "body", f"is not {expected.text!r}", repr(body))
    return found


# --- Spans ------------------------------------------------------------------------------------


def match_spans(scenario: Scenario, run: Run, ctx: Context) -> list[Span | None]:
    """The recorded span for each span spec of the scenario, by kind and name.

    A spec without a span of its name takes the unmatched span of its kind that satisfies most
    of its attributes, so "named X instead of Y" reads as such rather than as missing + extra.
    """
    trace = run.telemetry.trace(run.exchanges[scenario.name].trace_id)
    unmatched = sorted(trace, key=lambda span: span.start_ns)
    matched: list[Span | None] = []
    for spec in scenario.spans:
        name = fill(spec.name, ctx)
        same_kind = [span for span in unmatched if span.kind == spec.convention.kind]
        named = [span for span in same_kind if span.name == name]
        best = max(named or same_kind, key=lambda span: _score(spec, span, ctx), default=None)
        if best is not None and (named or _score(spec, best, ctx) > 0):
            unmatched.remove(best)
            matched.append(best)
        else:
            matched.append(None)
    return matched


def _score(spec: SpanSpec, span: Span, ctx: Context) -> int:
    """How many of the spec's present attributes the span has right."""
    score = 0
    for key, matcher in spec.attributes.items():
        attr = spec.convention.attr(key)
        if attr and matcher.present:
            score += matcher.problem(span.attributes.get(key), attr.type, ctx) is None
    return score


def _span_findings(
    scenario: Scenario, spans: Sequence[Span | None], run: Run, ctx: Context
) -> Findings:
    exchange = run.exchanges[scenario.name]
    found = Findings()
    for spec, span in zip(scenario.spans, spans, strict=True):
        name = fill(spec.name, ctx)
        area, where = spec.convention.title, f"{scenario.name} > {spec.convention.kind} {name!r}"
        if span is None:
            found.add(area, where, "", "was not recorded")
            continue
        if span.name != name:
            found.add(area, where, "span name", f"is {span.name!r}, expected {name!r}")
        for key, problem, example in attribute_problems(spec, span.attributes, ctx):
            found.add(area, where, key, problem, example)
        if span.status != spec.status:
            found.add(area, where, "status", f"is {span.status}, expected {spec.status}")
        if span.status != "ERROR" and span.status_message:
            found.add(
                area,
                where,
                "status message",
                "is set on a status other than ERROR",
                repr(span.status_message),
            )
        if spec.parent is None:
            parent_id, parent_name = exchange.caller_span_id, "the caller's span"
        else:
            parent = spans[spec.parent]
            parent_id = parent.span_id if parent else ""
            parent_name = f"span {fill(scenario.spans[spec.parent].name, ctx)!r}"
        if parent_id and span.parent_span_id != parent_id:
            found.add(
                area, where, "parent", f"is not {parent_name}", span.parent_span_id or "no parent"
            )
        linked = {link.span_id for link in span.links}
        wanted = set()
        for index in spec.links:
            target = spans[index]
            if target is None:
                continue
            wanted.add(target.span_id)
            if target.span_id not in linked:
                target_name = fill(scenario.spans[index].name, ctx)
                found.add(area, where, "links", f"lack a link to span {target_name!r}")
        if linked - wanted:
            found.add(
                area,
                where,
                "links",
                "hold links the contract does not ask for",
                f"{len(linked - wanted)} link(s)",
            )
        found += _span_log_findings(spec, span, run, where)
    for span in run.telemetry.trace(exchange.trace_id):
        if all(span is not other for other in spans):
            found.add(
                "spans not in the contract",
                f"{scenario.name} > {span}",
                "",
                "is not in the contract",
                f"scope {span.scope}",
            )
    return found


def attribute_problems(
    spec: SpanSpec, attributes: Mapping[str, Value], ctx: Context
) -> list[tuple[str, str, str]]:
    """(key, problem, recorded value) for every attribute of a span that breaks its table."""
    convention = spec.convention
    problems = []
    for key in sorted(set(convention.attributes) | set(spec.attributes) | set(attributes)):
        attr = convention.attr(key)
        value = attributes.get(key)
        example = str(value) if value is not None else ""
        if attr is None:
            problems.append((key, f"is not in the contract for a {convention.title}", example))
            continue
        matcher = expected_value(attr.level, attr.why, spec.attributes.get(key))
        if matcher is None:
            if value is not None and value.type != attr.type:
                problems.append((key, f"is of type {value.type} but must be {attr.type}", example))
            continue
        problem = matcher.problem(value, attr.type, ctx)
        if problem is not None:
            problems.append((key, f"{problem} [{attr.level.value}]", example))
    return problems


def expected_value(level: Level, why: str, listed: Matcher | None) -> Matcher | None:
    """What a value must be: the scenario's matcher, else what the level implies (None: any)."""
    if level is Level.FORBIDDEN:
        return Absent(why)
    if listed is not None:
        return listed
    if level in (Level.REQUIRED, Level.RECOMMENDED):
        return ANY
    if level in (Level.CONDITIONAL, Level.ADOPTED):
        return Absent("its condition does not hold in this scenario")
    return None


# --- Logs and resource ------------------------------------------------------------------------


def _span_log_findings(spec: SpanSpec, span: Span, run: Run, where: str) -> Findings:
    found = Findings()
    records = [
        r for r in run.telemetry.logs if (r.trace_id, r.span_id) == (span.trace_id, span.span_id)
    ]
    for severity in spec.logs:
        same = [r for r in records if r.severity_text == severity]
        if not same:
            found.add(
                "logs (OTLP)",
                where,
                f"{severity} record",
                "was not exported with this span's trace_id and span_id",
            )
        elif same[0].severity_number != SEVERITIES[severity]:
            found.add(
                "logs (OTLP)",
                where,
                f"{severity} record",
                f"has severity number {same[0].severity_number}, expected {SEVERITIES[severity]}",
            )
    return found


def _log_record_findings(run: Run) -> Findings:
    found = Findings()
    if not run.telemetry.logs:
        found.add("logs (OTLP)", "every log record", "", "is missing: none were exported")
    for record in run.telemetry.logs:
        where = "log records"
        if record.severity_text not in SEVERITIES:
            found.add(
                "logs (OTLP)",
                where,
                "severityText",
                f"is not one of {list(SEVERITIES)}",
                repr(record.severity_text),
            )
        elif record.severity_number != SEVERITIES[record.severity_text]:
            found.add(
                "logs (OTLP)",
                where,
                "severityNumber",
                f"does not match the severity text ({record.severity_text} is "
                f"{SEVERITIES[record.severity_text]})",
                str(record.severity_number),
            )
        if record.body.type != "string":
            found.add("logs (OTLP)", where, "body", "is not a string", str(record.body))
    return dedupe(found)


def _sdk_resource_findings(run: Run) -> Findings:
    expected: dict[str, Matcher] = {
        "telemetry.sdk.name": Is("opentelemetry"),
        "telemetry.sdk.language": Is(run.language),
        "telemetry.sdk.version": ANY,
    }
    found = Findings()
    for resource in run.telemetry.resources:
        for key, matcher in expected.items():
            if problem := matcher.problem(resource.get(key), "string", run.ctx):
                found.add("resource", "every resource", key, problem)
    return dedupe(found)


# --- Metrics ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    """One measurement a span implies for one of its metrics."""

    metric: str
    matchers: tuple[tuple[str, Matcher], ...]
    ctx_items: tuple[tuple[str, object], ...]

    @property
    def ctx(self) -> dict[str, object]:
        return dict(self.ctx_items)

    def describe(self) -> str:
        types = METRICS[self.metric].attributes
        shown = [
            f"{key}={matcher.brief(types[key].type, self.ctx)}"
            for key, matcher in self.matchers
            if matcher.present
        ]
        return "{" + ", ".join(shown) + "}"

    def problems(self, point: MetricPoint) -> list[str]:
        """How `point` differs from this measurement's series.

        Forbidden keys and keys the contract does not know are left out: the shape check
        reports them once, and the counts still add up across the series they split.
        """
        types = METRICS[self.metric].attributes
        return [
            f"{key} {problem}"
            for key, matcher in self.matchers
            if (problem := matcher.problem(point.attributes.get(key), types[key].type, self.ctx))
        ]

    def closeness(self, point: MetricPoint) -> int:
        """How many of the measurement's present attributes the point has right."""
        types = METRICS[self.metric].attributes
        return sum(
            matcher.present
            and matcher.problem(point.attributes.get(key), types[key].type, self.ctx) is None
            for key, matcher in self.matchers
        )


def expected_measurements(run: Run) -> list[Measurement]:
    """The metric measurements the scenario script implies, one per span and paired metric."""
    measurements = []
    for scenario in SCENARIOS:
        if not scenario.traced:
            continue
        ctx = tuple(sorted(scenario_context(run, scenario).items()))
        for spec in scenario.spans:
            for metric in spec.convention.metrics:
                table = METRICS[metric]
                matchers = []
                for key, attr in sorted(table.attributes.items()):
                    if attr.level in (Level.ALLOWED, Level.FORBIDDEN):
                        continue
                    listed = spec.attributes.get(key, table.values.get(key))
                    matcher = expected_value(attr.level, attr.why, listed)
                    if matcher is not None:
                        matchers.append((key, matcher))
                measurements.append(Measurement(metric, tuple(matchers), ctx))
    return measurements


def metric_findings(run: Run) -> Findings:
    """Every exported metric against its contract entry and the measurements the script implies."""
    found = Findings()
    points_by_name: dict[str, list[MetricPoint]] = defaultdict(list)
    for point in run.telemetry.metrics:
        points_by_name[point.name].append(point)
    expected = expected_measurements(run)
    for name in sorted(set(points_by_name) - set(METRICS)):
        point = points_by_name[name][0]
        found.add(
            "metrics not in the contract",
            f"metric {name}",
            "",
            "is not in the contract",
            f"{point.type} in {point.unit!r} from {point.scope}",
        )
    for name, table in METRICS.items():
        points = points_by_name.get(name, [])
        wanted = [m for m in expected if m.metric == name]
        if wanted and not points:
            found.add(
                "metrics",
                f"metric {name}",
                "",
                f"was not exported ({len(wanted)} measurement(s) expected)",
            )
            continue
        found += _shape_findings(table, points)
        found += _series_findings(name, points, wanted)
    return found


def _shape_findings(table: MetricSpec, points: Sequence[MetricPoint]) -> Findings:
    found = Findings()
    where = f"metric {table.name}"
    for point in points:
        if point.type != table.instrument:
            found.add(
                "metrics", where, "instrument", f"is {point.type}, expected {table.instrument}"
            )
        if point.unit != table.unit:
            found.add("metrics", where, "unit", f"is {point.unit!r}, expected {table.unit!r}")
        if table.bounds and point.bounds != table.bounds:
            found.add(
                "metrics",
                where,
                "bucket boundaries",
                f"are not {list(table.bounds)}",
                str(list(point.bounds)),
            )
        if table.monotonic is not None and point.monotonic != table.monotonic:
            found.add("metrics", where, "monotonic", f"is {point.monotonic}, expected True")
        if point.temporality != "CUMULATIVE":
            found.add(
                "metrics", where, "temporality", f"is {point.temporality}, expected CUMULATIVE"
            )
        for key, value in point.attributes.items():
            attr = table.attributes.get(key)
            if attr is None:
                found.add(
                    "metrics", where, key, "is not in the contract for this metric", str(value)
                )
            elif attr.level is Level.FORBIDDEN:
                found.add("metrics", where, key, f"must be absent ({attr.why})", str(value))
            elif value.type != attr.type:
                found.add(
                    "metrics",
                    where,
                    key,
                    f"is of type {value.type} but must be {attr.type}",
                    str(value),
                )
        for key, attr in table.attributes.items():
            if attr.level is Level.REQUIRED and key not in point.attributes:
                found.add("metrics", where, key, "is missing [required]")
    return dedupe(found)


def _series_findings(
    name: str, points: Sequence[MetricPoint], wanted: Sequence[Measurement]
) -> Findings:
    """Counts per series; a series recorded with other attributes is paired with its closest."""
    found = Findings()
    where = f"metric {name}"
    groups: dict[str, list[Measurement]] = defaultdict(list)
    for measurement in wanted:
        groups[measurement.describe()].append(measurement)
    claimed: set[int] = set()
    missing: list[tuple[str, list[Measurement]]] = []
    for description, group in groups.items():
        matching = [p for p in points if not group[0].problems(p)]
        claimed.update(id(p) for p in matching)
        total = sum(p.count for p in matching)
        if total == 0:
            missing.append((description, group))
        elif total != len(group):
            found.add(
                "metrics",
                where,
                f"series {description}",
                f"counts {total} measurement(s), expected {len(group)}",
            )
    # Best pairs first, so that one loose match cannot take another series' closest point.
    pairs = sorted(
        (
            (group[0].closeness(point), index, point)
            for index, (_, group) in enumerate(missing)
            for point in points
            if id(point) not in claimed
        ),
        key=lambda pair: (-pair[0], pair[1]),
    )
    paired: dict[int, MetricPoint] = {}
    for closeness, index, point in pairs:
        if closeness and index not in paired and id(point) not in claimed:
            paired[index] = point
            claimed.update(id(p) for p in points if p.attributes == point.attributes)
    for index, (description, group) in enumerate(missing):
        if index in paired:
            differences = "; ".join(group[0].problems(paired[index]))
            found.add(
                "metrics",
                where,
                f"series {description}",
                f"was recorded with other attributes: {differences}",
            )
        else:
            found.add(
                "metrics",
                where,
                f"series {description}",
                f"was not recorded ({len(group)} measurement(s) expected)",
            )
    for point in points:
        if id(point) not in claimed:
            attributes = {key: value.value for key, value in sorted(point.attributes.items())}
            found.add(
                "metrics",
                where,
                f"series {attributes}",
                "matches no request of the scenario script",
                f"{point.count} measurement(s)",
            )
    return found
