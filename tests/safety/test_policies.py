"""Each policy rule: a violating call is refused with the rule's name, a compliant one passes, an override is recorded.

Topic rules go through the real tools on the three-broker cluster judged as production (checked with a separate
admin client); producer, consumer and schema rules go through the gate itself (the contract other tools call) and
through kafka_check_policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.errors import PolicyViolation
from core.gate import Change, Gate
from core.gate.policies import RULES, evaluate
from tests.conftest import ClusterHandle, make_settings, unique
from tests.helpers import assert_tool_error, structured
from tests.safety.conftest import client_for, drop_topics, read_audit, topic_exists, wait_exists

pytestmark = pytest.mark.anyio

GOOD = {"min.insync.replicas": "2"}


def _change(action: str, details: dict[str, Any], *, override: str | None = None, **kw: Any) -> Change:
    return Change(
        tool=kw.pop("tool", "test_tool"),
        cluster="local",
        action=action,
        resource_type=kw.pop("resource_type", "topic"),
        resources=kw.pop("resources", ["orders"]),
        details=details,
        override_reason=override,
        **kw,
    )


# --- the engine itself -----------------------------------------------------------------------------------------


def test_every_rule_is_documented() -> None:
    for rule in RULES:
        assert rule.why and rule.fix and rule.title, rule.name
        assert set(rule.severity) == {"production", "staging", "dev"}, rule.name


@pytest.mark.parametrize(
    ("action", "details", "rule"),
    [
        (
            "topic.create",
            {"partitions": 1, "replication_factor": 3, "configs": GOOD},
            "single-partition-high-throughput",
        ),
        (
            "topic.create",
            {"partitions": 3, "replication_factor": 3, "configs": GOOD, "expected_msgs_per_sec": 60000},
            "single-partition-high-throughput",
        ),
        ("topic.create", {"partitions": 6, "replication_factor": 2, "configs": GOOD}, "replication-factor-min"),
        (
            "topic.create",
            {"partitions": 6, "replication_factor": 3, "configs": {"min.insync.replicas": "1"}},
            "min-insync-replicas-min",
        ),
        ("topic.create", {"partitions": 6, "replication_factor": 3}, "min-insync-replicas-min"),
        (
            "topic.create",
            {"partitions": 6, "replication_factor": 3, "configs": {"min.insync.replicas": "4"}},
            "min-insync-above-replication",
        ),
        ("topic.config.alter", {"configs": {"unclean.leader.election.enable": "true"}}, "unclean-leader-election"),
        ("topic.config.alter", {"configs": {"retention.ms": "-1"}}, "unlimited-retention"),
        ("producer.configure", {"producer_config": {"acks": "all"}}, "producer-durability"),
        ("producer.configure", {"producer_config": {"enable.idempotence": "true", "acks": "1"}}, "producer-durability"),
        ("consumer.configure", {"consumer_config": {"group.id": "billing"}}, "consumer-auto-commit"),
        ("consumer.configure", {"consumer_config": {"enable.auto.commit": "true"}}, "consumer-auto-commit"),
        (
            "schema.register",
            {"compatible": False, "reasons": ["field email removed"], "subject": "u-value"},
            "schema-compatibility",
        ),
    ],
)
def test_production_refuses_each_violation_by_name(
    tmp_path: Path, action: str, details: dict[str, Any], rule: str
) -> None:
    gate = Gate(make_settings("127.0.0.1:1", tmp_path, profile="production"))
    change = _change(action, details)
    with pytest.raises(PolicyViolation) as info:
        gate.admit(change, effect="test")
    assert rule in str(info.value)
    assert "Why:" in str(info.value) and "Compliant:" in str(info.value)
    entry = read_audit(tmp_path)[-1]
    assert entry["decision"] == "refused" and rule in entry["error"]


@pytest.mark.parametrize(
    ("action", "details"),
    [
        ("topic.create", {"partitions": 12, "replication_factor": 3, "configs": GOOD}),
        ("topic.create", {"partitions": 1, "replication_factor": 3, "configs": GOOD, "high_throughput": False}),
        ("topic.config.alter", {"configs": {"retention.ms": "-1", "cleanup.policy": "compact"}}),
        ("topic.config.alter", {"configs": {"retention.ms": "-1", "retention.bytes": "1073741824"}}),
        ("topic.config.alter", {"configs": {"unclean.leader.election.enable": "false"}}),
        ("producer.configure", {"producer_config": {"enable.idempotence": "true", "acks": "all"}}),
        ("producer.configure", {"producer_config": {"acks": "1"}, "durable": False}),
        ("consumer.configure", {"consumer_config": {"enable.auto.commit": "false"}}),
        ("consumer.configure", {"consumer_config": {"enable.auto.commit": "true"}, "critical": False}),
        ("schema.register", {"compatible": True, "reasons": []}),
    ],
)
def test_production_allows_compliant_changes(tmp_path: Path, action: str, details: dict[str, Any]) -> None:
    gate = Gate(make_settings("127.0.0.1:1", tmp_path, profile="production"))
    change = _change(action, details)
    assert gate.admit(change, effect="test").decision == "allowed"
    assert change.overridden_rules == [] and change.policy_warnings == []


def test_profiles_set_severity() -> None:
    rf1 = {"partitions": 1, "replication_factor": 1}
    assert {f.rule for f in evaluate("topic.create", rf1, profile="dev")} == set()
    staging = evaluate("topic.create", rf1, profile="staging")
    assert {f.rule for f in staging} >= {"replication-factor-min", "single-partition-high-throughput"}
    assert all(f.severity == "warn" for f in staging)
    unclean = {"configs": {"unclean.leader.election.enable": "true"}}
    assert [f.severity for f in evaluate("topic.config.alter", unclean, profile="dev")] == ["warn"]
    assert [f.severity for f in evaluate("topic.config.alter", unclean, profile="staging")] == ["refuse"]
    declared = {"partitions": 1, "replication_factor": 1, "high_throughput": True}
    assert [f.rule for f in evaluate("topic.create", declared, profile="dev")] == ["single-partition-high-throughput"]


def test_override_only_for_overridable_rules(tmp_path: Path) -> None:
    gate = Gate(make_settings("127.0.0.1:1", tmp_path, profile="production"))
    for action, details, rule in [
        ("producer.configure", {"producer_config": {"acks": "1"}}, "producer-durability"),
        ("consumer.configure", {"consumer_config": {"enable.auto.commit": "true"}}, "consumer-auto-commit"),
    ]:
        change = _change(action, details, override="metrics only; a lost sample is harmless")
        assert gate.admit(change, effect="x").decision == "allowed"
        assert change.overridden_rules == [rule]
        gate.record(change, decision="allowed", result={"ok": True})
        entry = read_audit(tmp_path)[-1]
        assert entry["overridden_rules"] == [rule]
        assert entry["override_reason"] == "metrics only; a lost sample is harmless"
    for action, details, rule in [
        ("topic.config.alter", {"configs": {"unclean.leader.election.enable": "true"}}, "unclean-leader-election"),
        ("schema.register", {"compatible": False, "reasons": ["type changed"]}, "schema-compatibility"),
        ("topic.create", {"partitions": 6, "replication_factor": 1, "configs": GOOD}, "replication-factor-min"),
    ]:
        with pytest.raises(PolicyViolation) as info:
            gate.admit(_change(action, details, override="I know better"), effect="x")
        assert rule in str(info.value) and "cannot override" in str(info.value)


def test_secrets_are_redacted_in_the_audit_log(tmp_path: Path) -> None:
    gate = Gate(make_settings("127.0.0.1:1", tmp_path))
    change = _change(
        "user.upsert",
        {},
        resource_type="user",
        arguments={"user": "alice", "password": "hunter2", "nested": {"sasl.jaas.config": "secret"}},
    )
    gate.record(change, decision="allowed")
    line = (tmp_path / "audit.jsonl").read_text()
    assert "hunter2" not in line and "secret" not in line.replace('"***"', "")
    assert read_audit(tmp_path)[-1]["arguments"]["password"] == "***"
    assert (tmp_path / "audit.jsonl").stat().st_mode & 0o777 == 0o600


# --- through the real tools on real Kafka ----------------------------------------------------------------------


async def test_topic_rules_through_the_tools_on_a_production_cluster(prod3_settings: Any, admin3: Any) -> None:
    data_dir = prod3_settings.data_dir
    async with client_for(prod3_settings) as client:
        cases = [
            ({"partitions": 6, "replication_factor": 1, "configs": GOOD}, "replication-factor-min"),
            (
                {"partitions": 6, "replication_factor": 3, "configs": {"min.insync.replicas": "1"}},
                "min-insync-replicas-min",
            ),
            (
                {
                    "partitions": 6,
                    "replication_factor": 3,
                    "configs": {**GOOD, "unclean.leader.election.enable": "true"},
                },
                "unclean-leader-election",
            ),
            (
                {"partitions": 6, "replication_factor": 3, "configs": {**GOOD, "retention.ms": "-1"}},
                "unlimited-retention",
            ),
            ({"partitions": 1, "replication_factor": 3, "configs": GOOD}, "single-partition-high-throughput"),
        ]
        for args, rule in cases:
            name = unique("pol")
            result = await client.call_tool("kafka_create_topic", {"topic": name, **args})
            assert_tool_error(result, rule, "compliant")
            assert not topic_exists(admin3, name), f"{rule}: a refused create must not create the topic"

        compliant = unique("pol-ok")
        created = structured(
            await client.call_tool(
                "kafka_create_topic", {"topic": compliant, "partitions": 6, "replication_factor": 3, "configs": GOOD}
            )
        )
        assert created["created"] is True and wait_exists(admin3, compliant)
        meta = admin3.list_topics(timeout=10).topics[compliant]
        assert len(meta.partitions) == 6 and all(len(p.replicas) == 3 for p in meta.partitions.values())

        altered = await client.call_tool(
            "kafka_alter_topic_config", {"topic": compliant, "set_configs": {"unclean.leader.election.enable": "true"}}
        )
        assert_tool_error(altered, "unclean-leader-election")
        bad_isr = await client.call_tool(
            "kafka_alter_topic_config", {"topic": compliant, "set_configs": {"min.insync.replicas": "1"}}
        )
        assert_tool_error(bad_isr, "min-insync-replicas-min")

        # Overridable rules pass with a reason, and the audit log says which rule and why.
        forever = unique("pol-ovr")
        reason = "legal hold: ledger must be kept forever"
        done = structured(
            await client.call_tool(
                "kafka_create_topic",
                {
                    "topic": forever,
                    "partitions": 1,
                    "replication_factor": 3,
                    "configs": {**GOOD, "retention.ms": "-1"},
                    "override_reason": reason,
                },
            )
        )
        assert done["created"] is True and wait_exists(admin3, forever)
    entries = read_audit(data_dir)
    mine = [e for e in entries if forever in e["resources"] and e["decision"] == "allowed"]
    assert mine and mine[-1]["override_reason"] == reason
    assert mine[-1]["overridden_rules"] == ["single-partition-high-throughput", "unlimited-retention"]
    refused = [e for e in entries if e["decision"] == "refused"]
    assert len(refused) >= 7 and all(e["error"] for e in refused)
    drop_topics(admin3, [compliant, forever])


async def test_dev_profile_allows_rf1_on_the_single_broker(settings: Any, admin: Any) -> None:
    name = unique("dev")
    async with client_for(settings) as client:
        created = structured(
            await client.call_tool("kafka_create_topic", {"topic": name, "partitions": 1, "replication_factor": 1})
        )
    assert created["created"] is True and wait_exists(admin, name)
    drop_topics(admin, [name])


async def test_check_policy_tool_validates_without_changing(settings: Any, admin: Any) -> None:
    name = unique("chk")
    async with client_for(settings) as client:
        plan = {"topic": name, "partitions": 1, "replication_factor": 1, "profile": "production"}
        report = structured(await client.call_tool("kafka_check_policy", plan))
        assert report["verdict"] == "refused" and report["profile"] == "production"
        assert {"replication-factor-min", "single-partition-high-throughput"} <= set(report["refused_by"])
        assert all(f["why"] and f["fix"] for f in report["findings"])
        assert not topic_exists(admin, name)

        dev = structured(await client.call_tool("kafka_check_policy", {**plan, "profile": None}))
        assert dev["verdict"] == "allowed" and dev["profile"] == "dev"

        producer = structured(
            await client.call_tool(
                "kafka_check_policy",
                {
                    "action": "producer.configure",
                    "producer_config": {"acks": "1"},
                    "profile": "production",
                    "override_reason": "best-effort metrics",
                },
            )
        )
        assert producer["verdict"] == "allowed_by_override"
        schema = structured(
            await client.call_tool(
                "kafka_check_policy",
                {
                    "action": "schema.register",
                    "topic": "users-value",
                    "schema_compatible": False,
                    "schema_reasons": ["READER_FIELD_MISSING_DEFAULT_VALUE: email"],
                    "profile": "staging",
                },
            )
        )
        assert schema["verdict"] == "refused" and schema["refused_by"] == ["schema-compatibility"]
        protected = structured(
            await client.call_tool(
                "kafka_check_policy",
                {"action": "topic.config.alter", "topic": "__consumer_offsets", "configs": {"retention.ms": "1"}},
            )
        )
        assert protected["verdict"] == "refused" and "protected-topic" in protected["refused_by"]
    assert read_audit(settings.data_dir) == [], "checking a plan is not a change: nothing is audited"


async def test_protected_topics_cannot_be_changed(kafka_cluster: ClusterHandle, data_dir: Path) -> None:
    settings = make_settings(kafka_cluster.bootstrap_servers, data_dir, protected_topics_pattern=r"^billing\.")
    async with client_for(settings) as client:
        for topic in ["__consumer_offsets", "_schemas", "connect-offsets", "billing.ledger"]:
            result = await client.call_tool(
                "kafka_alter_topic_config", {"topic": topic, "set_configs": {"retention.ms": "1000"}}
            )
            assert_tool_error(result, "protected")
        result = await client.call_tool("kafka_delete_topic", {"topic": "__consumer_offsets"})
        assert_tool_error(result, "protected")


async def test_staging_warns_and_records_the_warning(kafka_cluster: ClusterHandle, data_dir: Path, admin: Any) -> None:
    settings = make_settings(kafka_cluster.bootstrap_servers, data_dir, profile="staging")
    name = unique("stg")
    async with client_for(settings) as client:
        result = await client.call_tool("kafka_create_topic", {"topic": name, "partitions": 1, "replication_factor": 1})
        created = structured(result)
        # The warnings reach the caller too: a second text block after the result's JSON.
        assert len(result.content) == 2 and json.loads(result.content[0].text) == created
        note = result.content[1].text
        assert "Policy warnings" in note and "replication-factor-min" in note
        assert "single-partition-high-throughput" in note
        # A call with nothing to warn about has the one block.
        quiet = await client.call_tool("kafka_describe_topic", {"topic": name})
        assert len(quiet.content) == 1
        unclean = await client.call_tool(
            "kafka_alter_topic_config", {"topic": name, "set_configs": {"unclean.leader.election.enable": "true"}}
        )
        assert_tool_error(unclean, "unclean-leader-election")
    assert created["created"] is True and wait_exists(admin, name)
    entry = next(e for e in read_audit(data_dir) if name in e["resources"] and e["decision"] == "allowed")
    rules = {w.split(":")[0] for w in entry["policy_warnings"]}
    assert rules == {"replication-factor-min", "single-partition-high-throughput"}
    # Our agent's tool hub hands the model the compact result and the warnings with it.
    from cli.common import tool_hub

    other = unique("stg")
    async with tool_hub(settings, stdio=False, extra_servers=False) as hub:
        outcome = await hub.call("kafka_create_topic", {"topic": other, "partitions": 1, "replication_factor": 1})
    assert not outcome.is_error and outcome.structured is not None and outcome.structured["created"] is True
    assert (
        outcome.text.startswith("{") and "Policy warnings" in outcome.text and "replication-factor-min" in outcome.text
    )
    drop_topics(admin, [name, other])


_SEVERITY_ORDER = {"allow": 0, "warn": 1, "refuse": 2}


def test_stricter_profiles_never_allow_more_and_check_agrees_with_the_gate(tmp_path: Path) -> None:
    """For any plan: what dev flags, staging flags at least as hard, and production at least as hard again; and the
    verdict kafka_check_policy reports is exactly what the gate does with the same plan."""
    from hypothesis import given
    from hypothesis import settings as hsettings
    from hypothesis import strategies as st

    from mcp_server.tools.policy import _verdict

    conf_value = st.sampled_from(["-1", "0", "1", "2", "3", "4", "true", "false", "compact", "delete", "all", "junk"])
    conf_key = st.sampled_from(
        ["min.insync.replicas", "unclean.leader.election.enable", "retention.ms", "retention.bytes", "cleanup.policy"]
    )
    client_key = st.sampled_from(["enable.idempotence", "acks", "enable.auto.commit"])
    details = st.fixed_dictionaries(
        {},
        optional={
            "partitions": st.integers(-1, 40),
            "replication_factor": st.integers(-1, 5),
            "configs": st.dictionaries(conf_key, conf_value, max_size=4),
            "delete_configs": st.lists(conf_key, max_size=2),
            "high_throughput": st.booleans(),
            "expected_msgs_per_sec": st.floats(0, 200_000),
            "producer_config": st.dictionaries(client_key, conf_value, max_size=3),
            "durable": st.booleans(),
            "consumer_config": st.dictionaries(client_key, conf_value, max_size=3),
            "critical": st.booleans(),
            "compatible": st.booleans(),
            "reasons": st.lists(st.text(max_size=10), max_size=2),
        },
    )
    actions = st.sampled_from(
        [
            "topic.create",
            "topic.config.alter",
            "topic.partitions.add",
            "producer.configure",
            "consumer.configure",
            "schema.register",
        ]
    )
    gates = {p: Gate(make_settings("127.0.0.1:1", tmp_path / p, profile=p)) for p in ("production", "staging", "dev")}

    @hsettings(max_examples=300, deadline=None)
    @given(action=actions, plan=details, reason=st.sampled_from([None, "", "a reviewed exception"]))
    def check(action: str, plan: dict[str, Any], reason: str | None) -> None:
        worst: dict[str, dict[str, int]] = {}
        for profile, gate in gates.items():
            findings = evaluate(action, plan, profile=profile)
            worst[profile] = {}
            for f in findings:
                worst[profile][f.rule] = max(worst[profile].get(f.rule, 0), _SEVERITY_ORDER[f.severity])
            verdict, _ = _verdict(findings, reason, blocked=False)
            change = _change(action, plan, override=reason)
            try:
                gate.admit(change, effect="x")
                refused = False
            except PolicyViolation:
                refused = True
            assert refused == (verdict == "refused"), (profile, action, plan, reason, verdict)
        for looser, stricter in (("dev", "staging"), ("staging", "production")):
            for rule, level in worst[looser].items():
                assert worst[stricter].get(rule, 0) >= level, (rule, looser, stricter, plan)

    check()


def test_a_bad_protected_pattern_is_a_clear_config_error(tmp_path: Path) -> None:
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="PROTECTED_TOPICS_PATTERN"):
        Gate(make_settings("127.0.0.1:1", tmp_path, protected_topics_pattern="(billing"))


async def test_list_policies_tool(kafka_cluster: ClusterHandle, data_dir: Path) -> None:
    settings = make_settings(kafka_cluster.bootstrap_servers, data_dir, protected_topics_pattern=r"^billing\.")
    async with client_for(settings) as client:
        dev = structured(await client.call_tool("kafka_list_policies", {}))
        prod = structured(await client.call_tool("kafka_list_policies", {"profile": "production"}))
    assert {r["name"] for r in dev["rules"]} == {r.name for r in RULES}
    assert dev["profile"] == "dev" and dev["read_only"] is False and "billing" in dev["protected_topics"]
    by_name = {r["name"]: r for r in prod["rules"]}
    assert by_name["replication-factor-min"]["severity"] == "refuse"
    assert by_name["replication-factor-min"]["severity_by_profile"]["dev"] == "allow"
    assert by_name["unlimited-retention"]["overridable"] is True
    assert "300s" in prod["consent"]
