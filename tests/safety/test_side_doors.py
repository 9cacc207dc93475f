"""The side doors an attacker tried, each as a regression test through the real server, checked with a separate admin
client and the audit log:

- an argument the tool does not define (``dry_run``) is refused by name, never silently ignored;
- a consent token does not cross sessions (stdio/in-memory servers, two HTTP sessions, a client that declines);
- ``approve`` mode: the model sees an approval id it cannot redeem until a person approves (in another process,
  with `kafka-agent approvals`), and then only once, only for the asker;
- ``elicit`` mode refuses a client that cannot ask its person, and says what to do;
- several servers sharing one consent topic redeem one approval exactly once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ClusterHandle, make_settings, unique
from tests.helpers import assert_tool_error, error_text, structured
from tests.safety.conftest import (
    ROOT,
    client_for,
    create_topic_directly,
    drop_topics,
    http_server,
    read_audit,
    server_env,
    topic_exists,
    wait_gone,
)

pytestmark = pytest.mark.anyio

CHANGED = {"allowed", "confirmed", "approved", "standing_consent"}


def _approvals_cli(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    full = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_AGENT_")}
    full.update(env or {})
    full["KAFKA_AGENT_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "cli", "approvals", *args],
        env=full,
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- strict arguments ------------------------------------------------------------------------------------------


async def test_an_unknown_argument_is_refused_by_name(settings: Any, admin: Any) -> None:
    victim, new = unique("victim"), unique("never-made")
    create_topic_directly(admin, victim)
    async with client_for(settings) as client:
        preview = structured(await client.call_tool("kafka_delete_topic", {"topic": victim}))
        token = preview["consent"]["confirmation_token"]
        forged = await client.call_tool(
            "kafka_delete_topic", {"topic": victim, "confirm_token": token, "dry_run": True}
        )
        assert_tool_error(forged, "unknown argument 'dry_run'", "Valid arguments", "confirm_token")
        made = await client.call_tool(
            "kafka_create_topic", {"topic": new, "partitions": 1, "replication_factor": 1, "dry_run": True}
        )
        assert_tool_error(made, "unknown argument 'dry_run'", "validate_only")
    assert topic_exists(admin, victim) and not topic_exists(admin, new)
    refused = [e for e in read_audit(settings.data_dir) if e["action"] == "tool.call" and e["decision"] == "refused"]
    assert {e["tool"] for e in refused} == {"kafka_delete_topic", "kafka_create_topic"}
    assert not [e for e in read_audit(settings.data_dir) if e["decision"] in CHANGED]
    drop_topics(admin, [victim])


async def test_an_unknown_argument_over_stdio_and_http(
    kafka_cluster: ClusterHandle, data_dir: Path, admin: Any
) -> None:
    """The same refusal from a spawned `kafka-agent serve`, over stdio and over streamable HTTP."""
    from mcp import Client, StdioServerParameters

    victim = unique("victim")
    create_topic_directly(admin, victim)
    env = server_env(kafka_cluster, data_dir)
    stdio = StdioServerParameters(command=sys.executable, args=["-m", "cli", "serve"], env=env, cwd=str(ROOT))
    with http_server(env) as url:
        for target in (stdio, url):
            async with Client(target, raise_exceptions=False) as client:
                token = structured(await client.call_tool("kafka_delete_topic", {"topic": victim}))["consent"][
                    "confirmation_token"
                ]
                forged = await client.call_tool(
                    "kafka_delete_topic", {"topic": victim, "confirm_token": token, "dry_run": True}
                )
                assert_tool_error(forged, "unknown argument 'dry_run'")
    assert topic_exists(admin, victim)
    refused = [e for e in read_audit(data_dir) if e["action"] == "tool.call"]
    assert {e["transport"] for e in refused} == {"stdio", "http"} and all(e["decision"] == "refused" for e in refused)
    drop_topics(admin, [victim])


async def test_every_input_schema_forbids_unknown_properties(settings: Any) -> None:
    async with client_for(settings) as client:
        tools = (await client.list_tools()).tools
    assert len(tools) > 60
    loose = [t.name for t in tools if (t.input_schema or {}).get("additionalProperties") is not False]
    assert not loose, f"tools accepting unknown arguments: {loose}"


def test_random_unknown_keys_are_refused_by_every_tool(settings: Any) -> None:
    """Hypothesis adds random keys to every tool's call: each is refused naming the key, and nothing changes."""
    from anyio.from_thread import start_blocking_portal
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hsettings
    from hypothesis import strategies as st
    from mcp import Client

    from mcp_server.server import build_server
    from mcp_server.tools._args import shorten

    keys = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)
    values = st.one_of(st.booleans(), st.integers(), st.text(max_size=20), st.none(), st.just({"nested": True}))
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(Client(build_server(settings), raise_exceptions=False)) as client,
    ):
        listed = portal.call(client.list_tools).tools
        tools = [(t.name, set((t.input_schema or {}).get("properties") or {})) for t in listed]

        @hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(
            index=st.integers(min_value=0, max_value=len(tools) - 1),
            extra=st.dictionaries(keys, values, min_size=1, max_size=3),
        )
        def check(index: int, extra: dict[str, Any]) -> None:
            name, known = tools[index]
            extra = {k: v for k, v in extra.items() if k not in known}
            if not extra:
                return
            result = portal.call(client.call_tool, name, extra)
            assert result.is_error, (name, extra)
            text = error_text(result)
            assert "unknown argument" in text and "Valid arguments" in text, text
            assert shorten(sorted(extra)[0], 40) in text, text
            assert "Traceback" not in text and "pydantic" not in text

        check()
    assert not [e for e in read_audit(settings.data_dir) if e["decision"] in CHANGED]


