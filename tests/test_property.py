"""Properties of answers and policies: hostile ones are refused cleanly, accepted ones compile.

The first properties throw wide alphabets (any Unicode, quotes, keywords, paths) and the shapes
that broke generated code before (trailing whitespace and newlines, reserved directory names,
names that collide with generated identifiers, Markdown fences, bidi characters) at the answer
and policy validators: each value is refused with a one-line message or comes back safe to embed.
The compile properties render services from tricky values that are accepted (Unicode,
apostrophes, `*/`, format verbs, the longest names, tiny ratios, near-collisions) and build every
one in Go and in Rust.
"""

from __future__ import annotations

import copy
import re
import shutil
import tempfile
import unicodedata
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from scaffold.errors import AnswerError, PolicyError
from scaffold.names import module_path_problem, service_name_problem
from scaffold.policy import Policy, load_policy, parse_policy
from scaffold.questions import BOUNDARIES, Question, validate_answer

from .conftest import ROOT, render, require_tool, run
from .toolchains import CARGO_ENV, GO_ENV

TEMPLATES = ROOT / "templates"
POLICY: Policy = load_policy(TEMPLATES)
RAW: dict[str, Any] = yaml.safe_load((TEMPLATES / "policy.yml").read_text(encoding="utf-8"))
SAFE_TEXT = st.characters(
    blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"), blacklist_characters='"\\`'
)
UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}

# The shapes that broke generated code, applied to any base value.
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\ufeff"
ENDINGS = st.sampled_from(["\n", "\r\n", " ", "\t", "\n\n", "\u2028", "\x0b"])
RESERVED = st.sampled_from(
    ["vendor", "testdata", "func", "type", "self", "std", "con", "com1", "_x", ".x", "..", "~1"]
)
# Names the generated code declares or imports (read from the templates), as answers.
TAKEN = sorted(n for n in POLICY.names.rust_taken if re.fullmatch(r"[a-z][a-z0-9_]{0,9}", n))


def shaped(base: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """`base`, or `base` with a trailing newline or space, a fence or a bidi character in it."""
    return st.one_of(
        base,
        st.builds(str.__add__, base, ENDINGS),
        st.builds(str.__add__, st.sampled_from(["  ", "    ", "\t"]), base),
        st.builds("{}{}{}".format, base, st.sampled_from(["~~~", "```", " ~~~rust "]), base),
        st.builds("{}{}{}".format, base, st.sampled_from(list(BIDI)), base),
    )


GOOD_NAME = st.from_regex(r"[a-z][a-z0-9]{0,10}(-[a-z0-9]{1,8}){0,3}", fullmatch=True)

HOSTILE = {
    "service_name": st.one_of(
        st.text(max_size=45),
        shaped(GOOD_NAME),
        RESERVED,
        st.sampled_from(["func", "self", "std", "a" * 41, "../x", "x--y", "a_", "1a", "x.y"]),
    ),
    "description": st.one_of(
        st.text(max_size=130),
        shaped(st.text(SAFE_TEXT, min_size=1, max_size=40)),
        st.sampled_from(['say "hi"', "a\\b", "two\nlines", "rtl \u202e", "    indented()"]),
    ),
    "module": st.one_of(
        st.text(max_size=40),
        shaped(st.builds("example.com/{}".format, GOOD_NAME)),
        st.builds("example.com/{}".format, RESERVED),
        st.sampled_from(
            [
                "example.com/..",
                "Example.com/x",
                "x",
                "example.com//y",
                "example.com/abc~1",
                "example.com/x/v1",
                "example.com/x/v0",
                "example.com/.x",
                "example.com/x.",
            ]
        ),
    ),
    "team": st.one_of(st.text(max_size=20), shaped(GOOD_NAME)),
    "owner": st.one_of(st.text(max_size=20), shaped(st.just("ops@acme.example"))),
    "sampling_ratio": st.one_of(
        st.text(max_size=8), st.floats(allow_nan=True), shaped(st.just("0.5"))
    ),
    "telemetry_dir": st.one_of(
        st.text(max_size=20),
        shaped(st.sampled_from(["internal/telemetry", "pkg/otel", "otel"])),
        st.builds("internal/{}".format, RESERVED),
    ),
    "rust_telemetry_dir": st.one_of(
        shaped(st.sampled_from(["src/telemetry", "src/otel"])),
        st.builds("src/{}".format, st.one_of(st.sampled_from(TAKEN), RESERVED)),
    ),
}


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(sorted(HOSTILE)), data=st.data())
def test_every_answer_is_refused_in_one_line_or_safe_to_embed(
    name: str, data: st.DataObject
) -> None:
    value = data.draw(HOSTILE[name])
    question, answers = name, {"environment": "prod", "service_name": "orders"}
    if name == "rust_telemetry_dir":
        question, answers = "telemetry_dir", {**answers, "language": "rust"}
    try:
        accepted = validate_answer(Question(name=question), value, POLICY, answers)
    except AnswerError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(f"{question}: ")
        return
    text = str(accepted)
    assert not any(ch in '"\\`' for ch in text)
    assert not any(unicodedata.category(ch) in UNSAFE_CATEGORIES for ch in text)
    assert text == text.strip()
    if name == "description":
        # A fence would open a code block in the doc comments rustdoc compiles.
        assert "~~~" not in text
    if name == "service_name":
        assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", text) and len(text) <= 40
        assert service_name_problem(text) is None
    if name == "module":
        assert module_path_problem(text) is None
    if name == "rust_telemetry_dir":
        assert text.removeprefix("src/") not in POLICY.names.rust_taken


