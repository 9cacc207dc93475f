"""The round trip on real clusters: what runs on ``b`` (made with Kafka's and the services' own clients) is exported and
committed, the file is applied to the empty cluster ``g``, and drift on both says none; the same export as Strimzi
manifests, checked against Strimzi's own CRD schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.gitops.conftest import GitopsEnv, git
from tests.gitops.test_plan_apply import ORDER_V1, topic_configs

pytestmark = pytest.mark.timeout(300)


def test_export_apply_to_an_empty_cluster_and_no_drift_on_both(
    cli: Any,
    workdir: Path,
    prefix: str,
    gitops_env: GitopsEnv,
    admin_of: Any,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from confluent_kafka.admin import (
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        NewTopic,
        ResourceType,
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    b, g = admin_of("b"), admin_of("g")
    svc = gitops_env.services
    orders, totals, user = f"{prefix}orders", f"{prefix}totals", f"{prefix}svc"
    subject, connector = f"{prefix}orders-value", f"{prefix}orders-sink"

    # what runs on b, made with Kafka's and the services' own clients
    for f in b.create_topics(
        [NewTopic(orders, 3, 1, config={"retention.ms": "7200000"}), NewTopic(totals, 3, 1)]
    ).values():
        f.result(15)
    res = ConfigResource(
        ResourceType.TOPIC,
        totals,
        incremental_configs=[ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.SET)],
    )
    b.incremental_alter_configs([res])[res].result(15)
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192)
    b.alter_user_scram_credentials([UserScramCredentialUpsertion(user, info, b"a-long-svc-password")])[user].result(15)
    assert httpx.post(
        f"{svc.registry_url}/subjects/{subject}/versions", json={"schema": json.dumps(ORDER_V1)}
    ).is_success
    assert httpx.put(f"{svc.registry_url}/config/{subject}", json={"compatibility": "FULL"}).is_success
    sink_conf = {
        "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
        "topics": orders,
        "file": str(tmp_path / "sink.txt"),
        "tasks.max": "1",
    }
    assert httpx.put(f"{svc.connect_url}/connectors/{connector}/config", json=sink_conf, timeout=60).is_success
    # export, committed
    path = workdir / "platform.yaml"
    code, out, err = cli("export", "--cluster", "b", "--prefix", prefix, "-o", str(path), "--commit", "--json")
    assert code == 0, out + err
    exported = json.loads(out)
    assert exported["commit"] == git(workdir, "rev-parse", "HEAD")
    assert git(workdir, "status", "--porcelain") == ""
    text = path.read_text()
    assert "a-long-svc-password" not in text
    section = yaml.safe_load(text)["clusters"]["b"]
    assert section["manage"] == {"prefixes": [prefix]}
    assert section["topics"][orders] == {
        "partitions": 3,
        "replication_factor": 1,
        "configs": {"retention.ms": "7200000"},
    }
    assert section["users"][user]["mechanisms"] == ["SCRAM-SHA-256"] and section["users"][user]["iterations"] == 8192
    assert section["schemas"][subject] == {"file": f"schemas/{subject}.avsc", "compatibility": "FULL"}
    assert section["connectors"][connector]["config"]["file"] == str(tmp_path / "sink.txt")
    env_name = section["users"][user]["password"][len("${env:") : -1]
    monkeypatch.setenv(env_name, "a-long-svc-password")

    # drift on b: none; plan of the committed file names the commit
    code, out, _ = cli("drift", "-f", str(path))
    assert code == 0, out
    code, out, _ = cli("plan", "-f", str(path))
    assert code == 0 and "the file is committed" in out and "no changes" in out

    # apply to the empty cluster g
    code, out, _ = cli("plan", "-f", str(path), "--cluster", "b", "--target", "g", "--out", str(tmp_path / "g.json"))
    assert code == 2, out
    code, out, err = cli("apply", str(tmp_path / "g.json"), "--json")
    assert code == 0, out + err
    assert json.loads(out)["verified"] is True
    code, out, _ = cli("drift", "-f", str(path), "--cluster", "b", "--target", "g")
    assert code == 0, out
    code, out, _ = cli("drift", "-f", str(path))
    assert code == 0, out

    # g, seen with its own clients
    assert len(g.list_topics(orders, timeout=10).topics[orders].partitions) == 3
    assert topic_configs(g, orders)["retention.ms"] == "7200000"
    assert topic_configs(g, totals)["cleanup.policy"] == "compact"
    from core.kafka.security import describe_scram_users

    (seen,) = describe_scram_users(g, [user], timeout=10).users
    assert [(c.mechanism, c.iterations) for c in seen.credentials] == [("SCRAM-SHA-256", 8192)]
    latest = httpx.get(f"{gitops_env.g_registry}/subjects/{subject}/versions/latest").json()
    assert json.loads(latest["schema"]) == ORDER_V1
    assert httpx.get(f"{gitops_env.g_registry}/config/{subject}").json()["compatibilityLevel"] == "FULL"
    assert httpx.get(f"{gitops_env.g_connect}/connectors/{connector}/config").json()["topics"] == orders


def test_export_as_strimzi_manifests_checked_against_the_crds(
    cli: Any, tmp_path: Path, prefix: str, admin_of: Any
) -> None:
    from confluent_kafka.admin import NewTopic

    from gitops import strimzi

    admin = admin_of("b")
    topic = f"{prefix}Mixed_Case"
    admin.create_topics([NewTopic(topic, 2, 1, config={"retention.ms": "60000"})])[topic].result(15)
    out_file = tmp_path / "strimzi.yaml"
    code, out, err = cli(
        "export",
        "--cluster",
        "b",
        "--prefix",
        prefix,
        "--format",
        "strimzi",
        "-o",
        str(out_file),
        "--strimzi-cluster",
        "events",
        "--namespace",
        "kafka",
    )
    assert code == 0, out + err
    (doc,) = list(yaml.safe_load_all(out_file.read_text()))
    assert doc["kind"] == "KafkaTopic" and doc["apiVersion"] == "kafka.strimzi.io/v1beta2"
    assert doc["metadata"] == {
        "name": topic.lower().replace("_", "-"),
        "labels": {"strimzi.io/cluster": "events"},
        "namespace": "kafka",
    }
    assert doc["spec"] == {"topicName": topic, "partitions": 2, "replicas": 1, "config": {"retention.ms": "60000"}}
    # the check catches what Strimzi's CRD refuses
    schemas = strimzi.crd_schemas()
    bad = {**doc, "spec": {**doc["spec"], "partitions": "two"}}
    with pytest.raises(Exception, match="partitions"):
        strimzi.validate([bad], schemas)
