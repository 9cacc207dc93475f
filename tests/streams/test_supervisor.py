"""The runner's supervisor on its own (a stand-in command for the JVM): it restarts a command that dies, with a
growing backoff, reports every restart, gives up after too many failed starts in a row, and passes a stop on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from streams.manager import REPO_ROOT
from streams.supervisor import backoff_s, describe_exit


def supervise(folder: Path, command: list[str], *, max_restarts: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    args = ["--dir", str(folder), "--log", str(folder / "runner.log"), "--max-restarts", str(max_restarts), "--"]
    return subprocess.Popen([sys.executable, "-m", "streams.supervisor", *args, *command], env=env, cwd=folder)


def state(folder: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((folder / "supervisor.json").read_text())
    except (OSError, ValueError):
        return {}
    return data


def wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff_s(n) for n in (1, 2, 3, 4, 7, 20)] == [1, 2, 4, 8, 60, 60]
    assert describe_exit(-9) == "killed by SIGKILL" and "its application failed" in describe_exit(70)


def test_a_failing_command_is_restarted_with_backoff_then_given_up(tmp_path: Path) -> None:
    proc = supervise(tmp_path, [sys.executable, "-c", "import sys; sys.exit(3)"], max_restarts=2)
    assert proc.wait(timeout=60) == 1
    final = state(tmp_path)
    assert final["state"] == "gave_up" and final["restarts"] == 2 and final["failures_in_row"] == 3
    exits = [h["exit"] for h in final["history"]]
    assert exits == ["exit code 3"] * 3
    log = (tmp_path / "runner.log").read_text()
    assert "restart 1 in 1 s" in log and "restart 2 in 2 s" in log and "giving up" in log


def test_a_killed_command_comes_back_and_a_stop_is_passed_on(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    child = f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); time.sleep(600)"
    proc = supervise(tmp_path, [sys.executable, "-c", child], max_restarts=5)
    try:
        wait_for(lambda: marker.exists() and state(tmp_path).get("child_pid") == int(marker.read_text() or 0))
        first = int(marker.read_text())
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: state(tmp_path).get("restarts") == 1 and state(tmp_path).get("state") == "running")
        second = state(tmp_path)["child_pid"]
        assert second != first and state(tmp_path)["last_exit"] == "killed by SIGKILL"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert state(tmp_path)["state"] == "stopped"
        wait_for(lambda: not Path(f"/proc/{second}").exists() or b"zombie" in _status(second))
    finally:
        if proc.poll() is None:
            proc.kill()


def _status(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/status").read_bytes().lower()
    except OSError:
        return b"zombie"
