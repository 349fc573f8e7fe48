"""Answers: every way of giving them passes the same validators; hostile ones are refused."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from scaffold.errors import AnswerError
from scaffold.policy import Policy, load_policy
from scaffold.questions import (
    Prompt,
    Question,
    load_answers_file,
    load_questions,
    parse_data,
    resolve_answers,
    validate_answer,
)
from scaffold.source import load_copier_config


@pytest.fixture(scope="module")
def policy(templates: Path) -> Policy:
    return load_policy(templates)


@pytest.fixture(scope="module")
def questions(templates: Path) -> list[Question]:
    return load_questions(load_copier_config(templates / "copier.yml"))


def check(name: str, value: Any, policy: Policy, **answers: Any) -> Any:
    return validate_answer(Question(name=name), value, policy, answers)


def test_questions_come_from_copier_yml_in_order(questions: list[Question]) -> None:
    names = [q.name for q in questions if q.when is not False]
    assert names[:4] == ["service_name", "language", "scope", "module"]
    assert "policy" not in names and "effective_sampling_ratio" not in names


def test_scope_is_asked_only_when_given_and_frees_the_module_path(
    questions: list[Question], policy: Policy
) -> None:
    """`scope: package` (adopt) is kept; a new service never sees the question."""
    base = {"service_name": "httpbin", "language": "go"}
    new = resolve_answers(questions, policy, base, use_defaults=True, ask=None)
    assert "scope" not in new
    with pytest.raises(AnswerError, match="must start with a domain name"):
        resolve_answers(
            questions,
            policy,
            {**base, "module": "httpbin-instrumentation"},
            use_defaults=True,
            ask=None,
        )
    adopted = resolve_answers(
        questions,
        policy,
        {**base, "scope": "package", "module": "httpbin-instrumentation"},
        use_defaults=True,
        ask=None,
    )
    assert adopted["scope"] == "package" and adopted["module"] == "httpbin-instrumentation"
    with pytest.raises(AnswerError, match="not one of service, package"):
        resolve_answers(questions, policy, {**base, "scope": "all"}, use_defaults=True, ask=None)


HOSTILE = [
    ("service_name", 'pay"ments', "does not match"),
    ("service_name", "payments\napi", "does not match"),
    ("service_name", "../etc", "does not match"),
    ("service_name", "paymënts", "does not match"),
    ("service_name", "Payments", "does not match"),
    ("service_name", "a" * 41, "use at most 40"),
    ("service_name", "func", "reserved word"),
    ("service_name", "type", "reserved word"),
    ("service_name", "self", "reserved word"),
    ("service_name", "std", "reserved word"),
    ("service_name", "con", "reserved file name"),
    ("service_name", "vendor", "the go tool skips"),
    ("service_name", "testdata", "the go tool skips"),
    ("service_name", "payments\n", "does not match"),
    ("service_name", "payments\r\n", "does not match"),
    ("service_name", "", "does not match"),
    ("module", "payments", "must start with a domain name"),
    ("module", "GitHub.com/acme/x", "in its domain"),
    ("module", "github.com/acme/../x", "has the path element '..'"),
    ("module", "github.com//x", "double slash"),
    ("module", "github.com/acme/x/", "ends with a slash"),
    ("module", "github.com/acme/x y", "has ' ' in the path element"),
    ("module", 'github.com/acme/"x', "has '\"' in the path element"),
    ("module", " github.com/acme/x", "not a Go module path"),
    ("module", "github.com/" + "a" * 200, "not a Go module path"),
    # The rules of `go mod` (module.CheckPath), not only the characters.
    ("module", "example.com/abc~1", "Windows short name"),
    ("module", "example.com/x/v1", "major version suffix"),
    ("module", "example.com/x/v0", "major version suffix"),
    ("module", "example.com/.x", "starting with a dot"),
    ("module", "example.com/x.", "ending with a dot"),
    ("module", "example.com/com1.d", "reserved file name on Windows"),
    ("module", "-example.com/x", "starts with a dash"),
    ("module", "example.com/x\n", "in the path element"),
    ("description", 'say "hi"', "must not contain '\"'"),
    ("description", "back\\slash", "must not contain"),
    ("description", "tick`", "must not contain"),
    ("description", "two\nlines", "U+000A"),
    ("description", "trailing newline\n", "U+000A"),
    ("description", "bidi isolate \u2066x\u2069", "U+2066"),
    ("description", "zero width \u200b joiner", "U+200B"),
    ("description", "soft\u00adhyphen", "U+00AD"),
    ("description", "~~~ fenced", "~~~"),
    ("description", "a ~~~rust block", "~~~"),
    ("description", "```", "'`'"),
    ("description", "bidi \u202e override", "U+202E"),
    ("description", "line\u2028sep", "U+2028"),
    ("description", "x" * 121, "at most 120"),
    ("description", "   ", "must not be empty"),
    ("team", "Team A", "not a team name"),
    ("team", "payments\n", "not a team name"),
    ("owner", "a b", "not a contact"),
    ("owner", "ops@acme.example\n", "not a contact"),
    ("environment", "qa", "not an org environment"),
    ("boundaries", ["http_client", "kafka"], "not a boundary"),
    ("boundaries", ["grpc_server", "grpc_server"], "twice"),
    ("boundaries", {"a": 1}, "must be a list"),
    ("sampling_ratio", "2", "not a number from"),
    ("sampling_ratio", "0.001", "outside the org range"),
    ("sampling_ratio", "nan", "not a number from"),
    ("sampling_ratio", "1e-1", "not a number from"),
    ("sampling_ratio", "0.5\n", "not a number from"),
    ("sampling_ratio", "0." + "1" * 16, "use at most 15"),
    ("exporter_protocol", "thrift", "not an OTLP protocol"),
    ("language", "java", "not supported"),
    # No language answer: the Go rules.
    ("telemetry_dir", "", "not a Go package directory"),
    ("telemetry_dir", "/abs/telemetry", "not a Go package directory"),
    ("telemetry_dir", "internal/telemetry/", "not a Go package directory"),
    ("telemetry_dir", "../telemetry", "not a Go package directory"),
    ("telemetry_dir", "internal//telemetry", "not a Go package directory"),
    ("telemetry_dir", "internal/Telemetry", "not a Go package directory"),
    ("telemetry_dir", "internal/otel-go", "not a Go package directory"),
    ("telemetry_dir", "internal/_otel", "not a Go package directory"),
    ("telemetry_dir", "pkg/" + "a" * 100, "not a Go package directory"),
    ("telemetry_dir", "cmd/telemetry", "under cmd/"),
    ("telemetry_dir", "cmd", "under cmd/"),
    ("telemetry_dir", "vendor/telemetry", "skips vendor"),
    ("telemetry_dir", "internal/testdata", "skips testdata"),
    ("telemetry_dir", "internal/aux", "reserved file name"),
    ("telemetry_dir", "internal/telemetry\n", "not a Go package directory"),
]


@pytest.mark.parametrize(
    ("name", "value", "words"), HOSTILE, ids=[f"{h[0]}:{h[1]!r:.20}" for h in HOSTILE]
)
def test_hostile_answers_are_refused_with_a_clear_message(
    name: str, value: Any, words: str, policy: Policy
) -> None:
    with pytest.raises(AnswerError) as info:
        check(name, value, policy)
    assert words in str(info.value)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(f"{name}: ")


ACCEPTED = [
    ("service_name", "payments-api", "payments-api"),
    ("service_name", "a" * 40, "a" * 40),
    ("module", "github.com/acme/payments-api/v2", "github.com/acme/payments-api/v2"),
    ("module", "example.com/x.y_z~w", "example.com/x.y_z~w"),
    ("description", "Zahlungen für Händler 💳 it's fine", "Zahlungen für Händler 💳 it's fine"),
    ("description", "[beta] payments", "[beta] payments"),
    ("description", "  spaced out  ", "spaced out"),
    ("description", "~ tilde ~~ twice", "~ tilde ~~ twice"),
    ("boundaries", "database,grpc_server", ["grpc_server", "database"]),
    ("boundaries", [], []),
    ("sampling_ratio", "", ""),
    ("sampling_ratio", "0.250", "0.25"),
    ("sampling_ratio", "1", "1"),
    ("sampling_ratio", 0.5, "0.5"),
    ("sampling_ratio", "0.123456789", "0.123456789"),
    ("telemetry_dir", "internal/telemetry", "internal/telemetry"),
    ("telemetry_dir", "pkg/otel", "pkg/otel"),
    ("telemetry_dir", "otel", "otel"),
    ("telemetry_dir", "internal/platform/otel_v2", "internal/platform/otel_v2"),
]


@pytest.mark.parametrize(("name", "value", "expected"), ACCEPTED)
def test_good_answers_are_normalised(name: str, value: Any, expected: Any, policy: Policy) -> None:
    assert check(name, value, policy) == expected


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("src/mod", "not a Rust module directory"),
        ("src/type", "not a Rust module directory"),
        ("src/a/b", "not a Rust module directory"),
        ("internal/telemetry", "not a Rust module directory"),
        ("src/Telemetry", "not a Rust module directory"),
        ("src/otel-rs", "not a Rust module directory"),
        ("src/_otel", "not a Rust module directory"),
        ("src/", "not a Rust module directory"),
        ("src/" + "o" * 11, "at most 10 characters"),
        # The crate's own files and directories under src/.
        ("src/main", "'src/main' is taken"),
        ("src/lib", "'src/lib' is taken"),
        ("src/app", "'src/app' is taken"),
        ("src/bin", "'src/bin' is taken"),
        # Crates the generated code uses by name, and the crate itself.
        ("src/tracing", "declares or imports"),
        ("src/tokio", "declares or imports"),
        ("src/std", "declares or imports"),
        # Names the generated files import: `tokio::sync::watch` (main.rs),
        # `opentelemetry::global` and `std::io` (the tests).
        ("src/watch", "declares or imports"),
        ("src/global", "declares or imports"),
        ("src/io", "declares or imports"),
        ("src/src/otel\n", "not a Rust module directory"),
        ("src/otel\n", "not a Rust module directory"),
        ("src/orders", "the crate's own name"),
    ],
)
def test_rust_telemetry_dir_must_be_a_free_module_under_src(
    value: str, words: str, policy: Policy
) -> None:
    with pytest.raises(AnswerError, match=re.escape(words)) as info:
        check("telemetry_dir", value, policy, language="rust", service_name="orders")
    assert str(info.value).startswith("telemetry_dir: ")


@pytest.mark.parametrize("value", ["src/telemetry", "src/otel", "src/o", "src/obs_v2", "src/a1"])
def test_rust_telemetry_dir_takes_any_free_module_under_src(value: str, policy: Policy) -> None:
    assert check("telemetry_dir", value, policy, language="rust", service_name="orders") == value


def test_telemetry_dir_defaults_per_language(questions: list[Question], policy: Policy) -> None:
    for language, default in (("go", "internal/telemetry"), ("rust", "src/telemetry")):
        answers = resolve_answers(
            questions,
            policy,
            {"service_name": "orders", "language": language},
            use_defaults=True,
            ask=None,
        )
        assert answers["telemetry_dir"] == default
    names = [q.name for q in questions]
    assert names.index("telemetry_dir") > names.index("language")


@pytest.mark.parametrize(
    ("language", "value"),
    [
        ("go", "cmd/telemetry"),
        ("go", "internal/Otel"),
        ("go", "vendor/x"),
        ("rust", "src/app"),
        ("rust", "src/tracing"),
        ("rust", "src/orders"),
        ("rust", "src/" + "o" * 11),
        ("rust", "src/a/b"),
        ("rust", "src/type"),
    ],
)
def test_plain_copier_refuses_what_scaffold_refuses(
    templates: Path, tmp_path: Path, language: str, value: str, policy: Policy
) -> None:
    """The template's own validator holds for `copier copy` without this CLI."""
    import copier

    with pytest.raises(AnswerError):
        check("telemetry_dir", value, policy, language=language, service_name="orders")
    data = {"service_name": "orders", "language": language, "telemetry_dir": value}
    with pytest.raises(ValueError, match=r"telemetry_dir.*must be"):
        copier.run_copy(str(templates), tmp_path / "out", data=data, defaults=True, quiet=True)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("value", ["src/otel", "src/o", "src/abcdefgh_1"])
