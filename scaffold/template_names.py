"""The names a template set's generated code declares and imports, read from the templates.

Two kinds of input become names in generated code and can collide with names the templates
themselves use:

- policy attributes become Go identifiers (`new.logger` -> `NewLogger`, `acme.team_key` ->
  `AcmeTeamKey`, which `acme.team`'s key constant already is) and Rust constants;
- the Rust `telemetry_dir` answer (src/NAME) becomes a module that `main.rs`, the tests and the
  benchmarks import next to `tokio::sync::watch`, `opentelemetry::global`, `std::io`, ...

Both are checked against what the template files actually declare and import, parsed from them
when the template set is loaded, so a template that adds an import or a function is covered
without a list to keep up to date. Parsing is lexical (items, `use` trees, top-level Go
declarations, with the Jinja parts blanked) and errs towards finding more names, never fewer.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import ChainableUndefined
from jinja2 import TemplateError as JinjaError
from jinja2.sandbox import SandboxedEnvironment

from scaffold.errors import PolicyProblem
from scaffold.names import RUST_BUILTIN_CRATES

__all__ = [
    "TemplateNames",
    "attribute_problems",
    "go_declarations",
    "read_template_names",
    "rust_declarations",
]

# Cargo lays out src/bin/*.rs as extra binaries, so no module may live in src/bin.
_CARGO_LAYOUT = frozenset(["bin"])
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_SUFFIX = ".jinja"
# Two attribute names no policy uses, to tell an attribute's own code from the code around it.
_STAND_INS = ("zzscaffold.first_stand_in", "zzscaffold.second_stand_in")


@dataclass(frozen=True)
class TemplateNames:
    """What one template set's code declares, found by reading its files.

    Attributes:
        root: the template set (the directory of copier.yml).
        rust_taken: names a Rust module of the crate cannot take: every name a Rust file
            declares or imports, the crates it depends on, the files and directories under src/.
    """

    root: Path | None = None
    rust_taken: frozenset[str] = field(default_factory=frozenset)

    def attribute_problems(self, policy: Mapping[str, Any]) -> list[PolicyProblem]:
        """Attributes whose generated identifiers collide; see `attribute_problems`."""
        return attribute_problems(self.root, policy) if self.root is not None else []


def read_template_names(root: Path) -> TemplateNames:
    """Read the names a template set's code declares and imports (cached per file state)."""
    files = sorted(p for p in (root / "rust").rglob("*") if p.is_file()) if root.is_dir() else []
    stamp = tuple((str(p), p.stat().st_mtime_ns) for p in files)
    return _read(root, stamp)


@functools.lru_cache(maxsize=8)
def _read(root: Path, stamp: tuple[tuple[str, int], ...]) -> TemplateNames:
    rust = root / "rust"
    taken: set[str] = set(RUST_BUILTIN_CRATES | _CARGO_LAYOUT)
    for name, _ in stamp:
        path = Path(name)
        text = _blank_jinja(path.read_text(encoding="utf-8", errors="replace"))
        stem = _output_name(path)
        if stem.endswith(".rs"):
            taken.update(rust_declarations(text))
        elif stem == "Cargo.toml":
            taken.update(_cargo_dependencies(text))
    src = rust / "src"
    if src.is_dir():
        for entry in src.iterdir():
            if "{" not in entry.name:
                taken.add(entry.name.removesuffix(_SUFFIX).removesuffix(".rs"))
    return TemplateNames(root=root, rust_taken=frozenset(n for n in taken if n.isidentifier()))


# -- policy attributes -----------------------------------------------------------------------


def attribute_problems(root: Path, policy: Mapping[str, Any]) -> list[PolicyProblem]:
    """Attributes whose generated names collide with generated code or with each other.

    Every code template that iterates `policy.attributes` is rendered once per attribute; what
    that adds to the file's declarations are the attribute's names. They must not be declared
    already in the same scope: the Go package (every non-test file of the same package in the
    directory) or the Rust module (the file).
    """
    attributes = policy.get("attributes")
    if not isinstance(attributes, list) or not root.is_dir():
        return []
    code = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix == _SUFFIX)
    stamp = tuple((str(p), p.stat().st_mtime_ns) for p in code)
    return list(_attribute_problems(root, stamp, json.dumps(policy, sort_keys=True, default=str)))


@functools.lru_cache(maxsize=16)
def _attribute_problems(
    root: Path, stamp: tuple[tuple[str, int], ...], policy_json: str
) -> tuple[PolicyProblem, ...]:
    """`attribute_problems`, once per state of the template files and policy."""
    policy = json.loads(policy_json)
    problems: list[PolicyProblem] = []
    for template in _attribute_templates(root):
        problems.extend(_collisions(template, policy, policy["attributes"]))
    unique: dict[tuple[str, str], PolicyProblem] = {}
    for problem in problems:
        unique.setdefault((problem.field, problem.problem), problem)
    return tuple(unique.values())


