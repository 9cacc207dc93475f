"""The supervisor of one stream runner JVM: it starts the runner, restarts it with backoff when it exits without being
asked to (a crash, an OOM kill, a SIGKILL, the runner's own exit when its application fails), and gives up after
too many failed starts in a row. A clean stop (SIGTERM to the supervisor) is passed on to the runner, which closes
Kafka Streams and leaves its consumer group.

    python -m streams.supervisor --dir APP_DIR --log runner.log [--max-restarts N] -- java ... io.ksa.streams.Runner ...

Its state is ``APP_DIR/supervisor.json`` (written atomically on every change), read by ``streams.manager``::

    {"pid": ..., "child_pid": ..., "state": "running|backoff|stopped|gave_up", "restarts": n, "failures_in_row": n,
     "last_exit": "exit code 70 at ...", "next_start_at": ..., "history": [...]}

Standard library only: it runs as its own process, outliving the MCP server that started it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# A runner that ran this long before exiting counts as having started well: the backoff starts over.
STABLE_S = 60.0
MAX_BACKOFF_S = 60.0
STOP_WAIT_S = 30.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def backoff_s(failures_in_row: int) -> float:
    """1, 2, 4, 8, ... seconds, at most a minute."""
    return float(min(MAX_BACKOFF_S, 2 ** max(0, failures_in_row - 1)))


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    if code == 70:
        return "exit code 70 (its application failed)"
    return f"exit code {code}"


class Supervisor:
    def __init__(self, folder: Path, log: Path, command: list[str], max_restarts: int) -> None:
        self.folder = folder
        self.log = log
        self.command = command
        self.max_restarts = max_restarts
        self.stopping = False
        self.child: subprocess.Popen[bytes] | None = None
        self.state: dict[str, Any] = {
            "pid": os.getpid(),
            "child_pid": None,
            "state": "starting",
            "restarts": 0,
            "failures_in_row": 0,
            "started_at": _now(),
            "last_exit": None,
            "last_exit_at": None,
            "next_start_at": None,
            "history": [],
        }

    def save(self) -> None:
        path = self.folder / "supervisor.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.state, indent=2), encoding="utf-8")
        os.replace(tmp, path)

    def note(self, text: str) -> None:
        with self.log.open("ab") as fh:
            fh.write(f"=== {_now()} supervisor: {text} ===\n".encode())

    def on_signal(self, signum: int, _frame: Any) -> None:
        self.stopping = True
        child = self.child
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    def start_child(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            child = subprocess.Popen(
                self.command, stdin=subprocess.DEVNULL, stdout=out, stderr=out, cwd=self.folder, close_fds=True
            )
        self.child = child
        self.state.update(child_pid=child.pid, state="running", next_start_at=None)
        self.save()
        return child

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, self.on_signal)
        while not self.stopping:
            started = time.monotonic()
            child = self.start_child()
            code = child.wait()
            if self.stopping:
                break
            ran = time.monotonic() - started
            self.state["failures_in_row"] = 1 if ran >= STABLE_S else self.state["failures_in_row"] + 1
            exit_text = describe_exit(code)
            self.state.update(child_pid=None, last_exit=exit_text, last_exit_at=_now())
            self.state["history"] = [
                *self.state["history"][-9:],
                {"at": _now(), "exit": exit_text, "ran_s": round(ran)},
            ]
            if self.state["failures_in_row"] > self.max_restarts:
                self.state["state"] = "gave_up"
                self.save()
                self.note(f"the runner failed {self.state['failures_in_row']} times in a row ({exit_text}); giving up")
                return 1
            delay = backoff_s(self.state["failures_in_row"])
            self.state["restarts"] += 1
            self.state.update(state="backoff", next_start_at=time.time() + delay)
            self.save()
            self.note(
                f"the runner stopped unexpectedly ({exit_text}); restart {self.state['restarts']} in {delay:.0f} s"
            )
            deadline = time.monotonic() + delay
            while not self.stopping and time.monotonic() < deadline:
                time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        last = self.child
        if last is not None and last.poll() is None:
            last.send_signal(signal.SIGTERM)
            try:
                last.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                last.kill()
                last.wait()
        self.state.update(state="stopped", child_pid=None, next_start_at=None)
        self.save()
        return 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--" not in args:
        print(
            "usage: python -m streams.supervisor --dir DIR --log FILE [--max-restarts N] -- COMMAND...", file=sys.stderr
        )
        return 2
    cut = args.index("--")
    parser = argparse.ArgumentParser(prog="streams.supervisor")
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--log", required=True, type=Path)
    parser.add_argument("--max-restarts", type=int, default=10)
    opts = parser.parse_args(args[:cut])
    return Supervisor(opts.dir, opts.log, args[cut + 1 :], opts.max_restarts).run()


if __name__ == "__main__":
    sys.exit(main())
