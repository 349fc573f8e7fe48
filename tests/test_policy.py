"""The org policy: the bundled one is valid, broken ones are explained field by field."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from scaffold.cli import cli
from scaffold.errors import PolicyError
from scaffold.policy import load_policy, parse_policy, validate_policy

Raw = dict[str, Any]


@pytest.fixture
def raw(templates: Path) -> Raw:
    data: Raw = yaml.safe_load((templates / "policy.yml").read_text(encoding="utf-8"))
    return data


def test_bundled_policy_is_valid(templates: Path) -> None:
    policy = load_policy(templates / "policy.yml")
    assert policy.org_name == "acme"
    assert policy.environments == ["dev", "staging", "prod"]
    assert policy.sampling_ratio("prod") == 1.0
    assert policy.sampling_ratio("perf") == 0.1  # not listed: the policy ratio
    assert policy.sampling_ratio("nowhere") == policy.raw["sampling"]["ratio"]
    assert policy.ratio_range == (0.01, 1.0)


def _set(path: str, value: Any) -> Callable[[Raw], None]:
    def apply(raw: Raw) -> None:
        *parents, leaf = path.split(".")
        node = raw
        for part in parents:
            node = node[part]
        node[leaf] = value

    return apply


def _delete(path: str) -> Callable[[Raw], None]:
    def apply(raw: Raw) -> None:
        *parents, leaf = path.split(".")
        node = raw
        for part in parents:
            node = node[part]
        del node[leaf]

    return apply


BROKEN: list[tuple[str, Callable[[Raw], None], str, str]] = [
    ("ratio above max", _set("sampling.ratio", 1.5), "sampling.ratio", "out of range"),
    ("ratio not a number", _set("sampling.ratio", "lots"), "sampling.ratio", "must be a number"),
    ("ratio is bool", _set("sampling.ratio", True), "sampling.ratio", "must be a number"),
    (
        "min above max",
        _set("sampling.max_ratio", 0.005),
        "sampling.min_ratio",
        "greater than max_ratio",
    ),
    (
        "env ratio outside range",
        _set("sampling.environments.prod", 0.001),
        "sampling.environments.prod",
        "out of range",
    ),
    (
        "unknown env",
        _set("sampling.environments.qa", 0.5),
        "sampling.environments.qa",
        "not a declared environment",
    ),
    ("unknown top-level field", _set("exporters", {}), "exporters", "not a policy field"),
    (
        "unknown nested field",
        _set("exporter.endpoint", "x"),
        "exporter.endpoint",
        "not a policy field",
    ),
    ("missing section", _delete("exporter"), "exporter", "is missing"),
    ("bad protocol", _set("exporter.protocol", "thrift"), "exporter.protocol", "not supported"),
    (
        "bad endpoint",
        _set("exporter.endpoints.grpc", 'http://x"y'),
        "exporter.endpoints.grpc",
        "http:// or https://",
    ),
    ("timeout zero", _set("exporter.timeout_ms", 0), "exporter.timeout_ms", "out of range"),
    (
        "batch larger than queue",
        _set("exporter.batch.max_export_batch_size", 99999),
        "exporter.batch.max_export_batch_size",
        "larger than max_queue_size",
    ),
    (
        "retry order",
        _set("exporter.retry.initial_interval_ms", 9000),
        "exporter.retry.initial_interval_ms",
        "greater than max_interval_ms",
    ),
    (
        "span name placeholder",
        _set("span_naming.http_server", "{verb} {route}"),
        "span_naming.http_server",
        "must contain {method}",
    ),
    (
        "span name unknown placeholder",
        _set("span_naming.http_server", "{method} {path}"),
        "span_naming.http_server",
        "unknown placeholder",
    ),
    (
        "header captured and redacted",
        _set("http.captured_request_headers", ["authorization"]),
        "http.captured_request_headers",
        "also in redacted_headers",
    ),
    (
        "header uppercase",
        _set("http.redacted_headers", ["Authorization"]),
        "http.redacted_headers[0]",
        "lowercase header",
    ),
    (
        "route without slash",
        _set("http.untraced_routes", ["healthz"]),
        "http.untraced_routes[0]",
        "not a path",
    ),
    (
        "duplicate route",
        _set("http.untraced_routes", ["/a", "/a"]),
        "http.untraced_routes[1]",
        "listed twice",
    ),
    (
        "unknown propagator",
        _set("propagators", ["tracecontext", "xray"]),
        "propagators[1]",
        "not supported",
    ),
    (
        "name pattern unanchored",
        _set("service.name_pattern", "[a-z]+"),
        "service.name_pattern",
        "anchored",
    ),
    (
        "name pattern too loose",
        _set("service.name_pattern", "^.+$"),
        "service.name_pattern",
        "cannot be a service name",
    ),
    (
        "name pattern invalid",
        _set("service.name_pattern", "^[a-$"),
        "service.name_pattern",
        "not a valid regular expression",
    ),
    (
        "default env unknown",
        _set("default_environment", "qa"),
        "default_environment",
        "not in environments",
    ),
    ("version", _set("version", 2), "version", "not supported"),
    (
        "attribute type",
        _set("attributes", [{"name": "acme.team", "type": "str", "brief": "x"}]),
        "attributes[0].type",
        "not an attribute type",
    ),
    (
        "attribute name",
        _set("attributes", [{"name": "Team", "type": "string", "brief": "x"}]),
        "attributes[0].name",
        "dotted lowercase",
    ),
    (
        "attribute brief quote",
        _set("attributes", [{"name": "acme.team", "type": "string", "brief": 'say "hi"'}]),
        "attributes[0].brief",
        "one line of plain text",
    ),
    (
        "required not registered",
        _set(
            "resource.required",
            [
                "service.name",
                "service.namespace",
                "service.version",
                "deployment.environment.name",
                "acme.team",
                "acme.owner",
                "acme.cost.center",
            ],
        ),
        "resource.required",
        "not in the attribute registry",
    ),
    (
        "required misses builtin",
        _set("resource.required", ["service.name", "acme.team", "acme.owner"]),
        "resource.required",
        "must include service.version",
    ),
    (
        "team attribute unregistered",
        _set("org.name", "globex"),
        "attributes",
        "must register 'globex.team'",
    ),
    ("admin path", _set("runtime.admin_path", "admin"), "runtime.admin_path", "not a path"),
    (
        "collector spike above limit",
        _set("collector.memory_spike_limit_mib", 600),
        "collector.memory_spike_limit_mib",
        "below memory_limit_mib",
    ),
    (
        "collector relative storage",
        _set("collector.storage_directory", "queue"),
        "collector.storage_directory",
        "absolute directory",
    ),
    (
        "tail base ratio",
        _set("collector.tail_sampling.base_ratio", 2),
        "collector.tail_sampling.base_ratio",
        "out of range",
    ),
    ("empty verify", _set("verify.go", "  "), "verify.go", "is empty"),
]


@pytest.mark.parametrize(
    ("change", "field", "words"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN]
)
def test_broken_policy_names_field_and_fix(
    raw: Raw, change: Callable[[Raw], None], field: str, words: str
) -> None:
    broken = copy.deepcopy(raw)
    change(broken)
    problems = validate_policy(broken)
    matching = [p for p in problems if p.field == field and words in p.problem]
    assert matching, f"expected a problem at {field!r} mentioning {words!r}, got {problems}"
    assert all(p.fix for p in problems)


def test_policy_must_be_a_mapping() -> None:
    assert [p.field for p in validate_policy(["a"])] == ["policy"]
    assert validate_policy(None)


def test_yaml_syntax_error_names_the_line() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy("version: 1\norg: [unclosed\n", "broken.yml")
    assert "line" in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not found"):
        load_policy(tmp_path / "nowhere.yml")


def test_policy_error_message_is_one_line_and_counts_the_rest(raw: Raw) -> None:
    raw["sampling"]["ratio"] = 7
    raw["exporter"]["protocol"] = "smoke"
    with pytest.raises(PolicyError) as info:
        parse_policy(yaml.safe_dump(raw), "p.yml")
    text = str(info.value)
    assert "\n" not in text
    assert "and 1 more" in text
    assert len(info.value.problems) == 2


def test_cli_policy_validate_ok(templates: Path) -> None:
    result = CliRunner().invoke(cli, ["policy", "validate", str(templates)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output
    assert "prod 1" in result.output


def test_cli_policy_validate_lists_every_problem(raw: Raw, tmp_path: Path) -> None:
    raw["sampling"]["ratio"] = 3
    raw["http"]["untraced_routes"] = ["nope"]
    path = tmp_path / "policy.yml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    result = CliRunner().invoke(cli, ["policy", "validate", str(path)])
    assert result.exit_code == PolicyError.exit_code
    assert "2 problem(s)" in result.output
    assert "sampling.ratio: 3 is out of range" in result.output
    assert "http.untraced_routes[0]" in result.output
