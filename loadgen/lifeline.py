"""Child processes that end with the process that started them.

A process we start must never outlive us: a load generator left behind keeps sending
requests, a replica keeps its port. Two mechanisms, both needed:

- ``die_with_parent()`` asks the kernel (``PR_SET_PDEATHSIG``) to SIGKILL this process when
  its parent ends, however it ends (SIGKILL included). Linux only.
- ``orphaned(parent)`` checks the parent pid, for the moment before that request took effect
  (the parent may already be gone) and for whatever the kernel request does not cover (it
  follows the parent *thread* that forked the process).

Shared by the load generator and the local cluster's replicas; it imports no Locust, so both
an asyncio and a gevent process can use it.
"""

from __future__ import annotations

import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1

#: Seconds between parent checks in the processes that watch their parent.
PARENT_CHECK_PERIOD = 0.5
#: Exit status of a process that ended because its parent was gone.
ORPHANED_EXIT = 3


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent ends (no-op where unsupported).

    Safe between fork and exec (as a ``preexec_fn``): it only calls ``prctl``.
    """
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:  # not glibc Linux: the parent-pid checks still apply
        return
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def orphaned(parent: int) -> bool:
    """True when this process's parent is no longer ``parent`` (it ended; we were re-parented)."""
    return os.getppid() != parent
