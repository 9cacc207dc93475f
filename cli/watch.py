"""``kafka-agent watch``: watch clusters (health, lag, broker metrics) and keep incidents; ``--diagnose`` starts an
agent run for each new incident that ends with a diagnosis and a proposed fix waiting for approval."""

from __future__ import annotations

import argparse
import json
import logging
import queue
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.kafka.incidents import Incident
    from core.settings import Settings
    from monitoring.watch import Watch


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster", action="append", help="cluster to watch (repeatable; default: every configured)")
    parser.add_argument("--clusters-file", help="YAML file of named clusters")
    parser.add_argument("--bootstrap-servers", help="bootstrap servers of the default cluster")
    parser.add_argument("--interval", type=float, help="seconds between samples (default KAFKA_AGENT_WATCH_INTERVAL_S)")
    parser.add_argument(
        "--window", type=float, help="lag evaluation window in seconds (default KAFKA_AGENT_LAG_WINDOW_S)"
    )
    parser.add_argument("--stop-after", type=float, help="seconds without an offset move that make a group STOP")
    parser.add_argument("--groups", help="only consumer groups whose id matches this regular expression")
    parser.add_argument("--latency-ms", type=float, help="p99 produce/fetch time that opens an incident")
    parser.add_argument("--diagnose", action="store_true", help="an agent run diagnoses each new incident")
    parser.add_argument("--metrics-port", type=int, help="also serve Prometheus metrics with the incidents here")
    parser.add_argument("--no-coordinate", action="store_true", help="watch every cluster, without the watch group")
    parser.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    parser.add_argument("--json", action="store_true", help="print each incident event as one JSON line")
    parser.add_argument("--log-level", default="WARNING")


class Diagnoser:
    """Runs one agent run per new incident, one at a time, in a thread of its own."""

    def __init__(self, settings: Settings, watch: Watch) -> None:
        self.settings = settings
        self.watch = watch
        self.queue: queue.Queue[Incident | None] = queue.Queue()
        self.runs: dict[str, str] = {}  # incident id -> run id
        self._thread = threading.Thread(target=self._loop, name="watch-diagnose", daemon=True)
        self._thread.start()

    def submit(self, incident: Incident) -> None:
        self.queue.put(incident)

    def _loop(self) -> None:
        import anyio

        while (incident := self.queue.get()) is not None:
            try:
                anyio.run(self._diagnose, incident)
            except Exception as exc:  # a failed run is noted on the incident; the watch goes on
                logging.getLogger("kafka_agent.watch").warning("diagnosis of %s failed: %s", incident.id, exc)
                self.watch.annotate(incident.id, run=None, diagnosis=f"the diagnosis run failed: {exc}")

    async def _diagnose(self, incident: Incident) -> None:
        from agent.runner import Agent
        from cli.common import tool_hub
        from monitoring.diagnose import diagnosis_task, diagnosis_text

        async with tool_hub(self.settings, stdio=False, extra_servers=False) as hub:
            # "ask" with no approver: every change the run proposes stays pending in the consent store.
            agent = Agent(self.settings, hub, approval="ask", approver=None)
            record = await agent.run(diagnosis_task(incident))
        pending = [f"{a.effect} (approval {a.approval_id})" for a in record.pending_actions]
        self.runs[incident.id] = record.task_id
        self.watch.annotate(
            incident.id,
            run=record.task_id,
            diagnosis=diagnosis_text(record.output, pending, record.status, record.task_id),
        )

    def close(self, timeout: float = 0.0) -> None:
        self.queue.put(None)
        if timeout:
            self._thread.join(timeout)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s")
    from core.app import build_app_context
    from core.errors import KafkaAgentError
    from core.settings import Settings
    from monitoring.watch import Watch

    overrides: dict[str, object] = {}
    if args.clusters_file:
        overrides["clusters_file"] = args.clusters_file
    if args.bootstrap_servers:
        overrides["bootstrap_servers"] = args.bootstrap_servers
    stop = threading.Event()
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
        app = build_app_context(settings, transport="watch")
    except KafkaAgentError as exc:
        sys.stderr.write(f"kafka-agent watch: {exc}\n")
        return 2
    diagnoser: Diagnoser | None = None

    def on_event(event: str, incident: Incident) -> None:
        if args.json:
            print(json.dumps({"event": event, **incident.model_dump(mode="json")}), flush=True)
        else:
            print(f"{time.strftime('%H:%M:%S')} {event.upper():8} {incident.id}: {incident.summary}", flush=True)
        if event == "opened" and diagnoser is not None:
            diagnoser.submit(incident)

    server: Any = None
    try:
        clusters = args.cluster or sorted(settings.clusters())
        watch = Watch(
            app,
            clusters,
            interval=args.interval,
            window_s=args.window,
            stop_s=args.stop_after,
            groups=args.groups,
            latency_ms=args.latency_ms,
            on_event=on_event,
            coordinate=not args.no_coordinate,
        )
        if args.diagnose:
            diagnoser = Diagnoser(settings, watch)
        if args.metrics_port:
            from monitoring.exporter import start

            server, _, _ = start(
                settings,
                host="127.0.0.1",
                port=args.metrics_port,
                clusters=watch.clusters,
                window=watch.window,
                incidents=watch.book.open_incidents,
                clients=app.clients,
            )
    except KafkaAgentError as exc:
        sys.stderr.write(f"kafka-agent watch: {exc}\n")
        app.close()
        return 2
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if args.duration:
        threading.Timer(args.duration, stop.set).start()
    sys.stderr.write(f"kafka-agent watch: watching {', '.join(watch.clusters)} (every {watch.interval:g}s)\n")
    try:
        watch.run(stop)
    finally:
        if diagnoser is not None:
            diagnoser.close(timeout=settings.max_run_seconds if args.duration else 0.0)
        if server is not None:
            server.shutdown()
        app.close()
    opened = sum(1 for e, _ in watch.events if e == "opened")
    resolved = sum(1 for e, _ in watch.events if e == "resolved")
    sys.stderr.write(f"kafka-agent watch: {opened} incident(s) opened, {resolved} resolved\n")
    return 0
