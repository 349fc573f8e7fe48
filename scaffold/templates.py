"""`scaffold template check`: prove a template set on a covering set of answer combinations.

The flow: resolve the template source -> validate its policy (a policy violation fails the whole
check before anything is rendered) -> build a pairwise covering set of combinations from the
template's own choices (language x each boundary on/off x exporter protocol) -> for each
combination: render it, apply the residue rule, then run the language's compile tier (`gofmt -l`,
`go build`, `go mod tidy` changes nothing, `go vet`, `go test`; `cargo fmt --check`,
`cargo clippy --all-targets -- -D warnings`, `cargo test`) with caches shared across renders.

Every combination is reported with its answers, result, time, and, when it failed, the step that
failed and the last lines of that step's output. Library code: nothing is printed; the CLI turns
a `CheckReport` into a matrix and `CheckReport.raise_for_failures()` into exit code 13.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scaffold import _git
from scaffold.errors import CheckFailedError, DestinationError, ScaffoldError, TemplateError
from scaffold.source import is_git_root, open_source

__all__ = [
    "CheckReport",
    "Combination",
    "CombinationResult",
    "Residue",
    "StepResult",
    "TemplateCheck",
    "cache_dir",
    "cargo_env",
    "covering_combinations",
    "find_residue",
    "go_env",
    "go_steps",
    "pairwise",
    "rust_steps",
]

# --------------------------------------------------------------------------------------------
# Shared caches and toolchain environments
# --------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """Where otel-scaffold keeps caches shared across renders: $SCAFFOLD_CACHE or ~/.cache."""
    configured = os.environ.get("SCAFFOLD_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "otel-scaffold"


def go_env() -> dict[str, str]:
    """Environment overrides for the Go steps.

    The local toolchain only (no surprise downloads), and builds that may not edit go.mod.
    GOCACHE and GOMODCACHE keep Go's per-user defaults, which every render already shares.
    """
    return {"GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly"}


def cargo_env() -> dict[str, str]:
    """Environment overrides for the Rust steps: one target directory for every render.

    $CARGO_TARGET_DIR wins; the default is `<cache_dir()>/cargo-target`, so dependencies compile
    once per machine. Crates sharing it must have distinct names (see `TemplateCheck`).
    """
    target = os.environ.get("CARGO_TARGET_DIR") or str(cache_dir() / "cargo-target")
    return {"CARGO_TARGET_DIR": target}


# --------------------------------------------------------------------------------------------
# The residue rule
# --------------------------------------------------------------------------------------------

# The template set writes Jinja tags with inner spaces (`{{ x }}`, `{% if %}`), so a tag of that
# shape in the output is residue, while `{{` alone (a Rust macro block) or `{}` is code. The same
# holds for copier's legacy bracket delimiters: `[% if x %]` is residue, `[%.3f` is code.
RESIDUE = re.compile(
    r"\{\{[ -]\S.*?[ -]\}\}|\{%[ -].*?[ -]%\}|\{#[ -]"
    r"|\[\[[ -]\S.*?[ -]\]\]|\[%[ -].*?[ -]%\]|\[#[ -].*?[ -]#\]"
)
# copier writes this file itself; it quotes answers, which may legitimately contain anything.
_ANSWERS_FILE = ".copier-answers.yml"


@dataclass(frozen=True)
class Residue:
    """One way a rendered file breaks the residue rule.

    Attributes:
        path: the file, relative to the rendered project.
        line: 1-based line number, or None when the problem is the whole file.
        problem: what is wrong, in words.
    """

    path: str
    line: int | None
    problem: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.problem}"


def find_residue(root: Path) -> list[Residue]:
    """Apply the residue rule to every rendered file under `root` (`.git` excluded).

    A rendered file must not be empty, must end with exactly one newline, must hold no
    unrendered Jinja tag, no trailing whitespace and no two blank lines in a row. Files that are
    not UTF-8 text are not judged.
    """
    problems: list[Residue] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts):
        rel = path.relative_to(root).as_posix()
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if not text.strip():
            problems.append(Residue(rel, None, "is empty"))
            continue
        if not text.endswith("\n") or text.endswith("\n\n"):
            problems.append(Residue(rel, None, "must end with exactly one newline"))
        blank_run = 0
        for number, line in enumerate(text.splitlines(), 1):
            if path.name != _ANSWERS_FILE and (match := RESIDUE.search(line)):
                problems.append(Residue(rel, number, f"template residue {match.group(0)!r}"))
            if line != line.rstrip():
                problems.append(Residue(rel, number, "trailing whitespace"))
            blank_run = blank_run + 1 if not line else 0
            if blank_run == 2:
                problems.append(Residue(rel, number, "two blank lines in a row"))
    return problems


# --------------------------------------------------------------------------------------------
# Toolchain steps
# --------------------------------------------------------------------------------------------

_OUTPUT_LINES = 40
_OUTPUT_CHARS = 4000


def _tail(text: str) -> str:
    lines = text.strip().splitlines()[-_OUTPUT_LINES:]
    return "\n".join(lines)[-_OUTPUT_CHARS:]


@dataclass(frozen=True)
class StepResult:
    """One step of a combination's check.

    Attributes:
        name: what ran, e.g. `go vet` or `residue`.
        passed: whether it passed.
        seconds: wall time of the step.
        output: the last lines of its output (why it failed, when it did).
    """

    name: str
    passed: bool
    seconds: float
    output: str = ""


def _command(
    name: str,
    cmd: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    judge: Callable[[str], str | None] | None = None,
) -> StepResult:
    """Run one command; it passes when it exits 0 and `judge(stdout)` finds nothing wrong.

    The command leads its own process group, so a timeout or an interrupt of the check stops
    everything it started (compilers, test binaries), not only the command itself.
    """
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **_git.own_group(),
        )
    except OSError as exc:
        return StepResult(name, False, time.monotonic() - start, f"could not run {cmd[0]}: {exc}")
    with _STEPS_LOCK:
        _STEPS.add(proc)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _git.stop(proc)
        return StepResult(name, False, time.monotonic() - start, f"timed out after {timeout:.0f}s")
    except BaseException:
        _git.stop(proc)
        raise
    finally:
        with _STEPS_LOCK:
            _STEPS.discard(proc)
    seconds = time.monotonic() - start
    output = f"{stdout}\n{stderr}".strip()
    if proc.returncode != 0:
        return StepResult(name, False, seconds, _tail(f"exit {proc.returncode}\n{output}"))
    problem = judge(stdout) if judge else None
    return StepResult(name, problem is None, seconds, _tail(problem or output))


# Steps running now (in the lanes' threads): an interrupted check stops them all.
_STEPS: set[subprocess.Popen[str]] = set()
_STEPS_LOCK = threading.Lock()


def _stop_steps() -> None:
    with _STEPS_LOCK:
        running = list(_STEPS)
    for proc in running:
        _git.stop(proc)


def _missing(tools: Iterable[str], language: str) -> StepResult | None:
    absent = [tool for tool in tools if shutil.which(tool) is None]
    if not absent:
        return None
    return StepResult(
        "toolchain",
        False,
        0.0,
        f"{', '.join(absent)} not installed: {language} combinations cannot be checked",
    )


def go_steps(project: Path, timeout: float = 900) -> list[StepResult]:
    """Run the Go compile tier on a rendered service; stop at the first failing step.

    gofmt clean, builds without `go mod tidy`, tidy leaves go.mod alone, vet and tests pass. A
    missing toolchain is a failed `toolchain` step, never a silent pass.
    """
    missing = _missing(("go", "gofmt"), "Go")
    if missing:
        return [missing]
    env = go_env()
    go_mod = project / "go.mod"

    def unformatted(stdout: str) -> str | None:
        return f"gofmt would change: {' '.join(stdout.split())}" if stdout.strip() else None

    before = go_mod.read_text(encoding="utf-8") if go_mod.is_file() else ""

    def tidy_changed(_: str) -> str | None:
        after = go_mod.read_text(encoding="utf-8") if go_mod.is_file() else ""
        return (
            "go mod tidy changed go.mod: the template's go.mod is not tidy"
            if after != before
            else None
        )

    steps: list[Callable[[], StepResult]] = [
        lambda: _command("gofmt -l", ["gofmt", "-l", "."], project, env, timeout, unformatted),
        lambda: _command("go build", ["go", "build", "./..."], project, env, timeout),
        lambda: _command(
            "go mod tidy",
            ["go", "mod", "tidy"],
            project,
            {**env, "GOFLAGS": ""},
            timeout,
            tidy_changed,
        ),
        lambda: _command("go vet", ["go", "vet", "./..."], project, env, timeout),
        lambda: _command("go test", ["go", "test", "-count=1", "./..."], project, env, timeout),
    ]
    return _until_failure(steps)


def rust_steps(project: Path, timeout: float = 2400) -> list[StepResult]:
    """Run the Rust compile tier on a rendered crate; stop at the first failing step.

    rustfmt clean, clippy clean with warnings denied on every target, tests pass, all in the
    shared target directory of `cargo_env()`. A missing toolchain is a failed `toolchain` step.
    """
    missing = _missing(("cargo", "rustfmt", "cargo-clippy"), "Rust")
    if missing:
        return [missing]
    env = cargo_env()
    clippy = ["cargo", "clippy", "--all-targets", "--", "-D", "warnings"]
    steps: list[Callable[[], StepResult]] = [
        lambda: _command("cargo fmt --check", ["cargo", "fmt", "--check"], project, env, timeout),
        lambda: _command("cargo clippy", clippy, project, env, timeout),
        lambda: _command("cargo test", ["cargo", "test"], project, env, timeout),
    ]
    return _until_failure(steps)


def _until_failure(steps: Sequence[Callable[[], StepResult]]) -> list[StepResult]:
    done: list[StepResult] = []
    for step in steps:
        done.append(step())
        if not done[-1].passed:
            break
    return done


_TOOLCHAIN_STEPS: dict[str, Callable[[Path], list[StepResult]]] = {
    "go": go_steps,
    "rust": rust_steps,
}

# --------------------------------------------------------------------------------------------
# Pairwise combinations
# --------------------------------------------------------------------------------------------

_MAX_CANDIDATES = 1 << 16


def pairwise(factors: Sequence[tuple[str, Sequence[Any]]]) -> list[dict[str, Any]]:
    """A small set of rows in which every pair of values of every two factors appears.

    Greedy and deterministic: each next row is the first (in `itertools.product` order of the
    given values) of the rows that cover the most pairs not yet covered.

    Raises:
        TemplateError: a factor has no values, or the factors allow too many rows to search.
    """
    names = [name for name, _ in factors]
    values = [list(vals) for _, vals in factors]
    empty = [name for name, vals in zip(names, values, strict=True) if not vals]
    if empty:
        raise TemplateError(
            f"no choices for {', '.join(empty)}", hint="give every question at least one choice"
        )
    size = 1
    for vals in values:
        size *= len(vals)
    if size > _MAX_CANDIDATES:
        raise TemplateError(
            f"{size} answer combinations are too many to search for a pairwise cover",
            hint="check fewer languages at a time (--lang)",
        )
    indices = [range(len(vals)) for vals in values]
    count = len(values)

    def pairs(row: tuple[int, ...]) -> frozenset[tuple[int, int, int, int]]:
        return frozenset((i, row[i], j, row[j]) for i in range(count) for j in range(i + 1, count))

    candidates = [(row, pairs(row)) for row in itertools.product(*indices)]
    uncovered = set().union(*(covered for _, covered in candidates))
    chosen: list[tuple[int, ...]] = []
    if count == 1:
        chosen = [row for row, _ in candidates]
    while uncovered:
        row, covered = max(candidates, key=lambda c: len(c[1] & uncovered))
        chosen.append(row)
        uncovered -= covered
    return [{names[i]: values[i][index] for i, index in enumerate(row)} for row in chosen]


@dataclass(frozen=True)
class Combination:
    """One set of answers the check renders.

    Attributes:
        name: a unique, readable label, e.g. `go-3`.
        language: the `language` answer.
        answers: every answer given to the render (the rest take their defaults).
    """

    name: str
    language: str
    answers: Mapping[str, Any]

    @property
    def label(self) -> str:
        """The combination in words: language, protocol and boundaries."""
        boundaries = self.answers.get("boundaries") or []
        parts = [self.language, str(self.answers.get("exporter_protocol") or "")]
        parts.append("+".join(boundaries) if boundaries else "no extra boundaries")
        return " ".join(part for part in parts if part)


def covering_combinations(
    config: Mapping[str, Any],
    languages: Sequence[str] | None = None,
    name_prefix: str = "check",
) -> list[Combination]:
    """The pairwise covering set of a template's answer combinations, in a stable order.

    Factors: `language` (limited to `languages` when given), each choice of the `boundaries`
    multiselect on or off, and `exporter_protocol`, all read from the template's copier.yml.
    Every combination gets its own service name (`<prefix>-<language>-<n>`): cargo keys a
    crate's build in a shared target directory by its name, so same-named crates would take each
    other's artifacts for fresh.

    Raises:
        TemplateError: copier.yml lacks a question the check varies, or `languages` names a
            language the template does not offer.
    """
    offered = _choices(config, "language")
    if languages:
        unknown = [lang for lang in languages if lang not in offered]
        if unknown:
            raise TemplateError(
                f"the template does not offer {', '.join(unknown)}",
                hint=f"choose from {', '.join(offered)}",
            )
        offered = [lang for lang in offered if lang in languages]
    boundaries = _choices(config, "boundaries")
    protocols = _choices(config, "exporter_protocol")
    factors: list[tuple[str, Sequence[Any]]] = [("language", offered)]
    factors += [(f"boundary:{boundary}", (False, True)) for boundary in boundaries]
    factors.append(("exporter_protocol", protocols))
    counts: dict[str, int] = {}
    combos: list[Combination] = []
    for row in pairwise(factors):
        language = str(row["language"])
        counts[language] = counts.get(language, 0) + 1
        name = f"{language}-{counts[language]}"
        answers = {
            "service_name": f"{name_prefix}-{name}",
            "language": language,
            "boundaries": [b for b in boundaries if row[f"boundary:{b}"]],
            "exporter_protocol": row["exporter_protocol"],
        }
        combos.append(Combination(name=name, language=language, answers=answers))
    return combos


def _choices(config: Mapping[str, Any], question: str) -> list[Any]:
    spec = config.get(question)
    choices = spec.get("choices") if isinstance(spec, Mapping) else None
    if isinstance(choices, Mapping):
        return list(choices.values())
    if isinstance(choices, list) and choices:
        return [c[1] if isinstance(c, list | tuple) and len(c) == 2 else c for c in choices]
    raise TemplateError(
        f"copier.yml has no fixed choices for {question!r}, so the check cannot vary it",
        hint="give the question a `choices` list",
    )


# --------------------------------------------------------------------------------------------
# The operation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CombinationResult:
    """How one combination fared.

    Attributes:
        combination: what was rendered.
        steps: every step that ran, in order; the last one failed when the combination did.
        seconds: wall time of the whole combination (render included).
    """

    combination: Combination
    steps: list[StepResult]
    seconds: float

    @property
    def passed(self) -> bool:
        """Whether every step passed."""
        return all(step.passed for step in self.steps)

    @property
    def failed_step(self) -> StepResult | None:
        """The step that failed, if any."""
        return next((step for step in self.steps if not step.passed), None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view: name, language, answers, result, time, failing step and output."""
        failed = self.failed_step
        return {
            "name": self.combination.name,
            "label": self.combination.label,
            "language": self.combination.language,
            "answers": dict(self.combination.answers),
            "passed": self.passed,
            "seconds": round(self.seconds, 2),
            "failed_step": failed.name if failed else None,
            "output": failed.output if failed else "",
            "steps": [
                {"name": s.name, "passed": s.passed, "seconds": round(s.seconds, 2)}
                for s in self.steps
            ],
        }


