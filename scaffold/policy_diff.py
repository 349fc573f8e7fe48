"""`scaffold policy diff`: what a policy change means for services, in plain words.

The platform team edits `policy.yml`, releases it, and the change reaches every service on its
next update. The release notes should say what that means for a service, not which YAML line
moved: "sampling in prod: 10% -> 5% of new traces", "new required resource attribute
`acme.cost_center`", "exporter timeout 10s -> 5s", "header `x-foo` is now redacted".

`diff_policies` walks both policies completely. The fields services care about get a sentence
written for them; any other field that changed (one added to the policy format later, say) still
gets a generic sentence naming its path, so nothing that changed is left out of the notes.
Durations (`*_ms`) read as `250ms`, `5s`, `5min`; ratios read as percentages.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from scaffold import _git, _yaml
from scaffold._git import GitFailed
from scaffold.errors import PolicyError, PolicyProblem, TemplateError
from scaffold.policy import POLICY_FILE, Policy, load_policy, parse_policy

__all__ = [
    "GIT_PREFIX",
    "PolicyChange",
    "diff_policies",
    "diff_raw",
    "format_duration",
    "format_ratio",
    "load_policy_spec",
    "policy_at_ref",
]

GIT_PREFIX = "git:"

ChangeKind = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class PolicyChange:
    """One change between two policies.

    Attributes:
        path: the policy field, dotted (`sampling.environments.prod`, `exporter.timeout_ms`);
            list entries are named in brackets (`http.redacted_headers[x-foo]`,
            `attributes[acme.region]`).
        kind: whether the field (or entry) was added, removed or changed.
        old: the old value; None when added.
        new: the new value; None when removed.
        sentence: what it means for services, in plain words, for release notes.
    """

    path: str
    kind: ChangeKind
    old: Any
    new: Any
    sentence: str

    def __str__(self) -> str:
        return self.sentence

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "path": self.path,
            "kind": self.kind,
            "old": self.old,
            "new": self.new,
            "sentence": self.sentence,
        }


def diff_policies(old: Policy, new: Policy) -> list[PolicyChange]:
    """Every change from `old` to `new`, in policy file order, each with a plain sentence.

    An empty list means the two policies are the same for every service.
    """
    return diff_raw(old.raw, new.raw)


def diff_raw(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[PolicyChange]:
    """Like `diff_policies`, on raw policy mappings (which need not be valid policies)."""
    return list(_Differ(_mapping(old), _mapping(new)).run())


# -- value formatting -------------------------------------------------------------------------


def format_duration(ms: Any) -> str:
    """A duration in milliseconds, the way a person says it: `250ms`, `1.5s`, `5min`, `24h`."""
    if isinstance(ms, bool) or not isinstance(ms, int | float):
        return _plain(ms)
    if abs(ms) < 1000:
        return f"{ms:g}ms"
    if ms % 3_600_000 == 0:
        return f"{ms // 3_600_000:g}h"
    if abs(ms) >= 60_000 and ms % 60_000 == 0:
        return f"{ms // 60_000:g}min"
    return f"{ms / 1000:g}s"


def format_ratio(ratio: Any) -> str:
    """A ratio as a percentage: 0.1 -> `10%`, 0.005 -> `0.5%`."""
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or math.isnan(ratio):
        return _plain(ratio)
    return f"{round(ratio * 100, 4):g}%"


def _mib(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        return _plain(value)
    if value >= 1024 and value % 1024 == 0:
        return f"{value // 1024} GiB"
    return f"{value} MiB"


def _count(unit: str) -> Callable[[Any], str]:
    def fmt(value: Any) -> str:
        return (
            f"{value} {unit}"
            if isinstance(value, int) and not isinstance(value, bool)
            else _plain(value)
        )

    return fmt


def _on_off(value: Any) -> str:
    return ("on" if value else "off") if isinstance(value, bool) else _plain(value)


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return f"`{value}`"
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    return f"`{value!r}`"


def _by_name(path: str) -> Callable[[Any], str]:
    """The formatter a field's name implies, for fields without a label of their own."""
    last = path.rsplit(".", 1)[-1]
    if last.endswith("_ms"):
        return format_duration
    if last.endswith("ratio"):
        return format_ratio
    if last.endswith("_mib"):
        return _mib
    return _plain


