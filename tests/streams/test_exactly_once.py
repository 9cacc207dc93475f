"""Exactly-once and the supervisor: SIGKILL the runner mid-stream; its supervisor restarts it with backoff (no one
redeploys anything), kafka_stream_status reports the restart, and a read_committed consumer sees each window once."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from typing import Any

import anyio
import pytest

from streams.manager import pid_alive
from tests.conftest import ClusterHandle, unique
from tests.helpers import structured
from tests.streams.helpers import create_topic, produce, read_all, read_until

pytestmark = pytest.mark.anyio

WINDOW = 10_000
# event times an hour ago: old enough to be in the past, recent enough that retention keeps them
BASE_TS = (int(time.time() * 1000) - 3_600_000) // WINDOW * WINDOW


async def test_sigkill_mid_stream_then_restart_emits_every_window_once(
    streams_client: Any, kafka_cluster: ClusterHandle, admin: Any
) -> None:
    source, sink, name = unique("eos-in"), unique("eos-out"), unique("eos")
    create_topic(admin, source)
    users = ["ann", "bob", "cid", "dee"]
    events = [(f"e{i}", {"user_id": users[i % 4]}, BASE_TS + i * 20) for i in range(3000)]
    flush = ("flush", {"user_id": "zz-flush"}, BASE_TS + 3000 * 20 + 10 * WINDOW)  # closes every earlier window
    expected = Counter((v["user_id"], BASE_TS + (ts - BASE_TS) // WINDOW * WINDOW) for _, v, ts in events)
    spec = {
        "name": name,
        "source": {"topic": source},
        "aggregate": {
            "group_by": "value.user_id",
            "key_field": "user_id",
            "window": {"type": "tumbling", "size_ms": WINDOW, "grace_ms": 0},
            "emit": "final",
        },
        "sink": {"topic": sink},
        "processing_guarantee": "exactly_once_v2",
    }
    deployed = structured(await streams_client.call_tool("kafka_stream_deploy", {"spec": spec}))
    pid = deployed["application"]["pid"]

    produce(kafka_cluster.bootstrap_servers, source, events[:2000])
    first = read_until(kafka_cluster.bootstrap_servers, sink, lambda out: len(out) >= 1)
    assert first, "the first windows closed before the kill"
    os.kill(pid, signal.SIGKILL)  # mid-stream: no clean close, an open transaction is abandoned
    deadline = time.monotonic() + 30
    while pid_alive(pid) and time.monotonic() < deadline:
        await anyio.sleep(0.05)

    # the supervisor restarts the runner by itself; the status says so
    status: dict[str, Any] = {}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        status = structured(await streams_client.call_tool("kafka_stream_status", {"name": name}))
        if status["application"]["status"] == "running" and status["application"]["pid"] not in (None, pid):
            break
        assert status["application"]["status"] in ("restarting", "starting", "running"), status["application"]
        await anyio.sleep(0.5)
    app = status["application"]
    assert app["status"] == "running" and app["pid"] != pid
    assert app["restarts"] == 1 and "SIGKILL" in app["instances"][0]["last_exit"]
    assert any("restarted 1 time(s)" in w for w in status["warnings"])
    produce(kafka_cluster.bootstrap_servers, source, [*events[2000:], flush])
    read_until(kafka_cluster.bootstrap_servers, sink, lambda out: len(out) >= len(expected))
    structured(await streams_client.call_tool("kafka_stream_stop", {"name": name}))

    results = read_all(kafka_cluster.bootstrap_servers, sink)
    seen = Counter((key, value["window_start"]) for key, value in results)
    duplicates = {k: n for k, n in seen.items() if n > 1}
    assert not duplicates, f"window results seen more than once: {duplicates}"
    assert set(seen) == set(expected), "every closed window is emitted, nothing else"
    for key, value in results:
        assert value["count"] == expected[(key, value["window_start"])], (key, value)