def test_plain_copier_takes_what_scaffold_takes(
    templates: Path, tmp_path: Path, value: str, policy: Policy
) -> None:
    import copier

    assert check("telemetry_dir", value, policy, language="rust", service_name="orders") == value
    data = {"service_name": "orders", "language": "rust", "telemetry_dir": value}
    copier.run_copy(str(templates), tmp_path / "out", data=data, defaults=True, quiet=True)
    assert (tmp_path / "out" / value / "mod.rs").is_file()


def test_choosing_the_policy_ratio_is_not_an_override(policy: Policy) -> None:
    assert check("sampling_ratio", "1.0", policy, environment="prod") == ""
    assert check("sampling_ratio", "0.1", policy, environment="prod") == "0.1"


def test_parse_data() -> None:
    assert parse_data(["a=1", "b=[x, y]", "c= spaced = value ", "d=[beta] x"]) == {
        "a": "1",
        "b": "[x, y]",
        "c": "spaced = value",
        "d": "[beta] x",
    }
    with pytest.raises(AnswerError, match="KEY=VALUE"):
        parse_data(["novalue"])


def test_answers_file_accepts_copier_answers(tmp_path: Path) -> None:
    path = tmp_path / "answers.yml"
    path.write_text("_src_path: x\n_commit: v1\nservice_name: svc\n", encoding="utf-8")
    assert load_answers_file(path) == {"service_name": "svc"}
    path.write_text("- a\n", encoding="utf-8")
    with pytest.raises(AnswerError, match="mapping"):
        load_answers_file(path)
    path.write_text("a: [\n", encoding="utf-8")
    with pytest.raises(AnswerError, match="not readable YAML"):
        load_answers_file(path)


