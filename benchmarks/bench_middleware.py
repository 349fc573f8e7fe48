"""Overhead of the generated instrumentation, measured by the generated services' own benchmarks.

Renders the default Go and Rust services from the bundled templates into build/bench/ and runs
their benchmarks: a bare handler, the upstream instrumentation alone, and the generated layer
sampled, unsampled and switched off. Prints one table per language with the ratio to the bare
handler and to the upstream instrumentation of the same run, and, for Rust, the goals of the
layer's overhead met or missed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from scaffold.render import NewService

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "bench"
CARGO_TARGET = os.environ.get(
    "CARGO_TARGET_DIR", str(Path.home() / ".cache" / "otel-scaffold" / "cargo-target")
)


def fresh(language: str) -> Path:
    dest = OUT / language
    shutil.rmtree(dest, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    NewService(
        dest=dest,
        data={"service_name": "bench-svc", "language": language},
        use_defaults=True,
        git_init=False,
    ).run()
    return dest


def go_table() -> None:
    dest = fresh("go")
    out = subprocess.run(
        [
            "go",
            "test",
            "-run",
            "^$",
            "-bench",
            "BenchmarkMiddleware",
            "-benchmem",
            "-count",
            "1",
            "./internal/telemetry",
        ],
        cwd=dest,
        env={**os.environ, "GOTOOLCHAIN": "local"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = re.findall(
        r"^BenchmarkMiddleware/(\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op\s+(\d+) B/op\s+(\d+) allocs/op",
        out,
        re.M,
    )
    if not rows:
        sys.exit(f"no benchmark lines in go test output:\n{out}")
    bare = float(rows[0][1])
    upstream = next(float(ns) for name, ns, _, _ in rows if name == "otelhttp")
    print("Go middleware (go test -bench, per request)")
    print(
        f"  {'case':<28} {'ns/op':>10} {'B/op':>8} {'allocs/op':>10} {'x bare':>8} {'x otelhttp':>11}"
    )
    for name, ns, bytes_, allocs in rows:
        value = float(ns)
        print(
            f"  {name:<28} {value:>10.0f} {bytes_:>8} {allocs:>10} {value / bare:>8.1f} {value / upstream:>11.2f}"
        )


# The goals of issue 11 for the Rust layer, each against the same run's figures.
RUST_GOALS = (
    ("sampled <= 1.0x upstream (sampled)", "OtelLayer, sampled", 1.0),
    ("unsampled <= 0.25x upstream (sampled)", "OtelLayer, unsampled", 0.25),
)
OFF_BUDGET_NS = 100.0


def rust_table() -> None:
    dest = fresh("rust")
    out = subprocess.run(
        [
            "cargo",
            "bench",
            "--bench",
            "overhead",
            "--",
            "--warm-up-time",
            "1",
            "--measurement-time",
            "3",
            "--noplot",
        ],
        cwd=dest,
        env={**os.environ, "CARGO_TARGET_DIR": CARGO_TARGET},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # "NAME  time: [low unit estimate unit high unit]"; a long NAME puts time: on the next line.
    rows = re.findall(r"^(\S[^\n]*?)\s+time:\s+\[[\d.]+ \S+ ([\d.]+) (\S+) [\d.]+ \S+\]", out, re.M)
    if not rows:
        sys.exit(f"no benchmark lines in cargo bench output:\n{out}")
    scale = {"ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6}
    values = {
        name.strip().removeprefix("GET /hello/"): float(value) * scale[unit]
        for name, value, unit in rows
    }
    bare = values["bare"]
    upstream = next(ns for name, ns in values.items() if "TraceLayer" in name)
    print("Rust layer (criterion, median per request; overhead = time - bare)")
    print(
        f"  {'case':<36} {'ns':>8} {'overhead':>9} {'x bare':>7} {'x upstream':>11} "
        f"{'overhead x upstream':>20}"
    )
    for name, ns in values.items():
        print(
            f"  {name:<36} {ns:>8.0f} {ns - bare:>9.0f} {ns / bare:>7.2f} {ns / upstream:>11.2f} "
            f"{(ns - bare) / (upstream - bare):>20.2f}"
        )
    print("  goals (as a ratio of whole requests; of the overheads in brackets):")
    for goal, case, limit in RUST_GOALS:
        ratio = values[case] / upstream
        overhead = (values[case] - bare) / (upstream - bare)
        verdict = "met" if ratio <= limit else "missed"
        print(f"    {goal:<40} {ratio:.2f} ({overhead:.2f})  {verdict}")
    off = values["OtelLayer, switched off"] - bare
    verdict = "met" if off <= OFF_BUDGET_NS else "missed"
    print(f"    {'switched off <= bare + 100 ns':<40} +{off:.0f} ns  {verdict}")


def main() -> None:
    languages = sys.argv[1:] or ["go", "rust"]
    if "go" in languages:
        go_table()
    if "rust" in languages:
        rust_table()


if __name__ == "__main__":
    main()
