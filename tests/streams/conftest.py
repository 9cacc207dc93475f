"""Fixtures for the stream-processing tests: the runner jar (built once), and cleanup of runners a test started."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def runner_built() -> None:
    """The stream runner jar; `streams/build.sh` is a no-op when it is newer than its sources."""
    proc = subprocess.run(["bash", str(REPO / "streams" / "build.sh")], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"streams/build.sh failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


@pytest.fixture
def stream_settings(settings: Any, runner_built: None) -> Iterator[Any]:
    """The test's settings; every runner started under its data folder is stopped at the end."""
    yield settings
    stop_runners(settings)


def stop_runners(settings: Any) -> None:
    """Stop every runner started under the settings' data folder (through the gate, as the test's cleanup)."""
    from core.gate import Change, Gate
    from streams.manager import StreamsManager

    mgr = StreamsManager(settings)
    gate = Gate(settings)
    try:
        for record in mgr.list_apps():
            if record.status in ("running", "starting"):
                change = Change(
                    tool="test-cleanup",
                    cluster=record.cluster,
                    action="stream.stop",
                    resource_type="stream",
                    resources=[record.name],
                )
                gate.perform(change, lambda permit, name=record.name: mgr.stop(permit, name, timeout=20))
    finally:
        gate.close()


@pytest.fixture
async def streams_client(stream_settings: Any) -> Any:
    from mcp import Client

    from mcp_server.server import build_server

    async with Client(build_server(stream_settings), raise_exceptions=False) as client:
        yield client
