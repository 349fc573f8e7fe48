"""Findings: every way a run breaks the contract, collected, then printed grouped."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """One way a run breaks the contract.

    `area` is the part of a template that has to change (a kind of span, the metrics, the
    resource, redaction...); `where` names the span, metric or process; `key` the attribute
    or field; `problem` says what is wrong and `example` shows a recorded value. Findings that
    differ only in `where` and `example` print as one line.
    """

    area: str
    where: str
    key: str
    problem: str
    example: str = ""

    def __str__(self) -> str:
        head = f"{self.where}: {self.key}" if self.key else self.where
        return f"{head} {self.problem}" + (f" (e.g. {self.example})" if self.example else "")


class Findings(list[Finding]):
    """A list of findings with a short way to add one."""

    def add(self, area: str, where: str, key: str, problem: str, example: str = "") -> None:
        self.append(Finding(area, where, key, problem, example))


def dedupe(findings: Iterable[Finding]) -> Findings:
    """One finding per (area, where, key, problem), keeping the first example."""
    unique: dict[tuple[str, str, str, str], Finding] = {}
    for finding in findings:
        unique.setdefault((finding.area, finding.where, finding.key, finding.problem), finding)
    return Findings(unique.values())


def report(title: str, findings: Sequence[Finding]) -> str:
    """Findings grouped by area, then by (key, problem), for a failure message."""
    lines = [f"{title}: {len(findings)} finding(s)"]
    by_area: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        by_area[finding.area].append(finding)
    for area in sorted(by_area):
        lines.append(f"\n[{area}]")
        groups: dict[tuple[str, str], list[Finding]] = defaultdict(list)
        for finding in by_area[area]:
            groups[(finding.key, finding.problem)].append(finding)
        for (key, problem), group in groups.items():
            if len(group) == 1:
                lines.append(f"  {group[0]}")
                continue
            places = [finding.where for finding in group]
            shown = "; ".join(places[:3])
            if len(places) > 3:
                shown += f"; and {len(places) - 3} more"
            example = next((finding.example for finding in group if finding.example), "")
            subject = f"{key} {problem}" if key else problem
            lines.append(f"  {subject}" + (f" (e.g. {example})" if example else ""))
            lines.append(f"      in {len(places)}: {shown}")
    return "\n".join(lines)