def _attribute_templates(root: Path) -> Iterator[Path]:
    for language, suffix in (("go", ".go"), ("rust", ".rs")):
        folder = root / language
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if (
                _output_name(path).endswith(suffix)
                and path.is_file()
                and "policy.attributes" in path.read_text(encoding="utf-8", errors="replace")
            ):
                yield path


def _collisions(
    template: Path, policy: Mapping[str, Any], attributes: list[Any]
) -> Iterator[PolicyProblem]:
    go = _output_name(template).endswith(".go")
    declare = go_declarations if go else rust_declarations
    source = template.read_text(encoding="utf-8")

    def names(*attrs: Mapping[str, Any]) -> Counter[str]:
        return Counter(declare(_render(source, policy, list(attrs))))

    # What an attribute adds is measured against a stand-in attribute of the same type, so
    # code that exists whenever there is any attribute (a test of baggage attributes, say)
    # is part of the file and not of the attribute.
    scopes: dict[str, tuple[Counter[str], set[str]]] = {}
    language = "Go" if go else "Rust"
    owners: dict[str, str] = {}
    for index, attribute in enumerate(attributes):
        if not isinstance(attribute, dict) or not isinstance(attribute.get("name"), str):
            continue
        kind = str(attribute.get("type"))
        if kind not in scopes:
            one = names({**attribute, "name": _STAND_INS[0]})
            other = names({**attribute, "name": _STAND_INS[1]})
            base = one - (one - other)
            scope = set(base) | (_go_package_scope(template) if go else set())
            scopes[kind] = (base, scope)
        base, scope = scopes[kind]
        name = attribute["name"]
        where = f"attributes[{index}].name"
        for ident in sorted(names(attribute) - base):
            if ident in scope:
                yield PolicyProblem(
                    where,
                    f"{name!r} becomes the {language} name {ident}, which the generated code "
                    f"already declares ({_output_name(template)})",
                    "rename the attribute",
                )
            elif ident in owners and owners[ident] != name:
                yield PolicyProblem(
                    where,
                    f"{name!r} becomes the {language} name {ident}, as {owners[ident]!r} does",
                    "rename one of them",
                )
            else:
                owners.setdefault(ident, name)


def _go_package_scope(template: Path) -> set[str]:
    """Top-level names of the other files of the template's Go package."""
    package = _go_package(template.read_text(encoding="utf-8"))
    names: set[str] = set()
    for sibling in template.parent.iterdir():
        if sibling == template or not _output_name(sibling).endswith(".go"):
            continue
        text = _blank_jinja(sibling.read_text(encoding="utf-8", errors="replace"))
        if _go_package(text) == package:
            names.update(go_declarations(text))
    return names


def _go_package(text: str) -> str | None:
    found = re.search(r"^package\s+(\w+)", text, re.M)
    return found[1] if found else None


def _render(source: str, policy: Mapping[str, Any], attributes: list[Any]) -> str:
    """A code template rendered with the policy cut to `attributes` and placeholder answers."""
    env = SandboxedEnvironment(
        extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"],
        undefined=ChainableUndefined,
        keep_trailing_newline=True,
    )
    context = {
        "policy": {**policy, "attributes": attributes},
        "service_name": "svc",
        "crate_name": "svc",
        "telemetry_module": "telemetry",
        "telemetry_dir": "telemetry",
        "boundaries": ["http_client", "grpc_server", "grpc_client", "database", "messaging"],
    }
    try:
        return env.from_string(source).render(context)
    except (JinjaError, TypeError, ValueError, KeyError, AttributeError):
        return ""


# -- Go --------------------------------------------------------------------------------------

_GO_NOISE = re.compile(
    r"//[^\n]*|/\*.*?\*/|\"(?:\\.|[^\"\\\n])*\"|`[^`]*`|'(?:\\.|[^'\\\n])*'", re.S
)
# A word with a blanked Jinja part in it is one token that is not an identifier.
_GO_TOKEN = re.compile(r"[A-Za-z_\x00][\w\x00]*|\n|[(){}\[\],=;]")


def go_declarations(text: str) -> list[str]:
    """The package-level names a Go file declares (functions, types, variables, constants).

    Methods are not package-level names and are skipped; a name spelled with a Jinja
    expression (blanked before this is called) is not a name and is skipped.
    """
    tokens = _GO_TOKEN.findall(_GO_NOISE.sub('""', text))
    names: list[str] = []
    depth = 0
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if depth == 0 and token in ("func", "type", "var", "const"):
            nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
            if token == "func":
                if nxt != "(":
                    names.append(nxt)
            elif nxt == "(":
                i = _go_group(tokens, i + 2, names)
                continue
            else:
                names.extend(_go_name_list(tokens, i + 1))
        if token in "({[":
            depth += 1
        elif token in ")}]":
            depth -= 1
        i += 1
    return [n for n in names if n and n != "_" and n.isidentifier()]


