"""Real ``kafka-agent serve`` processes over stdio on one embedded memory folder: a stored record survives SIGKILL,
and a second process on the same folder gets a clear error instead of corrupting it."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.helpers import assert_tool_error, structured
from tests.memory.conftest import NO_KAFKA

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
KEY = "kafka-streaming-agent/prod-us-east-1/cluster-config"
TEXT = (
    "Kafka cluster prod-us-east-1: 6 brokers, 50 topics, 500 partitions, replication factor 3, min ISR 2; "
    "1.5M msgs/s at p95 12 ms; Avro schemas with backward compatibility."
)


def _server(data_dir: Path) -> Any:
    from mcp import StdioServerParameters

    env = {
        **os.environ,
        "KAFKA_AGENT_BOOTSTRAP_SERVERS": NO_KAFKA,
        "KAFKA_AGENT_DATA_DIR": str(data_dir),
        "KAFKA_AGENT_TOOLSETS": "all",  # memory_list is outside the default toolset
    }
    return StdioServerParameters(command=sys.executable, args=["-m", "cli", "serve"], env=env, cwd=str(ROOT))


def _lock_holder(data_dir: Path) -> tuple[int, str]:
    """The pid written in the embedded store's lock file, and that process's command line."""
    pid = int((data_dir / "memory" / "kafka-agent.lock").read_text())
    return pid, Path(f"/proc/{pid}/cmdline").read_bytes().decode()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def test_record_survives_sigkill_and_a_second_process_is_refused(data_dir: Path) -> None:
    from mcp import Client

    first = Client(_server(data_dir))
    await first.__aenter__()
    killed = False
    try:
        stored = structured(
            await first.call_tool(
                "memory_store",
                {"text": TEXT, "metadata": {"key": KEY, "namespace": "streaming-infrastructure", "layer": "long_term"}},
            )
        )
        assert stored["stored"][0]["action"] == "created"
        pid, cmdline = _lock_holder(data_dir)
        assert "cli\x00serve" in cmdline, "the lock holder is not our server"

        # A second server on the same folder keeps serving, but its memory tools say what to do.
        async with Client(_server(data_dir)) as second:
            error = assert_tool_error(await second.call_tool("memory_list", {}), "already open", "CHROMA_URL")
            assert str(pid) in error
            assert (await second.list_tools()).tools

        os.kill(pid, signal.SIGKILL)  # right after memory_store returned: no clean shutdown at all
        killed = True
        with anyio.fail_after(30):
            while _alive(pid):
                await anyio.sleep(0.1)
    finally:
        with contextlib.suppress(Exception):
            await first.__aexit__(None, None, None)
    assert killed

    async with Client(_server(data_dir)) as restarted:
        got = structured(await restarted.call_tool("memory_retrieve", {"key": KEY}))
        record = got["records"][0]
        assert record["text"] == TEXT and record["namespace"] == "streaming-infrastructure"
        hits = structured(
            await restarted.call_tool("vector_search", {"query": "how big is the production cluster", "limit": 1})
        )["hits"]
        assert hits and hits[0]["record"]["key"] == KEY
