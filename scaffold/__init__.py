"""otel-scaffold: OpenTelemetry-instrumented Go and Rust services from one org policy.

The library does the work and never prints or exits; `scaffold.cli` is a thin adapter over it.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("otel-scaffold")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

from scaffold.errors import ScaffoldError
from scaffold.policy import Policy, load_policy
from scaffold.render import NewResult, NewService
from scaffold.update import CheckResult, UpdateResult, UpdateService, check

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
