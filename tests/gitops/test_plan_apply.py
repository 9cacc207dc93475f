"""Plan and apply on a real cluster with its registry and Connect worker (``b``), checked with Kafka's and the services'
own answers: create, config change, partition increase, schema evolution (compatible and refused), connector update,
delete with and without --allow-delete, a policy refusal, a cluster that moved between plan and apply, and a second
apply that does nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.gitops.conftest import GitopsEnv

ORDER_V1 = {
    "type": "record",
    "name": "Order",
    "fields": [{"name": "id", "type": "string"}, {"name": "amount", "type": "double"}],
}
ORDER_V2 = {**ORDER_V1, "fields": [*ORDER_V1["fields"], {"name": "currency", "type": "string", "default": "EUR"}]}
ORDER_BREAKS = {**ORDER_V1, "fields": [{"name": "id", "type": "long"}]}


def write(folder: Path, section: str, body: dict[str, Any], name: str = "platform.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump({"version": 1, "clusters": {section: body}}, sort_keys=False), encoding="utf-8")
    return path


def pipeline(
    prefix: str,
    tmp: Path,
    *,
    schema: dict[str, Any],
    partitions: int = 3,
    retention: str = "86400000",
    out_file: str = "out.txt",
) -> dict[str, Any]:
    (tmp / "schemas").mkdir(exist_ok=True)
    (tmp / "schemas" / "order.avsc").write_text(json.dumps(schema), encoding="utf-8")
    return {
        "manage": {"prefixes": [prefix]},
        "topics": {
            f"{prefix}orders": {
                "partitions": partitions,
                "replication_factor": 1,
                "configs": {"retention.ms": retention},
            },
        },
        "schemas": {f"{prefix}orders-value": {"file": "schemas/order.avsc", "compatibility": "BACKWARD"}},
        "connectors": {
            f"{prefix}orders-sink": {
                "config": {
                    "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
                    "topics": f"{prefix}orders",
                    "file": str(tmp / out_file),
                    "tasks.max": "1",
                }
            }
        },
    }


def topic_configs(admin: Any, topic: str) -> dict[str, str]:
    from confluent_kafka.admin import ConfigResource, ResourceType

    res = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([res])[res].result(15)
    return {k: e.value for k, e in entries.items() if not e.is_default}


@pytest.mark.timeout(240)
def test_create_change_evolve_update_then_delete(
    cli: Any, workdir: Path, prefix: str, gitops_env: GitopsEnv, admin_of: Any, settings: Any
) -> None:
    import httpx

    registry, connect = gitops_env.services.registry_url, gitops_env.services.connect_url
    admin = admin_of("b")
    topic, subject, connector = f"{prefix}orders", f"{prefix}orders-value", f"{prefix}orders-sink"
    path = write(workdir, "b", pipeline(prefix, workdir, schema=ORDER_V1))

    # create: a plan of three creations (and the level), saved, applied, verified; then nothing left to do
    code, out, _ = cli("plan", "-f", str(path), "--out", str(workdir / "p1.json"))
    assert code == 2, out
    assert f"+ 1. topic.create topic {topic}" in out and "to create" in out
    assert "git: commit (none yet), the file is with UNCOMMITTED changes" in out
    code, out, err = cli("apply", str(workdir / "p1.json"))
    assert code == 0, out + err
    assert "each verified on the cluster; the managed resources now match the file" in out
    assert len(admin.list_topics(topic, timeout=10).topics[topic].partitions) == 3
    assert topic_configs(admin, topic)["retention.ms"] == "86400000"
    assert httpx.get(f"{registry}/subjects/{subject}/versions").json() == [1]
    assert httpx.get(f"{registry}/config/{subject}").json()["compatibilityLevel"] == "BACKWARD"
    assert httpx.get(f"{connect}/connectors/{connector}/config").json()["file"] == str(workdir / "out.txt")
    code, out, err = cli("apply", str(workdir / "p1.json"))
    assert code == 0 and "already applied" in out, out + err
    code, out, _ = cli("drift", "-f", str(path))
    assert code == 0 and "no drift" in out

    # the audit log names the plan and the file's commit state for every step
    audit = [json.loads(line) for line in settings.resolved_audit_log().read_text().splitlines()]
    steps = [e for e in audit if e["tool"] == "kafka-agent apply" and e["action"] == "topic.create"]
    assert steps and steps[-1]["decision"] == "allowed" and steps[-1]["arguments"]["git_dirty"] is True

    # commit the file: the next plan names the commit
    from tests.gitops.conftest import git

    git(workdir, "add", ".")
    git(workdir, "commit", "-q", "-m", "pipeline")
    head = git(workdir, "rev-parse", "HEAD")

    # config change, partition increase, compatible schema evolution, connector update: one plan
    path = write(
        workdir,
        "b",
        pipeline(prefix, workdir, schema=ORDER_V2, partitions=6, retention="172800000", out_file="out2.txt"),
    )
    code, out, _ = cli("plan", "-f", str(path), "--out", str(workdir / "p2.json"), "--json")
    assert code == 2
    plan = json.loads(out)
    assert plan["git"]["commit"] == head and plan["git"]["dirty"] is True
    by_action = {s["action"]: s for c in plan["clusters"] for s in c["steps"]}
    assert set(by_action) == {"topic.partitions.add", "topic.config.alter", "schema.register", "connector.put"}
    assert by_action["topic.config.alter"]["diff"] == ["configs.retention.ms: 86400000 -> 172800000"]
    assert any("key placement" in n for n in by_action["topic.partitions.add"]["needs"])
    assert "compatibility check under BACKWARD: compatible" in by_action["schema.register"]["diff"]
    assert any(line.startswith("config.file:") and "out2.txt" in line for line in by_action["connector.put"]["diff"])
    code, out, err = cli("apply", str(workdir / "p2.json"), "--json")
    assert code == 0, out + err
    result = json.loads(out)
    assert result["status"] == "applied" and result["verified"] and result["git_commit"] == head
    assert [d["action"] for d in result["done"]] == [
        "topic.partitions.add",
        "topic.config.alter",
        "schema.register",
        "connector.put",
    ]
    assert len(admin.list_topics(topic, timeout=10).topics[topic].partitions) == 6
    assert topic_configs(admin, topic)["retention.ms"] == "172800000"
    assert httpx.get(f"{registry}/subjects/{subject}/versions").json() == [1, 2]
    assert httpx.get(f"{connect}/connectors/{connector}/config").json()["file"] == str(workdir / "out2.txt")

    # a breaking schema: the plan says why (exit 1), apply refuses it, the registry keeps two versions
    path = write(
        workdir,
        "b",
        pipeline(prefix, workdir, schema=ORDER_BREAKS, partitions=6, retention="172800000", out_file="out2.txt"),
    )
    code, out, _ = cli("plan", "-f", str(path), "--out", str(workdir / "p3.json"))
    assert code == 1, out
    assert "[REFUSED]" in out and "schema-compatibility" in out and "BREAKS" in out
    code, _, err = cli("apply", str(workdir / "p3.json"))
    assert code == 1 and "refused by policy" in err and "schema-compatibility" in err
    assert httpx.get(f"{registry}/subjects/{subject}/versions").json() == [1, 2]

    # delete: the file drops the connector and the topic; without --allow-delete nothing happens
    body = pipeline(prefix, workdir, schema=ORDER_V2, partitions=6, retention="172800000", out_file="out2.txt")
    del body["connectors"], body["topics"]
    body["schemas"][subject]["file"] = "schemas/order.avsc"
    path = write(workdir, "b", body)
    code, out, _ = cli("plan", "-f", str(path), "--out", str(workdir / "p4.json"))
    assert code == 2, out
    assert f"- 1. connector.delete connector {connector}" in out and f"- 2. topic.delete topic {topic}" in out
    assert "needs: consent (token mode) and apply --allow-delete" in out
    code, _, err = cli("apply", str(workdir / "p4.json"))
    assert code == 1 and "--allow-delete" in err
    assert topic in admin.list_topics(timeout=10).topics
    # with it, the person at the terminal consents (--approve): connector first, topic last
    code, out, err = cli("apply", str(workdir / "p4.json"), "--allow-delete", "--approve", "--json")
    assert code == 0, out + err
    assert [d["action"] for d in json.loads(out)["done"]] == ["connector.delete", "topic.delete"]
    assert topic not in admin.list_topics(timeout=10).topics
    assert httpx.get(f"{connect}/connectors/{connector}").status_code == 404
    code, out, err = cli("apply", str(workdir / "p4.json"))  # a second apply, even without the flags: a no-op
    assert code == 0 and "already applied" in out, out + err
    audit = [json.loads(line) for line in settings.resolved_audit_log().read_text().splitlines()]
    deletion = [e for e in audit if e["action"] == "topic.delete" and e["resources"] == [topic]]
    assert deletion[-1]["decision"] == "standing_consent" and "at the terminal" in deletion[-1]["decided_by"]


def test_a_cluster_that_moved_between_plan_and_apply(cli: Any, workdir: Path, prefix: str, admin_of: Any) -> None:
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic, ResourceType

    admin = admin_of("b")
    topic = f"{prefix}moving"
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(15)
    body = {
        "manage": {"prefixes": [prefix]},
        "topics": {topic: {"partitions": 2, "replication_factor": 1, "configs": {"retention.ms": "3600000"}}},
    }
    path = write(workdir, "b", body)
    code, out, _ = cli("plan", "-f", str(path), "--out", str(workdir / "plan.json"))
    assert code == 2 and "configs.retention.ms: (default) -> 3600000" in out
    # someone changes the topic by hand before the plan is applied
    res = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.SET)],
    )
    admin.incremental_alter_configs([res])[res].result(15)
    code, _, err = cli("apply", str(workdir / "plan.json"))
    assert code == 1
    assert "moved since plan" in err and f"topics/{topic}" in err and "nothing was changed" in err
    assert "retention.ms" not in topic_configs(admin, topic)  # the plan's change was not made


def test_policy_refusal_and_approval_on_a_production_cluster(
    cli: Any, workdir: Path, prefix: str, admin_of: Any, settings: Any
) -> None:
    from confluent_kafka.admin import NewTopic

    admin = admin_of("b")
    # production refuses a single-replica topic: the plan names the rules and exits 1; apply refuses it whole
    body = {"manage": {"prefixes": [prefix]}, "topics": {f"{prefix}thin": {"partitions": 1, "replication_factor": 1}}}
    path = write(workdir, "prod-b", body)
    code, out, _ = cli("plan", "-f", str(path), "--out", str(workdir / "refused.json"))
    assert code == 1, out
    assert "replication-factor-min" in out and "min-insync-replicas-min" in out and "[REFUSED]" in out
    code, _, err = cli("apply", str(workdir / "refused.json"))
    assert code == 1 and "refused by policy" in err
    assert f"{prefix}thin" not in admin.list_topics(timeout=10).topics

    # a deletion on an approve-mode cluster: the apply leaves an approval, which the person at the terminal decides
    doomed = f"{prefix}old"
    admin.create_topics([NewTopic(doomed, 1, 1)])[doomed].result(15)
    path = write(workdir, "prod-b", {"manage": {"prefixes": [prefix]}})
    code, out, _ = cli("plan", "-f", str(path), "--out", str(workdir / "delete.json"))
    assert code == 2 and "needs: consent (approve mode)" in out
    code, _, err = cli("apply", str(workdir / "delete.json"), "--allow-delete")  # no terminal, no --approve
    assert code == 1 and "waiting for approval apr-" in err
    assert doomed in admin.list_topics(timeout=10).topics
    code, out, err = cli("apply", str(workdir / "delete.json"), "--allow-delete", "--approve")
    assert code == 0, out + err
    assert doomed not in admin.list_topics(timeout=10).topics
    audit = [json.loads(line) for line in settings.resolved_audit_log().read_text().splitlines()]
    granted = [e for e in audit if e["decision"] == "approval_granted" and e["action"] == "platform.apply"]
    assert granted and granted[-1]["decided_by"] and "@" in granted[-1]["decided_by"]
    deleted = [e for e in audit if e["action"] == "topic.delete" and e["resources"] == [doomed]]
    assert deleted[-1]["decision"] == "approved" and deleted[-1]["error"] is None
