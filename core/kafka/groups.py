"""Consumer groups: list, describe, committed offsets (many groups at once), offset resets and deletion."""

from __future__ import annotations

import re
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from core.errors import Conflict, InvalidArgument, KafkaAgentError, NotFound, kafka_error_code, translate_kafka_error
from core.kafka._futures import metadata, wait
from core.kafka.offsets import list_offsets
from core.names import check_group

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

    from core.gate import Permit

# librdkafka reports "no committed offset" as OFFSET_INVALID (-1001).
NO_OFFSET = -1001
ACTIVE_STATES = {"STABLE", "PREPARING_REBALANCING", "COMPLETING_REBALANCING", "ASSIGNING", "RECONCILING"}
STATES = ["STABLE", "EMPTY", "DEAD", "PREPARING_REBALANCING", "COMPLETING_REBALANCING", "UNKNOWN"]

# Answers that mean "ask again shortly": the group's coordinator is loading, moving or not elected yet.
COORDINATOR_MOVING = {"NOT_COORDINATOR", "COORDINATOR_LOAD_IN_PROGRESS", "COORDINATOR_NOT_AVAILABLE"}
COORDINATOR_BACKOFF_S = 0.2

ResetTo = Literal["earliest", "latest", "timestamp", "offset", "shift"]


class GroupSummary(BaseModel):
    group_id: str
    state: str = Field(description="STABLE, EMPTY, DEAD, PREPARING_REBALANCING, COMPLETING_REBALANCING, UNKNOWN.")
    type: str = Field(description="Group protocol: CLASSIC or CONSUMER (KIP-848); UNKNOWN if the broker did not say.")
    simple: bool = Field(description="True for a group that only stores offsets and never had members join.")
    member_count: int | None = Field(description="Members now; null when the group could not be described.")


class GroupList(BaseModel):
    groups: list[GroupSummary]
    count: int
    errors: list[str] = Field(default_factory=list, description="Brokers that could not list their groups.")


class MemberPartitions(BaseModel):
    topic: str
    partitions: list[int]


class GroupMember(BaseModel):
    member_id: str
    client_id: str
    host: str
    group_instance_id: str | None = Field(description="Static membership id, if set.")
    assignment: list[MemberPartitions]


class Coordinator(BaseModel):
    node_id: int
    host: str
    port: int


class GroupDescription(BaseModel):
    group_id: str
    state: str
    type: str
    simple: bool
    partition_assignor: str | None
    coordinator: Coordinator | None
    members: list[GroupMember]
    member_count: int


class OffsetPlanEntry(BaseModel):
    topic: str
    partition: int
    current: int | None = Field(description="Committed offset now; null when the group has none for the partition.")
    planned: int = Field(description="The offset the reset sets (the next record the group will read).")
    log_start: int
    log_end: int
    clamped: bool = Field(False, description="True when the target was outside the log and clamped=True moved it.")
    note: str | None = None


class DeleteGroupResult(BaseModel):
    group_id: str
    deleted: bool
    committed_partitions: int = Field(description="Partitions the group had committed offsets for.")


# --- helpers ----------------------------------------------------------------------------------------------------


def _enum_name(value: Any) -> str:
    if value is None:
        return "UNKNOWN"
    return str(getattr(value, "name", value)).upper()


def validate_group_id(group: str) -> str:
    if not isinstance(group, str) or not group.strip():
        raise InvalidArgument("The group id is empty.", hint="Give a group id; see kafka_list_consumer_groups.")
    return check_group(group)