# --- tokens and sessions ---------------------------------------------------------------------------------------


async def test_a_token_does_not_cross_sessions(kafka_cluster: ClusterHandle, data_dir: Path, admin: Any) -> None:
    """Session X previews; session Y (elicitation, declines) and session Z (no elicitation) try X's token."""
    from mcp import Client
    from mcp_types import ElicitResult

    async def decline(context: Any, params: Any) -> Any:
        return ElicitResult(action="decline")

    topic = unique("cross")
    create_topic_directly(admin, topic)
    with http_server(server_env(kafka_cluster, data_dir)) as url:
        async with Client(url, raise_exceptions=False, mode="legacy") as x:
            token = structured(await x.call_tool("kafka_delete_topic", {"topic": topic}))["consent"][
                "confirmation_token"
            ]
            async with Client(url, raise_exceptions=False, mode="legacy", elicitation_callback=decline) as y:
                assert_tool_error(
                    await y.call_tool("kafka_delete_topic", {"topic": topic, "confirm_token": token}), "declined"
                )
            async with Client(url, raise_exceptions=False, mode="legacy") as z:
                assert_tool_error(
                    await z.call_tool("kafka_delete_topic", {"topic": topic, "confirm_token": token}),
                    "another session",
                )
            # Z's attempt spent it: not even X can use it now.
            assert_tool_error(
                await x.call_tool("kafka_delete_topic", {"topic": topic, "confirm_token": token}), "already used"
            )
    assert topic_exists(admin, topic)
    entries = [e for e in read_audit(data_dir) if topic in e["resources"]]
    assert [e["decision"] for e in entries] == ["consent_requested", "consent_asked", "declined", "refused", "refused"]
    assert len({e["requester"] for e in entries}) == 3
    drop_topics(admin, [topic])


# --- approve mode ----------------------------------------------------------------------------------------------


