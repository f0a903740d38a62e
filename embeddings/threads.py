"""Names for the OS threads of the search path, so CPU can be read per role."""

from __future__ import annotations

import ctypes
import ctypes.util
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
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(_PR_SET_NAME, ctypes.c_char_p(label), 0, 0, 0)
    except (OSError, AttributeError):  # no libc to ask: the name is only a convenience
        return
