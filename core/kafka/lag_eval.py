"""Consumer lag evaluation the way Burrow does it: a status per group and partition from a sliding window.

A single lag figure says little (10 000 behind can be fine for a batch job and fatal for a payment consumer); its
course over time says what is wrong. ``LagWindow`` keeps, per (cluster, group, topic, partition), the samples a
caller takes (committed offset and log end offset at a time) for ``window_s`` seconds, and judges each partition:

    ERROR  the committed offset went back (rewound) or is past the log end (out of range)
    OK     no lag now, or the consumer is moving and the lag is not growing
    WARN   the consumer moves, but the lag grew over the whole window (never went down) and the consumer is at least
           a quarter of the window behind in time (a consumer that keeps up has a small lag that can climb by chance)
    STALL  lag > 0 and the committed offset has not moved for a whole window (commits stopped or repeat)
    STOP   lag > 0 and the committed offset has not moved for ``stop_s`` (longer), or the group has no member left

A partition is judged only once its samples span the window (``UNKNOWN`` before, unless the lag is 0 or the offset
is out of range, which a single sample shows). A group's status is its worst partition's. Time lag: how long ago the
log end was where the consumer is now, read off the window (a lower bound when it is older than the window).

Burrow evaluates commits as they arrive in ``__consumer_offsets``; this evaluates samples of the committed offsets
(the same data a ``kafka-consumer-groups --describe`` shows), so what Burrow calls "no commit" reads here as "the
committed offset did not move".
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from core.kafka.lag import LagReport

Status = Literal["OK", "WARN", "STALL", "STOP", "ERROR", "UNKNOWN"]
# Worse comes later: a group takes its worst partition's status.
SEVERITY: dict[str, int] = {"UNKNOWN": 0, "OK": 1, "WARN": 2, "STALL": 3, "STOP": 4, "ERROR": 5}
EMPTY_STATES = {"EMPTY", "DEAD"}
# WARN needs the lag to grow over the window and the consumer to be at least this share of the window behind in time.
WARN_BEHIND = 0.25


@dataclass(frozen=True)
class Sample:
    at: float  # seconds (time.time())
    committed: int | None
    log_end: int | None


class PartitionStatus(BaseModel):
    topic: str
    partition: int
    status: Status
    reason: str
    lag: int | None
    time_lag_s: float | None = Field(
        None, description="How long ago the log end was at the committed offset (from the window)."
    )
    time_lag_is_lower_bound: bool = Field(False, description="The log end was there before the window began.")
    samples: int
    window_s: float = Field(description="Time the samples span.")
    since_move_s: float | None = Field(None, description="Seconds since the committed offset last moved.")


class GroupStatus(BaseModel):
    cluster: str
    group_id: str
    status: Status
    reason: str
    total_lag: int
    max_time_lag_s: float | None = None
    worst: list[PartitionStatus] = Field(description="The partitions with the group's status (at most 20).")
    partitions: int


@dataclass
class _Track:
    samples: deque[Sample] = field(default_factory=deque)
    last_move: float | None = None  # when the committed offset was last seen to change
    first_seen: float | None = None


class LagWindow:
    """Samples per partition over ``window_s`` seconds and the Burrow-style judgement of them. Thread safe."""

    # Samples closer together than window_s / SPACING replace the newest one instead of adding one: a partition keeps
    # about SPACING samples however often it is asked about (the MCP tool feeds one per call, dozens a second under
    # load, and every judgement reads the whole track).
    SPACING = 50

    def __init__(self, *, window_s: float = 60.0, stop_s: float | None = None, min_samples: int = 3) -> None:
        self.window_s = window_s
        self.stop_s = stop_s if stop_s is not None else 2 * window_s
        self.min_samples = min_samples
        self.min_gap_s = window_s / self.SPACING
        self._lock = threading.Lock()
        self._tracks: dict[tuple[str, str, str, int], _Track] = {}
        self._states: dict[tuple[str, str], tuple[str | None, int | None]] = {}

    def add(
        self,
        cluster: str,
        group: str,
        topic: str,
        partition: int,
        *,
        at: float,
        committed: int | None,
        log_end: int | None,
    ) -> None:
        key = (cluster, group, topic, partition)
        with self._lock:
            track = self._tracks.setdefault(key, _Track())
            if track.first_seen is None:
                track.first_seen = at
            prev = track.samples[-1] if track.samples else None
            if prev is not None and committed != prev.committed:
                track.last_move = at
            sample = Sample(at, committed, log_end)
            if len(track.samples) >= 2 and at - track.samples[-2].at < self.min_gap_s:
                track.samples[-1] = sample  # too close to the one before: the newest stands for both
            else:
                track.samples.append(sample)
            # Keep one sample older than the window, so the window is known to be covered.
            while len(track.samples) > 2 and track.samples[1].at <= at - self.window_s:
                track.samples.popleft()

    def set_group_state(self, cluster: str, group: str, state: str | None, members: int | None) -> None:
        with self._lock:
            self._states[(cluster, group)] = (state, members)

    def feed(self, cluster: str, report: LagReport, *, at: float) -> None:
        """Add one sample per committed partition of every group in a lag report."""
        for g in report.groups:
            if g.error:
                continue
            self.set_group_state(cluster, g.group_id, g.state, g.member_count)
            for t in g.topics:
                for p in t.partitions:
                    if p.committed is None and p.log_end is None:
                        continue
                    self.add(cluster, g.group_id, p.topic, p.partition, at=at, committed=p.committed, log_end=p.log_end)

    def forget(self, cluster: str, group: str | None = None) -> None:
        """Drop the samples of a cluster (or one of its groups): a group deleted, a cluster no longer watched."""
        with self._lock:
            for key in [k for k in self._tracks if k[0] == cluster and (group is None or k[1] == group)]:
                del self._tracks[key]
            for skey in [k for k in self._states if k[0] == cluster and (group is None or k[1] == group)]:
                del self._states[skey]

    def groups(self, cluster: str) -> list[str]:
        with self._lock:
            return sorted({k[1] for k in self._tracks if k[0] == cluster})

    # --- judgement ------------------------------------------------------------------------------------------------

    def partition_status(self, cluster: str, group: str, topic: str, partition: int, *, now: float) -> PartitionStatus:
        with self._lock:
            track = self._tracks.get((cluster, group, topic, partition))
            samples = list(track.samples) if track else []
            last_move = track.last_move if track else None
            first_seen = track.first_seen if track else None
            state, members = self._states.get((cluster, group), (None, None))
        return judge(
            topic,
            partition,
            samples,
            now=now,
            window_s=self.window_s,
            stop_s=self.stop_s,
            min_samples=self.min_samples,
            last_move=last_move,
            first_seen=first_seen,
            group_empty=(state or "").upper() in EMPTY_STATES or members == 0,
        )

    def group_status(self, cluster: str, group: str, *, now: float) -> GroupStatus:
        with self._lock:
            parts = sorted((k[2], k[3]) for k in self._tracks if k[0] == cluster and k[1] == group)
        rows = [self.partition_status(cluster, group, t, p, now=now) for t, p in parts]
        return summarize(cluster, group, rows)

    def statuses(self, cluster: str, *, now: float) -> list[GroupStatus]:
        return [self.group_status(cluster, g, now=now) for g in self.groups(cluster)]

    def close(self) -> None:
        with self._lock:
            self._tracks.clear()
            self._states.clear()


def summarize(cluster: str, group: str, rows: list[PartitionStatus]) -> GroupStatus:
    if not rows:
        return GroupStatus(
            cluster=cluster,
            group_id=group,
            status="UNKNOWN",
            reason="no samples",
            total_lag=0,
            worst=[],
            partitions=0,
        )
    worst = max(rows, key=lambda r: SEVERITY[r.status]).status
    picked = [r for r in rows if r.status == worst]
    times = [r.time_lag_s for r in rows if r.time_lag_s is not None]
    reason = picked[0].reason
    if len(picked) > 1:
        reason = f"{len(picked)} partition(s) {worst}; e.g. {picked[0].topic}[{picked[0].partition}]: {reason}"
    else:
        reason = f"{picked[0].topic}[{picked[0].partition}]: {reason}"
    return GroupStatus(
        cluster=cluster,
        group_id=group,
        status=worst,
        reason=reason,
        total_lag=sum(r.lag or 0 for r in rows),
        max_time_lag_s=round(max(times), 3) if times else None,
        worst=picked[:20],
        partitions=len(rows),
    )


def judge(
    topic: str,
    partition: int,
    samples: list[Sample],
    *,
    now: float,
    window_s: float,
    stop_s: float,
    min_samples: int = 3,
    last_move: float | None = None,
    first_seen: float | None = None,
    group_empty: bool = False,
) -> PartitionStatus:
    """The status of one partition from its samples (oldest first)."""

    TimeLag = tuple[float | None, bool]

    def out(status: Status, reason: str, lag: int | None, tl: TimeLag = (None, False)) -> PartitionStatus:
        span = samples[-1].at - samples[0].at if samples else 0.0
        moved = last_move if last_move is not None else first_seen
        since = None if moved is None else now - moved
        return PartitionStatus(
            topic=topic,
            partition=partition,
            status=status,
            reason=reason,
            lag=lag,
            time_lag_s=None if tl[0] is None else round(tl[0], 3),
            time_lag_is_lower_bound=tl[1],
            samples=len(samples),
            window_s=round(span, 3),
            since_move_s=None if since is None else round(since, 3),
        )

    if not samples:
        return out("UNKNOWN", "no samples yet", None)
    last = samples[-1]
    if last.committed is None:
        return out("UNKNOWN", "no committed offset", None)
    if last.log_end is None:
        return out("ERROR", "the partition no longer exists", None)
    if last.committed > last.log_end:
        return out("ERROR", f"committed offset {last.committed} is past the log end {last.log_end}", None)
    lag = last.log_end - last.committed
    in_window = [s for s in samples if s.committed is not None and s.at >= now - window_s - 1e-9]
    with_commit = [s for s in samples if s.committed is not None]
    for a, b in itertools.pairwise(with_commit):
        if b.at >= now - window_s and a.committed is not None and b.committed is not None and b.committed < a.committed:
            return out("ERROR", f"committed offset went back from {a.committed} to {b.committed}", lag)
    tl = time_lag(samples, now=now)
    if lag == 0:
        return out("OK", "no lag", 0, (0.0, False))
    covered = with_commit[0].at <= now - window_s + 1e-9 and len(with_commit) >= min_samples
    since_seen = first_seen if first_seen is not None else with_commit[0].at
    unmoved_for = now - (last_move if last_move is not None else since_seen)
    if unmoved_for >= stop_s or (group_empty and unmoved_for >= window_s):
        why = "the group has no member" if group_empty and unmoved_for < stop_s else "no commit moved the offset"
        return out("STOP", f"{why}: offset {last.committed} unchanged for {unmoved_for:.0f}s with lag {lag}", lag, tl)
    if not covered:
        return out("UNKNOWN", f"window not full yet ({len(with_commit)} sample(s), lag {lag})", lag, tl)
    if unmoved_for >= window_s:
        return out("STALL", f"offset {last.committed} has not moved for {unmoved_for:.0f}s with lag {lag}", lag, tl)
    lags = [(s.log_end or 0) - (s.committed or 0) for s in in_window if s.log_end is not None]
    growing = len(lags) >= min_samples and lags[-1] > lags[0]
    growing = growing and all(b >= a for a, b in itertools.pairwise(lags))
    # A consumer that keeps up shows a small saw-tooth lag (records arrive between its commits) that can climb for a
    # window by chance; Burrow tells it apart by a commit with zero lag, which samples rarely catch. Here: it is not
    # behind by WARN_BEHIND of the window in time (the record at its offset is that recent).
    growing = growing and tl[0] is not None and tl[0] >= window_s * WARN_BEHIND
    if growing:
        return out("WARN", f"lag grew over the window from {lags[0]} to {lags[-1]}", lag, tl)
    return out("OK", f"consuming (lag {lag})", lag, tl)


def time_lag(samples: list[Sample], *, now: float) -> tuple[float | None, bool]:
    """Seconds since the log end was at the current committed offset, and whether that is only a lower bound."""
    last = samples[-1] if samples else None
    if last is None or last.committed is None or last.log_end is None:
        return None, False
    if last.log_end <= last.committed:
        return 0.0, False
    target = last.committed
    # Walk back to the latest sample whose log end was at or below the committed offset now.
    for s in reversed(samples):
        if s.log_end is not None and s.log_end <= target:
            return max(0.0, now - s.at), False
    return max(0.0, now - samples[0].at), True


def feed_and_judge(window: LagWindow, cluster: str, report: LagReport) -> LagReport:
    """Add a lag report to the window as one sample, then set each group's status in it from the window (blocking:
    it reads every track of the report's groups; call it off the event loop)."""
    now = time.time()
    window.feed(cluster, report, at=now)
    return annotate(report, window, cluster, now=now)


