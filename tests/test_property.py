"""Properties of answers: hostile ones are refused cleanly, accepted ones render compiling Go.

The first property throws wide alphabets (any Unicode, quotes, keywords, paths) at the
validators: each answer is refused with a one-line message or comes back safe to embed in a Go
or Rust string literal. The second renders services from tricky answers of the accepted shape
(Unicode, apostrophes, `*/`, format verbs, the longest names) and compiles every one.
"""

from __future__ import annotations

import re
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from scaffold.errors import AnswerError
from scaffold.policy import Policy, load_policy
from scaffold.questions import BOUNDARIES, Question, validate_answer

from .conftest import ROOT, render, require_tool, run
from .toolchains import GO_ENV

POLICY: Policy = load_policy(ROOT / "templates")
SAFE_TEXT = st.characters(
    blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"), blacklist_characters='"\\`'
)
UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}

HOSTILE = {
    "service_name": st.one_of(
        st.text(max_size=45), st.sampled_from(["func", "self", "std", "a" * 41, "../x", "x--y"])
    ),
    "description": st.one_of(
        st.text(max_size=130), st.sampled_from(['say "hi"', "a\\b", "two\nlines", "rtl \u202e"])
    ),
    "module": st.one_of(
        st.text(max_size=40),
        st.sampled_from(["example.com/..", "Example.com/x", "x", "example.com//y"]),
    ),
    "team": st.text(max_size=20),
    "owner": st.text(max_size=20),
    "sampling_ratio": st.one_of(st.text(max_size=8), st.floats(allow_nan=True)),
}


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(HOSTILE)), data=st.data())
def test_every_answer_is_refused_in_one_line_or_safe_to_embed(
    name: str, data: st.DataObject
) -> None:
    value = data.draw(HOSTILE[name])
    try:
        accepted = validate_answer(Question(name=name), value, POLICY, {"environment": "prod"})
    except AnswerError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(f"{name}: ")
        return
    text = str(accepted)
    assert not any(ch in '"\\`' for ch in text)
    assert not any(unicodedata.category(ch) in UNSAFE_CATEGORIES for ch in text)
    if name == "service_name":
        assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", text) and len(text) <= 40


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
                ]
            ),
        ),
        "module": st.builds(
            "example.com/{}{}".format,
            st.from_regex(r"[a-z][a-z0-9._~-]{0,15}[a-z0-9]", fullmatch=True),
            st.sampled_from(["", "/v2", "/x.y", "/A_b"]),
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


@pytest.mark.compile
@settings(
    max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=ACCEPTED_SHAPE)
def test_accepted_answers_always_render_compiling_go(data: dict[str, Any]) -> None:
    require_tool("go", "gofmt")
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "svc"
        try:
            render(dest, language="go", **data)
        except AnswerError as exc:
            # A shape-valid answer can still be refused (a reserved word): cleanly, then.
            event(f"refused: {exc.question}")
            assert list(Path(tmp).iterdir()) == []
            return
        event("accepted and compiled")
        assert run(["gofmt", "-l", "."], dest, GO_ENV).strip() == ""
        run(["go", "build", "./..."], dest, GO_ENV)
        run(["go", "vet", "./..."], dest, GO_ENV)
