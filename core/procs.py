"""Local processes the project starts (brokers, services, stream runners): is one still alive."""

from __future__ import annotations

import contextlib
import os


def pid_alive(pid: int | None) -> bool:
    """True while the process runs; a finished child is reaped, and a zombie counts as dead."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:  # the state field follows the command name, which may itself hold spaces or ')'
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
