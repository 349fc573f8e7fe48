"""Every git command otel-scaffold runs goes through `run`: one environment, one set of limits.

- Environment: git never prompts (no terminal prompt, ssh in batch mode), speaks English
  (`LC_ALL=C`, so its messages can be quoted and matched), and ignores the caller's `GIT_DIR`,
  `GIT_WORK_TREE` and `GIT_INDEX_FILE`, which would point a command at another repository
  (inside a git hook, for instance).
- Limits, for commands that talk to a remote (`network=True`): a transfer that stalls fails
  after `SCAFFOLD_GIT_STALL_TIMEOUT` seconds (default 30): curl's low-speed limit for http(s),
  and ssh's ConnectTimeout and ServerAlive checks for ssh (unless the user configured an ssh
  command of their own); whatever the transport, the command is stopped after
  `SCAFFOLD_GIT_TIMEOUT` seconds (default 300). A remote that accepts connections and never
  answers fails within the stall limit over http(s) and ssh, within the hard limit otherwise.
  copier runs git itself (plumbum); `copier_limits()` gives those commands the same
  environment.
- Errors: a command that fails, times out or cannot start raises `GitFailed` (a `GitError`,
  exit code 6), whose `reason` is git's own one-line explanation. Callers that know better
  (an unreachable template, a fleet repository) turn it into their own message.
- Interrupts: a command cut short by an exception (Ctrl-C, SIGTERM) is stopped with SIGTERM,
  which git handles by removing its lock files, so the repository stays usable. Network
  commands run in their own process group, so the helpers git starts for a transfer
  (`git-remote-https`, `ssh`) stop with it; in a process with a terminal they also run in a
  session of their own, without the terminal, so nothing they start can wait for input there.

This module uses the standard library and `scaffold.errors` only (setup.py loads
`scaffold.bundled`, which uses it, before the package's dependencies are installed).
"""

from __future__ import annotations

import functools
import os
import shlex
import signal
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scaffold.errors import GitError

__all__ = [
    "STALL_ENV",
    "TIMEOUT_ENV",
    "GitFailed",
    "Limits",
    "copier_limits",
    "environment",
    "last_reason",
    "ok",
    "own_group",
    "run",
    "run_bytes",
    "stop",
    "stopped",
]

STALL_ENV = "SCAFFOLD_GIT_STALL_TIMEOUT"
TIMEOUT_ENV = "SCAFFOLD_GIT_TIMEOUT"
DEFAULT_STALL = 30.0
DEFAULT_TIMEOUT = 300.0
# Below this many bytes per second for the stall time, an http(s) transfer counts as stalled.
LOW_SPEED_BYTES = 1000

# Variables that would make a command work on some other repository than the one at `cwd`.
_SCRUBBED = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_PREFIX",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
)
_QUIET = {"GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never", "LC_ALL": "C", "LANGUAGE": ""}
# Seconds a command is given to exit after SIGTERM before it is killed.
_GRACE = 5.0

# Commands running now, and whether each leads its own process group (network commands do).
_running: dict[subprocess.Popen[bytes], bool] = {}
_running_lock = threading.Lock()
# Blocks of `stopped()` in progress: while any is, no command may run.
_stopping = 0


class GitFailed(GitError):
    """A git command failed, timed out, or could not be started.

    Attributes:
        command: the git arguments (without `git`).
        reason: git's own one-line explanation, without its `fatal:` prefix.
        returncode: the exit status; None when it timed out or did not start.
        stderr: everything git wrote to stderr.
        timed_out: stopped after the hard limit (`SCAFFOLD_GIT_TIMEOUT`).
    """

    def __init__(
        self,
        command: Sequence[str],
        reason: str,
        *,
        returncode: int | None = None,
        stderr: str = "",
        timed_out: bool = False,
        hint: str | None = None,
    ) -> None:
        self.command = tuple(command)
        self.reason = reason
        self.returncode = returncode
        self.stderr = stderr
        self.timed_out = timed_out
        super().__init__(f"git {_verb(self.command)} failed: {reason}", hint=hint)


