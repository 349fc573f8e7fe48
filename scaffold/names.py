"""What a name or a line of text must be to land safely in generated Go and Rust.

Answers and policy strings become directory names, Go module paths, Rust crate and module names,
identifiers, string literals and doc comments. These rules are the ones the toolchains apply
(Go's `module.CheckPath`, the keywords of both languages, the directories the go tool skips,
what rustdoc reads as code), so whatever passes them renders code that builds. `questions` and
`policy` share them; every function returns a problem in words, or None.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

__all__ = [
    "CARGO_RESERVED",
    "GO_KEYWORDS",
    "GO_SKIPPED_DIRS",
    "NAME_PROBES",
    "RUST_BUILTIN_CRATES",
    "RUST_KEYWORDS",
    "WINDOWS_RESERVED",
    "backtracking_problem",
    "doc_text_problem",
    "module_path_problem",
    "service_name_problem",
]

GO_KEYWORDS = frozenset(
    [
        "break",
        "case",
        "chan",
        "const",
        "continue",
        "default",
        "defer",
        "else",
        "fallthrough",
        "for",
        "func",
        "go",
        "goto",
        "if",
        "import",
        "interface",
        "map",
        "package",
        "range",
        "return",
        "select",
        "struct",
        "switch",
        "type",
        "var",
    ]
)
RUST_KEYWORDS = frozenset(
    [
        "as",
        "async",
        "await",
        "break",
        "const",
        "continue",
        "crate",
        "dyn",
        "else",
        "enum",
        "extern",
        "false",
        "fn",
        "for",
        "if",
        "impl",
        "in",
        "let",
        "loop",
        "match",
        "mod",
        "move",
        "mut",
        "pub",
        "ref",
        "return",
        "self",
        "static",
        "struct",
        "super",
        "trait",
        "true",
        "type",
        "unsafe",
        "use",
        "where",
        "while",
        "abstract",
        "become",
        "box",
        "do",
        "final",
        "macro",
        "override",
        "priv",
        "typeof",
        "unsized",
        "virtual",
        "yield",
        "try",
        "gen",
        "union",
    ]
)
# Package names cargo refuses because they clash with the standard library or its tools.
CARGO_RESERVED = frozenset(
    ["std", "core", "alloc", "proc_macro", "test", "build", "deps", "examples", "incremental"]
)
# Crates every Rust file can name without declaring them.
RUST_BUILTIN_CRATES = frozenset(["std", "core", "alloc", "proc_macro"])
# Directories `go build ./...` and `go test ./...` skip: a package there is never built.
GO_SKIPPED_DIRS = frozenset(["vendor", "testdata"])
# File names Windows reserves, with or without an extension (module.CheckPath refuses them too).
WINDOWS_RESERVED = frozenset(
    ["con", "prn", "aux", "nul"] + [f"{p}{n}" for p in ("com", "lpt") for n in range(1, 10)]
)

# A service name is a directory (cmd/NAME), a Go module path element, a Cargo package name and,
# with dashes as underscores, a Rust crate identifier: lowercase ASCII, single separators.
_SAFE_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
# Names a service-name rule must refuse: each breaks a path, an identifier or a package name.
NAME_PROBES = (
    ".",
    "..",
    "a..",
    "a.b",
    "\\",
    "a\\b",
    "{",
    "a{b}",
    "~",
    "a~1",
    "a/b",
    "a b",
    'a"b',
    "-a",
    "a-",
    "_a",
    "1a",
    "A",
    "a--b",
    "a\n",
    "\u00e9",
)

# What a module path with a bad major version suffix (/v1, /v02) is told.
_BAD_VERSION_SUFFIX = "ends with an invalid major version suffix (use /v2 or higher, or none)"
# Characters never allowed in text that lands in a string literal or a doc comment: quotes,
# backslashes and backticks (string and code-span syntax), and the Unicode categories of
# controls, format characters (every bidi control is one: rustc refuses them), surrogates,
# private use, unassigned code points and line or paragraph separators.
_UNSAFE_CHARS = frozenset('"\\`')
_UNSAFE_CATEGORIES = frozenset(("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))
# Markdown fences open a code block in a doc comment; rustdoc compiles and runs it as a test.
_FENCES = ("```", "~~~")


def service_name_problem(name: str) -> str | None:
    """Why `name` cannot name a service whatever the org's pattern says, or None."""
    if not _SAFE_NAME.fullmatch(name):
        return (
            "is not safe as a directory, Go module path element and Rust crate name; use "
            "lowercase letters and digits separated by single dashes, like payments-api"
        )
    snake = name.replace("-", "_")
    if name in GO_KEYWORDS or snake in RUST_KEYWORDS or snake in CARGO_RESERVED:
        return "is a reserved word in Go, Rust or cargo; pick another name"
    if name in GO_SKIPPED_DIRS:
        return (
            f"is a directory the go tool skips (cmd/{name} would never be built); pick another name"
        )
    if name in WINDOWS_RESERVED:
        return "is a reserved file name on Windows; pick another name"
    return None


