"""The `scaffold` console script (and `python -m scaffold`).

The termination signals are turned into `Interrupted` before anything else is imported, so an
interrupt while the CLI and its dependencies load (about half a second) ends quietly with the
signal's exit code instead of a traceback.
"""

from __future__ import annotations

import sys

from scaffold import _signals

_signals.install()  # as early as the package allows: imports below take a while


def main() -> None:
    """Load the CLI and run it."""
    _signals.install()
    try:
        from scaffold.cli import main as run
    except KeyboardInterrupt as exc:
        _signals.ignore()
        sys.stderr.write(f"aborted ({exc or 'SIGINT'}) while starting; nothing was done\n")
        sys.exit(_signals.exit_code(exc))
    run()


if __name__ == "__main__":
    main()
