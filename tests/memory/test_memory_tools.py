"""The memory tools through the in-memory MCP client, on a real Chroma in a temporary folder and the real model.

Effects are checked with Chroma's own API on the collections, not through the tools under test.
"""

from __future__ import annotations

from typing import Any

import pytest

from memory.models import MAX_TEXT_CHARS
from tests.helpers import assert_tool_error, structured
from tests.memory.conftest import FakeClock, mem_cluster

pytestmark = pytest.mark.anyio

ROOT = "kafka-streaming-agent"

# Notes an operator might keep; the queries below ask for them in other words.
NOTES = {
    "troubleshooting/billing-rebalance": (
        "Consumer group billing kept rebalancing every few minutes and its consumer lag on topic invoices grew to "
        "two million records. Cause: processing one poll took longer than max.poll.interval.ms because of slow "
        "database writes, so members were evicted. Fix: max.poll.records 500 -> 50 and asynchronous writes."
    ),
    "performance-tuning": (
        "Producer throughput on orders doubled after setting linger.ms=20, batch.size=262144 and "
        "compression.type=lz4; p99 produce latency went from 8 ms to 25 ms, which was acceptable."
    ),
    "cluster-config": (
        "prod-eu has 6 brokers in three racks, replication factor 3 with min.insync.replicas 2, "
        "unclean.leader.election disabled, 500 partitions over 48 topics, KRaft controllers on separate nodes."
    ),
    "incident/disk-full": (
        "Broker 4 stopped when its log volume reached 100 percent. Retention on clickstream was 30 days at 2 TB a "
        "day. We cut retention to 7 days, added disk alerts at 75 percent and moved the partition leadership off."
    ),
    "streaming-pattern/dedup": (
        "To remove duplicate events in a Kafka Streams app, keep the event id in a windowed state store for ten "
        "minutes and drop any record whose id is already there; use exactly_once_v2 processing."
    ),
    "connector/jdbc-sink": (
        "The JDBC sink connector to Postgres failed on schema changes; enabling auto.evolve and sending records "
        "with a schema through the registry (Avro converter) made it create the new columns itself."
    ),
}

PARAPHRASES = {
    "why do my consumers keep getting kicked out of the group and lag behind?": "troubleshooting/billing-rebalance",
    "how to make the producer send faster with batching and compression": "performance-tuning",
    "a broker crashed because storage ran out of space": "incident/disk-full",
    "drop repeated messages in a stream processing application": "streaming-pattern/dedup",
    "database sink breaks when new fields appear in the table": "connector/jdbc-sink",
    "how many machines and what durability settings does the production cluster use": "cluster-config",
}


def key(cluster: str, rest: str) -> str:
    return f"{ROOT}/{cluster}/{rest}"


async def store(client: Any, text: str, **metadata: Any) -> dict[str, Any]:
    data = structured(await client.call_tool("memory_store", {"text": text, "metadata": metadata}))
    assert len(data["stored"]) == 1
    outcome: dict[str, Any] = data["stored"][0]
    return outcome


async def store_notes(client: Any, cluster: str) -> None:
    records = [{"text": text, "metadata": {"key": key(cluster, rest)}} for rest, text in NOTES.items()]
    data = structured(await client.call_tool("memory_store", {"records": records}))
    assert [o["action"] for o in data["stored"]] == ["created"] * len(NOTES)


def chroma_entries(chroma: Any, cluster: str) -> list[dict[str, Any]]:
    """Every chunk entry of a cluster's collection, read with Chroma's own API."""
    names = {c.name for c in chroma.list_collections()}
    if f"kam.{cluster}" not in names:
        return []
    got = chroma.get_collection(f"kam.{cluster}").get(include=["metadatas"])
    return [dict(m) for m in got["metadatas"]]


