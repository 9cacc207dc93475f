"""``kafka-agent console`` runs the console alone: pages at /ui, the login form first, nothing else served."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.safety.conftest import ROOT, free_port


def test_kafka_agent_console_serves_the_pages_alone(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "KAFKA_AGENT_DATA_DIR": str(tmp_path),
        "KAFKA_AGENT_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "KAFKA_AGENT_CONSOLE_SAMPLE_S": "0",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "console", "--port", str(port)],
        env=env,
        cwd=str(ROOT),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                login = httpx.get(f"http://127.0.0.1:{port}/ui/login", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the console did not start"
                time.sleep(0.2)
        assert login.status_code == 200 and 'name="name"' in login.text
        assert 'name="token"' not in login.text  # no token configured: loopback, name only
        assert httpx.get(f"http://127.0.0.1:{port}/ui/", timeout=2).headers["location"] == "/ui/login"
        assert httpx.get(f"http://127.0.0.1:{port}/mcp", timeout=2).status_code == 303  # no MCP endpoint here
    finally:
        proc.terminate()
        proc.wait(10)
