"""Services that run beside the brokers (Schema Registry, Kafka Connect): started by ``up --with``, stopped by
``down``. Each service records its pid and URL in the cluster's state under ``services``.

- ``schema-registry``: Apicurio Registry (``io.apicurio:apicurio-registry-app``, the ``all`` tar.gz classifier,
  a Quarkus runner jar with its ``lib/``), resolved once from Maven Central with ``mvn dependency:copy`` into
  ``<home>/services/``, in-memory (H2) storage, on a free loopback port. Its Confluent-compatible API is the URL
  recorded (``.../apis/ccompat/v7``).
- ``connect``: a distributed Kafka Connect worker (``org.apache.kafka.connect.cli.ConnectDistributed``) from the
  Kafka jars (connect-file, connect-json, connect-transforms, connect-mirror on the classpath), JSON converters,
  storage topics at the cluster's replication factor. MirrorMaker 2 runs as connectors on it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from devcluster import jars
from devcluster.jars import Progress

if TYPE_CHECKING:
    from devcluster.cluster import ClusterState

KNOWN_SERVICES: tuple[str, ...] = ("schema-registry", "connect", "exporter", "prometheus")

APICURIO_VERSION = "3.0.9"
APICURIO_ARTIFACT = f"io.apicurio:apicurio-registry-app:{APICURIO_VERSION}:tar.gz:all"
CCOMPAT_PATH = "/apis/ccompat/v7"


def _error(message: str) -> Exception:
    from devcluster.cluster import DevClusterError

    return DevClusterError(message)


def start(
    home: Path, state: ClusterState, names: list[str], *, progress: Progress, timeout: float = 180.0
) -> ClusterState:
    """Start the named services for this cluster (already running ones are kept) and wait for their REST APIs."""
    unknown = [n for n in names if n not in KNOWN_SERVICES]
    if unknown:
        known = ", ".join(KNOWN_SERVICES) or "none yet"
        raise _error(f"Unknown service(s): {', '.join(unknown)}. Known: {known}.")
    from core.procs import pid_alive
    from devcluster import metrics
    from devcluster.cluster import save_state

    if "prometheus" in names:  # Prometheus scrapes our exporter and the Connect worker: start them first
        names = [n for n in names if n != "prometheus"]
        names = [*names, *(["exporter"] if "exporter" not in names else []), "prometheus"]
    for name in names:
        info = state.services.get(name) or {}
        pid = info.get("pid")
        if isinstance(pid, int) and pid_alive(pid) and _answers(str(info.get("health_url", ""))):
            progress(f"{name} already running at {info.get('url')}")
            continue
        if name == "schema-registry":
            info = _start_registry(home, state, progress=progress)
        elif name == "exporter":
            info = metrics.start_exporter(home, state, progress=progress)
        elif name == "prometheus":
            info = metrics.start_prometheus(home, state, progress=progress)
        else:
            info = _start_connect(home, state, progress=progress)
        state.services[name] = info
        save_state(home, state)
        _wait_http(name, info, timeout=timeout, progress=progress)
    return state


def stop_all(home: Path, state: ClusterState, *, progress: Progress) -> None:
    """Stop every service recorded in the state (nothing to do when none were started)."""
    from devcluster.cluster import _stop_pid

    for name, info in list(state.services.items()):
        pid = info.get("pid")
        if isinstance(pid, int):
            progress(f"stopping {name} (pid {pid})")
            _stop_pid(pid, hard=False, timeout=30)
        state.services.pop(name, None)


# --- helpers ----------------------------------------------------------------------------------------------------


def _service_dir(home: Path, state: ClusterState, name: str) -> Path:
    from devcluster.cluster import cluster_dir

    path = cluster_dir(home, state.name) / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def _spawn(cmd: list[str], log_file: Path, cwd: Path) -> int:
    log = open(log_file, "ab")  # noqa: SIM115 - handed to the child process
    try:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, cwd=cwd
        )
    finally:
        log.close()
    return proc.pid


def _answers(url: str) -> bool:
    if not url:
        return False
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(200 <= resp.status < 300)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _wait_http(name: str, info: dict[str, object], *, timeout: float, progress: Progress) -> None:
    from core.procs import pid_alive

    pid = info.get("pid")
    url = str(info["health_url"])
    deadline = time.monotonic() + timeout
    while not _answers(url):
        if isinstance(pid, int) and not pid_alive(pid):
            tail = Path(str(info["log_file"])).read_text(encoding="utf-8", errors="replace")[-3000:]
            raise _error(f"{name} exited during start-up. Last log lines:\n{tail}")
        if time.monotonic() > deadline:
            raise _error(f"{name} did not answer at {url} within {timeout:.0f}s; see {info['log_file']}.")
        time.sleep(1.0)
    progress(f"{name} ready at {info['url']}")


# --- schema registry (Apicurio) ---------------------------------------------------------------------------------


def resolve_registry(home: Path, *, progress: Progress) -> Path:
    """The unpacked Apicurio distribution (runner jar + lib/), fetched with mvn on first use."""
    target = home / "services" / f"apicurio-registry-{APICURIO_VERSION}"
    runner = target / f"apicurio-registry-app-{APICURIO_VERSION}-runner.jar"
    if runner.exists() and (target / ".resolved").exists():
        return runner
    if shutil.which("mvn") is None:
        raise _error("Maven (mvn) is not on PATH; it is needed to fetch Apicurio Registry from Maven Central.")
    progress(f"resolving Apicurio Registry {APICURIO_VERSION} from Maven Central (first run only) ...")
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    cmd = ["mvn", "-B", "-q", "dependency:copy", f"-Dartifact={APICURIO_ARTIFACT}", f"-DoutputDirectory={tmp}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=tmp)
    archives = list(tmp.glob("*.tar.gz"))
    if proc.returncode != 0 or not archives:
        raise _error(
            f"mvn could not fetch {APICURIO_ARTIFACT} (exit {proc.returncode}):\n"
            f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )
    with tarfile.open(archives[0]) as tar:
        tar.extractall(tmp, filter="data")
    archives[0].unlink()
    (tmp / ".resolved").write_text(APICURIO_ARTIFACT + "\n", encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    if not runner.exists():
        raise _error(f"The Apicurio archive has no {runner.name}; look into {target}.")
    return runner


def _start_registry(home: Path, state: ClusterState, *, progress: Progress) -> dict[str, object]:
    from devcluster.cluster import free_ports

    runner = resolve_registry(home, progress=progress)
    sdir = _service_dir(home, state, "schema-registry")
    port = free_ports(1)[0]
    java = shutil.which("java") or "java"
    cmd = [
        java,
        "-Xmx384m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        f"-Dquarkus.http.port={port}",
        "-Dquarkus.http.host=127.0.0.1",
        "-Dquarkus.log.level=WARN",
        "-Dapicurio.storage.kind=sql",
        "-Dapicurio.storage.sql.kind=h2",
        "-jar",
        str(runner),
    ]
    log_file = sdir / "registry.log"
    progress(f"starting schema-registry (Apicurio {APICURIO_VERSION}) on 127.0.0.1:{port}")
    pid = _spawn(cmd, log_file, sdir)
    base = f"http://127.0.0.1:{port}"
    return {
        "pid": pid,
        "port": port,
        "url": base + CCOMPAT_PATH,
        "health_url": base + CCOMPAT_PATH + "/subjects",
        "log_file": str(log_file),
        "implementation": f"apicurio-registry {APICURIO_VERSION}",
    }


# --- Kafka Connect ----------------------------------------------------------------------------------------------


def _connect_properties(state: ClusterState, port: int) -> str:
    rf = 3 if len(state.nodes) >= 3 else 1
    lines = [
        f"bootstrap.servers={state.bootstrap_servers}",
        f"group.id=connect-{state.name}",
        f"listeners=http://127.0.0.1:{port}",
        "rest.advertised.host.name=127.0.0.1",
        f"rest.advertised.port={port}",
        "key.converter=org.apache.kafka.connect.json.JsonConverter",
        "value.converter=org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable=false",
        "value.converter.schemas.enable=false",
        "config.storage.topic=connect-configs",
        "offset.storage.topic=connect-offsets",
        "status.storage.topic=connect-status",
        f"config.storage.replication.factor={rf}",
        f"offset.storage.replication.factor={rf}",
        f"status.storage.replication.factor={rf}",
        "offset.storage.partitions=5",
        "status.storage.partitions=1",
        "offset.flush.interval.ms=1000",
        "scheduled.rebalance.max.delay.ms=0",
        "config.providers=file",
        "config.providers.file.class=org.apache.kafka.common.config.provider.FileConfigProvider",
        "plugin.discovery=hybrid_warn",
        "connector.client.config.override.policy=All",
    ]
    return "\n".join(lines) + "\n"


def _start_connect(home: Path, state: ClusterState, *, progress: Progress) -> dict[str, object]:
    from devcluster.cluster import LOG4J2, free_ports

    jars.resolve(home, progress=progress)
    sdir = _service_dir(home, state, "connect")
    port = free_ports(1)[0]
    props = sdir / "worker.properties"
    props.write_text(_connect_properties(state, port), encoding="utf-8")
    log4j = sdir / "log4j2.yaml"
    log4j.write_text(LOG4J2.replace("name: kafka\n        level: INFO", "name: kafka\n        level: WARN"), "utf-8")
    cmd = jars.java_command(
        home, "org.apache.kafka.connect.cli.ConnectDistributed", str(props), heap="512m", log_config=log4j
    )
    from devcluster.metrics import with_agent

    metrics_port = free_ports(1)[0] if state.metrics else None
    cmd = with_agent(cmd, home, metrics_port, progress=progress)
    log_file = sdir / "connect.log"
    progress(f"starting connect worker for {state.name!r} on 127.0.0.1:{port}")
    pid = _spawn(cmd, log_file, sdir)
    url = f"http://127.0.0.1:{port}"
    return {
        "pid": pid,
        "port": port,
        "url": url,
        # 200 only once the worker has joined its group and read its config topic (KIP-1017, Kafka 3.9+).
        "health_url": url + "/health",
        "log_file": str(log_file),
        "worker_config": str(props),
        "implementation": f"kafka connect {state.kafka_version}",
        **(
            {"metrics_port": metrics_port, "metrics_url": f"http://127.0.0.1:{metrics_port}/metrics"}
            if metrics_port
            else {}
        ),
    }