# -- what each field means --------------------------------------------------------------------

# A scalar field's sentence when it changed: `{old}` and `{new}` are the formatted values.
_SCALARS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "version": ("policy format version {old} -> {new}", _plain),
    "org.name": ("org name {old} -> {new}: the org's own attribute keys change prefix", _plain),
    "org.namespace": ("`service.namespace` of every service {old} -> {new}", _plain),
    "org.module_prefix": ("default Go module prefix for new services {old} -> {new}", _plain),
    "org.default_team": ("default team for services that name none {old} -> {new}", _plain),
    "org.default_owner": ("default owner for services that name none {old} -> {new}", _plain),
    "service.name_pattern": ("service name rule {old} -> {new}", _plain),
    "service.max_length": ("longest service name {old} -> {new} characters", _plain),
    "span_naming.http_server": ("HTTP server span names {old} -> {new}", _plain),
    "default_environment": ("default environment of new services {old} -> {new}", _plain),
    "sampling.ratio": (
        "default sampling (environments without their own ratio): {old} -> {new} of new traces",
        format_ratio,
    ),
    "sampling.min_ratio": (
        "lowest sampling ratio a service may choose {old} -> {new}",
        format_ratio,
    ),
    "sampling.max_ratio": (
        "highest sampling ratio a service may choose {old} -> {new}",
        format_ratio,
    ),
    "exporter.protocol": ("default OTLP protocol {old} -> {new}", _plain),
    "exporter.endpoints.grpc": ("default OTLP/gRPC endpoint {old} -> {new}", _plain),
    "exporter.endpoints.http/protobuf": ("default OTLP/HTTP endpoint {old} -> {new}", _plain),
    "exporter.timeout_ms": ("exporter timeout {old} -> {new}", format_duration),
    "exporter.retry.enabled": ("exporter retry: {old} -> {new}", _on_off),
    "exporter.retry.initial_interval_ms": (
        "exporter retry: first wait {old} -> {new}",
        format_duration,
    ),
    "exporter.retry.max_interval_ms": (
        "exporter retry: longest wait {old} -> {new}",
        format_duration,
    ),
    "exporter.retry.max_elapsed_ms": (
        "exporter retry: gives up on a batch after {old} -> {new}",
        format_duration,
    ),
    "exporter.batch.max_queue_size": (
        "span queue per service {old} -> {new} (spans beyond it are dropped)",
        _count("spans"),
    ),
    "exporter.batch.max_export_batch_size": (
        "spans per export batch {old} -> {new}",
        _count("spans"),
    ),
    "exporter.batch.schedule_delay_ms": (
        "spans are exported every {old} -> {new}",
        format_duration,
    ),
    "logs.trace_id_key": ("trace id field in JSON logs {old} -> {new}", _plain),
    "logs.span_id_key": ("span id field in JSON logs {old} -> {new}", _plain),
    "runtime.shutdown_timeout_ms": (
        "telemetry flush deadline at shutdown {old} -> {new}",
        format_duration,
    ),
    "runtime.admin_path": ("telemetry kill switch endpoint {old} -> {new}", _plain),
    "collector.memory_limit_mib": ("collector memory limit {old} -> {new}", _mib),
    "collector.memory_spike_limit_mib": ("collector memory spike allowance {old} -> {new}", _mib),
    "collector.queue_size": ("collector sending queue {old} -> {new}", _count("batches")),
    "collector.storage_directory": ("collector queue directory {old} -> {new}", _plain),
    "collector.retry_max_elapsed_ms": (
        "collector retries an export for {old} -> {new}",
        format_duration,
    ),
    "collector.tail_sampling.decision_wait_ms": (
        "gateway waits {old} -> {new} for a trace's spans before deciding",
        format_duration,
    ),
    "collector.tail_sampling.slow_threshold_ms": (
        "gateway keeps every trace slower than {old} -> {new}",
        format_duration,
    ),
    "collector.tail_sampling.base_ratio": (
        "gateway keeps {old} -> {new} of the traces without errors or slowness",
        format_ratio,
    ),
    "verify.go": ("verify command of Go services {old} -> {new}", _plain),
    "verify.rust": ("verify command of Rust services {old} -> {new}", _plain),
}

