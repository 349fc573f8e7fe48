"""YAML reading with bounds: every YAML file the CLI reads goes through here.

Answers files, data files, policies, copier.yml and fleet answers are small documents. A hostile
one can still be large, or a "billion laughs" bomb: a few hundred bytes of anchors and aliases
whose expansion is billions of nodes, which PyYAML builds as shared references and the first
walk over it (validation, `tojson`, a deep copy) expands. So a document is refused before it is
parsed when its text is too long, and before it is constructed when its aliases would expand it
past a node limit (a recursive alias counts as infinite).
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["MAX_NODES", "MAX_TEXT", "BoundedLoader", "YAMLLimitError", "safe_load", "safe_load_all"]

# Characters of one YAML text; the bundled copier.yml with its policy is about 20,000.
MAX_TEXT = 1_000_000
# Nodes of one document once every alias is expanded; the bundled policy has about 400.
MAX_NODES = 100_000
_TOO_DEEP = "is nested too deeply to read; flatten it"


class YAMLLimitError(yaml.YAMLError):
    """A YAML text is over a size bound; `problem` says which, as PyYAML's own errors do."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        self.problem_mark = None
        super().__init__(problem)


class BoundedLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses a document whose aliases expand past `MAX_NODES`."""

    def construct_document(self, node: yaml.Node) -> Any:
        """Check the expanded size of a composed document, then construct it."""
        _check_expansion(node)
        return super().construct_document(node)


def safe_load(text: str, loader: type[BoundedLoader] = BoundedLoader) -> Any:
    """`yaml.safe_load` with the bounds of this module.

    Raises:
        yaml.YAMLError: the text is not YAML, or `YAMLLimitError` for one over a bound.
    """
    _check_length(text)
    try:
        return yaml.load(text, Loader=loader)
    except RecursionError:
        raise YAMLLimitError(_TOO_DEEP) from None


def safe_load_all(text: str, loader: type[BoundedLoader] = BoundedLoader) -> list[Any]:
    """`yaml.safe_load_all` with the bounds of this module, as a list of documents."""
    _check_length(text)
    try:
        return list(yaml.load_all(text, Loader=loader))
    except RecursionError:
        raise YAMLLimitError(_TOO_DEEP) from None


def _check_length(text: str) -> None:
    if len(text) > MAX_TEXT:
        raise YAMLLimitError(
            f"is {len(text):,} characters long, more than the {MAX_TEXT:,} a YAML file may have"
        )


def _check_expansion(root: yaml.Node) -> None:
    """Count the nodes of a document as if every alias were copied out, without copying."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise YAMLLimitError("has an alias that refers to itself; write the value out")
        active.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        active.discard(key)
        if total > MAX_NODES:
            raise YAMLLimitError(
                f"expands to more than {MAX_NODES:,} values through its aliases (a YAML bomb?); "
                "write the values out"
            )
        sizes[key] = total
        return total

    size(root)
