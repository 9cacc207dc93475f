"""The planner on synthetic clusters (pure functions, no Kafka): fewest moves, balance within one, racks kept."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from core.errors import InvalidArgument
from core.kafka.reassign_plan import Assignment, make_plan


def _cluster(seed: int, brokers: int = 3, topics: int = 50) -> tuple[Assignment, dict[tuple[str, int], int]]:
    """Topics of 1-6 partitions, RF 1 or 3, placed round robin on brokers 1..n (as Kafka creates them)."""
    rnd = random.Random(seed)
    assignment: Assignment = {}
    for t in range(topics):
        rf = rnd.choice([1, 3, 3])
        for p in range(rnd.choice([1, 2, 3, 4, 6])):
            start = (t + p) % brokers
            assignment[(f"t{t:02d}", p)] = [(start + i) % brokers + 1 for i in range(rf)]
    sizes = {tp: rnd.randint(1_000, 5_000_000) for tp in assignment}
    return assignment, sizes


def _counts(assignment: Assignment, brokers: list[int]) -> Counter[int]:
    out: Counter[int] = Counter({b: 0 for b in brokers})
    for reps in assignment.values():
        out.update(reps)
    return out


def _apply(assignment: Assignment, plan: object) -> Assignment:
    after = {tp: list(r) for tp, r in assignment.items()}
    after.update(plan.targets())  # type: ignore[attr-defined]
    return after


def _round_robin_moves(assignment: Assignment, brokers: list[int], seed: int) -> int:
    """What Kafka's --generate does (AdminUtils.assignReplicasToBrokers, rack-unaware): per topic, a random start and
    a shifting follower offset; replicas moved = copies on brokers that did not hold the partition."""
    rnd = random.Random(seed)
    moved = 0
    n = len(brokers)
    for topic in sorted({t for t, _ in assignment}):
        parts = sorted(p for t, p in assignment if t == topic)
        start, shift = rnd.randrange(n), rnd.randrange(n)
        for p in parts:
            rf = len(assignment[(topic, p)])
            if p > 0 and p % n == 0:
                shift += 1
            first = (p + start) % n
            target = [brokers[first]] + [brokers[(first + 1 + (shift + j) % (n - 1)) % n] for j in range(rf - 1)]
            moved += len(set(target) - set(assignment[(topic, p)]))
    return moved


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_spread_moves_the_fewest_replicas_and_balances_within_one(seed: int) -> None:
    assignment, sizes = _cluster(seed)
    racks = {1: None, 2: None, 3: None, 4: None}
    topics = sorted({t for t, _ in assignment})
    plan = make_plan(assignment, racks, goal="spread", scope=topics, brokers=[4], sizes=sizes)
    total = sum(len(r) for r in assignment.values())
    # The fewest possible: broker 4 must end with its floor share, and every copy onto it is one move.
    assert plan.replicas_moved == total // 4
    after = _counts(_apply(assignment, plan), [1, 2, 3, 4])
    assert max(after.values()) - min(after.values()) <= 1
    assert plan.balance.replicas_spread_after <= 1 and plan.balance.leaders_spread_after <= 1
    assert plan.replicas_moved < _round_robin_moves(assignment, [1, 2, 3, 4], seed)
    # Every move puts a replica on the new broker only, and the bytes are the moved partitions' sizes.
    assert all(m.adding in ([], [4]) for m in plan.moves)
    assert plan.bytes_to_copy == sum(sizes[(m.topic, m.partition)] for m in plan.moves if m.adding)


def test_same_cluster_same_plan() -> None:
    assignment, sizes = _cluster(7)
    racks = {1: "a", 2: "b", 3: "c", 4: "d"}
    topics = sorted({t for t, _ in assignment})
    one = make_plan(assignment, racks, goal="balance", scope=topics, sizes=sizes)
    two = make_plan(dict(reversed(list(assignment.items()))), racks, goal="balance", scope=topics, sizes=sizes)
    assert one.plan_id == two.plan_id and one.moves == two.moves


def test_drain_empties_the_broker_and_keeps_racks() -> None:
    assignment, sizes = _cluster(4, brokers=4)
    racks = {1: "a", 2: "b", 3: "c", 4: "d"}
    topics = sorted({t for t, _ in assignment})
    plan = make_plan(
        assignment, racks, goal="drain", scope=topics, brokers=[4], sizes=sizes, throttle_bytes_per_s=10**6
    )
    after = _apply(assignment, plan)
    assert not [tp for tp, reps in after.items() if 4 in reps]
    # Only partitions that had a copy on 4 move, each by exactly that copy.
    assert {(m.topic, m.partition) for m in plan.moves if m.adding} == {tp for tp, r in assignment.items() if 4 in r}
    assert all(len(m.adding) == 1 and m.removing == [4] for m in plan.moves if m.adding)
    assert plan.balance.rack_violations_after == 0
    assert all(len({racks[b] for b in reps}) == len(reps) for reps in after.values())
    assert plan.balance.replicas_spread_after <= 1
    busiest = max([b.bytes_in for b in plan.broker_loads] + [b.bytes_out for b in plan.broker_loads])
    assert plan.estimated_seconds == round(busiest / 10**6, 1)


def test_replication_factor_change_is_rack_aware() -> None:
    assignment: Assignment = {("orders", p): [p % 3 + 1] for p in range(6)}
    assignment.update({("other", p): [1, 2, 3] for p in range(3)})
    racks = {1: "a", 2: "b", 3: "c", 4: "a", 5: "b", 6: "c"}
    plan = make_plan(assignment, racks, goal="replication_factor", scope=["orders"], replication_factor=3)
    after = _apply(assignment, plan)
    for p in range(6):
        reps = after[("orders", p)]
        assert len(reps) == 3
        assert sorted(racks[b] for b in reps) == ["a", "b", "c"]
        assert assignment[("orders", p)][0] in reps  # the existing copy stays: only new ones are made
    assert plan.replicas_moved == 12 and all(m.removing == [] for m in plan.moves)
    assert all(after[("other", p)] == [1, 2, 3] for p in range(3))
    down = make_plan(after, racks, goal="replication_factor", scope=["orders"], replication_factor=2)
    assert down.replicas_moved == 0 and all(len(m.target) == 2 and len(m.removing) == 1 for m in down.moves)
    assert all(len({racks[b] for b in m.target}) == 2 for m in down.moves)


def test_balance_repairs_shared_racks_without_losing_any() -> None:
    racks = {1: "a", 2: "a", 3: "b", 4: "c"}
    assignment: Assignment = {("t", p): [1, 2] for p in range(4)}  # both copies in rack a
    plan = make_plan(assignment, racks, goal="balance", scope=["t"])
    assert plan.balance.rack_violations_before == 4 and plan.balance.rack_violations_after == 0
    after = _apply(assignment, plan)
    assert all(len({racks[b] for b in reps}) == 2 for reps in after.values())


def test_leaders_even_out_by_reordering_only() -> None:
    assignment: Assignment = {("t", p): [1, 2, 3] for p in range(9)}  # broker 1 prefers all nine
    plan = make_plan(assignment, {1: None, 2: None, 3: None}, goal="balance", scope=["t"])
    assert plan.replicas_moved == 0 and plan.bytes_to_copy == 0 and plan.reorders > 0
    assert plan.balance.leaders_spread_before == 9 and plan.balance.leaders_spread_after <= 1


def test_impossible_goals_say_why() -> None:
    assignment: Assignment = {("t", 0): [1, 2, 3]}
    racks: dict[int, str | None] = {1: None, 2: None, 3: None}
    with pytest.raises(InvalidArgument, match="only 2 broker"):
        make_plan(assignment, racks, goal="drain", scope=["t"], brokers=[3])
    with pytest.raises(InvalidArgument, match="needs 4 brokers"):
        make_plan(assignment, racks, goal="replication_factor", scope=["t"], replication_factor=4)
    with pytest.raises(InvalidArgument, match="not in the cluster"):
        make_plan(assignment, racks, goal="spread", scope=["t"], brokers=[9])
    with pytest.raises(InvalidArgument, match="needs the brokers"):
        make_plan(assignment, racks, goal="drain", scope=["t"])
