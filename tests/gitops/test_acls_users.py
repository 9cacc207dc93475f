"""ACLs and SCRAM users from a platform file on a cluster with the ACL authorizer (``g``): added, removed, the
password taken from a reference; checked with Kafka's own answers (describe ACLs, a SASL login, a refused write)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.gitops.conftest import GitopsEnv
from tests.gitops.test_plan_apply import write


def acls_of(admin: Any, principal: str) -> set[tuple[str, str, str]]:
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
    return {(b.name, b.operation.name, b.resource_pattern_type.name) for b in admin.describe_acls(flt).result(15)}


def produce(conf: dict[str, Any], topic: str) -> str | None:
    """Write one record as the SASL user; None on success, else the error's name."""
    import logging

    from confluent_kafka import Producer

    quiet = logging.getLogger("tests.gitops.librdkafka")
    quiet.setLevel(logging.CRITICAL)
    errors: list[str] = []
    producer = Producer({**conf, "logger": quiet, "message.timeout.ms": 10000})
    producer.produce(topic, b"v", on_delivery=lambda err, _m: errors.append(err.name()) if err else None)
    producer.flush(15)
    return errors[0] if errors else None


@pytest.mark.timeout(180)
def test_acl_add_and_remove_with_a_user_from_a_reference(
    cli: Any,
    workdir: Path,
    prefix: str,
    gitops_env: GitopsEnv,
    admin_of: Any,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    from core.waiting import until

    admin = admin_of("g")
    user, topic = f"{prefix}app", f"{prefix}events"
    principal = f"User:{user}"
    password_file = workdir / "secrets.properties"
    password_file.write_text("app.password=a-long-test-password-1\n", encoding="utf-8")
    body: dict[str, Any] = {
        "manage": {"prefixes": [prefix]},
        "topics": {topic: {"partitions": 2, "replication_factor": 1}},
        "users": {user: {"mechanisms": ["SCRAM-SHA-512"], "password": f"${{file:{password_file}:app.password}}"}},
        "acls": [
            f"user:{user}:write:topic:{topic}",
            f"user:{user}:describe:topic:{topic}",
            {"principal": principal, "resource_type": "cluster", "operation": "idempotent_write"},
        ],
    }
    path = write(workdir, "g", body)
    code, out, _ = cli("plan", "-f", str(path), "--out", str(workdir / "p1.json"))
    assert code == 2, out
    assert f"password: ${{file:{password_file}:app.password}}" in out and "a-long-test-password-1" not in out
    assert "a-long-test-password-1" not in (workdir / "p1.json").read_text()
    code, out, err = cli("apply", str(workdir / "p1.json"), "--json")
    assert code == 0, out + err
    assert [d["action"] for d in json.loads(out)["done"]] == ["topic.create", "user.scram.upsert"] + ["acl.create"] * 3
    assert acls_of(admin, principal) == {
        (topic, "WRITE", "LITERAL"),
        (topic, "DESCRIBE", "LITERAL"),
        ("kafka-cluster", "IDEMPOTENT_WRITE", "LITERAL"),
    }
    conf = {
        "bootstrap.servers": gitops_env.g_sasl_bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": user,
        "sasl.password": "a-long-test-password-1",
    }
    _, wrote = until(lambda: produce(conf, topic), lambda e: e is None, timeout=30, interval=1)
    assert wrote, "the user could not write with the password from the file and the ACLs from the platform file"

    # remove the write ACL, grant a read on a prefix instead: one create, one delete (needs --allow-delete)
    body["acls"] = [
        f"user:{user}:describe:topic:{topic}",
        f"user:{user}:read:topic:{prefix}*",
        {"principal": principal, "resource_type": "cluster", "operation": "idempotent_write"},
    ]
    path = write(workdir, "g", body)
    code, out, _ = cli("plan", "-f", str(path), "--out", str(workdir / "p2.json"))
    assert code == 2, out
    assert f"+ 1. acl.create acl User:{user}:READ:TOPIC:PREFIXED:{prefix}:ALLOW@*" in out
    assert f"- 2. acl.delete acl User:{user}:WRITE:TOPIC:LITERAL:{topic}:ALLOW@*" in out
    code, out, err = cli("apply", str(workdir / "p2.json"), "--allow-delete", "--approve")
    assert code == 0, out + err
    assert acls_of(admin, principal) == {
        (topic, "DESCRIBE", "LITERAL"),
        (prefix, "READ", "PREFIXED"),
        ("kafka-cluster", "IDEMPOTENT_WRITE", "LITERAL"),
    }
    _, refused = until(
        lambda: produce(conf, topic), lambda e: e == "TOPIC_AUTHORIZATION_FAILED", timeout=30, interval=1
    )
    assert refused, "the write ACL was removed, yet the user can still write"
    code, out, _ = cli("drift", "-f", str(path))
    assert code == 0, out

    # an ACL added by hand under the managed principal is drift, and a plan deletes it
    from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, ResourcePatternType, ResourceType

    binding = AclBinding(
        ResourceType.GROUP,
        f"{prefix}g",
        ResourcePatternType.LITERAL,
        principal,
        "*",
        AclOperation.READ,
        AclPermissionType.ALLOW,
    )
    admin.create_acls([binding])[binding].result(15)
    seen, drifted = until(lambda: cli("drift", "-f", str(path), "--json"), lambda r: r[0] == 2, timeout=20)
    assert drifted, seen
    report = json.loads(seen[1])
    assert [i["resource"] for i in report["items"]] == [f"acls/User:{user}:READ:GROUP:LITERAL:{prefix}g:ALLOW@*"]
    assert report["by_kind"]["g"]["acls"] == 1

    # the users and ACLs go when the file drops them (deletions last, ACLs before the user, the topic last)
    path = write(workdir, "g", {"manage": {"prefixes": [prefix]}})
    code, out, _ = cli("plan", "-f", str(path), "--out", str(workdir / "p3.json"), "--json")
    assert code == 2
    actions = [s["action"] for c in json.loads(out)["clusters"] for s in c["steps"]]
    assert actions == ["acl.delete"] * 4 + ["user.scram.delete", "topic.delete"]
    code, out, err = cli("apply", str(workdir / "p3.json"), "--allow-delete", "--approve")
    assert code == 0, out + err
    assert acls_of(admin, principal) == set()
    from core.kafka.security import describe_scram_users

    assert describe_scram_users(admin, [user], timeout=10).missing == [user]
