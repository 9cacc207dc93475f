"""The Burrow-style judgement on sample sequences (pure logic; the real-cluster scenarios are in test_watch_lag)."""

from __future__ import annotations

import itertools

from core.kafka.lag_eval import LagWindow, Sample, judge, time_lag


def run(samples: list[tuple[float, int | None, int | None]], *, now: float, empty: bool = False) -> str:
    rows = [Sample(at, c, e) for at, c, e in samples]
    moves = [b.at for a, b in itertools.pairwise(rows) if a.committed != b.committed]
    return judge(
        "t",
        0,
        rows,
        now=now,
        window_s=10,
        stop_s=30,
        last_move=moves[-1] if moves else None,
        first_seen=rows[0].at if rows else None,
        group_empty=empty,
    ).status


def test_caught_up_is_ok_at_once() -> None:
    assert run([(0, 100, 100)], now=0) == "OK"


def test_moving_consumer_with_steady_lag_is_ok() -> None:
    samples = [(t, 100 + 10 * t, 150 + 10 * t + (5 if t % 2 else 0)) for t in range(0, 12)]
    assert run(samples, now=11) == "OK"


def test_lag_that_only_grows_while_moving_is_warn() -> None:
    samples = [(t, 100 + t, 100 + 3 * t + 1) for t in range(0, 12)]
    assert run(samples, now=11) == "WARN"


def test_offset_not_moving_with_lag_for_a_window_is_stall() -> None:
    samples = [(t, 100, 120 + t) for t in range(0, 12)]
    assert run(samples, now=11) == "STALL"


def test_not_moving_for_longer_is_stop_and_an_empty_group_stops_after_a_window() -> None:
    assert run([(t, 100, 120) for t in range(0, 32)], now=31) == "STOP"
    assert run([(t, 100, 120) for t in range(0, 12)], now=11, empty=True) == "STOP"


def test_rewind_and_out_of_range_are_errors() -> None:
    assert run([(0, 100, 200), (1, 150, 200), (2, 20, 200)], now=2) == "ERROR"
    assert run([(0, 300, 200)], now=0) == "ERROR"


def test_short_window_is_unknown_unless_a_sample_says_enough() -> None:
    assert run([(0, 100, 150), (1, 100, 160)], now=1) == "UNKNOWN"


def test_time_lag_is_read_off_the_window() -> None:
    rows = [Sample(float(t), 100, 100 + 10 * t) for t in range(0, 11)]
    # The log end was at 100 (where the consumer is) at t=0: ten seconds ago.
    assert time_lag(rows, now=10.0) == (10.0, False)
    rows = [Sample(float(t), 50, 100 + 10 * t) for t in range(0, 11)]
    assert time_lag(rows, now=10.0) == (10.0, True)  # older than the window: a lower bound


def test_window_keeps_its_span_and_groups_take_the_worst_partition() -> None:
    w = LagWindow(window_s=10, stop_s=30, min_samples=3)
    for t in range(0, 40):
        w.add("c", "g", "a", 0, at=float(t), committed=10 * t, log_end=10 * t + 5)
        w.add("c", "g", "a", 1, at=float(t), committed=7, log_end=9)
    status = w.group_status("c", "g", now=39.0)
    assert status.status == "STOP" and status.worst[0].partition == 1
    assert w.partition_status("c", "g", "a", 0, now=39.0).status == "OK"
    assert w.partition_status("c", "g", "a", 0, now=39.0).samples <= 12
    w.forget("c", "g")
    assert w.groups("c") == []
