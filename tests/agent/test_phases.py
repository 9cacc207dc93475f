"""The phase machine's rules, from tool annotations (pure logic, no cluster)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from agent.host import _spec_from_tool
from agent.phases import (
    ORDER,
    Phase,
    ToolSpec,
    can_advance,
    dry_run_flag,
    is_mutating_call,
    phase_allows,
    phase_offers,
    result_says_unchanged,
)

SCHEMA: dict[str, Any] = {"type": "object", "properties": {"topic": {"type": "string"}}}
CONFIRM: dict[str, Any] = {"type": "object", "properties": {"topic": {}, "confirm_token": {}}}

READ = ToolSpec(name="kafka_describe_topic", input_schema=SCHEMA, read_only=True, destructive=False)
WRITE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"topic": {"type": "string"}, "validate_only": {"type": "boolean", "default": False}},
}
WRITE = ToolSpec(name="kafka_create_topic", input_schema=WRITE_SCHEMA, destructive=False)
PRODUCE = ToolSpec(name="kafka_produce", input_schema=SCHEMA, destructive=False)
DELETE = ToolSpec(name="kafka_delete_topic", input_schema=CONFIRM, destructive=True)
MEMORY = ToolSpec(name="memory_store", input_schema=SCHEMA, destructive=False)
PERF = ToolSpec(name="kafka_perf_test", input_schema=SCHEMA, destructive=False)


@pytest.mark.parametrize("phase", ORDER)
def test_read_only_tools_are_allowed_in_every_phase(phase: Phase) -> None:
    assert phase_allows(phase, READ, {})[0]


def test_writes_only_in_execute_or_as_validation() -> None:
    allowed = {p for p in ORDER if phase_allows(p, WRITE, {"topic": "t"})[0]}
    assert allowed == {Phase.EXECUTE}
    assert phase_allows(Phase.VALIDATE, WRITE, {"validate_only": True})[0]
    assert not phase_allows(Phase.PLAN, WRITE, {"validate_only": True})[0]
    ok, reason = phase_allows(Phase.VERIFY, WRITE, {})
    assert not ok and "VERIFY" in reason and "kafka_create_topic" in reason


def test_a_flag_the_tool_does_not_define_is_not_a_dry_run() -> None:
    """An injected ``dry_run`` (or ``validate_only``) on a tool that has no such argument changes nothing about how
    the call is judged: it is a write, refused outside EXECUTE and subject to approval."""
    for flag in ("dry_run", "validate_only"):
        assert is_mutating_call(PRODUCE, {"topic": "t", flag: True})
        assert not phase_allows(Phase.VALIDATE, PRODUCE, {"topic": "t", flag: True})[0]
        assert dry_run_flag(PRODUCE, {"topic": "t", flag: True}) is None
    assert is_mutating_call(DELETE, {"topic": "t", "dry_run": True, "confirm_token": "x"})
    assert dry_run_flag(WRITE, {"validate_only": True}) == "validate_only"
    assert dry_run_flag(WRITE, {"validate_only": "true"}) is None  # only a real boolean counts


def test_a_result_must_say_nothing_changed() -> None:
    assert result_says_unchanged({"validate_only": True, "created": False})
    assert result_says_unchanged({"executed": False, "consent": {}})
    assert not result_says_unchanged({"created": True})
    assert not result_says_unchanged("created")


def test_destructive_preview_is_a_dry_run_but_the_confirmed_call_is_not() -> None:
    assert phase_allows(Phase.VALIDATE, DELETE, {"topic": "t"})[0]
    assert not phase_allows(Phase.VALIDATE, DELETE, {"topic": "t", "confirm_token": "x"})[0]
    assert not is_mutating_call(DELETE, {"topic": "t"})
    assert is_mutating_call(DELETE, {"topic": "t", "confirm_token": "x"})


def test_named_exceptions() -> None:
    assert {p for p in ORDER if phase_allows(p, MEMORY, {})[0]} == {Phase.EXECUTE, Phase.DOCUMENT}
    assert not is_mutating_call(MEMORY, {})
    assert {p for p in ORDER if phase_allows(p, PERF, {})[0]} == {Phase.VALIDATE, Phase.EXECUTE, Phase.VERIFY}
    assert is_mutating_call(PERF, {})


def test_phases_only_move_forward() -> None:
    assert can_advance(Phase.PLAN, Phase.EXECUTE)[0]
    assert not can_advance(Phase.VERIFY, Phase.EXECUTE)[0]
    assert not can_advance(Phase.PLAN, Phase.PLAN)[0]


def test_unannotated_tools_are_treated_as_destructive_writes() -> None:
    bare = SimpleNamespace(name="drop_everything", description=None, input_schema=SCHEMA, annotations=None)
    spec = _spec_from_tool(bare, "other", "other__")
    assert spec.name == "other__drop_everything" and spec.remote_name == "drop_everything"
    assert not spec.read_only and spec.destructive
    assert is_mutating_call(spec, {}) and not phase_allows(Phase.VALIDATE, spec, {})[0]


@pytest.mark.parametrize("spec", [READ, WRITE, PRODUCE, DELETE, MEMORY, PERF])
def test_a_phase_offers_exactly_the_tools_it_allows_some_call_of(spec: ToolSpec) -> None:
    """The list the model sees per phase and the judge of each call agree: a tool is shown in a phase when some call
    of it (plain, with a dry-run flag, or a destructive preview) is allowed there, and only then."""
    tries: list[dict[str, Any]] = [{}, {"validate_only": True}, {"dry_run": True}, {"topic": "t"}]
    for phase in ORDER:
        allowed = any(phase_allows(phase, spec, args)[0] for args in tries)
        assert phase_offers(phase, spec) == allowed, (phase, spec.name)
