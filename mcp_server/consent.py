"""Consent through the MCP client: who asks (the session, or the agent run), and asking the person by elicitation.

``ElicitConsent`` is the MCP implementation of ``core.gate.consent.AsyncConsent``: the person types the name of what
will be destroyed (a topic's name for a topic deletion). Two wire forms:

- protocol 2025-11-25 and older: the server sends ``elicitation/create`` mid-call (``ctx.elicit``);
- protocol 2026-07-28: the tool returns an ``InputRequiredResult`` holding the question; the client asks the person
  and retries the same call with the answer. The round is bound to the change and the session by a single-use
  handle in ``request_state`` (kept server-side, never usable as a confirmation token).

Nothing is ever approved without an answer: decline, cancel, a wrong name or a missing answer all refuse, and
change nothing. Which consent a call gets (token, elicitation, approval) is the gate's decision by the cluster's
consent mode (``Gate.consent_for``).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from core.errors import Refused
from core.gate import Change, ConsentRequired, Gate, Granted, Requester
from core.gate.change import RUN_META_KEY

if TYPE_CHECKING:
    from mcp_server.tools._base import Ctx

QUESTION_KEY = "kafka_agent_confirm"


def requester_of(ctx: Ctx) -> Requester:
    """Who asks, for binding consent tokens and approvals (see ``requester_from``)."""
    return requester_from(ctx.request_context, ctx.mcp_server)


def requester_from(rc: Any, server: Any) -> Requester:
    """Who asks:

    - an agent run, named in ``_meta`` (believed only by the server the agent builds in process for itself);
    - a stateful HTTP session (``Mcp-Session-Id``, protocol 2025-11-25 and older);
    - a stateless HTTP client (protocol 2026-07-28 has no session): its bearer credential and declared client name;
    - stdio or in-memory: the one client of this server instance.
    """
    if getattr(server, "run_meta_trusted", False):
        run = (rc.meta or {}).get(RUN_META_KEY)
        if isinstance(run, str) and run:
            return Requester(f"run:{run}", f"agent run {run}")
    request = rc.request
    headers = getattr(request, "headers", None)
    if headers is not None:
        session_id = headers.get("mcp-session-id")
        if session_id:
            digest = hashlib.sha256(session_id.encode()).hexdigest()
            return Requester(f"session:{digest[:32]}", f"HTTP session {digest[:8]}")
        credential = hashlib.sha256(headers.get("authorization", "").encode()).hexdigest()[:16]
        client = _client_name(rc)
        return Requester(f"http-client:{credential}:{client}", f"stateless HTTP client {client!r}")
    instance = getattr(server, "instance_id", "server")
    return Requester(f"local:{instance}", f"{getattr(server, 'transport', 'stdio')} client")


def _client_name(rc: Any) -> str:
    try:
        params = rc.session.client_params
    except (AttributeError, ValueError):
        params = None
    info = getattr(params, "client_info", None)
    name = str(getattr(info, "name", "") or "unknown")
    return "".join(c for c in name if c.isalnum() or c in "-_.")[:40] or "unknown"


class TypeToConfirm(BaseModel):
    """The form the person fills in."""

    confirm: str = Field(description="Type the exact name shown in the message to confirm; anything else cancels.")


def expected_answer(change: Change) -> str:
    """What the person must type: the single resource's name, else the count and kind."""
    if len(change.resources) == 1:
        return change.resources[0]
    return f"{len(change.resources)} {change.resource_type}s"


def question(change: Change, effect: str) -> str:
    return (
        f"{effect}\n\nThis cannot be undone. To confirm, type {expected_answer(change)!r} exactly. "
        "Decline or cancel to leave everything as it is."
    )


def elicitation_mode(ctx: Ctx) -> str | None:
    """'inline' (elicitation/create mid-call), 'input_required' (2026-07-28 round trip), or None (no elicitation)."""
    from mcp_types.version import is_version_at_least

    try:
        caps = ctx.client_capabilities
        version = ctx.protocol_version
        session = ctx.request_context.session
    except (ValueError, AttributeError):
        return None
    elicitation = caps.elicitation if caps is not None else None
    # A bare `elicitation: {}` means form support; url-only does not.
    if elicitation is None or (elicitation.form is None and elicitation.url is not None):
        return None
    if version is not None and is_version_at_least(version, "2026-07-28"):
        return "input_required"
    return "inline" if session.can_send_request else None


