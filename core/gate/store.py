"""Where consent tokens and approvals live: bound to who asked and to the exact change, single-use across processes.

``ConsentStore`` holds the rules (binding, expiry, single use) on top of four primitives a backend provides:
``_save`` (write a record), ``_load`` / ``_all`` (read), and ``_claim`` (atomically move one record from an expected
status to ``used``; exactly one caller wins, in every process). Two backends:

- ``SqliteConsentStore``: ``<data_dir>/consent.db``, the default; one machine, any number of processes.
- ``KafkaConsentStore`` (``core.gate.kafka_store``): a compacted Kafka topic, for HTTP replicas behind a load balancer.

A token is stored only as its SHA-256: whoever reads the data folder cannot confirm with it. An approval id is not a
secret: only a person can approve it (``kafka-agent approvals``), and only its requester can redeem it, once.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from core.errors import InvalidArgument, NotFound, Refused
from core.gate.change import Change, Requester, redact

Status = Literal["pending", "approved", "denied", "used", "expired"]
Kind = Literal["token", "approval"]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def token_id(token: str) -> str:
    return "tok-" + hashlib.sha256(token.encode()).hexdigest()[:32]


class ConsentRecord(BaseModel):
    """One token or approval: what it allows, for whom, and where it stands."""

    id: str
    kind: Kind
    status: Status
    requester: str = Field(description="Requester id the consent is bound to.")
    requester_label: str = ""
    tool: str
    cluster: str
    action: str
    resources: list[str] = Field(default_factory=list)
    digest: str = Field(description="SHA-256 of tool, cluster, action, resources and the exact arguments.")
    effect: str = ""
    arguments: dict[str, object] = Field(default_factory=dict, description="Redacted, for the person to review.")
    created: float
    expires: float
    decided_by: str | None = None
    decided_at: float | None = None
    reason: str | None = None
    used_at: float | None = None

    def expires_at_iso(self) -> str:
        return _iso(self.expires)

    def live_status(self, now: float) -> Status:
        """The status with expiry applied (a pending or approved record past its time is expired)."""
        if self.status in ("pending", "approved") and now > self.expires:
            return "expired"
        return self.status


class ConsentStore:
    """The consent rules over a backend's primitives (see the module docstring)."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock

    # --- backend primitives ---------------------------------------------------------------------------------------

    def _save(self, record: ConsentRecord) -> None:
        raise NotImplementedError

    def _load(self, record_id: str) -> ConsentRecord | None:
        raise NotImplementedError

    def _all(self) -> list[ConsentRecord]:
        raise NotImplementedError

    def _claim(self, record_id: str, expected: Status, used_at: float) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        return None

    # --- tokens ---------------------------------------------------------------------------------------------------

    def issue_token(
        self, change: Change, *, requester: Requester, effect: str, ttl: float
    ) -> tuple[str, ConsentRecord]:
        token = secrets.token_urlsafe(18)
        record = self._new(token_id(token), "token", "approved", change, requester, effect, ttl)
        self._save(record)
        return token, record

    def redeem_token(self, token: str, *, requester: Requester, change: Change) -> ConsentRecord:
        record = self._load(token_id(token))
        if record is None or record.kind != "token":
            raise InvalidArgument(
                "The confirmation token is unknown or was already used.",
                hint="Call the tool again without confirm_token to get a new one.",
            )
        try:
            self._check_binding(record, requester, change, what="confirmation token")
        except (InvalidArgument, Refused):
            # A token shown with other arguments, or by someone else, is spent: it gets one try.
            self._claim(record.id, "approved", self.clock())
            raise
        status = record.live_status(self.clock())
        if status == "expired":
            raise InvalidArgument(
                "The confirmation token has expired.",
                hint="Call the tool again without confirm_token to get a new one.",
            )
        if status != "approved" or not self._claim(record.id, "approved", self.clock()):
            raise InvalidArgument(
                "The confirmation token is unknown or was already used.",
                hint="Call the tool again without confirm_token to get a new one.",
            )
        return record

    # --- approvals ------------------------------------------------------------------------------------------------

    def request_approval(self, change: Change, *, requester: Requester, effect: str, ttl: float) -> ConsentRecord:
        """A pending approval for this requester and change; an identical pending one is reused, not duplicated."""
        now = self.clock()
        digest = change.digest()
        for record in self._all():
            if (
                record.kind == "approval"
                and record.requester == requester.id
                and record.digest == digest
                and record.live_status(now) == "pending"
            ):
                return record
        record = self._new(f"apr-{secrets.token_hex(6)}", "approval", "pending", change, requester, effect, ttl)
        self._save(record)
        return record

    def redeem_approval(
        self, change: Change, *, requester: Requester, approval_id: str | None = None
    ) -> ConsentRecord | None:
        """Use an approved approval for exactly this requester and change, once; None when there is none yet.

        With ``approval_id`` that approval must fit, and a denied, used or expired one is a refusal. Without it, any
        approved and unused approval for the same requester and change is redeemed (after a denial, the next identical
        call asks anew).
        """
        now = self.clock()
        digest = change.digest()
        if approval_id and approval_id.startswith("apr-"):
            record = self._load(approval_id)
            if record is None or record.kind != "approval":
                raise NotFound(
                    f"No approval {approval_id!r}.", hint="Call the tool without it to ask for a new approval."
                )
            self._check_binding(record, requester, change, what="approval")
            candidates = [record]
        else:
            candidates = [
                r for r in self._all() if r.kind == "approval" and r.requester == requester.id and r.digest == digest
            ]
        for record in sorted(candidates, key=lambda r: r.created):
            status = record.live_status(now)
            if status == "approved":
                if self._claim(record.id, "approved", now):
                    return record
                status = "used"  # another call (another server, perhaps) redeemed it first
            if status == "denied" and approval_id:
                raise Refused(
                    f"{record.decided_by or 'A person'} denied approval {record.id} ({record.reason or 'no reason'}); "
                    "nothing was changed.",
                    hint="Do not retry unless the user asks for it again.",
                )
            if approval_id and status in ("used", "expired"):
                raise Refused(
                    f"Approval {record.id} is {status}; nothing was changed.",
                    hint="Call the tool without it to ask for a new approval.",
                )
        return None

    def decide(self, record_id: str, *, approve: bool, by: str, reason: str | None = None) -> ConsentRecord:
        """A person's decision on a pending approval (only pending ones can be decided)."""
        record = self.get(record_id)
        if record.kind != "approval":
            raise InvalidArgument(f"{record_id} is not an approval.")
        status = record.live_status(self.clock())
        if status != "pending":
            raise InvalidArgument(f"Approval {record_id} is {status}; only pending approvals can be decided.")
        record.status = "approved" if approve else "denied"
        record.decided_by = by
        record.decided_at = self.clock()
        record.reason = reason
        self._save(record)
        return record

    def get(self, record_id: str) -> ConsentRecord:
        record = self._load(record_id)
        if record is None:
            raise NotFound(f"No approval {record_id!r}.", hint="`kafka-agent approvals list` shows them.")
        return record

    def list(self, *, status: Status | None = None, kind: Kind | None = "approval") -> list[ConsentRecord]:
        now = self.clock()
        out = []
        for record in self._all():
            if kind is not None and record.kind != kind:
                continue
            record.status = record.live_status(now)
            if status is None or record.status == status:
                out.append(record)
        return sorted(out, key=lambda r: r.created)

    # --- helpers --------------------------------------------------------------------------------------------------

    def _new(
        self, rid: str, kind: Kind, status: Status, change: Change, requester: Requester, effect: str, ttl: float
    ) -> ConsentRecord:
        now = self.clock()
        return ConsentRecord(
            id=rid,
            kind=kind,
            status=status,
            requester=requester.id,
            requester_label=requester.label,
            tool=change.tool,
            cluster=change.cluster,
            action=change.action,
            resources=change.resources,
            digest=change.digest(),
            effect=effect,
            arguments=redact({k: v for k, v in change.arguments.items() if k != "confirm_token"}),
            created=now,
            expires=now + ttl,
        )

    @staticmethod
    def _check_binding(record: ConsentRecord, requester: Requester, change: Change, *, what: str) -> None:
        if record.requester != requester.id:
            raise Refused(
                f"This {what} was issued to another session or run; nothing was changed.",
                hint=f"Call {change.tool} without it to be asked yourself.",
            )
        if record.digest != change.digest():
            raise InvalidArgument(
                change.on_mismatch or f"The {what} was issued for different arguments or another cluster.",
                hint=f"Call {change.tool} again without it to review what it would change now.",
            )


