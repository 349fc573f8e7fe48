"""`scaffold fleet status` and `scaffold fleet upgrade`: one template release, many repositories.

A fleet is a list of service repositories, each a local path or a git URL. A repository may
hold several services (a monorepo): every directory with an answers file made by these templates
is one, and each gets its own row in the reports. Every repository is worked on in its own clone
in a cache directory (cloned once, fetched on later runs), never in the place it was given, so a
fleet run cannot disturb anyone's working tree:

    clone or fetch -> branch from the default branch -> per service: `scaffold update` ->
    verify -> commit -> push the branch (only with `push`)

The services of a repository that go to the same version share one branch, with one commit per
service; a service that fails leaves the others' commits in place.

Each service ends in exactly one outcome (`Outcome`). A service that fails (a conflict, a failing
verify command, an error) is put back as it was: its changes are dropped, a branch without any
commit is not left in the cache clone unless `keep_failed`, and nothing is ever pushed for it. A
service whose upgrade is already on the branch, from an earlier run, is not redone: re-running
the same command after a partial run resumes it.

Repositories are upgraded in separate worker processes, because copier changes the working
directory of the process it runs in. An interrupt (SIGINT, SIGTERM, SIGHUP) stops them: the
repositories in progress are put back as after a failure, and a second interrupt kills what is
left at once. Either way the cache stays usable and the next run resumes (see `_in_workers`).
"""

from __future__ import annotations

import functools
import hashlib
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from multiprocessing.queues import SimpleQueue
from pathlib import Path
from types import FrameType
from typing import Any, Literal

import yaml

from scaffold import _git, _yaml
from scaffold._defaults import DEFAULT_BRANCH
from scaffold._git import GitFailed
from scaffold._signals import Interrupted, deferred
from scaffold.errors import DestinationError, FleetFailedError, ScaffoldError, TemplateError
from scaffold.source import as_tagged, latest_version, open_source
from scaffold.update import (
    ANSWERS_FILE,
    UpdateService,
    _git_url,
    _releases,
    _same_version,
    _version,
    template_refs,
)

__all__ = [
    "DEFAULT_BRANCH",
    "FleetReport",
    "FleetUpgrade",
    "Outcome",
    "RepoOutcome",
    "RepoStatus",
    "check_branch_name",
    "fleet_cache_dir",
    "fleet_status",
    "parse_shard",
    "read_repos_file",
    "select_shard",
]

Outcome = Literal["updated", "current", "conflict", "verify-failed", "skipped", "error"]
OUTCOMES: tuple[Outcome, ...] = (
    "updated",
    "current",
    "conflict",
    "verify-failed",
    "skipped",
    "error",
)
FAILED: frozenset[Outcome] = frozenset({"conflict", "verify-failed", "error"})

TRAILER = "Scaffold-Version"
# The trailer naming the service a commit upgrades, for a service in a subdirectory.
SERVICE_TRAILER = "Scaffold-Service"

_URL = re.compile(r"^(\w+://|git@|[\w.-]+@[\w.-]+:)")
_IDENTITY = ("-c", "user.name=otel-scaffold", "-c", "user.email=otel-scaffold@localhost")
_LOG_TAIL = 20
# Seconds the workers get to put their repositories back after an interrupt.
_STOP_GRACE = 20.0
# Lock files a git process killed outright leaves behind in a clone (none is left on SIGTERM).
_GIT_LOCKS = ("index.lock", "HEAD.lock", "ORIG_HEAD.lock", "config.lock", "packed-refs.lock")


