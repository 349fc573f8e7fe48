"""A Go and a Rust service rendered from one policy agree on every policy-driven value.

The policy is rewritten with sentinel values nothing else in the templates contains; each must
reach the non-test source of both services. A template that hard-codes a value, or reads another
field, shows up as a sentinel missing on one side.
"""

from __future__ import annotations

import re
import shutil

import pytest
import yaml

from .conftest import ROOT, render

SENTINELS = {
    "sampling ratio (prod)": ("sampling.environments.prod", 0.37, "0.37"),
    "export timeout": ("exporter.timeout_ms", 6543, "6543"),
    "batch queue size": ("exporter.batch.max_queue_size", 1234, "1234"),
    "batch size": ("exporter.batch.max_export_batch_size", 123, "123"),
    "batch delay": ("exporter.batch.schedule_delay_ms", 2345, "2345"),
    "shutdown deadline": ("runtime.shutdown_timeout_ms", 3456, "3456"),
    "grpc endpoint": (
        "exporter.endpoints.grpc",
        "http://collector.sentinel:14317",
        "http://collector.sentinel:14317",
    ),
    "http endpoint": (
        "exporter.endpoints.http/protobuf",
        "http://collector.sentinel:14318",
        "http://collector.sentinel:14318",
    ),
    "span naming": ("span_naming.http_server", "{method} ~ {route}", "{method} ~ {route}"),
    "untraced route": ("http.untraced_routes", ["/sentinel-health"], "/sentinel-health"),
    "redacted header": (
        "http.redacted_headers",
        ["authorization", "x-sentinel-secret"],
        "x-sentinel-secret",
    ),
    "captured header": ("http.captured_request_headers", ["x-sentinel-trace"], "x-sentinel-trace"),
    "redacted query parameter": (
        "http.redacted_query_params",
        ["sentinel_token"],
        "sentinel_token",
    ),
    "trace id log key": ("logs.trace_id_key", "sentinel_trace_id", "sentinel_trace_id"),
    "admin path": ("runtime.admin_path", "/sentinel/telemetry", "/sentinel/telemetry"),
    "namespace": ("org.namespace", "sentinel-ns", "sentinel-ns"),
}
REGISTERED = "acme.sentinel.attribute"


def _set(raw: dict[str, object], dotted: str, value: object) -> None:
    node = raw
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node[part]  # type: ignore[assignment]
    node[leaf] = value


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("agreement")
    template = root / "templates"
    shutil.copytree(ROOT / "templates", template)
    raw = yaml.safe_load((template / "policy.yml").read_text(encoding="utf-8"))
    for dotted, value, _ in SENTINELS.values():
        _set(raw, dotted, value)
    raw["attributes"].append({"name": REGISTERED, "type": "int", "brief": "Sentinel."})
    (template / "policy.yml").write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    sources = {}
    for language, pattern in (("go", "*.go"), ("rust", "*.rs")):
        dest = root / language
        render(
            dest,
            template=str(template),
            service_name="agree",
            language=language,
            environment="prod",
            boundaries=["http_client"],
        )
        files = [
            p
            for p in dest.rglob(pattern)
            if not p.name.endswith("_test.go")
            and "tests" not in p.parts
            and "benches" not in p.parts
        ]
        sources[language] = "\n".join(p.read_text(encoding="utf-8") for p in files)
    return sources


@pytest.mark.parametrize("name", SENTINELS)
def test_both_languages_carry_the_policy_value(rendered: dict[str, str], name: str) -> None:
    expected = SENTINELS[name][2]
    token = re.compile(rf"(?<![\w.]){re.escape(expected)}(?![\w])")
    for language, source in rendered.items():
        assert token.search(source), f"{name} ({expected}) missing from the {language} service"


def test_both_languages_register_the_same_attributes(rendered: dict[str, str]) -> None:
    policy = yaml.safe_load((ROOT / "templates" / "policy.yml").read_text(encoding="utf-8"))
    names = [a["name"] for a in policy["attributes"]] + [REGISTERED]
    for language, source in rendered.items():
        declared = set(re.findall(r'"(acme\.[a-z0-9_.]+)"', source))
        assert set(names) <= declared, f"{language} lacks {set(names) - declared}"
