"""Real Apache Kafka brokers in KRaft mode on loopback: format, start, wait, stop, status.

State lives in one folder per cluster (``<home>/clusters/<name>/``): ``state.json`` (pids, ports, ids), one data
folder and one log per node. ``down`` stops processes and removes nothing unless asked to purge.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
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
    controller_port: int = Field(description="CONTROLLER listener; 0 for a broker-only node (added by add_broker).")
    controller: bool = Field(True, description="A KRaft voter (broker and controller); False for an added broker.")
    rack: str | None = Field(None, description="broker.rack, when the cluster was started with racks.")
    sasl_port: int | None = None
    metrics_port: int | None = Field(None, description="/metrics of the JMX exporter agent (up --metrics).")
    jmx_port: int | None = Field(None, description="Remote JMX on loopback (up --metrics), for Kafka's JmxTool.")
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
    metrics: bool = Field(False, description="Brokers (and Connect) run the JMX exporter agent (up --metrics).")

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
    voters_nodes = [x for x in nodes if x.controller]
    n = len(voters_nodes)
    rf = 3 if n >= 3 else 1
    min_isr = 2 if n >= 3 else 1
    voters = ",".join(f"{x.node_id}@127.0.0.1:{x.controller_port}" for x in voters_nodes)
    listeners = [f"PLAINTEXT://127.0.0.1:{node.port}"]
    if node.controller:
        listeners.append(f"CONTROLLER://127.0.0.1:{node.controller_port}")
    advertised = [f"PLAINTEXT://127.0.0.1:{node.port}"]
    protocol_map = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    if sasl:
        listeners.append(f"SASL_PLAINTEXT://127.0.0.1:{node.sasl_port}")
        advertised.append(f"SASL_PLAINTEXT://127.0.0.1:{node.sasl_port}")
        protocol_map += ",SASL_PLAINTEXT:SASL_PLAINTEXT"
    lines = [
        f"process.roles={'broker,controller' if node.controller else 'broker'}",
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
    if node.rack:
        lines.append(f"broker.rack={node.rack}")
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


def _format(home: Path, state: ClusterState, nodes: list[NodeState] | None = None) -> None:
    for node in state.nodes if nodes is None else nodes:
        args = ["format", "-t", state.cluster_id, "-c", node.config_file, "--ignore-formatted"]
        if node.controller and state.sasl and state.admin_user and state.admin_password:
            for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
                args += ["--add-scram", f"{mech}=[name={state.admin_user},password={state.admin_password}]"]
        _run_java(home, "kafka.tools.StorageTool", *args)


def _start_node(home: Path, node: NodeState, heap: str) -> int:
    log4j = cluster_dir(home, "").parent / "log4j2.yaml"
    log4j.parent.mkdir(parents=True, exist_ok=True)
    if not log4j.exists() or log4j.read_text(encoding="utf-8") != LOG4J2:
        log4j.write_text(LOG4J2, encoding="utf-8")
    cmd = jars.java_command(home, "kafka.Kafka", node.config_file, heap=heap, log_config=log4j)
    if node.metrics_port:
        from devcluster.metrics import with_agent

        cmd = with_agent(cmd, home, node.metrics_port, progress=stderr_progress, jmx_port=node.jmx_port)
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
    racks: list[str] | None = None,
    metrics: bool = False,
) -> ClusterState:
    """Start (or find running) cluster ``name``. Idempotent: a running cluster of the same shape is returned as is.

    ``metrics``: every broker runs the Prometheus JMX exporter agent on a port of its own (``devcluster.metrics``);
    a cluster started with it keeps it on every later start.

    ``racks``: ``broker.rack`` for the nodes, round robin (``["a", "b", "c"]`` puts node 1 in a, 2 in b, 3 in c).
    Brokers added later with ``add_broker`` are started again with the rest."""
    home = home or default_home()
    if brokers not in (1, 3):
        raise DevClusterError(f"--brokers must be 1 or 3, got {brokers}.")
    racks = _check_racks(racks)
    if shutil.which("java") is None:
        raise DevClusterError("Java is not on PATH; install Java 17 to run the dev cluster.")
    state = load_state(home, name)
    voters = [n for n in state.nodes if n.controller] if state is not None else []
    if state is not None and (
        len(voters) != brokers or state.sasl != sasl or (racks and [n.rack for n in voters] != _rack_of(racks, brokers))
    ):
        shape = f"{len(voters)} broker(s){' with SASL' if state.sasl else ''}"
        if any(n.rack for n in voters):
            shape += f" in racks {','.join(str(n.rack) for n in voters)}"
        raise DevClusterError(
            f"Cluster {name!r} already exists with {shape}. Use `kafka-agent dev-cluster down --name "
            f"{name} --purge` first, or another --name."
        )
    if state is not None and metrics and not state.metrics and any(pid_alive(n.pid) for n in state.nodes):
        raise DevClusterError(
            f"Cluster {name!r} runs without broker metrics; stop it (`kafka-agent dev-cluster down --name {name}`, "
            "data is kept) and start it again with --metrics."
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
                    rack=_rack_of(racks, brokers)[i - 1] if racks else None,
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
    if metrics:
        state.metrics = True
    if state.metrics:
        _plan_metrics_ports(state)
    for node in state.nodes:
        if not pid_alive(node.pid):
            progress(f"starting broker {node.node_id} (127.0.0.1:{node.port})")
            node.pid = _start_node(home, node, heap)
    save_state(home, state)
    _wait_ready(state, timeout=timeout, progress=progress)
    progress(f"cluster {name!r} ready: bootstrap servers {state.bootstrap_servers}")
    return state


def _plan_metrics_ports(state: ClusterState) -> None:
    """A free /metrics port for every node of a metrics cluster that has none (first start, an added broker)."""
    missing = [n for n in state.nodes if not n.metrics_port]
    ports = free_ports(2 * len(missing))
    for i, node in enumerate(missing):
        node.metrics_port, node.jmx_port = ports[2 * i], ports[2 * i + 1]


def _check_racks(racks: list[str] | None) -> list[str] | None:
    if not racks:
        return None
    bad = [r for r in racks if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", r)]
    if bad:
        raise DevClusterError(f"Rack names must be letters, digits, '.', '_' or '-': {', '.join(map(repr, bad))}.")
    return racks


def _rack_of(racks: list[str], count: int) -> list[str | None]:
    return [racks[i % len(racks)] for i in range(count)]


def add_broker(
    home: Path | None = None,
    *,
    name: str = "local",
    rack: str | None = None,
    heap: str = "512m",
    timeout: float = 120.0,
    progress: Progress = stderr_progress,
) -> NodeState:
    """Add a broker-only node to a running cluster (the KRaft voters stay as they are): a new node id, free ports,
    the cluster's settings, formatted with the cluster's id, started, and waited for until the metadata lists it.

    It holds no replicas until a reassignment moves some to it (``kafka-agent reassign spread``)."""
    home = home or default_home()
    state = load_state(home, name)
    if state is None:
        raise DevClusterError(f"No cluster named {name!r}; start one with `kafka-agent dev-cluster up`.")
    down_nodes = [n.node_id for n in state.nodes if not pid_alive(n.pid)]
    if down_nodes:
        raise DevClusterError(
            f"Broker(s) {down_nodes} of cluster {name!r} are not running; `kafka-agent dev-cluster up --name {name}` "
            "first."
        )
    if rack is None and any(n.rack for n in state.nodes):
        raise DevClusterError(
            f"Cluster {name!r} has racks ({', '.join(sorted({str(n.rack) for n in state.nodes if n.rack}))}): "
            "give the new broker one with --rack."
        )
    if rack is not None:
        _check_racks([rack])
    node_id = max(n.node_id for n in state.nodes) + 1
    (port, _unused, sport) = _plan_ports(1, state.sasl, 0)[0]
    ndir = cluster_dir(home, name) / f"node-{node_id}"
    shutil.rmtree(ndir, ignore_errors=True)  # a node removed earlier under this id
    node = NodeState(
        node_id=node_id,
        port=port,
        controller_port=0,
        controller=False,
        sasl_port=sport,
        rack=rack,
        data_dir=str(ndir / "data"),
        log_file=str(ndir / "server.log"),
        config_file=str(ndir / "server.properties"),
    )
    if state.metrics:
        node.metrics_port, node.jmx_port = free_ports(2)
    ndir.mkdir(parents=True, exist_ok=True)
    Path(node.config_file).write_text(_server_properties(node, [*state.nodes, node], state.sasl), encoding="utf-8")
    progress(f"formatting broker {node_id} for cluster {name!r}")
    _format(home, state, [node])
    progress(f"starting broker {node_id} (127.0.0.1:{port}{f', rack {rack}' if rack else ''})")
    node.pid = _start_node(home, node, heap)
    state.nodes.append(node)
    save_state(home, state)
    _wait_ready(state, timeout=timeout, progress=progress)
    return node


def remove_broker(home: Path | None, *, name: str, node_id: int, progress: Progress = stderr_progress) -> NodeState:
    """Stop an added broker and forget it (its folder is deleted). The caller checks it holds no replicas first, and
    unregisters it from the KRaft metadata afterwards (a change that goes through the gate). Voters cannot be
    removed: the dev cluster's quorum is static."""
    home = home or default_home()
    state = load_state(home, name)
    if state is None:
        raise DevClusterError(f"No cluster named {name!r}.")
    node = broker_node(state, node_id)
    progress(f"stopping broker {node_id} (pid {node.pid})")
    _stop_pid(node.pid, hard=False, timeout=30)
    state.nodes = [n for n in state.nodes if n.node_id != node_id]
    save_state(home, state)
    shutil.rmtree(Path(node.config_file).parent, ignore_errors=True)
    return node


