"""Real Apache Kafka brokers in KRaft mode on loopback: format, start, wait, stop, status.

State lives in one folder per cluster (``<home>/clusters/<name>/``): ``state.json`` (pids, ports, ids), one data
folder and one log per node. ``down`` stops processes and removes nothing unless asked to purge.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from core.procs import pid_alive
from devcluster import jars
from devcluster.jars import Progress, stderr_progress

LOG4J2 = """Configuration:
  status: warn
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Logger:
      - name: kafka
        level: INFO
      - name: org.apache.kafka
        level: WARN
      - name: kafka.server.KafkaRaftServer
        level: INFO
      - name: state.change.logger
        level: WARN
      - name: kafka.log
        level: WARN
    Root:
      level: WARN
      AppenderRef:
        - ref: STDOUT
"""


class DevClusterError(RuntimeError):
    """Something about the local cluster the user can fix (busy port, other topology, Java missing)."""


class NodeState(BaseModel):
    node_id: int
    port: int = Field(description="PLAINTEXT listener (admin, super user ANONYMOUS).")
    controller_port: int
    sasl_port: int | None = None
    pid: int | None = None
    data_dir: str
    log_file: str
    config_file: str


class ClusterState(BaseModel):
    name: str
    cluster_id: str
    kafka_version: str
    sasl: bool
    nodes: list[NodeState]
    admin_user: str | None = None
    admin_password: str | None = None
    services: dict[str, dict[str, object]] = Field(default_factory=dict)

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    @property
    def sasl_bootstrap_servers(self) -> str | None:
        if not self.sasl:
            return None
        return ",".join(f"127.0.0.1:{n.sasl_port}" for n in self.nodes)


def default_home() -> Path:
    from core.settings import Settings

    return Settings().resolved_devcluster_home()


def cluster_dir(home: Path, name: str) -> Path:
    return home / "clusters" / name


def load_state(home: Path, name: str) -> ClusterState | None:
    path = cluster_dir(home, name) / "state.json"
    if not path.exists():
        return None
    return ClusterState.model_validate_json(path.read_text(encoding="utf-8"))


def save_state(home: Path, state: ClusterState) -> None:
    path = cluster_dir(home, state.name) / "state.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(state.model_dump_json(indent=2), encoding="utf-8")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    socks, ports = [], []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
            ports.append(sock.getsockname()[1])
    finally:
        for sock in socks:
            sock.close()
    return ports


def _plan_ports(brokers: int, sasl: bool, base_port: int | None) -> list[tuple[int, int, int | None]]:
    """(plaintext, controller, sasl) per node. base_port 0 or None picks free ports."""
    per_node = 3 if sasl else 2
    if not base_port:
        ports = free_ports(brokers * per_node)
    else:
        ports = []
        for i in range(brokers):
            ports += [base_port + i, base_port + 100 + i] + ([base_port + 200 + i] if sasl else [])
        busy = [p for p in ports if not port_free(p)]
        if busy:
            raise DevClusterError(
                f"Port(s) {', '.join(map(str, busy))} on 127.0.0.1 are in use by another program. "
                "Stop it, or choose other ports with --port BASE (or --port 0 for any free ports)."
            )
    plan = []
    for i in range(brokers):
        chunk = ports[i * per_node : (i + 1) * per_node]
        plan.append((chunk[0], chunk[1], chunk[2] if sasl else None))
    return plan


def _server_properties(node: NodeState, nodes: list[NodeState], sasl: bool) -> str:
    n = len(nodes)
    rf = 3 if n >= 3 else 1
    min_isr = 2 if n >= 3 else 1
    voters = ",".join(f"{x.node_id}@127.0.0.1:{x.controller_port}" for x in nodes)
    listeners = [f"PLAINTEXT://127.0.0.1:{node.port}", f"CONTROLLER://127.0.0.1:{node.controller_port}"]
    advertised = [f"PLAINTEXT://127.0.0.1:{node.port}"]
    protocol_map = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    if sasl:
        listeners.append(f"SASL_PLAINTEXT://127.0.0.1:{node.sasl_port}")
        advertised.append(f"SASL_PLAINTEXT://127.0.0.1:{node.sasl_port}")
        protocol_map += ",SASL_PLAINTEXT:SASL_PLAINTEXT"
    lines = [
        "process.roles=broker,controller",
        f"node.id={node.node_id}",
        f"controller.quorum.voters={voters}",
        f"listeners={','.join(listeners)}",
        f"advertised.listeners={','.join(advertised)}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        f"listener.security.protocol.map={protocol_map}",
        f"log.dirs={node.data_dir}",
        "num.partitions=1",
        f"default.replication.factor={rf}",
        f"min.insync.replicas={min_isr}",
        f"offsets.topic.replication.factor={rf}",
        "offsets.topic.num.partitions=10",
        f"transaction.state.log.replication.factor={rf}",
        f"transaction.state.log.min.isr={min_isr}",
        "transaction.state.log.num.partitions=10",
        f"share.coordinator.state.topic.replication.factor={rf}",
        f"share.coordinator.state.topic.min.isr={min_isr}",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=false",
        "log.segment.bytes=67108864",
        "log.retention.check.interval.ms=30000",
        "num.network.threads=2",
        "num.io.threads=4",
        "transaction.abort.timed.out.transaction.cleanup.interval.ms=10000",
        "unclean.leader.election.enable=false",
    ]
    if sasl:
        lines += [
            "sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found=false",
            "super.users=User:ANONYMOUS;User:admin",
            "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        ]
    return "\n".join(lines) + "\n"


def _run_java(home: Path, main_class: str, *args: str) -> str:
    cmd = jars.java_command(home, main_class, *args, heap="256m")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise DevClusterError(
            f"{main_class} {' '.join(args[:1])} failed (exit {proc.returncode}):\n"
            f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )
    return proc.stdout


def _format(home: Path, state: ClusterState) -> None:
    for node in state.nodes:
        args = ["format", "-t", state.cluster_id, "-c", node.config_file, "--ignore-formatted"]
        if state.sasl and state.admin_user and state.admin_password:
            for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
                args += ["--add-scram", f"{mech}=[name={state.admin_user},password={state.admin_password}]"]
        _run_java(home, "kafka.tools.StorageTool", *args)


def _start_node(home: Path, node: NodeState, heap: str) -> int:
    log4j = cluster_dir(home, "").parent / "log4j2.yaml"
    log4j.parent.mkdir(parents=True, exist_ok=True)
    if not log4j.exists() or log4j.read_text(encoding="utf-8") != LOG4J2:
        log4j.write_text(LOG4J2, encoding="utf-8")
    cmd = jars.java_command(home, "kafka.Kafka", node.config_file, heap=heap, log_config=log4j)
    log = open(node.log_file, "ab")  # noqa: SIM115 - handed to the child process
    try:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    finally:
        log.close()
    return proc.pid


def _wait_ready(state: ClusterState, *, timeout: float, progress: Progress) -> None:
    """Every node's process alive and every broker answering metadata over its plaintext listener."""
    from confluent_kafka.admin import AdminClient

    deadline = time.monotonic() + timeout
    pending = {n.node_id for n in state.nodes}
    while pending:
        for node in state.nodes:
            if node.node_id in pending and not pid_alive(node.pid):
                tail = Path(node.log_file).read_text(encoding="utf-8", errors="replace")[-3000:]
                raise DevClusterError(f"Broker {node.node_id} exited during start-up. Last log lines:\n{tail}")
        for node in state.nodes:
            if node.node_id not in pending:
                continue
            if port_free(node.port):  # nothing listening yet
                continue
            admin = AdminClient(
                {
                    "bootstrap.servers": f"127.0.0.1:{node.port}",
                    "socket.connection.setup.timeout.ms": 2000,
                    "log_level": 0,
                }
            )
            try:
                meta = admin.list_topics(timeout=2)
                if len(meta.brokers) >= len(state.nodes):
                    pending.discard(node.node_id)
                    progress(f"broker {node.node_id} ready on 127.0.0.1:{node.port}")
            except Exception:
                pass
        if pending and time.monotonic() > deadline:
            raise DevClusterError(
                f"Brokers {sorted(pending)} did not answer within {timeout:.0f}s; see their logs in "
                f"{Path(state.nodes[0].log_file).parent}."
            )
        if pending:
            time.sleep(0.5)


