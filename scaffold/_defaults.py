"""Defaults the command line shows in its help, in a module that imports nothing heavy.

`scaffold --help` and every subcommand's `--help` load only click and this package's small
modules (errors, signals, these defaults); each command imports the library it needs (copier,
questionary, rich, yaml, ...) when it runs. The library modules take these values from here, so
each is defined once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

__all__ = ["DEFAULT_BRANCH", "DEFAULT_STRATEGIES_FILE", "DEFAULT_VERSION", "TIERS", "Tier"]

Tier = Literal["agent", "gateway"]
# The collector tiers: an agent next to the services, gateways in front of the backend.
TIERS: tuple[Tier, ...] = ("agent", "gateway")

# Where the agent reads its sampling strategies unless told otherwise: a directory, so that a
# ConfigMap mounted there (without subPath) is updated in place when it changes.
DEFAULT_STRATEGIES_FILE = Path("/etc/otelcol/sampling/strategies.json")

# The branch `fleet upgrade` works on; {version} is the target version.
DEFAULT_BRANCH = "scaffold/{version}"

# The first version tag of a template repository made by `template init`.
DEFAULT_VERSION = "v0.1.0"
