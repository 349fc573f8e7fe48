"""`scaffold.policy_diff`: a policy change in plain words, on raw policies and real git repos."""

from __future__ import annotations

import copy
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from scaffold.errors import PolicyError, TemplateError
from scaffold.policy import POLICY_FILE, Policy, load_policy, parse_policy
from scaffold.policy_diff import (
    diff_policies,
    diff_raw,
    format_duration,
    format_ratio,
    load_policy_spec,
    policy_at_ref,
)
from scaffold.source import bundled_templates
from scaffold.template_repo import init_template_repo

BUNDLED: dict[str, Any] = yaml.safe_load(
    (bundled_templates() / POLICY_FILE).read_text(encoding="utf-8")
)


def _edit(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    raw = copy.deepcopy(BUNDLED)
    change(raw)
    return raw


def _sentences(new: dict[str, Any]) -> list[str]:
    return [change.sentence for change in diff_raw(BUNDLED, new)]


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


# -- formatting -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (250, "250ms"),
        (1000, "1s"),
        (1500, "1.5s"),
        (10_000, "10s"),
        (90_000, "90s"),
        (60_000, "1min"),
        (300_000, "5min"),
        (3_600_000, "1h"),
        (86_400_000, "24h"),
    ],
)
def test_durations_read_like_a_person_says_them(ms: int, text: str) -> None:
    assert format_duration(ms) == text


@pytest.mark.parametrize(
    ("ratio", "text"),
    [(0.1, "10%"), (0.05, "5%"), (0.005, "0.5%"), (1.0, "100%"), (1, "100%"), (0.333, "33.3%")],
)
def test_ratios_read_as_percentages(ratio: float, text: str) -> None:
    assert format_ratio(ratio) == text


# -- sentences --------------------------------------------------------------------------------


def test_the_same_policy_has_no_changes() -> None:
    policy = load_policy(bundled_templates())
    assert diff_policies(policy, policy) == []
    # Key order and `1` vs `1.0` are not changes a service would notice.
    reordered = dict(reversed(list(copy.deepcopy(BUNDLED).items())))
    reordered["sampling"]["max_ratio"] = 1
    assert diff_raw(BUNDLED, reordered) == []


def test_the_examples_of_the_issue() -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["sampling"]["environments"]["prod"] = 0.05
        raw["exporter"]["timeout_ms"] = 10_000
        raw["attributes"].append(
            {"name": "acme.cost_center", "type": "string", "brief": "Cost centre billed."}
        )
        raw["resource"]["required"].append("acme.cost_center")
        raw["http"]["redacted_headers"].append("x-foo")

    new = _edit(change)
    parse_policy(yaml.safe_dump(new))  # the edited policy is a valid one
    changes = diff_raw(BUNDLED, new)
    assert [(c.path, c.kind, c.sentence) for c in changes] == [
        (
            "resource.required[acme.cost_center]",
            "added",
            "new required resource attribute `acme.cost_center`: every service must set it",
        ),
        (
            "attributes[acme.cost_center]",
            "added",
            "new org attribute `acme.cost_center` (string): Cost centre billed.",
        ),
        (
            "sampling.environments.prod",
            "changed",
            "sampling in prod: 100% -> 5% of new traces",
        ),
        ("exporter.timeout_ms", "changed", "exporter timeout 5s -> 10s"),
        ("http.redacted_headers[x-foo]", "added", "header `x-foo` is now redacted"),
    ]
    assert changes[2].old == 1.0
    assert changes[2].new == 0.05
    assert changes[3].to_dict() == {
        "path": "exporter.timeout_ms",
        "kind": "changed",
        "old": 5000,
        "new": 10_000,
        "sentence": "exporter timeout 5s -> 10s",
    }


def test_attributes_added_removed_and_retyped() -> None:
    def change(raw: dict[str, Any]) -> None:
        attrs = raw["attributes"]
        attrs[:] = [a for a in attrs if a["name"] != "acme.tenant.id"]
        next(a for a in attrs if a["name"] == "acme.request.priority")["type"] = "string"
        next(a for a in attrs if a["name"] == "acme.feature.enabled")["brief"] = "Behind a flag."

    assert _sentences(_edit(change)) == [
        "org attribute `acme.request.priority` changes type int -> string: code that sets it must change",
        "org attribute `acme.feature.enabled` is now described as: Behind a flag.",
        "org attribute `acme.tenant.id` is removed: its generated constant goes away, so code that uses it must change",
    ]


def test_sampling_is_told_per_environment() -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["environments"] = ["dev", "staging", "prod", "qa"]
        raw["sampling"]["ratio"] = 0.2
        del raw["sampling"]["environments"]["prod"]  # prod now follows the default: 20%
        raw["sampling"]["environments"]["staging"] = 1.0  # unchanged

    new = _edit(change)
    parse_policy(yaml.safe_dump(new))
    assert _sentences(new) == [
        "new environment `qa` (sampling 20% of new traces)",
        "sampling in prod: 100% -> 20% of new traces",
        "default sampling (environments without their own ratio): 10% -> 20% of new traces",
    ]


def test_an_explicit_ratio_equal_to_the_default_is_still_reported() -> None:
    old = copy.deepcopy(BUNDLED)
    old["sampling"]["environments"]["prod"] = old["sampling"]["ratio"]  # 0.1
    new = copy.deepcopy(old)
    del new["sampling"]["environments"]["prod"]

    assert [change.sentence for change in diff_raw(old, new)] == [
        "sampling in prod now follows the default ratio (still 10%)"
    ]