@dataclass(frozen=True)
class Limits:
    """How long a network git command may stall, and may take at all (seconds)."""

    stall: float = DEFAULT_STALL
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_env(cls) -> Limits:
        """The limits set by `SCAFFOLD_GIT_STALL_TIMEOUT` and `SCAFFOLD_GIT_TIMEOUT`.

        Raises:
            GitError: a setting that is not a positive number.
        """
        return cls(
            stall=_seconds(STALL_ENV, DEFAULT_STALL), timeout=_seconds(TIMEOUT_ENV, DEFAULT_TIMEOUT)
        )

    def env(self, cwd: Path | None = None) -> dict[str, str]:
        """The environment that makes git give up on a stalled transfer."""
        stall = max(1, round(self.stall))
        env = {
            "GIT_HTTP_LOW_SPEED_LIMIT": str(LOW_SPEED_BYTES),
            "GIT_HTTP_LOW_SPEED_TIME": str(stall),
        }
        if not _own_ssh_command(cwd):
            alive = max(1, stall // 3)
            env["GIT_SSH_COMMAND"] = shlex.join(
                [
                    "ssh",
                    "-o",
                    "BatchMode=yes",
                    "-o",
                    f"ConnectTimeout={stall}",
                    "-o",
                    f"ServerAliveInterval={alive}",
                    "-o",
                    "ServerAliveCountMax=3",
                ]
            )
        return env


def environment(*, network: bool = False, cwd: Path | None = None) -> dict[str, str]:
    """The environment every git command runs with (see the module's description)."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env.update(_QUIET)
    if network:
        env.update(Limits.from_env().env(cwd))
    return env


def run(
    cwd: Path | None,
    *args: str,
    network: bool = False,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> str:
    """Run `git ARGS` in `cwd` and return its stdout.

    Args:
        cwd: the directory to run in; None for the current one.
        *args: the git command and its arguments, without `git`.
        network: the command talks to a remote: apply the stall and hard time limits.
        input: text for git's stdin; none (and stdin closed) when None.
        env: variables to add to the environment.
        check: raise `GitFailed` when git exits non-zero; otherwise return "" for a failure.

    Raises:
        GitFailed: git failed (with `check`), timed out, or could not start.
    """
    data = None if input is None else input.encode("utf-8", "surrogateescape")
    code, out, _ = _run(cwd, args, network=network, input=data, env=env, check=check)
    return out.decode("utf-8", "surrogateescape") if code == 0 else ""


def run_bytes(
    cwd: Path | None,
    *args: str,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
) -> bytes:
    """Run a local git command on bytes (file contents) and return its stdout as bytes.

    Raises:
        GitFailed: git failed or could not start.
    """
    return _run(cwd, args, network=False, input=input, env=env, check=True)[1]


def ok(cwd: Path | None, *args: str) -> bool:
    """Whether a local git command succeeds (`rev-parse --verify`, `merge-base --is-ancestor`)."""
    return _run(cwd, args, network=False, input=None, env=None, check=False)[0] == 0


@contextmanager
def copier_limits() -> Iterator[None]:
    """Run the git commands copier starts (through plumbum) with the environment of `run`.

    plumbum copies the process environment once, when it is imported, and runs every command
    with that copy; for the block, the copy is replaced by this module's environment (the
    current process environment, scrubbed, with the network limits), then put back.
    """
    from plumbum import local

    env = environment(network=True)
    with local.env():
        # Iterating plumbum's environment gives (name, value) pairs; keys() gives names.
        for name in [name for name in local.env.keys() if name not in env]:  # noqa: SIM118
            del local.env[name]
        local.env.update(**env)
        yield


@contextmanager
def stopped() -> Iterator[None]:
    """For the block, stop every git command running (in other threads) and start none.

    What an interrupt does to the command of the thread it reaches, done to all: the threads
    waiting on git end now, and one that goes on to its next command fails at once instead of
    starting it.
    """
    global _stopping
    with _running_lock:
        _stopping += 1
        running = list(_running.items())
    try:
        for proc, group in running:
            _terminate(proc, group)
        yield
    finally:
        with _running_lock:
            _stopping -= 1


def _run(
    cwd: Path | None,
    args: Sequence[str],
    *,
    network: bool,
    input: bytes | None,
    env: Mapping[str, str] | None,
    check: bool,
) -> tuple[int, bytes, str]:
    full_env = environment(network=network, cwd=cwd)
    full_env.update(env or {})
    timeout = Limits.from_env().timeout if network else None
    try:
        proc = subprocess.Popen(
            ["git", *args],
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL if input is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            **(own_group() if network else {}),
        )
    except OSError as exc:
        raise GitFailed(
            args, f"cannot run git: {exc.strerror}", hint="install git and put it on PATH"
        ) from None
    with _running_lock:
        stopping = _stopping > 0
        if not stopping:
            _running[proc] = network
    if stopping:
        _terminate(proc, network)
        proc.communicate()
        raise GitFailed(args, "stopped: the run was interrupted")
    try:
        with proc:
            try:
                out, err = proc.communicate(input, timeout=timeout)
            except subprocess.TimeoutExpired:
                _terminate(proc, network)
                raise GitFailed(
                    args,
                    f"no answer within {timeout:g}s",
                    timed_out=True,
                    hint=f"check the remote; {TIMEOUT_ENV} sets the limit",
                ) from None
            except BaseException:
                _terminate(proc, network)
                raise
    finally:
        with _running_lock:
            _running.pop(proc, None)
    stderr = err.decode("utf-8", "replace")
    if proc.returncode != 0 and check:
        raise GitFailed(args, last_reason(stderr), returncode=proc.returncode, stderr=stderr)
    return proc.returncode, out, stderr


def own_group() -> dict[str, Any]:
    """`Popen` options for a command that may start helpers of its own and must stop with them.

    The command leads a process group, which `stop` ends as a whole. In a process with a
    terminal it also gets a session of its own, without the terminal: nothing it starts can
    stop the run waiting for input there, and Ctrl-C reaches this process, which stops it.
    """
    if _has_terminal():
        return {"start_new_session": True}
    return {"process_group": 0}


def stop(proc: subprocess.Popen[Any]) -> None:
    """Stop a command started with `own_group()`, and everything it started."""
    _terminate(proc, True)


def _terminate(proc: subprocess.Popen[Any], group: bool) -> None:
    """Stop a command with SIGTERM (git removes its lock files), then SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, _GRACE), (signal.SIGKILL, None)):
        if proc.poll() is not None:
            return
        try:
            if group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def last_reason(stderr: str) -> str:
    """The line of git's stderr that says why it failed, without its `fatal:`/`error:` prefix.

    When ssh failed, git's own line says only that it could not read from the remote; ssh's
    line before it says why (a timeout, a refused key), and is added.
    """
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not ln.startswith("hint:")]
    fatal = [i for i, ln in enumerate(lines) if ln.startswith(("fatal:", "error:"))]
    at = fatal[-1] if fatal else len(lines) - 1
    if at < 0:
        return "git failed"
    reason = lines[at].removeprefix("fatal:").removeprefix("error:").strip().strip("'")
    first = fatal[0] if fatal else at
    if "Could not read from remote repository" in reason and first > 0:
        reason = f"{reason.rstrip('.')} ({lines[first - 1].rstrip('.')})"
    return reason or "git failed"


