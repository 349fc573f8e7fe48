"""Names and text that land in generated code: the toolchains' own rules, read where they live.

Go module paths are checked against the go command itself, regular expressions against the
clock, Rust module names against what the templates import, and the YAML reader against bombs.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from scaffold import _yaml
from scaffold.errors import AnswerError
from scaffold.names import (
    NAME_PROBES,
    RUST_KEYWORDS,
    backtracking_problem,
    doc_text_problem,
    module_path_problem,
    service_name_problem,
)
from scaffold.policy import load_policy
from scaffold.questions import Question, validate_answer
from scaffold.template_names import read_template_names, rust_declarations

from .conftest import require_tool
from .toolchains import GO_ENV

# -- Go module paths -------------------------------------------------------------------------

MODULE_PATHS = [
    "github.com/acme/payments-api",
    "example.com/abc~1",
    "example.com/abc~1.x/y",
    "example.com/abc~x",
    "example.com/x~",
    "example.com/com1.go",
    "example.com/aux",
    "example.com/LPT9",
    "example.com/x/v2",
    "example.com/x/v1",
    "example.com/x/v0",
    "example.com/x/v02",
    "example.com/.x",
    "example.com/x.",
    "example.com/x..y",
    "example.com/A_b~c.d-e",
    "example.com/ü",
    "example.com/x y",
    "example.com/x+y",
    "example.com/x%20y",
    "-example.com/x",
    "exa_mple.com/x",
    "example/x",
    "gopkg.in/yaml.v3",
]


@pytest.mark.compile
def test_every_module_path_go_refuses_is_refused(tmp_path: Path) -> None:
    """Whatever `new` accepts as a module, the go command accepts as a module path."""
    require_tool("go")
    verdicts: dict[str, bool] = {}
    for path in MODULE_PATHS:
        work = tmp_path / str(len(verdicts))
        work.mkdir()
        (work / "go.mod").write_text(f"module {path}\n\ngo 1.22\n", encoding="utf-8")
        proc = subprocess.run(
            ["go", "list", "-m"],
            cwd=work,
            env={**GO_ENV, "PATH": str(Path(shutil.which("go") or "go").parent)},
            capture_output=True,
            text=True,
            check=False,
        )
        verdicts[path] = proc.returncode == 0
        if not verdicts[path]:
            assert module_path_problem(path), f"go refuses {path!r}: {proc.stderr}"
    assert not verdicts["example.com/abc~1"] and verdicts["github.com/acme/payments-api"]


def test_module_path_rules_of_check_path() -> None:
    # module.CheckPath is stricter than what the go command accepts for a main module.
    for path in ("example.com/x/v1", "example.com/.x", "Example.com/x", "example.com/x~1/y"):
        assert module_path_problem(path), path
    for path in ("example.com/x/v2", "example.com/A_b~c.d-e", "gopkg.in/yaml.v3", "a.b"):
        assert module_path_problem(path) is None, path


# -- service names ---------------------------------------------------------------------------


@pytest.mark.parametrize("probe", NAME_PROBES)
def test_no_probe_is_a_safe_service_name(probe: str) -> None:
    assert service_name_problem(probe)


@pytest.mark.parametrize("name", ["vendor", "testdata", "func", "self", "std", "com1", "a__b"])
def test_reserved_service_names_are_refused_whatever_the_pattern(name: str) -> None:
    assert service_name_problem(name)


# -- patterns that backtrack -----------------------------------------------------------------


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt a regular-expression match that runs too long (re checks for signals)."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


ATOMS = st.sampled_from(["a", "-", "[a-z]", "[a-z0-9]", "[0-9]", "\\w", "\\d", "."])
QUANTIFIERS = st.sampled_from(["", "?", "*", "+", "{0,3}", "{2}"])


def _patterns(depth: int) -> st.SearchStrategy[str]:
    atom = st.builds(str.__add__, ATOMS, QUANTIFIERS)
    if depth == 0:
        return atom
    inner = st.lists(_patterns(depth - 1), min_size=1, max_size=3).map("".join)
    group = st.builds("({}){}".format, inner, QUANTIFIERS)
    alternation = st.builds("(?:{}|{}){}".format, inner, inner, QUANTIFIERS)
    return st.one_of(atom, group, alternation)


NEAR_MISSES = ["a" * 62 + "!", "a-" * 31 + "!", "a1" * 31 + "-", "-" * 62 + "!", "1" * 62 + "a"]


@settings(max_examples=300, deadline=None)
@given(body=st.lists(_patterns(2), min_size=1, max_size=3).map("".join))
def test_patterns_that_pass_the_check_match_any_63_characters_quickly(body: str) -> None:
    """The property the check exists for: nothing it lets through can hang `scaffold new`."""
    pattern = f"^{body}$"
    if backtracking_problem(pattern):
        return
    compiled = re.compile(pattern)
    with time_limit(2.0):
        for text in NEAR_MISSES:
            compiled.fullmatch(text)


@pytest.mark.parametrize(
    "pattern",
    # Found by the property above while the check was being written: each hangs on 63 chars.
    ["^(?:a|a)*$", "^a*(?:a|a*a*a*)$", "^(-(a?)?)*$", "^(a+)+$", "^(aa?)+$", "^(\\w+\\s?)*$"],
)
def test_patterns_that_hang_are_refused(pattern: str) -> None:
    assert backtracking_problem(pattern)


@pytest.mark.parametrize(
    "pattern",
    ["^[a-z][a-z0-9]*(-[a-z0-9]+)*$", "^[a-z][a-z0-9-]*[a-z0-9]$", "^[a-z](-?[a-z0-9])*$"],
)
def test_usual_name_patterns_pass(pattern: str) -> None:
    assert backtracking_problem(pattern) is None


def test_the_issue_pattern_hangs_without_the_check_and_is_refused() -> None:
    pattern = "^(a+)+$"
    assert backtracking_problem(pattern)
    started = time.monotonic()
    with pytest.raises(TimeoutError), time_limit(0.5):
        re.fullmatch(pattern, "a" * 36 + "!")
    assert time.monotonic() - started < 5


# -- text in doc comments --------------------------------------------------------------------

CONTROL_CATEGORIES = ("Cc", "Cf", "Zl", "Zp", "Co")


def _all_chars(categories: tuple[str, ...]) -> list[str]:
    return [
        chr(cp)
        for cp in range(sys.maxunicode + 1)
        if not 0xD800 <= cp <= 0xDFFF and unicodedata.category(chr(cp)) in categories
    ]


def test_every_control_format_and_bidi_character_is_refused() -> None:
    chars = _all_chars(CONTROL_CATEGORIES)
    # Every bidi control of the Unicode bidi algorithm is among them.
    for bidi in "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069":
        assert bidi in chars
    assert [c for c in chars if not doc_text_problem(f"a{c}b")] == []


def test_copier_yml_description_validator_refuses_the_same_characters(templates: Path) -> None:
    """Plain `copier copy` refuses them too: the validator's class covers every one."""
    text = (templates / "copier.yml").read_text(encoding="utf-8")
    block = text[text.index("\ndescription:") : text.index("\nteam:")]
    literal = re.search(r"regex_search\('(.*?)'\)\)", block, re.S)
    assert literal is not None
    unsafe = re.compile(literal[1].replace('\\"', '"').replace("\\\\", "\\"))
    missed = [c for c in _all_chars(CONTROL_CATEGORIES) if not unsafe.search(c)]
    assert missed == [], [f"U+{ord(c):04X}" for c in missed[:10]]
    assert unsafe.search('"') and unsafe.search("\\") and unsafe.search("`")


