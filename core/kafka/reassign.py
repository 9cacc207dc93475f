"""Partition reassignment on a live cluster: plan, execute with replication throttles, finish, cancel.

Reads come from confluent-kafka (metadata, racks, configs); the reassignment itself from Kafka's Java Admin client
through the admin helper (``core.kafka.jadmin``). The plan is ``core.kafka.reassign_plan``; watching and verifying is
``core.kafka.reassign_watch``.

    plan(...)                 the target assignment for a goal, with bytes to copy and a time estimate
    execute(permit, ...)      throttles set, reassignment submitted, waited on; when it completes: throttles removed,
                              preferred leaders elected, the result verified
    finish(permit, ...)       waits for what is running, then removes the throttles and verifies
    cancel(permit, ...)       reverts running moves to their old replicas and removes the throttles
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from core.errors import Conflict, InvalidArgument, KafkaAgentError, NotFound
from core.gate.change import Change
from core.kafka import throttles as kthrottles
from core.kafka.health import ElectLeadersResult, elect_preferred_leaders
from core.kafka.jadmin import error_of
from core.kafka.logdirs import replica_sizes
from core.kafka.reassign_plan import TP, Goal, Plan, make_plan
from core.kafka.reassign_watch import (
    Layout,
    Progress,
    ReassignmentStatus,
    Verification,
    layout,
    left_throttles,
    running_partitions,
    running_reassignments,
    status,
    verify,
    wait_done,
)
from core.kafka.throttles import ThrottleState, broker_resource

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

    from core.gate import Permit
    from core.kafka.jadmin import JavaAdmin

__all__ = [
    "ReassignmentStatus",
    "Verification",
    "cancel",
    "execute",
    "finish",
    "layout",
    "left_throttles",
    "plan",
    "running_partitions",
    "status",
    "verify",
    "wait_done",
]


def _sizes(jadmin: JavaAdmin, brokers: list[int], timeout: float) -> dict[TP, int]:
    return {tp: max(per.values()) for tp, per in replica_sizes(jadmin, brokers, timeout=timeout).items()}


def plan(
    admin: AdminClient,
    jadmin: JavaAdmin,
    *,
    goal: Goal,
    timeout: float,
    topics: list[str] | None = None,
    brokers: list[int] | None = None,
    replication_factor: int | None = None,
    include_internal: bool = False,
    throttle_bytes_per_s: int | None = None,
) -> Plan:
    """The plan for ``goal`` on the cluster as it is now. ``topics``: the scope (default: every topic, internal ones
    only with ``include_internal``; a drain always moves every replica off the drained brokers)."""
    lay = layout(admin, timeout=timeout)
    known = lay.topics()
    if topics:
        missing = sorted(set(topics) - known)
        if missing:
            raise NotFound(f"Topic(s) {missing} do not exist.", hint="List the topics with kafka_list_topics.")
        scope = sorted(set(topics))
    else:
        if goal == "replication_factor":
            raise InvalidArgument("Name the topics whose replication factor changes.")
        scope = sorted(t for t in known if include_internal or not t.startswith("__"))
    return make_plan(
        lay.assignment,
        lay.racks,
        goal=goal,
        scope=scope,
        sizes=_sizes(jadmin, sorted(lay.racks), timeout),
        brokers=brokers,
        replication_factor=replication_factor,
        throttle_bytes_per_s=throttle_bytes_per_s,
        leaders=lay.leaders,
    )


# --- changes ---------------------------------------------------------------------------------------------------


class FailedMove(BaseModel):
    topic: str
    partition: int
    error: str


class ExecuteResult(BaseModel):
    plan_id: str
    state: Literal["completed", "in_progress", "nothing_to_do"]
    submitted: int = Field(description="Partitions handed to the controller.")
    failed: list[FailedMove]
    throttle_bytes_per_s: int | None
    throttled_topics: list[str]
    throttled_brokers: list[int]
    throttles_removed: bool
    elected: ElectLeadersResult | None = Field(None, description="Preferred leader election after the move.")
    verification: Verification | None
    progress: ReassignmentStatus | None
    next_step: str


def _check_current(lay: Layout, the_plan: Plan) -> None:
    stale = [
        f"{m.topic}-{m.partition}" for m in the_plan.moves if lay.assignment.get((m.topic, m.partition)) != m.current
    ]
    if stale:
        raise Conflict(
            f"The cluster changed since the plan was made ({len(stale)} partition(s), e.g. {stale[0]}); nothing was "
            "changed.",
            hint="Make the plan again (kafka_reassignment_plan) and execute the new one.",
        )


def _complete(
    permit: Permit,
    admin: AdminClient,
    jadmin: JavaAdmin,
    targets: dict[TP, list[int]],
    *,
    topics: list[str],
    brokers: list[int],
    timeout: float,
) -> tuple[ElectLeadersResult, Verification]:
    kthrottles.remove_throttles(permit, admin, topics=topics, brokers=brokers, timeout=timeout)
    lay = layout(admin, timeout=timeout)
    wrong_leader = sorted(tp for tp, t in targets.items() if t and lay.leaders.get(tp) != t[0])
    elected = elect_preferred_leaders(permit, admin, wrong_leader, timeout=timeout)
    return elected, verify(admin, jadmin, targets, timeout=timeout)


def execute(
    permit: Permit,
    admin: AdminClient,
    jadmin: JavaAdmin,
    the_plan: Plan,
    *,
    timeout: float,
    wait_s: float,
    progress: Progress | None = None,
) -> ExecuteResult:
    """Apply ``the_plan``: throttles on, reassignment submitted, then wait up to ``wait_s`` for it; when it completes,
    throttles off, preferred leaders elected, and the outcome verified. A plan made on a cluster that changed since
    is refused. Throttles set here are removed on every failure path."""
    for topic in the_plan.topics:
        permit.require("reassignment.execute", topic)
    rate = the_plan.throttle_bytes_per_s
    if not the_plan.moves:
        return ExecuteResult(
            plan_id=the_plan.plan_id,
            state="nothing_to_do",
            submitted=0,
            failed=[],
            throttle_bytes_per_s=rate,
            throttled_topics=[],
            throttled_brokers=[],
            throttles_removed=True,
            verification=None,
            progress=None,
            next_step="The cluster already matches the goal.",
        )
    lay = layout(admin, timeout=timeout)
    _check_current(lay, the_plan)
    running = running_reassignments(jadmin, timeout)
    if running:
        raise Conflict(
            f"{len(running)} partition(s) are being reassigned already; nothing was changed.",
            hint="Wait for them (kafka_reassignment_status, kafka_reassignment_finish) or cancel them first.",
        )
    topics: list[str] = []
    brokers: list[int] = []
    if rate:
        planned, brokers = kthrottles.plan_throttles(the_plan.moves)
        topics = sorted(planned)
    try:
        if rate:
            kthrottles.set_throttles(permit, admin, the_plan.moves, rate, timeout=timeout)
        moves = [{"topic": m.topic, "partition": m.partition, "replicas": m.target} for m in the_plan.moves]
        result = jadmin.mutate_op(permit, "alterReassignments", {"moves": moves}, timeout=timeout)
    except KafkaAgentError:
        if topics or brokers:
            kthrottles.remove_throttles(permit, admin, topics=topics, brokers=brokers, timeout=timeout)
        raise
    failed = []
    for key, err in sorted(result.items()):
        problem = error_of(err, what=f"reassign {key}")
        if problem is not None:
            topic, _, part = key.rpartition(":")
            failed.append(FailedMove(topic=topic, partition=int(part), error=str(problem)))
    targets = {
        (m.topic, m.partition): m.target
        for m in the_plan.moves
        if not any(f.topic == m.topic and f.partition == m.partition for f in failed)
    }
    if not targets:
        kthrottles.remove_throttles(permit, admin, topics=topics, brokers=brokers, timeout=timeout)
        raise Conflict(f"The controller refused every move: {failed[0].error}", hint="Nothing was changed.")
    now, done = wait_done(admin, jadmin, set(targets), timeout=timeout, wait_s=wait_s, progress=progress)
    if not done:
        return ExecuteResult(
            plan_id=the_plan.plan_id,
            state="in_progress",
            submitted=len(targets),
            failed=failed,
            throttle_bytes_per_s=rate,
            throttled_topics=topics,
            throttled_brokers=brokers,
            throttles_removed=False,
            verification=None,
            progress=now,
            next_step=(
                f"Still copying ({now.percent}%). The throttles stay until it ends: watch with "
                "kafka_reassignment_status, then call kafka_reassignment_finish (it waits, removes the throttles, "
                "elects the preferred leaders and verifies); kafka_reassignment_cancel reverts it."
            ),
        )
    elected, verification = _complete(permit, admin, jadmin, targets, topics=topics, brokers=brokers, timeout=timeout)
    return ExecuteResult(
        plan_id=the_plan.plan_id,
        state="completed",
        submitted=len(targets),
        failed=failed,
        throttle_bytes_per_s=rate,
        throttled_topics=topics,
        throttled_brokers=brokers,
        throttles_removed=True,
        elected=elected,
        verification=verification,
        progress=now,
        next_step="Done." if verification.ok else "Completed, but a check failed: see verification.",
    )


class FinishResult(BaseModel):
    state: Literal["completed", "in_progress"]
    throttles_removed: ThrottleState = Field(description="What was removed (empty when nothing was left).")
    elected: ElectLeadersResult | None
    verification: Verification | None
    progress: ReassignmentStatus


def finish(
    permit: Permit,
    admin: AdminClient,
    jadmin: JavaAdmin,
    left: ThrottleState,
    *,
    timeout: float,
    wait_s: float,
    progress: Progress | None = None,
) -> FinishResult:
    """Wait up to ``wait_s`` for every running reassignment; then remove the throttles ``left`` (read before the
    change was described to the gate), elect preferred leaders on their topics, and verify them."""
    now, done = wait_done(admin, jadmin, None, timeout=timeout, wait_s=wait_s, progress=progress)
    if not done:
        return FinishResult(
            state="in_progress",
            throttles_removed=ThrottleState(brokers={}, topics={}),
            elected=None,
            verification=None,
            progress=now,
        )
    topics = sorted(left.topics)
    lay = layout(admin, timeout=timeout)
    targets = {tp: reps for tp, reps in lay.assignment.items() if tp[0] in left.topics}
    elected, verification = _complete(
        permit, admin, jadmin, targets, topics=topics, brokers=sorted(left.brokers), timeout=timeout
    )
    return FinishResult(
        state="completed", throttles_removed=left, elected=elected, verification=verification, progress=now
    )


class CancelResult(BaseModel):
    cancelled: list[str] = Field(description="Partitions sent back to their replicas before the move.")
    failed: list[FailedMove]
    throttles_removed: ThrottleState


def cancel(
    permit: Permit,
    admin: AdminClient,
    jadmin: JavaAdmin,
    parts: list[TP],
    left: ThrottleState,
    *,
    timeout: float,
) -> CancelResult:
    """Revert the running moves of ``parts`` (their new copies are dropped, the old replicas stay) and remove the
    throttles ``left``."""
    for topic in sorted({t for t, _ in parts}):
        permit.require("reassignment.cancel", topic)
    failed: list[FailedMove] = []
    cancelled: list[str] = []
    if parts:
        moves = [{"topic": t, "partition": p, "replicas": None} for t, p in parts]
        result = jadmin.mutate_op(permit, "alterReassignments", {"moves": moves}, timeout=timeout)
        for key, err in sorted(result.items()):
            problem = error_of(err, what=f"cancel {key}")
            topic, _, part = key.rpartition(":")
            if problem is None:
                cancelled.append(f"{topic}-{part}")
            else:
                failed.append(FailedMove(topic=topic, partition=int(part), error=str(problem)))
    kthrottles.remove_throttles(
        permit, admin, topics=sorted(left.topics), brokers=sorted(left.brokers), timeout=timeout
    )
    return CancelResult(cancelled=cancelled, failed=failed, throttles_removed=left)


# --- how these changes are described to the gate ------------------------------------------------------------------


def plan_topics(the_plan: Plan) -> list[str]:
    """Every topic the plan touches (a drain moves internal topics' replicas too)."""
    return sorted(set(the_plan.topics) | {m.topic for m in the_plan.moves})


def execute_change(
    cluster: str, the_plan: Plan, *, tool: str, arguments: dict[str, Any] | None = None
) -> tuple[Change, str]:
    """The gate's view of executing ``the_plan``, and the effect a person confirms."""
    topics = plan_topics(the_plan)
    brokers = sorted({b for m in the_plan.moves for b in [*m.current, *m.target]})
    details: dict[str, Any] = {"goal": the_plan.goal, "replicas_moved": the_plan.replicas_moved}
    if the_plan.goal == "replication_factor" and the_plan.moves:
        details["replication_factor"] = len(the_plan.moves[0].target)
    change = Change(
        tool=tool,
        cluster=cluster,
        action="reassignment.execute",
        resource_type="replicas",
        resources=[*topics, *(broker_resource(b) for b in brokers)],
        implies=["throttle.set", "throttle.remove", "partition.leader.elect"],
        destructive=True,
        arguments=arguments if arguments is not None else {"plan_id": the_plan.plan_id},
        details=details,
    )
    removing = sorted({b for m in the_plan.moves for b in m.removing})
    eta = (
        f", about {the_plan.estimated_seconds:.0f} s at {the_plan.throttle_bytes_per_s:,} bytes/s"
        if the_plan.estimated_seconds is not None
        else (", unthrottled" if the_plan.throttle_bytes_per_s is None else "")
    )
    effect = (
        f"{the_plan.description} On cluster {cluster!r}: {the_plan.partitions_moved} partition(s) of {len(topics)} "
        f"topic(s) get new replicas ({the_plan.replicas_moved} copies, {the_plan.bytes_to_copy:,} bytes{eta}), "
        f"{the_plan.reorders} only change their preferred leader"
        + (f"; copies on broker(s) {removing} are deleted once the new ones are in sync" if removing else "")
        + ". Replication throttles are set for the copy and removed after; preferred leaders are elected."
    )
    return change, effect


def finish_change(cluster: str, left: ThrottleState, *, tool: str) -> Change:
    """Removing the throttles left after a reassignment (not destructive: it lifts a limit)."""
    return Change(
        tool=tool,
        cluster=cluster,
        action="throttle.remove",
        resource_type="replicas",
        resources=[*sorted(left.topics), *(broker_resource(b) for b in sorted(left.brokers))],
        implies=["partition.leader.elect"],
        arguments={"topics": sorted(left.topics), "brokers": sorted(left.brokers)},
    )


def cancel_change(cluster: str, parts: list[TP], left: ThrottleState, *, tool: str) -> tuple[Change, str]:
    topics = sorted({t for t, _ in parts} | set(left.topics))
    change = Change(
        tool=tool,
        cluster=cluster,
        action="reassignment.cancel",
        resource_type="replicas",
        resources=[*topics, *(broker_resource(b) for b in sorted(left.brokers))],
        implies=["throttle.remove"],
        arguments={"partitions": [f"{t}-{p}" for t, p in parts]},
    )
    effect = (
        f"Cancel the reassignment of {len(parts)} partition(s) on cluster {cluster!r} (their new copies are dropped, "
        f"the old replicas stay) and remove the replication throttles."
    )
    return change, effect
