"""`kafka-agent reassign` in its own process: a plan as JSON, a reviewed plan file executed with --yes (the progress
bar on stderr), and the status afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import ClusterHandle, unique

ROOT = Path(__file__).resolve().parents[2]


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_AGENT_")}
    env["KAFKA_AGENT_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "cli", "reassign", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_plan_file_then_execute(ops_cluster: ClusterHandle, ops_admin: Any, data_dir: Path, tmp_path: Path) -> None:
    from confluent_kafka.admin import NewTopic

    topic = unique("ops-cli")
    ops_admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(30)
    boot = ["--bootstrap-servers", ops_cluster.bootstrap_servers]
    plan_file = tmp_path / "plan.json"
    args = ["--goal", "replication_factor", "--topics", topic, "--replication-factor", "2", *boot]
    planned = _cli(data_dir, "plan", *args, "--json", "--out", str(plan_file))
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert plan["replicas_moved"] == 3 and json.loads(plan_file.read_text())["plan_id"] == plan["plan_id"]

    done = _cli(data_dir, "execute", "--plan-file", str(plan_file), "--yes", *boot)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "state: completed" in done.stdout and "[FAIL]" not in done.stdout
    meta = ops_admin.list_topics(topic, timeout=10).topics[topic]
    assert all(len(p.replicas) == 2 and sorted(p.isrs) == sorted(p.replicas) for p in meta.partitions.values())

    again = _cli(data_dir, "execute", "--plan-file", str(plan_file), "--yes", *boot)
    assert again.returncode == 1 and "changed since the plan was made" in again.stderr

    status = _cli(data_dir, "status", "--json", *boot)
    assert status.returncode == 0 and json.loads(status.stdout)["in_progress"] == 0
    audit = [json.loads(line) for line in (data_dir / "audit.jsonl").read_text().splitlines()]
    mine = [e for e in audit if e["action"] == "reassignment.execute" and topic in e["resources"]]
    assert [e["decision"] for e in mine] == ["confirmed_by_person", "confirmed", "confirmed_by_person", "confirmed"]
    assert mine[1]["requester"].startswith("cli:") and mine[3]["error"]