# A list of names: the sentence for an entry added and for one removed (`{}` is the entry).
_LISTS: dict[str, tuple[str, str]] = {
    "resource.required": (
        "new required resource attribute `{}`: every service must set it",
        "resource attribute `{}` is no longer required",
    ),
    "propagators": (
        "services now propagate `{}` context to the services they call",
        "services no longer propagate `{}` context to the services they call",
    ),
    "http.untraced_routes": (
        "requests to `{}` are no longer traced",
        "requests to `{}` are traced again",
    ),
    "http.captured_request_headers": (
        "request header `{}` is now recorded on server spans",
        "request header `{}` is no longer recorded on server spans",
    ),
    "http.redacted_headers": (
        "header `{}` is now redacted",
        "header `{}` is no longer redacted",
    ),
    "http.redacted_query_params": (
        "query parameter `{}` is now redacted wherever a URL is recorded",
        "query parameter `{}` is no longer redacted in recorded URLs",
    ),
}


class _Differ:
    """Walks two raw policies once, in the new policy's field order."""

    def __init__(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        self.old = old
        self.new = new

    def run(self) -> Iterator[PolicyChange]:
        yield from self._walk("", self.old, self.new)

    def _walk(
        self, prefix: str, old: Mapping[str, Any], new: Mapping[str, Any]
    ) -> Iterator[PolicyChange]:
        for key in _keys(old, new):
            path = f"{prefix}{key}"
            yield from self._field(path, old.get(key, _ABSENT), new.get(key, _ABSENT))

    def _field(self, path: str, old: Any, new: Any) -> Iterator[PolicyChange]:
        if path == "attributes":
            yield from self._attributes(old, new)
        elif path == "environments":
            yield from self._environments(old, new)
        elif path == "sampling":
            yield from self._sampling(old, new)
        elif _same(old, new):
            return
        elif isinstance(old, Mapping) and isinstance(new, Mapping):
            yield from self._walk(f"{path}.", old, new)
        elif path in _LISTS and _names(old) is not None and _names(new) is not None:
            added, removed = _LISTS[path]
            yield from self._names(path, old, new, added, removed)
        else:
            yield self._scalar(path, old, new)

    def _scalar(self, path: str, old: Any, new: Any) -> PolicyChange:
        template, fmt = _SCALARS.get(path, (f"`{path}` {{old}} -> {{new}}", _by_name(path)))
        if old is _ABSENT or new is _ABSENT:
            shown = _describe(new if old is _ABSENT else old, fmt)
            verb = "added" if old is _ABSENT else "removed"
            sentence = (
                f"`{path}` {verb}: {shown}"
                if verb == "added"
                else f"`{path}` removed (was {shown})"
            )
            return _change(path, old, new, sentence)
        return _change(
            path, old, new, template.format(old=_describe(old, fmt), new=_describe(new, fmt))
        )

    def _names(
        self, path: str, old: Any, new: Any, added: str, removed: str
    ) -> Iterator[PolicyChange]:
        before = _names(old) or []
        after = _names(new) or []
        for name in after:
            if name not in before:
                yield _change(f"{path}[{name}]", _ABSENT, name, added.format(name))
        for name in before:
            if name not in after:
                yield _change(f"{path}[{name}]", name, _ABSENT, removed.format(name))
        if set(before) == set(after) and before != after:
            yield _change(path, old, new, f"`{path}` reordered (no change in meaning)")

    def _attributes(self, old: Any, new: Any) -> Iterator[PolicyChange]:
        before, after = _registry(old), _registry(new)
        if before is None or after is None:
            if not _same(old, new):
                yield self._scalar("attributes", old, new)
            return
        for name, entry in after.items():
            path = f"attributes[{name}]"
            was = before.get(name)
            if was is None:
                brief = str(entry.get("brief", "")).strip()
                tail = f": {brief}" if brief else ""
                yield _change(
                    path, _ABSENT, entry, f"new org attribute `{name}` ({entry.get('type')}){tail}"
                )
                continue
            if was.get("type") != entry.get("type"):
                yield _change(
                    f"{path}.type",
                    was.get("type"),
                    entry.get("type"),
                    f"org attribute `{name}` changes type {was.get('type')} -> {entry.get('type')}: code that sets it must change",
                )
            if was.get("brief") != entry.get("brief"):
                yield _change(
                    f"{path}.brief",
                    was.get("brief"),
                    entry.get("brief"),
                    f"org attribute `{name}` is now described as: {entry.get('brief')}",
                )
            for key in _keys(was, entry):
                if key not in ("name", "type", "brief") and not _same(
                    was.get(key, _ABSENT), entry.get(key, _ABSENT)
                ):
                    yield self._scalar(
                        f"{path}.{key}", was.get(key, _ABSENT), entry.get(key, _ABSENT)
                    )
        for name, entry in before.items():
            if name not in after:
                yield _change(
                    f"attributes[{name}]",
                    entry,
                    _ABSENT,
                    f"org attribute `{name}` is removed: its generated constant goes away, so code that uses it must change",
                )
        common = [n for n in after if n in before]
        if common != [n for n in before if n in after]:
            yield _change("attributes", old, new, "org attributes reordered (no change in meaning)")

    def _environments(self, old: Any, new: Any) -> Iterator[PolicyChange]:
        if _same(old, new):
            return
        before, after = _names(old), _names(new)
        if before is None or after is None:
            yield self._scalar("environments", old, new)
            return
        for env in after:
            if env not in before:
                ratio = _effective_ratio(self.new, env)
                tail = (
                    f" (sampling {format_ratio(ratio)} of new traces)" if ratio is not None else ""
                )
                yield _change(
                    f"environments[{env}]", _ABSENT, env, f"new environment `{env}`{tail}"
                )
        for env in before:
            if env not in after:
                yield _change(
                    f"environments[{env}]",
                    env,
                    _ABSENT,
                    f"environment `{env}` is removed: services deployed to it must choose another",
                )
        if set(before) == set(after):
            yield _change(
                "environments", old, new, "`environments` reordered (no change in meaning)"
            )

    def _sampling(self, old: Any, new: Any) -> Iterator[PolicyChange]:
        """Per declared environment, the ratio a service there gets; then the other fields."""
        if not (isinstance(old, Mapping) and isinstance(new, Mapping)):
            if not _same(old, new):
                yield self._scalar("sampling", old, new)
            return
        old_envs = _names(self.old.get("environments")) or []
        new_envs = _names(self.new.get("environments")) or []
        before = _mapping(old.get("environments"))
        after = _mapping(new.get("environments"))
        for env in _keys(before, after, dict.fromkeys(new_envs)):
            path = f"sampling.environments.{env}"
            was, now = before.get(env, _ABSENT), after.get(env, _ABSENT)
            if env in old_envs and env in new_envs:
                old_ratio = _effective_ratio(self.old, env)
                new_ratio = _effective_ratio(self.new, env)
                if old_ratio != new_ratio:
                    yield _change(
                        path,
                        old_ratio,
                        new_ratio,
                        f"sampling in {env}: {format_ratio(old_ratio)} -> {format_ratio(new_ratio)} of new traces",
                    )
                elif was is _ABSENT and now is not _ABSENT:
                    yield _change(
                        path,
                        was,
                        now,
                        f"sampling in {env} is now set explicitly (still {format_ratio(now)})",
                    )
                elif was is not _ABSENT and now is _ABSENT:
                    yield _change(
                        path,
                        was,
                        now,
                        f"sampling in {env} now follows the default ratio (still {format_ratio(new_ratio)})",
                    )
            elif env not in old_envs and env not in new_envs and not _same(was, now):
                # A ratio for an environment neither policy declares: report it as it is.
                yield self._scalar(path, was, now)
            # An environment added or removed is reported with `environments`.
        if not (
            isinstance(old.get("environments", {}), Mapping)
            and isinstance(new.get("environments", {}), Mapping)
        ) and not _same(old.get("environments", _ABSENT), new.get("environments", _ABSENT)):
            yield self._scalar(
                "sampling.environments",
                old.get("environments", _ABSENT),
                new.get("environments", _ABSENT),
            )
        rest_old = {k: v for k, v in old.items() if k != "environments"}
        rest_new = {k: v for k, v in new.items() if k != "environments"}
        yield from self._walk("sampling.", rest_old, rest_new)


# -- helpers ----------------------------------------------------------------------------------


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


_ABSENT: Any = _Absent()


def _change(path: str, old: Any, new: Any, sentence: str) -> PolicyChange:
    kind: ChangeKind = "added" if old is _ABSENT else "removed" if new is _ABSENT else "changed"
    return PolicyChange(
        path=path,
        kind=kind,
        old=None if old is _ABSENT else old,
        new=None if new is _ABSENT else new,
        sentence=sentence,
    )


def _describe(value: Any, fmt: Callable[[Any], str]) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_plain(v)}" for k, v in value.items()) + "}"
    return fmt(value)