class _Rounds:
    """Single-use handles for questions put to the person (2026-07-28 round trips), bound to session and change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._asked: dict[str, tuple[str, float]] = {}

    def remember(self, binding: str, ttl: float) -> str:
        handle = secrets.token_urlsafe(18)
        now = time.monotonic()
        with self._lock:
            self._asked = {k: v for k, v in self._asked.items() if v[1] > now}
            self._asked[handle] = (binding, now + ttl)
        return handle

    def recall(self, handle: str, binding: str) -> bool:
        with self._lock:
            entry = self._asked.pop(handle, None)
        return entry is not None and entry[1] >= time.monotonic() and entry[0] == binding


ROUNDS = _Rounds()


class ElicitConsent:
    """Ask the person through the client; the gate uses it when the client supports elicitation."""

    def __init__(self, ctx: Ctx, mode: str) -> None:
        self.ctx = ctx
        self.mode = mode

    async def obtain_async(self, gate: Gate, change: Change, requester: Requester, effect: str) -> Granted:
        if self.mode == "inline":
            return await self._inline(gate, change, requester, effect)
        return self._round_trip(gate, change, requester, effect)

    def _decide(self, gate: Gate, change: Change, requester: Requester, action: str, typed: str | None) -> Granted:
        """Turn the person's answer into go-ahead or a refusal; every outcome is audited."""
        expected = expected_answer(change)
        if action == "accept" and typed is not None and typed.strip() == expected:
            gate.record(change, decision="confirmed_by_person", result={"typed": expected}, requester=requester)
            return Granted("confirmed", by=f"the person at {requester} (typed {expected!r})")
        if action == "accept":
            message = f"The confirmation typed did not match {expected!r}; nothing was changed."
            decision = "mismatch"
        elif action == "decline":
            message = f"The user declined {change.action} of {expected!r}; nothing was changed."
            decision = "declined"
        else:
            message = f"The user cancelled {change.action} of {expected!r}; nothing was changed."
            decision = "cancelled"
        gate.record(change, decision=decision, requester=requester)
        raise Refused(message, hint="Do not retry unless the user asks for it again.")

    async def _inline(self, gate: Gate, change: Change, requester: Requester, effect: str) -> Granted:
        from mcp.server.elicitation import AcceptedElicitation
        from mcp.shared.exceptions import MCPError

        gate.record(change, decision="consent_asked", result={"effect": effect}, requester=requester)
        try:
            answer = await self.ctx.elicit(question(change, effect), TypeToConfirm)
        except ValueError:
            # Accepted without content, or content not matching the form: no answer is no consent.
            return self._decide(gate, change, requester, "accept", None)
        except MCPError as exc:
            # The client declared elicitation but could not ask: no answer, so no consent.
            gate.record(change, decision="refused", error=f"elicitation failed: {exc}", requester=requester)
            raise Refused(
                f"The client could not ask the user to confirm ({exc}); nothing was changed.",
                hint="Use a client whose elicitation works.",
            ) from None
        typed = answer.data.confirm if isinstance(answer, AcceptedElicitation) else None
        return self._decide(gate, change, requester, answer.action, typed)

    def _round_trip(self, gate: Gate, change: Change, requester: Requester, effect: str) -> Granted:
        from mcp.server.elicitation import render_elicitation_schema
        from mcp_types import ElicitRequest, ElicitRequestFormParams, ElicitResult, InputRequiredResult

        binding = f"{requester.id}|{change.digest()}"
        state = self.ctx.request_state
        responses: dict[str, Any] = dict(self.ctx.input_responses or {})
        answer = responses.get(QUESTION_KEY)
        if state and isinstance(answer, ElicitResult):
            if not ROUNDS.recall(state, binding):
                gate.record(
                    change, decision="refused", error="stale or foreign confirmation round", requester=requester
                )
                raise Refused(
                    "This confirmation answer does not belong to a question asked for exactly this call, or it "
                    "expired; nothing was changed.",
                    hint="Call the tool again to be asked anew.",
                )
            typed = None
            if answer.action == "accept" and answer.content is not None:
                value = answer.content.get("confirm")
                typed = value if isinstance(value, str) else None
            return self._decide(gate, change, requester, answer.action, typed)
        handle = ROUNDS.remember(binding, gate.settings.confirm_ttl_s)
        gate.record(change, decision="consent_asked", result={"effect": effect}, requester=requester)
        request = ElicitRequest(
            params=ElicitRequestFormParams(
                message=question(change, effect), requested_schema=render_elicitation_schema(TypeToConfirm)
            )
        )
        raise ConsentRequired(payload=InputRequiredResult(input_requests={QUESTION_KEY: request}, request_state=handle))
