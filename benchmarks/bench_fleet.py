"""Time `scaffold fleet upgrade` against a serial shell loop of plain `copier update`, same run.

A template repository is made with `init_template_repo` (v1.0.0), services are rendered from it
(Go and Rust alternating, unique names) and each is pushed to its own bare repository; then the
template releases v1.1.0 (the policy's sampling ratio changes, and a line of a Go and of a Rust
file). For each fleet size the same repositories are upgraded to v1.1.0 by:

- baseline: `bash -c 'for d in ...; do (cd $d && git checkout -b ... && copier update
  --skip-answered --defaults --vcs-ref v1.1.0 && git add -A && git commit); done'` over fresh
  working clones. Cloning them is not part of the loop (it is timed on its own line). Plain copier
  has no verify step, so the fleet runs with `--no-verify`; branch and commit are in the loop
  because the fleet does both. The loop runs once, over all repositories, and records the time
  after each one: a serial loop over the first N takes exactly its first N iterations, so the
  baseline of a smaller size is read from it instead of being run again.
- fleet cold: `scaffold fleet upgrade --no-verify --jobs <cores> --to v1.1.0` as a process, on
  an empty cache (every repository is cloned).
- fleet warm: the same on the warm cache (fetch instead of clone) with another `--branch`, so
  nothing is resumed and every repository is upgraded again.
- resume: the cold command again: every branch already holds the upgrade, nothing is redone.

Every run is checked: all repositories updated, and the fleet's upgrade commit has the same tree
as the baseline's for every repository (so both did the same work).

    python benchmarks/bench_fleet.py [--sizes 10,20,50] [--quick] [--jobs N] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scaffold.render import NewService
from scaffold.template_repo import init_template_repo

BIN = Path(sys.executable).parent
OLD, NEW = "v1.0.0", "v1.1.0"
SIZES = (10, 20, 50)
QUICK_SIZES = (4, 8)


@dataclass(frozen=True)
class Row:
    size: int
    clone: float
    baseline: float
    cold: float
    warm: float
    resume: float
    repo_median: float  # median seconds per repository inside the fleet's workers (warm)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def isolate_git(root: Path) -> None:
    """A git identity of our own; no user or system config (hooks, signing) gets in the way."""
    config = root / "gitconfig"
    config.write_text(
        "[user]\n\tname = Bench\n\temail = bench@localhost\n"
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n",
        encoding="utf-8",
    )
    os.environ["GIT_CONFIG_GLOBAL"] = str(config)
    os.environ["GIT_CONFIG_NOSYSTEM"] = "1"
    os.environ["SCAFFOLD_TEMPLATE_CACHE"] = str(root / "template-cache")


def render(args: tuple[Path, Path, str, str]) -> None:
    template, dest, name, language = args
    NewService(
        dest=dest,
        data={"service_name": name, "language": language},
        template=str(template),
        vcs_ref=OLD,
        use_defaults=True,
        git_init=True,
    ).run()


def release(template: Path) -> None:
    """v1.1.0: the dev sampling ratio and the org default change; a Go and a Rust line change."""
    edits = {
        "policy.yml": [("  ratio: 0.1\n", "  ratio: 0.05\n"), ("    dev: 1.0\n", "    dev: 0.5\n")],
        "go/{{ telemetry_dir }}/doc.go.jinja": [
            ("// attributed alike in every service", "// attributed the same way in every service")
        ],
        "rust/{{ telemetry_dir }}/mod.rs.jinja": [
            (
                "//! organisation's instrumentation policy asks.",
                "//! instrumentation policy of the org asks.",
            )
        ],
    }
    for name, changes in edits.items():
        path = template / name
        text = path.read_text(encoding="utf-8")
        for old, new in changes:
            if text.count(old) != 1:
                raise SystemExit(
                    f"bench_fleet: {name} no longer has {old!r} once; update the bench"
                )
            text = text.replace(old, new)
        path.write_text(text, encoding="utf-8")
    git(template, "commit", "-qam", "Lower the sampling ratios; reword the package docs")
    git(template, "tag", "-a", NEW, "-m", f"Template set {NEW}")


def build(root: Path, count: int, jobs: int) -> list[Path]:
    """The template (at v1.1.0 when this returns) and `count` bare service repositories."""
    template = init_template_repo(root / "template", OLD)
    specs = [
        (template, root / "work" / f"svc-{i:02d}", f"fleet-{lang}-{i:02d}", lang)
        for i, lang in ((i, "go" if i % 2 == 0 else "rust") for i in range(count))
    ]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(render, specs))
    remotes = []
    for _, work, _, _ in specs:
        remote = root / "remotes" / f"{work.name}.git"
        git(root, "clone", "-q", "--bare", str(work), str(remote))
        remotes.append(remote)
    shutil.rmtree(root / "work")
    release(template)
    return remotes


def timed(command: list[str], **kwargs: Any) -> float:
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(
            f"bench_fleet: {shlex.join(command)[:200]} failed ({proc.returncode}):\n"
            f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )
    return elapsed


def baseline(root: Path, remotes: list[Path]) -> tuple[list[float], list[float], list[Path]]:
    """Clone the repositories (timed apart), then run the serial `copier update` loop over them.

    Returns the clone time of each repository, the loop's elapsed time after each repository
    (so the time of a loop over the first N is its N-th entry), and the clones.
    """
    dest = root / "baseline"
    dest.mkdir()
    clones = [dest / remote.name.removesuffix(".git") for remote in remotes]
    clone_times = []
    for remote, clone in zip(remotes, clones, strict=True):
        start = time.perf_counter()
        git(dest, "clone", "-q", str(remote), str(clone))
        clone_times.append(time.perf_counter() - start)
    copier = shlex.quote(str(BIN / "copier"))
    stamps = root / "baseline-stamps.txt"
    loop = (
        f"set -e; date +%s.%N > {shlex.quote(str(stamps))}; for d in "
        + " ".join(shlex.quote(str(c)) for c in clones)
        + "; do "
        f'(cd "$d" && git checkout -q -b scaffold/{NEW}'
        f" && {copier} update --quiet --skip-answered --defaults --vcs-ref {NEW}"
        f" && git add -A && git commit -q --no-verify -m 'Update template to {NEW}');"
        f" date +%s.%N >> {shlex.quote(str(stamps))}; done"
    )
    timed(["bash", "-c", loop])
    times = [float(line) for line in stamps.read_text(encoding="utf-8").split()]
    return clone_times, [t - times[0] for t in times[1:]], clones


def fleet(repos_file: Path, cache: Path, jobs: int, report: Path, *extra: str) -> float:
    command = [
        str(BIN / "scaffold"),
        "fleet",
        "upgrade",
        "--no-verify",
        "--jobs",
        str(jobs),
        "--to",
        NEW,
        "--cache-dir",
        str(cache),
        "--repos-file",
        str(repos_file),
        "--json",
        str(report),
        *extra,
    ]
    return timed(command, stdin=subprocess.DEVNULL)


def check(report: Path, size: int, *, resumed: bool) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    counts = data["counts"]
    again = sum(1 for repo in data["repos"] if repo["resumed"])
    if counts["updated"] != size or again != (size if resumed else 0):
        raise SystemExit(f"bench_fleet: unexpected fleet outcome in {report}: {counts}")
    return data


def same_trees(data: dict[str, Any], clones: list[Path], branch: str) -> int:
    """How many repositories got the same tree from the fleet as from the baseline loop."""
    by_name = {Path(repo["repo"]).name.removesuffix(".git"): repo for repo in data["repos"]}
    same = 0
    for clone in clones:
        workdir = Path(by_name[clone.name]["workdir"])
        fleet_tree = git(workdir, "rev-parse", f"{branch}^{{tree}}")
        same += fleet_tree == git(clone, "rev-parse", "HEAD^{tree}")
    return same


def measure(
    root: Path, remotes: list[Path], clones: list[Path], size: int, jobs: int
) -> tuple[float, float, float, float]:
    """The fleet's cold, warm and resume runs over the first `size` repositories, checked."""
    repos_file = root / f"repos-{size}.txt"
    repos_file.write_text("".join(f"{r}\n" for r in remotes[:size]), encoding="utf-8")
    cache = root / f"cache-{size}"
    cold = fleet(repos_file, cache, jobs, root / f"cold-{size}.json")
    cold_data = check(root / f"cold-{size}.json", size, resumed=False)
    warm = fleet(repos_file, cache, jobs, root / f"warm-{size}.json", "--branch", "warm/{version}")
    warm_data = check(root / f"warm-{size}.json", size, resumed=False)
    resume = fleet(repos_file, cache, jobs, root / f"resume-{size}.json")
    check(root / f"resume-{size}.json", size, resumed=True)
    for data, branch in ((cold_data, f"scaffold/{NEW}"), (warm_data, f"warm/{NEW}")):
        same = same_trees(data, clones[:size], branch)
        if same != size:
            raise SystemExit(
                f"bench_fleet: fleet and copier trees differ in {size - same} of {size} repos"
            )
    repo_median = statistics.median(repo["seconds"] for repo in warm_data["repos"])
    return cold, warm, resume, repo_median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", help="comma-separated fleet sizes [default: 10,20,50]")
    parser.add_argument("--quick", action="store_true", help="sizes 4,8: a smoke run")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="fleet --jobs")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if args.sizes:
        sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    else:
        sizes = list(QUICK_SIZES if args.quick else SIZES)
    if not sizes or min(sizes) < 1:
        parser.error("--sizes takes positive integers, e.g. 10,20,50")

    root = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    try:
        isolate_git(root)
        started = time.perf_counter()
        remotes = build(root, max(sizes), args.jobs)
        print(
            f"fleet upgrade {OLD} -> {NEW} vs a serial `copier update` loop: {max(sizes)} services"
            f" (Go and Rust alternating) built in {time.perf_counter() - started:.1f}s;"
            f" fleet --jobs {args.jobs} --no-verify; load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        clone_times, loop_times, clones = baseline(root, remotes)
        print(f"  baseline loop over {len(clones)}: {loop_times[-1]:.1f}s", flush=True)
        rows = []
        for size in sizes:
            cold, warm, resume, repo_median = measure(root, remotes, clones, size, args.jobs)
            base = loop_times[size - 1]
            clone = sum(clone_times[:size])
            rows.append(Row(size, clone, base, cold, warm, resume, repo_median))
            print(f"  fleet N={size}: cold {cold:.1f}s, warm {warm:.1f}s", flush=True)
        report(rows, time.perf_counter() - started)
    finally:
        if args.keep:
            print(f"work directory kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def report(rows: list[Row], total: float) -> None:
    print()
    print(
        f"{'N':>4} {'baseline s':>10} {'fleet cold s':>12} {'fleet warm s':>12} {'resume s':>8}"
        f" {'per-repo ms base/cold/warm':>27} {'ratio base/cold':>15} {'ratio base/warm':>15}"
    )
    for r in rows:
        per = "/".join(f"{t / r.size * 1000:.0f}" for t in (r.baseline, r.cold, r.warm))
        print(
            f"{r.size:>4} {r.baseline:>10.1f} {r.cold:>12.1f} {r.warm:>12.1f} {r.resume:>8.1f}"
            f" {per:>27} {r.baseline / r.cold:>15.2f} {r.baseline / r.warm:>15.2f}"
        )
    print()
    for r in rows:
        print(
            f"  N={r.size}: cloning the baseline's working copies (outside its loop) took"
            f" {r.clone:.1f}s; one repository inside a fleet worker (warm, median) took"
            f" {r.repo_median * 1000:.0f} ms"
        )
    first, last = rows[0], rows[-1]
    if last.size > first.size:
        scale = last.size / first.size
        print(
            f"  growth N={first.size} -> N={last.size} (x{scale:g} repositories): baseline"
            f" x{last.baseline / first.baseline:.2f}, fleet cold x{last.cold / first.cold:.2f},"
            f" fleet warm x{last.warm / first.warm:.2f}, resume x{last.resume / first.resume:.2f}"
        )
    if len(rows) > 1:
        print(
            f"  baseline for N < {last.size}: the first N iterations of the one loop over"
            f" {last.size} (a serial loop's time is the sum of its iterations)"
        )
    print("  every fleet run: all repositories updated; fleet and copier gave identical trees")
    print(f"  whole benchmark: {total:.0f}s; load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