def fleet_cache_dir() -> Path:
    """Where fleet clones live: `$SCAFFOLD_FLEET_CACHE`, else the user cache directory."""
    explicit = os.environ.get("SCAFFOLD_FLEET_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "otel-scaffold" / "fleet"


def read_repos_file(path: Path) -> list[str]:
    """Repositories listed in a file: one path or URL per line; blank lines and `#` comments skipped.

    Raises:
        DestinationError: the file cannot be read.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        if isinstance(exc, UnicodeDecodeError):
            why = f"it is not UTF-8 text (byte {exc.start})"
        else:
            why = exc.strerror or str(exc)
        raise DestinationError(
            f"cannot read the repository list {path}: {why}",
            hint="pass --repos-file with a text file of one path or git URL per line",
        ) from None
    entries = (re.sub(r"\s+#.*$", "", line).strip() for line in text.splitlines())
    return [entry for entry in entries if entry and not entry.startswith("#")]


def parse_shard(text: str) -> tuple[int, int]:
    """Parse `I/N` (1 <= I <= N): this machine's share of a fleet split N ways.

    Raises:
        ValueError: the text is not of that form.
    """
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise ValueError(f"{text!r} is not a shard I/N with 1 <= I <= N (e.g. 2/4)")
    return int(match[1]), int(match[2])


def select_shard(repos: Sequence[str], index: int, total: int) -> list[str]:
    """The repositories of shard `index` of `total`, in their given order.

    Every repository lands in exactly one shard, whatever order the list is given in, and shard
    sizes differ by at most one: repositories are ranked by a hash of their normalised location
    and dealt out in turn.
    """
    unique = _unique(repos)
    ranked = sorted(unique, key=lambda repo: (_digest(_location(repo)), repo))
    chosen = set(ranked[index - 1 :: total])
    return [repo for repo in unique if repo in chosen]


@dataclass(frozen=True)
class RepoStatus:
    """Where one repository of a fleet stands.

    Attributes:
        repo: the repository as given (path or URL).
        path: the service's directory in the repository (`.` for its root).
        service: the service name from its answers file.
        language: `go` or `rust`.
        template: the template source it was made from (`_src_path`).
        current: the template version it is on (`_commit`).
        latest: the latest release of its template source.
        behind: how many releases it is behind (0 when current).
        problems: what stands in the way of an upgrade, one line each.
    """

    repo: str
    path: str = "."
    service: str | None = None
    language: str | None = None
    template: str | None = None
    current: str | None = None
    latest: str | None = None
    behind: int | None = None
    problems: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The repository, and the service's directory when it is not the root (`repo//path`)."""
        return _label(self.repo, self.path)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        data = asdict(self)
        data["problems"] = list(self.problems)
        return data


@dataclass(frozen=True)
class RepoOutcome:
    """How the upgrade of one repository ended.

    Attributes:
        repo: the repository as given.
        outcome: one of `OUTCOMES`; `conflict`, `verify-failed` and `error` are failures.
        path: the service's directory in the repository (`.` for its root).
        reason: one line saying why, for every outcome but `updated` and `current`.
        service: the service name, when known.
        language: `go` or `rust`, when known.
        from_version: the version its default branch is on.
        to_version: the version it was upgraded (or would be upgraded) to.
        branch: the upgrade branch, when one was made.
        commit: the commit on that branch.
        pushed: the branch is on the remote.
        resumed: the branch was made by an earlier run and reused, not redone.
        dry_run: nothing was changed; `diffstat` says what would change.
        diffstat: `git diff --stat` summary of the upgrade.
        conflicts: files with conflicts.
        verify: the verify command that ran, if one did.
        verify_log: where its full output is (in the cache).
        log_tail: its last lines, when it failed.
        workdir: the cache clone the repository was worked on in.
        seconds: wall time spent on this repository.
    """

    repo: str
    outcome: Outcome
    reason: str = ""
    path: str = "."
    service: str | None = None
    language: str | None = None
    from_version: str | None = None
    to_version: str | None = None
    branch: str | None = None
    commit: str | None = None
    pushed: bool = False
    resumed: bool = False
    dry_run: bool = False
    diffstat: str = ""
    conflicts: tuple[str, ...] = ()
    verify: str | None = None
    verify_log: str | None = None
    log_tail: tuple[str, ...] = ()
    workdir: str | None = None
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        """Whether this outcome counts as a failure of the fleet run."""
        return self.outcome in FAILED

    @property
    def label(self) -> str:
        """The repository, and the service's directory when it is not the root (`repo//path`)."""
        return _label(self.repo, self.path)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        data = asdict(self)
        data["conflicts"] = list(self.conflicts)
        data["log_tail"] = list(self.log_tail)
        data["seconds"] = round(self.seconds, 2)
        return data

    def detail(self) -> str:
        """One line for the table: the version change and what happened."""
        change = f"{self.from_version or '?'} -> {self.to_version or '?'}"
        if self.outcome == "updated":
            verb = "would update" if self.dry_run else "updated"
            parts = [f"{verb} {change}"]
            if self.resumed:
                parts.append("done by an earlier run")
            if self.diffstat:
                parts.append(self.diffstat)
            if self.branch and not self.dry_run:
                parts.append(f"branch {self.branch}" + (" pushed" if self.pushed else ""))
            return "; ".join(parts)
        if self.outcome == "current":
            return f"already on {self.to_version or self.from_version}"
        if self.outcome == "conflict":
            return f"{change}: conflicts in {', '.join(self.conflicts)}"
        return self.reason


@dataclass(frozen=True)
class FleetReport:
    """The outcome of every service of one `fleet upgrade` run, repositories in the order given."""

    outcomes: tuple[RepoOutcome, ...]
    to: str | None
    dry_run: bool
    seconds: float

    @property
    def failed(self) -> list[RepoOutcome]:
        """The services that failed."""
        return [outcome for outcome in self.outcomes if outcome.failed]

    def counts(self) -> dict[str, int]:
        """How many services ended in each outcome (every outcome listed, zeros included)."""
        counted = Counter(outcome.outcome for outcome in self.outcomes)
        return {name: counted.get(name, 0) for name in OUTCOMES}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: the run, the counts, and every repository."""
        return {
            "to": self.to,
            "dry_run": self.dry_run,
            "seconds": round(self.seconds, 2),
            "counts": self.counts(),
            "repos": [outcome.to_dict() for outcome in self.outcomes],
        }

    def table(self) -> list[str]:
        """The report as aligned text lines, one per service, then the counts."""
        rows = [(o.label, o.outcome, o.detail()) for o in self.outcomes]
        lines = _columns([("REPOSITORY", "OUTCOME", "DETAIL"), *rows])
        counts = ", ".join(f"{n} {name}" for name, n in self.counts().items() if n)
        repos = len({o.repo for o in self.outcomes})
        services = "" if repos == len(self.outcomes) else f", {len(self.outcomes)} services"
        lines.append(
            f"{repos} {'repository' if repos == 1 else 'repositories'}{services}"
            f" in {self.seconds:.1f}s: {counts or 'none'}"
        )
        return lines

    def raise_for_failures(self) -> None:
        """Raise `FleetFailedError` when any repository failed."""
        failed = self.failed
        if failed:
            raise FleetFailedError([o.label for o in failed], len(self.outcomes))


def status_table(statuses: Sequence[RepoStatus]) -> list[str]:
    """Fleet status as aligned text lines, one per service."""
    rows = [
        (
            s.label,
            s.language or "-",
            s.current or "-",
            s.latest or "-",
            "-" if s.behind is None else str(s.behind),
            "; ".join(s.problems) or ("ok" if not s.behind else "behind"),
        )
        for s in statuses
    ]
    return _columns([("REPOSITORY", "LANG", "CURRENT", "LATEST", "BEHIND", "STATUS"), *rows])


def fleet_status(
    repos: Sequence[str],
    *,
    cache_dir: Path | None = None,
    jobs: int | None = None,
    on_status: Callable[[RepoStatus], None] | None = None,
) -> list[RepoStatus]:
    """Where each service stands: version, latest version, how far behind, problems.

    One row per service: a repository holding several (a monorepo) has one for each directory
    with an answers file made by these templates, in path order. Repositories are fetched into
    the cache (cloned the first time) in parallel threads; one that cannot be reached is
    reported with the problem, never raised.
    """
    cache = _prepare_cache(cache_dir)
    _forget_templates()
    unique = _unique(repos)
    results: dict[str, list[RepoStatus]] = {}
    pool = ThreadPoolExecutor(max_workers=_jobs(jobs, len(unique)))
    futures = {pool.submit(_status_one, repo, cache): repo for repo in unique}
    try:
        for future in as_completed(futures):
            statuses = future.result()
            results[futures[future]] = statuses
            if on_status is not None:
                for status in statuses:
                    on_status(status)
    except BaseException:
        # Interrupted: the threads wait on git. Stop it, and keep them from starting more,
        # until they have ended.
        with _git.stopped():
            pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    return [status for repo in unique for status in results[repo]]


@dataclass
class FleetUpgrade:
    """One `scaffold fleet upgrade` run: its options, and `run()` to carry it out.

    Attributes:
        repos: repositories (local paths or git URLs); duplicates are dropped.
        to: the template version to upgrade to; None for each template source's latest release.
        jobs: repositories worked on at once; default the number of CPUs.
        branch: name of the upgrade branch; `{version}` is replaced by the target version.
        verify: run the policy's verify command for the service's language before committing.
        push: push the upgrade branch to the repository (never for a failed one).
        dry_run: report the diffstat each upgrade would make; change nothing anywhere.
        keep_failed: leave a failed repository's branch and working tree in its cache clone.
        cache_dir: where the clones live; default `fleet_cache_dir()`.
        verify_timeout: seconds a verify command may take before it counts as failed.
        on_result: called in the calling thread with each outcome as soon as it is known.
    """

    repos: Sequence[str]
    to: str | None = None
    jobs: int | None = None
    branch: str = DEFAULT_BRANCH
    verify: bool = True
    push: bool = False
    dry_run: bool = False
    keep_failed: bool = False
    cache_dir: Path | None = None
    verify_timeout: float = 1800.0
    on_result: Callable[[RepoOutcome], None] | None = field(default=None, repr=False)

    def run(self) -> FleetReport:
        """Upgrade every repository; a failure in one never stops or touches the others.

        Raises:
            ScaffoldError: only for options that make the whole run impossible (a branch name
                that git refuses); per-repository problems are outcomes in the report.
        """
        started = time.monotonic()
        check_branch_name(self.branch, self.to)
        cache = _prepare_cache(self.cache_dir)
        _forget_templates()
        unique = _unique(self.repos)
        jobs = [
            _Job(
                repo=repo,
                cache=str(cache),
                to=self.to,
                branch=self.branch,
                verify=self.verify,
                push=self.push,
                dry_run=self.dry_run,
                keep_failed=self.keep_failed,
                verify_timeout=self.verify_timeout,
            )
            for repo in unique
        ]
        results: dict[str, tuple[RepoOutcome, ...]] = {}

        def record(outcomes: tuple[RepoOutcome, ...]) -> None:
            results[outcomes[0].repo] = outcomes
            if self.on_result is not None:
                for outcome in outcomes:
                    self.on_result(outcome)

        workers = _jobs(self.jobs, len(jobs))
        if workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                record(_upgrade_one(job))
        else:
            _in_workers(jobs, workers, record)
        return FleetReport(
            outcomes=tuple(outcome for repo in unique for outcome in results[repo]),
            to=self.to,
            dry_run=self.dry_run,
            seconds=time.monotonic() - started,
        )


def _in_workers(
    jobs: Sequence[_Job], workers: int, record: Callable[[tuple[RepoOutcome, ...]], None]
) -> None:
    """Upgrade the repositories in `workers` processes, recording each outcome as it comes.

    Each worker leads a session of its own, without the terminal (Ctrl-C reaches only this
    process), and turns SIGTERM into `Interrupted`. On an interrupt here, the repositories not
    started are dropped and every worker gets SIGTERM: it stops its git and verify commands,
    puts its repository back as after a failure, and is done. A second interrupt, or workers
    still busy after `_STOP_GRACE` seconds, kills every process of every worker's session. The
    cache stays usable either way: a clone is locked while a worker has it, git removes its
    lock files on SIGTERM, and the next run clears those a killed git left (`_sync`).
    """
    context = multiprocessing.get_context("spawn")
    started: SimpleQueue[int] = context.SimpleQueue()
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_start_worker, initargs=(started,)
    )
    futures = {pool.submit(_upgrade_one, job): job for job in jobs}
    try:
        for future in as_completed(futures):
            job = futures[future]
            try:
                record(future.result())
            except BrokenProcessPool:
                record((RepoOutcome(job.repo, "error", "the worker process died"),))
    except BaseException:
        _stop_workers(pool, list(futures), started)
        raise
    pool.shutdown()


def _start_worker(started: SimpleQueue[int]) -> None:
    """Set a worker process up: its own session, SIGTERM as `Interrupted`, Ctrl-C ignored."""
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _worker_interrupted)
    started.put(os.getpid())


# Whether this process is upgrading a repository now (a worker between two is idle).
_working = False


def _worker_interrupted(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the clean-up must run to its end
    # An idle worker has nothing to put back; it ends when the pool shuts down (ending it
    # now would make the pool kill the others in the middle of their clean-up).
    if _working:
        raise Interrupted(signum)


def _stop_workers(
    pool: ProcessPoolExecutor,
    futures: Sequence[Future[tuple[RepoOutcome, ...]]],
    started: SimpleQueue[int],
) -> None:
    """Stop every worker: SIGTERM and a grace period, then kill whatever is left."""
    for future in futures:
        future.cancel()
    pids: set[int] = set()
    while not started.empty():
        pids.add(started.get())
    for pid in pids:
        _send(pid, signal.SIGTERM)
    try:
        forced = bool(wait([f for f in futures if not f.done()], timeout=_STOP_GRACE).not_done)
    except KeyboardInterrupt:
        forced = True  # a second interrupt: no more waiting
    with deferred():
        if forced:
            while not started.empty():
                pids.add(started.get())
            for pid in pids:
                _kill_session(pid)
        pool.shutdown(wait=True, cancel_futures=True)


def _send(pid: int, sig: signal.Signals) -> None:
    with suppress(OSError):  # gone already
        os.kill(pid, sig)


def _kill_session(sid: int) -> None:
    """Kill every process of a worker's session: the worker, its git and verify commands."""
    members = {sid}
    proc = Path("/proc")
    if proc.is_dir():
        for entry in proc.iterdir():
            if entry.name.isdigit():
                try:
                    if os.getsid(int(entry.name)) == sid:
                        members.add(int(entry.name))
                except OSError:
                    continue
    else:
        _send(-sid, signal.SIGKILL)  # no /proc: the worker's own process group
    for pid in members:
        _send(pid, signal.SIGKILL)


# --- one repository ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    """What a worker process needs to upgrade one repository (picklable)."""

    repo: str
    cache: str
    to: str | None
    branch: str
    verify: bool
    push: bool
    dry_run: bool
    keep_failed: bool
    verify_timeout: float


class _Stop(Exception):
    """Ends one repository's upgrade early with a known outcome."""

    def __init__(self, outcome: Outcome, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


@dataclass(frozen=True)
class _Clone:
    """A repository's clone in the cache, fetched, with its default branch known."""

    repo: str
    url: str
    path: Path
    default: str

    def git(self, *args: str, check: bool = True, network: bool = False) -> str:
        return _git_in(self.path, *args, check=check, network=network)

    def answers_at(self, ref: str, path: str = ".") -> dict[str, Any] | None:
        """The answers file of the service at `path` on a ref, or None when there is none."""
        name = ANSWERS_FILE if path == "." else f"{path}/{ANSWERS_FILE}"
        text = _git_in(self.path, "show", f"{ref}:{name}", check=False)
        if not text:
            return None
        try:
            data = _yaml.safe_load(text)
        except yaml.YAMLError:
            return None
        return data if isinstance(data, dict) else None

    def services(self, ref: str) -> list[tuple[str, dict[str, Any]]]:
        """Every service on a ref: (directory, answers), the root first, then in path order.

        A service is a directory holding an answers file made by these templates (one that
        names its template source and a language they render); a repository may hold many.
        """
        listing = _git_in(self.path, "ls-tree", "-r", "-z", "--name-only", ref, check=False)
        found = []
        for name in sorted(listing.split("\0")):
            directory, _, base = name.rpartition("/")
            if base != ANSWERS_FILE:
                continue
            path = directory or "."
            answers = self.answers_at(ref, path)
            if answers is not None and _made_by_these(answers):
                found.append((path, answers))
        return found

    def has_ref(self, ref: str) -> bool:
        return _git.ok(self.path, "rev-parse", "--verify", "--quiet", ref)

    def descends(self, ref: str, base: str) -> bool:
        """Whether `ref` holds every commit of `base`."""
        return _git.ok(self.path, "merge-base", "--is-ancestor", base, ref)

    def pristine(self) -> None:
        """Drop every change and stand detached on the remote's default branch."""
        with deferred():
            self.git("reset", "-q", "--hard", check=False)
            self.git("clean", "-ffdxq", check=False)
            self.git("checkout", "-q", "-f", "--detach", f"origin/{self.default}")


@dataclass(frozen=True)
class _Service:
    """One service of a repository being upgraded: where it is, what it records, its outcome."""

    path: str
    answers: dict[str, Any]
    result: RepoOutcome

    @property
    def src(self) -> str:
        return _str(self.answers.get("_src_path")) or ""


def _upgrade_one(job: _Job) -> tuple[RepoOutcome, ...]:
    """Upgrade the services of one repository; every problem becomes an outcome, none is raised.

    Only an interrupt (`Interrupted`) passes through, once the repository is put back.
    """
    global _working
    started = time.monotonic()
    base = RepoOutcome(repo=job.repo, outcome="error", dry_run=job.dry_run)
    _working = True
    try:
        outcomes = _upgrade(job, base)
    except _Stop as stop:
        outcomes = (replace(base, outcome=stop.outcome, reason=stop.reason),)
    except ScaffoldError as exc:
        outcomes = (replace(base, outcome="error", reason=str(exc)),)
    except Exception as exc:  # a bug or an OS failure in one repository must not stop the fleet
        outcomes = (replace(base, outcome="error", reason=f"{type(exc).__name__}: {exc}"),)
    finally:
        _working = False
    if len(outcomes) == 1:
        return (replace(outcomes[0], seconds=time.monotonic() - started),)
    return outcomes


def _upgrade(job: _Job, base: RepoOutcome) -> tuple[RepoOutcome, ...]:
    _refuse_dirty_local(job.repo)
    with _locked(Path(job.cache), job.repo) as workdir:
        clone = _sync(job.repo, workdir)
        base = replace(base, workdir=str(clone.path))
        found = clone.services(f"origin/{clone.default}")
        if not found:
            clone.pristine()
            reason = f"no {ANSWERS_FILE} on {clone.default}: not a generated service"
            return (replace(base, outcome="skipped", reason=reason),)
        outcomes: dict[str, RepoOutcome] = {}
        by_target: dict[str, list[_Service]] = {}
        for path, answers in found:
            result = replace(
                base,
                path=path,
                service=_str(answers.get("service_name")),
                language=_str(answers.get("language")),
                from_version=_str(answers.get("_commit")),
            )
            src = _str(answers.get("_src_path")) or ""
            try:
                target = as_tagged(job.to, _template_tags(src)) if job.to else _latest(src)
            except _Stop as stop:
                outcomes[path] = replace(result, outcome=stop.outcome, reason=stop.reason)
                continue
            service = _Service(path, answers, replace(result, to_version=target))
            by_target.setdefault(target, []).append(service)
        for target, services in by_target.items():
            for outcome in _upgrade_target(job, clone, target, services):
                outcomes[outcome.path] = outcome
        return tuple(outcomes[path] for path, _ in found)


def _upgrade_target(
    job: _Job, clone: _Clone, target: str, services: Sequence[_Service]
) -> list[RepoOutcome]:
    """Upgrade the services of one repository that go to `target`, on one branch.

    Each service gets a commit of its own; one that fails has its changes dropped and the
    others go on. The branch is pushed once, with every commit, and dropped when it holds none.
    """
    outcomes: dict[str, RepoOutcome] = {}
    todo = []
    for service in services:
        if service.result.from_version and _same_version(service.result.from_version, target):
            outcomes[service.path] = replace(service.result, outcome="current")
        else:
            todo.append(service)
    if not todo:
        clone.pristine()
        return [outcomes[s.path] for s in services]
    branch = job.branch.format(version=target)
    earlier = _earlier_run(job, clone, branch, target)
    clone.pristine()
    if earlier is not None:
        clone.git("checkout", "-q", "-B", branch, earlier[0])
        replaces, pushed = None, earlier[1]
    else:
        if not job.dry_run:
            clone.git("checkout", "-q", "-B", branch, f"origin/{clone.default}")
        replaces, pushed = _replaced(clone, branch, job, target), False
    new_commits = False
    try:
        for service in todo:
            started = time.monotonic()
            done = _resumed(job, clone, branch, target, service, pushed) if earlier else None
            if done is None:
                done = _apply(job, clone, target, branch, service)
                new_commits = new_commits or bool(done.commit)
            outcomes[service.path] = replace(done, seconds=time.monotonic() - started)
            if job.keep_failed and done.failed:
                break  # its changes stay in the clone for a look; the rest waits for a rerun
    except BaseException:
        _finish_failed(job, clone, branch)
        raise
    for service in todo:
        outcomes.setdefault(
            service.path,
            replace(
                service.result,
                outcome="skipped",
                reason="not tried: --keep-failed keeps the failed service's changes in the clone",
            ),
        )
    on_branch = [o for o in outcomes.values() if o.commit and o.outcome == "updated"]
    if not job.dry_run and not on_branch and earlier is None:
        _finish_failed(job, clone, branch)
    elif job.push and on_branch and (new_commits or not pushed):
        pushed_or_not = _push(clone, branch, on_branch[0], replaces)
        for outcome in on_branch:
            if pushed_or_not.outcome == "error":
                outcomes[outcome.path] = replace(
                    outcome, outcome="error", reason=pushed_or_not.reason
                )
            else:
                outcomes[outcome.path] = replace(outcome, pushed=True)
    return [outcomes[s.path] for s in services]


def _replaced(clone: _Clone, branch: str, job: _Job, target: str) -> str | None:
    """The remote upgrade branch this run rebuilds and must overwrite when it pushes, if any.

    That is an earlier run's branch that no longer descends from the default branch (which was
    rewritten since, to purge a secret for one): pushing the rebuilt branch replaces it, and
    only if it is still what this run saw (`--force-with-lease`). One with commits people added
    on top is not replaced: the repository is an error that says what to do.
    """
    remote = f"origin/{branch}"
    if job.dry_run or not job.push or not clone.has_ref(remote):
        return None
    commits = _fleet_commits(clone, remote, target)
    ours = commits[0][0] if commits else ""
    if ours and clone.git("rev-list", f"{ours}..{remote}").strip():
        raise _Stop(
            "error",
            f"branch {branch} on the remote was made on a history {clone.default} no longer "
            f"has (was {clone.default} rewritten?) and holds commits of its own; carry them "
            "over, then delete the branch (or pass another --branch)",
        )
    return clone.git("rev-parse", remote).strip()


def _apply(job: _Job, clone: _Clone, target: str, branch: str, service: _Service) -> RepoOutcome:
    """Update, verify and commit one service, on the upgrade branch (detached for a dry run).

    A failure drops the service's changes (unless `keep_failed`), so the next service starts
    from the branch as committed.
    """
    result = service.result
    try:
        update = UpdateService(path=clone.path / service.path, to=target).run()
    except ScaffoldError as exc:
        _drop(clone, service.path)
        return replace(result, outcome="error", reason=str(exc))
    result = replace(result, to_version=update.to_version, branch=None if job.dry_run else branch)
    clone.git("add", "-A", "--", service.path)
    diffstat = str.strip(clone.git("diff", "--cached", "--shortstat", "--", service.path))
    result = replace(result, diffstat=diffstat, conflicts=update.conflicts)
    if update.conflicts:
        if not job.keep_failed:
            _drop(clone, service.path)
        return replace(
            result,
            outcome="conflict",
            reason=f"conflicts in {len(update.conflicts)} file(s)",
            branch=branch if job.keep_failed else None,
        )
    if job.dry_run:
        _drop(clone, service.path)
        return replace(result, outcome="updated" if update.changed else "current")

    verified = "skipped"
    if job.verify:
        result = _run_verify(job, clone, service, target, result)
        if result.outcome == "verify-failed":
            if not job.keep_failed:
                _drop(clone, service.path)
            return replace(result, branch=branch if job.keep_failed else None)
        verified = "passed" if result.verify else "none"
        clone.git("add", "-A", "--", service.path)
    commit = _commit(clone, service, update.from_version, target, update.notes, verified)
    return replace(result, outcome="updated", commit=commit, reason="")


def _drop(clone: _Clone, path: str) -> None:
    """Put one service's directory back as the branch has it: index, files, untracked files."""
    with deferred():
        clone.git("reset", "-q", "--", path, check=False)
        clone.git("checkout", "-q", "--", path, check=False)
        clone.git("clean", "-ffdxq", "--", path, check=False)


def _earlier_run(job: _Job, clone: _Clone, branch: str, target: str) -> tuple[str, bool] | None:
    """The branch an earlier run made for this target, to go on from: (commit, pushed).

    Such a branch, on the remote or in the cache, is reused, not redone, if it holds the
    remote's default branch as it is now; one made on a history the default branch no longer
    has (rewritten since, to purge a secret for one) is rebuilt, so nothing of the old history
    is pushed back. A branch of that name on the remote that an earlier run did not make is
    never overwritten.

    Raises:
        _Stop: the remote has a branch of that name with no upgrade of ours to `target`.
    """
    if job.dry_run:
        return None
    remote, local = f"origin/{branch}", f"refs/heads/{branch}"
    if clone.has_ref(remote) and not _fleet_commits(clone, remote, target):
        raise _Stop(
            "error",
            f"branch {branch} already exists on the remote and does not hold the upgrade to "
            f"{target}; delete it or pass another --branch",
        )
    for ref, pushed in ((remote, True), (local, False)):
        if not clone.has_ref(ref) or not _fleet_commits(clone, ref, target):
            continue
        if not clone.descends(ref, f"origin/{clone.default}"):
            continue
        return clone.git("rev-parse", ref).strip(), pushed
    return None


def _resumed(
    job: _Job, clone: _Clone, branch: str, target: str, service: _Service, pushed: bool
) -> RepoOutcome | None:
    """The outcome of a service an earlier run already upgraded on the branch, else None.

    When this run verifies and the earlier one did not (`--no-verify`), it is verified now.
    """
    answers = clone.answers_at("HEAD", service.path)
    commits = [sha for sha, path in _fleet_commits(clone, "HEAD", target) if path == service.path]
    if not commits or answers is None or answers.get("_commit") != target:
        return None
    commit = commits[0]
    done = replace(
        service.result,
        outcome="updated",
        branch=branch,
        commit=commit,
        resumed=True,
        pushed=pushed,
        diffstat=clone.git(
            "diff", "--shortstat", f"origin/{clone.default}", "HEAD", "--", service.path
        ).strip(),
    )
    unverified = "Scaffold-Verify: skipped" in clone.git("log", "-1", "--format=%B", commit)
    if job.verify and unverified:
        done = _run_verify(job, clone, service, target, done)
    return done


def _fleet_commits(clone: _Clone, ref: str, target: str) -> list[tuple[str, str]]:
    """Our upgrade commits to `target` on `ref` that the default branch lacks, newest first.

    Each as (commit, the directory of the service it upgrades: its trailer, `.` without one).
    """
    found = clone.git(
        "log",
        "--format=%H%x00%B%x01",
        f"--grep=^{TRAILER}: {re.escape(target)}$",
        f"origin/{clone.default}..{ref}",
    )
    commits = []
    for entry in found.split("\x01"):
        sha, _, body = entry.strip().partition("\0")
        if not sha:
            continue
        service = re.search(rf"^{SERVICE_TRAILER}: (.+)$", body, re.M)
        commits.append((sha, service[1].strip() if service else "."))
    return commits


def _run_verify(
    job: _Job, clone: _Clone, service: _Service, target: str, result: RepoOutcome
) -> RepoOutcome:
    command = _verify_command(service.src, target, result.language or "")
    if not command:
        return result
    suffix = "" if service.path == "." else "." + re.sub(r"[^A-Za-z0-9._-]+", "-", service.path)
    log = clone.path.with_name(f"{clone.path.name}{suffix}.verify.log")
    result = replace(result, verify=command, verify_log=str(log))
    with log.open("w", encoding="utf-8") as out:
        out.write(f"$ {command}\n")
        out.flush()
        code = _verify_in(clone.path / service.path, command, out, job.verify_timeout)
    if code == 0:
        return result
    tail = tuple(log.read_text(encoding="utf-8", errors="replace").splitlines()[-_LOG_TAIL:])
    why = f"timed out after {job.verify_timeout:.0f}s" if code is None else f"exit {code}"
    return replace(
        result,
        outcome="verify-failed",
        reason=f"`{command}` failed ({why}); see {log}",
        log_tail=tail,
    )


def _verify_in(path: Path, command: str, out: Any, timeout: float) -> int | None:
    """Run a verify command in `path`; its exit status, or None when it timed out.

    The command leads its own process group, so a timeout or an interrupt stops the whole
    build it started (compilers, test binaries), not only `bash`.
    """
    try:
        proc = subprocess.Popen(
            ["bash", "-c", command],
            cwd=path,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            **_git.own_group(),
        )
    except OSError as exc:
        out.write(f"cannot run bash: {exc}\n")
        return 127
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        _git.stop(proc)
        return None
    except BaseException:
        _git.stop(proc)
        raise


@functools.lru_cache(maxsize=32)
def _verify_command(src: str, target: str, language: str) -> str:
    """The policy's verify command for a language, at the target version of the template."""
    with open_source(_git_url(src), target) as source:
        verify = source.policy().raw.get("verify") or {}
    command = verify.get(language) if isinstance(verify, dict) else None
    return str(command) if command else ""


def _commit(
    clone: _Clone, service: _Service, old: str, new: str, notes: Sequence[str], verified: str
) -> str:
    where = "" if service.path == "." else f" of {service.path}"
    lines = [f"Update instrumentation template{where} from {old} to {new}", ""]
    if notes:
        lines += ["Template changes:", *[f"- {note}" for note in notes], ""]
    lines += [
        "Made by `scaffold fleet upgrade`.",
        "",
        f"Scaffold-Template: {service.src}",
        f"{TRAILER}: {new}",
        f"Scaffold-Verify: {verified}",
    ]
    if service.path != ".":
        lines.append(f"{SERVICE_TRAILER}: {service.path}")
    identity = () if _has_identity(clone.path) else _IDENTITY
    clone.git(*identity, "commit", "-q", "--no-verify", "-m", "\n".join(lines))
    return clone.git("rev-parse", "HEAD").strip()


def _push(
    clone: _Clone, branch: str, result: RepoOutcome, replaces: str | None = None
) -> RepoOutcome:
    """Push the upgrade branch; `replaces` is the remote branch's commit it may overwrite."""
    ref = f"refs/heads/{branch}"
    lease = (f"--force-with-lease={ref}:{replaces}",) if replaces else ()
    try:
        clone.git("push", "-q", *lease, "origin", f"{ref}:{ref}", network=True)
    except GitFailed as exc:
        return replace(result, outcome="error", reason=f"push of {branch} failed: {exc.reason}")
    return replace(result, pushed=True)


def _finish_failed(job: _Job, clone: _Clone, branch: str) -> None:
    if not job.keep_failed:
        # A dry run made no branch: one of that name is an earlier run's, and stays.
        _discard(clone, None if job.dry_run else branch)


def _discard(clone: _Clone, branch: str | None) -> None:
    """Put the clone back as the fetch left it: no changes, no upgrade branch."""
    with deferred():
        try:
            clone.pristine()
            if branch and clone.has_ref(f"refs/heads/{branch}"):
                clone.git("branch", "-q", "-D", branch)
        except GitFailed:
            shutil.rmtree(clone.path, ignore_errors=True)  # cloned afresh next time


# --- status ------------------------------------------------------------------------------------


def _status_one(repo: str, cache: Path) -> list[RepoStatus]:
    """The status of every service of one repository (one row when it cannot be read)."""
    status = RepoStatus(repo=repo)
    problems: list[str] = []
    try:
        _refuse_dirty_local(repo)
    except _Stop as stop:
        if stop.outcome == "error":
            return [replace(status, problems=(stop.reason,))]
        problems.append("dirty: " + stop.reason)
    try:
        with _locked(cache, repo) as workdir:
            clone = _sync(repo, workdir)
            found = clone.services(f"origin/{clone.default}")
    except (_Stop, ScaffoldError) as exc:
        return [replace(status, problems=(*problems, _reason(exc)))]
    if not found:
        return [replace(status, problems=(*problems, f"no {ANSWERS_FILE}"))]
    return [
        _service_status(replace(status, path=path), answers, problems) for path, answers in found
    ]


def _service_status(status: RepoStatus, answers: dict[str, Any], problems: list[str]) -> RepoStatus:
    problems = list(problems)
    src, current = _str(answers.get("_src_path")), _str(answers.get("_commit"))
    status = replace(
        status,
        service=_str(answers.get("service_name")),
        language=_str(answers.get("language")),
        template=src,
        current=current,
    )
    try:
        tags = _template_tags(src or "")
    except _Stop as stop:
        return replace(status, problems=(*problems, stop.reason))
    latest = latest_version(tags)
    if latest is None:
        problems.append("template has no release tags")
    behind = _count_behind(current, tags) if latest else None
    return replace(status, latest=latest, behind=behind, problems=tuple(problems))


def _count_behind(current: str | None, tags: Iterable[str]) -> int | None:
    version = _version(current)
    if version is None:
        return None
    return sum(1 for release, _ in _releases(tags) if release > version)


# --- git and the cache -------------------------------------------------------------------------


def _git_in(cwd: Path, *args: str, check: bool = True, network: bool = False) -> str:
    """`git ARGS` in `cwd` (see `scaffold._git`); "" for a failure when not `check`."""
    return _git.run(cwd, *args, check=check, network=network)


def _location(repo: str) -> str:
    """A repository's normalised location: an absolute path, or the URL as given."""
    if repo.startswith("file://"):
        repo = repo.removeprefix("file://")
    elif _URL.match(repo):
        return repo.rstrip("/")
    return str(Path(repo).expanduser().absolute())


def _unique(repos: Iterable[str]) -> list[str]:
    """Each repository once, in the order given: two spellings of one location are one."""
    first: dict[str, str] = {}
    for repo in repos:
        first.setdefault(_location(repo), repo)
    return list(first.values())


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _workdir_name(repo: str) -> str:
    location = _location(repo)
    name = re.sub(r"\.git$", "", location.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1])
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "repo"
    return f"{slug}-{_digest(location)[:12]}"


@contextmanager
def _locked(cache: Path, repo: str) -> Iterator[Path]:
    """The repository's clone directory in the cache, held exclusively for this process."""
    import fcntl

    cache.mkdir(parents=True, exist_ok=True)
    workdir = cache / _workdir_name(repo)
    with (cache / f"{workdir.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield workdir
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _refuse_dirty_local(repo: str) -> None:
    """A local working tree with uncommitted changes is skipped: they are someone's work."""
    if _URL.match(repo) and not repo.startswith("file://"):
        return
    path = Path(_location(repo))
    if not path.exists():
        raise _Stop("error", f"{repo} does not exist")
    if not path.is_dir():
        raise _Stop("error", f"{repo} is not a directory, so not a git repository")
    if not (path / ".git").exists():
        # A bare repository is its own git directory; anything else is no repository (cloning
        # it would only say the "repository does not exist").
        git_dir = _git_in(path, "rev-parse", "--absolute-git-dir", check=False).strip()
        if not git_dir:
            raise _Stop("error", f"{repo} is not a git repository")
        if Path(git_dir) != path.resolve():
            top = _git_in(path, "rev-parse", "--show-toplevel", check=False).strip() or git_dir
            raise _Stop("error", f"{repo} is not a git repository (it is a directory inside {top})")
        return
    changed = _git_in(path, "status", "--porcelain", check=False).splitlines()
    if changed:
        raise _Stop(
            "skipped", f"uncommitted changes in {len(changed)} file(s); commit or stash them"
        )


def _sync(repo: str, workdir: Path) -> _Clone:
    """Clone the repository into `workdir` the first time, fetch it after."""
    url = _location(repo)
    fresh = not (workdir / ".git").is_dir()
    try:
        if fresh:
            shutil.rmtree(workdir, ignore_errors=True)
            _git_in(workdir.parent, "clone", "-q", "--no-checkout", url, str(workdir), network=True)
        else:
            _clear_stale_locks(workdir / ".git")
            _git_in(workdir, "remote", "set-url", "origin", url)
            _git_in(workdir, "fetch", "-q", "--prune", "--force", "origin", network=True)
        _git_in(workdir, "remote", "set-head", "origin", "--auto", check=False, network=True)
        head = _git_in(workdir, "symbolic-ref", "--short", "refs/remotes/origin/HEAD", check=False)
    except GitFailed as exc:
        if fresh:
            shutil.rmtree(workdir, ignore_errors=True)
        raise _Stop("error", f"cannot reach {repo}: {exc.reason}") from None
    default = head.strip().removeprefix("origin/")
    if not default:
        raise _Stop("error", f"{repo} has no default branch (an empty repository?)")
    return _Clone(repo=repo, url=url, path=workdir, default=default)


def _clear_stale_locks(git_dir: Path) -> None:
    """Remove the lock files a killed git left in a clone (an interrupted run's, at worst).

    Safe because the clone's cache lock is held: no other fleet process works on it, and
    every git command of this one has ended.
    """
    stale = [git_dir / name for name in _GIT_LOCKS]
    stale += [p for p in (git_dir / "refs").rglob("*.lock")] if (git_dir / "refs").is_dir() else []
    for lock in stale:
        lock.unlink(missing_ok=True)


@functools.lru_cache(maxsize=64)
def _template_tags(src: str) -> tuple[str, ...]:
    """The tags of a template source (cached for one run: see `_forget_templates`)."""
    if not src:
        raise _Stop("error", f"{ANSWERS_FILE} has no _src_path")
    try:
        return template_refs(src).tags
    except TemplateError as exc:
        raise _Stop("error", exc.message) from None


def _forget_templates() -> None:
    """Read template tags and policies afresh: a run must see releases made since the last one."""
    _template_tags.cache_clear()
    _verify_command.cache_clear()


def _latest(src: str) -> str:
    latest = latest_version(_template_tags(src))
    if latest is None:
        raise _Stop("error", f"template {src} has no release tags; pass --to")
    return latest


# --- small helpers -----------------------------------------------------------------------------


def _prepare_cache(cache_dir: Path | None) -> Path:
    """The clone cache, created and writable, or one clear error before any work starts.

    Raises:
        DestinationError: the directory cannot be created or written (a read-only file system).
    """
    cache = (cache_dir or fleet_cache_dir()).expanduser().absolute()
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=cache):
            pass
    except OSError as exc:
        raise DestinationError(
            f"cannot use {cache} as the fleet cache: {exc.strerror or exc}",
            hint="pass --cache-dir with a writable directory",
        ) from None
    return cache


def check_branch_name(pattern: str, to: str | None = None) -> None:
    """Check an upgrade branch pattern: `{version}` is its only placeholder, git takes the name.

    Raises:
        DestinationError: the pattern has another placeholder or stray braces, or git refuses
            the branch name it makes.
    """
    try:
        sample = pattern.format(version=to or "v1.0.0")
    except (KeyError, IndexError, ValueError):
        raise DestinationError(
            f"{pattern!r} is not a branch pattern: {{version}} is the only placeholder "
            "(write other braces as {{ and }})",
            hint="pass --branch with a name like scaffold/{version}",
        ) from None
    if not _git.ok(None, "check-ref-format", "--branch", sample):
        raise DestinationError(
            f"{sample!r} is not a valid git branch name",
            hint="pass --branch with a name like scaffold/{version}",
        )


def _has_identity(path: Path) -> bool:
    return bool(_git_in(path, "config", "user.email", check=False).strip()) and bool(
        _git_in(path, "config", "user.name", check=False).strip()
    )


def _made_by_these(answers: dict[str, Any]) -> bool:
    """Whether an answers file was made by these templates (another copier template's is not)."""
    return bool(_str(answers.get("_src_path"))) and answers.get("language") in ("go", "rust")


def _label(repo: str, path: str) -> str:
    """A repository, with a service's directory in it: `repo//services/payments`."""
    return repo if path == "." else f"{repo}//{path}"


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _reason(exc: BaseException) -> str:
    return exc.reason if isinstance(exc, _Stop) else str(exc)


def _jobs(jobs: int | None, count: int) -> int:
    wanted = jobs if jobs and jobs > 0 else (os.cpu_count() or 1)
    return max(1, min(wanted, count))


def _columns(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]
        ).rstrip()
        for row in rows
    ]
