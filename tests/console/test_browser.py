"""The console in a real browser (Debian's Chromium, driven by Playwright) against a real
``kafka-agent serve --transport http`` on the single-broker test cluster: log in, see a topic, watch the lag chart
move while a consumer falls behind, approve a pending delete and see it happen, deny another and see it refused, and
a ``<script>`` record shown as text.
Every page visited is saved as a screenshot (build/console-screenshots/)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import anyio
import pytest

from tests.conftest import ClusterHandle, unique
from tests.console.conftest import PERSON, Served, log_in, mcp_client, shot
from tests.helpers import assert_tool_error, structured
from tests.safety.conftest import create_topic_directly, read_audit, topic_exists, wait_gone

pytestmark = pytest.mark.anyio


def _produce(bootstrap: str, topic: str, values: list[bytes], *, partition: int | None = None) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap})
    for i, value in enumerate(values):
        kwargs: dict[str, Any] = {"key": f"k{i}".encode(), "value": value}
        if partition is not None:
            kwargs["partition"] = partition
        producer.produce(topic, **kwargs)
    assert producer.flush(20) == 0


async def test_login_and_see_a_topic(browser: Any, served: Served, kafka_cluster: ClusterHandle, admin: Any) -> None:
    topic = unique("console-topic")
    create_topic_directly(admin, topic, partitions=3)
    _produce(kafka_cluster.bootstrap_servers, topic, [f"v{i}".encode() for i in range(30)])

    # A wrong token is refused on the form; nothing else is reachable before logging in.
    context = await browser.new_context()
    anon = await context.new_page()
    await anon.goto(f"{served.ui}/c/local/topics")
    assert anon.url.endswith("/ui/login")
    await shot(anon, "01-login")
    await anon.fill("input[name=name]", PERSON)
    await anon.fill("input[name=token]", "not-the-token")
    await anon.click("button[type=submit]")
    assert "Wrong token" in await anon.inner_text("#login-error")
    cookies = {c["name"]: c for c in await context.cookies()}
    assert cookies["kafka_agent_console"]["httpOnly"] and cookies["kafka_agent_console"]["sameSite"] == "Strict"
    await context.close()

    page = await log_in(browser, served)
    try:
        overview = page.locator("#cluster-local")
        await overview.locator(".verdict").wait_for()
        assert await overview.locator(".verdict").inner_text() in ("healthy", "degraded", "critical")
        assert "brokers" in await overview.inner_text()
        await shot(page, "02-overview")

        await page.click("text=topics")
        await page.fill("input[name=q]", topic)
        row = page.locator("table.topics tbody tr", has_text=topic)
        await page.wait_for_function("() => document.querySelectorAll('table.topics tbody tr').length === 1")
        await row.wait_for()
        cells = await row.locator("td").all_inner_texts()
        assert cells[1] == "3" and cells[2] == "1", cells
        await shot(page, "03-topics")

        await row.locator("a").click()
        await page.wait_for_selector("#topic-name")
        assert await page.inner_text("#topic-name") == topic
        partitions = page.locator("section.card", has_text="Partitions").locator("tbody tr")
        assert await partitions.count() == 3
        first = await partitions.nth(0).locator("td").all_inner_texts()
        assert first[1] == "1" and first[3] == "1", first  # leader and ISR: broker 1
        records = sum(int(r.split()[6].replace("\u202f", "")) for r in await partitions.all_inner_texts())
        assert records == 30
        await page.click("#browse button[type=submit]")
        await page.locator("#messages tr.record").first.wait_for()
        assert await page.locator("#messages tr.record").count() == 20  # newest 20 of 30
        await shot(page, "04-topic")

        await page.goto(f"{served.ui}/c/local")
        await page.locator("h2", has_text="Brokers").wait_for()
        await shot(page, "05-cluster")
    finally:
        await page.context.close()


async def test_a_script_record_is_shown_as_text(page: Any, served: Served, kafka_cluster: ClusterHandle) -> None:
    topic = unique("console-xss")
    from confluent_kafka.admin import AdminClient

    create_topic_directly(AdminClient({"bootstrap.servers": kafka_cluster.bootstrap_servers}), topic)
    evil = '<script>window.__pwned = 1; alert("pwned")</script><img src=x onerror="window.__pwned = 2">'
    _produce(kafka_cluster.bootstrap_servers, topic, [evil.encode(), b'{"note": "<b>bold?</b>"}'])
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))

    await page.goto(f"{served.ui}/c/local/topics/{topic}")
    await page.select_option("select[name=start]", "earliest")
    await page.click("#browse button[type=submit]")
    values = page.locator("#messages pre.value")
    await values.first.wait_for()
    texts = await values.all_inner_texts()
    assert evil in texts, texts
    assert any("<b>bold?</b>" in t for t in texts)
    assert await page.locator("#messages script").count() == 0
    assert await page.locator("#messages img").count() == 0
    assert await page.locator("#messages b", has_text="bold?").count() == 0
    await page.wait_for_timeout(300)
    assert await page.evaluate("typeof window.__pwned") == "undefined"
    assert dialogs == []
    assert "untrusted" in await page.inner_text("#messages .untrusted")
    await shot(page, "06-messages-untrusted")

    # A wrong start is answered in place, with what to do.
    await page.select_option("select[name=start]", "offset")
    await page.fill("input[name=value]", "999999")
    await page.click("#browse button[type=submit]")
    await page.locator("#messages .error-fragment").wait_for()
    assert "past the log end" in await page.inner_text("#messages")

    # The full page (no htmx) escapes the same way.
    await page.goto(f"{served.ui}/c/local/topics/{topic}/messages?start=earliest&count=10")
    assert evil in await page.locator("pre.value").all_inner_texts()
    assert await page.evaluate("typeof window.__pwned") == "undefined"


async def test_the_lag_chart_moves_while_a_consumer_falls_behind(
    page: Any, served: Served, kafka_cluster: ClusterHandle, admin: Any
) -> None:
    from confluent_kafka import Consumer

    topic, group = unique("console-lag"), unique("console-group")
    create_topic_directly(admin, topic, partitions=2)
    bootstrap = kafka_cluster.bootstrap_servers
    _produce(bootstrap, topic, [b"x"] * 20)
    # A member that reads a little, commits, then stops reading while records keep arriving: it falls behind.
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "client.id": "slow-consumer",
        }
    )
    consumer.subscribe([topic])
    read = 0
    deadline = time.monotonic() + 30
    while read < 5 and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            read += 1
    consumer.commit(asynchronous=False)
    stop = threading.Event()

    def keep_producing() -> None:
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": bootstrap})
        while not stop.is_set():
            for _ in range(10):
                producer.produce(topic, value=b"y")
            producer.flush(5)
            consumer.poll(0)  # stays a member (heartbeats), reads nothing more
            stop.wait(0.4)

    producer_thread = threading.Thread(target=keep_producing, daemon=True)
    producer_thread.start()
    try:
        await page.goto(f"{served.ui}/c/local/groups")
        await page.fill("input[name=q]", group)
        await page.locator("a", has_text=group).click()
        chart = page.locator("#lag-chart")
        await chart.wait_for()
        assert "slow-consumer" in await page.inner_text("section.card:has-text('Members')")

        async def chart_state() -> tuple[int, int]:
            points = int(await chart.get_attribute("data-points") or 0)
            last = await chart.get_attribute("data-last")
            return points, int(last) if last else -1

        with anyio.fail_after(60):
            while (await chart_state())[0] < 2:
                await anyio.sleep(0.5)
        first_points, first_lag = await chart_state()
        with anyio.fail_after(60):
            while True:
                points, lag = await chart_state()
                if points >= first_points + 3 and lag > first_lag:
                    break
                await anyio.sleep(0.5)
        assert await page.locator("#lag-chart canvas").count() >= 1
        # The per-partition table refreshes too, and the time lag gets measured for a watched group.
        with anyio.fail_after(60):
            while True:
                total = int((await page.inner_text("#total-lag")).replace("\u202f", "").replace(",", ""))
                times = await page.locator("#group-lag tbody tr td:nth-child(6)").all_inner_texts()
                if total > 15 and any(t not in ("-", "") for t in times):
                    break
                await anyio.sleep(0.5)
        await shot(page, "07-group-lag-chart")
        series = await page.evaluate(
            "async (u) => (await fetch(u)).json()", f"{served.ui}/c/local/group/series?id={group}"
        )
        assert series["total"][-1] > series["total"][0] and set(series["topics"]) == {topic}

        await page.goto(f"{served.ui}/c/local/groups")
        await page.fill("input[name=q]", group)
        await page.wait_for_function("() => document.querySelectorAll('#groups-table tbody tr').length === 1")
        await page.locator("td", has_text=group).wait_for()
        await shot(page, "08-groups")
    finally:
        stop.set()
        producer_thread.join(10)
        consumer.close()


async def test_approve_a_pending_delete_and_see_it_happen_deny_another(page: Any, served: Served, admin: Any) -> None:
    doomed, kept = unique("console-doomed"), unique("console-kept")
    create_topic_directly(admin, doomed)
    create_topic_directly(admin, kept)
    async with mcp_client(served) as client:
        first = structured(await client.call_tool("kafka_delete_topic", {"topic": doomed}))
        assert first["executed"] is False and first["consent"]["mode"] == "approval"
        approval = first["consent"]["approval_id"]
        other = structured(await client.call_tool("kafka_delete_topic", {"topic": kept}))["consent"]["approval_id"]

        await page.goto(f"{served.ui}/approvals")
        row = page.locator(f"tr.approval-row[data-id='{approval}']")
        await row.wait_for()
        assert "pending" in await row.inner_text()
        await shot(page, "09-approvals")
        await row.locator("a").click()
        effect = await page.inner_text("#effect")
        assert doomed in effect and first["consent"]["effect"] == effect
        assert "HTTP" in await page.inner_text("dl.kv")  # who asked: the MCP client, by its credential and name
        await shot(page, "10-approval")
        await page.fill("input[name=reason]", "ticket 42: the topic is retired")
        await page.click("button.approve")
        await page.wait_for_selector("#approval-status")
        assert await page.inner_text("#approval-status") == "approved"
        assert f"{PERSON} (console)" in await page.inner_text("#decided")
        assert await page.locator("button.approve").count() == 0  # decided: no more buttons

        # Not yet deleted: the approval lets the asker's repeated call through, once.
        assert topic_exists(admin, doomed)
        done = structured(await client.call_tool("kafka_delete_topic", {"topic": doomed, "confirm_token": approval}))
        assert done["executed"] is True
        assert await wait_gone(admin, doomed)
        again = await client.call_tool("kafka_delete_topic", {"topic": doomed, "confirm_token": approval})
        assert_tool_error(again)

        # Deny the other: a reason is required, then the repeated call is refused and the topic stays.
        await page.goto(f"{served.ui}/approvals/{other}")
        await page.click("button.deny")
        assert "Say why" in await page.inner_text("#decide-error")
        await page.fill("input[name=reason]", "not during the freeze")
        await page.click("button.deny")
        await page.wait_for_selector("#approval-status")
        assert await page.inner_text("#approval-status") == "denied"
        await shot(page, "11-approval-denied")
        refused = await client.call_tool("kafka_delete_topic", {"topic": kept, "confirm_token": other})
        assert_tool_error(refused, "denied", "not during the freeze")
        assert topic_exists(admin, kept)

    decisions = [(e["decision"], e.get("decided_by")) for e in read_audit(served.data_dir)]
    assert ("approval_granted", f"{PERSON} (console)") in decisions
    assert ("approval_denied", f"{PERSON} (console)") in decisions
    assert ("approved", f"{PERSON} (console)") in decisions  # the change itself, done on the person's approval

    # The audit page filters by decision.
    await page.goto(f"{served.ui}/audit")
    await page.select_option("select[name=decision]", "approval_granted")
    await page.wait_for_function(
        "() => [...document.querySelectorAll('#audit-table .decision')].every(e => e.textContent === "
        "'approval_granted') && document.querySelectorAll('#audit-table .decision').length > 0"
    )
    assert doomed in await page.inner_text("#audit-table")
    assert kept not in await page.inner_text("#audit-table")
    await shot(page, "12-audit")


async def test_agent_runs_with_phases_redacted_calls_and_a_delegated_run(page: Any, served: Served) -> None:
    from agent.phases import Phase
    from agent.record import Delegation, PhaseLog, RunRecord, RunStore, ToolCall, Verification

    store = RunStore(served.data_dir)
    parent = RunRecord(task="Why does orders-consumer lag?", model="claude-sonnet-5-5", approval_policy="ask")
    child = RunRecord(
        task=f"Task delegated by kafka-streaming-agent (run {parent.task_id}):\nCheck the consumer's pods",
        agent="kubernetes-specialist",
        model="claude-sonnet-5-5",
        approval_policy="never",
        status="completed",
    )
    parent.phases = [
        PhaseLog(
            phase=Phase.PLAN,
            entered_at="2026-11-01T10:00:00.000+00:00",
            summary="Look at the lag, then the consumer.",
            calls=[
                ToolCall(
                    tool_use_id="t1",
                    tool="kafka_consumer_lag",
                    arguments={"groups": ["orders-consumer"]},
                    phase=Phase.PLAN,
                    allowed=True,
                    result=json.dumps({"total_lag": 1234, "note": "<img src=x onerror=alert(1)>"}),
                ),
                ToolCall(
                    tool_use_id="t2",
                    tool="kafka_create_scram_user",
                    arguments={"user": "svc", "password": "hunter2-very-secret"},
                    phase=Phase.PLAN,
                    allowed=False,
                    mutating=True,
                    refused_reason="PLAN allows read-only tools",
                ),
            ],
        ),
        PhaseLog(phase=Phase.VERIFY, entered_at="2026-11-01T10:00:42.000+00:00", summary="Lag is falling."),
    ]
    parent.started_at, parent.ended_at = "2026-11-01T10:00:00.000+00:00", "2026-11-01T10:01:00.000+00:00"
    parent.delegations = [Delegation(peer="kubernetes-specialist", via="local", task="Check pods", status="completed")]
    parent.verification = Verification(verdict="pass", summary="lag back under 100")
    parent.status = "completed"
    parent.usage.input_tokens, parent.usage.output_tokens = 1200, 340
    store.save(parent)
    store.save(child)

    await page.goto(f"{served.ui}/runs")
    await page.locator("a", has_text="Why does orders-consumer lag?").click()
    await page.locator("ol.timeline").wait_for()
    assert await page.locator("li.phase").count() == 2
    text = await page.inner_text("main")
    assert "PLAN" in text and "VERIFY" in text and "1\u202f540" in text and "pass" in text
    assert await page.locator("svg.phase-bar rect").count() == 2
    legend = await page.inner_text(".phase-legend")
    assert "PLAN 42.0 s" in legend and "VERIFY 18.0 s" in legend, legend
    for details in await page.locator("details.call").all():
        await details.locator("summary").click()
    body = await page.inner_text("main")
    assert "hunter2-very-secret" not in body and '"password": "***"' in body
    assert "<img src=x onerror=alert(1)>" in body and await page.locator("details.call img").count() == 0
    await shot(page, "13-run")
    await page.locator("a", has_text=child.task_id).click()
    await page.wait_for_selector("pre.task")
    assert "Check the consumer's pods" in await page.inner_text("pre.task")
    await page.goto(f"{served.ui}/runs")
    await shot(page, "14-runs")


async def test_memory_search(page: Any, served: Served) -> None:
    """A note stored through the MCP endpoint is found by meaning in the console (the server's one store); its text
    is shown as text."""
    note = "orders-consumer lagged after the 2026-10 deploy: max.poll.records was 5000 <i>too high</i>; set 500"
    async with mcp_client(served) as client:
        stored = structured(
            await client.call_tool(
                "memory_store",
                {"text": note, "metadata": {"key": "kafka-streaming-agent/local/troubleshooting/orders-lag"}},
            )
        )
        assert stored["stored"][0]["action"] == "created"
    await page.goto(f"{served.ui}/memory?q=why+did+the+consumer+fall+behind+after+a+release")
    hit = page.locator("article.memory-hit").first
    await hit.wait_for(timeout=120_000)
    assert "troubleshooting/orders-lag" in await hit.inner_text()
    assert note in await hit.locator("pre.memory-text").inner_text()
    assert await page.locator("article.memory-hit i").count() == 0
    await shot(page, "15-memory")