def _same(old: Any, new: Any) -> bool:
    """Equal, and of the same kind (`true` is not `1`, `1` is the same ratio as `1.0`)."""
    if isinstance(old, bool) or isinstance(new, bool):
        return type(old) is type(new) and old == new
    if isinstance(old, int | float) and isinstance(new, int | float):
        return bool(old == new)
    return type(old) is type(new) and bool(old == new)


def _keys(*mappings: Mapping[str, Any]) -> list[str]:
    """Keys in the order of the last mapping that has them, new keys first, then dropped ones."""
    keys: dict[str, None] = {}
    for mapping in reversed(mappings):
        keys.update(dict.fromkeys(str(k) for k in mapping))
    return list(keys)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _names(value: Any) -> list[str] | None:
    """A list of plain entries as strings; None when it is not a list of scalars."""
    if value is _ABSENT or value is None:
        return []
    if not isinstance(value, list) or any(isinstance(v, dict | list) for v in value):
        return None
    return [str(v) for v in value]


def _registry(value: Any) -> dict[str, Mapping[str, Any]] | None:
    if value is _ABSENT or value is None:
        return {}
    if not isinstance(value, list):
        return None
    entries: dict[str, Mapping[str, Any]] = {}
    for entry in value:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            return None
        entries.setdefault(entry["name"], entry)
    return entries


