"""Broker metrics for the dev cluster: the Prometheus JMX exporter Java agent on every broker and Connect worker
(``up --metrics``), and a Prometheus server scraping them and our exporter (``up --with prometheus``).

- The agent is ``io.prometheus.jmx:jmx_prometheus_javaagent`` from Maven Central, fetched once with ``mvn
  dependency:copy`` into ``<home>/services/``; it serves ``/metrics`` on a loopback port per process, with the rules
  committed in ``monitoring/jmx_kafka.yaml`` (Kafka's MBeans to Prometheus names).
- Prometheus is Debian's ``prometheus`` package (``apt-get install prometheus``; ``scripts/install`` installs it), run
  with a generated config: one target per broker (labels ``cluster`` and ``broker``), the Connect worker when it runs,
  and ``kafka-agent exporter`` for this cluster (started with it, as the ``exporter`` service).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from devcluster.jars import Progress

if TYPE_CHECKING:
    from devcluster.cluster import ClusterState

JMX_AGENT_VERSION = "1.0.1"
JMX_AGENT_ARTIFACT = f"io.prometheus.jmx:jmx_prometheus_javaagent:{JMX_AGENT_VERSION}"
# The committed rules, beside the exporter and the dashboard that read the names they make.
RULES = Path(__file__).resolve().parents[1] / "monitoring" / "jmx_kafka.yaml"
SCRAPE_INTERVAL_S = 10  # a broker's agent answers in ~0.1 s when idle; seconds on a loaded machine


def _error(message: str) -> Exception:
    from devcluster.cluster import DevClusterError

    return DevClusterError(message)


def resolve_agent(home: Path, *, progress: Progress) -> Path:
    """The agent jar, fetched with mvn on first use."""
    target = home / "services" / f"jmx-exporter-{JMX_AGENT_VERSION}"
    jar = target / f"jmx_prometheus_javaagent-{JMX_AGENT_VERSION}.jar"
    if jar.exists():
        return jar
    if shutil.which("mvn") is None:
        raise _error("Maven (mvn) is not on PATH; it is needed to fetch the JMX exporter agent from Maven Central.")
    progress(f"resolving the Prometheus JMX exporter {JMX_AGENT_VERSION} from Maven Central (first run only) ...")
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    cmd = ["mvn", "-B", "-q", "dependency:copy", f"-Dartifact={JMX_AGENT_ARTIFACT}", f"-DoutputDirectory={tmp}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=tmp)
    if proc.returncode != 0 or not (tmp / jar.name).exists():
        raise _error(
            f"mvn could not fetch {JMX_AGENT_ARTIFACT} (exit {proc.returncode}):\n"
            f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    return jar


def agent_option(home: Path, port: int, *, progress: Progress) -> str:
    """The JVM option that starts the agent on 127.0.0.1:port with the committed rules."""
    if not RULES.exists():
        raise _error(f"The JMX exporter rules file {RULES} is missing from this installation.")
    return f"-javaagent:{resolve_agent(home, progress=progress)}=127.0.0.1:{port}:{RULES}"


def with_agent(
    cmd: list[str], home: Path, port: int | None, *, progress: Progress, jmx_port: int | None = None
) -> list[str]:
    """``cmd`` (a ``java ...`` command) with the agent option after the executable, when a port is given; with
    ``jmx_port``, also remote JMX on loopback (no authentication: loopback only), for Kafka's own JmxTool."""
    if not port:
        return cmd
    extra = [agent_option(home, port, progress=progress)]
    if jmx_port:
        extra += [
            f"-Dcom.sun.management.jmxremote.port={jmx_port}",
            f"-Dcom.sun.management.jmxremote.rmi.port={jmx_port}",
            "-Dcom.sun.management.jmxremote.host=127.0.0.1",
            "-Dcom.sun.management.jmxremote.authenticate=false",
            "-Dcom.sun.management.jmxremote.ssl=false",
            "-Djava.rmi.server.hostname=127.0.0.1",
        ]
    return [cmd[0], *extra, *cmd[1:]]


def metrics_urls(state: ClusterState) -> dict[int, str]:
    """broker id -> its /metrics URL, for the brokers started with the agent."""
    return {n.node_id: f"http://127.0.0.1:{n.metrics_port}/metrics" for n in state.nodes if n.metrics_port}