async def test_approve_mode_waits_for_a_person(kafka_cluster: ClusterHandle, data_dir: Path, admin: Any) -> None:
    settings = make_settings(kafka_cluster.bootstrap_servers, data_dir, consent="approve")
    topic, kept = unique("apr"), unique("apr-kept")
    create_topic_directly(admin, topic)
    create_topic_directly(admin, kept)
    async with client_for(settings) as client:
        first = structured(await client.call_tool("kafka_delete_topic", {"topic": topic}))
        consent = first["consent"]
        assert first["executed"] is False and consent["mode"] == "approval" and consent["confirmation_token"] is None
        approval = consent["approval_id"]
        assert "kafka-agent approvals approve" in consent["how_to_confirm"]
        # The model "redeems" the id itself: still waiting, nothing deleted, the same approval (not a second one).
        again = structured(await client.call_tool("kafka_delete_topic", {"topic": topic, "confirm_token": approval}))
        assert again["executed"] is False and again["consent"]["approval_id"] == approval
        assert topic_exists(admin, topic)

        listed = _approvals_cli(data_dir, "list", "--json")
        assert listed.returncode == 0, listed.stderr
        (pending,) = [r for r in json.loads(listed.stdout) if r["id"] == approval]
        assert pending["status"] == "pending" and topic in pending["effect"]
        granted = _approvals_cli(data_dir, "approve", approval, "--as", "Ada Ops", "--reason", "ticket 42")
        assert granted.returncode == 0, granted.stderr

        # Another session cannot use the person's approval.
        async with client_for(settings) as other:
            stolen = await other.call_tool("kafka_delete_topic", {"topic": topic, "confirm_token": approval})
            assert_tool_error(stolen, "another session")
        assert topic_exists(admin, topic)

        done = structured(await client.call_tool("kafka_delete_topic", {"topic": topic, "confirm_token": approval}))
        assert done["executed"] is True
        assert await wait_gone(admin, topic)
        create_topic_directly(admin, topic)
        reused = await client.call_tool("kafka_delete_topic", {"topic": topic, "confirm_token": approval})
        assert_tool_error(reused, "used")
        assert topic_exists(admin, topic)

        no = structured(await client.call_tool("kafka_delete_topic", {"topic": kept}))["consent"]["approval_id"]
        denied = _approvals_cli(data_dir, "deny", no, "--reason", "not during the freeze")
        assert denied.returncode == 0, denied.stderr
        refused = await client.call_tool("kafka_delete_topic", {"topic": kept, "confirm_token": no})
        assert_tool_error(refused, "denied", "not during the freeze")
    assert topic_exists(admin, kept) and topic_exists(admin, topic)
    decisions = [(e["decision"], e["decided_by"]) for e in read_audit(data_dir) if topic in e["resources"]]
    assert ("approval_granted", "Ada Ops") in decisions and ("approved", "Ada Ops") in decisions
    drop_topics(admin, [topic, kept])


async def test_elicit_mode_refuses_a_client_that_cannot_ask(
    kafka_cluster: ClusterHandle, data_dir: Path, admin: Any
) -> None:
    settings = make_settings(kafka_cluster.bootstrap_servers, data_dir, profile="staging")
    topic = unique("eli-mode")
    create_topic_directly(admin, topic)
    async with client_for(settings) as client:
        result = await client.call_tool("kafka_delete_topic", {"topic": topic})
    assert_tool_error(result, "does not support elicitation", "approve")
    assert "confirmation_token" not in error_text(result)
    assert topic_exists(admin, topic)
    assert read_audit(data_dir)[-1]["decision"] == "refused"
    drop_topics(admin, [topic])


def test_token_consent_is_for_dev_clusters_only(tmp_path: Path) -> None:
    from core.errors import ConfigError

    for profile in ("staging", "production"):
        with pytest.raises(ConfigError, match="dev clusters only"):
            make_settings("127.0.0.1:1", tmp_path, profile=profile, consent="token").cluster(None)
    assert make_settings("127.0.0.1:1", tmp_path, profile="production").cluster(None).consent_mode() == "approve"
    assert make_settings("127.0.0.1:1", tmp_path, profile="staging").cluster(None).consent_mode() == "elicit"
    assert make_settings("127.0.0.1:1", tmp_path).cluster(None).consent_mode() == "token"


# --- several servers, one consent topic ------------------------------------------------------------------------