class SqliteConsentStore(ConsentStore):
    """The embedded store: one SQLite file in the data folder, shared by every process on the machine."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), timeout=30.0, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS consent (id TEXT PRIMARY KEY, status TEXT NOT NULL, body TEXT NOT NULL)"
        )
        path.chmod(0o600)

    def _save(self, record: ConsentRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO consent (id, status, body) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET status = excluded.status, body = excluded.body",
                (record.id, record.status, record.model_dump_json()),
            )

    def _load(self, record_id: str) -> ConsentRecord | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM consent WHERE id = ?", (record_id,)).fetchone()
        return ConsentRecord.model_validate_json(row[0]) if row else None

    def _all(self) -> list[ConsentRecord]:
        with self._lock:
            rows = self._db.execute("SELECT body FROM consent").fetchall()
        return [ConsentRecord.model_validate_json(r[0]) for r in rows]

    def _claim(self, record_id: str, expected: Status, used_at: float) -> bool:
        with self._lock:
            row = self._db.execute("SELECT body FROM consent WHERE id = ?", (record_id,)).fetchone()
            if row is None:
                return False
            body = json.loads(row[0])
            body.update(status="used", used_at=used_at)
            # The status test in the WHERE clause makes this atomic across processes: one UPDATE wins.
            cur = self._db.execute(
                "UPDATE consent SET status = 'used', body = ? WHERE id = ? AND status = ?",
                (json.dumps(body), record_id, expected),
            )
            return cur.rowcount == 1

    def close(self) -> None:
        with self._lock:
            self._db.close()
