"""The template's questions and the rules their answers must follow.

Questions come from the template's copier.yml, so a question an org adds to its template set is
asked by `scaffold new` too. Their defaults, choices and help are rendered from the policy and the
answers given so far. Every answer, however it arrives (a prompt, `--data`, `--data-file`,
`--defaults`), passes the same validators before anything is rendered; those validators are
stricter than the template's own copier validators, because an answer ends up inside Go and Rust
source and must never break it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from jinja2 import TemplateError as JinjaError
from jinja2.sandbox import SandboxedEnvironment

from scaffold import _yaml
from scaffold.errors import AnswerError, ScaffoldError
from scaffold.names import (
    GO_SKIPPED_DIRS,
    RUST_KEYWORDS,
    WINDOWS_RESERVED,
    doc_text_problem,
    module_path_problem,
    service_name_problem,
)
from scaffold.policy import PROTOCOLS, Policy

__all__ = [
    "BOUNDARIES",
    "LANGUAGES",
    "Asker",
    "Prompt",
    "Question",
    "load_answers_file",
    "load_questions",
    "parse_data",
    "resolve_answers",
    "validate_answer",
]

LANGUAGES = ("go", "rust")
BOUNDARIES = ("http_client", "grpc_server", "grpc_client", "database", "messaging")

# Every pattern is matched against the whole answer (`fullmatch`): with `match` and `$`, a
# trailing newline slips through and lands in generated code.
_TEAM = re.compile(r"[a-z][a-z0-9-]{0,62}")
_OWNER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+@-]{0,127}")
_GO_PACKAGE_DIR = re.compile(r"[a-z][a-z0-9_]*(/[a-z][a-z0-9_]*)*")
_RUST_MODULE_DIR = re.compile(r"src/([a-z][a-z0-9_]*)")
# The default Rust module directory; the module is named after the last element.
RUST_TELEMETRY_DIR = "src/telemetry"
# Longest Rust module name: a longer one pushes the generated `use` lines past rustfmt's width.
MAX_RUST_MODULE = 10
MAX_PACKAGE_DIR = 100
MAX_MODULE_PATH = 200
# A sampling ratio: a decimal from 0 to 1 with at most MAX_RATIO_DECIMALS decimals.
MAX_RATIO_DECIMALS = 15
_RATIO = re.compile(r"(0?\.[0-9]+|0|1(\.0*)?|0\.)")
MAX_DESCRIPTION = 120


@dataclass(frozen=True)
class Question:
    """One question of copier.yml, with its Jinja parts still unrendered."""

    name: str
    type: str = "str"
    help: str | None = None
    default: Any = None
    choices: Any = None
    multiselect: bool = False
    when: Any = True

    @classmethod
    def from_config(cls, name: str, spec: Any) -> Question:
        """Build a question from its copier.yml entry (a mapping or a bare default)."""
        if not isinstance(spec, dict):
            return cls(name=name, default=spec)
        return cls(
            name=name,
            type=str(spec.get("type", "str")),
            help=spec.get("help"),
            default=spec.get("default"),
            choices=spec.get("choices"),
            multiselect=bool(spec.get("multiselect", False)),
            when=spec.get("when", True),
        )


@dataclass(frozen=True)
class Prompt:
    """What an interactive front end needs to ask one question."""

    name: str
    message: str
    default: Any
    choices: list[tuple[str, Any]] | None
    multiselect: bool
    validate: Callable[[Any], str | None]


Asker = Callable[[Prompt], Any]


def load_questions(config: Mapping[str, Any]) -> list[Question]:
    """The questions of a copier configuration, in the order copier asks them."""
    return [Question.from_config(k, v) for k, v in config.items() if not k.startswith("_")]


def parse_data(items: list[str]) -> dict[str, str]:
    """Parse `--data KEY=VALUE` items into text answers.

    A value stays text: `description=[beta] x` is a description. A question that takes a list
    reads `[a, b]` or `a,b` from the text when the answer is validated.
    """
    data: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise AnswerError(
                item, "is not KEY=VALUE; write it like --data module=example.com/team/svc"
            )
        data[key.strip()] = value.strip()
    return data


def load_answers_file(path: Path | str) -> dict[str, Any]:
    """Read answers from a YAML file (a plain mapping or a copier answers file)."""
    path = Path(path)
    try:
        raw = _yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AnswerError("--data-file", f"{path} not found; check the path") from None
    except UnicodeDecodeError as exc:
        raise AnswerError(
            "--data-file", f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    except _yaml.YAMLLimitError as exc:
        raise AnswerError("--data-file", f"{path} {exc.problem}") from None
    except OSError as exc:
        raise AnswerError("--data-file", f"cannot read {path} ({exc.strerror}); check it") from None
    except yaml.YAMLError as exc:
        raise AnswerError(
            "--data-file", f"{path} is not readable YAML ({exc.__class__.__name__}); fix it"
        ) from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise AnswerError("--data-file", f"{path} must be a mapping of question: answer")
    return {str(k): v for k, v in raw.items() if not str(k).startswith("_")}


def resolve_answers(
    questions: list[Question],
    policy: Policy,
    provided: Mapping[str, Any],
    *,
    use_defaults: bool,
    ask: Asker | None,
    checks: Mapping[str, Callable[[Any], None]] | None = None,
) -> dict[str, Any]:
    """Settle every visible question, in order, and validate each answer.

    A provided answer wins; otherwise the default is taken with `use_defaults`, or the question is
    asked through `ask`. Hidden questions (`when: false`) are left to copier. `checks` adds a
    check of the caller's to a question's answer (`scaffold new` checks the destination a
    service name implies as soon as the name is known): it raises a `ScaffoldError`, which
    refuses the answer like a broken rule does.

    Raises:
        AnswerError: an answer is invalid, unknown, or missing with no way to ask for it.
        ScaffoldError: an answer failed one of `checks`.
    """
    visible = {q.name for q in questions if q.when is not False}
    for name in provided:
        if name not in visible:
            known = ", ".join(sorted(visible))
            raise AnswerError(name, f"is not a question of this template (known: {known})")
    env = _jinja()
    answers: dict[str, Any] = {}
    for question in questions:
        # As in copier, a condition sees every answer given up front, not only earlier ones.
        context = {"policy": dict(policy.raw), **provided, **answers}
        if not _truthy(_render(env, question.when, context)):
            continue
        choices = _choices(env, question.choices, context)
        default = _render(env, question.default, context)
        if question.multiselect and isinstance(default, str):
            default = _yaml.safe_load(default) if default.strip() else []

        def check(value: Any, q: Question = question, c: Any = choices) -> Any:
            value = validate_answer(q, value, policy, answers, c)
            extra = (checks or {}).get(q.name)
            if extra is not None:
                extra(value)
            return value

        if question.name in provided:
            answers[question.name] = check(provided[question.name])
        elif use_defaults and default is not None:
            answers[question.name] = check(default)
        elif ask is None or use_defaults:
            how = "" if use_defaults else ", --data-file, or --defaults"
            raise AnswerError(
                question.name, f"no answer given; pass --data {question.name}=VALUE{how}"
            )
        else:
            prompt = Prompt(
                name=question.name,
                message=_render(env, question.help, context) or question.name,
                default=default,
                choices=choices,
                multiselect=question.multiselect,
                validate=functools.partial(_problem, check),
            )
            answers[question.name] = check(ask(prompt))
    return answers


def validate_answer(
    question: Question,
    value: Any,
    policy: Policy,
    answers: Mapping[str, Any] | None = None,
    choices: list[tuple[str, Any]] | None = None,
) -> Any:
    """Check one answer and return it normalised.

    Raises:
        AnswerError: the answer breaks a rule; the message says which and what is allowed.
    """
    rule = _RULES.get(question.name)
    if rule is not None:
        return rule(question.name, value, policy, answers or {})
    if question.multiselect:
        value = _as_list(question.name, value)
        allowed = [v for _, v in choices or []]
        for item in value:
            if allowed and item not in allowed:
                raise AnswerError(
                    question.name, f"{item!r} is not one of {', '.join(map(str, allowed))}"
                )
        return value
    if choices and value not in [v for _, v in choices]:
        raise AnswerError(
            question.name, f"{value!r} is not one of {', '.join(str(v) for _, v in choices)}"
        )
    if question.type == "str":
        return _one_line(question.name, value, 200)
    return value


# -- rules -----------------------------------------------------------------------------------


def _service_name(name: str, raw: Any, policy: Policy, _: Mapping[str, Any]) -> str:
    value = _text(name, raw)
    limit = policy.max_name_length
    # The length bound comes first: it also bounds the time the org's pattern can take.
    if len(value) > limit:
        raise AnswerError(
            name, f"{value[:20]!r}... is {len(value)} characters; use at most {limit}"
        )
    if not policy.name_pattern.fullmatch(value):
        raise AnswerError(
            name,
            f"{value!r} does not match the org rule {policy.name_pattern.pattern}; "
            "use lowercase letters, digits and single dashes, like payments-api",
        )
    problem = service_name_problem(value)
    if problem:
        raise AnswerError(name, f"{value!r} {problem}")
    return value


def _language(name: str, raw: Any, _p: Policy, _a: Mapping[str, Any]) -> str:
    value = _text(name, raw)
    if value not in LANGUAGES:
        raise AnswerError(name, f"{value!r} is not supported; use one of: {', '.join(LANGUAGES)}")
    return value


def _module(name: str, raw: Any, _p: Policy, answers: Mapping[str, Any]) -> str:
    value = _text(name, raw)
    hint = "use a Go module path like github.com/acme/payments-api"
    if len(value) > MAX_MODULE_PATH:
        raise AnswerError(
            name,
            f"{value[:40]!r}... is not a Go module path: it is over {MAX_MODULE_PATH} characters; {hint}",
        )
    # An adopted package takes the module path of an existing go.mod, a main module's.
    problem = module_path_problem(value, main=answers.get("scope") == "package")
    if problem:
        raise AnswerError(name, f"{value!r} is not a Go module path: it {problem}; {hint}")
    return value


def _telemetry_dir(name: str, raw: Any, policy: Policy, answers: Mapping[str, Any]) -> str:
    value = _text(name, raw)
    if answers.get("language") == "rust":
        found = _RUST_MODULE_DIR.fullmatch(value)
        module = found.group(1) if found else ""
        if not found or module in RUST_KEYWORDS or len(module) > MAX_RUST_MODULE:
            raise AnswerError(
                name,
                f"{value[:40]!r} is not a Rust module directory; use src/NAME with NAME a "
                f"lowercase identifier of at most {MAX_RUST_MODULE} characters and not a "
                f"keyword, like {RUST_TELEMETRY_DIR} or src/otel",
            )
        crate = str(answers.get("service_name") or "").replace("-", "_")
        if module in policy.names.rust_taken or module == crate:
            what = (
                "the crate's own name"
                if module == crate
                else "a name the generated Rust code declares or imports"
            )
            raise AnswerError(
                name,
                f"{value!r} is taken: {module} is {what}; pick another name, like "
                f"{RUST_TELEMETRY_DIR} or src/otel",
            )
        return value
    parts = value.split("/")
    hint = "use a relative path of lowercase identifiers like internal/telemetry or pkg/otel"
    if len(value) > MAX_PACKAGE_DIR or not _GO_PACKAGE_DIR.fullmatch(value):
        raise AnswerError(name, f"{value[:40]!r} is not a Go package directory; {hint}")
    if parts[0] == "cmd":
        raise AnswerError(
            name, f"{value!r} is under cmd/, which holds the service's main package; {hint}"
        )
    for part in parts:
        if part in GO_SKIPPED_DIRS:
            raise AnswerError(name, f"{value!r}: the go tool skips {part} directories; {hint}")
        if part in WINDOWS_RESERVED:
            raise AnswerError(name, f"{value!r}: {part} is a reserved file name on Windows; {hint}")
    return value


def _description(name: str, value: Any, _p: Policy, _a: Mapping[str, Any]) -> str:
    # A doc comment line in both languages, the crate description and the README's first line.
    return _one_line(name, value, MAX_DESCRIPTION)


def _team(name: str, raw: Any, _p: Policy, _a: Mapping[str, Any]) -> str:
    value = _text(name, raw)
    if not _TEAM.fullmatch(value):
        raise AnswerError(
            name, f"{value[:40]!r} is not a team name; use lowercase letters, digits and dashes"
        )
    return value


def _owner(name: str, raw: Any, _p: Policy, _a: Mapping[str, Any]) -> str:
    value = _text(name, raw)
    if not _OWNER.fullmatch(value):
        raise AnswerError(
            name,
            f"{value[:40]!r} is not a contact; use letters, digits and . _ + @ - (like team@acme.example)",
        )
    return value


def _environment(name: str, raw: Any, policy: Policy, _a: Mapping[str, Any]) -> str:
    value = _text(name, raw)
    if value not in policy.environments:
        raise AnswerError(
            name,
            f"{value!r} is not an org environment; use one of: {', '.join(policy.environments)}",
        )
    return value


def _boundaries(name: str, value: Any, _p: Policy, _a: Mapping[str, Any]) -> list[str]:
    items = _as_list(name, value)
    for item in items:
        if item not in BOUNDARIES:
            raise AnswerError(
                name, f"{item!r} is not a boundary; use any of: {', '.join(BOUNDARIES)}"
            )
    return [b for b in BOUNDARIES if b in items]


def _sampling_ratio(name: str, value: Any, policy: Policy, answers: Mapping[str, Any]) -> str:
    if value is None:
        return ""
    text = _decimal(value) if isinstance(value, float) else str(value).strip(" ")
    if not text:
        return ""
    low, high = policy.ratio_range
    bounds = f"a number from {_decimal(low)} to {_decimal(high)}, or empty to follow the org policy"
    if not _RATIO.fullmatch(text):
        raise AnswerError(name, f"{text[:20]!r} is not {bounds}")
    decimals = len(text.partition(".")[2].rstrip("0"))
    if decimals > MAX_RATIO_DECIMALS:
        raise AnswerError(
            name, f"{text[:20]!r} has {decimals} decimals; use at most {MAX_RATIO_DECIMALS}"
        )
    exact = Decimal(text)
    if not Decimal(repr(low)) <= exact <= Decimal(repr(high)):
        raise AnswerError(name, f"{text} is outside the org range; use {bounds}")
    env = answers.get("environment")
    # Choosing exactly the org default is not an override: keep following the policy.
    if isinstance(env, str) and exact == Decimal(repr(policy.sampling_ratio(env))):
        return ""
    return _decimal(exact)


def _protocol(name: str, raw: Any, _p: Policy, _a: Mapping[str, Any]) -> str:
    value = _text(name, raw)
    if value not in PROTOCOLS:
        raise AnswerError(
            name, f"{value!r} is not an OTLP protocol; use one of: {', '.join(PROTOCOLS)}"
        )
    return value


_Rule = Callable[[str, Any, Policy, Mapping[str, Any]], Any]
_RULES: dict[str, _Rule] = {
    "service_name": _service_name,
    "language": _language,
    "module": _module,
    "telemetry_dir": _telemetry_dir,
    "description": _description,
    "team": _team,
    "owner": _owner,
    "environment": _environment,
    "boundaries": _boundaries,
    "sampling_ratio": _sampling_ratio,
    "exporter_protocol": _protocol,
}


# -- helpers ---------------------------------------------------------------------------------


def _text(name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise AnswerError(name, f"must be text, not {type(value).__name__}")
    return str(value)


def _one_line(name: str, raw: Any, limit: int) -> str:
    """Text for a doc comment or string literal: one line, surrounding spaces dropped."""
    value = _text(name, raw).strip(" ")
    if not value.strip():
        raise AnswerError(name, "must not be empty")
    if len(value) > limit:
        raise AnswerError(name, f"is {len(value)} characters; use at most {limit}")
    problem = doc_text_problem(value)
    if problem:
        raise AnswerError(name, problem)
    return value


def _decimal(value: float | Decimal) -> str:
    """A number written out without an exponent: 1e-07 -> 0.0000001, 0.50 -> 0.5."""
    text = format(Decimal(repr(value)) if isinstance(value, float) else value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _as_list(name: str, value: Any) -> list[str]:
    if isinstance(value, str):
        # `[a, b]` from --data, or `a,b`.
        value = [v.strip() for v in value.strip().removeprefix("[").removesuffix("]").split(",")]
        value = [v for v in value if v]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise AnswerError(name, "must be a list such as [grpc_server, database]")
    if len(set(value)) != len(value):
        raise AnswerError(name, "lists an item twice; name each once")
    return list(value)


def _problem(check: Callable[[Any], Any], value: Any) -> str | None:
    try:
        check(value)
    except AnswerError as exc:
        return exc.problem
    except ScaffoldError as exc:
        return str(exc)
    return None


def _jinja() -> SandboxedEnvironment:
    return SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)


def _render(env: SandboxedEnvironment, value: Any, context: Mapping[str, Any]) -> Any:
    if not isinstance(value, str) or "{" not in value:
        return value
    try:
        return env.from_string(value).render(context).strip()
    except JinjaError:
        return None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return bool(_yaml.safe_load(value)) if value.strip() else False
    return bool(value)


def _choices(
    env: SandboxedEnvironment, raw: Any, context: Mapping[str, Any]
) -> list[tuple[str, Any]] | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = _yaml.safe_load(_render(env, raw, context) or "[]")
    if isinstance(raw, dict):
        return [(str(label), value) for label, value in raw.items()]
    if isinstance(raw, list):
        return [
            (str(v[0]), v[1]) if isinstance(v, list) and len(v) == 2 else (str(v), v) for v in raw
        ]
    return None