# --- services: our exporter and Prometheus ---------------------------------------------------------------------


def start_exporter(home: Path, state: ClusterState, *, progress: Progress) -> dict[str, object]:
    """``kafka-agent exporter`` for this cluster, as a process of its own (Prometheus scrapes it)."""
    from devcluster.cluster import free_ports
    from devcluster.services import _service_dir, _spawn

    sdir = _service_dir(home, state, "exporter")
    port = free_ports(1)[0]
    cmd = [
        sys.executable,
        "-m",
        "cli",
        "exporter",
        "--port",
        str(port),
        "--bootstrap-servers",
        state.bootstrap_servers,
    ]
    env_note = sdir / "exporter.log"
    progress(f"starting kafka-agent exporter for {state.name!r} on 127.0.0.1:{port}")
    pid = _spawn(cmd, env_note, Path(__file__).resolve().parents[1])
    url = f"http://127.0.0.1:{port}"
    return {
        "pid": pid,
        "port": port,
        "url": url + "/metrics",
        "health_url": url + "/metrics",
        "log_file": str(env_note),
        "implementation": "kafka-agent exporter",
    }


def prometheus_config(state: ClusterState, *, interval_s: int = SCRAPE_INTERVAL_S) -> str:
    """prometheus.yml: the brokers' agents (labels cluster, broker), the Connect worker's, our exporter."""
    import yaml

    brokers = [
        {
            "targets": [f"127.0.0.1:{n.metrics_port}"],
            "labels": {"cluster": state.name, "broker": str(n.node_id)},
        }
        for n in state.nodes
        if n.metrics_port
    ]
    jobs: list[dict[str, object]] = []
    if brokers:
        jobs.append({"job_name": "kafka", "static_configs": brokers})
    connect = state.services.get("connect") or {}
    if connect.get("metrics_port"):
        jobs.append(
            {
                "job_name": "kafka-connect",
                "static_configs": [
                    {"targets": [f"127.0.0.1:{connect['metrics_port']}"], "labels": {"cluster": state.name}}
                ],
            }
        )
    exporter = state.services.get("exporter") or {}
    if exporter.get("port"):
        jobs.append(
            {
                "job_name": "kafka-agent-exporter",
                "scrape_interval": f"{max(interval_s, 10)}s",
                "scrape_timeout": f"{max(interval_s, 10)}s",
                "static_configs": [{"targets": [f"127.0.0.1:{exporter['port']}"], "labels": {"cluster": state.name}}],
            }
        )
    config = {
        "global": {"scrape_interval": f"{interval_s}s", "scrape_timeout": f"{interval_s}s"},
        "scrape_configs": jobs,
    }
    return yaml.safe_dump(config, sort_keys=False)


def start_prometheus(home: Path, state: ClusterState, *, progress: Progress) -> dict[str, object]:
    """Debian's Prometheus on a free loopback port, scraping what ``prometheus_config`` lists."""
    from devcluster.cluster import free_ports
    from devcluster.services import _service_dir, _spawn

    binary = shutil.which("prometheus")
    if binary is None:
        raise _error(
            "Prometheus is not installed: `apt-get install -y prometheus` (Debian's package; scripts/install does it)."
        )
    if not any(n.metrics_port for n in state.nodes):
        raise _error(
            f"Cluster {state.name!r} runs without broker metrics: start it with `kafka-agent dev-cluster up "
            f"--name {state.name} --metrics --with prometheus` (stop it first if it runs)."
        )
    sdir = _service_dir(home, state, "prometheus")
    config = sdir / "prometheus.yml"
    config.write_text(prometheus_config(state), encoding="utf-8")
    port = free_ports(1)[0]
    cmd = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={sdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1d",
        "--log.level=warn",
    ]
    log_file = sdir / "prometheus.log"
    progress(f"starting prometheus for {state.name!r} on 127.0.0.1:{port}")
    pid = _spawn(cmd, log_file, sdir)
    url = f"http://127.0.0.1:{port}"
    return {
        "pid": pid,
        "port": port,
        "url": url,
        "health_url": url + "/-/ready",
        "log_file": str(log_file),
        "config_file": str(config),
        "implementation": "prometheus (Debian package)",
    }