def list_groups(
    admin: AdminClient,
    *,
    timeout: float,
    states: list[str] | None = None,
    name_pattern: str | None = None,
    topic: str | None = None,
) -> GroupList:
    """Every consumer group (optionally only some states / names / one topic); member counts come from one batched
    describe; the topic filter keeps groups with a member assigned to it or a committed offset on it."""
    from confluent_kafka import ConsumerGroupState

    kwargs: dict[str, Any] = {}
    if states:
        wanted = {s.upper() for s in states}
        unknown = sorted(wanted - set(STATES))
        if unknown:
            raise InvalidArgument(f"Unknown group state(s): {', '.join(unknown)}.", hint=f"Use {', '.join(STATES)}.")
        kwargs["states"] = {ConsumerGroupState[s] for s in wanted}
    matcher = None
    if name_pattern:
        try:
            matcher = re.compile(name_pattern)
        except re.error as exc:
            raise InvalidArgument(f"name_pattern {name_pattern!r} is not a valid regular expression: {exc}.") from None
    result = _list(admin, timeout=timeout, **kwargs)
    listings = sorted(result.valid or [], key=lambda g: g.group_id)
    if matcher is not None:
        listings = [g for g in listings if matcher.search(g.group_id)]
    errors = [translate_kafka_error(e, what="list groups on a broker").message for e in (result.errors or [])]
    members: dict[str, int] = {}
    on_topic: set[str] = set()
    if listings:
        for gid, desc in describe_many(admin, [g.group_id for g in listings], timeout=timeout).items():
            if not isinstance(desc, Exception):
                members[gid] = len(desc.members or [])
                for m in desc.members or []:
                    if any(tp.topic == topic for tp in getattr(m.assignment, "topic_partitions", None) or []):
                        on_topic.add(gid)
    if topic is not None:
        others = [g.group_id for g in listings if g.group_id not in on_topic]
        for gid, offsets in committed_offsets_many(admin, others, timeout=timeout).items():
            if isinstance(offsets, dict) and any(t == topic for t, _ in offsets):
                on_topic.add(gid)
        listings = [g for g in listings if g.group_id in on_topic]
    groups = [
        GroupSummary(
            group_id=g.group_id,
            state=_enum_name(g.state),
            type=_enum_name(getattr(g, "type", None)),
            simple=bool(g.is_simple_consumer_group),
            member_count=members.get(g.group_id),
        )
        for g in listings
    ]
    return GroupList(groups=groups, count=len(groups), errors=errors)


def _list(admin: AdminClient, *, timeout: float, **kwargs: Any) -> Any:
    """ListConsumerGroups; an answer with errors and no group at all (no broker answered) is an error."""
    result = wait(
        admin.list_consumer_groups(request_timeout=timeout, **kwargs), what="list consumer groups", timeout=timeout + 1
    )
    if result.errors and not result.valid:
        raise translate_kafka_error(result.errors[0], what="list consumer groups")
    return result


def all_group_ids(admin: AdminClient, *, timeout: float) -> list[str]:
    result = _list(admin, timeout=timeout)
    return sorted(g.group_id for g in (result.valid or []))


def describe_many(admin: AdminClient, groups: list[str], *, timeout: float) -> dict[str, Any]:
    """Raw descriptions of many groups in one request; each maps to its description or its translated error."""
    if not groups:
        return {}
    out: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    pending = list(groups)
    while pending:
        futures = admin.describe_consumer_groups(pending, request_timeout=timeout)
        pending = []
        for gid, future in futures.items():
            try:
                out[gid] = future.result(timeout=timeout + 1)
            except Exception as exc:
                if _coordinator_moving(exc) and time.monotonic() + COORDINATOR_BACKOFF_S < deadline:
                    pending.append(gid)  # a broker that just started, or a coordinator that moved: ask again
                else:
                    out[gid] = translate_kafka_error(exc, what=f"describe group {gid!r}")
        if pending:
            time.sleep(COORDINATOR_BACKOFF_S)
    return out


def _coordinator_moving(exc: Exception) -> bool:
    """The group's coordinator is loading, moving or not elected yet: Kafka's answer says to ask again."""
    return kafka_error_code(exc) in COORDINATOR_MOVING


def _is_missing(desc: Any) -> bool:
    """A group the coordinator does not know: DEAD with no members (Kafka's answer for unknown ids)."""
    if isinstance(desc, NotFound):
        return True
    if isinstance(desc, Exception):
        return False
    return _enum_name(desc.state) == "DEAD" and not desc.members


def _not_found(group: str) -> NotFound:
    return NotFound(
        f"Consumer group {group!r} does not exist.",
        hint="List the groups with kafka_list_consumer_groups (a group exists once a consumer joined or committed).",
    )


