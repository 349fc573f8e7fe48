"""Go = Rust: what one run emits against another, as flat signatures.

A signature keeps what must be equal and drops what may differ (values, ids, timings): span
names, kinds, statuses, parents, link counts, attribute keys and value types per scenario;
metric instruments, units, bounds, temporality, exemplars and attribute key sets; resource keys;
log record fields; the key order of stdout's JSON lines.
"""

from __future__ import annotations

import fnmatch
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .expectations import LIMITATIONS, SCENARIOS, Limitation
from .harness import Run
from .policy import process_resources, stdout_records

Signature = dict[str, str]


def signature(run: Run, log_keys: Mapping[str, str] | None = None) -> Signature:
    """What must be equal between the languages, as `key -> value` entries.

    With the policy's `log_keys` the stdout schema is part of it: the same in both languages,
    but not across protocols, since each exporter logs its own debug lines.
    """
    sig: Signature = {}
    for scenario in SCENARIOS:
        trace = run.telemetry.trace(run.exchanges[scenario.name].trace_id)
        names = {span.span_id: f"{span.kind} {span.name!r}" for span in trace}
        seen: Counter[str] = Counter()
        for span in sorted(trace, key=lambda s: (s.kind, s.name, s.start_ns)):
            label = f"{span.kind} {span.name!r}"
            seen[label] += 1
            prefix = f"span {scenario.name} > {label}" + (
                f" #{seen[label]}" if seen[label] > 1 else ""
            )
            sig[prefix] = "present"
            sig[f"{prefix} status"] = span.status
            sig[f"{prefix} parent"] = names.get(span.parent_span_id, "the caller")
            sig[f"{prefix} links"] = str(len(span.links))
            for key, value in span.attributes.items():
                sig[f"{prefix} attribute {key}"] = value.type
    for point in run.telemetry.metrics:
        prefix = f"metric {point.name}"
        sig[prefix] = "present"
        sig[f"{prefix} instrument"] = point.type
        sig[f"{prefix} unit"] = point.unit
        sig[f"{prefix} temporality"] = point.temporality
        sig[f"{prefix} monotonic"] = str(point.monotonic)
        sig[f"{prefix} bounds"] = str(list(point.bounds))
        with_exemplars = any(p.exemplars for p in run.telemetry.metric(point.name))
        sig[f"{prefix} exemplars"] = "yes" if with_exemplars else "no"
        sig[f"{prefix} series {sorted(point.attributes)}"] = "present"
        for key, value in point.attributes.items():
            sig[f"{prefix} attribute {key}"] = value.type
    for owner, resources in process_resources(run).items():
        for resource in resources:
            for key, value in resource.items():
                sig[f"resource ({owner}) {key}"] = value.type
    for record in run.telemetry.logs:
        prefix = f"log record {record.severity_text or '(no severity text)'}"
        sig[f"{prefix} severity_number"] = str(record.severity_number)
        sig[f"{prefix} body"] = record.body.type
        for field in record.fields:
            sig[f"{prefix} field {field}"] = "present"
    if log_keys is not None:
        for name, process in run.processes.items():
            records, _ = stdout_records(process.stdout)
            beginnings: dict[str, set[str]] = defaultdict(set)
            for order, fields in records:
                inside = log_keys["trace_id_key"] in fields
                kind = "in a span" if inside else "outside spans"
                beginnings[kind].add(", ".join(order[: 7 if inside else 4]))
                sig[f"stdout ({name}) level {fields.get(log_keys['level_key'])!r}"] = "present"
            for kind, heads in beginnings.items():
                sig[f"stdout ({name}) lines {kind} begin with"] = " | ".join(sorted(heads))
    return sig


@dataclass(frozen=True)
class Difference:
    key: str
    left: str
    right: str
    excused_by: Limitation | None = None


def diff(
    left: Signature, right: Signature, languages: tuple[str, str] = ("", "")
) -> list[Difference]:
    """Entries that differ; with the two runs' `languages`, the limitations excuse theirs."""
    found = []
    for key in sorted(set(left) | set(right)):
        a, b = left.get(key, "absent"), right.get(key, "absent")
        if a != b:
            shown = dict(zip(languages, (a, b), strict=True))
            excuse = next(
                (
                    lim
                    for lim in LIMITATIONS
                    if fnmatch.fnmatchcase(key, lim.key) and shown.get(lim.language) == lim.value
                ),
                None,
            )
            found.append(Difference(key, a, b, excuse))
    return found


def diff_table(differences: Sequence[Difference], left: str, right: str) -> str:
    """Key, then each side's value, one difference per line."""
    width = min(max((len(d.key) for d in differences), default=10), 110)
    lines = [f"{'key':<{width}}  {left:<12} {right}"]
    lines.extend(f"{d.key:<{width}}  {d.left:<12} {d.right}" for d in differences)
    return "\n".join(lines)
