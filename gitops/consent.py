"""Consent from the person who runs ``kafka-agent apply`` at a terminal: they are the one consenting.

approve mode   the change leaves a pending approval in the consent store, as for every asker; the person at the
               terminal decides it (``--approve``, or by answering) through ``core.gate.approvals.decide`` with
               their identity, and the apply redeems it once. Without a person to ask, the approval stays
               pending: grant it with ``kafka-agent approvals approve ID`` and run the same apply again.
elicit mode    the person types the cluster's name (``--approve`` counts as that answer).
token mode     dev clusters: the person's standing consent (``--approve``, or answering yes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from core.errors import Refused
from core.gate import ApprovalConsent, ConsentRequired, Granted, NoConsent, StandingConsent
from core.gate.approvals import decide

if TYPE_CHECKING:
    from core.gate import Change, Gate, Requester

# (effect, cluster, approval id or None) -> True (go ahead), False (declined), None (nobody to ask)
Ask = Callable[[str, str, str | None], bool | None]


class PersonAtTerminal:
    def __init__(self, *, who: str, ask: Ask) -> None:
        self.who = who
        self.ask = ask

    def obtain(self, gate: Gate, change: Change, requester: Requester, effect: str) -> Granted:
        mode = gate.consent_mode(change.cluster)
        if mode == "approve":
            try:
                return ApprovalConsent().obtain(gate, change, requester, effect)
            except ConsentRequired as pending:
                approval_id = pending.preview.approval_id if pending.preview else None
                if approval_id is None:
                    raise
                answer = self.ask(effect, change.cluster, approval_id)
                if answer is None:
                    raise
                decide(
                    gate, approval_id, approve=answer, by=self.who, reason="decided at the terminal (kafka-agent apply)"
                )
                if not answer:
                    raise Refused(f"{self.who} denied approval {approval_id}; nothing was changed.") from None
                return ApprovalConsent(approval_id).obtain(gate, change, requester, effect)
        answer = self.ask(effect, change.cluster, None)
        if answer is None:
            return NoConsent("there is no terminal to ask at (give --approve)").obtain(gate, change, requester, effect)
        if not answer:
            gate.record(change, decision="declined", requester=requester, decided_by=self.who)
            raise Refused("Not confirmed at the terminal; nothing was changed.")
        if mode == "elicit":
            gate.record(
                change,
                decision="confirmed_by_person",
                result={"effect": effect},
                requester=requester,
                decided_by=self.who,
            )
            return Granted("confirmed_by_person", by=f"{self.who} at the terminal")
        return StandingConsent(by=f"{self.who} at the terminal").obtain(gate, change, requester, effect)
