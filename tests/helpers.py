"""Small helpers for tests that talk to the server through an MCP client."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any


def structured(result: Any) -> Any:
    """The structured content of a successful tool result (fails the test with the error text otherwise)."""
    assert not result.is_error, f"tool failed: {error_text(result)}"
    data = result.structured_content
    if data is None:
        text = "".join(getattr(c, "text", "") for c in result.content)
        return json.loads(text)
    if isinstance(data, dict) and set(data) == {"result"}:
        return data["result"]
    return data


def error_text(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


def assert_tool_error(result: Any, *fragments: str) -> str:
    """The call failed with an is_error result whose text contains every fragment (case-insensitive)."""
    text = error_text(result)
    assert result.is_error, f"expected an error, got: {text[:500]}"
    for fragment in fragments:
        assert fragment.lower() in text.lower(), f"{fragment!r} not in error: {text}"
    return text


# Metric names the brokers' JMX exporter agents publish (monitoring/jmx_kafka.yaml); every other kafka_* name on the
# Grafana dashboard is our exporter's.
JMX_PREFIXES = ("kafka_server_", "kafka_network_", "kafka_controller_", "kafka_log_")


def dashboard_metrics() -> tuple[set[str], set[str]]:
    """The metric names monitoring/grafana-dashboard.json reads: (our exporter's, the brokers' JMX agents')."""
    path = Path(__file__).resolve().parents[1] / "monitoring" / "grafana-dashboard.json"
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    names = {
        name
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])  # a row has none
        for name in re.findall(r"\bkafka_[a-z0-9_]+", target["expr"])
    }
    brokers = {n for n in names if n.startswith(JMX_PREFIXES)}
    return names - brokers, brokers
