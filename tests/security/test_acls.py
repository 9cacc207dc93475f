"""ACLs and roles through the tools, proven with real SCRAM clients on the SASL cluster."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from tests.conftest import unique
from tests.helpers import assert_tool_error, structured
from tests.security.conftest import audit_entries, can_login, wait_until

pytestmark = pytest.mark.anyio

QUIET = logging.getLogger("tests.security.clients")
QUIET.setLevel(logging.CRITICAL)


def _create_topic(admin: Any, name: str, records: int = 0) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import NewTopic

    admin.create_topics([NewTopic(name, 1, 1)])[name].result(15)
    if records:
        bootstrap = admin.list_topics(timeout=10).orig_broker_name.split("/")[0]
        producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
        for i in range(records):
            producer.produce(name, value=f"v{i}".encode())
        assert producer.flush(15) == 0


def _delete_topics(admin: Any, *names: str) -> None:
    for fut in admin.delete_topics(list(names)).values():
        fut.result(15)


def _acls_of(admin: Any, principal: str) -> set[tuple[str, str, str, str, str]]:
    from confluent_kafka.admin import (
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    flt = AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, principal, None, AclOperation.ANY, AclPermissionType.ANY
    )
    return {
        (b.restype.name, b.name, b.resource_pattern_type.name, b.operation.name, b.permission_type.name)
        for b in admin.describe_acls(flt).result(10)
    }


def _acls_settle(admin: Any, principal: str, expected: set[tuple[str, str, str, str, str]]) -> bool:
    """ACL changes reach the brokers' metadata asynchronously: poll until the broker reports ``expected``."""
    return bool(wait_until(lambda: _acls_of(admin, principal) == expected, timeout=15))


def _produce_error(conf: dict[str, Any], topic: str) -> str | None:
    """None when one record is acknowledged, else the delivery error's code name."""
    from confluent_kafka import KafkaException, Producer

    outcome: list[Any] = []
    producer = Producer({**conf, "acks": "all", "message.timeout.ms": 8000, "logger": QUIET})
    try:
        producer.produce(topic, value=b"x", on_delivery=lambda err, msg: outcome.append(err))
    except KafkaException as exc:
        return str(exc.args[0].name())
    producer.flush(12)
    if not outcome:
        return "NO_DELIVERY_REPORT"
    return None if outcome[0] is None else str(outcome[0].name())


def _consume(conf: dict[str, Any], topic: str, group: str, want: int, timeout: float = 12.0) -> tuple[int, str | None]:
    """(records read, first error code) for a subscribing consumer in ``group``."""
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            **conf,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "logger": QUIET,
        }
    )
    consumer.subscribe([topic])
    got, error = 0, None
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and got < want:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                error = str(msg.error().name())
                if "AUTHORIZATION" in error:
                    break
                continue
            got += 1
    finally:
        consumer.close()
    return got, error


async def _scram_user(
    client: Any, make_user: Callable[[], str], conf: Callable[..., dict[str, Any]]
) -> tuple[str, dict[str, Any]]:
    user, password = make_user(), secrets.token_urlsafe(16)
    structured(await client.call_tool("kafka_upsert_scram_user", {"user": user, "password": password}))
    user_conf = conf(user, password)
    assert await anyio.to_thread.run_sync(lambda: wait_until(lambda: can_login(user_conf)))
    return user, user_conf


async def test_describe_only_user_cannot_produce(
    sec_client: Any, sasl_admin: Any, new_user: Callable[[], str], scram_conf: Callable[..., dict[str, Any]]
) -> None:
    user, conf = await _scram_user(sec_client, new_user, scram_conf)
    topic = unique("sec-topic")
    _create_topic(sasl_admin, topic)
    try:
        created = structured(
            await sec_client.call_tool(
                "kafka_create_acls",
                {
                    "acls": [
                        {
                            "principal": f"User:{user}",
                            "resource_type": "topic",
                            "resource_name": topic,
                            "operation": "describe",
                        }
                    ]
                },
            )
        )
        assert created["created"] == 1 and created["failed"] == 0
        assert _acls_settle(sasl_admin, f"User:{user}", {("TOPIC", topic, "LITERAL", "DESCRIBE", "ALLOW")})
        conf = {**conf, "enable.idempotence": False}
        error = await anyio.to_thread.run_sync(_produce_error, conf, topic)
        assert error == "TOPIC_AUTHORIZATION_FAILED"
    finally:
        _delete_topics(sasl_admin, topic)


