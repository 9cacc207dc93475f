"""Consent from the person, through MCP elicitation, for destructive changes.

The person types the name of what will be destroyed (a topic's name for a topic deletion). Two wire forms:

- protocol 2025-11-25 and older: the server sends ``elicitation/create`` mid-call (``ctx.elicit``);
- protocol 2026-07-28: the tool returns an ``InputRequiredResult`` holding the question; the client asks the person
  and retries the same call with the answer. The round is bound to the change by a single-use handle in
  ``request_state`` (kept server-side, never usable as a confirmation token).

A client that did not declare form elicitation gets the token flow of ``Safety.authorize`` instead. Nothing is ever
approved without an answer: decline, cancel, a wrong name or a missing answer all refuse, and change nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from mcp_server.errors import Refused

if TYPE_CHECKING:
    from mcp_types import InputRequiredResult

    from mcp_server.safety.gate import Change, ConsentPreview, Safety
    from mcp_server.tools._base import Ctx

QUESTION_KEY = "kafka_agent_confirm"


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
    """'inline' (elicitation/create mid-call), 'input_required' (2026-07-28 round trip), or None (token flow)."""
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


def _decide(safety: Safety, change: Change, action: str, typed: str | None) -> None:
    """Turn the person's answer into go-ahead (None) or a refusal; every outcome is audited."""
    expected = expected_answer(change)
    if action == "accept" and typed is not None and typed.strip() == expected:
        safety.record(change, decision="confirmed_by_person", result={"typed": expected})
        return
    if action == "accept":
        message = f"The confirmation typed did not match {expected!r}; nothing was changed."
        decision = "mismatch"
    elif action == "decline":
        message = f"The user declined {change.action} of {expected!r}; nothing was changed."
        decision = "declined"
    else:
        message = f"The user cancelled {change.action} of {expected!r}; nothing was changed."
        decision = "cancelled"
    safety.record(change, decision=decision)
    raise Refused(message, hint="Do not retry unless the user asks for it again.")


async def confirm_with_person(
    safety: Safety, ctx: Ctx, change: Change, *, confirm_token: str | None, effect: str
) -> ConsentPreview | InputRequiredResult | None:
    if not change.destructive or confirm_token:
        return safety.authorize(change, confirm_token=confirm_token, effect=effect)
    mode = elicitation_mode(ctx)
    if mode is None:
        return safety.authorize(change, confirm_token=None, effect=effect)
    safety.check(change)
    if mode == "inline":
        await _inline(safety, ctx, change, effect)
        return None
    return _round_trip(safety, ctx, change, effect)


async def _inline(safety: Safety, ctx: Ctx, change: Change, effect: str) -> None:
    from mcp.server.elicitation import AcceptedElicitation
    from mcp.shared.exceptions import MCPError

    safety.record(change, decision="consent_asked", result={"effect": effect})
    try:
        answer = await ctx.elicit(question(change, effect), TypeToConfirm)
    except ValueError:
        # Accepted without content, or content not matching the form: no answer is no consent.
        _decide(safety, change, "accept", None)
        return
    except MCPError as exc:
        # The client declared elicitation but could not ask: no answer, so no consent (and no silent token).
        safety.record(change, decision="refused", error=f"elicitation failed: {exc}")
        raise Refused(
            f"The client could not ask the user to confirm ({exc}); nothing was changed.",
            hint="Use a client whose elicitation works, or one without elicitation to get a confirmation token.",
        ) from None
    typed = answer.data.confirm if isinstance(answer, AcceptedElicitation) else None
    _decide(safety, change, answer.action, typed)


def _round_trip(safety: Safety, ctx: Ctx, change: Change, effect: str) -> InputRequiredResult | None:
    from mcp.server.elicitation import render_elicitation_schema
    from mcp_types import ElicitRequest, ElicitRequestFormParams, ElicitResult, InputRequiredResult

    state = ctx.request_state
    responses: dict[str, Any] = dict(ctx.input_responses or {})
    answer = responses.get(QUESTION_KEY)
    if state and isinstance(answer, ElicitResult):
        if not safety.recall_question(state, change):
            safety.record(change, decision="refused", error="stale or foreign confirmation round")
            raise Refused(
                "This confirmation answer does not belong to a question asked for exactly this call, or it expired; "
                "nothing was changed.",
                hint="Call the tool again to be asked anew.",
            )
        typed = None
        if answer.action == "accept" and answer.content is not None:
            value = answer.content.get("confirm")
            typed = value if isinstance(value, str) else None
        _decide(safety, change, answer.action, typed)
        return None
    handle = safety.remember_question(change)
    safety.record(change, decision="consent_asked", result={"effect": effect})
    request = ElicitRequest(
        params=ElicitRequestFormParams(
            message=question(change, effect), requested_schema=render_elicitation_schema(TypeToConfirm)
        )
    )
    return InputRequiredResult(input_requests={QUESTION_KEY: request}, request_state=handle)
