"""Consent for destructive changes, on the real single-broker cluster, checked with a separate admin client.

Token flow (clients without elicitation): a token works once, expires, is bound to the exact arguments and cluster,
and a call without a token changes nothing. Elicitation (clients that declare it): the person types the topic's
name; accept, decline, cancel and a wrong name, over both wire forms (inline ``elicitation/create`` on 2025-11-25,
the ``input_required`` round trip on 2026-07-28)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ClusterHandle, make_settings, unique
from tests.helpers import assert_tool_error, structured
from tests.safety.conftest import (
    FakeClock,
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


def _produce(bootstrap: str, topic: str, n: int) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    for i in range(n):
        producer.produce(topic, value=f"v{i}".encode())
    assert producer.flush(15) == 0


def _high_watermark(admin: Any, topic: str) -> int:
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import OffsetSpec

    futures = admin.list_offsets({TopicPartition(topic, 0): OffsetSpec.latest()}, request_timeout=10)
    return int(next(iter(futures.values())).result(timeout=10).offset)


async def _dry_run(client: Any, topic: str, **extra: Any) -> str:
    preview = structured(await client.call_tool("kafka_delete_topic", {"topic": topic, **extra}))
    assert preview["executed"] is False
    consent = preview["consent"]
    assert topic in consent["effect"] and consent["confirmation_token"]
    token: str = consent["confirmation_token"]
    return token


# --- tokens ----------------------------------------------------------------------------------------------------


async def test_delete_without_token_changes_nothing(settings: Any, admin: Any, kafka_cluster: ClusterHandle) -> None:
    topic = unique("keep")
    create_topic_directly(admin, topic)
    _produce(kafka_cluster.bootstrap_servers, topic, 5)
    async with client_for(settings) as client:
        preview = structured(await client.call_tool("kafka_delete_topic", {"topic": topic}))
    assert "5 record(s)" in preview["consent"]["effect"]
    assert topic_exists(admin, topic) and _high_watermark(admin, topic) == 5
    assert read_audit(settings.data_dir)[-1]["decision"] == "consent_requested"
    drop_topics(admin, [topic])


async def test_token_works_once(settings: Any, admin: Any) -> None:
    topic = unique("once")
    create_topic_directly(admin, topic)
    async with client_for(settings) as client:
        token = await _dry_run(client, topic)
        done = structured(await client.call_tool("kafka_delete_topic", {"topic": topic, "confirm_token": token}))
        assert done["executed"] is True
        assert await wait_gone(admin, topic)
        create_topic_directly(admin, topic)  # the same name again: the spent token must not delete it
        again = await client.call_tool("kafka_delete_topic", {"topic": topic, "confirm_token": token})
        assert_tool_error(again, "unknown or was already used")
    assert topic_exists(admin, topic)
    decisions = [e["decision"] for e in read_audit(settings.data_dir) if topic in e["resources"]]
    assert decisions == ["consent_requested", "confirmed", "refused"]
    drop_topics(admin, [topic])


async def test_token_expires(settings: Any, admin: Any) -> None:
    topic = unique("exp")
    create_topic_directly(admin, topic)
    clock = FakeClock()
    async with client_for(settings, clock=clock) as client:
        token = await _dry_run(client, topic)
        clock.advance(settings.confirm_ttl_s + 1)
        late = await client.call_tool("kafka_delete_topic", {"topic": topic, "confirm_token": token})
        assert_tool_error(late, "expired")
        assert topic_exists(admin, topic)
        fresh = await _dry_run(client, topic)
        clock.advance(settings.confirm_ttl_s - 1)  # still inside the window
        done = structured(await client.call_tool("kafka_delete_topic", {"topic": topic, "confirm_token": fresh}))
        assert done["executed"] is True
    assert await wait_gone(admin, topic)


async def test_token_bound_to_arguments_and_cluster(kafka_cluster: ClusterHandle, data_dir: Path, admin: Any) -> None:
    clusters = data_dir / "clusters.yaml"
    clusters.write_text(
        "default: local\nclusters:\n"
        f"  local: {{bootstrap_servers: '{kafka_cluster.bootstrap_servers}'}}\n"
        f"  twin: {{bootstrap_servers: '{kafka_cluster.bootstrap_servers}'}}\n"
    )
    settings = make_settings(kafka_cluster.bootstrap_servers, data_dir, clusters_file=clusters)
    a, b = unique("bind-a"), unique("bind-b")
    create_topic_directly(admin, a)
    create_topic_directly(admin, b)
    async with client_for(settings) as client:
        token = await _dry_run(client, a)
        other_topic = await client.call_tool("kafka_delete_topic", {"topic": b, "confirm_token": token})
        assert_tool_error(other_topic, "different arguments or another cluster")
        # A misused token is spent: it cannot be tried again on the right call either.
        assert_tool_error(
            await client.call_tool("kafka_delete_topic", {"topic": a, "confirm_token": token}), "already used"
        )
        token = await _dry_run(client, a)
        other_cluster = await client.call_tool(
            "kafka_delete_topic", {"topic": a, "confirm_token": token, "cluster": "twin"}
        )
        assert_tool_error(other_cluster, "different arguments or another cluster")
        made_up = await client.call_tool("kafka_delete_topic", {"topic": a, "confirm_token": "not-a-token"})
        assert_tool_error(made_up, "unknown")
    assert topic_exists(admin, a) and topic_exists(admin, b)
    drop_topics(admin, [a, b])


def test_any_differing_argument_voids_the_token(tmp_path: Path) -> None:
    from hypothesis import given
    from hypothesis import settings as hsettings
    from hypothesis import strategies as st

    from core.errors import InvalidArgument
    from core.gate import Change, ConsentRequired, Gate, Requester, TokenConsent

    gate = Gate(make_settings("127.0.0.1:1", tmp_path))
    asker = Requester("session:test", "a test session")
    base = {"group": "g1", "topic": "orders", "to": "earliest", "partitions": [0, 1]}

    def change(args: dict[str, Any]) -> Change:
        return Change(
            tool="kafka_reset_offsets",
            cluster="local",
            action="group.offsets.reset",
            resource_type="group",
            resources=["g1"],
            destructive=True,
            arguments=args,
        )

    @hsettings(max_examples=40, deadline=None)
    @given(key=st.sampled_from(sorted(base)), value=st.one_of(st.text(max_size=8), st.integers(), st.none()))
    def check(key: str, value: Any) -> None:
        if base[key] == value:
            return
        with pytest.raises(ConsentRequired) as asked:
            gate.admit(change(base), requester=asker, consent=TokenConsent(None), effect="reset")
        preview = asked.value.preview
        assert preview is not None and preview.confirmation_token
        with pytest.raises(InvalidArgument, match="different arguments"):
            gate.admit(
                change({**base, key: value}),
                requester=asker,
                consent=TokenConsent(preview.confirmation_token),
                effect="reset",
            )

    check()


# --- elicitation -----------------------------------------------------------------------------------------------


def _answering(action: str, typed: str | None = None) -> Any:
    from mcp_types import ElicitResult

    asked: list[str] = []

    async def callback(context: Any, params: Any) -> Any:
        asked.append(params.message)
        if action == "accept":
            return ElicitResult(action="accept", content={"confirm": typed or ""})
        return ElicitResult(action=action)

    callback.asked = asked  # type: ignore[attr-defined]
    return callback


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_elicitation_accept_deletes(settings: Any, admin: Any, mode: str) -> None:
    topic = unique("eli-yes")
    create_topic_directly(admin, topic)
    callback = _answering("accept", topic)
    async with client_for(settings, elicitation_callback=callback, mode=mode) as client:
        done = structured(await client.call_tool("kafka_delete_topic", {"topic": topic}))
    assert done["executed"] is True and done["consent"] is None
    assert len(callback.asked) == 1 and topic in callback.asked[0]
    assert await wait_gone(admin, topic)
    decisions = [e["decision"] for e in read_audit(settings.data_dir) if topic in e["resources"]]
    assert decisions == ["consent_asked", "confirmed_by_person", "confirmed"]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
@pytest.mark.parametrize(
    ("action", "typed", "fragment", "decision"),
    [
        ("decline", None, "declined", "declined"),
        ("cancel", None, "cancelled", "cancelled"),
        ("accept", "some-other-topic", "did not match", "mismatch"),
        ("accept", "", "did not match", "mismatch"),
    ],
)
async def test_elicitation_refusals_change_nothing(
    settings: Any, admin: Any, mode: str, action: str, typed: str | None, fragment: str, decision: str
) -> None:
    topic = unique("eli-no")
    create_topic_directly(admin, topic)
    callback = _answering(action, typed)
    async with client_for(settings, elicitation_callback=callback, mode=mode) as client:
        result = await client.call_tool("kafka_delete_topic", {"topic": topic})
        assert_tool_error(result, fragment, "nothing was changed")
        assert len(callback.asked) == 1
        still = structured(await client.call_tool("kafka_describe_topic", {"topic": topic}))
        assert still["name"] == topic
    assert topic_exists(admin, topic)
    decisions = [e["decision"] for e in read_audit(settings.data_dir) if topic in e["resources"]]
    assert decisions == ["consent_asked", decision]
    drop_topics(admin, [topic])


async def test_an_answer_cannot_be_replayed_onto_another_call(settings: Any, admin: Any) -> None:
    """2026-07-28: the answer rides a retry. An answer cannot be moved onto another call (the SDK's sealed
    request_state and our own binding both refuse it), and a question's answer is used once."""
    from mcp.shared.exceptions import MCPError
    from mcp_types import ElicitResult, InputRequiredResult

    a, b = unique("replay-a"), unique("replay-b")
    create_topic_directly(admin, a)
    create_topic_directly(admin, b)
    async with client_for(settings, elicitation_callback=_answering("accept", a)) as client:
        first = await client.session.call_tool("kafka_delete_topic", {"topic": a}, allow_input_required=True)
        assert isinstance(first, InputRequiredResult) and first.request_state
        (key,) = list(first.input_requests or {})
        try:
            forged = await client.session.call_tool(
                "kafka_delete_topic",
                {"topic": b},
                input_responses={key: ElicitResult(action="accept", content={"confirm": b})},
                request_state=first.request_state,
            )
            assert forged.is_error
        except MCPError as exc:
            assert "requestState" in str(exc)
        assert topic_exists(admin, b)

        answer = {key: ElicitResult(action="accept", content={"confirm": a})}
        done = await client.session.call_tool(
            "kafka_delete_topic", {"topic": a}, input_responses=answer, request_state=first.request_state
        )
        assert not done.is_error and done.structured_content["executed"] is True
        assert await wait_gone(admin, a)
        create_topic_directly(admin, a)  # the same name again: the spent answer must not delete it
        replay = await client.session.call_tool(
            "kafka_delete_topic", {"topic": a}, input_responses=answer, request_state=first.request_state
        )
        assert replay.is_error and "does not belong" in "".join(c.text for c in replay.content)
    assert topic_exists(admin, a) and topic_exists(admin, b)
    drop_topics(admin, [a, b])


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_elicitation_over_http(kafka_cluster: ClusterHandle, data_dir: Path, admin: Any, mode: str) -> None:
    """The same consent through a spawned `kafka-agent serve --transport http`: decline keeps, accept deletes."""
    from mcp import Client

    keep, gone = unique("http-keep"), unique("http-gone")
    create_topic_directly(admin, keep)
    create_topic_directly(admin, gone)
    with http_server(server_env(kafka_cluster, data_dir)) as url:
        async with Client(url, raise_exceptions=False, mode=mode, elicitation_callback=_answering("decline")) as c:
            assert_tool_error(await c.call_tool("kafka_delete_topic", {"topic": keep}), "declined")
        callback = _answering("accept", gone)
        async with Client(url, raise_exceptions=False, mode=mode, elicitation_callback=callback) as client:
            done = structured(await client.call_tool("kafka_delete_topic", {"topic": gone}))
        assert done["executed"] is True and len(callback.asked) == 1
    assert topic_exists(admin, keep)
    assert await wait_gone(admin, gone)
    http_entries = [e for e in read_audit(data_dir) if gone in e["resources"]]
    assert [e["decision"] for e in http_entries] == ["consent_asked", "confirmed_by_person", "confirmed"]
    assert all(e["transport"] == "http" for e in http_entries)
    drop_topics(admin, [keep])


