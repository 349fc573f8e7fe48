"""Time `scaffold --help` and every subcommand's `--help` against `copier --help`, in one run.

Each is a fresh process, as a user runs it. The runs are interleaved (copier, then every scaffold
command, again and again), so a busy machine slows both alike; the figures are medians. The
budget: every `--help` within half the time of `copier --help`.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import click

from scaffold.cli import cli

RUNS = 9
BUDGET = 0.5
BIN = Path(sys.executable).parent


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group of the CLI, as the words that name it: (), ("new",), ..."""
    paths = [prefix]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            paths += command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


def seconds(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    paths = command_paths(cli)
    copier: list[float] = []
    scaffold: dict[tuple[str, ...], list[float]] = {path: [] for path in paths}
    for _ in range(RUNS):
        copier.append(seconds([str(BIN / "copier"), "--help"]))
        for path in paths:
            scaffold[path].append(seconds([str(BIN / "scaffold"), *path, "--help"]))
    base = statistics.median(copier)
    print(f"--help start-up vs copier --help, {RUNS} interleaved runs each (median, min) in ms")
    print(f"  {'copier --help':<44} {base * 1000:8.1f} {min(copier) * 1000:8.1f}")
    ratios = {}
    for path, times in scaffold.items():
        median = statistics.median(times)
        ratios[path] = median / base
        name = " ".join(("scaffold", *path, "--help"))
        print(f"  {name:<44} {median * 1000:8.1f} {min(times) * 1000:8.1f}   x{ratios[path]:.2f}")
    worst = max(ratios, key=ratios.__getitem__)
    verdict = "within" if ratios[worst] <= BUDGET else "OVER"
    print(
        f"  --help ratio against copier: x{ratios[()]:.2f} (scaffold --help), "
        f"x{ratios[worst]:.2f} at most ({' '.join(('scaffold', *worst, '--help'))}); "
        f"{verdict} the x{BUDGET} budget"
    )


if __name__ == "__main__":
    main()