async def test_paraphrase_finds_the_record_first(memory_client: Any) -> None:
    cluster = mem_cluster("c")
    await store_notes(memory_client, cluster)
    for query, expected in PARAPHRASES.items():
        data = structured(await memory_client.call_tool("vector_search", {"query": query, "limit": 3}))
        hits = data["hits"]
        assert hits, query
        assert hits[0]["record"]["key"] == key(cluster, expected), (query, [h["record"]["key"] for h in hits])
        assert hits[0]["score"] > hits[-1]["score"] or len(hits) == 1
        assert hits[0]["record"]["text"] == NOTES[expected]
        assert hits[0]["record"]["layer"] == "long_term" and hits[0]["record"]["created_at"]
    # The seed's call shape: query and limit only.
    data = structured(
        await memory_client.call_tool("vector_search", {"query": "Kafka consumer lag troubleshooting", "limit": 5})
    )
    assert len(data["hits"]) == 5
    assert data["hits"][0]["record"]["key"] == key(cluster, "troubleshooting/billing-rebalance")


async def test_filters_narrow_the_results(memory_client: Any, clock: FakeClock) -> None:
    a, b = mem_cluster("a"), mem_cluster("b")
    await store(
        memory_client,
        "Consumer lag on payments after the deploy: slow sink.",
        key=key(a, "troubleshooting"),
        project="payments",
        tags=["lag", "deploy"],
        layer="mid_term",
    )
    await store(
        memory_client,
        "Consumer lag on payments in cluster b: rebalancing storm.",
        key=key(b, "troubleshooting"),
        project="payments",
        tags=["lag"],
    )
    await store(
        memory_client,
        "Tuned fetch.min.bytes to reduce consumer lag on search.",
        key=key(a, "performance-tuning"),
        project="search",
        tags=["lag"],
        namespace="tuning",
        category="consumer-tuning",
    )
    query = {"query": "consumer lag", "limit": 10}

    async def keys(**filters: Any) -> set[str]:
        data = structured(await memory_client.call_tool("vector_search", {**query, **filters}))
        return {h["record"]["key"] for h in data["hits"]}

    assert len(await keys()) == 3
    assert await keys(cluster=a) == {key(a, "troubleshooting"), key(a, "performance-tuning")}
    assert await keys(type="troubleshooting") == {key(a, "troubleshooting"), key(b, "troubleshooting")}
    assert await keys(cluster=a, type="troubleshooting") == {key(a, "troubleshooting")}
    assert await keys(layer="mid_term") == {key(a, "troubleshooting")}
    assert await keys(project="search") == {key(a, "performance-tuning")}
    assert await keys(category="consumer-tuning") == {key(a, "performance-tuning")}
    assert await keys(namespace="tuning") == {key(a, "performance-tuning")}
    assert await keys(tags=["deploy"]) == {key(a, "troubleshooting")}
    assert await keys(tags=["lag", "deploy"]) == {key(a, "troubleshooting")}
    assert await keys(tags=["nope"]) == set()
    assert await keys(cluster=mem_cluster("none")) == set()
    scored = structured(await memory_client.call_tool("vector_search", query))["hits"]
    cut = (scored[0]["score"] + scored[-1]["score"]) / 2
    assert await keys(min_score=cut) == {h["record"]["key"] for h in scored if h["score"] >= cut}
    assert len(await keys(min_score=cut)) < 3

    listed = structured(await memory_client.call_tool("memory_list", {"cluster": a}))
    assert {r["key"] for r in listed["records"]} == {key(a, "troubleshooting"), key(a, "performance-tuning")}
    listed = structured(await memory_client.call_tool("memory_list", {"tags": ["deploy"]}))
    assert [r["key"] for r in listed["records"]] == [key(a, "troubleshooting")]
    clock.advance(60)
    await store(memory_client, "Newest note on cluster b.", key=key(b, "runbook"))
    listed = structured(await memory_client.call_tool("memory_list", {"limit": 2}))
    assert listed["records"][0]["key"] == key(b, "runbook")
    assert listed["total"] == 4 and listed["truncated"] is True