def doc_text_problem(text: str) -> str | None:
    """Why `text` cannot be one line of a doc comment or string literal, or None."""
    for char in text:
        if char in _UNSAFE_CHARS:
            return f"must not contain {char!r}; use plain text on one line"
        if unicodedata.category(char) in _UNSAFE_CATEGORIES:
            name = unicodedata.name(char, "a control or format character")
            return (
                f"must not contain U+{ord(char):04X} ({name}); use plain text on one line "
                "without control or bidirectional formatting characters"
            )
    for fence in _FENCES:
        if fence in text:
            return f"must not contain {fence}, which opens a code block in a doc comment"
    if text != text.strip():
        return "must not start or end with spaces (an indented doc line is compiled as code)"
    return None


# -- Go module paths -------------------------------------------------------------------------


def module_path_problem(path: str, *, main: bool = False) -> str | None:
    """Why the go command refuses `path` as a module path, or None.

    The rules of golang.org/x/mod's `module.CheckPath`, which `go mod` and `go build` apply.
    With `main`, the path of a main module, which nothing imports from elsewhere: its first
    element needs no domain name (`module httpbin-instrumentation` builds).
    """
    if not path:
        return "is empty"
    if path.startswith("-"):
        return "starts with a dash"
    if "//" in path:
        return "has a double slash"
    if path.endswith("/"):
        return "ends with a slash"
    for element in path.split("/"):
        problem = _module_element_problem(element)
        if problem:
            return problem
    first = path.split("/", 1)[0]
    if main:
        return None if _path_version_ok(path) else _BAD_VERSION_SUFFIX
    if "." not in first:
        return f"must start with a domain name (its first element {first!r} has no dot)"
    bad = next((c for c in first if not (c in "-." or c.isdigit() or "a" <= c <= "z")), None)
    if bad is not None:
        return (
            f"has {bad!r} in its domain {first!r}; use lowercase letters, digits, dots and dashes"
        )
    if not _path_version_ok(path):
        return _BAD_VERSION_SUFFIX
    return None


def _module_element_problem(element: str) -> str | None:
    if not element:
        return "has an empty path element"
    if element.strip(".") == "":
        return f"has the path element {element!r}"
    if element.startswith("."):
        return f"has a path element starting with a dot ({element!r})"
    if element.endswith("."):
        return f"has a path element ending with a dot ({element!r})"
    for char in element:
        if not (char.isascii() and (char.isalnum() or char in "-._~")):
            return f"has {char!r} in the path element {element!r}; use letters, digits and - . _ ~"
    short = element.split(".", 1)[0]
    if short.lower() in WINDOWS_RESERVED:
        return f"has the path element {element!r}, a reserved file name on Windows"
    tilde = short.rfind("~")
    if 0 <= tilde < len(short) - 1 and short[tilde + 1 :].isdigit():
        return (
            f"has the path element {element!r}, which ends like a Windows short name (~ and digits)"
        )
    return None


def _path_version_ok(path: str) -> bool:
    """`module.SplitPathVersion`'s verdict: a final /vN must have N >= 2 without a leading 0."""
    if path.startswith("gopkg.in/"):
        found = re.search(r"\.v([0-9]+)(-unstable)?$", path)
        return bool(found) and (found[1] == "0" or not found[1].startswith("0"))  # type: ignore[index]
    found = re.search(r"/v([0-9.]+)$", path)
    if not found or len(path) - len(found[0]) < 1:
        return True
    digits = found[1]
    return "." not in digits and not digits.startswith("0") and digits != "1"


# -- patterns that backtrack -----------------------------------------------------------------


