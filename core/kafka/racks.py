"""Rack awareness: partitions whose replicas share a rack while the cluster has another rack they could use (a
rack's outage would then take more than one copy). Read by the health check and the readiness audit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SharedRack:
    topic: str
    partition: int
    replicas: list[int]
    racks: list[str]


@dataclass(frozen=True)
class RackNote:
    """A summary for a report: how many partitions, the worst examples, and the fix."""

    shared: list[SharedRack]
    rack_count: int

    @property
    def message(self) -> str:
        shown = ", ".join(f"{s.topic}-{s.partition} on racks {','.join(s.racks)}" for s in self.shared[:5]) + (
            " ..." if len(self.shared) > 5 else ""
        )
        return (
            f"{len(self.shared)} partition(s) keep two or more replicas in one rack while the cluster has "
            f"{self.rack_count} racks ({shown}): one rack's outage takes more than one copy."
        )

    @property
    def fix(self) -> str:
        return (
            "kafka_reassignment_plan(goal='balance') moves the extra copies onto unused racks (rack-aware, few "
            "moves); apply it with kafka_reassignment_execute."
        )


def shared_racks(meta: Any, topics: Iterable[str], racks: dict[int, str | None]) -> list[SharedRack]:
    """Partitions of ``topics`` (in cluster metadata ``meta``) whose replicas span fewer racks than they could.
    Judged only when at least two racks are known, and only for partitions whose every replica has a known rack."""
    known = {r for r in racks.values() if r}
    if len(known) < 2:
        return []
    out = []
    for name in sorted(topics):
        tmeta = meta.topics.get(name)
        if tmeta is None:
            continue
        for p in sorted(tmeta.partitions.values(), key=lambda x: x.id):
            where = [racks.get(b) for b in p.replicas]
            if not where or any(r is None for r in where):
                continue
            used = sorted({str(r) for r in where})
            if len(used) < min(len(p.replicas), len(known)):
                out.append(SharedRack(name, p.id, list(p.replicas), [str(r) for r in where]))
    return out


def rack_note(meta: Any, topics: Iterable[str], racks: dict[int, str | None]) -> RackNote | None:
    shared = shared_racks(meta, topics, racks)
    if not shared:
        return None
    return RackNote(shared, len({r for r in racks.values() if r}))