async def test_glob_retrieval(memory_client: Any) -> None:
    a, b = mem_cluster("a"), mem_cluster("b")
    for k in (
        key(a, "performance-tuning"),
        key(a, "performance-tuning/batching"),
        key(b, "performance-tuning"),
        key(a, "cluster-config"),
        key(b, "incident/broker-4"),
    ):
        await store(memory_client, f"Note stored under {k}.", key=k)

    async def retrieve(pattern: str, **extra: Any) -> list[str]:
        data = structured(await memory_client.call_tool("memory_retrieve", {"key": pattern, **extra}))
        return [r["key"] for r in data["records"]]

    # The seed's pattern: every cluster's performance-tuning records, named ones below them included.
    tuning = [k for k in await retrieve(f"{ROOT}/*/performance-tuning") if k.split("/")[1] in (a, b)]
    assert tuning == sorted(
        [key(a, "performance-tuning"), key(a, "performance-tuning/batching"), key(b, "performance-tuning")]
    )
    assert await retrieve(f"{ROOT}/{a}/*") == sorted(
        [key(a, "performance-tuning"), key(a, "performance-tuning/batching"), key(a, "cluster-config")]
    )
    assert await retrieve(f"{ROOT}/{b}/**") == sorted([key(b, "performance-tuning"), key(b, "incident/broker-4")])
    assert await retrieve(f"{ROOT}/{a[:-3]}???/cluster-*") == [key(a, "cluster-config")]
    assert await retrieve(f"{ROOT}/*/performance-tuning", cluster=b) == [key(b, "performance-tuning")]
    exact = structured(await memory_client.call_tool("memory_retrieve", {"key": key(a, "cluster-config")}))
    assert exact["records"][0]["text"] == f"Note stored under {key(a, 'cluster-config')}."
    assert await retrieve(f"{ROOT}/{a}/schema*") == []
    assert_tool_error(
        await memory_client.call_tool("memory_retrieve", {"key": key(a, "schema")}), "no memory record", "memory_list"
    )
    assert_tool_error(
        await memory_client.call_tool("memory_retrieve", {"key": f"{ROOT}/A*/x"}), "malformed key pattern"
    )


async def test_store_again_updates_and_identical_text_is_not_stored_twice(
    memory_client: Any, chroma: Any, clock: FakeClock
) -> None:
    c = mem_cluster("c")
    k = key(c, "cluster-config")
    first = await store(memory_client, "Three brokers, RF 3, min ISR 2.", key=k, namespace="infra")
    assert first["action"] == "created"
    created = structured(await memory_client.call_tool("memory_retrieve", {"key": k}))["records"][0]
    clock.advance(3600)
    second = await store(memory_client, "Six brokers after the expansion, RF 3, min ISR 2.", key=k, namespace="infra")
    assert second["action"] == "updated"
    record = structured(await memory_client.call_tool("memory_retrieve", {"key": k}))["records"][0]
    assert record["text"] == "Six brokers after the expansion, RF 3, min ISR 2."
    assert record["created_at"] == created["created_at"] and record["updated_at"] > created["updated_at"]
    entries = chroma_entries(chroma, c)
    assert [e["key"] for e in entries] == [k], "an update must not leave a twin"

    same = await store(memory_client, "Six brokers after the expansion, RF 3, min ISR 2.", key=k, namespace="infra")
    assert same["action"] == "unchanged"
    dup = await store(
        memory_client, "Six brokers after the expansion, RF 3, min ISR 2.", key=key(c, "runbook"), namespace="infra"
    )
    assert dup["action"] == "duplicate" and dup["duplicate_of"] == k
    assert len(chroma_entries(chroma, c)) == 1
    other_ns = await store(
        memory_client, "Six brokers after the expansion, RF 3, min ISR 2.", key=key(c, "runbook"), namespace="elsewhere"
    )
    assert other_ns["action"] == "created"
    # The old text is no longer stored anywhere: searching for it finds the new record only.
    hits = structured(await memory_client.call_tool("vector_search", {"query": "Three brokers", "cluster": c}))["hits"]
    assert {h["record"]["text"] for h in hits} == {"Six brokers after the expansion, RF 3, min ISR 2."}
    # Changing only metadata updates it in place.
    meta = await store(
        memory_client, "Six brokers after the expansion, RF 3, min ISR 2.", key=k, namespace="infra", tags=["capacity"]
    )
    assert meta["action"] == "updated"
    assert {e["tags"] for e in chroma_entries(chroma, c) if e["key"] == k} == {"capacity"}


