"""Time `scaffold new` against plain `copier copy` of the same template, in the same run.

Both are measured as a user runs them (a fresh process each time) and in-process (the library
call vs `copier.run_copy`), so the ratio shows what validation, policy loading and staging add.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import copier

from scaffold.render import NewService
from scaffold.source import bundled_templates

RUNS = 7
BIN = Path(sys.executable).parent


def measure(action: Callable[[Path], None]) -> list[float]:
    times = []
    for i in range(RUNS):
        with tempfile.TemporaryDirectory() as tmp:
            dest = Path(tmp) / f"svc{i}"
            start = time.perf_counter()
            action(dest)
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    templates = str(bundled_templates())
    data = {"service_name": "bench-svc", "language": "go"}

    def scaffold_cli(dest: Path) -> None:
        subprocess.run(
            [
                BIN / "scaffold",
                "new",
                "bench-svc",
                "--lang",
                "go",
                "--defaults",
                "--no-git",
                "--dest",
                dest,
            ],
            check=True,
            capture_output=True,
        )

    def copier_cli(dest: Path) -> None:
        subprocess.run(
            [
                BIN / "copier",
                "copy",
                "-q",
                "--defaults",
                "-d",
                "service_name=bench-svc",
                "-d",
                "language=go",
                templates,
                dest,
            ],
            check=True,
            capture_output=True,
        )

    def scaffold_lib(dest: Path) -> None:
        NewService(dest=dest, data=data, use_defaults=True, git_init=False).run()

    def copier_lib(dest: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            copier.run_copy(templates, dest, data=data, defaults=True, quiet=True)

    def scaffold_git(dest: Path) -> None:
        NewService(dest=dest, data=data, use_defaults=True, git_init=True).run()

    rows = [
        ("copier copy (process)", measure(copier_cli)),
        ("scaffold new --no-git (process)", measure(scaffold_cli)),
        ("copier.run_copy (in-process)", measure(copier_lib)),
        ("NewService.run, no git (in-process)", measure(scaffold_lib)),
        ("NewService.run + git commit (in-process)", measure(scaffold_git)),
    ]
    print(f"scaffold new vs copier copy, Go service, {RUNS} runs each (median, min) in ms")
    base = {"process": statistics.median(rows[0][1]), "in-process": statistics.median(rows[2][1])}
    for name, times in rows:
        kind = "process" if "(process)" in name else "in-process"
        median = statistics.median(times)
        print(
            f"  {name:<44} {median * 1000:8.1f} {min(times) * 1000:8.1f}   x{median / base[kind]:.2f}"
        )


if __name__ == "__main__":
    main()
