"""Services that run beside the brokers (Schema Registry, Kafka Connect): started by ``up --with``, stopped by
``down``. Each service records its pid and URL in the cluster's state under ``services``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from devcluster.jars import Progress

if TYPE_CHECKING:
    from devcluster.cluster import ClusterState

KNOWN_SERVICES: tuple[str, ...] = ()


def start(home: Path, state: ClusterState, names: list[str], *, progress: Progress) -> ClusterState:
    unknown = [n for n in names if n not in KNOWN_SERVICES]
    if unknown:
        from devcluster.cluster import DevClusterError

        known = ", ".join(KNOWN_SERVICES) or "none yet"
        raise DevClusterError(f"Unknown service(s): {', '.join(unknown)}. Known: {known}.")
    return state


def stop_all(home: Path, state: ClusterState, *, progress: Progress) -> None:
    """Stop every service recorded in the state (nothing to do when none were started)."""
    from devcluster.cluster import _stop_pid

    for name, info in list(state.services.items()):
        pid = info.get("pid")
        if isinstance(pid, int):
            progress(f"stopping {name} (pid {pid})")
            _stop_pid(pid, hard=False, timeout=30)
        state.services.pop(name, None)
