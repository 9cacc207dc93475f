"""``kafka-agent lag``: consumer lag in a rich table at the terminal; ``--watch`` refreshes it in place and judges
each group over a sliding window the way Burrow does (OK, WARN, STALL, STOP, ERROR; UNKNOWN until the window is
full), with the time lag read off the window."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

    from core.kafka.lag import LagReport


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--group", "-g", action="append", help="group id (repeat for several; default: all groups)")
    parser.add_argument("--topic", help="only partitions of this topic")
    parser.add_argument("--watch", "-w", action="store_true", help="refresh the table until Ctrl-C")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes with --watch")
    parser.add_argument(
        "--window", type=float, help="lag evaluation window in seconds (default KAFKA_AGENT_LAG_WINDOW_S)"
    )
    parser.add_argument("--totals", action="store_true", help="one row per group and topic instead of per partition")
    parser.add_argument("--time-lag", action="store_true", help="also estimate the age of the next unread record")
    parser.add_argument("--cluster", help="configured cluster name (default: the default cluster)")
    parser.add_argument("--bootstrap-servers", help="bootstrap servers of the default cluster")
    parser.add_argument("--clusters-file", help="YAML file of named clusters (see README)")


def render(report: LagReport, *, totals: bool, title: str) -> Table:
    from rich.table import Table

    table = Table(title=title, header_style="bold")
    for name in ("group", "state", "status", "topic"):
        table.add_column(name)
    if not totals:
        table.add_column("partition", justify="right")
        table.add_column("committed", justify="right")
        table.add_column("log end", justify="right")
    table.add_column("lag", justify="right")
    table.add_column("time lag", justify="right")
    if not totals:
        table.add_column("owner")
    for g in report.groups:
        if g.error:
            table.add_row(g.group_id, "-", "-", f"[red]{g.error}[/red]")
            continue
        for t in g.topics:
            if totals:
                table.add_row(
                    g.group_id, g.state or "-", _status(g.status), t.topic, _lag(t.total_lag), _time_lag(g, None)
                )
                continue
            for p in t.partitions:
                table.add_row(
                    g.group_id,
                    g.state or "-",
                    _status(p.status),
                    t.topic,
                    str(p.partition),
                    "-" if p.committed is None else str(p.committed),
                    "-" if p.log_end is None else str(p.log_end),
                    _lag(p.lag) if p.lag is not None else f"[yellow]{p.note or '-'}[/yellow]",
                    _time_lag(g, p.time_lag_ms),
                    p.assigned_to or "-",
                )
    table.caption = f"{report.group_count} group(s), total lag {report.total_lag}" + "".join(
        f"; {n}" for n in report.notes
    )
    worst = [g for g in report.groups if g.status in ("STALL", "STOP", "ERROR", "WARN")]
    for g in worst[:5]:
        table.caption += f"\n{g.group_id} {g.status}: {g.status_reason}"
    return table


STATUS_STYLE = {"OK": "green", "WARN": "yellow", "STALL": "red", "STOP": "bold red", "ERROR": "bold red"}


def _status(status: str | None) -> str:
    if not status:
        return "-"
    style = STATUS_STYLE.get(status)
    return f"[{style}]{status}[/{style}]" if style else status


def _time_lag(group: Any, measured_ms: int | None) -> str:
    """The measured time lag (--time-lag) when there is one, else the window's (~ marks an estimate)."""
    if measured_ms is not None:
        return _ms(measured_ms)
    if group.time_lag_s is None:
        return "-"
    return f"~{group.time_lag_s:.1f}s"


def _lag(value: int | None) -> str:
    if value is None:
        return "-"
    return f"[red]{value}[/red]" if value > 0 else "0"


def _ms(value: int | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.1f}s"


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from core.errors import KafkaAgentError
    from core.kafka.clients import KafkaClients
    from core.kafka.lag import EndOffsetCache, consumer_lag
    from core.kafka.lag_eval import LagWindow, feed_and_judge
    from core.settings import Settings

    overrides: dict[str, object] = {}
    if args.bootstrap_servers:
        overrides["bootstrap_servers"] = args.bootstrap_servers
    if args.clusters_file:
        overrides["clusters_file"] = args.clusters_file
    # Piped output (no terminal) is not cut at 80 columns: long group and topic names stay whole.
    console = Console() if sys.stdout.isatty() else Console(width=240)
    err = Console(stderr=True)
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
        clients = KafkaClients(settings)
        cfg = clients.cluster(args.cluster)
    except KafkaAgentError as exc:
        err.print(f"kafka-agent lag: {exc}")
        return 2
    cache = EndOffsetCache(ttl=0)
    window = LagWindow(window_s=args.window or settings.lag_window_s, stop_s=settings.lag_stop_s)

    def snapshot() -> Table:
        report = consumer_lag(
            clients.admin(cfg.name),
            cluster=cfg.name,
            cache=cache,
            timeout=settings.request_timeout_s,
            groups=args.group,
            topic=args.topic,
            include_partitions=True,  # the window needs every partition
            time_lag_consumer=clients.consumer_config(cfg.name) if args.time_lag else None,
        )
        feed_and_judge(window, cfg.name, report)
        stamp = time.strftime("%H:%M:%S")
        return render(report, totals=args.totals, title=f"Consumer lag on {cfg.name} ({cfg.bootstrap_servers}) {stamp}")

    try:
        if not args.watch:
            console.print(snapshot())
            return 0
        from rich.live import Live

        with Live(snapshot(), console=console, refresh_per_second=4, screen=False) as live:
            while True:
                time.sleep(max(0.2, args.interval))
                live.update(snapshot())
    except KafkaAgentError as exc:
        err.print(f"kafka-agent lag: {exc}")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        clients.close()
    return 0