async def test_short_term_records_expire_and_are_purged(
    memory_client: Any, memory_app: Any, chroma: Any, clock: FakeClock
) -> None:
    c = mem_cluster("c")
    await store(
        memory_client,
        "Temporary: broker 2 is being drained for maintenance.",
        key=key(c, "runbook/drain"),
        layer="short_term",
    )
    await store(
        memory_client,
        "This week: reassignment of clickstream partitions in progress.",
        key=key(c, "runbook/reassign"),
        layer="mid_term",
    )
    await store(memory_client, "Permanent: broker rack layout is three racks.", key=key(c, "cluster-config"))

    async def found(k: str) -> bool:
        hits = structured(
            await memory_client.call_tool("vector_search", {"query": "broker", "limit": 10, "cluster": c})
        )["hits"]
        return k in {h["record"]["key"] for h in hits}

    clock.advance(23 * 3600)
    assert await found(key(c, "runbook/drain"))
    clock.advance(2 * 3600)  # 25 h: the short-term record is past its day
    assert not await found(key(c, "runbook/drain"))
    assert await found(key(c, "runbook/reassign")) and await found(key(c, "cluster-config"))
    assert_tool_error(await memory_client.call_tool("memory_retrieve", {"key": key(c, "runbook/drain")}), "no memory")
    listed = structured(await memory_client.call_tool("memory_list", {"cluster": c}))
    assert {r["key"] for r in listed["records"]} == {key(c, "runbook/reassign"), key(c, "cluster-config")}
    assert key(c, "runbook/drain") not in {e["key"] for e in chroma_entries(chroma, c)}, "expired record not purged"

    clock.advance(6 * 24 * 3600)  # past seven days: the mid-term record goes too, by the periodic purge
    purged = memory_app.lazy.peek("memory").purge_expired()
    assert purged == [key(c, "runbook/reassign")]
    assert {e["key"] for e in chroma_entries(chroma, c)} == {key(c, "cluster-config")}
    assert await found(key(c, "cluster-config"))


async def test_long_text_is_chunked_and_search_returns_the_whole_record(memory_client: Any, chroma: Any) -> None:
    c = mem_cluster("c")
    filler = " ".join(
        f"Step {i}: check the broker logs and the controller logs for warnings before going on." for i in range(120)
    )
    text = filler + " Finally, the root cause was an expired TLS certificate on the inter-broker listener."
    outcome = await store(memory_client, text, key=key(c, "incident/tls"))
    assert outcome["chunks"] > 3
    entries = chroma_entries(chroma, c)
    assert len(entries) == outcome["chunks"] and {e["key"] for e in entries} == {key(c, "incident/tls")}
    await store(memory_client, "Consumer offsets were reset to earliest by mistake.", key=key(c, "incident/offsets"))
    hits = structured(
        await memory_client.call_tool(
            "vector_search", {"query": "certificate expired between brokers", "limit": 5, "cluster": c}
        )
    )["hits"]
    assert [h["record"]["key"] for h in hits] == [key(c, "incident/tls"), key(c, "incident/offsets")]
    assert hits[0]["record"]["text"] == text and hits[0]["record"]["chunks"] == outcome["chunks"]