@functools.cache
def _has_terminal() -> bool:
    """Whether this process has a controlling terminal (a fleet worker, for one, has none)."""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:
        return False
    os.close(fd)
    return True


def _own_ssh_command(cwd: Path | None) -> bool:
    """Whether the user chose how git runs ssh (their choice wins over our limits)."""
    if os.environ.get("GIT_SSH_COMMAND") or os.environ.get("GIT_SSH"):
        return True
    try:
        proc = subprocess.run(
            ["git", "config", "--get", "core.sshCommand"],
            cwd=cwd if cwd is not None and cwd.is_dir() else None,
            env={k: v for k, v in os.environ.items() if k not in _SCRUBBED},
            capture_output=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except OSError:
        return False
    return bool(proc.stdout.strip())


def _seconds(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise GitError(
            f"{name}={text!r} is not a number of seconds", hint=f"set {name} to a positive number"
        )
    return value


def _verb(args: Sequence[str]) -> str:
    """The git subcommand among `args` (after `-c X`, `-C X`, `--git-dir X`, `--work-tree X`)."""
    rest = list(args)
    while rest and rest[0] in ("-c", "-C", "--git-dir", "--work-tree"):
        rest = rest[2:]
    while rest and rest[0].startswith("--"):
        rest = rest[1:]
    return rest[0] if rest else "git"
