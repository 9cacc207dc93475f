"""The five phases of a run and which tool calls each one allows.

    PLAN      read-only tools and memory search: learn the cluster, recall past work, write the plan
    VALIDATE  read-only tools, kafka_check_policy, mutating tools called with validate_only/dry_run, and the
              measurement tools (kafka_perf_test, kafka_verify_exactly_once)
    EXECUTE   everything (mutating calls still go through the approval policy)
    VERIFY    read-only tools and the measurement tools: check that the change took effect
    DOCUMENT  read-only tools and memory_store: record the outcome

Which tools are read-only comes from the annotations ``list_tools`` reports (``readOnlyHint``/``destructiveHint``),
so a tool added to the server later is classified without touching this file; a few names are exceptions.
Phases only move forward (skipping is allowed: a question needs no EXECUTE). The model is shown, per phase, only the
tools that phase allows some call of (``phase_offers``); ``phase_allows`` judges each call as made.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel


class Phase(StrEnum):
    PLAN = "PLAN"
    VALIDATE = "VALIDATE"
    EXECUTE = "EXECUTE"
    VERIFY = "VERIFY"
    DOCUMENT = "DOCUMENT"


ORDER = [Phase.PLAN, Phase.VALIDATE, Phase.EXECUTE, Phase.VERIFY, Phase.DOCUMENT]

# Tools whose annotation says "writes" but that belong to the checking phases: policy checks never change anything.
CHECK_TOOLS = {"kafka_check_policy", "kafka_audit_cluster"}
# The agent's own notebook: writes memory, not the cluster.
MEMORY_WRITE_TOOLS = {"memory_store"}
# Measurements on scratch topics: they write, so the approval policy applies, but they belong to the checking
# phases too (VALIDATE measures the plan, VERIFY checks the result).
TEST_TOOLS = {"kafka_perf_test", "kafka_verify_exactly_once"}


class ToolSpec(BaseModel):
    """One tool the model may see, from an MCP server or local to the agent."""

    name: str
    description: str = ""
    input_schema: dict[str, Any]
    read_only: bool = False
    destructive: bool = True
    server: str = "kafka"
    remote_name: str = ""
    local: bool = False

    @property
    def has_confirm_flow(self) -> bool:
        """The server's two-step confirmation: a call without confirm_token only previews the change."""
        props = self.input_schema.get("properties") or {}
        return "confirm_token" in props


DRY_RUN_FLAGS = ("validate_only", "dry_run")


def dry_run_flag(spec: ToolSpec, arguments: dict[str, Any]) -> str | None:
    """The dry-run flag this call sets, counted only when the tool itself defines it as a boolean: a flag the tool
    does not know is not a dry run, whatever the caller (or an instruction hidden in a record) believes."""
    props = spec.input_schema.get("properties") or {}
    for flag in DRY_RUN_FLAGS:
        declared = props.get(flag)
        if arguments.get(flag) is True and isinstance(declared, dict) and _boolean(declared):
            return flag
    return None


def _boolean(schema: dict[str, Any]) -> bool:
    if schema.get("type") == "boolean":
        return True
    return any(isinstance(s, dict) and s.get("type") == "boolean" for s in schema.get("anyOf") or [])


def result_says_unchanged(structured: Any) -> bool:
    """Whether a tool's result says, in its own fields, that nothing was changed."""
    if not isinstance(structured, dict):
        return False
    return (
        structured.get("validate_only") is True
        or structured.get("dry_run") is True
        or structured.get("executed") is False
        or structured.get("applied") is False
    )


def is_preview(spec: ToolSpec, arguments: dict[str, Any]) -> bool:
    """The first step of a destructive tool's two-step flow: it only describes the change."""
    return spec.destructive and spec.has_confirm_flow and not arguments.get("confirm_token")


def is_dry_run(spec: ToolSpec, arguments: dict[str, Any]) -> bool:
    """A call that cannot change anything: a dry-run flag the tool defines, or a destructive tool's preview."""
    return dry_run_flag(spec, arguments) is not None or is_preview(spec, arguments)


def is_mutating_call(spec: ToolSpec, arguments: dict[str, Any]) -> bool:
    """Whether this call, as made, may change a cluster or a service (the approval policy applies)."""
    if spec.local or spec.read_only or spec.name in CHECK_TOOLS or spec.name in MEMORY_WRITE_TOOLS:
        return False
    return not is_dry_run(spec, arguments)


def phase_allows(phase: Phase, spec: ToolSpec, arguments: dict[str, Any]) -> tuple[bool, str]:
    """(allowed, reason) for calling ``spec`` with ``arguments`` in ``phase``."""
    if offered_in_every_phase(spec):
        return True, ""
    if phase is Phase.EXECUTE:
        return True, ""
    if spec.name in TEST_TOOLS and phase in (Phase.VALIDATE, Phase.VERIFY):
        return True, ""
    if spec.name in MEMORY_WRITE_TOOLS:
        if phase is Phase.DOCUMENT:
            return True, ""
        return False, f"{spec.name} belongs to DOCUMENT (or EXECUTE); record the outcome after verifying it."
    if phase is Phase.VALIDATE and is_dry_run(spec, arguments):
        return True, ""
    hint = {
        Phase.PLAN: "Plan with read-only tools, then call agent_advance_phase to VALIDATE (validate_only=true) "
        "and EXECUTE.",
        Phase.VALIDATE: "In VALIDATE call it with validate_only=true, or advance to EXECUTE with agent_advance_phase.",
        Phase.VERIFY: "VERIFY only checks with read-only tools; changes belong to EXECUTE, which is over.",
        Phase.DOCUMENT: "DOCUMENT only stores the outcome with memory_store.",
    }.get(phase, "")
    return False, f"Refused: {spec.name} may change the cluster and the run is in phase {phase}. {hint}"


def phase_offers(phase: Phase, spec: ToolSpec) -> bool:
    """Whether ``phase`` allows some call of ``spec``, so the model is shown the tool in that phase (the list the
    model sees per phase; ``phase_allows`` still judges every call)."""
    if offered_in_every_phase(spec) or phase is Phase.EXECUTE:
        return True
    if spec.name in TEST_TOOLS:
        return phase in (Phase.VALIDATE, Phase.VERIFY)
    if spec.name in MEMORY_WRITE_TOOLS:
        return phase is Phase.DOCUMENT
    if phase is Phase.VALIDATE:
        props = spec.input_schema.get("properties") or {}
        declared = [props.get(flag) for flag in DRY_RUN_FLAGS]
        has_flag = any(isinstance(d, dict) and _boolean(d) for d in declared)
        return has_flag or (spec.destructive and spec.has_confirm_flow)
    return False


def offered_in_every_phase(spec: ToolSpec) -> bool:
    """Read-only tools, policy checks and the agent's own tools: the part of the tool list no phase change alters."""
    return spec.local or spec.read_only or spec.name in CHECK_TOOLS


def can_advance(current: Phase, target: Phase) -> tuple[bool, str]:
    if ORDER.index(target) <= ORDER.index(current):
        return False, f"Phases only move forward: the run is in {current}, so {target} is not reachable."
    return True, ""
