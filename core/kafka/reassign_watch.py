"""Watching a reassignment: the cluster's layout, what is moving and how far each copy is (bytes from log-dir sizes),
the throttles left, waiting until it is done, and verifying the result. Reads only; ``core.kafka.reassign`` makes the
changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from core.kafka import throttles as kthrottles
from core.kafka._futures import metadata, wait
from core.kafka.logdirs import replica_sizes
from core.kafka.reassign_plan import TP, Assignment
from core.kafka.throttles import ThrottleState
from core.waiting import until

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

    from core.kafka.jadmin import JavaAdmin

Progress = Callable[[float, float, str], None]
MAX_ROWS = 200


@dataclass
class Layout:
    assignment: Assignment
    leaders: dict[TP, int]
    isr: dict[TP, list[int]]
    racks: dict[int, str | None]  # live brokers

    def topics(self) -> set[str]:
        return {t for t, _ in self.assignment}


def layout(admin: AdminClient, *, timeout: float) -> Layout:
    desc = wait(admin.describe_cluster(request_timeout=timeout), what="describe cluster", timeout=timeout + 1)
    meta = metadata(admin, timeout=timeout)
    assignment: Assignment = {}
    leaders: dict[TP, int] = {}
    isr: dict[TP, list[int]] = {}
    for name, tmeta in meta.topics.items():
        if tmeta.error is not None:
            continue
        for p in tmeta.partitions.values():
            assignment[(name, p.id)] = list(p.replicas)
            leaders[(name, p.id)] = p.leader
            isr[(name, p.id)] = sorted(p.isrs)
    return Layout(assignment, leaders, isr, {n.id: n.rack for n in desc.nodes})


# --- progress --------------------------------------------------------------------------------------------------


class PartitionProgress(BaseModel):
    topic: str
    partition: int
    target: list[int]
    adding: list[int]
    removing: list[int]
    bytes_copied: int = Field(description="Bytes the receiving brokers hold so far.")
    bytes_total: int = Field(description="Bytes they will hold (the source's size now, times the receivers).")


class ReassignmentStatus(BaseModel):
    in_progress: int = Field(description="Partitions being reassigned now.")
    partitions: list[PartitionProgress] = Field(description=f"Per partition (at most {MAX_ROWS}).")
    bytes_copied: int
    bytes_total: int
    percent: float = Field(description="Bytes copied / bytes to copy of what is running (100 when nothing is).")
    throttles: ThrottleState = Field(description="Replication throttles set now (left over when nothing runs).")
    advice: str


def running_reassignments(jadmin: JavaAdmin, timeout: float, only: set[TP] | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = jadmin.read_op("listReassignments", {}, timeout=timeout)
    return [r for r in rows if only is None or (r["topic"], int(r["partition"])) in only]


def status(
    admin: AdminClient,
    jadmin: JavaAdmin,
    *,
    timeout: float,
    partitions: set[TP] | None = None,
    with_throttles: bool = True,
) -> ReassignmentStatus:
    """What is being reassigned now (all of it, or of ``partitions``), how far each copy is, and the throttles."""
    rows = running_reassignments(jadmin, timeout, partitions)
    progress: list[PartitionProgress] = []
    if rows:
        brokers = sorted({int(b) for r in rows for b in r["replicas"]})
        sizes = replica_sizes(jadmin, brokers, timeout=timeout)
        for r in sorted(rows, key=lambda r: (r["topic"], int(r["partition"]))):
            tp = (r["topic"], int(r["partition"]))
            replicas = [int(b) for b in r["replicas"]]
            adding = [int(b) for b in r["adding"]]
            removing = [int(b) for b in r["removing"]]
            per = sizes.get(tp, {})
            source = max((per.get(b, 0) for b in replicas if b not in adding), default=0)
            progress.append(
                PartitionProgress(
                    topic=tp[0],
                    partition=tp[1],
                    target=[b for b in replicas if b not in removing],
                    adding=adding,
                    removing=removing,
                    bytes_copied=sum(min(per.get(b, 0), source) for b in adding),
                    bytes_total=source * len(adding),
                )
            )
    copied = sum(p.bytes_copied for p in progress)
    total = sum(p.bytes_total for p in progress)
    state = left_throttles(admin, timeout=timeout) if with_throttles else ThrottleState(brokers={}, topics={})
    if progress:
        advice = (
            "Running. Watch with kafka_reassignment_status; kafka_reassignment_finish removes the throttles once done."
        )
    elif not state.clear:
        advice = "Nothing runs, but replication throttles are left: kafka_reassignment_finish removes them."
    else:
        advice = "Nothing runs and no throttle is set."
    return ReassignmentStatus(
        in_progress=len(progress),
        partitions=progress[:MAX_ROWS],
        bytes_copied=copied,
        bytes_total=total,
        percent=round(100.0 * copied / total, 1) if total else (100.0 if not progress else 0.0),
        throttles=state,
        advice=advice,
    )


def left_throttles(admin: AdminClient, *, timeout: float) -> ThrottleState:
    """Every replication throttle set now, on any topic or live broker."""
    lay = layout(admin, timeout=timeout)
    return kthrottles.throttle_state(admin, topics=sorted(lay.topics()), brokers=sorted(lay.racks), timeout=timeout)


def wait_done(
    admin: AdminClient,
    jadmin: JavaAdmin,
    parts: set[TP] | None = None,
    *,
    timeout: float,
    wait_s: float,
    progress: Progress | None = None,
) -> tuple[ReassignmentStatus, bool]:
    """Until nothing (of ``parts``) is moving, or ``wait_s`` passes; reports (percent, 100, message) to
    ``progress``."""

    def report(now: ReassignmentStatus) -> None:
        if progress is not None:
            progress(
                now.percent,
                100.0,
                f"{now.in_progress} partition(s) moving, {now.bytes_copied:,} of {now.bytes_total:,} bytes copied",
            )

    return until(
        lambda: status(admin, jadmin, timeout=timeout, partitions=parts, with_throttles=False),
        lambda now: now.in_progress == 0,
        timeout=wait_s,
        interval=1.0,
        on_look=report,
    )


# --- verification ----------------------------------------------------------------------------------------------


class Check(BaseModel):
    check: str
    ok: bool
    detail: str


class Verification(BaseModel):
    ok: bool
    checks: list[Check]


def verify(
    admin: AdminClient, jadmin: JavaAdmin, targets: dict[TP, list[int]], *, timeout: float, settle_s: float = 30.0
) -> Verification:
    """Every partition on its target replicas (in order), fully in sync, led by its preferred leader, nothing
    still moving, and no throttle left on its topics or brokers."""
    parts = set(targets)

    def look() -> Layout:
        return layout(admin, timeout=timeout)

    def settled(lay: Layout) -> bool:
        return all(
            lay.assignment.get(tp) == t and sorted(lay.isr.get(tp, [])) == sorted(t) for tp, t in targets.items()
        )

    lay, _ = until(look, settled, timeout=settle_s, interval=1.0)
    wrong = [f"{t}-{p}" for (t, p), want in sorted(targets.items()) if lay.assignment.get((t, p)) != want]
    short = [f"{t}-{p}" for (t, p), want in sorted(targets.items()) if sorted(lay.isr.get((t, p), [])) != sorted(want)]
    led = [f"{t}-{p}" for (t, p), want in sorted(targets.items()) if want and lay.leaders.get((t, p)) != want[0]]
    running = running_reassignments(jadmin, timeout, parts)
    topics = sorted({t for t, _ in parts})
    brokers = sorted({b for reps in targets.values() for b in reps} | set(lay.racks))
    left = kthrottles.throttle_state(admin, topics=topics, brokers=brokers, timeout=timeout)
    checks = [
        Check(check="on target replicas", ok=not wrong, detail=", ".join(wrong[:10]) or f"{len(parts)} partition(s)"),
        Check(check="fully in sync", ok=not short, detail=", ".join(short[:10]) or "ISR = replicas everywhere"),
        Check(check="nothing still moving", ok=not running, detail=f"{len(running)} partition(s) still moving"),
        Check(
            check="throttles removed",
            ok=left.clear,
            detail="none left" if left.clear else f"brokers {sorted(left.brokers)}, topics {sorted(left.topics)}",
        ),
        Check(
            check="preferred leaders lead (informational)",
            ok=True,
            detail=f"{len(led)} partition(s) led by another replica" if led else "every partition",
        ),
    ]
    return Verification(ok=all(c.ok for c in checks), checks=checks)


def running_partitions(jadmin: JavaAdmin, *, timeout: float, topics: list[str] | None = None) -> list[TP]:
    rows = running_reassignments(jadmin, timeout)
    return sorted((r["topic"], int(r["partition"])) for r in rows if not topics or r["topic"] in set(topics))
