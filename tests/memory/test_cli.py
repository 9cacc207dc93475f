"""``kafka-agent memory store|search|get|list|delete`` in-process, on a real embedded Chroma in a temp folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import unique

ROOT = "kafka-streaming-agent"


def run_cli(capsys: Any, *argv: str) -> tuple[int, str, str]:
    from cli import main

    code = main(["memory", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_memory_cli_round_trip(capsys: Any, monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    monkeypatch.setenv("KAFKA_AGENT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("COLUMNS", "200")
    c = unique("c")
    key = f"{ROOT}/{c}/incident/disk-full"
    text = "Broker 3 stopped when its data disk filled up; retention on clickstream was cut to 5 days."

    code, out, _ = run_cli(capsys, "store", text, "--key", key, "--layer", "mid_term", "--tag", "disk")
    assert code == 0 and key in out and "created" in out
    code, out, _ = run_cli(
        capsys, "--json", "store", "Raised num.io.threads to 16.", "--cluster", c, "--category", "performance-tuning"
    )
    assert code == 0
    derived = json.loads(out)["stored"][0]["key"]
    assert derived.startswith(f"{ROOT}/{c}/performance-tuning/n-")

    code, out, _ = run_cli(capsys, "--json", "search", "a broker ran out of storage space", "--limit", "1")
    assert code == 0 and json.loads(out)["hits"][0]["record"]["key"] == key
    code, out, _ = run_cli(capsys, "search", "a broker ran out of storage space", "--cluster", c)
    assert code == 0 and key in out and "mid_term" in out

    code, out, _ = run_cli(capsys, "get", key)
    assert code == 0 and text in out and "disk" in out
    code, out, err = run_cli(capsys, "list", "--cluster", c)
    assert code == 0 and key in out and derived in out and "2 of 2" in err

    code, _, err = run_cli(capsys, "get", f"{ROOT}/{c}/schema")
    assert code == 2 and "No memory record" in err
    code, _, err = run_cli(capsys, "store", "x", "--key", "not/a/key")
    assert code == 2 and "Malformed memory key" in err

    code, _, err = run_cli(capsys, "delete", f"{ROOT}/{c}/**")  # stdin is not a terminal: nothing without --yes
    assert code == 1 and "--yes" in err
    code, out, _ = run_cli(capsys, "--json", "list", "--cluster", c)
    assert json.loads(out)["total"] == 2
    code, out, _ = run_cli(capsys, "--json", "delete", f"{ROOT}/{c}/**", "--yes")
    assert code == 0 and sorted(json.loads(out)["deleted"]) == sorted([key, derived])
    code, out, _ = run_cli(capsys, "--json", "list", "--cluster", c)
    assert json.loads(out)["total"] == 0
