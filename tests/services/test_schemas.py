"""Schema Registry tools against a real Apicurio Registry (Confluent API), checked with a separate HTTP client."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import unique
from tests.helpers import assert_tool_error, structured
from tests.services.conftest import ServiceEnv

pytestmark = pytest.mark.anyio


def _record(*fields: dict[str, Any]) -> str:
    return json.dumps({"type": "record", "name": "User", "namespace": "test", "fields": list(fields)})


ID = {"name": "id", "type": "int"}
NAME = {"name": "name", "type": "string"}
EMAIL_WITH_DEFAULT = {"name": "email", "type": ["null", "string"], "default": None}
AGE_REQUIRED = {"name": "age", "type": "int"}


def _audit(settings: Any, tool: str) -> list[dict[str, Any]]:
    lines = settings.resolved_audit_log().read_text().splitlines()
    return [a for a in map(json.loads, lines) if a["tool"] == tool]


def _versions(http: Any, env: ServiceEnv, subject: str) -> list[int]:
    resp = http.get(f"{env.registry_url}/subjects/{subject}/versions")
    return sorted(resp.json()) if resp.status_code == 200 else []


async def _set_level(mcp_client: Any, subject: str, level: str) -> None:
    data = structured(
        await mcp_client.call_tool("kafka_set_schema_compatibility", {"subject": subject, "level": level})
    )
    assert data["level"] == level and data["source"] == "subject"


async def test_register_evolve_and_refuse_breaking(
    mcp_client: Any, http: Any, service_env: ServiceEnv, settings: Any
) -> None:
    subject = unique("users") + "-value"
    v1 = structured(await mcp_client.call_tool("kafka_register_schema", {"subject": subject, "schema": _record(ID)}))
    assert v1["version"] == 1 and v1["already_registered"] is False
    await _set_level(mcp_client, subject, "BACKWARD")

    # A new optional field with a default is backward compatible.
    v2_schema = json.loads(_record(ID, EMAIL_WITH_DEFAULT))  # passed as a JSON object this time
    check = structured(
        await mcp_client.call_tool("kafka_check_schema_compatibility", {"subject": subject, "schema": v2_schema})
    )
    assert check["compatible"] is True and check["level"] == "BACKWARD" and check["checked_against"] == [1]
    v2 = structured(await mcp_client.call_tool("kafka_register_schema", {"subject": subject, "schema": v2_schema}))
    assert v2["version"] == 2 and v2["id"] != v1["id"]

    # A new required field breaks BACKWARD: the check explains why and how to fix it ...
    v3 = _record(ID, EMAIL_WITH_DEFAULT, AGE_REQUIRED)
    check = structured(
        await mcp_client.call_tool("kafka_check_schema_compatibility", {"subject": subject, "schema": v3})
    )
    assert check["compatible"] is False
    reasons = " ".join(p["reason"] for p in check["problems"])
    fixes = " ".join(p["fix"] for p in check["problems"])
    assert "age" in reasons and "no default" in reasons
    assert "default" in fixes
    # ... and registration is refused by policy, with the reason; the registry keeps two versions.
    refused = await mcp_client.call_tool("kafka_register_schema", {"subject": subject, "schema": v3})
    assert_tool_error(refused, "refused", "BACKWARD", "age", "default")
    assert _versions(http, service_env, subject) == [1, 2]
    # In production the guardrail's schema-compatibility rule refuses it, and the refusal is audited once.
    prod = await mcp_client.call_tool("kafka_register_schema", {"subject": subject, "schema": v3, "cluster": "prod-b"})
    assert_tool_error(prod, "schema-compatibility", "age")
    assert _versions(http, service_env, subject) == [1, 2]
    audit = [json.loads(line) for line in settings.resolved_audit_log().read_text().splitlines()]
    refusals = [a for a in audit if a["tool"] == "kafka_register_schema" and a["decision"] == "refused"]
    assert len(refusals) == 2 and {a["cluster"] for a in refusals} == {"b", "prod-b"}
    # Both went through the gate's policy check: in dev the rule warned (and the tool refused), in production the
    # rule refused; each refusal names who asked.
    dev_refusal = next(a for a in refusals if a["cluster"] == "b")
    assert any(w.startswith("schema-compatibility") for w in dev_refusal["policy_warnings"])
    assert all(a["requester"] and a["resources"] == [subject] for a in refusals)
    # The two registrations were allowed by the gate, each audited once with its outcome.
    registered = [
        a for a in _audit(settings, "kafka_register_schema") if a["decision"] == "allowed" and a["cluster"] == "b"
    ]
    assert [(a["result"]["version"], a["error"]) for a in registered] == [(1, None), (2, None)]
    assert all(a["action"] == "schema.register" and a["resources"] == [subject] for a in registered)

    # Registering an existing version again changes nothing.
    again = structured(await mcp_client.call_tool("kafka_register_schema", {"subject": subject, "schema": v2_schema}))
    assert again["already_registered"] is True and again["version"] == 2
    assert _versions(http, service_env, subject) == [1, 2]

    got = structured(await mcp_client.call_tool("kafka_get_schema", {"subject": subject}))
    assert got["versions"] == [1, 2] and got["schema_version"]["version"] == 2
    assert json.loads(got["schema_version"]["schema_text"])["fields"][1]["name"] == "email"
    listed = structured(await mcp_client.call_tool("kafka_list_schema_subjects", {"prefix": subject[:12]}))
    assert subject in listed["subjects"]


async def test_compatibility_levels_change_behaviour(mcp_client: Any, http: Any, service_env: ServiceEnv) -> None:
    subject = unique("levels") + "-value"
    structured(await mcp_client.call_tool("kafka_register_schema", {"subject": subject, "schema": _record(ID, NAME)}))
    without_name = _record(ID)  # removes a field that has no default

    # BACKWARD: new readers simply ignore the removed field.
    await _set_level(mcp_client, subject, "BACKWARD")
    check = structured(
        await mcp_client.call_tool("kafka_check_schema_compatibility", {"subject": subject, "schema": without_name})
    )
    assert check["compatible"] is True

    # FORWARD: old readers need 'name' in new data, and it has no default.
    await _set_level(mcp_client, subject, "FORWARD")
    got = structured(await mcp_client.call_tool("kafka_get_schema_compatibility", {"subject": subject}))
    assert got["level"] == "FORWARD"
    check = structured(
        await mcp_client.call_tool("kafka_check_schema_compatibility", {"subject": subject, "schema": without_name})
    )
    assert check["compatible"] is False
    assert any("FORWARD" in p["reason"] and "name" in p["reason"] for p in check["problems"])
    assert_tool_error(
        await mcp_client.call_tool("kafka_register_schema", {"subject": subject, "schema": without_name}), "FORWARD"
    )
    assert _versions(http, service_env, subject) == [1]

    # NONE: anything goes, so the registry accepts it.
    await _set_level(mcp_client, subject, "NONE")
    done = structured(await mcp_client.call_tool("kafka_register_schema", {"subject": subject, "schema": without_name}))
    assert done["version"] == 2
    assert _versions(http, service_env, subject) == [1, 2]


async def test_delete_version_needs_confirmation(
    mcp_client: Any, http: Any, service_env: ServiceEnv, settings: Any
) -> None:
    subject = unique("del") + "-value"
    structured(await mcp_client.call_tool("kafka_register_schema", {"subject": subject, "schema": _record(ID)}))
    await _set_level(mcp_client, subject, "NONE")
    structured(await mcp_client.call_tool("kafka_register_schema", {"subject": subject, "schema": _record(NAME)}))
    preview = structured(await mcp_client.call_tool("kafka_delete_schema_version", {"subject": subject, "version": 1}))
    assert preview["executed"] is False and "version 1" in preview["consent"]["effect"]
    assert preview["consent"]["mode"] == "token"
    assert _versions(http, service_env, subject) == [1, 2], "a delete without a token must change nothing"
    token = preview["consent"]["confirmation_token"]
    done = structured(
        await mcp_client.call_tool(
            "kafka_delete_schema_version", {"subject": subject, "version": 1, "confirm_token": token}
        )
    )
    assert done["executed"] is True and done["result"]["remaining_versions"] == [2]
    assert _versions(http, service_env, subject) == [2]
    audit = _audit(settings, "kafka_delete_schema_version")
    assert [a["decision"] for a in audit] == ["consent_requested", "confirmed"]
    assert audit[-1]["resources"] == [subject] and audit[-1]["action"] == "schema.delete"
    assert audit[-1]["error"] is None and audit[-1]["result"]["remaining_versions"] == [2]
    # The token works once.
    again = await mcp_client.call_tool(
        "kafka_delete_schema_version", {"subject": subject, "version": 1, "confirm_token": token}
    )
    assert again.is_error or structured(again)["executed"] is False
    assert _versions(http, service_env, subject) == [2]


async def test_delete_version_in_production_needs_approval(
    mcp_client: Any, http: Any, service_env: ServiceEnv, settings: Any
) -> None:
    from core.gate import Gate
    from core.gate.approvals import decide

    subject = unique("prod-del") + "-value"
    structured(await mcp_client.call_tool("kafka_register_schema", {"subject": subject, "schema": _record(ID)}))
    await _set_level(mcp_client, subject, "NONE")
    structured(await mcp_client.call_tool("kafka_register_schema", {"subject": subject, "schema": _record(NAME)}))
    args = {"subject": subject, "version": 1, "cluster": "prod-b"}
    # The same registry seen as production: a person approves out of band; no token is handed out.
    preview = structured(await mcp_client.call_tool("kafka_delete_schema_version", args))
    consent = preview["consent"]
    assert preview["executed"] is False and consent["mode"] == "approval"
    assert consent["approval_id"] and not consent.get("confirmation_token")
    assert _versions(http, service_env, subject) == [1, 2], "a pending approval must change nothing"

    gate = Gate(settings)
    try:
        decide(gate, consent["approval_id"], approve=True, by="test person")
    finally:
        gate.close()
    done = structured(
        await mcp_client.call_tool("kafka_delete_schema_version", {**args, "confirm_token": consent["approval_id"]})
    )
    assert done["executed"] is True and done["result"]["remaining_versions"] == [2]
    assert _versions(http, service_env, subject) == [2]
    audit = _audit(settings, "kafka_delete_schema_version")
    assert [a["decision"] for a in audit] == ["approval_requested", "approval_granted", "approved"]
    assert audit[-1]["decided_by"] == "test person" and audit[-1]["cluster"] == "prod-b"
    assert audit[-1]["error"] is None and audit[-1]["resources"] == [subject]


async def test_set_registry_wide_compatibility(mcp_client: Any, settings: Any) -> None:
    current = structured(await mcp_client.call_tool("kafka_get_schema_compatibility", {}))
    assert current["source"] == "global"
    # Set it to what it is (the registry is shared by the tests): the registry-wide default is its own resource.
    result = await mcp_client.call_tool("kafka_set_schema_compatibility", {"level": current["level"]})
    (audited,) = _audit(settings, "kafka_set_schema_compatibility")
    assert audited["decision"] == "allowed" and audited["resources"] == ["__global__"]
    assert audited["action"] == "schema.compatibility.set"
    if result.is_error:
        # Apicurio's Confluent API answers 404 to a registry-wide PUT while no global rule exists (its default,
        # NONE): the gate let the change through and audited the registry's refusal as its outcome.
        assert_tool_error(result, "HTTP 404")
        assert "404" in audited["error"]
    else:
        done = structured(result)
        assert done["level"] == current["level"] and done["source"] == "global" and done["subject"] is None
        assert audited["error"] is None


async def test_bad_input_gets_clear_errors(mcp_client: Any) -> None:
    assert_tool_error(
        await mcp_client.call_tool("kafka_register_schema", {"subject": unique("bad"), "schema": '{"type": "record"'}),
        "not valid JSON",
    )
    assert_tool_error(
        await mcp_client.call_tool(
            "kafka_register_schema", {"subject": unique("bad"), "schema": {"type": "record", "name": "X"}}
        ),
        "invalid",
    )
    assert_tool_error(await mcp_client.call_tool("kafka_get_schema", {"subject": unique("missing")}), "404")
    # Cluster 'a' has no registry configured: the error says how to configure one.
    assert_tool_error(
        await mcp_client.call_tool("kafka_list_schema_subjects", {"cluster": "a"}),
        "no schema registry",
        "clusters file",
    )
    # The server keeps serving.
    structured(await mcp_client.call_tool("kafka_list_schema_subjects", {}))


async def test_json_schema_and_protobuf(mcp_client: Any, http: Any, service_env: ServiceEnv) -> None:
    subject = unique("js") + "-value"
    v1 = {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}
    args = {"subject": subject, "schema_type": "JSON"}
    structured(await mcp_client.call_tool("kafka_register_schema", {**args, "schema": v1}))
    await _set_level(mcp_client, subject, "BACKWARD")
    breaking = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
    check = structured(await mcp_client.call_tool("kafka_check_schema_compatibility", {**args, "schema": breaking}))
    assert check["compatible"] is False and check["problems"] and "Avro only" in check["note"]
    assert_tool_error(await mcp_client.call_tool("kafka_register_schema", {**args, "schema": breaking}), "refused")
    assert _versions(http, service_env, subject) == [1]

    proto_subject = unique("pb") + "-value"
    proto = 'syntax = "proto3";\nmessage Order { int32 id = 1; string item = 2; }\n'
    done = structured(
        await mcp_client.call_tool(
            "kafka_register_schema", {"subject": proto_subject, "schema": proto, "schema_type": "PROTOBUF"}
        )
    )
    assert done["version"] == 1
    got = structured(await mcp_client.call_tool("kafka_get_schema", {"subject": proto_subject}))
    assert (
        got["schema_version"]["schema_type"] == "PROTOBUF" and "message Order" in got["schema_version"]["schema_text"]
    )


async def test_broken_schemas_are_refused_before_registering_naming_the_place(
    mcp_client: Any, http: Any, service_env: ServiceEnv
) -> None:
    """The reproduction: the registry stores {"type": "objekt"} as a JSON Schema without a word. Each kind is now
    checked first, and the error names where it is wrong; nothing reaches the registry."""
    cases = [
        ("JSON", {"type": "objekt"}, "at type: 'objekt' is not a JSON Schema type"),
        ("JSON", {"type": "object", "properties": {"id": {"type": "integr"}}}, "at properties/id/type"),
        ("PROTOBUF", 'syntax = "proto3";\nmessage Order { int32 id = 1; Money total = 2; }\n', "field 'Order.total'"),
        ("PROTOBUF", 'syntax = "proto3";\nmessage Order { int32 id = 1 }\n', "does not parse: line 2"),
        (
            "AVRO",
            _record(
                ID,
                {
                    "name": "address",
                    "type": {"type": "record", "name": "A", "fields": [{"name": "city", "type": "strng"}]},
                },
            ),
            "field 'address.city' has unknown type 'strng'",
        ),
        ("AVRO", _record(ID, {"name": "email"}), "field 'email' has no type"),
    ]
    for schema_type, schema, message in cases:
        subject = unique("broken") + "-value"
        args = {"subject": subject, "schema": schema, "schema_type": schema_type}
        assert_tool_error(await mcp_client.call_tool("kafka_register_schema", args), message)
        assert_tool_error(await mcp_client.call_tool("kafka_check_schema_compatibility", args), message)
        assert http.get(f"{service_env.registry_url}/subjects/{subject}/versions").status_code == 404
    # the same kinds, well formed, still register
    nested = 'syntax = "proto3";\nmessage Order {\n  message Line { string sku = 1; }\n  repeated Line lines = 1;\n}\n'
    ok = structured(
        await mcp_client.call_tool(
            "kafka_register_schema", {"subject": unique("ok") + "-value", "schema": nested, "schema_type": "PROTOBUF"}
        )
    )
    assert ok["version"] == 1
