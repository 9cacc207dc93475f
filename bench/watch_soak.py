"""Watch soak: `kafka-agent watch`'s loop (``monitoring.watch.Watch.run``) against a three-broker dev cluster under
steady produce/consume for ``--duration`` seconds, with optional faults at set times, and what the watch made of it.

    uv run python bench/watch_soak.py                       # 300 s; starts 'bench-watch', stops and purges it after
    uv run python bench/watch_soak.py --duration 180 --kill-at 50 --stop-consumer-at 110
    uv run python bench/watch_soak.py --kill-at 0 --stop-consumer-at 0   # clean: any incident is a false positive
    uv run python bench/watch_soak.py --keep                # leave the cluster running

Faults: ``--kill-at`` SIGKILLs broker ``--broker`` and restarts it ``--down-for`` seconds later; ``--stop-consumer-at``
stops the consumer (the producer goes on) and restarts it ``--down-for`` seconds later. Prints the incidents opened
by rule, each expected incident's detection delay (from the fault to the incident opening, and the incident's own
``detection_delay_s`` from the first sign the watch saw) and resolution delay (from the repair), the incidents that
follow from a fault (under-replicated partitions while a broker is gone), and the false positives: incidents opened
outside any fault's window (the fault until ``--settle`` seconds after its repair). Exit 1 when a fault went undetected
or there was a false positive.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NAME = "bench-watch"


def log(message: str) -> None:
    sys.stderr.write(f"[bench-watch] {time.strftime('%H:%M:%S')} {message}\n")
    sys.stderr.flush()


class Loop:
    """A thread running ``body(stop)`` until stopped; restartable."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def body(self, stop: threading.Event) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.body, args=(self._stop,), name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)


class Producer(Loop):
    def __init__(self, bootstrap: str, topic: str, rate: int) -> None:
        super().__init__("soak-producer")
        self.bootstrap, self.topic, self.rate = bootstrap, topic, rate
        self.sent = self.failed = 0

    def body(self, stop: threading.Event) -> None:
        from confluent_kafka import Producer as KProducer

        def delivered(err: Any, _msg: Any) -> None:
            if err is not None:
                self.failed += 1

        p = KProducer(
            {"bootstrap.servers": self.bootstrap, "acks": "all", "linger.ms": 5, "log_level": 0},
        )
        per_tick = max(1, self.rate // 10)
        while not stop.is_set():
            for _ in range(per_tick):
                p.produce(self.topic, value=b"x" * 200, on_delivery=delivered)
                self.sent += 1
            p.poll(0)
            stop.wait(0.1)
        p.flush(30)


class Consumer(Loop):
    def __init__(self, bootstrap: str, topic: str, group: str) -> None:
        super().__init__("soak-consumer")
        self.bootstrap, self.topic, self.group = bootstrap, topic, group
        self.consumed = 0

    def body(self, stop: threading.Event) -> None:
        from confluent_kafka import Consumer as KConsumer

        c = KConsumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": self.group,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": True,
                "auto.commit.interval.ms": 1000,
                "session.timeout.ms": 10000,
                "log_level": 0,
            }
        )
        c.subscribe([self.topic])
        try:
            while not stop.is_set():
                msg = c.poll(0.2)
                if msg is not None and not msg.error():
                    self.consumed += 1
        finally:
            c.close()


@dataclass
class Fault:
    kind: str  # broker | consumer
    rule: str  # the rule that should fire
    subject: str
    at: float  # when it was injected
    repaired_at: float | None = None
    opened: Any = None  # the incident it raised
    resolved: Any = None
    consequences: list[Any] = field(default_factory=list)


