"""Overhead of the generated instrumentation, measured by the generated services' own benchmarks.

Renders the default Go and Rust services from the bundled templates into build/bench/ and runs
their benchmarks: a bare handler, the upstream instrumentation alone, and the generated layer
sampled, unsampled and switched off. Prints one table per language with the ratios to the
upstream instrumentation and the bare handler of the same run. Go runs ten rounds of every
layer and compares them with benchstat, which says whether a difference is significant; for
Rust the table also says which goals of the layer's overhead are met or missed.
"""

from __future__ import annotations

import csv
import os
import random
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


# benchstat, pinned: it turns ten runs per layer into a median with its confidence interval and
# says whether two layers differ significantly (Mann-Whitney U test).
BENCHSTAT = "golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da"
GO_ROUNDS = 10
# The goals of the generated layer: sampled at most upstream otelhttp's cost, unsampled at most
# a quarter of upstream sampled, switched off at most 100 ns over the bare handler.
GO_LAYERS = (
    "bare",
    "otelhttp",
    "sampled",
    "unsampled",
    "off",
    "off-no-trace-headers",
    "sdk-disabled",
)


def benchstat(results: Path, columns: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """benchstat's sec/op per layer: its center, and against the first layer its delta and p."""
    out = subprocess.run(
        [
            "go",
            "run",
            BENCHSTAT,
            "-format",
            "csv",
            "-col",
            f"/layer@({' '.join(columns)})",
            results,
        ],
        env={**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": ""},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # The first table is sec/op: a row of layers, a row of fields, then one row of values.
    layers, fields, values = list(csv.reader(line for line in out.splitlines() if "," in line))[:3]
    table: dict[str, dict[str, str]] = {}
    layer = ""
    for heading, field, value in zip(layers[1:], fields[1:], values[1:], strict=False):
        layer = heading or layer
        table.setdefault(layer, {})[field] = value
    return table


def go_table() -> None:
    dest = fresh("go")
    env = {**os.environ, "GOTOOLCHAIN": "local"}
    binary = OUT / "telemetry.test"
    subprocess.run(
        ["go", "test", "-c", "-o", str(binary), "./internal/telemetry"],
        cwd=dest,
        env=env,
        check=True,
    )
    # Rounds of every layer in turn, each layer in a process of its own and in a new random
    # order every round: the noise of a shared machine and the warm-up of a process then fall
    # on all layers alike, and the ratios stay meaningful.
    results = OUT / "go-bench.txt"
    order = random.Random(11)
    with results.open("w", encoding="utf-8") as out:
        for _ in range(GO_ROUNDS):
            for layer in order.sample(GO_LAYERS, len(GO_LAYERS)):
                run = subprocess.run(
                    [
                        str(binary),
                        "-test.run",
                        "^$",
                        "-test.bench",
                        f"^BenchmarkMiddleware$/^layer={layer}$",
                        "-test.benchmem",
                        "-test.count",
                        "1",
                    ],
                    cwd=dest / "internal" / "telemetry",
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                out.write(run.stdout)
    vs_upstream = benchstat(results, ("otelhttp", "sampled", "unsampled"))
    vs_bare = benchstat(results, ("bare", "off", "off-no-trace-headers", "sdk-disabled"))
    center = {
        layer: float(stats["sec/op"]) * 1e9
        for table in (vs_upstream, vs_bare)
        for layer, stats in table.items()
    }
    bare, upstream = center["bare"], center["otelhttp"]
    goals = {
        "sampled": ("<= 1.00x otelhttp", center["sampled"] / upstream <= 1.0),
        "unsampled": ("<= 0.25x otelhttp", center["unsampled"] / upstream <= 0.25),
        "off": ("<= bare + 100 ns", center["off"] - bare <= 100),
        "off-no-trace-headers": ("<= bare + 100 ns", center["off-no-trace-headers"] - bare <= 100),
        "sdk-disabled": ("<= bare + 100 ns", center["sdk-disabled"] - bare <= 100),
    }
    print(f"Go middleware, median of {GO_ROUNDS} rounds (benchstat), per request; raw: {results}")
    print(
        f"  {'layer':<22} {'ns/op':>9} {'x otelhttp':>11} {'+ns bare':>9}  "
        f"{'benchstat vs base':<24} goal"
    )
    for layer in GO_LAYERS:
        ns = center[layer]
        base, table = ("otelhttp", vs_upstream) if layer in vs_upstream else ("bare", vs_bare)
        stats = table.get(layer, {})
        compared = f"{stats['vs base']} vs {base} ({stats['P']})" if "vs base" in stats else ""
        goal, met = goals.get(layer, ("", True))
        verdict = f"{goal}: {'met' if met else 'NOT met'}" if goal else ""
        print(
            f"  {layer:<22} {ns:>9.0f} {ns / upstream:>11.2f} {ns - bare:>9.0f}  "
            f"{compared:<24} {verdict}"
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
