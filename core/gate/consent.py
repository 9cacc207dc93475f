"""Consent for destructive changes, as an interface with one implementation per way of asking a person.

    Consent (protocol)        obtain(gate, change, requester, effect) -> Granted, or raise ConsentRequired / Refused
    ├── TokenConsent          dev clusters: the first call returns a single-use token bound to the requester and the
    │                         exact arguments; an identical second call carrying it goes ahead
    ├── ApprovalConsent       out of band: the first call leaves a pending approval that a person grants with
    │                         `kafka-agent approvals approve ID`; the asker cannot grant it, only redeem it once
    ├── Preapproved           consent obtained earlier in the same call for exactly these changes (a SQL batch)
    ├── StandingConsent       an operator's start-up flag (the ksqlDB facade's --allow-drop), dev clusters only
    └── NoConsent             a caller that cannot ask anyone: destructive changes are refused
    AsyncConsent (protocol)   the same, awaited: MCP elicitation lives in mcp_server (it speaks MCP)

Which one a call gets follows the cluster's consent mode (``ClusterConfig.consent``: token | elicit | approve; the
default follows the profile: dev -> token, staging -> elicit, production -> approve), see ``Gate.consent_for``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, Field

from core.errors import KafkaAgentError, Refused
from core.gate.change import Change, Requester

if TYPE_CHECKING:
    from core.gate.gate import Gate


class ConsentPreview(BaseModel):
    """What a destructive call would do, and how consent is given. Nothing was changed."""

    mode: Literal["token", "approval"] = Field(
        "token", description="token: confirm with the token; approval: a person must approve out of band first."
    )
    effect: str = Field(description="Exactly what the call will change.")
    confirmation_token: str | None = Field(
        None, description="token mode: pass as confirm_token in an identical second call to proceed."
    )
    approval_id: str | None = Field(
        None, description="approval mode: the pending approval a person grants with `kafka-agent approvals approve`."
    )
    expires_at: str = Field(description="UTC time after which the token or the approval is void.")
    how_to_confirm: str


class ConsentRequired(Exception):
    """Raised by a consent that needs a second step: ``preview`` for the caller (token or pending approval), or
    ``payload`` for the transport (an MCP ``InputRequiredResult``, which the tool returns as is)."""

    def __init__(self, preview: ConsentPreview | None = None, payload: Any = None) -> None:
        self.preview = preview
        self.payload = payload
        super().__init__(preview.effect if preview is not None else "input required")


@dataclass(frozen=True)
class Granted:
    """Consent given: ``decision`` is what the audit log records (confirmed, approved, confirmed_by_person ...)."""

    decision: str
    by: str = ""


@dataclass(frozen=True)
class Grant:
    """Consent for a set of changes, obtained once for one call (every (action, resource) the person saw)."""

    decision: str
    by: str
    covers: frozenset[tuple[str, str]] = field(default_factory=frozenset)


class Consent(Protocol):
    def obtain(self, gate: Gate, change: Change, requester: Requester, effect: str) -> Granted: ...


class AsyncConsent(Protocol):
    async def obtain_async(self, gate: Gate, change: Change, requester: Requester, effect: str) -> Granted: ...


class NoConsent:
    """For callers that cannot ask a person (a facade, a worker): a destructive change is refused."""

    def __init__(self, why: str = "this caller cannot ask a person for consent") -> None:
        self.why = why

    def obtain(self, gate: Gate, change: Change, requester: Requester, effect: str) -> Granted:
        message = f"{change.tool}: {effect or change.action} needs a person's consent, and {self.why}; nothing changed."
        gate.record(change, decision="refused", error=message, requester=requester)
        raise Refused(
            message, hint="Make this change through an MCP client or `kafka-agent chat`, where a person can confirm it."
        )


class TokenConsent:
    """The two-step token flow (dev clusters): preview -> token -> identical call with the token."""

    def __init__(self, token: str | None) -> None:
        self.token = token

    def obtain(self, gate: Gate, change: Change, requester: Requester, effect: str) -> Granted:
        store = gate.store
        if self.token:
            try:
                store.redeem_token(self.token, requester=requester, change=change)
            except KafkaAgentError as exc:
                gate.record(change, decision="refused", error=str(exc), requester=requester)
                raise
            return Granted("confirmed", by=str(requester))
        token, record = store.issue_token(change, requester=requester, effect=effect, ttl=gate.settings.confirm_ttl_s)
        gate.record(change, decision="consent_requested", result={"effect": effect}, requester=requester)
        raise ConsentRequired(
            ConsentPreview(
                mode="token",
                effect=effect,
                confirmation_token=token,
                expires_at=record.expires_at_iso(),
                how_to_confirm=(
                    f"Nothing was changed. Show this effect to the user; only if they agree, call {change.tool} "
                    "again with exactly the same arguments plus confirm_token. The token works once, for this "
                    "session only."
                ),
            )
        )


class ApprovalConsent:
    """Out-of-band approval: a pending approval a person grants; the asker redeems it once with the same call."""

    def __init__(self, approval_id: str | None = None) -> None:
        self.approval_id = approval_id

    def obtain(self, gate: Gate, change: Change, requester: Requester, effect: str) -> Granted:
        store = gate.store
        try:
            record = store.redeem_approval(change, requester=requester, approval_id=self.approval_id)
        except KafkaAgentError as exc:
            gate.record(change, decision="refused", error=str(exc), requester=requester)
            raise
        if record is not None:
            return Granted("approved", by=record.decided_by or "")
        pending = store.request_approval(change, requester=requester, effect=effect, ttl=gate.settings.approval_ttl_s)
        gate.record(
            change,
            decision="approval_requested",
            result={"approval_id": pending.id, "effect": effect},
            requester=requester,
        )
        raise ConsentRequired(
            ConsentPreview(
                mode="approval",
                effect=effect,
                approval_id=pending.id,
                expires_at=pending.expires_at_iso(),
                how_to_confirm=(
                    f"Nothing was changed. This cluster needs a person's approval: tell the user to review it with "
                    f"`kafka-agent approvals show {pending.id}` and grant it with `kafka-agent approvals approve "
                    f"{pending.id}` (or deny it). After that, call {change.tool} again with exactly the same "
                    "arguments; you cannot approve it yourself."
                ),
            )
        )


class Preapproved:
    """Consent a person gave earlier in the same call, for exactly the (action, resource) pairs of ``grant``."""

    def __init__(self, grant: Grant) -> None:
        self.grant = grant

    def obtain(self, gate: Gate, change: Change, requester: Requester, effect: str) -> Granted:
        missing = [r for r in change.resources if (change.action, r) not in self.grant.covers]
        if missing or not change.resources:
            message = (
                f"{change.tool}: {change.action} of {', '.join(missing or ['(nothing named)'])} was not part of what "
                "the person confirmed; nothing was changed."
            )
            gate.record(change, decision="refused", error=message, requester=requester)
            raise Refused(message)
        return Granted(self.grant.decision, by=self.grant.by)


class StandingConsent:
    """An operator's standing consent given at start-up (``--allow-drop``); honoured on token-mode clusters only."""

    def __init__(self, by: str) -> None:
        self.by = by

    def obtain(self, gate: Gate, change: Change, requester: Requester, effect: str) -> Granted:
        mode = gate.consent_mode(change.cluster)
        if mode == "approve":
            return ApprovalConsent().obtain(gate, change, requester, effect)
        if mode == "elicit":
            why = f"cluster {change.cluster!r} needs consent by elicitation, which this caller cannot ask"
            return NoConsent(why).obtain(gate, change, requester, effect)
        return Granted("standing_consent", by=self.by)