@pytest.mark.parametrize(
    "text", ["~~~", "see ~~~rust", "  indented", "trailing ", "a\u202eb", "tab\there"]
)
def test_doc_text_that_rustdoc_or_rustc_would_compile_or_refuse(text: str) -> None:
    assert doc_text_problem(text)


# -- Rust module names, read from the templates ----------------------------------------------


def test_use_trees_bind_the_names_they_import() -> None:
    code = (
        "use std::io;\nuse tokio::sync::watch;\nuse opentelemetry::{KeyValue, global};\n"
        "use a::{b::{self, c as d}, e::*};\nfn main() {\n    use x::inner;\n}\n"
        "impl S {\n    fn method(&self) {}\n}\nmod tests {}\nconst LIMIT: u8 = 1;\n"
    )
    names = set(rust_declarations(code))
    assert {"io", "watch", "global", "KeyValue", "b", "d", "inner", "tests"} <= names
    assert {"std", "tokio", "opentelemetry", "a", "x"} <= names
    assert "method" not in names and "c" not in names and "e" not in names
    # Functions and constants live in the value namespace: a module may share their names.
    assert "main" not in names and "LIMIT" not in names


def test_rust_names_include_what_the_issue_found(templates: Path) -> None:
    taken = read_template_names(templates).rust_taken
    assert {"watch", "global", "io", "tokio", "tracing_subscriber", "app", "main", "bin"} <= taken
    assert "telemetry" not in taken and "otel" not in taken


