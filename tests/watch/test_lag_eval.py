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


def test_a_partition_asked_about_many_times_a_second_keeps_a_bounded_track() -> None:
    """The MCP tool feeds the window once per call: 100 calls a second for 30 s keep about window/gap samples, and the
    judgement sees what every sample would have shown (the newest stands for the ones it replaced)."""
    w = LagWindow(window_s=10, stop_s=30, min_samples=3)
    for i in range(3000):
        t = i / 100
        w.add("c", "g", "a", 0, at=t, committed=100 * int(t), log_end=100 * int(t) + 20)  # moves once a second
        w.add("c", "g", "a", 1, at=t, committed=50, log_end=int(60 + 10 * t))  # stuck, lag growing
    moving = w.partition_status("c", "g", "a", 0, now=29.99)
    stuck = w.partition_status("c", "g", "a", 1, now=29.99)
    assert moving.status == "OK" and moving.lag == 20 and moving.samples <= LagWindow.SPACING + 5
    assert stuck.status == "STALL" and stuck.samples <= LagWindow.SPACING + 5 and stuck.window_s >= 10
    # A rewind seen in the newest sample is not lost to the replacement.
    w.add("c", "g", "a", 0, at=30.0, committed=5, log_end=2920)
    assert w.partition_status("c", "g", "a", 0, now=30.0).status == "ERROR"


def test_a_consumer_that_keeps_up_is_not_warn_when_its_small_lag_climbs() -> None:
    """A saw-tooth seen side by side with Burrow (bench/burrow_compare.py): 100 records/s, commits every 500 ms, lag
    sampled each second climbing 10 -> 40 without going down. The consumer is under a second behind: OK, not WARN."""
    lags = [10, 10, 15, 10, 10, 10, 15, 15, 15, 15, 20, 20, 20, 25, 25, 25, 30, 30, 30, 30, 35, 35, 35, 40, 40]
    samples = [(float(t), 1000 + 100 * t - lag, 1000 + 100 * t) for t, lag in enumerate(lags)]
    assert run(samples, now=24.0) == "OK"
    # The same climb by a consumer far behind (the record at its offset is 8 s old, window 10 s): WARN.
    far = [(float(t), 1000 + 100 * t - 800 - lag, 1000 + 100 * t) for t, lag in enumerate(lags)]
    assert run(far, now=24.0) == "WARN"