def describe_group(admin: AdminClient, group: str, *, timeout: float) -> GroupDescription:
    validate_group_id(group)
    desc = describe_many(admin, [group], timeout=timeout)[group]
    if _is_missing(desc):
        raise _not_found(group)
    if isinstance(desc, KafkaAgentError):
        raise desc
    members = []
    for m in sorted(desc.members or [], key=lambda m: m.member_id):
        by_topic: dict[str, list[int]] = {}
        for tp in getattr(m.assignment, "topic_partitions", None) or []:
            by_topic.setdefault(tp.topic, []).append(tp.partition)
        members.append(
            GroupMember(
                member_id=m.member_id,
                client_id=m.client_id,
                host=m.host,
                group_instance_id=m.group_instance_id,
                assignment=[MemberPartitions(topic=t, partitions=sorted(p)) for t, p in sorted(by_topic.items())],
            )
        )
    coord = desc.coordinator
    return GroupDescription(
        group_id=group,
        state=_enum_name(desc.state),
        type=_enum_name(getattr(desc, "type", None)),
        simple=bool(desc.is_simple_consumer_group),
        partition_assignor=desc.partition_assignor or None,
        coordinator=Coordinator(node_id=coord.id, host=coord.host, port=coord.port) if coord is not None else None,
        members=members,
        member_count=len(members),
    )


def committed_offsets_many(
    admin: AdminClient, groups: list[str], *, timeout: float
) -> dict[str, dict[tuple[str, int], int | None] | KafkaAgentError]:
    """Committed offsets of many groups. The API takes one group per request, so every request is issued at once
    and the futures are awaited together. ``None`` marks a partition without a committed offset."""
    from confluent_kafka import ConsumerGroupTopicPartitions

    futures: dict[str, Future[Any]] = {}
    for gid in groups:
        request = [ConsumerGroupTopicPartitions(gid)]
        futures[gid] = admin.list_consumer_group_offsets(request, request_timeout=timeout)[gid]
    out: dict[str, dict[tuple[str, int], int | None] | KafkaAgentError] = {}
    deadline = time.monotonic() + timeout + 1
    for gid, future in futures.items():
        try:
            result = future.result(timeout=max(0.1, deadline - time.monotonic()))
        except Exception as exc:
            out[gid] = translate_kafka_error(exc, what=f"list committed offsets of group {gid!r}")
            continue
        offsets: dict[tuple[str, int], int | None] = {}
        for tp in result.topic_partitions or []:
            offsets[(tp.topic, tp.partition)] = None if tp.offset < 0 else int(tp.offset)
        out[gid] = offsets
    return out


def committed_offsets(admin: AdminClient, group: str, *, timeout: float) -> dict[tuple[str, int], int | None]:
    result = committed_offsets_many(admin, [group], timeout=timeout)[group]
    if isinstance(result, KafkaAgentError):
        raise result
    return result


def require_inactive(admin: AdminClient, group: str, *, timeout: float, action: str) -> Any:
    """The group's raw description; ``NotFound`` if unknown, ``Conflict`` (with the members) if it has members."""
    validate_group_id(group)
    desc = describe_many(admin, [group], timeout=timeout)[group]
    if _is_missing(desc):
        raise _not_found(group)
    if isinstance(desc, KafkaAgentError):
        raise desc
    members = desc.members or []
    state = _enum_name(desc.state)
    if members or state in ACTIVE_STATES:
        who = ", ".join(sorted({f"{m.client_id}@{m.host}" for m in members})) or "members joining"
        raise Conflict(
            f"Cannot {action}: consumer group {group!r} is {state} with {len(members)} active member(s) ({who}).",
            hint="Stop every consumer of the group first (the group must be EMPTY), then retry.",
        )
    return desc


# --- offset reset -----------------------------------------------------------------------------------------------


def _topic_partitions(admin: AdminClient, topic: str, partitions: list[int] | None, *, timeout: float) -> list[int]:
    from core.kafka.topics import require_topic

    tmeta = require_topic(admin, topic, timeout=timeout)
    existing = sorted(tmeta.partitions)
    if partitions is None:
        return existing
    missing = sorted(set(partitions) - set(existing))
    if missing:
        raise InvalidArgument(
            f"Topic {topic!r} has no partition(s) {', '.join(map(str, missing))}.",
            hint=f"It has partitions 0..{len(existing) - 1}.",
        )
    return sorted(set(partitions))


