"""Overhead of the generated instrumentation, measured by the generated services' own benchmarks.

Renders the default Go and Rust services from the bundled templates into build/bench/ and runs
their benchmarks: a bare handler, the upstream instrumentation alone, and the generated layer
sampled, unsampled and switched off. Prints one table per language with the ratio to the bare
handler.
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
    values = [(name.strip(), float(value) * scale[unit]) for name, value, unit in rows]
    bare = values[0][1]
    upstream = next(ns for name, ns in values if "TraceLayer" in name)
    print("Rust layer (criterion, median per request)")
    print(f"  {'case':<44} {'ns':>10} {'x bare':>8} {'x TraceLayer':>13}")
    for name, ns in values:
        print(f"  {name:<44} {ns:>10.0f} {ns / bare:>8.1f} {ns / upstream:>13.2f}")


def main() -> None:
    languages = sys.argv[1:] or ["go", "rust"]
    if "go" in languages:
        go_table()
    if "rust" in languages:
        rust_table()


if __name__ == "__main__":
    main()
