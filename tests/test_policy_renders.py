"""Any policy `scaffold policy validate` accepts renders gofmt- and rustfmt-clean code.

A routine policy change (a fourth string attribute) once broke `cargo fmt --check` of the Rust
render, and with it `template release`: the templates lay out what the policy lists, and a
formatter reflows a list that grows past the line width or shrinks to nothing. So the policies
here vary what the templates lay out: attribute registries of 0 to 20 entries of each type with
names and briefs up to their longest, organisation names short and long, environments and their
sampling table (absent, empty, partial, full), the HTTP lists from empty to long, the span name,
propagators, and every optional switch. Each accepted policy is rendered in Go and in Rust with
every boundary, and the render is checked with gofmt and rustfmt only: no compile, so the
property fits the CI budget (the compile tier builds the bundled policy and a few variations).
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from scaffold.errors import PolicyError
from scaffold.policy import ATTRIBUTE_TYPES, parse_policy
from scaffold.questions import BOUNDARIES

from .conftest import ROOT, render, require_tool

pytestmark = pytest.mark.compile

TEMPLATES = ROOT / "templates"
RAW: dict[str, Any] = yaml.safe_load((TEMPLATES / "policy.yml").read_text(encoding="utf-8"))
# Briefs are doc comment lines: plain words and punctuation a brief would hold.
BRIEF_WORDS = ["the", "tenant", "id", "of", "a", "request,", "0", "(lowest)", "to", "9.", "x/y"]
WORD = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
LONG_WORD = st.from_regex(r"[a-z][a-z0-9]{20,28}", fullmatch=True)


@st.composite
def attribute_names(draw: st.DrawFn, org: str) -> str:
    """An org attribute name: `org.` and one to four parts, short or long."""
    parts = draw(st.lists(st.one_of(WORD, LONG_WORD), min_size=1, max_size=4))
    return ".".join([org, *parts])


@st.composite
def briefs(draw: st.DrawFn) -> str:
    words = draw(st.lists(st.sampled_from(BRIEF_WORDS), min_size=1, max_size=45))
    text = " ".join(words).capitalize()
    return text[:200].rstrip()


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    """A policy with what the templates lay out varied; the rest as bundled."""
    raw = copy.deepcopy(RAW)
    org = draw(st.sampled_from(["acme", "a", "megacorporationunitedholdings", "org_2"]))
    raw["org"]["name"] = org
    raw["org"]["namespace"] = org.replace("_", "-")
    attributes = [
        {"name": f"{org}.team", "type": "string", "brief": "Team that owns the service."},
        {"name": f"{org}.owner", "type": "string", "brief": "Contact that answers for it."},
    ]
    seen = {a["name"].replace("_", "").replace(".", "") for a in attributes}
    for kind in ATTRIBUTE_TYPES:
        for _ in range(draw(st.integers(0, 20))):
            name = draw(attribute_names(org))
            ident = name.replace("_", "").replace(".", "")
            if ident in seen:
                continue
            seen.add(ident)
            attributes.append({"name": name, "type": kind, "brief": draw(briefs())})
    raw["attributes"] = draw(st.permutations(attributes))
    raw["resource"]["required"] = [
        "service.name",
        "service.namespace",
        "service.version",
        "deployment.environment.name",
        f"{org}.team",
        f"{org}.owner",
    ]
    envs = draw(
        st.lists(
            st.sampled_from(["dev", "staging", "prod", "qa", "preproduction-eu-west", "x"]),
            min_size=1,
            max_size=6,
            unique=True,
        )
    )
    raw["environments"] = envs
    raw["default_environment"] = draw(st.sampled_from(envs))
    sampling = raw["sampling"]
    sampling["min_ratio"] = draw(st.sampled_from([0.0, 0.0001]))
    ratios = st.sampled_from([0.0001, 0.05, 0.123456789, 0.5, 1.0, 1])
    sampling["ratio"] = draw(ratios)
    table = draw(st.sampled_from(["absent", "empty", "some", "all"]))
    if table == "absent":
        del sampling["environments"]
    else:
        listed = {"empty": [], "some": envs[: len(envs) // 2], "all": envs}[table]
        sampling["environments"] = {env: draw(ratios) for env in listed}
    sampling["remote"]["enabled"] = draw(st.booleans())
    sampling["max_root_traces_per_second"] = draw(st.sampled_from([0, 1, 100, 1_000_000]))
    raw["span_naming"]["http_server"] = draw(
        st.sampled_from(
            ["{method} {route}", "{method}", "HTTP {method} {route} handled", "{route} {method}"]
        )
    )
    raw["propagators"] = draw(
        st.sampled_from(
            [["tracecontext"], ["tracecontext", "baggage"], ["baggage", "tracecontext"]]
        )
    )
    http = raw["http"]
    http["untraced_routes"] = draw(
        st.lists(
            st.sampled_from(
                ["/healthz", "/readyz", "/livez", "/internal/status/deep-health-check"]
            ),
            max_size=4,
            unique=True,
        )
    )
    redacted = draw(
        st.lists(
            st.sampled_from(
                [
                    "authorization",
                    "cookie",
                    "set-cookie",
                    "x-api-key",
                    "x-a-very-long-secret-header-name",
                ]
            ),
            min_size=1,
            max_size=5,
            unique=True,
        )
    )
    http["redacted_headers"] = redacted
    http["captured_request_headers"] = [
        h
        for h in draw(
            st.lists(
                st.sampled_from(
                    ["user-agent", "x-request-id", "cookie", "x-forwarded-for-original-client"]
                ),
                max_size=4,
                unique=True,
            )
        )
        if h not in redacted
    ]
    http["redacted_query_params"] = draw(
        st.lists(
            st.sampled_from(["token", "sig", "access_token", "a.very.long.query-parameter_name"]),
            max_size=4,
            unique=True,
        )
    )
    raw["database"]["record_query_text"] = draw(st.booleans())
    raw["spans"]["extra_attributes"] = draw(st.booleans())
    return raw


def _largest(kind_count: int, org: str = "megacorporationunitedholdings") -> dict[str, Any]:
    """Every list at its longest: `kind_count` attributes of each type with the longest names."""
    raw = copy.deepcopy(RAW)
    raw["org"]["name"] = raw["org"]["namespace"] = org
    attributes = [
        {"name": f"{org}.team", "type": "string", "brief": "Team that owns the service."},
        {"name": f"{org}.owner", "type": "string", "brief": "Contact that answers for it."},
    ]
    raw["sampling"]["min_ratio"] = 0.0001
    for kind in ATTRIBUTE_TYPES:
        for i in range(kind_count):
            name = f"{org}.{kind}{i}.averyveryverylongsegmentname.another_long_segment"
            attributes.append({"name": name, "type": kind, "brief": ("Word " * 39 + "end.")[:200]})
    raw["attributes"] = attributes
    raw["resource"]["required"] = [
        "service.name",
        "service.namespace",
        "service.version",
        "deployment.environment.name",
        f"{org}.team",
        f"{org}.owner",
    ]
    raw["http"]["untraced_routes"] = []
    raw["http"]["captured_request_headers"] = []
    raw["http"]["redacted_query_params"] = []
    return raw


def _with_policy(raw: dict[str, Any], where: Path) -> str:
    templates = where / "templates"
    shutil.copytree(TEMPLATES, templates)
    (templates / "policy.yml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    return str(templates)


def _unformatted_go(dest: Path) -> str:
    proc = subprocess.run(
        ["gofmt", "-d", "."], cwd=dest, capture_output=True, text=True, check=False
    )
    return proc.stdout + proc.stderr


def _unformatted_rust(dest: Path) -> str:
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*.rs"))
    proc = subprocess.run(
        ["rustfmt", "--check", "--edition", "2024", *files],
        cwd=dest,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout + proc.stderr if proc.returncode else ""


@settings(
    max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(raw=policies())
@example(raw=_largest(20))
@example(raw=_largest(0, org="a"))
@example(raw=RAW)
def test_every_accepted_policy_renders_formatted_go_and_rust(raw: dict[str, Any]) -> None:
    require_tool("gofmt", "rustfmt")
    try:
        parse_policy(yaml.safe_dump(raw), TEMPLATES / "policy.yml", templates=TEMPLATES)
    except PolicyError as exc:
        event(f"refused: {exc.problems[0].field if exc.problems else 'policy'}")
        return
    event("accepted")
    with tempfile.TemporaryDirectory() as tmp:
        template = _with_policy(raw, Path(tmp))
        go = Path(tmp) / "go"
        render(
            go, template=template, language="go", service_name="pol-go", boundaries=list(BOUNDARIES)
        )
        unformatted = _unformatted_go(go)
        assert not unformatted, unformatted
        rust = Path(tmp) / "rust"
        render(
            rust,
            template=template,
            language="rust",
            service_name="pol-rust",
            boundaries=list(BOUNDARIES),
        )
        unformatted = _unformatted_rust(rust)
        assert not unformatted, unformatted