def backtracking_problem(pattern: str) -> str | None:
    r"""Why matching `pattern` may take exponential time, or None.

    Python's `re` backtracks, so a repetition whose body can match the same text in more than
    one way (`(a+)+`, `(\w+\s?)*`, `(aa|a)*`) explodes on a near-miss of a few dozen
    characters. The check is structural: inside every repetition, an inner repetition must not
    be able to consume what may follow it (the next part of the body, or the body's start on the
    next round), alternatives must not start alike, and the body must not match empty text.
    Backreferences and conditionals are refused outright. It errs towards refusing.
    """
    try:
        parsed = sre_parse.parse(pattern)
    except re.error:
        return None  # reported as an invalid expression by the caller
    fold = bool(parsed.state.flags & re.IGNORECASE)
    analysis = _Analysis(fold)
    try:
        analysis.sequence(list(parsed), _NONE, in_loop=False)
    except _Ambiguous as found:
        return str(found)
    return None


class _Ambiguous(Exception):
    pass


@dataclass(frozen=True)
class _Chars:
    """A set of characters: explicit ASCII ones, and whether any non-ASCII one is in it."""

    ascii: frozenset[int]
    other: bool

    def __or__(self, other: _Chars) -> _Chars:
        return _Chars(self.ascii | other.ascii, self.other or other.other)

    def overlaps(self, other: _Chars) -> bool:
        return bool(self.ascii & other.ascii) or (self.other and other.other)

    @staticmethod
    def of(codes: Iterable[int]) -> _Chars:
        codes = set(codes)
        return _Chars(frozenset(c for c in codes if c < 128), any(c >= 128 for c in codes))

    def negated(self) -> _Chars:
        return _Chars(frozenset(range(128)) - self.ascii, True)


_NONE = _Chars(frozenset(), False)
_ALL = _Chars(frozenset(range(128)), True)
_CATEGORIES = {
    sre.CATEGORY_DIGIT: _Chars(frozenset(range(48, 58)), True),
    sre.CATEGORY_SPACE: _Chars(frozenset(b" \t\n\r\f\v"), True),
    sre.CATEGORY_WORD: _Chars(
        frozenset(c for c in range(128) if chr(c).isalnum() or c == ord("_")), True
    ),
}
_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)


