"""otel-scaffold: OpenTelemetry-instrumented Go and Rust services from one org policy.

The library does the work and never prints or exits; `scaffold.cli` is a thin adapter over it.

The public names below are imported on first use: importing the package (or one of its small
modules, as the console script does before anything else) stays quick.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    __version__: str

    from scaffold.errors import ScaffoldError
    from scaffold.policy import Policy, load_policy
    from scaffold.render import NewResult, NewService
    from scaffold.update import CheckResult, UpdateResult, UpdateService, check

_PUBLIC = {
    "CheckResult": "scaffold.update",
    "NewResult": "scaffold.render",
    "NewService": "scaffold.render",
    "Policy": "scaffold.policy",
    "ScaffoldError": "scaffold.errors",
    "UpdateResult": "scaffold.update",
    "UpdateService": "scaffold.update",
    "check": "scaffold.update",
    "load_policy": "scaffold.policy",
}

__all__ = [
    "CheckResult",
    "NewResult",
    "NewService",
    "Policy",
    "ScaffoldError",
    "UpdateResult",
    "UpdateService",
    "__version__",
    "check",
    "load_policy",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        return _version()
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'scaffold' has no attribute {name!r}")
    return getattr(import_module(module), name)


@cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("otel-scaffold")
    except PackageNotFoundError:  # pragma: no cover - a source tree without install
        return "0.0.0"