def start_cluster(args: argparse.Namespace) -> tuple[str, Path | None]:
    if args.bootstrap_servers:
        return args.bootstrap_servers, None
    from core.settings import Settings
    from devcluster.cluster import up

    home = Settings().resolved_devcluster_home()
    state = up(home, name=NAME, brokers=3, base_port=0, heap="384m")
    return state.bootstrap_servers, home


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    admin.create_topics([NewTopic(topic, partitions, 3)])[topic].result(60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of soak (default 300)")
    parser.add_argument("--interval", type=float, default=2.0, help="watch_interval_s (default 2)")
    parser.add_argument("--window", type=float, default=10.0, help="lag_window_s (default 10)")
    parser.add_argument("--stop-after", type=float, default=20.0, help="lag_stop_s (default 20)")
    parser.add_argument("--rate", type=int, default=200, help="records/s produced (default 200)")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--kill-at", type=float, default=None, help="SIGKILL a broker at this second (0: never)")
    parser.add_argument("--broker", type=int, default=3, help="the broker to kill (default 3)")
    parser.add_argument("--stop-consumer-at", type=float, default=None, help="stop the consumer at (0: never)")
    parser.add_argument("--down-for", type=float, default=30.0, help="seconds before a fault is repaired")
    parser.add_argument("--settle", type=float, default=60.0, help="seconds after a repair that still belong to it")
    parser.add_argument("--bootstrap-servers", help="use this running 3-broker cluster (no broker kill then)")
    parser.add_argument("--keep", action="store_true", help="leave the bench cluster running")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()
    kill_at = args.duration * 0.3 if args.kill_at is None else args.kill_at
    stop_at = args.duration * 0.6 if args.stop_consumer_at is None else args.stop_consumer_at
    if args.bootstrap_servers:
        kill_at = 0.0

    from core.app import build_app_context
    from core.settings import Settings
    from devcluster.cluster import start_node, stop_node
    from monitoring.watch import Watch

    bootstrap, home = start_cluster(args)
    tag = uuid.uuid4().hex[:8]
    topic, group = f"soak-{tag}", f"soak-{tag}-g"
    create_topic(bootstrap, topic, args.partitions)
    producer, consumer = Producer(bootstrap, topic, args.rate), Consumer(bootstrap, topic, group)
    data = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    settings = Settings(
        bootstrap_servers=bootstrap,
        data_dir=data,
        request_timeout_s=10.0,
        watch_interval_s=args.interval,
        lag_window_s=args.window,
        lag_stop_s=args.stop_after,
        incidents_topic=f"agents.incidents.soak-{tag}",
        watch_group=f"kafka-agent-watch.soak-{tag}",
    )
    app = build_app_context(settings, transport="watch")
    events: list[tuple[float, str, Any]] = []
    lock = threading.Lock()

    def on_event(event: str, incident: Any) -> None:
        with lock:
            events.append((time.time(), event, incident))
        log(f"{event.upper():8} {incident.rule} {incident.subject}: {incident.summary[:120]}")

    faults: list[Fault] = []
    stop = threading.Event()
    watch = Watch(app, [app.clients.cluster(None).name], on_event=on_event)
    runner = threading.Thread(target=watch.run, args=(stop,), name="soak-watch", daemon=True)
    broker_down = False
    samples = 0
    t0 = time.time()
    try:
        producer.start()
        consumer.start()
        runner.start()
        deadline = time.monotonic() + 60
        while not any(cw.samples for cw in list(watch.watches.values())):
            if time.monotonic() > deadline:
                raise SystemExit("the watch never took a sample")
            time.sleep(0.5)
        log(
            f"watching {bootstrap} for {args.duration:.0f}s (interval {args.interval:g}s, window {args.window:g}s, "
            f"stop {args.stop_after:g}s); broker {args.broker} killed at {kill_at:g}s, consumer stopped at "
            f"{stop_at:g}s, each for {args.down_for:g}s"
        )
        t0 = time.time()
        plan: list[tuple[float, str]] = []
        if kill_at > 0:
            plan += [(kill_at, "kill"), (kill_at + args.down_for, "restart")]
        if stop_at > 0:
            plan += [(stop_at, "stop-consumer"), (stop_at + args.down_for, "start-consumer")]
        plan.sort()
        for at, action in plan:
            if at >= args.duration:
                continue
            time.sleep(max(0.0, t0 + at - time.time()))
            log(action)
            if action == "kill":
                assert home is not None
                stop_node(home, NAME, args.broker, hard=True)
                broker_down = True
                faults.append(Fault("broker", "broker_down", f"broker {args.broker}", time.time()))
            elif action == "restart":
                assert home is not None
                start_node(home, NAME, args.broker, heap="384m")
                broker_down = False
                next(f for f in faults if f.kind == "broker").repaired_at = time.time()
            elif action == "stop-consumer":
                consumer.stop()
                faults.append(Fault("consumer", "consumer_lag", f"group {group}", time.time()))
            else:
                consumer.start()
                next(f for f in faults if f.kind == "consumer").repaired_at = time.time()
        time.sleep(max(0.0, t0 + args.duration - time.time()))
    finally:
        samples = sum(cw.samples for cw in list(watch.watches.values()))
        stop.set()
        runner.join(60)
        consumer.stop()
        producer.stop()
        if broker_down and home is not None:
            start_node(home, NAME, args.broker, heap="384m")
        app.close()
        if home is not None and not args.keep:
            from cli.devcluster import stop_cluster

            stop_cluster(home, name=NAME, purge=True)

    summary = judge(events, faults, settle=args.settle, end=t0 + args.duration)
    summary["setup"] = {
        "duration_s": args.duration,
        "interval_s": args.interval,
        "window_s": args.window,
        "stop_s": args.stop_after,
        "rate": args.rate,
        "produced": producer.sent,
        "produce_failed": producer.failed,
        "consumed": consumer.consumed,
        "health_samples": samples,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        show(summary)
    return 1 if summary["missed"] or summary["false_positives"] else 0


def judge(events: list[tuple[float, str, Any]], faults: list[Fault], *, settle: float, end: float) -> dict[str, Any]:
    opened = [(t, inc) for t, ev, inc in events if ev == "opened"]
    resolved = {inc.id: (t, inc) for t, ev, inc in events if ev == "resolved"}
    by_rule: dict[str, int] = {}
    for _, inc in opened:
        by_rule[inc.rule] = by_rule.get(inc.rule, 0) + 1
    claimed: set[str] = set()
    for f in faults:
        match = next((inc for _, inc in opened if inc.rule == f.rule and inc.subject == f.subject), None)
        if match is not None and match.opened_at >= f.at:
            f.opened = match
            f.resolved = resolved.get(match.id, (None, None))[1]
            claimed.add(match.id)
    false_positives = []
    for _, inc in opened:
        if inc.id in claimed:
            continue
        owner = next(
            (f for f in faults if f.at <= inc.opened_at <= (f.repaired_at or end) + settle),
            None,
        )
        if owner is None:
            false_positives.append(inc)
        else:
            owner.consequences.append(inc)
    rows = []
    for f in faults:
        row: dict[str, Any] = {"fault": f.kind, "expected": f"{f.rule} {f.subject}", "detected": f.opened is not None}
        if f.opened is not None:
            row["opened_after_s"] = round(f.opened.opened_at - f.at, 2)
            row["detection_delay_s"] = f.opened.detection_delay_s
            row["severity"] = f.opened.severity
        if f.resolved is not None and f.repaired_at is not None:
            row["resolved_after_repair_s"] = round((f.resolved.resolved_at or 0) - f.repaired_at, 2)
        row["consequences"] = [
            {"rule": c.rule, "subject": c.subject, "opened_after_s": round(c.opened_at - f.at, 2)}
            for c in f.consequences
        ]
        rows.append(row)
    still_open = [inc.id for _, inc in opened if inc.id not in resolved]
    return {
        "incidents_opened": len(opened),
        "by_rule": by_rule,
        "faults": rows,
        "missed": [r["expected"] for r in rows if not r["detected"]],
        "false_positives": [{"rule": i.rule, "subject": i.subject, "summary": i.summary} for i in false_positives],
        "still_open_at_end": still_open,
    }


def show(summary: dict[str, Any]) -> None:
    s = summary["setup"]
    print(
        f"soak {s['duration_s']:.0f}s, interval {s['interval_s']:g}s, window {s['window_s']:g}s, "
        f"{s['rate']} rec/s: produced {s['produced']} ({s['produce_failed']} failed), consumed {s['consumed']}, "
        f"{s['health_samples']} health samples"
    )
    rules = ", ".join(f"{r} {n}" for r, n in sorted(summary["by_rule"].items())) or "none"
    print(f"incidents opened: {summary['incidents_opened']} ({rules})")
    for r in summary["faults"]:
        if not r["detected"]:
            print(f"  {r['fault']}: {r['expected']} NOT DETECTED")
            continue
        line = (
            f"  {r['fault']}: {r['expected']} opened {r['opened_after_s']:.1f}s after the fault "
            f"(detection delay from first sign {r['detection_delay_s']}s)"
        )
        if "resolved_after_repair_s" in r:
            line += f", resolved {r['resolved_after_repair_s']:.1f}s after the repair"
        print(line)
        for c in r["consequences"]:
            print(f"      consequence: {c['rule']} {c['subject']} opened {c['opened_after_s']:.1f}s after the fault")
    print(f"false positives: {len(summary['false_positives'])}")
    for fp in summary["false_positives"]:
        print(f"  {fp['rule']} {fp['subject']}: {fp['summary']}")
    if summary["still_open_at_end"]:
        print(f"still open at the end: {', '.join(summary['still_open_at_end'])}")


if __name__ == "__main__":
    raise SystemExit(main())
