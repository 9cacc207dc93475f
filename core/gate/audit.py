"""The audit log: one JSON line per decision on a change (refused, consent asked, approved, allowed, the outcome).

``KAFKA_AGENT_AUDIT_LOG``, default ``<data_dir>/audit.jsonl``, owner-only (mode 0600) from its first line. Arguments
and results are redacted: secret-looking keys never reach the file.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.gate.change import Change, Requester, redact


class AuditLog:
    def __init__(self, path: Path, *, transport: str = "stdio") -> None:
        self.path = path
        self.transport = transport
        self._lock = threading.Lock()

    def record(
        self,
        change: Change,
        *,
        decision: str,
        result: Any = None,
        error: str | None = None,
        requester: Requester | None = None,
        decided_by: str | None = None,
    ) -> None:
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "transport": self.transport,
            "requester": requester.id if requester is not None else None,
            "cluster": change.cluster,
            "tool": change.tool,
            "action": change.action,
            "resources": change.resources,
            "arguments": redact(change.arguments),
            "decision": decision,
            "decided_by": decided_by,
            "override_reason": change.override_reason,
            "overridden_rules": change.overridden_rules,
            "policy_warnings": change.policy_warnings,
            "result": redact(result),
            "error": error,
        }
        line = json.dumps(entry, default=str)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Owner-only from the first line on: arguments are redacted, but resource names can be sensitive too.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
