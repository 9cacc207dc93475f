"""The ksqlDB-compatible REST facade, exercised with curl and the documented media types, with our ksqlDB REST
client, and through kafka_ksql on a cluster whose ksqldb_url points at the facade."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.ksql_client import KsqlClient
from tests.conftest import ClusterHandle, unique
from tests.helpers import structured
from tests.streams.helpers import produce, read_until

pytestmark = pytest.mark.anyio


@pytest.fixture
def facade(stream_settings: Any) -> Iterator[str]:
    """The facade on a real loopback port (uvicorn in a thread), over the test's settings."""
    import uvicorn

    from core.app import build_app_context
    from streams.ksql_facade import build_facade

    app = build_app_context(stream_settings)
    server = uvicorn.Server(uvicorn.Config(build_facade(app), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        app.close()


def curl(*args: str) -> tuple[int, str]:
    proc = subprocess.run(
        ["curl", "-s", "-w", "\\n%{http_code}", *args], capture_output=True, text=True, timeout=60, check=False
    )
    body, _, code = proc.stdout.rpartition("\n")
    return int(code), body


def test_facade_with_curl_and_the_client(facade: str, kafka_cluster: ClusterHandle) -> None:
    tag = unique("f").replace("-", "_").upper()
    topic, out_topic = unique("clicks"), unique("clicks-per-user")
    code, body = curl("-H", "Accept: application/vnd.ksql.v1+json", f"{facade}/info")
    assert code == 200 and json.loads(body)["KsqlServerInfo"]["serverStatus"] == "RUNNING"

    statement = (
        f"CREATE STREAM CLICKS_{tag} (user_id VARCHAR, n INT) "
        f"WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON', PARTITIONS=1);"
    )
    code, body = curl(
        "-X",
        "POST",
        "-H",
        "Content-Type: application/vnd.ksql.v1+json",
        "-H",
        "Accept: application/vnd.ksql.v1+json",
        "-d",
        json.dumps({"ksql": statement, "streamsProperties": {}}),
        f"{facade}/ksql",
    )
    assert code == 200, body
    entity = json.loads(body)[0]
    assert entity["@type"] == "currentStatus" and entity["commandStatus"]["status"] == "SUCCESS"
    code, body = curl(f"{facade}/status/{entity['commandId']}")
    assert code == 200 and json.loads(body)["status"] == "SUCCESS"

    client = KsqlClient(facade)
    created = client.execute(
        f"CREATE TABLE PER_USER_{tag} WITH (KAFKA_TOPIC='{out_topic}') AS "
        f"SELECT user_id, COUNT(*) AS clicks, SUM(n) AS total FROM CLICKS_{tag} GROUP BY user_id EMIT CHANGES;"
    )
    assert created[0]["commandStatus"]["message"].startswith("Created query with ID CTAS_PER_USER_")
    produce(kafka_cluster.bootstrap_servers, topic, [(f"k{i}", {"user_id": f"u{i % 2}", "n": i}, 0) for i in range(10)])
    read_until(kafka_cluster.bootstrap_servers, out_topic, lambda out: ("u1", 5) in [(k, v["clicks"]) for k, v in out])

    pull = client.query(f"SELECT * FROM PER_USER_{tag} WHERE user_id = 'u1';")
    assert pull["column_names"] == ["USER_ID", "CLICKS", "TOTAL"]
    assert pull["rows"] == [["u1", 5, 1 + 3 + 5 + 7 + 9]]

    # push query, delimited media type, with curl: header line, then one JSON array per row
    code, body = curl(
        "-X",
        "POST",
        "-H",
        "Accept: application/vnd.ksqlapi.delimited.v1",
        "-d",
        json.dumps(
            {
                "sql": f"SELECT user_id, n FROM CLICKS_{tag} WHERE n >= 7 EMIT CHANGES LIMIT 3;",
                "properties": {"auto.offset.reset": "earliest"},
            }
        ),
        f"{facade}/query-stream",
    )
    assert code == 200, body
    lines = [json.loads(line) for line in body.splitlines() if line.strip()]
    assert lines[0]["columnNames"] == ["USER_ID", "N"] and lines[0]["queryId"]
    assert lines[1:] == [["u1", 7], ["u0", 8], ["u1", 9]]
    # the same as one JSON document
    code, body = curl(
        "-X",
        "POST",
        "-H",
        "Accept: application/json",
        "-d",
        json.dumps({"sql": f"SELECT * FROM PER_USER_{tag};"}),
        f"{facade}/query-stream",
    )
    doc = json.loads(body)
    assert doc[0]["columnNames"] == ["USER_ID", "CLICKS", "TOTAL"]
    assert sorted(doc[1:]) == [["u0", 5, 20], ["u1", 5, 25]]

    # /close-query ends a push query that has no LIMIT
    import httpx

    with (
        httpx.Client(timeout=30) as http,
        http.stream("POST", f"{facade}/query-stream", json={"sql": f"SELECT * FROM CLICKS_{tag} EMIT CHANGES;"}) as r,
    ):
        lines_iter = r.iter_lines()
        header = json.loads(next(lines_iter))
        closed = http.post(f"{facade}/close-query", json={"queryId": header["queryId"]})
        assert closed.status_code == 200
        assert [line for line in lines_iter if line.strip()] == []

    # errors: the construct named, DROP refused without --allow-drop, unknown source
    code, body = curl(
        "-X", "POST", "-d", json.dumps({"ksql": "CREATE STREAM x AS SELECT * FROM y PARTITION BY z;"}), f"{facade}/ksql"
    )
    assert code == 400 and "PARTITION BY" in json.loads(body)["message"]
    code, body = curl("-X", "POST", "-d", json.dumps({"ksql": f"DROP TABLE PER_USER_{tag};"}), f"{facade}/ksql")
    assert code == 403 and "--allow-drop" in json.loads(body)["message"]
    code, body = curl("-X", "POST", "-d", json.dumps({"sql": "SELECT * FROM NOPE;"}), f"{facade}/query-stream")
    assert code == 400 and "does not exist" in json.loads(body)["message"]


async def test_kafka_ksql_uses_a_configured_ksqldb_server(
    facade: str, kafka_cluster: ClusterHandle, data_dir: Path, runner_built: None
) -> None:
    from mcp import Client

    from mcp_server.server import build_server
    from tests.conftest import make_settings

    clusters = data_dir / "clusters.yaml"
    clusters.write_text(
        f"clusters:\n  remote:\n    bootstrap_servers: {kafka_cluster.bootstrap_servers}\n    ksqldb_url: {facade}\n"
    )
    settings = make_settings(kafka_cluster.bootstrap_servers, data_dir, clusters_file=clusters)
    async with Client(build_server(settings), raise_exceptions=False) as client:
        out = structured(await client.call_tool("kafka_ksql", {"sql": "SHOW STREAMS;"}))
    assert out["engine"] == facade
    assert out["results"][0]["@type"] == "streams"
