"""The contract tier: a Go and a Rust service of one policy emit the same, semconv-correct telemetry.

Both services are rendered from the bundled templates and policy with every boundary, built once
with the real toolchains, and run against a real collector (the project's, from the `otelcol`
fixture) that writes what it receives to a file, exporting over OTLP/gRPC and OTLP/HTTP in turn.
Each run drives the scenario script of `tests/contract/expectations.py` and reads the collector's
output back. The checks, and the table they hold the output against, live in `tests/contract/`;
docs/telemetry-contract.md is the same contract for readers.

The tests here only choose what to compare and print the findings: every failure lists all that
is wrong at once (key, expected, got), grouped by the part of a template that has to change.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scaffold.policy import load_policy
from scaffold.questions import BOUNDARIES

from .conftest import ROOT, render, require_tool, run
from .contract.expectations import LIMITATIONS, METRICS, SEMCONV_VERSION, http_server
from .contract.findings import report
from .contract.harness import LANGUAGES, PROTOCOLS, Build, HarnessError, Run, build, run_contract
from .contract.otlp import Value, read_telemetry
from .contract.parity import diff, diff_table, signature
from .contract.policy import PolicyView, policy_findings
from .contract.semconv import attribute_problems, semconv_findings

pytestmark = pytest.mark.contract

# The toolchain tests carry one xdist group: under `pytest -n 2 --dist loadgroup` one worker runs
# them all, so each language is built once and each run happens once per session.

# Unique crate and module names: the cargo target directory is shared with other renders.
SERVICES = {"go": "contract-go", "rust": "contract-rust"}
FIGURES = ROOT / "build" / "contract-figures.json"


class Runs:
    """Each (language, protocol) run happens once, on first use; a harness error is kept too."""

    def __init__(self, builds: dict[str, Build], otelcol: Path, workdir: Path, org: str) -> None:
        self.builds, self.otelcol, self.workdir, self.org = builds, otelcol, workdir, org
        self.done: dict[tuple[str, str], Run | HarnessError] = {}

    def get(self, language: str, protocol: str) -> Run:
        key = (language, protocol)
        if key not in self.done:
            workdir = self.workdir / f"{language}-{protocol.replace('/', '-')}"
            try:
                self.done[key] = run_contract(
                    self.builds[language], protocol, self.otelcol, workdir, self.org
                )
            except HarnessError as err:
                self.done[key] = err
        result = self.done[key]
        if isinstance(result, HarnessError):
            pytest.fail(f"{language} over {protocol}: {result}", pytrace=False)
        return result


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, otelcol: Path) -> Iterator[Runs]:
    require_tool("go", "cargo")
    root = tmp_path_factory.mktemp("contract")
    figures: dict[str, object] = {}
    builds = {}
    for language in LANGUAGES:
        dest = root / language
        render(
            dest, service_name=SERVICES[language], language=language, boundaries=list(BOUNDARIES)
        )
        started = time.monotonic()
        builds[language] = build(language, dest, SERVICES[language], run)
        figures[f"build_seconds_{language}"] = round(time.monotonic() - started, 1)
    org = load_policy(ROOT / "templates").raw["org"]["name"]
    runs = Runs(builds, otelcol, root / "runs", org)
    yield runs
    for (language, protocol), result in runs.done.items():
        if not isinstance(result, HarnessError):
            figures[f"run_seconds_{language}_{protocol}"] = round(result.seconds, 1)
    FIGURES.parent.mkdir(exist_ok=True)
    FIGURES.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def policy() -> PolicyView:
    return PolicyView(load_policy(ROOT / "templates").raw)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.compile
@pytest.mark.xdist_group("contract")
def test_semantic_conventions(runs: Runs, language: str, protocol: str) -> None:
    """Answers, spans, metrics and OTLP log records follow the table of semconv 1.43.0."""
    findings = semconv_findings(runs.get(language, protocol))
    assert not findings, report(f"{language} over {protocol} vs the contract table", findings)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.compile
@pytest.mark.xdist_group("contract")
def test_policy(runs: Runs, policy: PolicyView, language: str, protocol: str) -> None:
    """Resource, redaction, untraced routes, the stdout log schema, SIGTERM: as the policy says."""
    findings = policy_findings(runs.get(language, protocol), policy)
    assert not findings, report(f"{language} over {protocol} vs the policy", findings)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.compile
@pytest.mark.xdist_group("contract")
def test_go_equals_rust(runs: Runs, policy: PolicyView, protocol: str) -> None:
    """Span names, kinds, attribute keys and types, metric shapes, resource keys, log fields."""
    go, rust = runs.get("go", protocol), runs.get("rust", protocol)
    keys = policy.log_keys
    differences = diff(signature(go, keys), signature(rust, keys), ("go", "rust"))
    unexcused = [d for d in differences if d.excused_by is None]
    assert not unexcused, (
        f"Go and Rust differ over {protocol} in {len(unexcused)} entries "
        f"(not on the limitations list):\n{diff_table(unexcused, 'Go', 'Rust')}"
    )
    used = {d.excused_by for d in differences}
    stale = [lim for lim in LIMITATIONS if lim not in used]
    assert not stale, (
        "limitations that excuse nothing any more, remove them here and in "
        f"docs/telemetry-contract.md: {[lim.key for lim in stale]}"
    )


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.compile
@pytest.mark.xdist_group("contract")
def test_exporter_protocol_changes_nothing(runs: Runs, language: str) -> None:
    """OTLP/gRPC and OTLP/HTTP deliver the same telemetry."""
    over_grpc, over_http = runs.get(language, "grpc"), runs.get(language, "http/protobuf")
    # Not stdout: each exporter logs its own debug lines there.
    differences = diff(signature(over_grpc), signature(over_http))
    assert not differences, (
        f"{language}: what arrives depends on the OTLP protocol:\n"
        f"{diff_table(differences, 'grpc', 'http/protobuf')}"
    )


def test_contract_page_states_the_table() -> None:
    """docs/telemetry-contract.md names the semconv version, every metric and every limitation."""
    page = (ROOT / "docs" / "telemetry-contract.md").read_text(encoding="utf-8")
    assert f"semantic conventions {SEMCONV_VERSION}" in page
    for name, spec in METRICS.items():
        assert re.search(rf"`{re.escape(name)}`", page), f"{name} is not on the contract page"
        assert spec.unit in page
    for limitation in LIMITATIONS:
        assert limitation.upstream in page, f"{limitation.key} is not on the contract page"


# The machinery itself, without toolchains: the judge must be right before it judges.


def _export(**signals: dict[str, Any]) -> str:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]}
    request = {
        f"resource{name}": [
            {"resource": resource, f"scope{name}": [{"scope": {"name": "s"}, **body}]}
        ]
        for name, body in signals.items()
    }
    return json.dumps(request)


def _histogram(count: int, time_ns: int) -> dict[str, Any]:
    point = {
        "attributes": [{"key": "http.route", "value": {"stringValue": "/hello"}}],
        "startTimeUnixNano": "1",
        "timeUnixNano": str(time_ns),
        "count": str(count),
        "explicitBounds": [0.005, 0.01],
    }
    return {"metrics": [{"name": "m", "unit": "s", "histogram": {"dataPoints": [point]}}]}


def test_collector_output_becomes_typed_records(tmp_path: Path) -> None:
    span = {
        "traceId": "ab" * 16,
        "spanId": "cd" * 8,
        "name": "GET /hello",
        "kind": 2,
        "status": {"code": 2, "message": "boom"},
        "attributes": [
            {"key": "http.response.status_code", "value": {"intValue": "500"}},
            {"key": "h", "value": {"arrayValue": {"values": [{"stringValue": "a"}]}}},
        ],
    }
    log = {"severityNumber": 9, "severityText": "INFO", "body": {"stringValue": "hi"}}
    lines = [
        _export(Spans={"spans": [span]}),
        _export(Metrics=_histogram(count=2, time_ns=10)),
        _export(Metrics=_histogram(count=5, time_ns=20)),
        _export(Logs={"logRecords": [log]}),
    ]
    (tmp_path / "out.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    telemetry = read_telemetry(tmp_path / "out.jsonl")
    [recorded] = telemetry.spans
    assert (recorded.kind, recorded.status, recorded.status_message) == ("SERVER", "ERROR", "boom")
    assert recorded.attributes["http.response.status_code"] == Value("int", 500)
    assert recorded.attributes["h"] == Value("string[]", ("a",))
    # Two exports of one cumulative series: the last holds the totals.
    [point] = telemetry.metrics
    assert (point.count, point.bounds) == (5, (0.005, 0.01))
    [record] = telemetry.logs
    assert record.fields == {"severityNumber", "severityText", "body"}
    assert len(telemetry.resources) == 1


def test_the_table_reports_each_kind_of_wrong_attribute() -> None:
    spec = http_server("GET /hello", path="/hello", route="/hello", status=200)
    recorded = {
        "http.request.method": Value("string", "GET"),
        "url.path": Value("string", "/hello"),
        "url.scheme": Value("string", "http"),
        "http.route": Value("string", "/hello"),
        "http.response.status_code": Value("string", "200"),
        "error.type": Value("string", "200"),
        "thread.id": Value("int", 3),
        "made.up": Value("bool", True),
    }
    ctx = {"port": 8080, "response_body_size": 0}
    problems = {key: problem for key, problem, _ in attribute_problems(spec, recorded, ctx)}
    assert "must be int" in problems["http.response.status_code"]
    assert "condition does not hold" in problems["error.type"]
    assert "spans.extra_attributes" in problems["thread.id"]
    assert "not in the contract" in problems["made.up"]
    assert problems["client.address"].startswith("is missing")
    assert "url.path" not in problems and "http.route" not in problems


def test_a_limitation_excuses_only_its_own_language_and_value() -> None:
    left = {"metric m exemplars": "yes", "metric m unit": "s"}
    right = {"metric m exemplars": "no", "metric m unit": "ms"}
    by_key = {d.key: d for d in diff(left, right, ("go", "rust"))}
    assert by_key["metric m exemplars"].excused_by is LIMITATIONS[0]
    assert by_key["metric m unit"].excused_by is None
    swapped = {d.key: d for d in diff(right, left, ("go", "rust"))}
    assert swapped["metric m exemplars"].excused_by is None