def test_rust_module_names_follow_the_templates(templates: Path, tmp_path: Path) -> None:
    """A template that starts importing a name makes that name unavailable at once."""
    copy = tmp_path / "t"
    shutil.copytree(templates, copy)
    question = Question(name="telemetry_dir")
    answers = {"language": "rust", "service_name": "orders"}
    assert validate_answer(question, "src/blob", load_policy(copy), answers) == "src/blob"
    main = copy / "rust" / "src" / "main.rs.jinja"
    text = main.read_text(encoding="utf-8")
    main.write_text(text.replace("use std::error::Error;", "use std::error::Error as blob;"))
    with pytest.raises(AnswerError, match="declares or imports"):
        validate_answer(question, "src/blob", load_policy(copy), answers)


def test_copier_yml_refuses_every_name_the_templates_take(templates: Path) -> None:
    """Plain copier cannot read the templates: its list must hold all that scaffold reads."""
    text = (templates / "copier.yml").read_text(encoding="utf-8")
    block = text[text.index("\ntelemetry_dir:") : text.index("\ndescription:")]
    listed = set(re.findall(r"'([a-z_][a-z0-9_]*)'", block))
    taken = read_template_names(templates).rust_taken
    needed = {n for n in taken if re.fullmatch(r"[a-z][a-z0-9_]{0,9}", n)} | (
        RUST_KEYWORDS - {n for n in RUST_KEYWORDS if len(n) > 10}
    )
    missing = sorted(needed - listed)
    assert missing == [], f"add to copier.yml's telemetry_dir validator: {missing}"


# -- YAML bounds -----------------------------------------------------------------------------


def billion_laughs(levels: int = 9) -> str:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels + 1):
        prev, name = chr(96 + i), chr(97 + i)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (billion_laughs(), "expands to more than"),
        ("a: &a [b, *a]\n", "refers to itself"),
        ("[" * 50_000 + "]" * 50_000, "nested too deeply"),
        ("a: " + "x" * (_yaml.MAX_TEXT + 1), "characters long"),
    ],
)
def test_yaml_bombs_are_refused_before_they_expand(text: str, words: str) -> None:
    started = time.monotonic()
    with pytest.raises(yaml.YAMLError, match=words):
        _yaml.safe_load(text)
    assert time.monotonic() - started < 5


def test_yaml_with_a_few_aliases_still_loads() -> None:
    assert _yaml.safe_load("a: &x [1, 2]\nb: *x\n") == {"a": [1, 2], "b": [1, 2]}
    assert _yaml.safe_load_all("a: 1\n---\nb: 2\n") == [{"a": 1}, {"b": 2}]