def up(
    home: Path | None = None,
    *,
    name: str = "local",
    brokers: int = 1,
    sasl: bool = False,
    base_port: int | None = 9092,
    heap: str = "512m",
    timeout: float = 120.0,
    progress: Progress = stderr_progress,
) -> ClusterState:
    """Start (or find running) cluster ``name``. Idempotent: a running cluster of the same shape is returned as is."""
    home = home or default_home()
    if brokers not in (1, 3):
        raise DevClusterError(f"--brokers must be 1 or 3, got {brokers}.")
    if shutil.which("java") is None:
        raise DevClusterError("Java is not on PATH; install Java 17 to run the dev cluster.")
    state = load_state(home, name)
    if state is not None and (len(state.nodes) != brokers or state.sasl != sasl):
        shape = f"{len(state.nodes)} broker(s){' with SASL' if state.sasl else ''}"
        raise DevClusterError(
            f"Cluster {name!r} already exists with {shape}. Use `kafka-agent dev-cluster down --name "
            f"{name} --purge` first, or another --name."
        )
    if state is not None and all(pid_alive(n.pid) for n in state.nodes):
        progress(f"cluster {name!r} already running at {state.bootstrap_servers}")
        return state
    jars.resolve(home, progress=progress)
    cdir = cluster_dir(home, name)
    if state is None:
        plan = _plan_ports(brokers, sasl, base_port)
        cluster_id = _run_java(home, "kafka.tools.StorageTool", "random-uuid").strip().splitlines()[-1]
        nodes = []
        for i, (port, cport, sport) in enumerate(plan, start=1):
            ndir = cdir / f"node-{i}"
            nodes.append(
                NodeState(
                    node_id=i,
                    port=port,
                    controller_port=cport,
                    sasl_port=sport,
                    data_dir=str(ndir / "data"),
                    log_file=str(ndir / "server.log"),
                    config_file=str(ndir / "server.properties"),
                )
            )
        state = ClusterState(
            name=name,
            cluster_id=cluster_id,
            kafka_version=jars.kafka_version(),
            sasl=sasl,
            nodes=nodes,
            admin_user="admin" if sasl else None,
            admin_password=secrets.token_urlsafe(12) if sasl else None,
        )
        for node in nodes:
            Path(node.config_file).parent.mkdir(parents=True, exist_ok=True)
            Path(node.config_file).write_text(_server_properties(node, nodes, sasl), encoding="utf-8")
        progress(f"formatting KRaft storage for {brokers} node(s), cluster id {cluster_id}")
        _format(home, state)
    else:
        busy = [
            p
            for n in state.nodes
            if not pid_alive(n.pid)
            for p in (n.port, n.controller_port, n.sasl_port)
            if p and not port_free(p)
        ]
        if busy:
            raise DevClusterError(
                f"Port(s) {', '.join(map(str, busy))} of cluster {name!r} are taken by another "
                "program; stop it or `down --purge` this cluster and choose --port."
            )
    for node in state.nodes:
        if not pid_alive(node.pid):
            progress(f"starting broker {node.node_id} (127.0.0.1:{node.port})")
            node.pid = _start_node(home, node, heap)
    save_state(home, state)
    _wait_ready(state, timeout=timeout, progress=progress)
    progress(f"cluster {name!r} ready: bootstrap servers {state.bootstrap_servers}")
    return state


