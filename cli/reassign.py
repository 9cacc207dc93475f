"""``kafka-agent reassign plan|execute|status|finish|cancel``: partition reassignment at the terminal, with a
progress bar while replicas copy.

Changes go through the gate like every other: the person at the terminal confirms (``--yes``, or by typing the
cluster's name); a cluster in ``approve`` mode needs an approval granted with ``kafka-agent approvals approve`` and
its id given as ``--approval-id`` (the first run leaves the pending approval and prints its id).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.app import AppContext
    from core.gate import Change, Gate, Granted, Requester
    from core.kafka.reassign_plan import Plan

GOALS = ("drain", "replication_factor", "spread", "balance")


def _size(text: str) -> int:
    """10MB, 512KiB, 1000000 ... -> bytes."""
    units = {"k": 10**3, "m": 10**6, "g": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}
    raw = text.strip().lower().removesuffix("/s").removesuffix("b")
    for unit in sorted(units, key=len, reverse=True):
        stem = unit.removesuffix("b")
        if raw.endswith(stem):
            return int(float(raw[: -len(stem)]) * units[unit])
    return int(raw)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    plan = sub.add_parser("plan", help="propose a target assignment for a goal (changes nothing)")
    execute = sub.add_parser("execute", help="plan and apply, with replication throttles, waiting with a progress bar")
    for p in (plan, execute):
        p.add_argument("--goal", choices=GOALS, help="drain | replication_factor | spread | balance")
        p.add_argument("--brokers", type=_ints, default=[], help="drain: brokers to empty; spread: brokers to fill")
        p.add_argument("--topics", type=_names, default=None, help="comma-separated topics in scope (default: all)")
        p.add_argument("--replication-factor", type=int, help="the new RF (goal replication_factor)")
        p.add_argument("--include-internal", action="store_true", help="also balance internal topics (__*)")
        p.add_argument("--throttle", type=_size, default=_size("10MB"), help="replication throttle, e.g. 10MB (/s)")
        p.add_argument("--no-throttle", action="store_true", help="copy unthrottled")
    plan.add_argument("--out", help="also write the plan as JSON to this file (for execute --plan-file)")
    execute.add_argument("--plan-file", help="execute this plan (from `plan --out`) instead of planning again")
    status = sub.add_parser("status", help="what is moving, how far each copy is, and the throttles set")
    status.add_argument("--watch", action="store_true", help="show a progress bar until nothing moves")
    finish = sub.add_parser("finish", help="wait for running moves, remove the throttles, elect leaders, verify")
    cancel = sub.add_parser("cancel", help="revert running moves to their old replicas and remove the throttles")
    cancel.add_argument("--topics", type=_names, default=None, help="only these topics (default: every running move)")
    for p in (execute, finish, cancel):
        p.add_argument("--yes", action="store_true", help="you confirm the change (else you are asked to type)")
        p.add_argument("--approval-id", help="on an approve-mode cluster: the approval a person granted")
        p.add_argument("--wait-s", type=float, default=86_400.0, help="give up waiting after this many seconds")
    retire = sub.add_parser(
        "decommission",
        help="the agent retires a broker by the runbook (drain, verify, stop, unregister), asking you to approve",
    )
    retire.add_argument("--broker", type=int, required=True, help="the broker's node id")
    retire.add_argument(
        "--approval", choices=["ask", "auto"], default="auto", help="ask: every change; auto: destructive"
    )
    for p in (plan, execute, status, finish, cancel, retire):
        p.add_argument("--cluster", help="configured cluster name (default: the default cluster)")
        p.add_argument("--bootstrap-servers", help="bootstrap servers of the default cluster")
        p.add_argument("--json", action="store_true", help="print JSON")


class TerminalConsent:
    """The person at this terminal consents: ``--yes``, or by typing the cluster's name. On an ``approve`` cluster
    only an approval granted out of band counts (``kafka-agent approvals``), as for every other asker."""

    def __init__(
        self, *, assume_yes: bool, approval_id: str | None = None, ask: Callable[[str], str] | None = None
    ) -> None:
        self.assume_yes = assume_yes
        self.approval_id = approval_id
        self.ask = ask

    def obtain(self, gate: Gate, change: Change, requester: Requester, effect: str) -> Granted:
        from core.errors import Refused
        from core.gate import ApprovalConsent, Granted, NoConsent
        from core.gate.approvals import person

        if gate.consent_mode(change.cluster) == "approve":
            return ApprovalConsent(self.approval_id).obtain(gate, change, requester, effect)
        who = person()
        if not self.assume_yes:
            ask = self.ask or (input if sys.stdin.isatty() else None)
            if ask is None:
                return NoConsent("there is no terminal to ask at (give --yes)").obtain(gate, change, requester, effect)
            sys.stderr.write(f"{effect}\n")
            typed = ask(f"Type the cluster's name ({change.cluster}) to go ahead: ").strip()
            if typed != change.cluster:
                gate.record(change, decision="declined", requester=requester)
                raise Refused("Not confirmed; nothing was changed.")
        gate.record(change, decision="confirmed_by_person", result={"effect": effect}, requester=requester)
        return Granted("confirmed", by=f"{who} at the terminal")


def requester() -> Requester:
    from core.gate import Requester
    from core.gate.approvals import person

    who = person()
    return Requester(f"cli:{who}", f"{who} (kafka-agent command)")


def _app(args: argparse.Namespace) -> AppContext:
    from core.app import build_app_context
    from core.settings import Settings

    overrides: dict[str, object] = {}
    if args.bootstrap_servers:
        overrides["bootstrap_servers"] = args.bootstrap_servers
    return build_app_context(Settings(**overrides), transport="cli")  # type: ignore[arg-type]


def _show(data: Any, args: argparse.Namespace, text: Callable[[], None]) -> None:
    if args.json:
        print(json.dumps(data.model_dump(mode="json") if hasattr(data, "model_dump") else data, indent=2))
    else:
        text()


def _print_plan(plan: Plan) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{plan.description}[/bold]  plan_id {plan.plan_id}")
    table = Table(header_style="bold")
    for col in ("broker", "rack", "replicas", "leaders", "copies in", "sends"):
        table.add_column(col, justify="right" if col != "rack" else "left")
    for b in plan.broker_loads:
        table.add_row(
            str(b.broker),
            b.rack or "-",
            f"{b.replicas_before} -> {b.replicas_after}",
            f"{b.leaders_before} -> {b.leaders_after}",
            f"{b.bytes_in:,} B",
            f"{b.bytes_out:,} B",
        )
    console.print(table)
    eta = (
        f", about {plan.estimated_seconds:.0f} s at {plan.throttle_bytes_per_s:,} B/s" if plan.estimated_seconds else ""
    )
    bal = plan.balance
    console.print(
        f"{plan.replicas_moved} replica(s) to copy in {plan.partitions_moved} partition(s), {plan.reorders} "
        f"reorder(s), {plan.bytes_to_copy:,} bytes{eta}. Spread (max-min) replicas "
        f"{bal.replicas_spread_before} -> {bal.replicas_spread_after}, leaders {bal.leaders_spread_before} -> "
        f"{bal.leaders_spread_after}; rack violations {bal.rack_violations_before} -> {bal.rack_violations_after}."
    )
    for note in plan.notes:
        console.print(f"[yellow]note:[/yellow] {note}")


class _Bar:
    """A rich progress bar fed by (done, total, message) callbacks from a worker."""

    def __init__(self, title: str) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[note]}"),
            transient=False,
        )
        self.task = self.progress.add_task(title, total=100.0, note="")

    def __enter__(self) -> _Bar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, done: float, total: float, message: str) -> None:
        self.progress.update(self.task, completed=done, total=total, note=message)


def decommission_task(broker: int, cluster: str) -> str:
    """The decommission runbook (prompts/runbooks/decommission-broker.md) for one broker: the agent's task."""
    from agent.prompts import PROMPTS_DIR

    text = (PROMPTS_DIR / "runbooks" / "decommission-broker.md").read_text(encoding="utf-8")
    return text.replace("{broker}", str(broker)).replace("{cluster}", cluster)