def test_two_servers_redeem_one_approval_exactly_once(kafka_cluster: ClusterHandle, tmp_path: Path) -> None:
    """Two gates with their own Kafka consent stores (as two HTTP replicas would have) race for the same approval,
    ten times: exactly one wins each race, and a person's decision made through a third store reaches both."""
    from core.errors import KafkaAgentError
    from core.gate import ApprovalConsent, Change, ConsentRequired, Gate, Requester
    from core.gate.approvals import decide

    topic = unique("consent")
    gates = [
        Gate(
            make_settings(
                kafka_cluster.bootstrap_servers,
                tmp_path / f"s{i}",
                consent="approve",
                consent_store="kafka",
                consent_topic=topic,
            )
        )
        for i in range(3)
    ]
    server_a, server_b, person = gates
    asker = Requester("http-client:same-credential:orchestrator", "an orchestrator behind a load balancer")
    try:
        for round_ in range(10):
            change = Change(
                tool="kafka_delete_topic",
                cluster="local",
                action="topic.delete",
                resource_type="topic",
                resources=[f"orders-{round_}"],
                destructive=True,
                arguments={"topic": f"orders-{round_}"},
            )
            with pytest.raises(ConsentRequired) as asked:
                server_a.admit(change, requester=asker, consent=ApprovalConsent(), effect="delete")
            approval = asked.value.preview.approval_id if asked.value.preview else None
            assert approval
            decide(person, approval, approve=True, by="Ada Ops")
            wins: list[str] = []
            losses: list[str] = []

            def redeem(
                gate: Gate,
                name: str,
                change: Change = change,
                approval: str = approval,
                wins: list[str] = wins,
                losses: list[str] = losses,
            ) -> None:
                try:
                    gate.perform(
                        change,
                        lambda _p: wins.append(name),
                        requester=asker,
                        consent=ApprovalConsent(approval),
                        effect="delete",
                    )
                except (KafkaAgentError, ConsentRequired) as exc:
                    losses.append(f"{name}: {exc}")

            threads = [threading.Thread(target=redeem, args=(g, n)) for g, n in ((server_a, "a"), (server_b, "b"))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert len(wins) == 1 and len(losses) == 1, (round_, wins, losses)
            assert "used" in losses[0], losses
    finally:
        for g in gates:
            g.close()
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": kafka_cluster.bootstrap_servers})
        drop_topics(admin, [topic])


async def test_two_http_replicas_one_approval(kafka_cluster: ClusterHandle, tmp_path: Path, admin: Any) -> None:
    """The same through real servers: `serve --transport http` twice on one consent topic, a stateless client (the
    2026-07-28 protocol has no session: the client is its credential and name), and the approvals command."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    def connect(url: str) -> Any:
        transport = streamable_http_client(url, http_client=create_mcp_http_client(headers=headers))
        return Client(transport, raise_exceptions=False)

    topic, consent_topic = unique("replica"), unique("consent")
    create_topic_directly(admin, topic)
    shared = {
        "KAFKA_AGENT_CONSENT": "approve",
        "KAFKA_AGENT_CONSENT_STORE": "kafka",
        "KAFKA_AGENT_CONSENT_TOPIC": consent_topic,
        "KAFKA_AGENT_HTTP_TOKEN": "team-secret",
    }
    headers = {"Authorization": "Bearer team-secret"}
    env_a = server_env(kafka_cluster, tmp_path / "a", **shared)
    env_b = server_env(kafka_cluster, tmp_path / "b", **shared)
    try:
        with http_server(env_a) as url_a, http_server(env_b) as url_b:
            async with connect(url_a) as a:
                first = structured(await a.call_tool("kafka_delete_topic", {"topic": topic}))
            approval = first["consent"]["approval_id"]
            cli_env = {k: v for k, v in shared.items() if k != "KAFKA_AGENT_HTTP_TOKEN"}
            cli_env["KAFKA_AGENT_BOOTSTRAP_SERVERS"] = kafka_cluster.bootstrap_servers
            granted = _approvals_cli(tmp_path / "person", "approve", approval, "--as", "Ada Ops", env=cli_env)
            assert granted.returncode == 0, granted.stderr
            import anyio

            results: list[Any] = []

            async def redeem(url: str) -> None:
                async with connect(url) as c:
                    results.append(await c.call_tool("kafka_delete_topic", {"topic": topic, "confirm_token": approval}))

            async with anyio.create_task_group() as tg:
                tg.start_soon(redeem, url_a)
                tg.start_soon(redeem, url_b)
        done = [r for r in results if not r.is_error and r.structured_content["executed"]]
        assert len(done) == 1, [error_text(r) if r.is_error else r.structured_content for r in results]
        assert await wait_gone(admin, topic)
    finally:
        drop_topics(admin, [topic, consent_topic])