async def test_consumer_needs_the_group_acl_and_the_role_grants_it(
    sec_client: Any, sasl_admin: Any, new_user: Callable[[], str], scram_conf: Callable[..., dict[str, Any]]
) -> None:
    user, conf = await _scram_user(sec_client, new_user, scram_conf)
    topic, group = unique("sec-topic"), unique("sec-group")
    _create_topic(sasl_admin, topic, records=3)
    try:
        # The seed's short form: read on the topic only, no group ACL.
        short = structured(
            await sec_client.call_tool("kafka_create_acls", {"short_forms": [f"user:{user}:read:topic:{topic}"]})
        )
        assert short["created"] == 1
        assert short["results"][0]["acl"]["principal"] == f"User:{user}"
        got, error = await anyio.to_thread.run_sync(_consume, conf, topic, group, 3)
        assert got == 0 and error == "GROUP_AUTHORIZATION_FAILED"

        granted = structured(
            await sec_client.call_tool(
                "kafka_grant_role",
                {"principal": f"User:{user}", "role": "consumer", "topics": [topic], "groups": [group]},
            )
        )
        assert granted["failed"] == 0 and granted["created"] == 3  # READ + DESCRIBE on the topic, READ on the group
        assert _acls_settle(
            sasl_admin,
            f"User:{user}",
            {
                ("TOPIC", topic, "LITERAL", "READ", "ALLOW"),
                ("TOPIC", topic, "LITERAL", "DESCRIBE", "ALLOW"),
                ("GROUP", group, "LITERAL", "READ", "ALLOW"),
            },
        )

        def consumes() -> bool:
            return _consume(conf, topic, group, 3, timeout=8)[0] == 3

        assert await anyio.to_thread.run_sync(lambda: wait_until(consumes, timeout=30))
    finally:
        _delete_topics(sasl_admin, topic)


async def test_prefixed_producer_role_covers_new_topics(
    sec_client: Any,
    sasl_admin: Any,
    new_user: Callable[[], str],
    scram_conf: Callable[..., dict[str, Any]],
    sec_settings: Any,
) -> None:
    user, conf = await _scram_user(sec_client, new_user, scram_conf)
    prefix = unique("sec-pfx") + "."
    planned = structured(
        await sec_client.call_tool(
            "kafka_grant_role",
            {"principal": f"User:{user}", "role": "producer", "topics": [prefix], "prefixed": True, "dry_run": True},
        )
    )
    assert planned["dry_run"] is True and planned["created"] == 0
    assert _acls_settle(sasl_admin, f"User:{user}", set()), "a dry run must create nothing"
    assert not audit_entries(sec_settings, "kafka_grant_role"), "a dry run sends nothing, so nothing passes the gate"
    granted = structured(
        await sec_client.call_tool(
            "kafka_grant_role", {"principal": f"User:{user}", "role": "producer", "topics": [prefix], "prefixed": True}
        )
    )
    assert granted["created"] == 3
    (line,) = audit_entries(sec_settings, "kafka_grant_role")
    assert line["decision"] == "allowed" and line["action"] == "acl.create"
    assert set(line["resources"]) == {
        f"User:{user}:WRITE:TOPIC:PREFIXED:{prefix}:ALLOW@*",
        f"User:{user}:DESCRIBE:TOPIC:PREFIXED:{prefix}:ALLOW@*",
        f"User:{user}:IDEMPOTENT_WRITE:CLUSTER:LITERAL:kafka-cluster:ALLOW@*",
    }
    assert _acls_settle(
        sasl_admin,
        f"User:{user}",
        {
            ("TOPIC", prefix, "PREFIXED", "WRITE", "ALLOW"),
            ("TOPIC", prefix, "PREFIXED", "DESCRIBE", "ALLOW"),
            ("BROKER", "kafka-cluster", "LITERAL", "IDEMPOTENT_WRITE", "ALLOW"),
        },
    )
    inside, outside = prefix + "orders", unique("sec-other")
    _create_topic(sasl_admin, inside)  # created after the ACLs: the prefix still covers it
    _create_topic(sasl_admin, outside)
    try:
        idempotent = {**conf, "enable.idempotence": True}
        assert await anyio.to_thread.run_sync(
            lambda: wait_until(lambda: _produce_error(idempotent, inside) is None, timeout=30)
        )
        assert await anyio.to_thread.run_sync(_produce_error, idempotent, outside) == "TOPIC_AUTHORIZATION_FAILED"

        matched = structured(
            await sec_client.call_tool(
                "kafka_list_acls", {"resource_type": "topic", "resource_name": inside, "pattern_type": "match"}
            )
        )
        mine = [a for a in matched["acls"] if a["principal"] == f"User:{user}"]
        assert {(a["operation"], a["pattern_type"], a["resource_name"]) for a in mine} == {
            ("write", "prefixed", prefix),
            ("describe", "prefixed", prefix),
        }
    finally:
        _delete_topics(sasl_admin, inside, outside)