# -- policies --------------------------------------------------------------------------------

# Where a policy string goes, and values of the accepted shape for it.
POLICY_STRINGS: dict[str, st.SearchStrategy[str]] = {
    "org.namespace": st.from_regex(r"[a-z][a-z0-9.-]{0,12}", fullmatch=True),
    "org.module_prefix": st.builds(
        "example.com/{}".format, st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_~-]{0,8}", fullmatch=True)
    ),
    "runtime.admin_path": st.from_regex(r"/[a-z0-9_~-]{1,10}(/[a-z0-9.]{1,5})?", fullmatch=True),
    "logs.trace_id_key": st.from_regex(
        r"[a-z][a-z0-9_]{0,8}(\.[a-z][a-z0-9]{0,4})?", fullmatch=True
    ),
    "span_naming.http_server": st.sampled_from(
        [
            "{method}",
            "{method} {route}",
            "HTTP {method} ~ {route}",
            "{method}:{route} 💳",
            "%s {method} %d",
        ]
    ),
    "exporter.endpoints.grpc": st.sampled_from(
        ["http://collector:4317", "https://[::1]:4317", "http://otel.example.com:4317/v1"]
    ),
    "http.untraced_routes[0]": st.from_regex(r"/[a-z0-9_.~-]{1,12}", fullmatch=True),
    "http.redacted_headers[0]": st.from_regex(r"x-[a-z0-9-]{1,12}", fullmatch=True),
    "http.redacted_query_params[0]": st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True),
}
# Attribute names: near-misses of generated Go identifiers, and the collisions themselves.
ATTRIBUTE_NAMES = st.one_of(
    st.from_regex(r"acme\.[a-z][a-z0-9_]{0,8}(\.[a-z][a-z0-9]{0,6})?", fullmatch=True),
    st.sampled_from(
        [
            "new.logger",
            "scope.name",
            "acme.team_key",
            "acme.owner.key",
            "new.client",
            "set.enabled",
            "acme.new_logger",
            "acme.scope.name",
            "acme.api.id",
            "acme.http.url",
            "acme.team_id",
        ]
    ),
)
BRIEFS = st.one_of(
    st.text(SAFE_TEXT, min_size=1, max_size=60).map(str.strip).filter(bool),
    shaped(st.sampled_from(["Region serving the request.", "it's */ fine", "a ~ b ~~ c"])),
)
RATIOS = st.sampled_from([0.0000001, 0.123456789012, 1e-05, 0.5, 1.0])


def _set(raw: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = re.split(r"\.(?![^\[]*\])", dotted)
    node: Any = raw
    for part in parents:
        node = node[part]
    if leaf.endswith("]"):
        key, index = leaf[:-1].split("[")
        node[key][int(index)] = value
    else:
        node[leaf] = value


@st.composite
def policies(draw: st.DrawFn, hostile: bool) -> dict[str, Any]:
    """The bundled policy with some strings, an attribute and a ratio changed."""
    raw = copy.deepcopy(RAW)
    for field in draw(st.lists(st.sampled_from(sorted(POLICY_STRINGS)), max_size=3, unique=True)):
        value = draw(shaped(POLICY_STRINGS[field]) if hostile else POLICY_STRINGS[field])
        _set(raw, field, value)
    if draw(st.booleans()):
        raw["attributes"].append(
            {
                "name": draw(shaped(ATTRIBUTE_NAMES) if hostile else ATTRIBUTE_NAMES),
                "type": draw(st.sampled_from(["string", "int", "bool", "double"])),
                "brief": draw(BRIEFS),
            }
        )
    if draw(st.booleans()):
        raw["sampling"]["min_ratio"] = draw(st.sampled_from([0.0000001, 0.01]))
        raw["sampling"]["environments"]["dev"] = draw(RATIOS)
    return raw


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=policies(hostile=True))
def test_every_policy_is_refused_in_one_line_or_safe_to_render(raw: dict[str, Any]) -> None:
    try:
        accepted = parse_policy(yaml.safe_dump(raw), TEMPLATES / "policy.yml", templates=TEMPLATES)
    except PolicyError as exc:
        assert "\n" not in str(exc)
        event("refused")
        return
    event("accepted")
    for text in _strings({k: v for k, v in accepted.raw.items() if k != "verify"}):
        assert text == text.strip() or text.startswith(("^", "{")), text
        assert "\n" not in text
        assert not any(unicodedata.category(ch) in UNSAFE_CATEGORIES for ch in text), text
    names = [a["name"] for a in accepted.raw["attributes"]]
    assert len(set(names)) == len(names)
    # A brief is a whole doc comment line: a fence there opens a code block rustdoc compiles.
    assert not any("~~~" in a["brief"] for a in accepted.raw["attributes"])