def test_defaults_come_from_the_policy(questions: list[Question], policy: Policy) -> None:
    answers = resolve_answers(
        questions, policy, {"service_name": "orders"}, use_defaults=True, ask=None
    )
    assert answers["module"] == "github.com/acme/orders"
    assert answers["team"] == policy.raw["org"]["default_team"]
    assert answers["environment"] == policy.raw["default_environment"]
    assert answers["exporter_protocol"] == policy.raw["exporter"]["protocol"]
    assert answers["sampling_ratio"] == ""


def test_rust_is_not_asked_for_a_module(questions: list[Question], policy: Policy) -> None:
    answers = resolve_answers(
        questions,
        policy,
        {"service_name": "orders", "language": "rust"},
        use_defaults=True,
        ask=None,
    )
    assert "module" not in answers


def test_missing_answer_without_terminal(questions: list[Question], policy: Policy) -> None:
    with pytest.raises(AnswerError, match="no answer given; pass --data service_name=VALUE"):
        resolve_answers(questions, policy, {}, use_defaults=False, ask=None)
    with pytest.raises(AnswerError, match="no answer given"):
        resolve_answers(questions, policy, {}, use_defaults=True, ask=None)


def test_unknown_answer_is_refused(questions: list[Question], policy: Policy) -> None:
    with pytest.raises(AnswerError, match="not a question of this template"):
        resolve_answers(
            questions, policy, {"service_name": "x", "colour": "red"}, use_defaults=True, ask=None
        )