async def test_a_failing_elicitation_is_no_consent(settings: Any, admin: Any) -> None:
    """The client declared elicitation but answers the question with an error: refused, nothing deleted."""
    from mcp_types import ErrorData

    async def broken(context: Any, params: Any) -> Any:
        return ErrorData(code=-32603, message="no user interface available")

    topic = unique("eli-err")
    create_topic_directly(admin, topic)
    async with client_for(settings, elicitation_callback=broken, mode="legacy") as client:
        result = await client.call_tool("kafka_delete_topic", {"topic": topic})
    assert_tool_error(result, "could not ask the user", "nothing was changed")
    assert topic_exists(admin, topic)
    drop_topics(admin, [topic])


def _group_exists(admin: Any, group: str) -> bool:
    listed = admin.list_consumer_groups(request_timeout=10).result(timeout=15)
    return group in {g.group_id for g in listed.valid}


async def test_elicitation_for_another_destructive_tool(
    settings: Any, admin: Any, kafka_cluster: ClusterHandle
) -> None:
    """The same consent on kafka_delete_consumer_group: the person types the group's name."""
    from confluent_kafka import Consumer, TopicPartition

    topic, group = unique("eli-grp-t"), unique("eli-grp")
    create_topic_directly(admin, topic)
    consumer = Consumer(
        {"bootstrap.servers": kafka_cluster.bootstrap_servers, "group.id": group, "enable.auto.commit": False}
    )
    consumer.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
    consumer.close()
    assert _group_exists(admin, group)
    async with client_for(settings, elicitation_callback=_answering("decline")) as client:
        assert_tool_error(await client.call_tool("kafka_delete_consumer_group", {"group": group}), "declined")
    assert _group_exists(admin, group)
    callback = _answering("accept", group)
    async with client_for(settings, elicitation_callback=callback) as client:
        done = structured(await client.call_tool("kafka_delete_consumer_group", {"group": group}))
    assert done["executed"] is True and group in callback.asked[0]
    assert not _group_exists(admin, group)
    drop_topics(admin, [topic])