def _effective_ratio(raw: Mapping[str, Any], env: str) -> float | None:
    sampling = raw.get("sampling")
    if not isinstance(sampling, Mapping):
        return None
    per_env = sampling.get("environments")
    value = per_env.get(env) if isinstance(per_env, Mapping) else None
    if value is None:
        value = sampling.get("ratio")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


# -- loading ----------------------------------------------------------------------------------


def load_policy_spec(spec: str, repo: Path | str = ".") -> Policy:
    """Load the policy named by `spec`, as `scaffold policy diff OLD NEW` takes it.

    `spec` is a policy file, a template set directory (its policy.yml), or `git:REF` for the
    policy.yml of a version (tag, branch, commit) of the template repository at `repo`.

    Raises:
        PolicyError: the file is missing or not a valid policy.
        TemplateError: `repo` is not a git repository or has no such ref.
    """
    if spec.startswith(GIT_PREFIX):
        return policy_at_ref(Path(repo), spec.removeprefix(GIT_PREFIX))
    return load_policy(Path(spec).expanduser())


def policy_at_ref(repo: Path, ref: str, *, validate: bool = True) -> Policy:
    """The policy.yml of the template repository at `repo` as it is at `ref`.

    With `validate=False` a policy that today's rules would refuse is still read (its raw
    mapping, for a diff against an old release).

    Raises:
        PolicyError: the ref has no policy.yml, or it is not a valid policy.
        TemplateError: `repo` is not a git repository or has no such ref.
    """
    if not repo.is_dir() or not _git.ok(repo, "rev-parse", "--git-dir"):
        raise TemplateError(
            f"{repo} is not a git repository", hint="run it inside the template repository"
        )
    label = f"{ref}:{POLICY_FILE}"
    if not _git.ok(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"):
        raise TemplateError(
            f"{repo} has no version {ref!r}", hint="name an existing tag, branch or commit"
        )
    try:
        text = _git.run(repo, "show", label)
    except GitFailed as exc:
        raise PolicyError(
            label,
            [PolicyProblem("file", f"cannot be read ({exc.reason})", "check the ref and the path")],
        ) from None
    if validate:
        return parse_policy(text, label)
    try:
        raw = _yaml.safe_load(text)
    except yaml.YAMLError:
        raw = None
    return Policy(raw=raw if isinstance(raw, Mapping) else {}, path=Path(label))