def stop_node(home: Path, name: str, node_id: int, *, hard: bool = False, timeout: float = 30.0) -> None:
    """Stop one broker: SIGKILL when ``hard`` (a crash), else SIGTERM, wait, then SIGKILL."""
    state = load_state(home, name)
    if state is None:
        raise DevClusterError(f"No cluster named {name!r}.")
    node = next(n for n in state.nodes if n.node_id == node_id)
    _stop_pid(node.pid, hard=hard, timeout=timeout)
    node.pid = None
    save_state(home, state)


def start_node(home: Path, name: str, node_id: int, *, heap: str = "512m") -> None:
    state = load_state(home, name)
    if state is None:
        raise DevClusterError(f"No cluster named {name!r}.")
    node = next(n for n in state.nodes if n.node_id == node_id)
    if not pid_alive(node.pid):
        node.pid = _start_node(home, node, heap)
        save_state(home, state)


def _stop_pid(pid: int | None, *, hard: bool, timeout: float) -> None:
    if not pid_alive(pid):
        return
    assert pid is not None
    try:
        os.killpg(pid, signal.SIGKILL if hard else signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.2)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        while pid_alive(pid):
            _reap(pid)
            time.sleep(0.1)
    _reap(pid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def down(
    home: Path | None = None,
    *,
    name: str = "local",
    purge: bool = False,
    progress: Progress = stderr_progress,
    before_stop: Callable[[str, Progress], None] | None = None,
) -> bool:
    """Stop the cluster's services and brokers (SIGTERM, wait, SIGKILL). Data stays unless ``purge``.

    ``before_stop(bootstrap_servers, progress)`` runs first: the command line passes the stream runners' stop, so
    runners of this cluster end with it (this package does not import the streams package)."""
    home = home or default_home()
    state = load_state(home, name)
    if state is None:
        progress(f"no cluster named {name!r}")
        return False
    from devcluster import services

    services.stop_all(home, state, progress=progress)
    if before_stop is not None:
        before_stop(state.bootstrap_servers, progress)
    for node in state.nodes:
        if pid_alive(node.pid):
            progress(f"stopping broker {node.node_id} (pid {node.pid})")
        _stop_pid(node.pid, hard=False, timeout=30)
        node.pid = None
    save_state(home, state)
    if purge:
        shutil.rmtree(cluster_dir(home, name), ignore_errors=True)
        progress(f"removed {cluster_dir(home, name)}")
    return True


class NodeStatus(BaseModel):
    node_id: int
    running: bool
    pid: int | None
    address: str
    sasl_address: str | None


class ClusterStatus(BaseModel):
    name: str
    running: bool
    bootstrap_servers: str
    sasl_bootstrap_servers: str | None
    nodes: list[NodeStatus]
    services: dict[str, dict[str, object]]
    state_dir: str


def status(home: Path | None = None, *, name: str = "local") -> ClusterStatus | None:
    home = home or default_home()
    state = load_state(home, name)
    if state is None:
        return None
    nodes = [
        NodeStatus(
            node_id=n.node_id,
            running=pid_alive(n.pid),
            pid=n.pid if pid_alive(n.pid) else None,
            address=f"127.0.0.1:{n.port}",
            sasl_address=f"127.0.0.1:{n.sasl_port}" if n.sasl_port else None,
        )
        for n in state.nodes
    ]
    return ClusterStatus(
        name=name,
        running=all(n.running for n in nodes),
        bootstrap_servers=state.bootstrap_servers,
        sasl_bootstrap_servers=state.sasl_bootstrap_servers,
        nodes=nodes,
        services=state.services,
        state_dir=str(cluster_dir(home, name)),
    )


def list_clusters(home: Path | None = None) -> list[str]:
    home = home or default_home()
    root = home / "clusters"
    return sorted(p.name for p in root.iterdir() if (p / "state.json").exists()) if root.exists() else []


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