def _decommission(args: argparse.Namespace) -> int:
    """Run the agent on the runbook, approvals asked at this terminal (the person stops the broker when asked to
    approve its unregistration)."""
    import anyio
    import anyio.to_thread
    from rich.console import Console
    from rich.panel import Panel

    from agent.record import Decision, PendingAction, RunRecord
    from agent.runner import Agent
    from cli.common import tool_hub
    from core.gate.approvals import person
    from core.settings import Settings

    overrides: dict[str, object] = {}
    if args.bootstrap_servers:
        overrides["bootstrap_servers"] = args.bootstrap_servers
    base = Settings(**overrides)  # type: ignore[arg-type]
    # The run needs the operations tools whatever the server's usual selection.
    settings = base.model_copy(update={"toolsets": f"{base.toolsets},+operations,+health"})
    cluster = base.cluster(args.cluster).name
    console = Console()

    async def approver(action: PendingAction) -> Decision:
        console.print(Panel(action.effect, title=f"approve {action.tool}?", border_style="red"))
        answer = await anyio.to_thread.run_sync(lambda: console.input("[bold]approve? [y/N] [/bold]"))
        return "approve" if answer.strip().lower() in ("y", "yes") else "deny"

    async def main() -> RunRecord:
        async with tool_hub(settings, stdio=False) as hub:
            agent = Agent(
                settings, hub, approval=args.approval, approver=approver, approver_name=f"{person()} at the terminal"
            )
            return await agent.run(decommission_task(args.broker, cluster))

    record = anyio.run(main)
    if args.json:
        print(json.dumps(record.summary(), indent=2))
    else:
        console.print(record.output)
        console.print(f"[dim]{record.status} · run record {record.task_id}[/dim]")
    return 0 if record.status == "completed" else 1


