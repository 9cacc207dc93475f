"""The in-process sampler behind the lag charts and the overview's health verdict.

Every ``console_sample_s`` seconds a daemon thread measures, for each configured cluster, the lag of every consumer
group (``core.kafka.lag.consumer_lag``: one batched request per kind, fresh end offsets) and keeps the last
``HISTORY`` points per group. Groups someone is looking at (a group page opened in the last ``WATCH_S`` seconds)
also get their time lag measured (the age of the record at the committed offset, up to 100 lagging partitions).
The cluster's health picture is refreshed every ``HEALTH_REFRESH_S`` seconds, so a page never waits for it once the
first one is in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.errors import KafkaAgentError
from core.kafka.health import ClusterHealth, health_of
from core.kafka.lag import EndOffsetCache, GroupLag, LagReport, consumer_lag

if TYPE_CHECKING:
    from core.app import AppContext

log = logging.getLogger("kafka_agent.console.sampler")

HISTORY = 720  # points per group: two hours at the default 10 s
WATCH_S = 300.0
MAX_WATCHED = 8
HEALTH_REFRESH_S = 30.0  # the health picture is refreshed this often in the background (pages accept 90 s)


@dataclass
class LagPoint:
    at: float
    total: int
    by_topic: dict[str, int]
    max_time_lag_ms: int | None = None


@dataclass
class ClusterSamples:
    groups: dict[str, deque[LagPoint]] = field(default_factory=dict)
    last_report: LagReport | None = None
    last_at: float | None = None
    error: str | None = None
    health: ClusterHealth | None = None
    health_at: float | None = None
    health_error: str | None = None
    health_tried: float | None = None
    time_lag: dict[str, tuple[float, GroupLag]] = field(default_factory=dict)


class LagSampler:
    """One per console; ``close()`` stops the thread (the app context closes it with everything else)."""

    def __init__(self, app: AppContext, *, interval: float) -> None:
        self.app = app
        self.interval = interval
        self._lock = threading.Lock()
        self._clusters: dict[str, ClusterSamples] = {}
        self._watched: dict[tuple[str, str], float] = {}
        self._stop = threading.Event()
        self._health_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="console-lag-sampler", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.app.settings.request_timeout_s + 5)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- what pages read ------------------------------------------------------------------------------------------

    def samples(self, cluster: str) -> ClusterSamples:
        with self._lock:
            return self._clusters.setdefault(cluster, ClusterSamples())

    def series(self, cluster: str, group: str) -> list[LagPoint]:
        with self._lock:
            points = self._clusters.get(cluster, ClusterSamples()).groups.get(group)
            return list(points) if points else []

    def watch(self, cluster: str, group: str) -> None:
        with self._lock:
            self._watched[(cluster, group)] = time.monotonic()
            if len(self._watched) > MAX_WATCHED:
                oldest = min(self._watched, key=lambda k: self._watched[k])
                del self._watched[oldest]

    def health(self, cluster: str, *, max_age: float) -> tuple[ClusterHealth | None, float | None, str | None]:
        """The cluster's health picture (measured now when there is none younger than ``max_age``), its time, and
        the error of the last try."""
        samples = self.samples(cluster)
        if samples.health_tried is None or time.time() - samples.health_tried > max_age:
            self._refresh_health(cluster, max_age=max_age)
        return samples.health, samples.health_at, samples.health_error

    # --- sampling -------------------------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            for name in list(self.app.settings.clusters()):
                if self._stop.is_set():
                    return
                tried = self.samples(name).health_tried
                if tried is None or time.time() - tried >= HEALTH_REFRESH_S:  # first thing after start-up too
                    self._refresh_health(name)
                self.sample(name)
            self._stop.wait(max(0.05, self.interval - (time.monotonic() - started)))

    def sample(self, cluster: str) -> None:
        """One lag measurement of every group of ``cluster`` (and time lag for the watched groups)."""
        app = self.app
        samples = self.samples(cluster)
        try:
            admin = app.clients.admin(cluster)
            report = consumer_lag(
                admin, cluster=cluster, cache=EndOffsetCache(ttl=0), timeout=app.timeout, include_partitions=False
            )
        except KafkaAgentError as exc:
            samples.error = exc.message
            return
        except Exception as exc:  # the sampler must outlive any one failure
            samples.error = f"{type(exc).__name__}: {exc}"
            log.warning("lag sample of %s failed: %s", cluster, samples.error)
            return
        now = time.time()
        time_lags = self._time_lags(cluster)
        with self._lock:
            samples.error = None
            samples.last_report, samples.last_at = report, now
            for g in report.groups:
                if g.error:
                    continue
                measured = time_lags.get(g.group_id)
                if measured is not None:
                    samples.time_lag[g.group_id] = (now, measured)
                tl = [t.max_time_lag_ms for t in measured.topics if t.max_time_lag_ms is not None] if measured else []
                points = samples.groups.setdefault(g.group_id, deque(maxlen=HISTORY))
                points.append(
                    LagPoint(
                        at=now,
                        total=g.total_lag,
                        by_topic={t.topic: t.total_lag for t in g.topics},
                        max_time_lag_ms=max(tl) if tl else None,
                    )
                )

    def _time_lags(self, cluster: str) -> dict[str, GroupLag]:
        now = time.monotonic()
        with self._lock:
            for key in [k for k, at in self._watched.items() if now - at > WATCH_S]:
                del self._watched[key]
            groups = sorted(g for c, g in self._watched if c == cluster)
        if not groups:
            return {}
        app = self.app
        try:
            report = consumer_lag(
                app.clients.admin(cluster),
                cluster=cluster,
                cache=EndOffsetCache(ttl=0),
                timeout=app.timeout,
                groups=groups,
                time_lag_consumer=app.clients.consumer_config(cluster),
            )
        except Exception as exc:  # a watched group deleted meanwhile, a cluster away: the offset lag still counts
            log.info("time lag of %s on %s: %s", groups, cluster, exc)
            return {}
        return {g.group_id: g for g in report.groups if not g.error}

    def _refresh_health(self, cluster: str, *, max_age: float | None = None) -> None:
        samples = self.samples(cluster)
        with self._health_lock:
            tried = samples.health_tried
            if max_age is not None and tried is not None and time.time() - tried <= max_age:
                return  # another page load measured it while this one waited
            samples.health_tried = time.time()
            app = self.app
            try:
                health = health_of(app.clients, cluster, budget=app.timeout)
            except KafkaAgentError as exc:
                samples.health_error = exc.message
                return
            except Exception as exc:
                samples.health_error = f"{type(exc).__name__}: {exc}"
                return
            with self._lock:
                samples.health, samples.health_at, samples.health_error = health, time.time(), None
