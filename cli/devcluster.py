"""``kafka-agent dev-cluster up|down|status|add-broker|remove-broker|stop-broker``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = sub.add_parser("up", help="format (first time) and start the brokers; idempotent")
    up.add_argument("--brokers", type=int, choices=[1, 3], default=1, help="1 (default) or a 3-node quorum")
    up.add_argument("--sasl", action="store_true", help="add a SASL_PLAINTEXT SCRAM listener and the ACL authorizer")
    up.add_argument(
        "--with",
        dest="services",
        default="",
        help="comma-separated services to start beside it: schema-registry, connect, prometheus (needs --metrics), "
        "exporter",
    )
    up.add_argument("--port", type=int, default=None, help="base port (default 9092 for 'local'; 0 = any free ports)")
    up.add_argument("--heap", default="512m", help="JVM heap per broker (default 512m)")
    up.add_argument("--racks", default="", help="broker.rack per node, round robin, e.g. a,b,c")
    up.add_argument(
        "--metrics", action="store_true", help="brokers and Connect run the Prometheus JMX exporter agent (/metrics)"
    )
    add = sub.add_parser("add-broker", help="start one more broker (broker only) on a running cluster")
    add.add_argument("--rack", help="its broker.rack (required when the cluster has racks)")
    add.add_argument("--heap", default="512m", help="JVM heap (default 512m)")
    remove = sub.add_parser(
        "remove-broker", help="retire an added broker: refuse if it holds replicas, stop it, unregister it (KRaft)"
    )
    remove.add_argument("--id", type=int, required=True, help="the broker's node id")
    remove.add_argument("--yes", action="store_true", help="you confirm unregistering it (else you are asked)")
    stop = sub.add_parser("stop-broker", help="stop one broker's process (it stays registered, fenced)")
    stop.add_argument("--id", type=int, required=True, help="the broker's node id")
    down = sub.add_parser("down", help="stop the brokers and services (data is kept unless --purge)")
    down.add_argument("--purge", action="store_true", help="also delete the cluster's data and state")
    sub.add_parser("status", help="what runs and where")
    for p in (up, down, sub.choices["status"], add, remove, stop):
        p.add_argument("--name", default="local", help="cluster name, so several can run side by side")
        p.add_argument("--home", help="state folder (default: <data dir>/devcluster)")
        p.add_argument("--json", action="store_true", help="print JSON")


def _home(args: argparse.Namespace) -> Path:
    if args.home:
        return Path(args.home)
    from devcluster.cluster import default_home

    return default_home()


def run(args: argparse.Namespace) -> int:
    from core.errors import KafkaAgentError
    from core.gate import ConsentRequired
    from devcluster import cluster, services
    from devcluster.jars import stderr_progress

    home = _home(args)
    try:
        if args.action == "up":
            port = args.port
            if port is None:
                port = 9092 if args.name == "local" else 0
            racks = [r.strip() for r in args.racks.split(",") if r.strip()] or None
            state = cluster.up(
                home,
                name=args.name,
                brokers=args.brokers,
                sasl=args.sasl,
                base_port=port,
                heap=args.heap,
                racks=racks,
                metrics=args.metrics,
            )
            wanted = [s.strip() for s in args.services.split(",") if s.strip()]
            if wanted:
                state = services.start(home, state, wanted, progress=stderr_progress)
                cluster.save_state(home, state)
            from devcluster.metrics import metrics_urls

            info = {
                "name": state.name,
                "bootstrap_servers": state.bootstrap_servers,
                "sasl_bootstrap_servers": state.sasl_bootstrap_servers,
                "services": state.services,
                "metrics_url": metrics_urls(state),
            }
            if args.json:
                print(json.dumps(info, indent=2))
            else:
                print(f"bootstrap servers: {state.bootstrap_servers}")
                if state.sasl_bootstrap_servers:
                    print(
                        f"SASL/SCRAM bootstrap servers: {state.sasl_bootstrap_servers} "
                        f"(admin user '{state.admin_user}', password in {cluster.cluster_dir(home, state.name)}"
                        "/state.json)"
                    )
                for svc, sinfo in state.services.items():
                    print(f"{svc}: {sinfo.get('url')}")
                for broker, url in metrics_urls(state).items():
                    print(f"broker {broker} metrics: {url}")
            return 0
        if args.action == "down":
            stop_cluster(home, name=args.name, purge=args.purge)
            return 0
        if args.action == "add-broker":
            node = cluster.add_broker(home, name=args.name, rack=args.rack, heap=args.heap)
            grown = cluster.load_state(home, args.name)
            assert grown is not None
            if args.json:
                added = {
                    "broker": node.node_id,
                    "address": f"127.0.0.1:{node.port}",
                    "rack": node.rack,
                    "bootstrap_servers": grown.bootstrap_servers,
                }
                print(json.dumps(added, indent=2))
            else:
                print(
                    f"broker {node.node_id} up at 127.0.0.1:{node.port}" + (f" (rack {node.rack})" if node.rack else "")
                )
                print(
                    f"It holds no replicas yet: `kafka-agent reassign execute --goal spread --brokers {node.node_id} "
                    f"--bootstrap-servers {grown.bootstrap_servers}` gives it its share."
                )
            return 0
        if args.action == "stop-broker":
            cluster.stop_node(home, args.name, args.id)
            print(f"broker {args.id} stopped")
            return 0
        if args.action == "remove-broker":
            return remove_broker(home, name=args.name, node_id=args.id, assume_yes=args.yes, as_json=args.json)
        st = cluster.status(home, name=args.name)
        if st is None:
            print(f"no cluster named {args.name!r} in {home} (start one with `kafka-agent dev-cluster up`)")
            return 1
        if args.json:
            print(st.model_dump_json(indent=2))
            return 0
        print(f"cluster {st.name}: {'running' if st.running else 'NOT running'} ({st.state_dir})")
        for n in st.nodes:
            extra = f", SASL {n.sasl_address}" if n.sasl_address else ""
            if n.rack:
                extra += f", rack {n.rack}"
            if not n.controller:
                extra += ", broker only"
            if n.metrics_url:
                extra += f", metrics {n.metrics_url}"
            print(
                f"  broker {n.node_id}: {'up' if n.running else 'down'} at {n.address}{extra}"
                + (f" (pid {n.pid})" if n.pid else "")
            )
        for svc, sinfo in st.services.items():
            print(f"  {svc}: {sinfo.get('url')} (pid {sinfo.get('pid')})")
        return 0 if st.running else 1
    except cluster.DevClusterError as exc:
        sys.stderr.write(f"kafka-agent dev-cluster {args.action}: {exc}\n")
        return 2
    except KafkaAgentError as exc:
        sys.stderr.write(f"kafka-agent dev-cluster {args.action}: {exc}\n")
        return 1
    except ConsentRequired as pending:
        shown = pending.preview.how_to_confirm if pending.preview is not None else "consent is needed"
        sys.stderr.write(f"kafka-agent dev-cluster {args.action}: {pending}. {shown}\n")
        return 3


def stop_cluster(
    home: Path | None = None, *, name: str = "local", purge: bool = False, progress: Callable[[str], None] | None = None
) -> bool:
    """`dev-cluster down`: the cluster's stream runners, services and brokers."""
    from devcluster import cluster
    from devcluster.jars import stderr_progress
    from streams.manager import stop_for_cluster

    def stop_runners(servers: str, say: Callable[[str], None]) -> None:
        stop_for_cluster(servers, progress=say)

    return cluster.down(home, name=name, purge=purge, progress=progress or stderr_progress, before_stop=stop_runners)


