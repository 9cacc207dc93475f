"""The rest of the protocol a client expects, tried by third-party clients: the MCP conformance suite and the MCP
Inspector CLI (npm, installed into .ci/node by scripts/install) against ``kafka-agent serve --transport http``; and
log notifications (``logging/setLevel``, or the 2026 per-request opt-in) through in-memory clients."""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ClusterHandle, unique
from tests.safety.conftest import ROOT, http_server, server_env

pytestmark = pytest.mark.anyio

NODE_BIN = ROOT / ".ci" / "node" / "node_modules" / ".bin"
# The conformance scenarios that apply to a server without the suite's own fixtures. The others call tools, resources
# and prompts only the suite's reference server has (test_simple_text, test://static-text, test_simple_prompt ...).
SCENARIOS = (
    "server-initialize",
    "ping",
    "logging-set-level",
    "completion-complete",
    "tools-list",
    "resources-list",
    "prompts-list",
    "server-sse-multiple-streams",
)


def _node_tool(name: str) -> Path:
    path = NODE_BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run scripts/install (it installs .ci/node with npm ci)")
    return path


@pytest.fixture(scope="module")
def http_url(kafka_cluster: ClusterHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("protocol-data")
    with http_server(server_env(kafka_cluster, data_dir)) as url:
        yield url


def _run(args: list[str | Path], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], check=False, capture_output=True, text=True, timeout=timeout, cwd=str(ROOT)
    )


def test_conformance_suite(http_url: str, tmp_path: Path) -> None:
    """One run of the suite's active scenarios (starting node once per scenario costs more than the scenarios); the
    ones that apply must pass, the others fail only for want of the suite's own fixtures."""
    _run([_node_tool("conformance"), "server", "--url", http_url, "-o", tmp_path])  # exits 1: fixture scenarios fail
    failed: dict[str, list[str]] = {}
    for scenario in SCENARIOS:
        checks = [c for f in tmp_path.glob(f"server-{scenario}-*/checks.json") for c in json.loads(f.read_text())]
        bad = [f"{c['id']}: {c.get('errorMessage')}" for c in checks if c["status"] == "FAILURE"]
        if bad or not any(c["status"] == "SUCCESS" for c in checks):
            failed[scenario] = bad or ["no check succeeded (did the scenario run?)"]
    assert not failed, f"conformance failures: {failed}"


def _inspect(url: str, *args: str) -> Any:
    done = _run([_node_tool("mcp-inspector"), "--cli", url, "--transport", "http", *args])
    assert done.returncode == 0, f"inspector {args}: {done.stderr[-2000:]}{done.stdout[-2000:]}"
    return json.loads(done.stdout)


def test_inspector_cli_lists_gets_and_reads(http_url: str, admin: Any) -> None:
    prompts = _inspect(http_url, "--method", "prompts/list")["prompts"]
    assert len(prompts) == 17 and "kafka-topic" in {p["name"] for p in prompts}
    got = _inspect(
        http_url,
        "--method",
        "prompts/get",
        "--prompt-name",
        "kafka-topic",
        "--prompt-args",
        "name=orders",
        "partitions=12",
        "environment=production",
    )
    text = got["messages"][0]["content"]["text"]
    assert text.startswith("/kafka-topic `orders`") and "- partitions: 12" in text and "5. DOCUMENT" in text
    listed = {r["uri"] for r in _inspect(http_url, "--method", "resources/list")["resources"]}
    assert {"kafka://local/overview", "kafka://local/health", "memory://runbooks/local"} <= listed
    read = _inspect(http_url, "--method", "resources/read", "--uri", "kafka://local/overview")
    overview = json.loads(read["contents"][0]["text"])
    assert overview["cluster_id"] == admin.describe_cluster().result(timeout=20).cluster_id


# --- log notifications -------------------------------------------------------------------------------------------


