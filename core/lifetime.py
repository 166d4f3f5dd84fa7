"""No process outlives its parent: how the CLI stops on a signal, and how the processes it starts die with it.

Three kinds of children, three mechanisms, each one the kernel carries out even when the parent is SIGKILLed:
- spawned embedding workers watch a pipe whose write end only the parent holds (`watch_parent`): the kernel
  closes it when the parent dies, by any signal, and the worker ends itself at once;
- the Milvus Lite 2.5 engine watches its database's lock file, which the parent holds and the kernel releases
  with it (milvus_lite passes the lock's path to the engine; core.storage.serve passes it for `serve` too);
- a child started through `Popen` whose lifetime we cannot watch otherwise gets a parent-death signal
  (`die_with_parent`, Linux).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection, wait

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PARENT_CHECK_S = 1.0  # how often a watching child also compares its parent pid, should a pipe end have leaked
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread like Ctrl-C, so every `finally` runs and children are stopped.

    A KeyboardInterrupt, so code that already ends cleanly on Ctrl-C ends the same way on the other signals."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_received: list[int] = []  # the stop signals this process got, in order


def stop_on_signals() -> None:
    """In a program's main thread: SIGINT, SIGTERM and SIGHUP unwind the program (KeyboardInterrupt, Stopped);
    a second one while it unwinds exits at once, so a stuck clean-up never traps the user."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _on_stop_signal)


def _on_stop_signal(signum: int, frame: object) -> None:
    _received.append(signum)
    if len(_received) > 1:
        os._exit(exit_code(signum))  # our children notice, by the mechanisms above
    raise KeyboardInterrupt() if signum == signal.SIGINT else Stopped(signum)


def received_signal() -> int | None:
    """The first stop signal this process received, if any."""
    return _received[0] if _received else None


def exit_code(signum: int) -> int:
    """The shell's convention for a program ended by a signal: 130 for Ctrl-C, 143 for SIGTERM."""
    return 128 + signum


@contextmanager
def children_keep_interrupts_blocked(signals: tuple[signal.Signals, ...] = (signal.SIGINT,)) -> Iterator[None]:
    """Children started within inherit `signals` blocked (the mask survives exec): by default SIGINT, so a Ctrl-C
    sent to the whole terminal group reaches only the parent, which stops them in order (multiprocessing starts
    its resource tracker the same way). A signal arriving meanwhile waits for the block to end; it is not lost."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals are only ever handled in the main thread; the mask of another one changes nothing
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, set(signals))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def unblock_stop_signals() -> None:
    """In a child started with stop signals blocked, once it is ready: SIGTERM and SIGHUP end it again."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, set(STOP_SIGNALS))


def watch_parent(lifeline: Connection, parent_sentinel: int, on_release: Callable[[], None]) -> None:
    """In a child: a daemon thread that ends this process as soon as its parent dies, and calls `on_release`
    when the parent, still alive, closes `lifeline`'s other end (it wants its children gone).

    `parent_sentinel` (multiprocessing.parent_process().sentinel) and `lifeline` are read ends of pipes whose
    write ends only the parent holds: both read EOF the instant it dies, whatever killed it, without polling."""
    parent = os.getppid()

    def parent_gone(timeout: float) -> bool:
        return bool(wait([parent_sentinel], timeout)) or os.getppid() != parent

    def watch() -> None:
        while not wait([lifeline, parent_sentinel], PARENT_CHECK_S):
            if os.getppid() != parent:
                break
        if not parent_gone(0):
            on_release()
            while not parent_gone(PARENT_CHECK_S):
                pass
        # Nobody reads this process's results any more; it may be blocked writing them into a full pipe.
        os._exit(1)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` for Popen: the child gets SIGKILL when the thread that started it ends (Linux; None elsewhere).

    The kernel ties the signal to the starting *thread*, so only a thread that lives as long as its process may
    start such a child: the main thread of a command-line program. The parent may die before the call takes
    effect, so the child checks its parent afterwards."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: loading a library after fork can deadlock
    parent = os.getpid()

    def in_child() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return in_child
