"""The audit log and the agent's run records, read for pages: filtered, newest first, and cheap to read again.

Both files only grow or get replaced, so each reader keeps what it parsed and reads only what is new: the audit log
from the byte offset it reached (a shorter file starts over), run records by their modification time.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.record import RunRecord, RunStore

AUDIT_KEPT = 50_000


@dataclass
class AuditFilter:
    cluster: str = ""
    tool: str = ""
    decision: str = ""
    since: str = ""  # ISO 8601 prefix compare: '2026-11-01' or '2026-11-01T10:00'
    until: str = ""
    text: str = ""

    def matches(self, entry: dict[str, Any]) -> bool:
        when = str(entry.get("time") or "")
        if self.cluster and entry.get("cluster") != self.cluster:
            return False
        if self.tool and self.tool not in str(entry.get("tool") or ""):
            return False
        if self.decision and entry.get("decision") != self.decision:
            return False
        if self.since and when < self.since:
            return False
        if self.until and when[: len(self.until)] > self.until:
            return False
        return not (self.text and self.text.lower() not in json.dumps(entry, default=str).lower())


class AuditReader:
    """The last ``AUDIT_KEPT`` entries of the audit log, read incrementally."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=AUDIT_KEPT)
        self._offset = 0

    def _refresh(self) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            self._entries.clear()
            self._offset = 0
            return
        if size < self._offset:
            self._entries.clear()
            self._offset = 0
        if size == self._offset:
            return
        with self.path.open("rb") as fh:
            fh.seek(self._offset)
            chunk = fh.read(size - self._offset)
        end = chunk.rfind(b"\n")
        if end < 0:
            return  # a line still being written
        for line in chunk[: end + 1].splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a torn line from a crash
            if isinstance(entry, dict):
                self._entries.append(entry)
        self._offset += end + 1

    def query(self, flt: AuditFilter, *, limit: int, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Matching entries, newest first (a page of them), and how many matched in all."""
        with self._lock:
            self._refresh()
            matched = [e for e in reversed(self._entries) if flt.matches(e)]
        return matched[offset : offset + limit], len(matched)

    def facets(self) -> dict[str, list[str]]:
        """The clusters, tools and decisions seen, for the filter menus."""
        with self._lock:
            self._refresh()
            entries = list(self._entries)
        return {
            key: sorted({str(e.get(key)) for e in entries if e.get(key)}) for key in ("cluster", "tool", "decision")
        }


@dataclass
class RunSummary:
    task_id: str
    task: str
    agent: str
    status: str
    started_at: str
    ended_at: str | None
    verdict: str | None
    calls: int
    tokens: int
    cost_usd: float
    delegations: int
    pending: int


class RunIndex:
    """Every run record under ``<data_dir>/runs``, summarised once per version of its file."""

    def __init__(self, data_dir: Path) -> None:
        self.store = RunStore(data_dir)
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[float, RunSummary]] = {}

    def summaries(self) -> list[RunSummary]:
        root = self.store.root
        files = sorted(root.glob("*.json")) if root.is_dir() else []
        out: list[RunSummary] = []
        with self._lock:
            for path in files:
                try:
                    mtime = path.stat().st_mtime
                except FileNotFoundError:
                    continue
                hit = self._cache.get(path)
                if hit is None or hit[0] != mtime:
                    try:
                        record = self.store.load(path.stem)
                    except Exception:  # a file being replaced, or not a run record: skip it this time
                        continue
                    hit = (mtime, summarise(record))
                    self._cache[path] = hit
                out.append(hit[1])
            for gone in set(self._cache) - set(files):
                del self._cache[gone]
        return sorted(out, key=lambda s: s.started_at, reverse=True)

    def load(self, task_id: str) -> RunRecord:
        return self.store.load(task_id)

    def delegated_runs(self, record: RunRecord) -> list[str | None]:
        """For each delegation of ``record``, the peer's run found here (or None): a local peer's task names the
        parent run, a worker's task names the correlation id."""
        parent = f"(run {record.task_id})"
        heads = sorted(
            ((s.started_at, s.agent, s.task.split("\n", 1)[0], s.task_id) for s in self.summaries()),
        )
        used: set[str] = set()
        out: list[str | None] = []
        for d in record.delegations:
            marker = f"(correlation id {d.correlation_id})" if d.via == "kafka" and d.correlation_id else parent
            match = next(
                (tid for _, agent, head, tid in heads if agent == d.peer and marker in head and tid not in used),
                None,
            )
            if match:
                used.add(match)
            out.append(match)
        return out


def summarise(record: RunRecord) -> RunSummary:
    return RunSummary(
        task_id=record.task_id,
        task=record.task,
        agent=record.agent,
        status=record.status,
        started_at=record.started_at,
        ended_at=record.ended_at,
        verdict=record.verification.verdict if record.verification else None,
        calls=sum(len(p.calls) for p in record.phases),
        tokens=record.usage.total_tokens,
        cost_usd=record.usage.cost_usd,
        delegations=len(record.delegations),
        pending=len(record.pending_actions),
    )