def plan_reset(
    admin: AdminClient,
    group: str,
    topic: str,
    *,
    to: ResetTo,
    value: int | None,
    partitions: list[int] | None,
    clamp: bool,
    timeout: float,
) -> list[OffsetPlanEntry]:
    """Current and planned offset per partition. Targets outside [log start, log end] are refused, or moved to the
    nearest end when ``clamp``. Refuses a group with active members."""
    if to in ("timestamp", "offset", "shift") and value is None:
        raise InvalidArgument(f"Reset to {to!r} needs a value.", hint=_VALUE_HINT)
    if to in ("earliest", "latest") and value is not None:
        raise InvalidArgument(f"Reset to {to!r} takes no value (got {value}).", hint=_VALUE_HINT)
    if to == "timestamp" and value is not None and value > time.time() * 1000 + 1000:
        raise InvalidArgument(
            f"Timestamp {value} ms is in the future; no record can be at or after it.",
            hint="Give a past time in milliseconds since the epoch, or reset to 'latest'.",
        )
    if to == "offset" and value is not None and value < 0:
        raise InvalidArgument(f"Offset {value} is negative.", hint="Give an offset of 0 or more.")
    require_inactive(admin, group, timeout=timeout, action="reset offsets")
    parts = _topic_partitions(admin, topic, partitions, timeout=timeout)
    tps = [(topic, p) for p in parts]
    low = list_offsets(admin, tps, "earliest", timeout=timeout, read_committed=False)
    high = list_offsets(admin, tps, "latest", timeout=timeout, read_committed=False)
    current = committed_offsets(admin, group, timeout=timeout)
    by_time = list_offsets(admin, tps, int(value), timeout=timeout) if to == "timestamp" and value is not None else {}
    plan: list[OffsetPlanEntry] = []
    out_of_range: list[str] = []
    for tp in tps:
        lo, hi, cur = low[tp], high[tp], current.get(tp)
        note = None
        if to == "earliest":
            target = lo
        elif to == "latest":
            target = hi
        elif to == "timestamp":
            target = by_time[tp]
            if target < 0:
                target, note = hi, "no record at or after the timestamp: set to the log end"
        elif to == "offset":
            target = int(value or 0)
        else:
            if cur is None:
                raise InvalidArgument(
                    f"Cannot shift partition {topic}[{tp[1]}]: group {group!r} has no committed offset there.",
                    hint="Reset that partition to 'earliest', 'latest', a timestamp or an offset instead.",
                )
            target = cur + int(value or 0)
        clamped = False
        if target < lo or target > hi:
            if not clamp:
                out_of_range.append(f"{topic}[{tp[1]}] -> {target} (log is {lo}..{hi})")
                continue
            target, clamped = min(max(target, lo), hi), True
        plan.append(
            OffsetPlanEntry(
                topic=topic,
                partition=tp[1],
                current=cur,
                planned=target,
                log_start=lo,
                log_end=hi,
                clamped=clamped,
                note=note,
            )
        )
    if out_of_range:
        raise InvalidArgument(
            f"The reset would move {len(out_of_range)} partition(s) outside the log: {'; '.join(out_of_range[:10])}"
            + (" ..." if len(out_of_range) > 10 else "")
            + ".",
            hint="Choose a target inside [log start, log end], or pass clamp=true to stop at the nearest end.",
        )
    return plan


_VALUE_HINT = (
    "to='timestamp' takes ms since the epoch, to='offset' an offset, to='shift' a signed count; "
    "'earliest' and 'latest' take none."
)


def apply_reset(permit: Permit, admin: AdminClient, group: str, plan: list[OffsetPlanEntry], *, timeout: float) -> None:
    """Commit the planned offsets for the group (refused by the coordinator if members joined meanwhile)."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

    permit.require("group.offsets.reset", group)
    if not plan:
        return
    tps = [TopicPartition(e.topic, e.partition, e.planned) for e in plan]
    futures = admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, tps)], request_timeout=timeout)
    result = wait(futures[group], what=f"reset offsets of group {group!r}", timeout=timeout + 1)
    errors = [f"{tp.topic}[{tp.partition}]: {tp.error}" for tp in (result.topic_partitions or []) if tp.error]
    if errors:
        raise Conflict(f"The coordinator refused part of the reset of group {group!r}: {'; '.join(errors)}.")


def delete_group(permit: Permit, admin: AdminClient, group: str, *, timeout: float) -> DeleteGroupResult:
    permit.require("group.delete", group)
    require_inactive(admin, group, timeout=timeout, action="delete the group")
    committed = len(committed_offsets(admin, group, timeout=timeout))
    futures = admin.delete_consumer_groups([group], request_timeout=timeout)
    wait(futures[group], what=f"delete consumer group {group!r}", timeout=timeout + 1)
    return DeleteGroupResult(group_id=group, deleted=True, committed_partitions=committed)


def topic_partition_ids(admin: AdminClient, *, timeout: float) -> dict[str, set[int]]:
    """Topic -> partition ids, from one metadata request."""
    meta = metadata(admin, timeout=timeout)
    return {name: set(t.partitions) for name, t in meta.topics.items()}