def remove_broker(home: Path, *, name: str, node_id: int, assume_yes: bool, as_json: bool = False) -> int:
    """Retire an added broker: it must hold no replicas (drain it first); then it is stopped, unregistered from the
    KRaft metadata through the gate (the person at the terminal confirms), and forgotten."""
    from cli.reassign import TerminalConsent, requester
    from core.app import build_app_context
    from core.errors import NotFound
    from core.gate import Change, Grant, Preapproved
    from core.kafka import brokers as kbrokers
    from core.kafka.jadmin import java_admin
    from core.kafka.throttles import broker_resource
    from core.settings import Settings
    from devcluster import cluster

    state = cluster.load_state(home, name)
    if state is None:
        raise cluster.DevClusterError(f"No cluster named {name!r}.")
    cluster.broker_node(state, node_id)  # voters cannot go
    settings = Settings(bootstrap_servers=state.bootstrap_servers, clusters_file=None)
    app = build_app_context(settings, transport="cli")
    try:
        cfg = app.clients.cluster(None)
        admin, jadmin = app.clients.admin(cfg.name), java_admin(app, cfg.name)
        try:
            check = kbrokers.decommission_check(admin, jadmin, node_id, timeout=app.timeout)
        except NotFound:  # unregistered already (kafka_unregister_broker) and empty: only the process is left
            cluster.remove_broker(home, name=name, node_id=node_id)
            print(f"broker {node_id} stopped (it was not registered any more)")
            return 0
        if check.replicas:
            raise cluster.DevClusterError(
                f"Broker {node_id} still holds {check.replicas} replica(s) (e.g. {', '.join(check.partitions[:3])}). "
                f"Drain it first: `kafka-agent reassign execute --goal drain --brokers {node_id} "
                f"--bootstrap-servers {state.bootstrap_servers}`."
            )
        change = Change(
            tool="kafka-agent dev-cluster remove-broker",
            cluster=cfg.name,
            action="broker.unregister",
            resource_type="broker",
            resources=[broker_resource(node_id)],
            destructive=True,
            arguments={"broker": node_id, "dev_cluster": name},
        )
        effect = f"Stop broker {node_id} of dev cluster {name!r} and unregister it from the KRaft metadata."
        consent = TerminalConsent(assume_yes=assume_yes)
        # Consent first, then stop the process, then the unregistration itself (it refuses a running broker).
        granted = app.gate.admit(change, requester=requester(), consent=consent, effect=effect)
        cluster.remove_broker(home, name=name, node_id=node_id)
        result = app.gate.perform(
            change,
            # a fresh client: the cached one may still hold the broker just stopped as the one to ask for the
            # controller ("Timed out waiting for controller")
            lambda permit: kbrokers.unregister_broker(
                permit, app.clients.fresh_admin(cfg.name), jadmin, node_id, timeout=app.timeout
            ),
            requester=requester(),
            consent=Preapproved(Grant(granted.decision, granted.by, frozenset({(change.action, change.resources[0])}))),
            effect=effect,
        )
    finally:
        app.close()
    if as_json:
        print(result.model_dump_json(indent=2))
    else:
        print(f"broker {node_id} stopped and {'unregistered' if result.unregistered else 'was not registered'}")
    return 0
