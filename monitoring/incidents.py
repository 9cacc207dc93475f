"""The incident book of a watch process: findings in, incidents opened, updated and resolved out.

A finding opens an incident once seen ``confirm`` samples in a row; an open incident is updated when its summary
changes (a STALL that became a STOP, more partitions under-replicated) and resolved after ``clear`` samples in a
row without it. The book holds the open incidents of the clusters this process owns; a process that takes a
cluster over loads that cluster's open incidents from the topic first (``adopt``), so it resolves them itself.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

from core.kafka.incidents import Incident, incident_id
from monitoring.rules import Finding

Event = Literal["opened", "updated", "resolved"]


@dataclass
class _Pending:
    first_seen: float
    seen: int = 0


class IncidentBook:
    def __init__(self, *, clear: int = 2, watcher: str | None = None) -> None:
        self.clear = clear
        self.watcher = watcher
        self._lock = threading.Lock()
        self._open: dict[tuple[str, str, str], Incident] = {}  # (cluster, rule, subject) -> incident
        self._pending: dict[tuple[str, str, str], _Pending] = {}
        self._absent: dict[tuple[str, str, str], int] = {}
        self.opened_total: dict[tuple[str, str], int] = {}  # (cluster, rule) -> incidents opened by this process
        self._resolved: dict[str, Incident] = {}  # the latest resolved ones, for a diagnosis that ends after them

    def adopt(self, incidents: list[Incident]) -> None:
        """Open incidents written by another (or an earlier) watch process for clusters this one now owns."""
        with self._lock:
            for inc in incidents:
                if inc.status == "open":
                    self._open.setdefault((inc.cluster, inc.rule, inc.subject), inc)

    def open_incidents(self, cluster: str | None = None) -> list[Incident]:
        with self._lock:
            return [i.model_copy(deep=True) for i in self._open.values() if cluster is None or i.cluster == cluster]

    def drop(self, cluster: str) -> None:
        """Forget a cluster this process no longer owns (its new owner adopts the open incidents)."""
        with self._lock:
            for table in (self._open, self._pending, self._absent):
                for key in [k for k in table if k[0] == cluster]:
                    del table[key]

    def step(
        self,
        cluster: str,
        findings: list[Finding],
        *,
        now: float,
        rules_seen: set[str] | None = None,
        first_signs: dict[tuple[str, str], float] | None = None,
    ) -> list[tuple[Event, Incident]]:
        """One sample's findings for ``cluster``. ``rules_seen``: the rules this sample could judge (an incident of
        a rule not judged this time, e.g. lag while the lag sample failed, is neither confirmed nor cleared)."""
        events: list[tuple[Event, Incident]] = []
        present = {(cluster, f.rule, f.subject): f for f in findings}
        with self._lock:
            for key, f in present.items():
                self._absent.pop(key, None)
                inc = self._open.get(key)
                if inc is not None:
                    if inc.summary != f.summary or inc.severity != f.severity:
                        inc.summary, inc.severity, inc.evidence = f.summary, f.severity, f.evidence
                        inc.note(f"updated: {f.summary}", now)
                        events.append(("updated", inc.model_copy(deep=True)))
                    continue
                pend = self._pending.setdefault(key, _Pending(first_seen=now))
                pend.seen += 1
                if pend.seen < f.confirm:
                    continue
                del self._pending[key]
                first = (first_signs or {}).get(f.key, pend.first_seen)
                inc = Incident(
                    id=incident_id(cluster, f.rule, f.subject, now),
                    cluster=cluster,
                    rule=f.rule,
                    subject=f.subject,
                    severity=f.severity,
                    summary=f.summary,
                    opened_at=now,
                    updated_at=now,
                    first_seen_at=pend.first_seen,
                    detection_delay_s=round(max(0.0, now - first), 3),
                    evidence=f.evidence,
                    watcher=self.watcher,
                )
                inc.note(f"opened: {f.summary}", now)
                self._open[key] = inc
                self.opened_total[(cluster, f.rule)] = self.opened_total.get((cluster, f.rule), 0) + 1
                events.append(("opened", inc.model_copy(deep=True)))
            for key in [k for k in self._pending if k[0] == cluster and k not in present]:
                if rules_seen is None or key[1] in rules_seen:
                    del self._pending[key]
            for key, inc in list(self._open.items()):
                if key[0] != cluster or key in present or (rules_seen is not None and key[1] not in rules_seen):
                    continue
                self._absent[key] = self._absent.get(key, 0) + 1
                if self._absent[key] < self.clear:
                    continue
                del self._open[key]
                self._absent.pop(key, None)
                inc.status, inc.resolved_at = "resolved", now
                inc.note("resolved: the condition cleared", now)
                self._resolved[inc.id] = inc
                while len(self._resolved) > 200:
                    self._resolved.pop(next(iter(self._resolved)))
                events.append(("resolved", inc.model_copy(deep=True)))
        return events

    def annotate(self, incident_id_: str, *, run: str | None, diagnosis: str | None, now: float) -> Incident | None:
        """Attach a diagnosis run to an incident (open, or resolved lately); the updated incident, or None."""
        with self._lock:
            for inc in [*self._open.values(), *self._resolved.values()]:
                if inc.id == incident_id_:
                    inc.diagnosis_run, inc.diagnosis = run, diagnosis
                    inc.note(f"diagnosis run {run}: {(diagnosis or '')[:200]}", now)
                    return inc.model_copy(deep=True)
        return None