def test_environment_removed_and_lists_in_words() -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["environments"].remove("staging")
        del raw["sampling"]["environments"]["staging"]
        raw["propagators"] = ["tracecontext"]
        raw["http"]["untraced_routes"].append("/metrics")
        raw["http"]["captured_request_headers"].remove("user-agent")
        raw["http"]["redacted_query_params"].append("session")
        raw["resource"]["required"].remove("acme.owner")
        raw["exporter"]["retry"]["enabled"] = False
        raw["runtime"]["shutdown_timeout_ms"] = 1500

    assert _sentences(_edit(change)) == [
        "resource attribute `acme.owner` is no longer required",
        "environment `staging` is removed: services deployed to it must choose another",
        "exporter retry: on -> off",
        "services no longer propagate `baggage` context to the services they call",
        "requests to `/metrics` are no longer traced",
        "request header `user-agent` is no longer recorded on server spans",
        "query parameter `session` is now redacted wherever a URL is recorded",
        "telemetry flush deadline at shutdown 5s -> 1.5s",
    ]


def test_a_field_without_a_sentence_of_its_own_is_still_reported() -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["exporter"]["compression"] = "gzip"  # a field a later policy format might add
        raw["collector"]["tail_sampling"]["error_wait_ms"] = 2000
        del raw["logs"]["span_id_key"]

    assert _sentences(_edit(change)) == [
        "`exporter.compression` added: `gzip`",
        "`logs.span_id_key` removed (was `span_id`)",
        "`collector.tail_sampling.error_wait_ms` added: 2s",
    ]


def _leaves(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list) and node and isinstance(node[0], dict):
        for index, value in enumerate(node):
            yield from _leaves(value, f"{path}[{index}]")
    else:
        yield path, node


def _mutated(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value / 2 if isinstance(value, float) else value + 1
    if isinstance(value, str):
        return f"{value}x"
    assert isinstance(value, list)
    return value[:-1]


def _set(raw: Any, path: str, value: Any) -> None:
    parts = path.replace("[", ".[").split(".")
    node = raw
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    last = parts[-1]
    if last.startswith("["):
        node[int(last[1:-1])] = value
    else:
        node[last] = value


@pytest.mark.parametrize(("path", "value"), list(_leaves(BUNDLED)))
def test_every_field_of_the_policy_is_reported_when_it_changes(path: str, value: Any) -> None:
    new = copy.deepcopy(BUNDLED)
    _set(new, path, _mutated(value))
    changes = diff_raw(BUNDLED, new)
    assert changes, f"changing {path} was not reported"
    for change in changes:
        assert change.sentence.strip()
        assert "<absent>" not in change.sentence


def test_malformed_policies_do_not_crash_the_diff() -> None:
    odd: dict[str, Any] = {"sampling": 3, "attributes": "none", "environments": {"a": 1}}
    sentences = [c.sentence for c in diff_raw(BUNDLED, odd)]
    assert any(s.startswith("`sampling`") for s in sentences)
    assert any(s.startswith("`attributes`") for s in sentences)
    assert diff_raw({}, {}) == []


# -- loading ----------------------------------------------------------------------------------


@pytest.fixture
def template_repo(tmp_path: Path) -> Path:
    """A template repository at v1.0.0, and a v1.1.0 that lowers prod sampling."""
    repo = init_template_repo(tmp_path / "templates", "v1.0.0")
    policy = repo / POLICY_FILE
    policy.write_text(
        policy.read_text(encoding="utf-8").replace("    prod: 1.0\n", "    prod: 0.05\n"),
        encoding="utf-8",
    )
    _git(repo, "commit", "-qam", "Lower prod sampling")
    _git(repo, "tag", "-a", "v1.1.0", "-m", "v1.1.0")
    return repo


def test_load_a_file_a_directory_and_a_git_ref(template_repo: Path) -> None:
    from_dir = load_policy_spec(str(template_repo))
    from_file = load_policy_spec(str(template_repo / POLICY_FILE))
    old = load_policy_spec("git:v1.0.0", repo=template_repo)
    new = policy_at_ref(template_repo, "v1.1.0")
    assert from_dir.raw == from_file.raw == new.raw
    assert str(old.path) == "v1.0.0:policy.yml"
    assert [c.sentence for c in diff_policies(old, from_dir)] == [
        "sampling in prod: 100% -> 5% of new traces"
    ]


def test_git_refs_that_do_not_exist_or_lack_a_policy(template_repo: Path) -> None:
    with pytest.raises(TemplateError, match=re.escape("no version 'v9.9.9'")):
        load_policy_spec("git:v9.9.9", repo=template_repo)
    with pytest.raises(TemplateError, match="not a git repository"):
        load_policy_spec("git:v1.0.0", repo=template_repo.parent)
    _git(template_repo, "rm", "-q", POLICY_FILE)
    _git(template_repo, "commit", "-qm", "Drop the policy")
    with pytest.raises(PolicyError, match=re.escape("HEAD:policy.yml")):
        policy_at_ref(template_repo, "HEAD")
    with pytest.raises(PolicyError, match="not found"):
        load_policy_spec(str(template_repo / POLICY_FILE))


def test_an_old_invalid_policy_is_still_read_for_a_diff(template_repo: Path) -> None:
    policy = template_repo / POLICY_FILE
    policy.write_text(policy.read_text(encoding="utf-8") + "retired_field: 1\n", encoding="utf-8")
    _git(template_repo, "commit", "-qam", "An old field")
    with pytest.raises(PolicyError):
        policy_at_ref(template_repo, "HEAD")
    old = policy_at_ref(template_repo, "HEAD", validate=False)
    new = Policy(raw=BUNDLED, path=Path("new"))
    assert "`retired_field` removed (was 1)" in [c.sentence for c in diff_policies(old, new)]
