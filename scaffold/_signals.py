"""Termination signals as one exception, so every command cleans up the same way.

SIGINT (Ctrl-C), SIGTERM (`kill`, `timeout`, a cancelled CI job) and SIGHUP (a closed terminal)
all raise `Interrupted` in the main thread once `install()` has run. `Interrupted` is a
`KeyboardInterrupt`, so every `except BaseException`, `finally` and context manager that undoes
a half-done step runs for the three alike, and the CLI exits with `128 + signal number` (130,
143, 129), as a shell reports a process killed by that signal.

Short steps that must not be cut in half (moving a finished tree into place, writing an update
into a service, undoing one) run inside `deferred()`: a signal that arrives there is raised as
soon as the step is over, so the code around it sees a whole step or none.

Only the CLI installs the handlers (a library must not take over a process's signals); without
them `deferred()` changes nothing and SIGINT raises a plain `KeyboardInterrupt`. This module
uses the standard library alone: the console script loads it before anything else.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["SIGNALS", "Interrupted", "deferred", "exit_code", "ignore", "install"]

SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_deferring = 0
_pending: int | None = None


class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP arrived; `signum` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        """The signal's name, like `SIGTERM`."""
        return signal.Signals(self.signum).name

    def __str__(self) -> str:
        return f"interrupted by {self.name}"


def exit_code(exc: BaseException) -> int:
    """The exit status for an interrupt: 128 + the signal number (130 for a bare Ctrl-C)."""
    signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
    return 128 + int(signum)


def install() -> None:
    """Raise `Interrupted` in the main thread for SIGINT, SIGTERM and SIGHUP."""
    for sig in SIGNALS:
        signal.signal(sig, _raise)


def ignore() -> None:
    """Ignore further termination signals: the process is already on its way out."""
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold back termination signals for the block; raise the first one when it ends.

    Signals are handled in the main thread, so only there does it hold anything back; in other
    threads it does nothing. Meant for steps that take milliseconds to seconds.
    """
    global _deferring, _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
        if not _deferring and _pending is not None:
            signum, _pending = _pending, None
            raise Interrupted(signum)


def _raise(signum: int, frame: FrameType | None) -> None:
    global _pending
    if _deferring:
        if _pending is None:
            _pending = signum
        return
    raise Interrupted(signum)