async def test_bad_input_gets_clear_errors_and_stores_nothing(memory_client: Any, chroma: Any) -> None:
    c = mem_cluster("c")
    good = key(c, "runbook")
    cases = [
        ({"text": "   ", "metadata": {"key": good}}, ("empty",)),
        ({"text": "x" * (MAX_TEXT_CHARS + 1), "metadata": {"key": good}}, ("over the limit", str(MAX_TEXT_CHARS))),
        ({"text": "ok", "metadata": {"key": f"{ROOT}/{c}"}}, ("malformed memory key", "<cluster>/<type>")),
        ({"text": "ok", "metadata": {"key": f"other/{c}/runbook"}}, ("malformed memory key",)),
        ({"text": "ok", "metadata": {"key": f"{ROOT}/Prod/runbook"}}, ("lowercase slug",)),
        ({"text": "ok", "metadata": {"key": good, "layer": "forever"}}, ("layer", "short_term")),
        ({"text": "ok", "metadata": {"key": good, "tags": ["Not A Slug"]}}, ("tag",)),
        ({"text": "ok", "metadata": {"key": good, "colour": "red"}}, ("colour",)),
        ({"text": "ok"}, ("metadata.key is missing",)),
        ({}, ("either text", "records")),
        (
            {"records": [{"text": "fine", "metadata": {"key": good}}, {"text": "", "metadata": {"key": key(c, "x")}}]},
            ("record 2 of 2", "empty"),
        ),
        (
            {"records": [{"text": "a", "metadata": {"key": good}}, {"text": "b", "metadata": {"key": good}}]},
            ("appears twice",),
        ),
    ]
    for args, fragments in cases:
        assert_tool_error(await memory_client.call_tool("memory_store", args), *fragments)
    assert chroma_entries(chroma, c) == [], "a refused call stored something"

    await store(memory_client, "One real record.", key=good)
    for args, fragments in [
        ({"query": "lag", "limit": 0}, ("limit 0", "1..100")),
        ({"query": "lag", "limit": 10_000}, ("limit 10000", "1..100")),
        ({"query": ""}, ("query is empty",)),
        ({"query": "lag", "layer": "eternal"}, ("layer",)),
        ({"query": "lag", "min_score": 2}, ("min_score",)),
        ({"query": "lag", "cluster": "Bad Name"}, ("is not a configured cluster",)),
    ]:
        assert_tool_error(await memory_client.call_tool("vector_search", args), *fragments)
    assert_tool_error(await memory_client.call_tool("memory_list", {"limit": 0}), "limit 0")
    assert len(chroma_entries(chroma, c)) == 1
    # The server keeps serving after all that.
    assert structured(await memory_client.call_tool("vector_search", {"query": "real record", "cluster": c}))["hits"]


async def test_delete_asks_for_confirmation(memory_client: Any, chroma: Any) -> None:
    c = mem_cluster("c")
    await store(memory_client, "Dev cluster note one.", key=key(c, "runbook/one"))
    await store(memory_client, "Dev cluster note two.", key=key(c, "runbook/two"))
    await store(memory_client, "Dev cluster config.", key=key(c, "cluster-config"))
    pattern = f"{ROOT}/{c}/runbook/*"
    preview = structured(await memory_client.call_tool("memory_delete", {"key": pattern}))
    assert preview["executed"] is False and "2 memory record(s)" in preview["consent"]["effect"]
    assert len(chroma_entries(chroma, c)) == 3, "the dry run must change nothing"
    token = preview["consent"]["confirmation_token"]
    assert_tool_error(
        await memory_client.call_tool("memory_delete", {"key": key(c, "cluster-config"), "confirm_token": token}),
        "or the arguments differ",
    )
    # A record that starts matching the pattern after the preview voids the token: only what was shown may go.
    preview = structured(await memory_client.call_tool("memory_delete", {"key": pattern}))
    token = preview["consent"]["confirmation_token"]
    await store(memory_client, "Dev cluster note four.", key=key(c, "runbook/four"))
    assert_tool_error(
        await memory_client.call_tool("memory_delete", {"key": pattern, "confirm_token": token}),
        "changed since the preview",
    )
    assert len(chroma_entries(chroma, c)) == 4
    four = structured(await memory_client.call_tool("memory_delete", {"key": key(c, "runbook/four")}))
    token = four["consent"]["confirmation_token"]
    structured(await memory_client.call_tool("memory_delete", {"key": key(c, "runbook/four"), "confirm_token": token}))
    preview = structured(await memory_client.call_tool("memory_delete", {"key": pattern}))
    token = preview["consent"]["confirmation_token"]
    done = structured(await memory_client.call_tool("memory_delete", {"key": pattern, "confirm_token": token}))
    assert done["executed"] is True and done["result"]["deleted"] == [key(c, "runbook/one"), key(c, "runbook/two")]
    assert [e["key"] for e in chroma_entries(chroma, c)] == [key(c, "cluster-config")]
    # The deleted text may be stored again (its dedup entry went with it).
    assert (await store(memory_client, "Dev cluster note one.", key=key(c, "runbook/three")))["action"] == "created"
    assert_tool_error(await memory_client.call_tool("memory_delete", {"key": key(c, "schema")}), "no memory record")