async def test_list_filters_and_delete_with_consent(
    sec_client: Any, sasl_admin: Any, new_user: Callable[[], str], sec_settings: Any
) -> None:
    user = new_user()
    principal = f"User:{user}"
    structured(
        await sec_client.call_tool(
            "kafka_create_acls",
            {
                "short_forms": [
                    f"user:{user}:read:topic:a-topic",
                    f"user:{user}:write:topic:b-*",
                    f"user:{user}:read:group:g1:deny",
                    f"user:{user}:describe:cluster",
                    f"user:{user}:write:transactional_id:tx-1",
                ]
            },
        )
    )
    assert wait_until(lambda: len(_acls_of(sasl_admin, principal)) == 5, timeout=15)
    # Each binding is one resource to the gate, named the same way wherever it is seen (ksec.acl_binding_id).
    (created,) = audit_entries(sec_settings, "kafka_create_acls")
    assert created["decision"] == "allowed" and created["resources"] == [
        f"{principal}:READ:TOPIC:LITERAL:a-topic:ALLOW@*",
        f"{principal}:WRITE:TOPIC:PREFIXED:b-:ALLOW@*",
        f"{principal}:READ:GROUP:LITERAL:g1:DENY@*",
        f"{principal}:DESCRIBE:CLUSTER:LITERAL:kafka-cluster:ALLOW@*",
        f"{principal}:WRITE:TRANSACTIONAL_ID:LITERAL:tx-1:ALLOW@*",
    ]
    everything = structured(await sec_client.call_tool("kafka_list_acls", {"principal": principal}))
    assert everything["count"] == 5
    assert {a["resource_type"] for a in everything["acls"]} == {"topic", "group", "cluster", "transactional_id"}
    topics = structured(
        await sec_client.call_tool("kafka_list_acls", {"principal": principal, "resource_type": "topic"})
    )
    assert {(a["resource_name"], a["pattern_type"]) for a in topics["acls"]} == {
        ("a-topic", "literal"),
        ("b-", "prefixed"),
    }
    denies = structured(await sec_client.call_tool("kafka_list_acls", {"principal": principal, "permission": "deny"}))
    assert [(a["resource_name"], a["operation"]) for a in denies["acls"]] == [("g1", "read")]

    # Dry run: lists what matches, deletes nothing.
    preview = structured(
        await sec_client.call_tool("kafka_delete_acls", {"principal": principal, "resource_type": "topic"})
    )
    assert preview["executed"] is False and len(preview["matching"]) == 2
    assert len(_acls_of(sasl_admin, principal)) == 5
    assert preview["consent"]["mode"] == "token" and "2 ACL(s)" in preview["consent"]["effect"]
    token = preview["consent"]["confirmation_token"]

    # The matched set changes before the confirmation: the token no longer fits.
    structured(await sec_client.call_tool("kafka_create_acls", {"short_forms": [f"user:{user}:read:topic:c-topic"]}))
    assert wait_until(lambda: len(_acls_of(sasl_admin, principal)) == 6, timeout=15)
    assert_tool_error(
        await sec_client.call_tool(
            "kafka_delete_acls", {"principal": principal, "resource_type": "topic", "confirm_token": token}
        ),
        "changed since the dry run",
    )
    assert len(_acls_of(sasl_admin, principal)) == 6, "a refused confirmation must delete nothing"

    preview = structured(
        await sec_client.call_tool("kafka_delete_acls", {"principal": principal, "resource_type": "topic"})
    )
    token = preview["consent"]["confirmation_token"]
    done = structured(
        await sec_client.call_tool(
            "kafka_delete_acls", {"principal": principal, "resource_type": "topic", "confirm_token": token}
        )
    )
    assert done["executed"] is True and len(done["results"]) == 3 and all(r["ok"] for r in done["results"])
    assert wait_until(
        lambda: {r[0] for r in _acls_of(sasl_admin, principal)} == {"GROUP", "BROKER", "TRANSACTIONAL_ID"}, timeout=15
    )
    entries = audit_entries(sec_settings, "kafka_delete_acls")
    assert [e["decision"] for e in entries] == ["consent_requested", "refused", "consent_requested", "confirmed"]
    assert "changed since the dry run" in entries[1]["error"]
    assert sorted(entries[-1]["resources"]) == sorted(
        f"{principal}:{op}:TOPIC:{pattern}:{name}:ALLOW@*"
        for op, pattern, name in [
            ("READ", "LITERAL", "a-topic"),
            ("WRITE", "PREFIXED", "b-"),
            ("READ", "LITERAL", "c-topic"),
        ]
    )
    assert entries[-1]["arguments"]["matching"] == entries[-1]["resources"], "the matches are bound into the consent"