def broker_node(state: ClusterState, node_id: int) -> NodeState:
    """The added (broker-only) node ``node_id``; a clear error for a voter or an unknown id."""
    node = next((n for n in state.nodes if n.node_id == node_id), None)
    if node is None:
        known = ", ".join(str(n.node_id) for n in state.nodes)
        raise DevClusterError(f"Cluster {state.name!r} has no broker {node_id} (brokers: {known}).")
    if node.controller:
        raise DevClusterError(
            f"Broker {node_id} is a KRaft controller of cluster {state.name!r} (a static voter): only brokers added "
            "with `dev-cluster add-broker` can be removed."
        )
    return node


def stop_node(home: Path, name: str, node_id: int, *, hard: bool = False, timeout: float = 30.0) -> None:
    """Stop one broker: SIGKILL when ``hard`` (a crash), else SIGTERM, wait, then SIGKILL."""
    state = load_state(home, name)
    if state is None:
        raise DevClusterError(f"No cluster named {name!r}.")
    node = next((n for n in state.nodes if n.node_id == node_id), None)
    if node is None:
        raise DevClusterError(f"Cluster {name!r} has no broker {node_id}.")
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
    """Stop the cluster's services and brokers (SIGTERM to every broker, wait, SIGKILL; with ``purge`` SIGKILL at
    once and the data is removed). Data stays unless ``purge``.

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
    # Every broker is signalled before any is waited for: stopped one by one, the last ones wait on a quorum that is
    # already gone. With purge the data is about to be removed, so there is nothing to shut down cleanly for.
    for node in state.nodes:
        if node.pid is not None and pid_alive(node.pid):
            progress(f"stopping broker {node.node_id} (pid {node.pid})")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.pid, signal.SIGKILL if purge else signal.SIGTERM)
    for node in state.nodes:
        _stop_pid(node.pid, hard=purge, timeout=30)
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
    controller: bool = True
    rack: str | None = None
    metrics_url: str | None = None


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
            controller=n.controller,
            rack=n.rack,
            metrics_url=f"http://127.0.0.1:{n.metrics_port}/metrics" if n.metrics_port else None,
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
