"""The Apache Kafka jars, resolved from Maven Central with ``mvn`` into the dev-cluster home, once per version."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

POM = Path(__file__).resolve().parent / "maven" / "pom.xml"

Progress = Callable[[str], None]


def stderr_progress(message: str) -> None:
    sys.stderr.write(f"[dev-cluster] {message}\n")
    sys.stderr.flush()


def kafka_version(pom: Path = POM) -> str:
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom.read_text(encoding="utf-8"))
    if not match:
        raise RuntimeError(f"{pom} does not pin <kafka.version>")
    return match.group(1)


def libs_dir(home: Path, pom: Path = POM) -> Path:
    return home / "libs" / kafka_version(pom)


def resolve(home: Path, *, progress: Progress = stderr_progress, pom: Path = POM) -> Path:
    """The folder holding every runtime jar; runs ``mvn dependency:copy-dependencies`` the first time."""
    target = libs_dir(home, pom)
    marker = target / ".resolved"
    if marker.exists():
        return target
    if shutil.which("mvn") is None:
        raise RuntimeError("Maven (mvn) is not on PATH; install Maven and Java 17 to run the dev cluster.")
    progress(f"resolving Apache Kafka {kafka_version(pom)} jars from Maven Central (first run only) ...")
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    cmd = [
        "mvn",
        "-B",
        "-q",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={tmp}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"mvn failed to resolve the Kafka jars (exit {proc.returncode}):\n"
            f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        )
    jars = list(tmp.glob("*.jar"))
    (tmp / ".resolved").write_text(f"{len(jars)} jars\n", encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    progress(f"resolved {len(jars)} jars into {target}")
    return target


def classpath(home: Path) -> str:
    return str(libs_dir(home) / "*")


def java_command(
    home: Path, main_class: str, *args: str, heap: str = "256m", log_config: Path | None = None
) -> list[str]:
    """A ``java`` command line running one of Kafka's classes (the broker, or a tool such as
    ``org.apache.kafka.tools.consumer.group.ConsumerGroupCommand``) from the resolved jars."""
    java = shutil.which("java") or "java"
    cmd = [java, f"-Xmx{heap}", "-XX:+UseSerialGC", "-Djava.awt.headless=true"]
    if log_config is not None:
        cmd.append(f"-Dlog4j2.configurationFile={log_config}")
    else:
        cmd.append("-Dlog4j2.level=WARN")
    cmd += ["-cp", classpath(home), main_class, *args]
    return cmd


if __name__ == "__main__":
    from devcluster.cluster import default_home

    resolve(default_home())