def _go_group(tokens: list[str], start: int, names: list[str]) -> int:
    """Names of a `const (...)`/`var (...)`/`type (...)` group; returns the index after it."""
    depth = 0
    line_start = True
    i = start
    while i < len(tokens):
        token = tokens[i]
        if depth == 0 and token == ")":
            return i + 1
        if depth == 0 and line_start and token.isidentifier():
            names.extend(_go_name_list(tokens, i))
        line_start = depth == 0 and token in ("\n", ";")
        if token in "({[":
            depth += 1
        elif token in ")}]":
            depth -= 1
        i += 1
    return i


def _go_name_list(tokens: list[str], start: int) -> list[str]:
    """`a, b` at `start`: the identifiers of a declaration's name list."""
    found = [tokens[start]] if start < len(tokens) and tokens[start].isidentifier() else []
    i = start + 1
    while i + 1 < len(tokens) and tokens[i] == "," and tokens[i + 1].isidentifier():
        found.append(tokens[i + 1])
        i += 2
    return found


# -- Rust ------------------------------------------------------------------------------------

_RUST_NOISE = re.compile(
    r"//[^\n]*|/\*.*?\*/|r#*\"[^\"]*\"#*|b?\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\\n])'", re.S
)
# Items of the type namespace, where a module lives: a function, constant or static of the same
# name as the telemetry module does not clash with it.
_RUST_ITEM = re.compile(
    r"\b(?:struct|enum|trait|type|mod|union|macro_rules!)\s+(?:r#)?"
    r"([A-Za-z_]\w*+)(?!\x00)"
)
_RUST_USE = re.compile(r"\buse\s+([^;]*);")
_RUST_EXTERN = re.compile(r"\bextern\s+crate\s+(\w+)(?:\s+as\s+(\w+))?")


def rust_declarations(text: str) -> list[str]:
    """The names a Rust file binds at its top level, and every name any `use` in it binds.

    File-level items of the type namespace (types, traits, modules, macros; not functions or
    constants, which live in the value namespace, nor anything inside an `impl`),
    `mod` declarations at any depth, `extern crate`, and the names and the root crate of every
    `use` tree, including those inside function bodies: an import anywhere is a name the file
    relies on.
    """
    clean = _RUST_NOISE.sub('""', text)
    names: list[str] = []
    depth = 0
    position = 0
    for found in _RUST_ITEM.finditer(clean):
        depth += clean.count("{", position, found.start()) - clean.count(
            "}", position, found.start()
        )
        position = found.start()
        if depth == 0 or found[0].startswith("mod"):
            names.append(found[1])
    for found in _RUST_USE.finditer(clean):
        tree = re.sub(r"\s+as\s+", "@", found[1])
        names.extend(_use_tree_names(re.sub(r"\s+", "", tree)))
    for found in _RUST_EXTERN.finditer(clean):
        names.append(found[2] or found[1])
    return [n for n in names if n and n != "_"]


def _use_tree_names(tree: str) -> list[str]:
    """The names a `use` tree binds, and its root segment.

    `a::{b, c::{self, d as e}}` binds b, c and e, and names the crate a.
    """
    tree = tree.removeprefix("::")
    names: list[str] = []
    root = re.match(r"\w+", tree)
    if root and root[0] not in ("crate", "self", "super"):
        names.append(root[0])
    names.extend(_bindings(tree, ""))
    return names


def _bindings(tree: str, parent: str) -> list[str]:
    brace = tree.find("{")
    if brace < 0:
        path, _, alias = tree.partition("@")
        if alias:
            return [alias]
        last = path.rsplit("::", 1)[-1]
        if last == "self":
            return [parent] if parent else []
        return [] if last == "*" else [last]
    prefix = tree[:brace].removesuffix("::")
    inner = tree[brace + 1 : tree.rfind("}")]
    owner = prefix.rsplit("::", 1)[-1] if prefix else parent
    found: list[str] = []
    for part in _split_top(inner):
        if part:
            found.extend(_bindings(part, owner))
    return found


def _split_top(text: str) -> Iterable[str]:
    depth = 0
    start = 0
    for i, char in enumerate(text):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "," and depth == 0:
            yield text[start:i]
            start = i + 1
    yield text[start:]


def _cargo_dependencies(text: str) -> Iterator[str]:
    """Crate names of the dependency tables of a Cargo.toml, as Rust code names them."""
    section = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped.strip("[]").strip()
            continue
        if section.endswith("dependencies"):
            found = re.match(r"([A-Za-z0-9_-]+)\s*(=|\.)", stripped)
            if found:
                yield found[1].replace("-", "_")


def _output_name(path: Path) -> str:
    """The name a template file renders to, conditions left out: `{% if x %}a.go{% endif %}`."""
    return _JINJA.sub("", path.name).removesuffix(_SUFFIX)


def _blank_jinja(text: str) -> str:
    """Template text with every Jinja construct replaced by a character no name contains."""
    return _JINJA.sub("\x00", text)