def test_prompts_get_policy_defaults_and_validation(
    questions: list[Question], policy: Policy
) -> None:
    seen: dict[str, Prompt] = {}

    def ask(prompt: Prompt) -> Any:
        seen[prompt.name] = prompt
        if prompt.name == "service_name":
            assert prompt.validate("Bad Name") is not None
            assert prompt.validate("good-name") is None
            return "good-name"
        return prompt.default

    answers = resolve_answers(questions, policy, {}, use_defaults=False, ask=ask)
    assert answers["module"] == "github.com/acme/good-name"
    assert seen["environment"].choices == [("dev", "dev"), ("staging", "staging"), ("prod", "prod")]
    assert seen["boundaries"].multiselect
    assert "1.0 in dev" in seen["sampling_ratio"].message


def test_copier_shows_every_message_of_copier_yml_whole(templates: Path) -> None:
    """copier's own prompt shows one line of a validator message: each must be one line."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!include", lambda loader, node: None)
    spec = yaml.load((templates / "copier.yml").read_text(encoding="utf-8"), Loader=Loader)
    multiline = [
        f"{name}.{field}"
        for name, question in spec.items()
        if isinstance(question, dict)
        for field in ("validator", "help", "default")
        if "\n" in str(question.get(field, ""))
    ]
    assert multiline == [], "a more-indented line in a folded scalar keeps its line break"
