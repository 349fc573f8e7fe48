"""The org policy: the bundled one is valid, broken ones are explained field by field."""

from __future__ import annotations

import copy
import shutil
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
        "not safe as a directory",
    ),
    # Path-unsafe names a pattern must not admit: `cmd/../main.go` lands at the project root.
    *[
        (
            f"name pattern admits {probe!r}",
            _set("service.name_pattern", pattern),
            "service.name_pattern",
            f"accepts {probe!r}",
        )
        for pattern, probe in [
            ("^[a-z.]+$", "."),
            ("^([a-z]+|[.][.])$", ".."),
            ("^[a-z\\\\]+$", "\\"),
            ("^[a-z{}]+$", "{"),
            ("^[a-z~]+$", "~"),
            ("^[a-z~0-9]+$", "~"),
            ("^[a-z0-9-]+$", "-a"),
            ("^[a-z0-9]+$", "1a"),
        ]
    ],
    # Patterns that backtrack exponentially would hang `scaffold new` on a near-miss.
    *[
        (
            f"name pattern backtracks {pattern}",
            _set("service.name_pattern", pattern),
            "service.name_pattern",
            "backtracks exponentially",
        )
        for pattern in ("^(a+)+$", "^([a-z]+-?)+$", "^(\\w+\\s?)*$", "^(aa|a)+$", "^(a?a)+$")
    ],
    (
        "name pattern backreference",
        _set("service.name_pattern", "^([a-z])\\1$"),
        "service.name_pattern",
        "backreference",
    ),
    (
        "module prefix go refuses",
        _set("org.module_prefix", "example.com/abc~1"),
        "org.module_prefix",
        "Windows short name",
    ),
    (
        "attribute brief fence",
        _set("attributes", [{"name": "acme.team", "type": "string", "brief": "see ~~~ below"}]),
        "attributes[0].brief",
        "~~~",
    ),
    (
        "attribute brief bidi",
        _set("attributes", [{"name": "acme.team", "type": "string", "brief": "abc \u202e cba"}]),
        "attributes[0].brief",
        "U+202E",
    ),
    (
        "attribute brief indented",
        _set("attributes", [{"name": "acme.team", "type": "string", "brief": "    code()"}]),
        "attributes[0].brief",
        "start or end with spaces",
    ),
    (
        "span name bidi",
        _set("span_naming.http_server", "{method} \u2067{route}"),
        "span_naming.http_server",
        "unknown placeholder or character",
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


def _string_fields(node: Any, path: str = "") -> list[tuple[str, list[str | int]]]:
    """Every string of a policy with its field name and the keys that lead to it."""
    found: list[tuple[str, list[str | int]]] = []

    def walk(value: Any, field: str, keys: list[str | int]) -> None:
        if isinstance(value, str):
            found.append((field, keys))
        elif isinstance(value, dict):
            for key, child in value.items():
                walk(child, f"{field}.{key}" if field else str(key), [*keys, key])
        elif isinstance(value, list):
            for index, child in enumerate(value):
                walk(child, f"{field}[{index}]", [*keys, index])

    walk(node, path, [])
    return found


def test_a_trailing_newline_is_refused_in_every_policy_string(raw: Raw) -> None:
    """`$` matches before a final newline: every string is matched whole, or it lands in code."""
    fields = [(f, k) for f, k in _string_fields(raw) if not f.startswith("verify.")]
    assert len(fields) > 40
    named = {f for f, _ in fields}
    for expected in (
        "attributes[2].name",
        "http.redacted_headers[0]",
        "http.untraced_routes[0]",
        "exporter.endpoints.grpc",
        "runtime.admin_path",
        "logs.trace_id_key",
        "org.namespace",
        "http.redacted_query_params[0]",
        "http.captured_request_headers[0]",
    ):
        assert expected in named
    accepted = []
    for field, keys in fields:
        broken = copy.deepcopy(raw)
        node: Any = broken
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] += "\n"
        if not validate_policy(broken):
            accepted.append(field)
    assert accepted == [], f"a trailing newline passes in {accepted}"


def _with_attributes(raw: Raw, *names: str) -> str:
    raw["attributes"] += [{"name": n, "type": "string", "brief": "An attribute."} for n in names]
    return yaml.safe_dump(raw)


@pytest.mark.parametrize(
    ("names", "words"),
    [
        # NewLogger is a function of the generated Go package.
        (["new.logger"], "'new.logger' becomes the Go name NewLogger, which the generated code"),
        (["scope.name"], "becomes the Go name ScopeName, which the generated code"),
        (["new.client"], "becomes the Go name NewClient, which the generated code"),
        # acme.team already makes AcmeTeamKey, its key constant.
        (["acme.team_key"], "'acme.team_key' becomes the Go name AcmeTeamKey, as 'acme.team'"),
    ],
)
def test_attribute_names_that_collide_with_generated_code_are_refused(
    raw: Raw, templates: Path, names: list[str], words: str
) -> None:
    text = _with_attributes(raw, *names)
    assert validate_policy(yaml.safe_load(text)) == []  # only the templates can tell
    with pytest.raises(PolicyError) as info:
        parse_policy(text, templates / "policy.yml", templates=templates)
    assert words in str(info.value), str(info.value)
    assert info.value.problems[0].field.startswith("attributes[")


def test_attribute_collisions_are_read_from_the_templates_not_a_list(
    raw: Raw, templates: Path, tmp_path: Path
) -> None:
    """A template that declares a new name is covered the moment it declares it."""
    shutil.copytree(templates, tmp_path / "t")
    package = tmp_path / "t" / "go" / "{{ telemetry_dir }}"
    (package / "extra.go.jinja").write_text(
        "package telemetry\n\n// AcmeTenantID is new.\nfunc AcmeTenantID() {}\n", encoding="utf-8"
    )
    text = yaml.safe_dump(raw)
    parse_policy(text, templates=templates)
    with pytest.raises(PolicyError, match="becomes the Go name AcmeTenantID, which"):
        load_policy(tmp_path / "t")
    # A name declared only in the test package is another scope.
    (package / "extra.go.jinja").write_text(
        "package telemetry_test\n\nfunc AcmeTenantID() {}\n", encoding="utf-8"
    )
    load_policy(tmp_path / "t")


def test_policy_yaml_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        prev, name = chr(96 + i), chr(97 + i)
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    path = tmp_path / "policy.yml"
    path.write_text("\n".join(levels) + "\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="expands to more than"):
        load_policy(path)
    path.write_text("a: " + "x" * 1_000_001, encoding="utf-8")
    with pytest.raises(PolicyError, match="characters long"):
        load_policy(path)


def test_policy_that_is_not_utf8_is_one_clear_problem(tmp_path: Path) -> None:
    path = tmp_path / "policy.yml"
    path.write_bytes("org:\n  name: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(PolicyError, match="not UTF-8") as info:
        load_policy(path)
    assert "\n" not in str(info.value)