def run(args: argparse.Namespace) -> int:
    from core.errors import KafkaAgentError
    from core.gate import ConsentRequired

    if args.action == "decommission":
        try:
            return _decommission(args)
        except KafkaAgentError as exc:
            sys.stderr.write(f"kafka-agent reassign decommission: {exc}\n")
            return 2

    try:
        app = _app(args)
    except KafkaAgentError as exc:
        sys.stderr.write(f"kafka-agent reassign: {exc}\n")
        return 2
    try:
        return _run(app, args)
    except ConsentRequired as pending:
        preview = pending.preview
        if preview is not None:
            sys.stderr.write(f"{preview.effect}\n{preview.how_to_confirm}\n")
            if preview.approval_id:
                sys.stderr.write(f"Then run the same command with --approval-id {preview.approval_id}.\n")
        return 3
    except KafkaAgentError as exc:
        sys.stderr.write(f"kafka-agent reassign {args.action}: {exc}\n")
        return 1
    finally:
        app.close()


def _plan(app: AppContext, args: argparse.Namespace, cluster: str) -> Plan:
    from core.errors import InvalidArgument
    from core.kafka import reassign as kreassign
    from core.kafka.jadmin import java_admin
    from core.kafka.reassign_plan import Plan

    if getattr(args, "plan_file", None):
        with open(args.plan_file, encoding="utf-8") as fh:
            return Plan.model_validate_json(fh.read())
    if not args.goal:
        raise InvalidArgument("Give --goal (or --plan-file).")
    return kreassign.plan(
        app.clients.admin(cluster),
        java_admin(app, cluster),
        goal=args.goal,
        timeout=app.timeout,
        topics=args.topics,
        brokers=args.brokers,
        replication_factor=args.replication_factor,
        include_internal=args.include_internal,
        throttle_bytes_per_s=None if args.no_throttle else args.throttle,
    )


def _run(app: AppContext, args: argparse.Namespace) -> int:
    from core.kafka import reassign as kreassign
    from core.kafka.jadmin import java_admin

    cfg = app.clients.cluster(args.cluster)
    admin, jadmin = app.clients.admin(cfg.name), java_admin(app, cfg.name)
    consent = TerminalConsent(assume_yes=getattr(args, "yes", False), approval_id=getattr(args, "approval_id", None))
    who = requester()
    if args.action == "plan":
        plan = _plan(app, args, cfg.name)
        if args.out:
            with open(args.out, "w", encoding="utf-8") as fh:
                fh.write(plan.model_dump_json(indent=2))
        _show(plan, args, lambda: _print_plan(plan))
        return 0
    if args.action == "status":
        if args.watch:
            with _Bar("moving") as bar:
                kreassign.wait_done(admin, jadmin, timeout=app.timeout, wait_s=86_400.0, progress=bar)
        now = kreassign.status(admin, jadmin, timeout=app.timeout)
        _show(now, args, lambda: print(f"{now.in_progress} partition(s) moving, {now.percent}% copied. {now.advice}"))
        return 0
    if args.action == "execute":
        plan = _plan(app, args, cfg.name)
        if not args.json:
            _print_plan(plan)
        change, effect = kreassign.execute_change(cfg.name, plan, tool="kafka-agent reassign execute")
        with _Bar("copying") as bar:
            result = app.gate.perform(
                change,
                lambda permit: kreassign.execute(
                    permit, admin, jadmin, plan, timeout=app.timeout, wait_s=args.wait_s, progress=bar
                ),
                requester=who,
                consent=consent,
                effect=effect,
            )
        _show(result, args, lambda: _print_outcome(result.state, result.next_step, result.verification))
        return 0 if result.state != "in_progress" and (result.verification is None or result.verification.ok) else 1
    left = kreassign.left_throttles(admin, timeout=app.timeout)
    if args.action == "finish":
        change = kreassign.finish_change(cfg.name, left, tool="kafka-agent reassign finish")
        with _Bar("finishing") as bar:
            done = app.gate.perform(
                change,
                lambda permit: kreassign.finish(
                    permit, admin, jadmin, left, timeout=app.timeout, wait_s=args.wait_s, progress=bar
                ),
                requester=who,
            )
        _show(done, args, lambda: _print_outcome(done.state, "", done.verification))
        return 0 if done.state == "completed" and (done.verification is None or done.verification.ok) else 1
    parts = kreassign.running_partitions(jadmin, timeout=app.timeout, topics=args.topics)
    change, effect = kreassign.cancel_change(cfg.name, parts, left, tool="kafka-agent reassign cancel")
    out = app.gate.perform(
        change,
        lambda permit: kreassign.cancel(permit, admin, jadmin, parts, left, timeout=app.timeout),
        requester=who,
        consent=consent,
        effect=effect,
    )
    _show(out, args, lambda: print(f"cancelled {len(out.cancelled)} partition(s); failed {len(out.failed)}"))
    return 0 if not out.failed else 1


def _print_outcome(state: str, step: str, verification: Any) -> None:
    print(f"state: {state}")
    if verification is not None:
        for c in verification.checks:
            print(f"  [{'ok' if c.ok else 'FAIL'}] {c.check}: {c.detail}")
    if step:
        print(step)
