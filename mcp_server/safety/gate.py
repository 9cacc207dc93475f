"""``Safety``: read-only mode, tool allow/deny lists, protected topics, consent tokens and the audit log."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import threading
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from mcp_server.errors import (
    ConfigError,
    InvalidArgument,
    KafkaAgentError,
    PolicyViolation,
    ProtectedResource,
    ReadOnlyMode,
)
from mcp_server.safety.policies import Finding, evaluate
from mcp_server.settings import Settings

if TYPE_CHECKING:
    from mcp_types import InputRequiredResult

    from mcp_server.tools._base import Ctx

# Topics no tool may delete, truncate or reconfigure: Kafka's internal topics, the schema registry's, Connect's.
DEFAULT_PROTECTED = re.compile(
    r"^(__.*|_schemas|connect-(configs|offsets|status)|mm2-.*\.internal|.*\.checkpoints\.internal"
    r"|heartbeats)$"
)
# The policy warnings of the tool call being served: the tool wrapper (mcp_server.tools._base) opens a list, the gate
# adds to it, and the wrapper shows them in the call's result (they are in the audit log as well).
CALL_WARNINGS: ContextVar[list[str] | None] = ContextVar("kafka_agent_call_warnings", default=None)

_SECRET_KEYS = re.compile(r"pass(word)?|secret|token|credential|sasl\.jaas|api[_.-]?key", re.IGNORECASE)


def redact(value: Any) -> Any:
    """A copy with every secret-looking key's value replaced, at any depth."""
    if isinstance(value, dict):
        return {k: ("***" if isinstance(k, str) and _SECRET_KEYS.search(k) else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


class Change(BaseModel):
    """A planned change, as the gate and the audit log see it."""

    tool: str
    cluster: str
    action: str = Field(description="What changes, e.g. 'topic.create', 'topic.delete', 'group.offsets.reset'.")
    resource_type: str = Field(description="topic, group, acl, user, schema, connector, memory, stream ...")
    resources: list[str] = Field(default_factory=list)
    destructive: bool = False
    arguments: dict[str, Any] = Field(default_factory=dict, description="The tool's arguments, for binding/audit.")
    details: dict[str, Any] = Field(default_factory=dict, description="Facts the policies read (partitions, RF...).")
    override_reason: str | None = None
    on_mismatch: str | None = Field(
        None,
        description="What a confirmation token that no longer fits means for this call (e.g. the matches bound "
        "into the arguments changed since the preview); the generic message otherwise.",
    )
    policy_warnings: list[str] = Field(default_factory=list, description="Set by authorize: rules that warned.")
    overridden_rules: list[str] = Field(default_factory=list, description="Set by authorize: rules overridden.")


class ConsentPreview(BaseModel):
    """What a destructive call would do, and the token that lets a second, identical call do it."""

    effect: str = Field(description="Exactly what the call will change.")
    confirmation_token: str = Field(description="Pass as confirm_token in an identical second call to proceed.")
    expires_at: str = Field(description="UTC time after which the token is void.")
    how_to_confirm: str


class _Pending(BaseModel):
    digest: str
    expires: float


class Safety:
    """One per server: checks every change, issues and redeems consent tokens, writes the audit log."""

    def __init__(self, settings: Settings, *, clock: Any = time.time) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self._asked: dict[str, _Pending] = {}  # elicitation rounds in flight (2026-07-28 request_state)
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
        self.transport = "stdio"

    # --- modes --------------------------------------------------------------------------------------------------

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

    # --- the gate -----------------------------------------------------------------------------------------------

    def profile_of(self, change: Change) -> str:
        """The profile the policies apply: ``details['profile']``, else the cluster's, else dev."""
        given = change.details.get("profile")
        if isinstance(given, str) and given in ("production", "staging", "dev"):
            return given
        try:
            return self.settings.cluster(change.cluster).profile
        except KafkaAgentError:
            return "dev"

    def check(self, change: Change) -> list[Finding]:
        """Refuse (``Refused`` subclasses) or return the warnings; consent is not part of this step."""
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
            self.record(change, decision="refused", error=str(exc))
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

    def authorize(self, change: Change, *, confirm_token: str | None, effect: str) -> ConsentPreview | None:
        """Refuse, ask for consent (destructive changes), or allow. See the module docstring."""
        self.check(change)
        if not change.destructive:
            return None
        if confirm_token:
            try:
                self._redeem(confirm_token, change)
            except KafkaAgentError as exc:
                self.record(change, decision="refused", error=str(exc))
                raise
            return None
        return self._issue(change, effect)

    async def confirm(
        self, ctx: Ctx, change: Change, *, confirm_token: str | None, effect: str
    ) -> ConsentPreview | InputRequiredResult | None:
        """Like ``authorize``, but a destructive change asks the person through MCP elicitation when the client
        supports it (typing the resource's name); otherwise the token flow of ``authorize``.

        Returns None to go ahead, a ``ConsentPreview`` to return to the model (token flow), or an
        ``InputRequiredResult`` the tool returns as is (2026-07-28 clients answer it and retry the call).
        A declined, cancelled or mistyped confirmation raises ``Refused``: nothing is changed.
        """
        from mcp_server.safety.elicit import confirm_with_person

        return await confirm_with_person(self, ctx, change, confirm_token=confirm_token, effect=effect)

    def _digest(self, change: Change) -> str:
        bound = {
            "tool": change.tool,
            "cluster": change.cluster,
            "arguments": {k: v for k, v in change.arguments.items() if k != "confirm_token"},
        }
        return hashlib.sha256(json.dumps(bound, sort_keys=True, default=str).encode()).hexdigest()

    def _issue(self, change: Change, effect: str) -> ConsentPreview:
        token = secrets.token_urlsafe(18)
        expires = self._clock() + self.settings.confirm_ttl_s
        with self._lock:
            now = self._clock()
            self._pending = {k: v for k, v in self._pending.items() if v.expires > now}
            self._pending[token] = _Pending(digest=self._digest(change), expires=expires)
        self.record(change, decision="consent_requested", result={"effect": effect})
        return ConsentPreview(
            effect=effect,
            confirmation_token=token,
            expires_at=datetime.fromtimestamp(expires, UTC).isoformat(timespec="seconds"),
            how_to_confirm=(
                f"Nothing was changed. Show this effect to the user; only if they agree, call {change.tool} "
                "again with exactly the same arguments plus confirm_token. The token works once."
            ),
        )

    def remember_question(self, change: Change) -> str:
        """A single-use handle for a question put to the person, bound to this change (never a confirm token)."""
        handle = secrets.token_urlsafe(18)
        with self._lock:
            now = self._clock()
            self._asked = {k: v for k, v in self._asked.items() if v.expires > now}
            self._asked[handle] = _Pending(digest=self._digest(change), expires=now + self.settings.confirm_ttl_s)
        return handle

    def recall_question(self, handle: str, change: Change) -> bool:
        """True once for a live handle issued for this exact change; the handle is spent either way."""
        with self._lock:
            pending = self._asked.pop(handle, None)
        return pending is not None and pending.expires >= self._clock() and pending.digest == self._digest(change)

    def _redeem(self, token: str, change: Change) -> None:
        with self._lock:
            pending = self._pending.pop(token, None)
        if pending is None:
            raise InvalidArgument(
                "The confirmation token is unknown or was already used.",
                hint="Call the tool again without confirm_token to get a new one.",
            )
        if pending.expires < self._clock():
            raise InvalidArgument(
                "The confirmation token has expired.",
                hint="Call the tool again without confirm_token to get a new one.",
            )
        if pending.digest != self._digest(change) and change.on_mismatch:
            raise InvalidArgument(
                change.on_mismatch,
                hint=f"Call {change.tool} again without confirm_token to review what it would change now.",
            )
        if pending.digest != self._digest(change):
            raise InvalidArgument(
                "The confirmation token was issued for different arguments or another cluster.",
                hint="Confirm with exactly the arguments of the dry run, or start a new dry run.",
            )

    # --- audit --------------------------------------------------------------------------------------------------

    def record(self, change: Change, *, decision: str, result: Any = None, error: str | None = None) -> None:
        """Append one JSON line for a mutating call: who, what, decision, outcome. Secrets are redacted."""
        path: Path = self.settings.resolved_audit_log()
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "transport": self.transport,
            "cluster": change.cluster,
            "tool": change.tool,
            "action": change.action,
            "resources": change.resources,
            "arguments": redact(change.arguments),
            "decision": decision,
            "override_reason": change.override_reason,
            "overridden_rules": change.overridden_rules,
            "policy_warnings": change.policy_warnings,
            "result": redact(result),
            "error": error,
        }
        line = json.dumps(entry, default=str)
        with self._lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Owner-only from the first line on: arguments are redacted, but resource names can be sensitive too.
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
