"""Planning a partition reassignment: pure functions from the current assignment to a target, moving as few replicas
as it can.

    drain               every replica on the named brokers goes elsewhere
    replication_factor  add (or remove) replicas of the named topics until each partition has the asked RF
    spread              the named (new) brokers take their fair share, from the most loaded brokers
    balance             replicas and preferred leaders even out over all brokers (within one of each other)

Every goal is rack-aware: a replica is placed on a rack the partition does not use yet whenever there is one, and a
change never lowers the number of racks a partition spans. Replicas are counted per broker over the topics in
scope; among equally good choices the smaller partition moves (fewer bytes) and a replica this plan already moves is
redirected before a settled one is touched. Preferred leaders (the first replica) are evened out by reordering
replica lists, which copies nothing (a preferred leader election after the move makes it real).

Kafka's ``kafka-reassign-partitions --generate`` instead deals every listed partition out afresh, round robin from a
random start: balanced, but most replicas land somewhere new (``bench/reassign.py`` compares the two).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

from core.errors import InvalidArgument

Goal = Literal["drain", "replication_factor", "spread", "balance"]
TP = tuple[str, int]
Assignment = dict[TP, list[int]]


class Move(BaseModel):
    topic: str
    partition: int
    current: list[int] = Field(description="Replicas now, preferred leader first.")
    target: list[int] = Field(description="Replicas after the move, preferred leader first.")
    adding: list[int] = Field(description="Brokers that receive a copy.")
    removing: list[int] = Field(description="Brokers whose copy is deleted once the new ones are in sync.")
    bytes_to_copy: int = Field(description="Partition size x brokers receiving it.")


class BrokerLoad(BaseModel):
    broker: int
    rack: str | None
    replicas_before: int
    replicas_after: int
    leaders_before: int = Field(description="Partitions whose preferred leader is this broker, before.")
    leaders_after: int
    bytes_in: int = Field(description="Bytes this broker copies in.")
    bytes_out: int = Field(description="Bytes this broker sends as the current leader of moving partitions.")


class Balance(BaseModel):
    replicas_spread_before: int = Field(description="max - min replicas per broker, before (topics in scope).")
    replicas_spread_after: int
    leaders_spread_before: int = Field(description="max - min preferred leaders per broker, before.")
    leaders_spread_after: int
    rack_violations_before: int = Field(
        description="Partitions whose replicas share a rack while another rack is free."
    )
    rack_violations_after: int


class Plan(BaseModel):
    plan_id: str = Field(description="Digest of the target assignment: pass it to kafka_reassignment_execute.")
    goal: Goal
    description: str
    brokers: list[int] = Field(description="Brokers that may hold replicas after the plan.")
    topics: list[str] = Field(description="Topics in scope.")
    moves: list[Move] = Field(description="Partitions whose replicas or their order change.")
    replicas_moved: int = Field(description="Replica copies to make (one per broker receiving a partition).")
    partitions_moved: int = Field(description="Partitions that get a new replica set.")
    reorders: int = Field(description="Partitions whose replicas stay and only the preferred leader changes.")
    bytes_to_copy: int
    throttle_bytes_per_s: int | None
    estimated_seconds: float | None = Field(
        description="Busiest broker's bytes in or out divided by the throttle (data written meanwhile comes on top)."
    )
    balance: Balance
    broker_loads: list[BrokerLoad]
    notes: list[str] = Field(default_factory=list)

    def targets(self) -> dict[TP, list[int]]:
        return {(m.topic, m.partition): m.target for m in self.moves}


@dataclass
class _State:
    """The assignment being built, with the per-broker counts kept in step."""

    assignment: Assignment
    racks: dict[int, str | None]
    targets: list[int]
    sizes: dict[TP, int]
    original: Assignment
    scope: set[TP]
    count: Counter[int] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        for tp in self.scope:
            for b in self.assignment[tp]:
                self.count[b] += 1

    def rack(self, broker: int) -> str:
        return self.racks.get(broker) or f"#broker-{broker}"  # no rack: every broker is its own

    def rack_count(self) -> int:
        return len({self.rack(b) for b in self.targets})

    def diversity(self, replicas: list[int]) -> int:
        return len({self.rack(b) for b in replicas})

    def violates(self, replicas: list[int]) -> bool:
        return self.diversity(replicas) < min(len(replicas), self.rack_count())

    def pick(self, tp: TP, keep: list[int], *, among: list[int] | None = None) -> int | None:
        """A broker for one more replica of ``tp`` beside ``keep``: a new rack first, then the least loaded."""
        pool = [b for b in (among if among is not None else self.targets) if b not in keep]
        if not pool:
            return None
        used = {self.rack(b) for b in keep}
        fresh = [b for b in pool if self.rack(b) not in used]
        # A broker that held this partition before the plan gets it back for free.
        return min(
            fresh or pool,
            key=lambda b: (b not in self.original[tp], self.count[b], b),
        )

    def replace(self, tp: TP, old: int, new: int) -> None:
        replicas = self.assignment[tp]
        replicas[replicas.index(old)] = new
        self.count[old] -= 1
        self.count[new] += 1

    def cost(self, tp: TP, broker: int) -> int:
        """Bytes a replica of ``tp`` on ``broker`` costs: none if the broker already had it before the plan."""
        return 0 if broker in self.original[tp] else self.sizes.get(tp, 0)


def _spread(counts: list[int]) -> int:
    return max(counts) - min(counts) if counts else 0


def _leaders(assignment: Assignment, scope: set[TP], brokers: list[int]) -> Counter[int]:
    out: Counter[int] = Counter({b: 0 for b in brokers})
    for tp in scope:
        if assignment[tp]:
            out[assignment[tp][0]] += 1
    return out


def _replica_counts(assignment: Assignment, scope: set[TP], brokers: list[int]) -> Counter[int]:
    out: Counter[int] = Counter({b: 0 for b in brokers})
    for tp in scope:
        for b in assignment[tp]:
            out[b] += 1
    return out


def _drain(st: _State, tps: list[TP]) -> None:
    # The most constrained partitions first (most replicas, so fewest places left), while every broker is still free.
    for tp in sorted(tps, key=lambda tp: (-len(st.assignment[tp]), tp)):
        for old in [b for b in st.assignment[tp] if b not in st.targets]:
            keep = [b for b in st.assignment[tp] if b != old]
            new = st.pick(tp, keep)
            if new is None:
                raise InvalidArgument(
                    f"{tp[0]}-{tp[1]} has {len(st.assignment[tp])} replicas and only {len(st.targets)} broker(s) "
                    "would remain: lower its replication factor first, or keep more brokers."
                )
            st.replace(tp, old, new)


def _set_rf(st: _State, tps: list[TP], rf: int) -> None:
    for tp in tps:
        replicas = st.assignment[tp]
        while len(replicas) < rf:
            new = st.pick(tp, replicas)
            assert new is not None  # rf <= len(targets) was checked
            replicas.append(new)
            st.count[new] += 1
        while len(replicas) > rf:
            # Drop a follower (never the preferred leader) whose loss keeps the most racks, from the busiest broker.
            def keep_score(b: int, replicas: list[int] = replicas) -> tuple[int, int, int]:
                rest = [x for x in replicas if x != b]
                return (-st.diversity(rest), -st.count[b], -b)

            victim = min(replicas[1:], key=keep_score)
            replicas.remove(victim)
            st.count[victim] -= 1


def _fix_racks(st: _State, tps: list[TP]) -> None:
    for tp in tps:
        replicas = st.assignment[tp]
        while st.violates(replicas):
            seen: set[str] = set()
            dup = None
            for b in replicas:  # the later duplicate, so a preferred leader stays where it is
                if st.rack(b) in seen:
                    dup = b
                seen.add(st.rack(b))
            assert dup is not None
            keep = [b for b in replicas if b != dup]
            used = {st.rack(b) for b in keep}
            new = st.pick(tp, keep, among=[b for b in st.targets if st.rack(b) not in used])
            if new is None:
                break
            st.replace(tp, dup, new)


def _balance(
    st: _State, tps: list[TP], receivers: list[int] | None, notes: list[str], *, redirect_only: bool = False
) -> None:
    """Move replicas from the busiest brokers to the idlest until counts are within one (``receivers``: only those
    brokers take replicas, as when spreading onto new brokers; ``redirect_only``: only copies this plan already
    makes change their destination, as after a drain)."""
    total = sum(st.count[b] for b in st.targets)
    floor = total // len(st.targets)
    ceil = math.ceil(total / len(st.targets))
    on: dict[int, set[TP]] = {b: set() for b in st.targets}
    for tp in tps:
        for b in st.assignment[tp]:
            if b in on:
                on[b].add(tp)
    takers = receivers if receivers is not None else st.targets
    stuck: set[tuple[int, int]] = set()
    while True:
        if receivers is not None:
            needy = [b for b in takers if st.count[b] < floor]
        else:
            high = max(st.count[b] for b in st.targets)
            low = min(st.count[b] for b in st.targets)
            needy = [b for b in takers if st.count[b] < ceil] if high - low > 1 else []
        givers = sorted(
            (b for b in st.targets if b not in needy and st.count[b] > floor), key=lambda b: (-st.count[b], b)
        )
        pairs = [
            (src, dst)
            for dst in sorted(needy, key=lambda b: (st.count[b], b))
            for src in givers
            if st.count[src] - st.count[dst] > 1 and (src, dst) not in stuck
        ]
        if not pairs:
            break
        src, dst = pairs[0]
        candidates = []
        for tp in on[src]:
            replicas = st.assignment[tp]
            if dst in replicas or (redirect_only and src in st.original[tp]):
                continue
            after = [dst if b == src else b for b in replicas]
            if st.diversity(after) < st.diversity(replicas):  # never fewer racks
                continue
            was_leader = replicas[0] == src
            extra = st.cost(tp, dst) - st.cost(tp, src)  # redirecting a copy this plan makes costs nothing more
            candidates.append((extra, was_leader, st.sizes.get(tp, 0), tp))
        if not candidates:
            stuck.add((src, dst))
            continue
        _extra, _lead, _size, tp = min(candidates)
        st.replace(tp, src, dst)
        on[src].discard(tp)
        on[dst].add(tp)
    if receivers is not None:
        short = [b for b in receivers if st.count[b] < floor]
        if short:
            notes.append(f"Broker(s) {short} stay below their share ({floor}): the racks leave no valid move.")


def _balance_leaders(st: _State, tps: list[TP]) -> None:
    """Reorder replica lists so that preferred leaders are within one per broker (no data moves)."""
    lead = _leaders(st.assignment, set(tps), st.targets)
    done: set[int] = set()
    while True:
        ranked = sorted((b for b in st.targets if b not in done), key=lambda b: (-lead[b], b))
        if not ranked or _spread([lead[b] for b in st.targets]) <= 1:
            return
        src = ranked[0]
        best: tuple[int, TP, int] | None = None
        for tp in sorted(tps):
            replicas = st.assignment[tp]
            if not replicas or replicas[0] != src:
                continue
            for i, b in enumerate(replicas[1:], start=1):
                if b in lead and lead[b] < lead[src] - 1 and (best is None or lead[b] < best[0]):
                    best = (lead[b], tp, i)
        if best is None:
            done.add(src)
            continue
        _, tp, i = best
        replicas = st.assignment[tp]
        new = replicas[i]
        replicas[0], replicas[i] = replicas[i], replicas[0]
        lead[src] -= 1
        lead[new] += 1


def plan_id(targets: dict[TP, list[int]]) -> str:
    body = json.dumps(sorted([t, p, r] for (t, p), r in targets.items()))
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def make_plan(
    assignment: Assignment,
    racks: dict[int, str | None],
    *,
    goal: Goal,
    scope: list[str],
    sizes: dict[TP, int] | None = None,
    brokers: list[int] | None = None,
    replication_factor: int | None = None,
    throttle_bytes_per_s: int | None = None,
    leaders: dict[TP, int] | None = None,
) -> Plan:
    """The target assignment for ``goal`` over the partitions of ``scope`` (topics), from ``assignment`` (every
    partition of the cluster, preferred leader first) on the live brokers ``racks`` (id -> rack or None).

    ``brokers``: drain -> the brokers to empty; spread -> the brokers to fill. ``sizes``: bytes per partition (the
    largest replica), for the bytes to copy and the estimate. ``leaders``: current leaders, for the bytes each
    broker sends."""
    sizes = sizes or {}
    live = sorted(racks)
    named = sorted(set(brokers or []))
    unknown = [b for b in named if b not in racks]
    if unknown and goal != "drain":
        raise InvalidArgument(f"Broker(s) {unknown} are not in the cluster (brokers: {live}).")
    if goal in ("drain", "spread") and not named:
        raise InvalidArgument(f"Goal {goal!r} needs the brokers to {'empty' if goal == 'drain' else 'fill'}.")
    if goal == "replication_factor" and not replication_factor:
        raise InvalidArgument("Goal 'replication_factor' needs replication_factor (and the topics to change).")
    targets = [b for b in live if b not in named] if goal == "drain" else live
    if not targets:
        raise InvalidArgument("Draining every broker leaves nowhere to put the replicas.")
    if replication_factor is not None and replication_factor > len(targets):
        raise InvalidArgument(
            f"Replication factor {replication_factor} needs {replication_factor} brokers; {len(targets)} are available."
        )
    topics = sorted(set(scope))
    in_scope = {tp for tp in assignment if tp[0] in set(topics)}
    if goal == "drain":  # every partition on a drained broker moves, internal topics too
        in_scope |= {tp for tp, reps in assignment.items() if set(reps) & set(named)}
    original = {tp: list(r) for tp, r in assignment.items()}
    work = {tp: list(r) for tp, r in assignment.items()}
    st = _State(work, racks, targets, sizes, original, in_scope)
    ordered = sorted(in_scope)
    before_counts = _replica_counts(original, in_scope, targets)
    before_leaders = _leaders(original, in_scope, targets)
    violations_before = sum(1 for tp in ordered if st.violates(original[tp]))
    notes: list[str] = []

    if goal == "drain":
        _drain(st, [tp for tp in ordered if set(work[tp]) & set(named)])
    offline = sorted({b for tp in ordered for b in work[tp] if b not in racks and b not in named})
    if offline:
        notes.append(
            f"Broker(s) {offline} hold replicas but are not in the cluster now: those replicas stay listed (drain "
            "the broker to move them); a move onto them cannot finish while they are down."
        )
    if goal == "replication_factor":
        assert replication_factor is not None
        _set_rf(st, [tp for tp in ordered if tp[0] in set(topics)], replication_factor)
    touched = [tp for tp in ordered if work[tp] != original[tp]]
    _fix_racks(st, ordered if goal in ("balance", "spread") else touched)
    if goal == "balance":
        _balance(st, ordered, None, notes)
    elif goal == "spread":
        _balance(st, ordered, named, notes)
    else:  # the copies a drain or a new replication factor makes go where they even out the counts
        _balance(st, ordered, None, notes, redirect_only=True)
    _balance_leaders(st, ordered)

    moves: list[Move] = []
    bytes_in: Counter[int] = Counter()
    bytes_out: Counter[int] = Counter()
    reorders = 0
    for tp in ordered:
        cur, tgt = original[tp], work[tp]
        if cur == tgt:
            continue
        adding = [b for b in tgt if b not in cur]
        removing = [b for b in cur if b not in tgt]
        size = sizes.get(tp, 0)
        if not adding and not removing:
            reorders += 1
        for b in adding:
            bytes_in[b] += size
        source = (leaders or {}).get(tp, cur[0] if cur else -1)
        bytes_out[source] += size * len(adding)
        moves.append(
            Move(
                topic=tp[0],
                partition=tp[1],
                current=cur,
                target=tgt,
                adding=adding,
                removing=removing,
                bytes_to_copy=size * len(adding),
            )
        )
    total_bytes = sum(m.bytes_to_copy for m in moves)
    busiest = max([*bytes_in.values(), *bytes_out.values(), 0])
    estimate = round(busiest / throttle_bytes_per_s, 1) if throttle_bytes_per_s else None
    if throttle_bytes_per_s is None and total_bytes:
        notes.append("No throttle: the copy runs as fast as the brokers can, competing with clients.")
    missing = [f"{m.topic}-{m.partition}" for m in moves if m.adding and (m.topic, m.partition) not in sizes]
    if missing:
        notes.append(f"No size known for {len(missing)} partition(s) (e.g. {missing[0]}): counted as 0 bytes.")
    after_counts = _replica_counts(work, in_scope, targets)
    after_leaders = _leaders(work, in_scope, targets)
    loads = [
        BrokerLoad(
            broker=b,
            rack=racks.get(b),
            replicas_before=_replica_counts(original, in_scope, [b])[b],
            replicas_after=after_counts[b] if b in targets else 0,
            leaders_before=_leaders(original, in_scope, [b])[b],
            leaders_after=after_leaders[b] if b in targets else 0,
            bytes_in=bytes_in[b],
            bytes_out=bytes_out[b],
        )
        for b in live
    ]
    return Plan(
        plan_id=plan_id({(m.topic, m.partition): m.target for m in moves}),
        goal=goal,
        description=_describe(goal, named, topics, replication_factor),
        brokers=targets,
        topics=topics,
        moves=moves,
        replicas_moved=sum(len(m.adding) for m in moves),
        partitions_moved=sum(1 for m in moves if m.adding or m.removing),
        reorders=reorders,
        bytes_to_copy=total_bytes,
        throttle_bytes_per_s=throttle_bytes_per_s,
        estimated_seconds=estimate,
        balance=Balance(
            replicas_spread_before=_spread([before_counts[b] for b in targets]),
            replicas_spread_after=_spread([after_counts[b] for b in targets]),
            leaders_spread_before=_spread([before_leaders[b] for b in targets]),
            leaders_spread_after=_spread([after_leaders[b] for b in targets]),
            rack_violations_before=violations_before,
            rack_violations_after=sum(1 for tp in ordered if st.violates(work[tp])),
        ),
        broker_loads=loads,
        notes=notes,
    )


def _describe(goal: Goal, named: list[int], topics: list[str], rf: int | None) -> str:
    shown = ", ".join(topics[:5]) + (f" and {len(topics) - 5} more" if len(topics) > 5 else "")
    if goal == "drain":
        return f"Move every replica off broker(s) {named}."
    if goal == "replication_factor":
        return f"Set the replication factor of {shown} to {rf}."
    if goal == "spread":
        return f"Give broker(s) {named} their share of the replicas of {shown}."
    return f"Even out replicas and preferred leaders of {shown} over all brokers."