ACCEPTED_SHAPE = st.fixed_dictionaries(
    {
        "service_name": st.one_of(
            st.from_regex(r"[a-z][a-z0-9]{0,10}(-[a-z0-9]{1,8}){0,3}", fullmatch=True),
            st.just("a" + "-b" * 19 + "c"),
        ),
        "description": st.one_of(
            st.text(SAFE_TEXT, min_size=1, max_size=120).filter(str.strip),
            st.sampled_from(
                [
                    "it's */ fine",
                    "// not a comment",
                    "%s %v %d",
                    "${HOME} {{x}}",
                    "é\u0301 🚀 #![deny]",
                    "[beta] payments",
                    "a ~ b ~~ c",
                    "# not a heading",
                    "<b>bold</b> & [link](x)",
                ]
            ),
        ),
        "module": st.builds(
            "example.com/{}{}".format,
            st.from_regex(r"[a-z][a-z0-9._~-]{0,15}[a-z0-9]", fullmatch=True),
            st.sampled_from(["", "/v2", "/x.y", "/A_b", "/x~y", "/v3/z"]),
        ),
        "team": st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
        "owner": st.from_regex(r"[a-z0-9][a-z0-9.+@_-]{0,30}", fullmatch=True),
        "environment": st.sampled_from(POLICY.environments),
        "boundaries": st.lists(st.sampled_from(BOUNDARIES), unique=True),
        "sampling_ratio": st.one_of(
            st.just(""), st.decimals(min_value="0.01", max_value=1, places=3).map(str)
        ),
        "exporter_protocol": st.sampled_from(["grpc", "http/protobuf"]),
    }
)


def _with_policy(raw: dict[str, Any], where: Path) -> str:
    """A copy of the bundled template set with `raw` as its policy."""
    templates = where / "templates"
    shutil.copytree(TEMPLATES, templates)
    (templates / "policy.yml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    return str(templates)


def _refused_cleanly(exc: AnswerError | PolicyError, where: Path) -> None:
    """A shape-valid value can still be refused (a reserved word, a collision): cleanly, then."""
    event(f"refused: {exc.question if isinstance(exc, AnswerError) else 'policy'}")
    assert "\n" not in str(exc)
    assert sorted(p.name for p in where.iterdir()) == ["templates"]


@pytest.mark.compile
@settings(
    max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=ACCEPTED_SHAPE, raw=policies(hostile=False))
def test_accepted_answers_and_policies_always_render_compiling_go(
    data: dict[str, Any], raw: dict[str, Any]
) -> None:
    require_tool("go", "gofmt")
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "svc"
        try:
            render(dest, template=_with_policy(raw, Path(tmp)), language="go", **data)
        except (AnswerError, PolicyError) as exc:
            _refused_cleanly(exc, Path(tmp))
            return
        event("accepted and compiled")
        assert run(["gofmt", "-l", "."], dest, GO_ENV).strip() == ""
        run(["go", "build", "./..."], dest, GO_ENV)
        run(["go", "vet", "./..."], dest, GO_ENV)


@pytest.mark.compile
@settings(
    max_examples=3, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    data=ACCEPTED_SHAPE,
    raw=policies(hostile=False),
    module=st.sampled_from(["src/telemetry", "src/otel", "src/obs_v2", "src/o"]),
)
def test_accepted_answers_and_policies_always_render_compiling_rust(
    data: dict[str, Any], raw: dict[str, Any], module: str
) -> None:
    """The crate builds and its doc comments (description, briefs) pass `cargo test --doc`."""
    require_tool("cargo")
    # A crate name of its own: the target directory is shared between renders.
    name = re.sub(r"-+$", "", str(data["service_name"])[:28]) + "-" + uuid.uuid4().hex[:8]
    answers = {**data, "service_name": name, "telemetry_dir": module}
    answers.pop("module")
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "svc"
        try:
            render(dest, template=_with_policy(raw, Path(tmp)), language="rust", **answers)
        except (AnswerError, PolicyError) as exc:
            _refused_cleanly(exc, Path(tmp))
            return
        event("accepted and compiled")
        run(["cargo", "build", "--quiet"], dest, CARGO_ENV)
        run(["cargo", "test", "--doc", "--quiet"], dest, CARGO_ENV)