class _Analysis:
    def __init__(self, fold: bool) -> None:
        self.fold = fold
        self.chained = 0

    # -- facts about parsed items ---------------------------------------------------------

    def chars(self, item: tuple[Any, Any]) -> _Chars:
        """Every character the item can consume, anywhere in it."""
        op, av = item
        if op is sre.LITERAL:
            return self._folded(_Chars.of([av]))
        if op is sre.IN:
            return self._folded(self._class(av))
        if op in (sre.NOT_LITERAL, sre.ANY):
            return _ALL
        if op in _REPEATS:
            return self._union(self.chars(i) for i in av[2])
        if op is sre.SUBPATTERN or op is sre.ATOMIC_GROUP:
            return self._union(self.chars(i) for i in self._items(item))
        if op is sre.BRANCH:
            return self._union(self.chars(i) for branch in av[1] for i in branch)
        return _NONE  # anchors and lookarounds consume nothing

    def first(self, items: list[tuple[Any, Any]]) -> _Chars:
        """Characters a match of the sequence can start with."""
        found = _NONE
        for item in items:
            found = found | self._first_of(item)
            if not self.nullable([item]):
                break
        return found

    def _first_of(self, item: tuple[Any, Any]) -> _Chars:
        op, av = item
        if op in _REPEATS:
            return self.first(list(av[2]))
        if op is sre.SUBPATTERN or op is sre.ATOMIC_GROUP:
            return self.first(self._items(item))
        if op is sre.BRANCH:
            return self._union(self.first(list(branch)) for branch in av[1])
        return self.chars(item)

    def nullable(self, items: list[tuple[Any, Any]]) -> bool:
        """Whether the sequence can match empty text."""
        for op, av in items:
            if op in (sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN):
                return False
            if op in _REPEATS:
                if av[0] > 0 and not self.nullable(list(av[2])):
                    return False
            elif op is sre.SUBPATTERN or op is sre.ATOMIC_GROUP:
                if not self.nullable(self._items((op, av))):
                    return False
            elif op is sre.BRANCH and not any(self.nullable(list(b)) for b in av[1]):
                return False
        return True

    # -- the walk ---------------------------------------------------------------------------

    def sequence(self, items: list[tuple[Any, Any]], follow: _Chars, *, in_loop: bool) -> None:
        """Check a sequence that `follow` may come after, inside a repetition or not."""
        for index, item in enumerate(items):
            rest = items[index + 1 :]
            after = self.first(rest) | (follow if self.nullable(rest) else _NONE)
            self.item(item, after, in_loop=in_loop)

    def item(self, item: tuple[Any, Any], after: _Chars, *, in_loop: bool) -> None:
        op, av = item
        if op in (sre.GROUPREF, sre.GROUPREF_EXISTS):
            raise _Ambiguous("uses a backreference or a conditional group; describe names plainly")
        if op in _REPEATS:
            body = list(av[2])
            loops = av[1] is sre.MAXREPEAT or av[1] > 1
            # A choice inside a repetition whose characters can also be taken by what follows
            # lets the engine split the same text in many ways. A fixed count ({3}) is no choice.
            overlaps = av[0] != av[1] and self.chars(item).overlaps(after)
            if overlaps and not in_loop:
                # Outside a repetition each such choice multiplies the ways by the length:
                # one is linear, a chain of them (`a*a*a*`) is a polynomial of high degree.
                self.chained += 1
                if self.chained > 1:
                    raise _Ambiguous(
                        "has several repetitions in a row that can match the same characters, "
                        "which backtracks in polynomial time of a high degree; merge them"
                    )
            if in_loop and overlaps:
                raise _Ambiguous(
                    f"has {_show(item)} inside a repetition where what follows can match the "
                    "same characters, which backtracks exponentially; rewrite it so each "
                    "character has one way to match (like ^[a-z][a-z0-9]*(-[a-z0-9]+)*$)"
                )
            if self.nullable(body) and (loops or (in_loop and av[0] != av[1])):
                # Empty text then matches in more than one way: skip the part, or take it empty.
                raise _Ambiguous(f"repeats {_show(item)}, which can match empty text")
            inner_follow = (self.first(body) | after) if loops else after
            self.sequence(body, inner_follow, in_loop=in_loop or loops)
        elif op is sre.SUBPATTERN or op is sre.ATOMIC_GROUP:
            self.sequence(self._items(item), after, in_loop=in_loop)
        elif op is sre.BRANCH:
            branches = [list(b) for b in av[1]]
            if in_loop:
                starts = [self.first(b) for b in branches]
                empty = sum(self.nullable(b) for b in branches)
                for i, one in enumerate(starts):
                    # Two alternatives that both match empty text (`a|a` is parsed as `a(?:|)`)
                    # are two ways to match the same text too.
                    if (
                        any(one.overlaps(other) for other in starts[i + 1 :])
                        or empty > 1
                        or (empty and self.chars(item).overlaps(after))
                    ):
                        raise _Ambiguous(
                            "has alternatives inside a repetition that can match the same "
                            "characters, which backtracks exponentially; make each alternative "
                            "start differently"
                        )
            for branch in branches:
                self.sequence(branch, after, in_loop=in_loop)
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            self.sequence(list(av[1]), _ALL, in_loop=in_loop)

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _items(item: tuple[Any, Any]) -> list[tuple[Any, Any]]:
        op, av = item
        return list(av[-1] if op is sre.SUBPATTERN else av)

    @staticmethod
    def _union(sets: Iterator[_Chars] | Iterable[_Chars]) -> _Chars:
        total = _NONE
        for chars in sets:
            total = total | chars
        return total

    def _class(self, members: list[tuple[Any, Any]]) -> _Chars:
        total = _NONE
        negate = False
        for op, av in members:
            if op is sre.NEGATE:
                negate = True
            elif op is sre.LITERAL:
                total = total | _Chars.of([av])
            elif op is sre.RANGE:
                low, high = av
                total = total | _Chars(frozenset(range(low, min(high, 127) + 1)), high >= 128)
            elif op is sre.CATEGORY:
                total = total | _CATEGORIES.get(av, _ALL)
            else:
                total = _ALL
        return total.negated() if negate else total

    def _folded(self, chars: _Chars) -> _Chars:
        if not self.fold:
            return chars
        swapped = {ord(chr(c).swapcase()) for c in chars.ascii if chr(c).isalpha()}
        return chars | _Chars.of(swapped)


def _show(item: tuple[Any, Any]) -> str:
    """A short rendering of a parsed repetition for messages."""
    low, high = item[1][0], item[1][1]
    if (low, high) == (0, 1):
        return "an optional part (`?`)"
    if (low, high) == (0, sre.MAXREPEAT):
        return "a `*` repetition"
    if (low, high) == (1, sre.MAXREPEAT):
        return "a `+` repetition"
    return f"a {{{low},{'' if high is sre.MAXREPEAT else high}}} repetition"
