"""The org policy: load `policy.yml`, check every field, explain what is wrong.

The policy is the single source of the shared naming, required resource attributes, attribute
registry, sampling defaults, exporter set-up and redaction rules. The templates read the raw
mapping (copier includes the file); this module makes sure that mapping is sound before anything
is rendered from it, and gives typed access to the parts the CLI needs.

Every string the policy contributes ends up inside Go and Rust source (string literals, comments,
identifiers), so the checks here are also what keeps generated code compilable.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scaffold import _yaml
from scaffold.errors import PolicyError, PolicyProblem
from scaffold.names import (
    NAME_PROBES,
    backtracking_problem,
    doc_text_problem,
    module_path_problem,
)
from scaffold.template_names import TemplateNames, read_template_names

__all__ = ["POLICY_FILE", "Policy", "load_policy", "parse_policy", "validate_policy"]

POLICY_FILE = "policy.yml"

PROTOCOLS = ("grpc", "http/protobuf")
PROPAGATORS = ("tracecontext", "baggage")
ATTRIBUTE_TYPES = ("string", "int", "bool", "double")
SPAN_PLACEHOLDERS = ("{method}", "{route}")
# Resource attributes the generated code sets itself, from the answers.
BUILTIN_RESOURCE_ATTRIBUTES = (
    "service.name",
    "service.namespace",
    "service.version",
    "deployment.environment.name",
)

_ATTRIBUTE_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_HEADER = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_QUERY_PARAM = re.compile(r"^[A-Za-z0-9_.-]+$")
_ROUTE = re.compile(r"^/[A-Za-z0-9/_.~-]*$")
_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")
_NAMESPACE = re.compile(r"^[a-z][a-z0-9.-]*$")
_ENDPOINT = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+(:[0-9]{1,5})?(/[A-Za-z0-9/_.~-]*)?$")
_MODULE_PREFIX = re.compile(r"^[a-z0-9][a-z0-9-]*(\.[a-z0-9-]+)+(/[A-Za-z0-9._~-]+)*$")
_OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+@-]{0,127}$")
_ABS_PATH = re.compile(r"^/[A-Za-z0-9/_.-]*$")
_TEAM = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_LOG_KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
_LOOPBACK_ADDRESS = re.compile(r"^(127\.0\.0\.1|localhost|\[::1\]):[0-9]{1,5}$")
# The fields of a JSON log record, with an example key each.
_LOG_KEYS = {
    "time_key": "time",
    "level_key": "level",
    "message_key": "msg",
    "service_name_key": "service.name",
    "trace_id_key": "trace_id",
    "span_id_key": "span_id",
    "trace_flags_key": "trace_flags",
}
# Every pattern above is matched against the whole value (`fullmatch`): with `match` or
# `search`, `$` also matches before a trailing newline, which then lands in generated code.


@dataclass(frozen=True)
class Policy:
    """A validated org policy.

    `raw` is the mapping exactly as the templates see it; the attributes are the parts the CLI
    itself needs.
    """

    raw: Mapping[str, Any]
    path: Path
    names: TemplateNames = dataclasses.field(
        default_factory=TemplateNames, compare=False, repr=False
    )

    @property
    def org_name(self) -> str:
        """Short name of the organisation, the prefix of its own attribute keys."""
        return str(self.raw["org"]["name"])

    @property
    def name_pattern(self) -> re.Pattern[str]:
        """The compiled service-name rule; match names with `fullmatch`."""
        return re.compile(self.raw["service"]["name_pattern"])

    @property
    def max_name_length(self) -> int:
        """Longest allowed service name."""
        return int(self.raw["service"]["max_length"])

    @property
    def environments(self) -> list[str]:
        """Deployment environments a service may declare."""
        return list(self.raw["environments"])

    @property
    def ratio_range(self) -> tuple[float, float]:
        """The inclusive range a service may choose its own sampling ratio in."""
        s = self.raw["sampling"]
        return float(s["min_ratio"]), float(s["max_ratio"])

    def sampling_ratio(self, environment: str) -> float:
        """The org default sampling ratio for an environment."""
        s = self.raw["sampling"]
        return float(s.get("environments", {}).get(environment, s["ratio"]))


def load_policy(path: Path | str) -> Policy:
    """Read and validate a policy file.

    A policy inside a template set (beside its copier.yml) is also checked against the names
    that set's code declares (`scaffold.template_names`), and carries them for the answers.

    Raises:
        PolicyError: the file is missing, is not YAML, or breaks a rule; the error lists every
            problem with the field it is in and how to fix it.
    """
    path = Path(path)
    if path.is_dir():
        path = path / POLICY_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(
            path,
            [
                PolicyProblem(
                    "file",
                    "not found",
                    f"create it or point at a template set with a {POLICY_FILE}",
                )
            ],
        ) from None
    except UnicodeDecodeError as exc:
        raise PolicyError(
            path,
            [
                PolicyProblem(
                    "file", f"is not UTF-8 text (byte {exc.start})", "save it encoded as UTF-8"
                )
            ],
        ) from None
    except OSError as exc:
        raise PolicyError(
            path, [PolicyProblem("file", f"cannot be read ({exc.strerror})", "check the file")]
        ) from None
    templates = path.parent if (path.parent / "copier.yml").is_file() else None
    return parse_policy(text, path, templates=templates)


def parse_policy(
    text: str, path: Path | str = POLICY_FILE, *, templates: Path | None = None
) -> Policy:
    """Parse and validate policy YAML text; see `load_policy`.

    `templates` is the template set the policy belongs to, if any: its attributes are then
    also checked against the names the set's code declares.
    """
    try:
        raw = _yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "file"
        problem = getattr(exc, "problem", None) or "is not valid YAML"
        raise PolicyError(
            path, [PolicyProblem(where, str(problem), "fix the YAML syntax")]
        ) from None
    problems = validate_policy(raw)
    names = read_template_names(templates) if templates is not None else TemplateNames()
    if not problems:
        problems = names.attribute_problems(raw)
    if problems:
        raise PolicyError(path, problems)
    return Policy(raw=raw, path=Path(path), names=names)


def validate_policy(raw: Any) -> list[PolicyProblem]:
    """Return every problem of a policy mapping; an empty list means it is valid."""
    return list(_Checker(raw).run())


class _Checker:
    """Walks the policy once, collecting problems with dotted field paths."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.problems: list[PolicyProblem] = []

    def run(self) -> Iterator[PolicyProblem]:
        if not isinstance(self.raw, dict):
            yield PolicyProblem(
                "policy", "must be a mapping of sections", "start from templates/policy.yml"
            )
            return
        self._known(self.raw, "", _TOP_LEVEL)
        self._version()
        self._org()
        self._service()
        self._span_naming()
        registry = self._attributes()
        self._resource(registry)
        self._environments_and_sampling()
        self._exporter()
        self._list("propagators", allowed=PROPAGATORS, min_items=1)
        self._http()
        self._logs()
        self._runtime()
        self._database()
        self._spans()
        self._collector()
        self._verify()
        yield from self.problems

    # -- helpers ---------------------------------------------------------------------------

    def _add(self, field: str, problem: str, fix: str) -> None:
        self.problems.append(PolicyProblem(field, problem, fix))

    def _get(self, dotted: str) -> Any:
        node: Any = self.raw
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return _MISSING
            node = node[part]
        return node

    def _known(self, node: Mapping[str, Any], prefix: str, allowed: Mapping[str, Any]) -> None:
        for key in node:
            if key not in allowed:
                name = f"{prefix}{key}"
                self._add(
                    name, "is not a policy field", f"remove it or use one of: {', '.join(allowed)}"
                )

    def _section(self, name: str) -> dict[str, Any] | None:
        node = self._get(name)
        if node is _MISSING:
            self._add(name, "is missing", f"add the `{name}:` section (see docs/policy.md)")
            return None
        if not isinstance(node, dict):
            self._add(name, "must be a mapping", f"write `{name}:` followed by indented fields")
            return None
        allowed = _SECTIONS.get(name)
        if allowed is not None:
            self._known(node, f"{name}.", allowed)
        return node

    def _value(self, field: str, kind: type | tuple[type, ...], what: str) -> Any:
        value = self._get(field)
        if value is _MISSING:
            self._add(field, "is missing", f"set it to {what}")
            return _MISSING
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            self._add(field, f"must be {what} (got {value!r})", f"set it to {what}")
            return _MISSING
        return value

    def _text(self, field: str, pattern: re.Pattern[str], what: str) -> Any:
        value = self._value(field, str, what)
        if value is not _MISSING and not pattern.fullmatch(value):
            self._add(field, f"{value!r} is not {what}", f"set it to {what}")
            return _MISSING
        return value

    def _int(self, field: str, low: int, high: int) -> Any:
        value = self._value(field, int, f"a whole number from {low} to {high}")
        if value is not _MISSING and not low <= value <= high:
            self._add(field, f"{value} is out of range", f"use a whole number from {low} to {high}")
            return _MISSING
        return value

    def _ratio(self, field: str, low: float = 0.0, high: float = 1.0) -> Any:
        value = self._value(field, (int, float), f"a number from {low:g} to {high:g}")
        if value is _MISSING:
            return _MISSING
        if math.isnan(value) or not low <= value <= high:
            self._add(field, f"{value} is out of range", f"use a number from {low:g} to {high:g}")
            return _MISSING
        return float(value)

    def _list(
        self,
        field: str,
        *,
        allowed: tuple[str, ...] | None = None,
        item: Callable[[str], str | None] | None = None,
        min_items: int = 0,
    ) -> list[str]:
        value = self._value(field, list, "a list")
        if value is _MISSING:
            return []
        if len(value) < min_items:
            self._add(field, f"needs at least {min_items} item(s)", "add the missing entries")
        seen: set[str] = set()
        good: list[str] = []
        for index, entry in enumerate(value):
            where = f"{field}[{index}]"
            if not isinstance(entry, str):
                self._add(where, f"must be text (got {entry!r})", "quote it or remove it")
                continue
            if allowed is not None and entry not in allowed:
                self._add(where, f"{entry!r} is not supported", f"use one of: {', '.join(allowed)}")
                continue
            problem = item(entry) if item else None
            if problem:
                self._add(where, f"{entry!r} {problem}", "correct or remove it")
                continue
            if entry in seen:
                self._add(where, f"{entry!r} is listed twice", "remove the duplicate")
                continue
            seen.add(entry)
            good.append(entry)
        return good

    # -- sections --------------------------------------------------------------------------

    def _version(self) -> None:
        value = self._value("version", int, "1")
        if value is not _MISSING and value != 1:
            self._add("version", f"policy version {value} is not supported", "set `version: 1`")

    def _org(self) -> None:
        if self._section("org") is None:
            return
        self._text("org.name", _IDENT, "a lowercase identifier such as `acme`")
        self._text("org.namespace", _NAMESPACE, "a lowercase namespace such as `acme`")
        prefix = self._text(
            "org.module_prefix", _MODULE_PREFIX, "a Go module path prefix such as `github.com/acme`"
        )
        if prefix is not _MISSING:
            problem = module_path_problem(f"{prefix}/service")
            if problem:
                self._add(
                    "org.module_prefix",
                    f"{prefix!r} does not make Go module paths the go command accepts: it {problem}",
                    "use a prefix such as `github.com/acme`",
                )
        self._text("org.default_team", _TEAM, "a team name of lowercase letters, digits and dashes")
        self._text("org.default_owner", _OWNER, "a contact such as `platform@acme.example`")

    def _service(self) -> None:
        if self._section("service") is None:
            return
        pattern = self._value("service.name_pattern", str, "a regular expression")
        if pattern is not _MISSING:
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                self._add(
                    "service.name_pattern",
                    f"is not a valid regular expression ({exc})",
                    "fix the pattern",
                )
            else:
                if not (pattern.startswith("^") and pattern.endswith("$")):
                    self._add(
                        "service.name_pattern",
                        "must be anchored",
                        "start it with ^ and end it with $",
                    )
                slow = backtracking_problem(pattern)
                if slow:
                    self._add(
                        "service.name_pattern",
                        f"{slow}; a name of a few dozen characters could hang `scaffold new`",
                        "simplify the pattern",
                    )
                else:
                    for bad in NAME_PROBES:
                        if compiled.fullmatch(bad):
                            self._add(
                                "service.name_pattern",
                                f"accepts {bad!r}, which is not safe as a directory, module "
                                "path element or crate name",
                                "allow only lowercase letters and digits separated by single "
                                "dashes, like ^[a-z][a-z0-9]*(-[a-z0-9]+)*$",
                            )
                            break
        self._int("service.max_length", 3, 63)

    def _span_naming(self) -> None:
        if self._section("span_naming") is None:
            return
        value = self._value("span_naming.http_server", str, "a pattern such as `{method} {route}`")
        if value is _MISSING:
            return
        rest = value
        for placeholder in SPAN_PLACEHOLDERS:
            rest = rest.replace(placeholder, "")
        if "{method}" not in value:
            self._add(
                "span_naming.http_server",
                "must contain {method}",
                "use a pattern such as `{method} {route}`",
            )
        elif "{" in rest or "}" in rest or doc_text_problem(value):
            self._add(
                "span_naming.http_server",
                f"{value!r} has an unknown placeholder or character",
                "use only {method}, {route}, spaces and plain text",
            )

    def _attributes(self) -> set[str]:
        value = self._value("attributes", list, "a list of {name, type, brief} entries")
        if value is _MISSING:
            return set()
        names: set[str] = set()
        idents: dict[str, str] = {}
        for index, entry in enumerate(value):
            where = f"attributes[{index}]"
            if not isinstance(entry, dict):
                self._add(where, "must be a mapping", "write `- name: ..., type: ..., brief: ...`")
                continue
            self._known(entry, f"{where}.", {"name": 1, "type": 1, "brief": 1})
            name = entry.get("name")
            if not isinstance(name, str) or not _ATTRIBUTE_NAME.fullmatch(name):
                self._add(
                    f"{where}.name",
                    f"{name!r} is not a dotted lowercase attribute name",
                    "use a name such as `acme.tenant.id`",
                )
                continue
            # Generated code joins the parts in CamelCase; compare case-blind so initialisms collide too.
            ident = "".join(re.split(r"[._]", name))
            if name in names:
                self._add(f"{where}.name", f"{name!r} is listed twice", "remove the duplicate")
            elif ident in idents:
                self._add(
                    f"{where}.name",
                    f"{name!r} gives the same code identifier as {idents[ident]!r}",
                    "rename one of them",
                )
            names.add(name)
            idents[ident] = name
            if name.startswith(("service.", "deployment.", "telemetry.", "http.", "url.")):
                self._add(
                    f"{where}.name",
                    f"{name!r} is a semantic-convention name",
                    "register only org attributes",
                )
            kind = entry.get("type")
            if kind not in ATTRIBUTE_TYPES:
                self._add(
                    f"{where}.type",
                    f"{kind!r} is not an attribute type",
                    f"use one of: {', '.join(ATTRIBUTE_TYPES)}",
                )
            brief = entry.get("brief")
            problem = (
                "must be text"
                if not isinstance(brief, str)
                else "must not be empty"
                if not brief.strip()
                else f"is {len(brief)} characters long; use at most 200"
                if len(brief) > 200
                else doc_text_problem(brief)
            )
            if problem:
                self._add(
                    f"{where}.brief",
                    f"{problem} (it is a doc comment in generated code: one line of plain text)",
                    "describe the attribute in one sentence",
                )
        return names

    def _resource(self, registry: set[str]) -> None:
        if self._section("resource") is None:
            return
        required = self._list(
            "resource.required",
            item=lambda n: None if _ATTRIBUTE_NAME.fullmatch(n) else "is not an attribute name",
        )
        for name in BUILTIN_RESOURCE_ATTRIBUTES:
            if required and name not in required:
                self._add("resource.required", f"must include {name}", f"add {name}")
        for name in required:
            if name not in BUILTIN_RESOURCE_ATTRIBUTES and name not in registry:
                self._add(
                    "resource.required",
                    f"{name!r} is not in the attribute registry",
                    "add it under `attributes:`",
                )
        org = self._get("org.name")
        if isinstance(org, str):
            for suffix in ("team", "owner"):
                key = f"{org}.{suffix}"
                if key not in registry:
                    self._add(
                        "attributes",
                        f"must register {key!r} (services set it from their answers)",
                        f"add `- name: {key}`",
                    )
                if required and key not in required:
                    self._add("resource.required", f"must include {key!r}", f"add {key}")

    def _environments_and_sampling(self) -> None:
        envs = self._list(
            "environments",
            item=lambda e: None if _TEAM.fullmatch(e) else "is not a lowercase name",
            min_items=1,
        )
        default = self._value("default_environment", str, "one of the environments")
        if default is not _MISSING and envs and default not in envs:
            self._add(
                "default_environment",
                f"{default!r} is not in environments",
                f"use one of: {', '.join(envs)}",
            )
        if self._section("sampling") is None:
            return
        low = self._ratio("sampling.min_ratio")
        high = self._ratio("sampling.max_ratio")
        if _MISSING not in (low, high) and low > high:
            self._add("sampling.min_ratio", f"{low} is greater than max_ratio {high}", "swap them")
            low, high = _MISSING, _MISSING
        bounds = (0.0, 1.0) if _MISSING in (low, high) else (low, high)
        self._ratio("sampling.ratio", *bounds)
        self._int("sampling.max_root_traces_per_second", 0, 1_000_000)
        if self._section("sampling.remote") is not None:
            self._value("sampling.remote.enabled", bool, "true or false")
            self._text("sampling.remote.endpoint", _ENDPOINT, "an http:// or https:// URL")
            self._int("sampling.remote.poll_interval_ms", 100, 86_400_000)
            self._int("sampling.remote.reload_interval_ms", 100, 3_600_000)
        per_env = self._get("sampling.environments")
        if per_env is _MISSING:
            return
        if not isinstance(per_env, dict):
            self._add(
                "sampling.environments",
                "must be a mapping of environment: ratio",
                "write `prod: 0.1`",
            )
            return
        for env in per_env:
            if envs and env not in envs:
                self._add(
                    f"sampling.environments.{env}",
                    "is not a declared environment",
                    f"use one of: {', '.join(envs)}",
                )
            else:
                self._ratio(f"sampling.environments.{env}", *bounds)

    def _exporter(self) -> None:
        if self._section("exporter") is None:
            return
        protocol = self._value("exporter.protocol", str, "grpc or http/protobuf")
        if protocol is not _MISSING and protocol not in PROTOCOLS:
            self._add(
                "exporter.protocol", f"{protocol!r} is not supported", "use grpc or http/protobuf"
            )
        endpoints = self._section("exporter.endpoints")
        if endpoints is not None:
            for proto in PROTOCOLS:
                self._text(f"exporter.endpoints.{proto}", _ENDPOINT, "an http:// or https:// URL")
        timeout = self._int("exporter.timeout_ms", 100, 60_000)
        if self._section("exporter.retry") is not None:
            self._value("exporter.retry.enabled", bool, "true or false")
            initial = self._int("exporter.retry.initial_interval_ms", 1, 60_000)
            maximum = self._int("exporter.retry.max_interval_ms", 1, 300_000)
            elapsed = self._int("exporter.retry.max_elapsed_ms", 1, 600_000)
            if _MISSING not in (initial, maximum) and initial > maximum:
                self._add(
                    "exporter.retry.initial_interval_ms",
                    "is greater than max_interval_ms",
                    "lower it",
                )
            if _MISSING not in (maximum, elapsed) and maximum > elapsed:
                self._add(
                    "exporter.retry.max_interval_ms", "is greater than max_elapsed_ms", "lower it"
                )
            if _MISSING not in (timeout, elapsed) and elapsed > timeout:
                self._add(
                    "exporter.retry.max_elapsed_ms",
                    f"{elapsed} is greater than exporter.timeout_ms {timeout}: both SDKs stop"
                    " retrying an export when its timeout ends, so the budget is unreachable",
                    "lower it to at most exporter.timeout_ms, or raise the timeout",
                )
        if self._section("exporter.batch") is not None:
            queue = self._int("exporter.batch.max_queue_size", 1, 1_000_000)
            batch = self._int("exporter.batch.max_export_batch_size", 1, 1_000_000)
            self._int("exporter.batch.schedule_delay_ms", 1, 60_000)
            if _MISSING not in (queue, batch) and batch > queue:
                self._add(
                    "exporter.batch.max_export_batch_size",
                    "is larger than max_queue_size",
                    "lower it",
                )

    def _http(self) -> None:
        if self._section("http") is None:
            return
        self._list(
            "http.untraced_routes",
            item=lambda r: None if _ROUTE.fullmatch(r) else "is not a path like /healthz",
        )
        header = lambda h: None if _HEADER.fullmatch(h) else "is not a lowercase header name"  # noqa: E731
        captured = self._list("http.captured_request_headers", item=header)
        redacted = self._list("http.redacted_headers", item=header, min_items=1)
        for name in sorted(set(captured) & set(redacted)):
            self._add(
                "http.captured_request_headers",
                f"{name!r} is also in redacted_headers",
                "remove it from captured_request_headers (redacted headers are never recorded)",
            )
        self._list(
            "http.redacted_query_params",
            item=lambda q: None if _QUERY_PARAM.fullmatch(q) else "is not a query parameter name",
        )

    def _logs(self) -> None:
        if self._section("logs") is None:
            return
        keys: dict[str, str] = {}
        for field, example in _LOG_KEYS.items():
            value = self._text(f"logs.{field}", _LOG_KEY, f"a lowercase key such as `{example}`")
            if value is _MISSING:
                continue
            if value in keys:
                self._add(
                    f"logs.{field}",
                    f"{value!r} is also logs.{keys[value]}",
                    "give every field of a log record its own key",
                )
            keys[value] = field

    def _runtime(self) -> None:
        if self._section("runtime") is None:
            return
        self._int("runtime.shutdown_timeout_ms", 100, 120_000)
        self._text("runtime.admin_path", _ROUTE, "a path such as /admin/telemetry")
        self._text(
            "runtime.admin_address",
            _LOOPBACK_ADDRESS,
            "a loopback host:port such as 127.0.0.1:8081 (TELEMETRY_ADMIN_ADDR opens it wider)",
        )
        self._int("runtime.flags_poll_interval_ms", 100, 3_600_000)

    def _database(self) -> None:
        if self._section("database") is None:
            return
        self._value("database.record_query_text", bool, "true or false")

    def _spans(self) -> None:
        if self._section("spans") is None:
            return
        self._value("spans.extra_attributes", bool, "true or false")

    def _collector(self) -> None:
        if self._section("collector") is None:
            return
        limit = self._int("collector.memory_limit_mib", 32, 1_048_576)
        spike = self._int("collector.memory_spike_limit_mib", 1, 1_048_576)
        if _MISSING not in (limit, spike) and spike >= limit:
            self._add(
                "collector.memory_spike_limit_mib",
                "must be below memory_limit_mib",
                "lower it (about a fifth of the limit)",
            )
        self._int("collector.queue_size", 1, 10_000_000)
        self._text(
            "collector.storage_directory",
            _ABS_PATH,
            "an absolute directory such as /var/lib/otelcol/queue",
        )
        self._int("collector.retry_max_elapsed_ms", 1_000, 86_400_000)
        if self._section("collector.tail_sampling") is not None:
            self._int("collector.tail_sampling.decision_wait_ms", 100, 600_000)
            self._int("collector.tail_sampling.slow_threshold_ms", 1, 600_000)
            self._ratio("collector.tail_sampling.base_ratio")

    def _verify(self) -> None:
        if self._section("verify") is None:
            return
        for lang in ("go", "rust"):
            value = self._value(f"verify.{lang}", str, "a shell command")
            if value is not _MISSING and not value.strip():
                self._add(
                    f"verify.{lang}",
                    "is empty",
                    "give the command that proves a service still works",
                )


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()

