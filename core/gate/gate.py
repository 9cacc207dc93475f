"""``Gate``: the one door every change passes, whoever asks (a tool, a SQL statement, the ksqlDB facade, delegation,
a measurement's scratch topic).

    gate.perform(change, act, requester=..., consent=..., effect=...)          (sync, for code off the event loop)
    await gate.aperform(change, act, requester=..., consent=..., effect=...)   (async, for tools)

1. mode: read-only, the tool allow/deny lists;
2. protected resources (internal, registry and Connect topics, a configured pattern);
3. policies on the real resource (``core.gate.policies``; ``override_reason`` for the overridable rules);
4. consent, for destructive changes (``core.gate.consent``); a change needing a second step raises
   ``ConsentRequired`` with what to show, and nothing is done;
5. ``act(permit)`` does the work: only the gate makes ``Permit``s, and every mutating function requires one;
6. the outcome (result or error) goes to the audit log.

Every refusal is audited too.
"""

from __future__ import annotations

import inspect
import re
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from functools import partial
from typing import Any, TypeVar, cast

import anyio.to_thread
from pydantic import BaseModel

from core.errors import ConfigError, KafkaAgentError, PolicyViolation, ProtectedResource, ReadOnlyMode
from core.gate.audit import AuditLog
from core.gate.change import _GATE_ONLY, SYSTEM, Change, Permit, Requester
from core.gate.consent import (
    ApprovalConsent,
    AsyncConsent,
    Consent,
    Granted,
    NoConsent,
    TokenConsent,
)
from core.gate.policies import Finding, evaluate
from core.gate.store import ConsentStore
from core.settings import ConsentMode, Settings

T = TypeVar("T")

# Topics no caller may delete, truncate or reconfigure: Kafka's internal topics, the schema registry's, Connect's.
DEFAULT_PROTECTED = re.compile(
    r"^(__.*|_schemas|connect-(configs|offsets|status)|mm2-.*\.internal|.*\.checkpoints\.internal"
    r"|heartbeats)$"
)
# The policy warnings of the call being served: the MCP tool wrapper opens a list, the gate adds to it, and the
# wrapper shows them in the call's result (they are in the audit log as well).
CALL_WARNINGS: ContextVar[list[str] | None] = ContextVar("kafka_agent_call_warnings", default=None)


