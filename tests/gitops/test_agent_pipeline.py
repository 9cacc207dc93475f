"""The seed's Workflow 1 (an events pipeline: topics sized by throughput, a schema, a connector, a stream app, a user
and ACLs) done by `kafka-agent run` in its own process with a scripted model, through the platform file:

    PLAN      describe the cluster, size the partitions for the throughput
    VALIDATE  write the platform file and plan it (kafka_plan)
    EXECUTE   apply exactly that plan (kafka_apply)
    VERIFY    drift = none (kafka_drift)
    DOCUMENT  memory_store

on the dev cluster with its services (``g``: registry, Connect, the ACL authorizer)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.agent.fake_anthropic import FakeAnthropic, last_result_text, step, text, tool
from tests.gitops.conftest import GitopsEnv
from tests.gitops.test_acls_users import acls_of

ROOT = Path(__file__).resolve().parents[2]


def platform_yaml(prefix: str, out_file: Path) -> str:
    events, by_type, user = f"{prefix}events", f"{prefix}events-by-type", f"{prefix}ingest"
    body = {
        "version": 1,
        "clusters": {
            "g": {
                "manage": {"prefixes": [prefix]},
                "topics": {
                    events: {"partitions": 4, "replication_factor": 1, "expected_msgs_per_sec": 20000,
                             "configs": {"retention.ms": "604800000"}},
                    by_type: {"partitions": 4, "replication_factor": 1, "configs": {"cleanup.policy": "compact"}},
                },
                "schemas": {
                    f"{events}-value": {
                        "schema": json.dumps({"type": "record", "name": "Event", "fields": [
                            {"name": "type", "type": "string"}, {"name": "at", "type": "long"}]}),
                        "compatibility": "BACKWARD",
                    }
                },
                "users": {user: {"password": "${file:secrets/ingest.properties:password}"}},
                "acls": [
                    f"user:{user}:write:topic:{events}",
                    f"user:{user}:describe:topic:{events}",
                    {"principal": f"User:{user}", "resource_type": "cluster", "operation": "idempotent_write"},
                ],
                "connectors": {
                    f"{prefix}events-archive": {"config": {
                        "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
                        "topics": events, "file": str(out_file), "tasks.max": "1"}}
                },
                "streams": {
                    f"{prefix}count-by-type": {
                        "source": {"topic": events},
                        "aggregate": {"group_by": "value.type", "aggregations": [{"name": "n", "op": "count"}]},
                        "sink": {"topic": by_type},
                    }
                },
            }
        },
    }  # fmt: skip
    return yaml.safe_dump(body, sort_keys=False)


@pytest.mark.timeout(600)
def test_events_pipeline_by_the_agent_through_the_platform_file(
    gitops_env: GitopsEnv,
    fake_llm: FakeAnthropic,
    data_dir: Path,
    prefix: str,
    tmp_path: Path,
    admin_of: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import subprocess

    platform_dir = data_dir / "platform"
    (platform_dir / "secrets").mkdir(parents=True)
    (platform_dir / "secrets" / "ingest.properties").write_text("password=ingest-password-123\n", encoding="utf-8")
    out_file = tmp_path / "archive.txt"
    document = platform_yaml(prefix, out_file)
    seen: dict[str, Any] = {}

    def planned(body: dict[str, Any]) -> list[dict[str, Any]]:
        result = last_result_text(body)
        assert result.startswith("{"), result[:2000]
        plan = json.loads(result)
        assert plan["exit_code"] == 2 and not plan["refused"], plan["text"]
        assert plan["summary"] == {"create": 10, "update": 0, "delete": 0}, plan["text"]
        seen["plan_id"] = plan["plan_id"]
        return [tool("agent_advance_phase", {"phase": "EXECUTE", "summary": "10 creations, no policy refusal."})]

    def applied(body: dict[str, Any]) -> None:
        outcome = json.loads(last_result_text(body))
        assert outcome["executed"] and outcome["result"]["status"] == "applied", outcome
        assert outcome["result"]["verified"] is True

    fake_llm.script(
        step(
            text("Sizing the events topic for 20 000 records/s."),
            tool("kafka_describe_cluster", {"cluster": "g"}),
            tool("kafka_partition_strategy", {"target_throughput": 20000, "per_partition_throughput": 5000}),
        ),
        step(tool("agent_advance_phase", {"phase": "VALIDATE", "summary": "4 partitions for 20k/s; file below."})),
        step(tool("kafka_plan", {"platform": document, "save_as": "events-pipeline.yaml", "cluster": "g"})),
        step(planned),
        step(lambda body: [tool("kafka_apply", {"plan_id": seen["plan_id"]})]),
        step(tool("agent_advance_phase", {"phase": "VERIFY", "summary": "Applied."}), check=applied),
        step(tool("kafka_drift", {"file": "events-pipeline.yaml", "cluster": "g"})),
        step(
            tool("agent_advance_phase", {"phase": "DOCUMENT", "summary": "No drift.", "verdict": "pass"}),
            check=lambda b: json.loads(last_result_text(b))["in_sync"] is True,
        ),
        step(
            tool(
                "memory_store",
                {
                    "text": f"Events pipeline on g: {prefix}events (4 partitions for 20k/s), schema, archive "
                    "connector, count-by-type stream, ingest user with producer ACLs; platform file "
                    "events-pipeline.yaml.",
                    "metadata": {"key": f"kafka-streaming-agent/g/pipeline/{prefix}events", "tags": ["pipeline"]},
                },
            )
        ),
        step(text("The events pipeline runs on g as the platform file says; recorded in memory.")),
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_AGENT_")}
    env.update(
        KAFKA_AGENT_CLUSTERS_FILE=str(gitops_env.clusters_file),
        KAFKA_AGENT_DEFAULT_CLUSTER="g",
        # the agent's tools: the daily set, the platform tools and the sizing tool
        KAFKA_AGENT_TOOLSETS="default,+platform,+health",
        KAFKA_AGENT_DATA_DIR=str(data_dir),
        KAFKA_AGENT_ANTHROPIC_BASE_URL=fake_llm.url,
        KAFKA_AGENT_ANTHROPIC_API_KEY="test-key-not-real",
    )
    task = f"Build the events pipeline {prefix}events on g: 20 000 events/s, Avro schema, archive, counts by type."

    def run(*args: str) -> tuple[int, dict[str, Any]]:
        done = subprocess.run(
            [sys.executable, "-m", "cli", "run", *args, "--json"],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=400, check=False,
        )  # fmt: skip
        assert done.stdout.strip(), done.stderr[-3000:]
        return done.returncode, json.loads(done.stdout)

    # the run plans, then stops at the apply: kafka_apply only previews the plan until a person approves it
    code, record = run(task, "--approval", "auto")
    assert code == 3 and record["status"] == "input_required", record
    (pending,) = record["pending_actions"]
    assert pending["tool"] == "kafka_apply" and f"topic.create {prefix}events" in pending["effect"]
    assert f"{prefix}events" not in admin_of("g").list_topics(timeout=10).topics
    # the person approves at the terminal; the runtime confirms with the server itself and the run goes on
    code, record = run("--resume", record["task_id"], "--approve")
    fake_llm.assert_all_consumed()
    assert code == 0 and record["status"] == "completed", record
    assert [p["phase"] for p in record["phases"]] == ["PLAN", "VALIDATE", "EXECUTE", "VERIFY", "DOCUMENT"]

    # the platform file was written into the platform folder, and the cluster matches it, seen with its own clients
    assert yaml.safe_load((platform_dir / "events-pipeline.yaml").read_text()) == yaml.safe_load(document)
    g = admin_of("g")
    assert len(g.list_topics(f"{prefix}events", timeout=10).topics[f"{prefix}events"].partitions) == 4
    assert acls_of(g, f"User:{prefix}ingest") == {
        (f"{prefix}events", "WRITE", "LITERAL"), (f"{prefix}events", "DESCRIBE", "LITERAL"),
        ("kafka-cluster", "IDEMPOTENT_WRITE", "LITERAL"),
    }  # fmt: skip
    assert httpx.get(f"{gitops_env.g_registry}/subjects/{prefix}events-value/versions").json() == [1]
    status = httpx.get(f"{gitops_env.g_connect}/connectors/{prefix}events-archive/status").json()
    assert status["connector"]["state"] == "RUNNING"
    runner = json.loads((data_dir / "streams" / "apps" / f"{prefix}count-by-type" / "app.json").read_text())
    assert runner["status"] == "running"
    # every step of the apply is in the audit log with the plan id, as the run's requester
    audit = [json.loads(line) for line in (data_dir / "audit.jsonl").read_text().splitlines()]
    steps = [
        e for e in audit if e["tool"] == "kafka_apply" and e["action"] not in ("platform.apply", "agent.tool_call")
    ]
    assert len(steps) == 10 and all(e["arguments"]["plan_id"] == seen["plan_id"] for e in steps), [
        (e["action"], e.get("resources"), e.get("decision")) for e in steps
    ]
    assert all(e["requester"].startswith("run:") for e in steps)

    apply_line = [e for e in audit if e["action"] == "platform.apply" and e["result"] is not None]
    assert apply_line and apply_line[-1]["decision"] == "confirmed"

    # clean up the runner (a deletion: the person at the terminal consents with --approve)
    from cli import main

    monkeypatch.setenv("KAFKA_AGENT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("KAFKA_AGENT_CLUSTERS_FILE", str(gitops_env.clusters_file))
    empty = tmp_path / "empty.yaml"
    empty.write_text(yaml.safe_dump({"version": 1, "clusters": {"g": {"manage": {"prefixes": [prefix]}}}}))
    assert main(["plan", "-f", str(empty), "--out", str(tmp_path / "rm.json")]) == 2
    assert main(["apply", str(tmp_path / "rm.json"), "--allow-delete", "--approve"]) == 0