@dataclass(frozen=True)
class CheckReport:
    """The outcome of a template check: one result per combination, in combination order."""

    template: str
    ref: str | None
    results: list[CombinationResult]
    seconds: float

    @property
    def passed(self) -> bool:
        """Whether every combination passed (and there was at least one)."""
        return bool(self.results) and all(result.passed for result in self.results)

    @property
    def failed(self) -> list[str]:
        """Names of the combinations that failed."""
        return [r.combination.name for r in self.results if not r.passed]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view of the whole report."""
        return {
            "template": self.template,
            "ref": self.ref,
            "passed": self.passed,
            "seconds": round(self.seconds, 2),
            "combinations": [result.to_dict() for result in self.results],
        }

    def matrix(self) -> list[str]:
        """The report as aligned text lines: combination, pass or fail, time (and why)."""
        rows = [("combination", "answers", "result", "time")]
        for r in self.results:
            failed = r.failed_step
            verdict = "pass" if r.passed else f"FAIL ({failed.name})" if failed else "FAIL"
            rows.append((r.combination.name, r.combination.label, verdict, f"{r.seconds:.1f}s"))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        return [
            "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
            + "  "
            + row[3]
            for row in rows
        ]

    def raise_for_failures(self) -> None:
        """Raise `CheckFailedError` (exit 13) naming the failed combinations, if any."""
        if not self.passed:
            raise CheckFailedError(self.failed or ["(no combinations)"], len(self.results))


@dataclass
class TemplateCheck:
    """One `scaffold template check` operation: its options, and `run()` to carry it out.

    Attributes:
        src: template source (path or git URL); None for the bundled set.
        vcs_ref: version to check for a git source. None: HEAD for a local git repository (the
            work in progress, uncommitted changes included, as copier renders them), the latest
            version tag for a remote one.
        json_path: also write the report there as JSON.
        languages: check only these languages; None for every language the template offers.
        workdir: render into this new (or empty) directory and keep the renders, one
            subdirectory per combination, for debugging; None renders into a temporary
            directory that is removed afterwards.
        name_prefix: first part of every combination's service name; two checks that may run at
            the same time against the same cargo target directory need different prefixes.
        jobs: how many combinations run at once; more than one runs Go and Rust combinations
            side by side (each language stays one at a time: cargo serialises on its target
            directory anyway).
        on_result: called with each combination's result as soon as it is known (progress for
            the CLI); called from a worker thread when jobs > 1.
    """

    src: str | None = None
    vcs_ref: str | None = None
    json_path: Path | None = None
    languages: Sequence[str] | None = None
    workdir: Path | None = None
    name_prefix: str = "check"
    jobs: int = 1
    on_result: Callable[[CombinationResult], None] | None = None

    def run(self) -> CheckReport:
        """Render and check every combination; write the JSON report when asked.

        A failed combination is a result, not an exception: look at `CheckReport.passed`, or
        call `raise_for_failures()`.

        Raises:
            ScaffoldError: (a subclass) the source cannot be opened, its policy is invalid
                (`PolicyError`), its copier.yml cannot be varied, or `workdir` or `json_path`
                cannot be used; nothing is rendered then.
        """
        start = time.monotonic()
        if self.json_path is not None:
            _check_writable(self.json_path)
        ref = self.vcs_ref
        if ref is None and self.src is not None and _is_local_git(self.src):
            ref = "HEAD"
        with ExitStack() as stack:
            source = stack.enter_context(open_source(self.src, ref))
            source.policy()  # a policy violation fails the check before anything renders
            combos = covering_combinations(source.config(), self.languages, self.name_prefix)
            if self.workdir is not None:
                root = _empty_workdir(self.workdir)
            else:
                root = Path(
                    stack.enter_context(tempfile.TemporaryDirectory(prefix="scaffold-check-"))
                )
            template, rendered_ref = source.url, source.ref
            results = self._run_all(combos, root, template, rendered_ref)
        report = CheckReport(
            template=template,
            ref=rendered_ref,
            results=results,
            seconds=time.monotonic() - start,
        )
        if self.json_path is not None:
            _write_json(self.json_path, report)
        return report

    def _run_all(
        self, combos: list[Combination], root: Path, template: str, ref: str | None
    ) -> list[CombinationResult]:
        stop = threading.Event()

        def lane(language: str) -> dict[str, CombinationResult]:
            done: dict[str, CombinationResult] = {}
            for combo in combos:
                if stop.is_set():
                    break
                if combo.language == language:
                    result = _check_one(combo, root / combo.name, template, ref)
                    done[combo.name] = result
                    if self.on_result is not None:
                        self.on_result(result)
            return done

        languages = list(dict.fromkeys(combo.language for combo in combos))
        by_name: dict[str, CombinationResult] = {}
        if self.jobs <= 1:
            for language in languages:
                by_name.update(lane(language))
        else:
            with ThreadPoolExecutor(max_workers=min(self.jobs, len(languages))) as pool:
                try:
                    for done in pool.map(lane, languages):
                        by_name.update(done)
                except BaseException:
                    # Interrupted: no new combination, and the running steps end now.
                    stop.set()
                    _stop_steps()
                    raise
        return [by_name[combo.name] for combo in combos]


_RENDER_LOCK = threading.Lock()


def _check_one(combo: Combination, dest: Path, template: str, ref: str | None) -> CombinationResult:
    # Imported here: scaffold.render pulls in copier, which the residue rule and the pairwise
    # generator do not need.
    from scaffold.render import NewService

    start = time.monotonic()
    steps: list[StepResult] = []
    try:
        # copier changes the process's working directory while it renders: one render at a time.
        with _RENDER_LOCK:
            NewService(
                dest=dest,
                data=dict(combo.answers),
                template=template,
                vcs_ref=ref,
                use_defaults=True,
                git_init=False,
            ).run()
        steps.append(StepResult("render", True, time.monotonic() - start))
    except ScaffoldError as exc:
        steps.append(StepResult("render", False, time.monotonic() - start, str(exc)))
        return CombinationResult(combo, steps, time.monotonic() - start)
    residue_start = time.monotonic()
    problems = find_residue(dest)
    steps.append(
        StepResult(
            "residue",
            not problems,
            time.monotonic() - residue_start,
            _tail("\n".join(str(p) for p in problems)),
        )
    )
    if not problems:
        toolchain = _TOOLCHAIN_STEPS.get(combo.language)
        if toolchain is None:
            steps.append(
                StepResult("toolchain", False, 0.0, f"no compile tier for {combo.language!r}")
            )
        else:
            steps.extend(toolchain(dest))
    return CombinationResult(combo, steps, time.monotonic() - start)


def _empty_workdir(workdir: Path) -> Path:
    root = workdir.expanduser().absolute()
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise DestinationError(
            f"{root} already exists and is not empty", hint="keep the renders in a new directory"
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DestinationError(
            f"cannot create {root}: {exc.strerror}", hint="choose a writable directory"
        ) from None
    return root


def _is_local_git(src: str) -> bool:
    local = Path(src).expanduser()
    return local.is_dir() and is_git_root(local)


def _check_writable(path: Path) -> None:
    """Fail before the long run, not after it, when the JSON report cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TemplateError(
            f"cannot create {path.parent}: {exc.strerror}", hint="choose a writable --json path"
        ) from None
    if path.is_dir() or not os.access(path.parent, os.W_OK):
        raise TemplateError(f"cannot write {path}", hint="choose a writable --json path")


def _write_json(path: Path, report: CheckReport) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise TemplateError(
            f"cannot write the JSON report to {path}: {exc.strerror}",
            hint="choose a writable --json path",
        ) from None