_SECTIONS: dict[str, Mapping[str, Any]] = {
    "org": dict.fromkeys(("name", "namespace", "module_prefix", "default_team", "default_owner")),
    "service": dict.fromkeys(("name_pattern", "max_length")),
    "span_naming": dict.fromkeys(("http_server",)),
    "resource": dict.fromkeys(("required",)),
    "sampling": dict.fromkeys(
        ("ratio", "min_ratio", "max_ratio", "environments", "max_root_traces_per_second", "remote")
    ),
    "sampling.remote": dict.fromkeys(
        ("enabled", "endpoint", "poll_interval_ms", "reload_interval_ms")
    ),
    "exporter": dict.fromkeys(("protocol", "endpoints", "timeout_ms", "retry", "batch")),
    "exporter.endpoints": dict.fromkeys(PROTOCOLS),
    "exporter.retry": dict.fromkeys(
        ("enabled", "initial_interval_ms", "max_interval_ms", "max_elapsed_ms")
    ),
    "exporter.batch": dict.fromkeys(
        ("max_queue_size", "max_export_batch_size", "schedule_delay_ms")
    ),
    "http": dict.fromkeys(
        ("untraced_routes", "captured_request_headers", "redacted_headers", "redacted_query_params")
    ),
    "logs": dict.fromkeys(_LOG_KEYS),
    "runtime": dict.fromkeys(
        ("shutdown_timeout_ms", "admin_path", "admin_address", "flags_poll_interval_ms")
    ),
    "database": dict.fromkeys(("record_query_text",)),
    "spans": dict.fromkeys(("extra_attributes",)),
    "verify": dict.fromkeys(("go", "rust")),
    "collector": dict.fromkeys(
        (
            "memory_limit_mib",
            "memory_spike_limit_mib",
            "queue_size",
            "storage_directory",
            "retry_max_elapsed_ms",
            "tail_sampling",
        )
    ),
    "collector.tail_sampling": dict.fromkeys(
        ("decision_wait_ms", "slow_threshold_ms", "base_ratio")
    ),
}
_TOP_LEVEL: Mapping[str, Any] = dict.fromkeys(
    (
        "version",
        "org",
        "service",
        "span_naming",
        "resource",
        "attributes",
        "environments",
        "default_environment",
        "sampling",
        "exporter",
        "propagators",
        "http",
        "logs",
        "runtime",
        "database",
        "spans",
        "collector",
        "verify",
    )
)