def _dump(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    if isinstance(result, list) and all(isinstance(r, BaseModel) for r in result):
        return [r.model_dump(mode="json") for r in result]
    return result


class Gate:
    """One per process: checks, consent, permits and the audit log for every change."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: ConsentStore | None = None,
        clock: Callable[[], float] = time.time,
        transport: str = "stdio",
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._store = store
        self.audit = AuditLog(settings.resolved_audit_log(), transport=transport)
        try:
            self._protected_extra = (
                re.compile(settings.protected_topics_pattern) if settings.protected_topics_pattern else None
            )
        except re.error as exc:
            raise ConfigError(
                f"KAFKA_AGENT_PROTECTED_TOPICS_PATTERN {settings.protected_topics_pattern!r} is not a valid "
                f"regular expression: {exc}.",
                hint="Fix the pattern, e.g. '^(billing|ledger)\\.'.",
            ) from None

    @property
    def transport(self) -> str:
        return self.audit.transport

    @transport.setter
    def transport(self, value: str) -> None:
        self.audit.transport = value

    @property
    def store(self) -> ConsentStore:
        """The consent store, opened on first use (``consent_store`` setting: local SQLite or a Kafka topic)."""
        if self._store is None:
            from core.gate.stores import open_store

            self._store = open_store(self.settings, self, clock=self.clock)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    # --- modes ----------------------------------------------------------------------------------------------------

    def tool_visible(self, name: str, *, mutating: bool) -> bool:
        if mutating and self.settings.read_only:
            return False
        if self.settings.allow_tools and name not in self.settings.allow_tools:
            return False
        return name not in self.settings.deny_tools

    def check_tool(self, name: str, *, mutating: bool, audit: bool = True) -> None:
        """Refuse a tool the modes do not allow; a refused mutating call is written to the audit log."""
        try:
            if mutating and self.settings.read_only:
                raise ReadOnlyMode(
                    f"{name} changes the cluster, and this server runs read-only.",
                    hint="Restart the server without --read-only to allow changes.",
                )
            if self.settings.allow_tools and name not in self.settings.allow_tools:
                raise ReadOnlyMode(f"{name} is not on this server's tool allow list.")
            if name in self.settings.deny_tools:
                raise ReadOnlyMode(f"{name} is on this server's tool deny list.")
        except ReadOnlyMode as exc:
            if mutating and audit:
                self.record(
                    Change(tool=name, cluster="", action="tool.call", resource_type="tool"),
                    decision="refused",
                    error=str(exc),
                )
            raise

    def is_protected_topic(self, topic: str) -> bool:
        return bool(DEFAULT_PROTECTED.match(topic) or (self._protected_extra and self._protected_extra.search(topic)))

    def consent_mode(self, cluster: str) -> ConsentMode:
        """The cluster's consent mode. For '*' (memory records of several clusters) and for a name that is not a
        configured cluster (memory keys may name any), the strictest mode among the configured clusters."""
        order: list[ConsentMode] = ["token", "elicit", "approve"]
        clusters = self.settings.clusters()
        if cluster in clusters:
            return clusters[cluster].consent_mode()
        return max((c.consent_mode() for c in clusters.values()), key=order.index, default="approve")

    def consent_for(
        self, cluster: str, *, token: str | None = None, elicit: AsyncConsent | None = None
    ) -> Consent | AsyncConsent:
        """The consent a call gets on this cluster: by its mode, and whether the client can ask its person."""
        mode = self.consent_mode(cluster)
        if mode == "approve":
            return ApprovalConsent(token)
        if elicit is not None:
            return elicit
        if mode == "elicit":
            return NoConsent(
                f"cluster {cluster!r} asks the person through the MCP client (consent mode 'elicit'), and this client "
                "does not support elicitation. Use a client that does (it will ask you to type the resource's name), "
                "or have the cluster's consent mode set to 'approve' and grant the change with `kafka-agent approvals "
                "approve`"
            )
        return TokenConsent(token)

    # --- the door -------------------------------------------------------------------------------------------------

    def profile_of(self, change: Change) -> str:
        """The profile the policies apply: ``details['profile']``, else the cluster's, else production."""
        given = change.details.get("profile")
        if isinstance(given, str) and given in ("production", "staging", "dev"):
            return given
        try:
            return self.settings.cluster(change.cluster).profile
        except KafkaAgentError:
            return "production"

    def check(self, change: Change, *, requester: Requester = SYSTEM) -> list[Finding]:
        """Steps 1-3: refuse (``Refused`` subclasses, audited) or return the warnings."""
        try:
            self.check_tool(change.tool, mutating=True, audit=False)
            if change.resource_type == "topic":
                for topic in change.resources:
                    if self.is_protected_topic(topic):
                        raise ProtectedResource(
                            f"Topic {topic!r} is protected (internal, registry, Connect or configured pattern): "
                            f"{change.tool} may not change it.",
                        )
            findings = evaluate(change.action, change.details, profile=self.profile_of(change))
            refusals = [f for f in findings if f.severity == "refuse"]
            if refusals:
                self._refuse_or_override(change, refusals)
        except KafkaAgentError as exc:
            self.record(change, decision="refused", error=str(exc), requester=requester)
            raise
        warnings = [f for f in findings if f.severity == "warn"]
        change.policy_warnings = [f"{f.rule}: {f.message}" for f in warnings]
        shown = CALL_WARNINGS.get()
        if shown is not None:
            shown += [w for w in change.policy_warnings if w not in shown]
        return warnings

    def _refuse_or_override(self, change: Change, refusals: list[Finding]) -> None:
        reason = (change.override_reason or "").strip()
        fixed = [f for f in refusals if not (f.overridable and reason)]
        if not fixed:
            change.overridden_rules = sorted({f.rule for f in refusals})
            return
        profile = self.profile_of(change)
        parts = [f"rule {f.rule!r}: {f.message} Why: {f.why} Compliant: {f.fix}" for f in fixed]
        names = ", ".join(sorted({f.rule for f in fixed}))
        hint = None
        if reason and any(not f.overridable for f in fixed):
            hint = f"override_reason cannot override {names}: change the call to the compliant form."
        elif not reason and all(f.overridable for f in fixed):
            hint = "If this is deliberate, repeat the call with override_reason explaining why (it is audited)."
        raise PolicyViolation(
            f"{change.tool} refused by policy ({profile} profile of cluster {change.cluster!r}): " + " | ".join(parts),
            rule=fixed[0].rule,
            hint=hint,
        )

    def admit(
        self, change: Change, *, requester: Requester = SYSTEM, consent: Consent | None = None, effect: str = ""
    ) -> Granted:
        """Steps 1-4 for a synchronous caller. Raises ``Refused`` or ``ConsentRequired``."""
        self.check(change, requester=requester)
        if not change.destructive:
            return Granted("allowed")
        return (consent or NoConsent()).obtain(self, change, requester, effect or change.action)

    async def aadmit(
        self,
        change: Change,
        *,
        requester: Requester = SYSTEM,
        consent: Consent | AsyncConsent | None = None,
        effect: str = "",
    ) -> Granted:
        """Steps 1-4 for an async caller; consent may be asked through the client (elicitation)."""
        self.check(change, requester=requester)
        if not change.destructive:
            return Granted("allowed")
        if consent is not None and hasattr(consent, "obtain_async"):
            return await cast(AsyncConsent, consent).obtain_async(self, change, requester, effect or change.action)
        return await anyio.to_thread.run_sync(
            partial(self.admit_consent, change, requester=requester, consent=consent, effect=effect)
        )

    def admit_consent(self, change: Change, *, requester: Requester, consent: Consent | None, effect: str) -> Granted:
        return (consent or NoConsent()).obtain(self, change, requester, effect or change.action)

    def perform(
        self,
        change: Change,
        act: Callable[[Permit], T],
        *,
        requester: Requester = SYSTEM,
        consent: Consent | None = None,
        effect: str = "",
        summarize: Callable[[T], Any] | None = None,
    ) -> T:
        """Admit the change, do it with a permit, and audit the outcome (synchronous callers). ``summarize`` turns a
        large result into what the audit line keeps."""
        granted = self.admit(change, requester=requester, consent=consent, effect=effect)
        return self._act(change, act, granted, requester, summarize)

    async def aperform(
        self,
        change: Change,
        act: Callable[[Permit], T] | Callable[[Permit], Awaitable[T]],
        *,
        requester: Requester = SYSTEM,
        consent: Consent | AsyncConsent | None = None,
        effect: str = "",
        summarize: Callable[[T], Any] | None = None,
    ) -> T:
        """Admit the change, do it with a permit, and audit the outcome. A plain function ``act`` runs off the
        event loop (it may block on Kafka); an async one is awaited. ``summarize`` turns a large result into what the
        audit line keeps."""
        granted = await self.aadmit(change, requester=requester, consent=consent, effect=effect)
        permit = Permit(change, requester, _key=_GATE_ONLY, decision=granted.decision, decided_by=granted.by)
        try:
            if inspect.iscoroutinefunction(act):
                result: T = await act(permit)
            else:
                result = await anyio.to_thread.run_sync(partial(cast(Callable[[Permit], T], act), permit))
        except Exception as exc:
            self.record(change, decision=granted.decision, error=str(exc), requester=requester, decided_by=granted.by)
            raise
        self.record(
            change,
            decision=granted.decision,
            result=_dump(summarize(result) if summarize else result),
            requester=requester,
            decided_by=granted.by,
        )
        return result

    def _act(
        self,
        change: Change,
        act: Callable[[Permit], T],
        granted: Granted,
        requester: Requester,
        summarize: Callable[[T], Any] | None = None,
    ) -> T:
        permit = Permit(change, requester, _key=_GATE_ONLY, decision=granted.decision, decided_by=granted.by)
        try:
            result = act(permit)
        except Exception as exc:
            self.record(change, decision=granted.decision, error=str(exc), requester=requester, decided_by=granted.by)
            raise
        self.record(
            change,
            decision=granted.decision,
            result=_dump(summarize(result) if summarize else result),
            requester=requester,
            decided_by=granted.by,
        )
        return result

    # --- audit ----------------------------------------------------------------------------------------------------

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
        """Append one audit line: who asked, what, the decision, the outcome. Secrets are redacted."""
        self.audit.record(
            change, decision=decision, result=result, error=error, requester=requester, decided_by=decided_by
        )
