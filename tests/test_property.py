"""Property: any answers the validators accept render a Go service that is gofmt-clean and builds.

Each answer is drawn mostly from its valid shape and sometimes from a hostile one (any Unicode,
quotes, keywords, paths). Answers the validators refuse must leave nothing behind; answers they
accept must compile.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from scaffold.errors import AnswerError
from scaffold.questions import BOUNDARIES

from .conftest import render, require_tool, run
from .toolchains import GO_ENV

pytestmark = pytest.mark.compile

SAFE_TEXT = st.characters(
    blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"), blacklist_characters='"\\`'
)


def mostly(
    valid: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """Valid three times in four, so most examples get as far as the compiler."""
    return st.one_of(valid, valid, valid, hostile)


ANSWERS = st.fixed_dictionaries(
    {
        "service_name": mostly(
            st.from_regex(r"[a-z][a-z0-9]{0,10}(-[a-z0-9]{1,8}){0,3}", fullmatch=True),
            st.one_of(
                st.sampled_from(["func", "type", "self", "std", "a" * 41, "x--y", "../x", "Ab"]),
                st.text(min_size=1, max_size=12),
            ),
        ),
        "description": mostly(
            st.one_of(
                st.text(SAFE_TEXT, min_size=1, max_size=120),
                st.sampled_from(["it's */ fine", "// x", "%s %v", "${HOME}", "é\u0301 🚀"]),
            ),
            st.one_of(
                st.text(min_size=1, max_size=130),
                st.sampled_from(['say "hi"', "a\\b", "two\nlines", "rtl \u202e", "x" * 121]),
            ),
        ),
        "module": mostly(
            st.builds(
                "example.com/{}{}".format,
                st.from_regex(r"[a-z][a-z0-9._~-]{0,15}[a-z0-9]", fullmatch=True),
                st.sampled_from(["", "/v2", "/x.y"]),
            ),
            st.one_of(
                st.text(max_size=30),
                st.sampled_from(["example.com/..", "Example.com/x", "x", "example.com//y"]),
            ),
        ),
        "team": mostly(st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True), st.text(max_size=8)),
        "owner": mostly(
            st.from_regex(r"[a-z0-9][a-z0-9.+@-]{0,20}", fullmatch=True), st.text(max_size=8)
        ),
        "environment": mostly(st.sampled_from(["dev", "staging", "prod"]), st.just("qa")),
        "boundaries": st.lists(st.sampled_from(BOUNDARIES), unique=True),
        "sampling_ratio": mostly(
            st.one_of(st.just(""), st.decimals(min_value="0.01", max_value=1, places=3).map(str)),
            st.sampled_from(["2", "-0.5", "nan", "1e-1", "0.001"]),
        ),
        "exporter_protocol": st.sampled_from(["grpc", "http/protobuf"]),
    }
)


@settings(
    max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=ANSWERS)
def test_accepted_answers_always_render_compiling_go(data: dict[str, Any]) -> None:
    require_tool("go", "gofmt")
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "svc"
        try:
            render(dest, language="go", **data)
        except AnswerError as exc:
            event(f"refused: {exc.question}")
            assert list(Path(tmp).iterdir()) == [], "a refused answer must leave nothing behind"
            return
        event("accepted and compiled")
        assert run(["gofmt", "-l", "."], dest, GO_ENV).strip() == ""
        run(["go", "build", "./..."], dest, GO_ENV)
        run(["go", "vet", "./..."], dest, GO_ENV)
