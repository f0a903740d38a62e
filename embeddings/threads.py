"""Names for the OS threads of the search path, so CPU can be read per role."""

from __future__ import annotations

import ctypes
import functools
import sys
import threading

_PR_SET_NAME = 15  # prctl(2)


def name_os_thread(name: str | None = None) -> None:
    """Give the calling thread's OS thread a name (Linux; at most 15 characters), shown
    by `top -H` and in /proc/<pid>/task/*/comm. Python 3.11 leaves every thread named
    after the executable, so a thread's CPU could not be told from another's."""
    if not sys.platform.startswith("linux"):
        return
    label = (name or threading.current_thread().name).encode()[:15]
    try:
        _process_symbols().prctl(_PR_SET_NAME, ctypes.c_char_p(label), 0, 0, 0)
    except (OSError, AttributeError):  # no prctl to call: the name is only a convenience
        return


@functools.cache
def _process_symbols() -> ctypes.CDLL:
    # the C library is already loaded into the process: no search for it on disk
    return ctypes.CDLL(None, use_errno=True)


def lower_priority(nice: int = 10) -> None:
    """Make the calling thread yield the cores to the others (Linux: a thread's own nice
    value), for background work such as re-embedding articles while searches run. A
    thread cannot take its priority back without privileges: use it on threads of their
    own."""
    import contextlib
    import os

    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