@pytest.mark.parametrize(
    ("tool", "args", "fragments"),
    [
        ("kafka_create_acls", {"short_forms": ["analytics:read:topic"]}, ["not in the short form"]),
        ("kafka_create_acls", {"short_forms": ["user:a:fly:topic:x"]}, ["unknown operation 'fly'"]),
        ("kafka_create_acls", {"short_forms": ["user:a:read:table:x"]}, ["unknown resource type"]),
        (
            "kafka_create_acls",
            {"acls": [{"principal": "alice", "resource_type": "topic", "resource_name": "t", "operation": "read"}]},
            ["User:<name>"],
        ),
        (
            "kafka_create_acls",
            {"acls": [{"principal": "User:a", "resource_type": "topic", "operation": "read"}]},
            ["needs a resource_name"],
        ),
        (
            "kafka_create_acls",
            {"acls": [{"principal": "User:a", "resource_type": "cluster", "resource_name": "x", "operation": "alter"}]},
            ["kafka-cluster"],
        ),
        ("kafka_create_acls", {}, ["No ACLs given"]),
        ("kafka_grant_role", {"principal": "User:a", "role": "consumer", "topics": ["t"]}, ["group"]),
        ("kafka_grant_role", {"principal": "User:a", "role": "producer", "topics": []}, ["at least one topic"]),
        ("kafka_delete_acls", {}, ["every ACL of the cluster"]),
        ("kafka_delete_acls", {"principal": "User:nobody-x9"}, ["No ACL matches"]),
        ("kafka_list_acls", {"pattern_type": "match"}, ["needs a resource_name"]),
    ],
)
async def test_bad_acl_input_gives_clear_errors(
    sec_client: Any, tool: str, args: dict[str, Any], fragments: list[str]
) -> None:
    assert_tool_error(await sec_client.call_tool(tool, args), *fragments)
    assert structured(await sec_client.call_tool("kafka_list_acls", {"principal": "User:nobody-x9"}))["count"] == 0
