"""``kafka-agent dev-cluster up|down|status``."""

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
    up.add_argument("--with", dest="services", default="", help="comma-separated services to start beside it")
    up.add_argument("--port", type=int, default=None, help="base port (default 9092 for 'local'; 0 = any free ports)")
    up.add_argument("--heap", default="512m", help="JVM heap per broker (default 512m)")
    down = sub.add_parser("down", help="stop the brokers and services (data is kept unless --purge)")
    down.add_argument("--purge", action="store_true", help="also delete the cluster's data and state")
    sub.add_parser("status", help="what runs and where")
    for p in (up, down, sub.choices["status"]):
        p.add_argument("--name", default="local", help="cluster name, so several can run side by side")
        p.add_argument("--home", help="state folder (default: <data dir>/devcluster)")
        p.add_argument("--json", action="store_true", help="print JSON")


def _home(args: argparse.Namespace) -> Path:
    if args.home:
        return Path(args.home)
    from devcluster.cluster import default_home

    return default_home()


def run(args: argparse.Namespace) -> int:
    from devcluster import cluster, services
    from devcluster.jars import stderr_progress

    home = _home(args)
    try:
        if args.action == "up":
            port = args.port
            if port is None:
                port = 9092 if args.name == "local" else 0
            state = cluster.up(
                home, name=args.name, brokers=args.brokers, sasl=args.sasl, base_port=port, heap=args.heap
            )
            wanted = [s.strip() for s in args.services.split(",") if s.strip()]
            if wanted:
                state = services.start(home, state, wanted, progress=stderr_progress)
                cluster.save_state(home, state)
            info = {
                "name": state.name,
                "bootstrap_servers": state.bootstrap_servers,
                "sasl_bootstrap_servers": state.sasl_bootstrap_servers,
                "services": state.services,
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
            return 0
        if args.action == "down":
            stop_cluster(home, name=args.name, purge=args.purge)
            return 0
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