class _Heard:
    def __init__(self) -> None:
        self.lines: list[Any] = []

    async def __call__(self, params: Any) -> None:
        self.lines.append(params)

    def texts(self, level: str | None = None) -> list[str]:
        return [str(p.data) for p in self.lines if level is None or p.level == level]


async def test_set_level_sends_log_lines_to_that_client_only(settings: Any) -> None:
    import warnings

    from mcp import Client

    from mcp_server.server import build_server

    server = build_server(settings)
    asked, silent = _Heard(), _Heard()
    async with (
        Client(server, mode="legacy", logging_callback=asked) as one,
        Client(server, mode="legacy", logging_callback=silent) as other,
    ):
        await one.call_tool("kafka_list_topics", {})
        assert asked.lines == [], "nothing is sent before the client asks"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the SDK marks the logging capability deprecated as of 2026-07-28
            await one.set_logging_level("info")
        await one.call_tool("kafka_list_topics", {})
        await other.call_tool("kafka_list_topics", {})
        assert any(t.startswith("kafka_list_topics finished in") for t in asked.texts("info")), asked.lines
        assert silent.lines == []

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            await one.set_logging_level("warning")
        before = len(asked.lines)
        await one.call_tool("kafka_list_topics", {})
        assert len(asked.lines) == before, "an info line below the chosen level"
        await one.call_tool("kafka_describe_topic", {"topic": unique("absent")})
        assert any("kafka_describe_topic returned an error" in t for t in asked.texts("warning"))

        # debug: the server's own log records made for the request (a completion whose service is not configured)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            await one.set_logging_level("debug")
        from mcp_types import PromptReference

        got = await one.complete(PromptReference(name="kafka-connect"), {"name": "name", "value": ""})
        assert got.completion.values == []
        debug = [p for p in asked.lines if p.level == "debug" and p.logger == "kafka_agent.completion"]
        assert debug and "no Kafka Connect worker configured" in str(debug[-1].data)
        assert "Traceback" not in " ".join(asked.texts())
    assert silent.lines == []


async def test_per_request_opt_in_on_the_2026_protocol(settings: Any) -> None:
    from mcp import Client

    from mcp_server.server import build_server

    heard, unasked = _Heard(), _Heard()
    async with Client(build_server(settings), logging_callback=heard, log_level="info") as client:
        assert client.protocol_version >= "2026"
        await client.call_tool("kafka_list_topics", {})
    async with Client(build_server(settings), logging_callback=unasked) as client:
        await client.call_tool("kafka_list_topics", {})
    assert any(t.startswith("kafka_list_topics finished") for t in heard.texts("info"))
    assert unasked.lines == []


def test_forwarding_keeps_the_servers_own_log_as_it_was(data_dir: Path) -> None:
    """Once a client has asked for logs, kafka_agent.* records below the server's level still do not reach stderr,
    and a line for a client has the data and home folders shortened."""
    import asyncio

    from mcp_server.client_log import _install_forwarding, _Sink

    _install_forwarding()
    seen: list[logging.LogRecord] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    root = logging.getLogger()
    catch, level = Catch(), root.level
    root.addHandler(catch)
    root.setLevel(logging.WARNING)
    try:
        logging.getLogger("kafka_agent.test").debug("below the server's level")
        logging.getLogger("kafka_agent.test").warning("at the server's level")
    finally:
        root.removeHandler(catch)
        root.setLevel(level)
    assert [r.getMessage() for r in seen] == ["at the server's level"]

    items: list[Any] = []

    class Send:
        def send_nowait(self, item: Any) -> None:
            items.append(item)

    loop = asyncio.new_event_loop()
    try:
        sink = _Sink(logging.DEBUG, Send(), loop, replace=((str(data_dir), "<data dir>"), (str(Path.home()), "~")))
        sink.offer(logging.INFO, "kafka_agent.memory", f"opened {data_dir}/memory and {Path.home()}/.cache")
    finally:
        loop.close()
    assert items == [("info", "kafka_agent.memory", "opened <data dir>/memory and ~/.cache")]