def annotate(report: LagReport, window: LagWindow, cluster: str, *, now: float) -> LagReport:
    """Set each group's (and listed partition's) status in a lag report from the window (fed beforehand)."""
    for g in report.groups:
        if g.error:
            continue
        rows: list[PartitionStatus] = []
        for t in g.topics:
            for p in t.partitions:
                st = window.partition_status(cluster, g.group_id, p.topic, p.partition, now=now)
                p.status = st.status
                rows.append(st)
        # Partitions left out of the report: judge every partition the window knows.
        status = summarize(cluster, g.group_id, rows) if rows else window.group_status(cluster, g.group_id, now=now)
        g.status, g.status_reason, g.time_lag_s = status.status, status.reason, status.max_time_lag_s
    return report


class LagSampler:
    """Samples the lag of every group of the clusters asked about, every ``interval`` seconds, into a window, so
    that a lag query a while later finds the window full. A daemon thread; ``close`` stops it."""

    def __init__(self, sample: Callable[[str], LagReport], window: LagWindow, *, interval: float) -> None:
        self.sample = sample
        self.window = window
        self.interval = interval
        self._clusters: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, cluster: str) -> None:
        with self._lock:
            self._clusters.add(cluster)
            if self._thread is None and self.interval > 0:
                self._thread = threading.Thread(target=self._loop, name="lag-sampler", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        import logging

        log = logging.getLogger("kafka_agent.lag")
        while not self._stop.wait(self.interval):
            with self._lock:
                clusters = sorted(self._clusters)
            for cluster in clusters:
                try:
                    self.window.feed(cluster, self.sample(cluster), at=time.time())
                except Exception as exc:  # a cluster that does not answer now: the next round tries again
                    log.warning("lag sample of %s: %s", cluster, exc)

    def close(self) -> None:
        self._stop.set()
        self.window.close()