async def test_memory_tools_are_annotated_and_hidden_when_read_only(memory_client: Any, memory_settings: Any) -> None:
    from mcp import Client

    from mcp_server.server import build_server

    tools = {t.name: t for t in (await memory_client.list_tools()).tools}
    assert tools["vector_search"].annotations.read_only_hint is True
    assert tools["memory_retrieve"].annotations.read_only_hint is True
    assert tools["memory_list"].annotations.read_only_hint is True
    assert tools["memory_store"].annotations.read_only_hint is False
    assert tools["memory_store"].annotations.destructive_hint is False
    assert tools["memory_delete"].annotations.destructive_hint is True
    read_only = memory_settings.model_copy(update={"read_only": True})
    async with Client(build_server(read_only)) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"vector_search", "memory_retrieve", "memory_list"} <= names
        assert not {"memory_store", "memory_delete"} & names


@pytest.mark.chroma_only
async def test_selective_filter_still_finds_far_records(memory_client: Any, memory_app: Any) -> None:
    """When none of the nearest chunks pass the filters, the search reads the collection again with Chroma's
    exact where filter rather than returning too little (the path of a store without an in-process copy, e.g. on a
    Chroma server; tests/memory/test_search_copy.py covers the copy)."""
    c = mem_cluster("c")
    records = [
        {
            "text": f"Consumer lag on topic orders-{i} reached {i * 1000} records.",
            "metadata": {"key": key(c, f"troubleshooting/lag-{i}"), "project": "bulk"},
        }
        for i in range(120)
    ]
    structured(await memory_client.call_tool("memory_store", {"records": records}))
    await store(
        memory_client,
        "Avro schema for invoices gained an optional currency field.",
        key=key(c, "schema"),
        project="rare",
    )
    store_obj = memory_app.lazy.peek("memory")
    before = store_obj.search_paths["chroma_where"]
    data = structured(
        await memory_client.call_tool(
            "vector_search", {"query": "consumer lag on orders", "limit": 3, "cluster": c, "project": "rare"}
        )
    )
    assert [h["record"]["key"] for h in data["hits"]] == [key(c, "schema")]
    assert store_obj.search_paths["chroma_where"] == before + 1
    # Without the filter the same query is answered from the first read.
    data = structured(
        await memory_client.call_tool("vector_search", {"query": "consumer lag on orders", "limit": 3, "cluster": c})
    )
    assert len(data["hits"]) == 3 and all("lag-" in h["record"]["key"] for h in data["hits"])
    assert store_obj.search_paths["chroma_where"] == before + 1


class ShortWhereAnswers:
    """A real collection whose where-filtered queries come back empty, as Chroma's sometimes do when few entries
    pass the filter (seen in about 1 run in 5 of the test above); everything else goes to the collection."""

    def __init__(self, col: Any) -> None:
        self._col = col
        self.short_answers = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._col, name)

    def query(self, **kwargs: Any) -> Any:
        got = self._col.query(**kwargs)
        if kwargs.get("where"):
            self.short_answers += 1
            return {k: ([[]] if isinstance(v, list) else v) for k, v in got.items()}
        return got


@pytest.mark.chroma_only
async def test_a_short_where_answer_from_chroma_falls_back_to_an_exact_scan(
    memory_client: Any, memory_app: Any
) -> None:
    c = mem_cluster("c")
    records = [
        {
            "text": f"Consumer lag on topic orders-{i} reached {i * 1000} records.",
            "metadata": {"key": key(c, f"lag-{i}")},
        }
        for i in range(120)
    ]
    structured(await memory_client.call_tool("memory_store", {"records": records}))
    await store(
        memory_client,
        "Avro schema for invoices gained an optional currency field.",
        key=key(c, "schema"),
        project="rare",
    )
    store_obj = memory_app.lazy.peek("memory")
    name = f"kam.{c}"
    wrapped = ShortWhereAnswers(store_obj.collection(name, create=False))
    store_obj._collections[name] = wrapped
    data = structured(
        await memory_client.call_tool(
            "vector_search", {"query": "consumer lag on orders", "limit": 3, "cluster": c, "project": "rare"}
        )
    )
    assert [h["record"]["key"] for h in data["hits"]] == [key(c, "schema")]
    assert "currency" in data["hits"][0]["record"]["text"]
    assert wrapped.short_answers == 1 and store_obj.search_paths["exact_scan"] == 1
