"""Broker metrics from Kafka's MBeans, read through the Prometheus JMX exporter: straight from each broker's agent
(the cluster's ``metrics_url``, broker id -> URL) or from a Prometheus server scraping them (``prometheus_url``).

Both give the same series (names made by ``monitoring/jmx_kafka.yaml``), summed up here per broker: messages and
bytes in/out (counts since the broker started and one-minute rates), request rates and latency percentiles by
request type, under-replicated / under-min-ISR partitions, offline partitions and the active controller (KRaft
controllers publish those two), ISR shrinks and expands, request handler and network idle ratios, log flushes.
Nothing here writes: the agents and Prometheus are read with GET requests.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from core.errors import ConfigError, InvalidArgument, KafkaAgentError, OperationTimeout

# Request types whose latency is summarized (the rules file publishes a few more).
LATENCY_REQUESTS = ("Produce", "FetchConsumer", "FetchFollower", "Metadata", "OffsetCommit", "ListOffsets")
PREFIXES = ("kafka_server_", "kafka_network_", "kafka_controller_", "kafka_log_")


@dataclass(frozen=True)
class Series:
    name: str
    labels: dict[str, str]
    value: float


class BrokerMetrics(BaseModel):
    broker: int
    up: bool = Field(description="Its metrics were read.")
    error: str | None = None
    messages_in_total: float | None = Field(None, description="Records appended since the broker started.")
    bytes_in_total: float | None = None
    bytes_out_total: float | None = None
    messages_in_per_s: float | None = Field(None, description="One-minute rate.")
    bytes_in_per_s: float | None = None
    bytes_out_per_s: float | None = None
    produce_requests_per_s: float | None = None
    fetch_requests_per_s: float | None = None
    under_replicated_partitions: float | None = None
    under_min_isr_partitions: float | None = None
    offline_partitions: float | None = Field(None, description="From the active controller only (KRaft).")
    active_controller: bool | None = Field(None, description="Null on a broker that is not a controller.")
    partitions: float | None = None
    leaders: float | None = None
    isr_shrinks_total: float | None = None
    isr_expands_total: float | None = None
    isr_shrinks_per_s: float | None = None
    isr_expands_per_s: float | None = None
    request_handler_idle_ratio: float | None = Field(
        None,
        description="1 = idle, near 0 = saturated (up to 2 on a combined broker and controller: two pools, one meter).",
    )
    network_processor_idle_ratio: float | None = None
    log_flush_per_s: float | None = None
    log_flush_p99_ms: float | None = None
    requests_total: dict[str, float] = Field(default_factory=dict, description="Requests since start, by type.")
    latency_ms: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Total request time percentiles (ms) by request type: {'Produce': {'0.99'..}}.",
    )
    topic: dict[str, float] | None = Field(None, description="The asked topic's counters on this broker.")


class PromSeries(BaseModel):
    labels: dict[str, str]
    value: float | None


class BrokerMetricsReport(BaseModel):
    cluster: str
    source: Literal["jmx", "prometheus"]
    brokers: list[BrokerMetrics] = Field(default_factory=list)
    totals: dict[str, float] = Field(default_factory=dict, description="Sums over the brokers read.")
    query: str | None = None
    series: list[PromSeries] | None = Field(None, description="The PromQL query's result (instant vector).")
    notes: list[str] = Field(default_factory=list)


# --- reading ------------------------------------------------------------------------------------------------------


def _prometheus_error(exc: urllib.error.HTTPError) -> str | None:
    """Prometheus's own reason for a 400/422 (``{"status": "error", "errorType": "bad_data", "error": ...}``)."""
    if exc.code not in (400, 422):
        return None
    try:
        body = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        return None
    if isinstance(body, dict) and body.get("status") == "error":
        return f"{body.get('errorType', 'error')}: {body.get('error', '')}"
    return None


def _get(url: str, *, timeout: float, what: str) -> bytes:
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{what}: {url!r} is not an http(s) URL.", hint="Fix metrics_url / prometheus_url.")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body: bytes = resp.read()
            return body
    except urllib.error.HTTPError as exc:
        refusal = _prometheus_error(exc)
        if refusal is not None:
            raise InvalidArgument(
                f"Prometheus refused the query: {refusal[:300]}", hint="Fix the PromQL expression."
            ) from None
        raise KafkaAgentError(f"{what} answered HTTP {exc.code}.", hint="Check the URL and the server.") from None
    except TimeoutError:
        raise OperationTimeout(f"{what} did not answer within {timeout:g}s.") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise KafkaAgentError(
            f"{what} cannot be reached ({reason}).",
            hint="Is the JMX exporter agent running (kafka-agent dev-cluster up --metrics), and the URL right?",
        ) from None


def parse(text: str) -> list[Series]:
    """The samples of a Prometheus text exposition, ours only (``kafka_*``)."""
    from prometheus_client.parser import text_string_to_metric_families

    out: list[Series] = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith(PREFIXES):
                out.append(Series(s.name, dict(s.labels), float(s.value)))
    return out


def scrape(url: str, *, timeout: float) -> list[Series]:
    return parse(_get(url, timeout=timeout, what=f"metrics at {url}").decode("utf-8", errors="replace"))


def summarize(broker: int, series: list[Series], *, topic: str | None = None) -> BrokerMetrics:
    """One broker's figures from its series."""
    plain: dict[str, float] = {}
    m = BrokerMetrics(broker=broker, up=True)
    for s in series:
        t = s.labels.get("topic")
        if t:
            if topic is not None and t == topic and s.name.startswith("kafka_server_brokertopic_"):
                m.topic = m.topic or {}
                m.topic[s.name.removeprefix("kafka_server_brokertopic_")] = s.value
            continue
        if s.name == "kafka_network_requests_total":
            req = s.labels.get("request", "?")
            m.requests_total[req] = m.requests_total.get(req, 0.0) + s.value
        elif s.name == "kafka_network_request_totaltimems":
            req, q = s.labels.get("request", "?"), s.labels.get("quantile", "?")
            m.latency_ms.setdefault(req, {})[q] = round(s.value, 3)
        elif s.name == "kafka_log_flush_time_ms" and s.labels.get("quantile") == "0.99":
            m.log_flush_p99_ms = round(s.value, 3)
        elif not s.labels or set(s.labels) <= {"broker", "cluster", "instance", "job"}:
            plain[s.name] = s.value
    p = "kafka_server_brokertopic_"
    r = "kafka_server_replicamanager_"
    m.messages_in_total = plain.get(p + "messagesin_total")
    m.bytes_in_total = plain.get(p + "bytesin_total")
    m.bytes_out_total = plain.get(p + "bytesout_total")
    m.messages_in_per_s = plain.get(p + "messagesin_rate1m")
    m.bytes_in_per_s = plain.get(p + "bytesin_rate1m")
    m.bytes_out_per_s = plain.get(p + "bytesout_rate1m")
    m.produce_requests_per_s = plain.get(p + "totalproducerequests_rate1m")
    m.fetch_requests_per_s = plain.get(p + "totalfetchrequests_rate1m")
    m.under_replicated_partitions = plain.get(r + "underreplicatedpartitions")
    m.under_min_isr_partitions = plain.get(r + "underminisrpartitioncount")
    m.partitions = plain.get(r + "partitioncount")
    m.leaders = plain.get(r + "leadercount")
    m.isr_shrinks_total = plain.get(r + "isrshrinks_total")
    m.isr_expands_total = plain.get(r + "isrexpands_total")
    m.isr_shrinks_per_s = plain.get(r + "isrshrinks_rate1m")
    m.isr_expands_per_s = plain.get(r + "isrexpands_rate1m")
    active = plain.get("kafka_controller_activecontrollercount")
    m.active_controller = None if active is None else active >= 1
    # Every controller publishes the gauge; only the active one's figure is current.
    m.offline_partitions = plain.get("kafka_controller_offlinepartitionscount") if m.active_controller else None
    m.request_handler_idle_ratio = plain.get("kafka_server_request_handler_avg_idle_ratio")
    m.network_processor_idle_ratio = plain.get("kafka_network_processor_avg_idle_ratio")
    m.log_flush_per_s = plain.get("kafka_log_flush_rate1m")
    m.latency_ms = {k: v for k, v in sorted(m.latency_ms.items()) if k in LATENCY_REQUESTS}
    m.requests_total = dict(sorted(m.requests_total.items()))
    return m


def _totals(brokers: list[BrokerMetrics]) -> dict[str, float]:
    keys = (
        "messages_in_total",
        "bytes_in_total",
        "bytes_out_total",
        "messages_in_per_s",
        "bytes_in_per_s",
        "bytes_out_per_s",
        "under_replicated_partitions",
        "under_min_isr_partitions",
    )
    out: dict[str, float] = {}
    for key in keys:
        values = [getattr(b, key) for b in brokers if getattr(b, key) is not None]
        if values:
            out[key] = round(sum(values), 3)
    offline = [b.offline_partitions for b in brokers if b.offline_partitions is not None]
    if offline:
        out["offline_partitions"] = max(offline)
    out["active_controllers"] = float(sum(1 for b in brokers if b.active_controller))
    return out


def from_agents(
    cluster: str, urls: dict[int, str], *, timeout: float, broker: int | None = None, topic: str | None = None
) -> BrokerMetricsReport:
    """Scrape every broker's agent at once; a broker that does not answer is listed with its error."""
    if broker is not None:
        if broker not in urls:
            raise InvalidArgument(
                f"`broker`: no metrics_url is configured for broker {broker} of cluster {cluster!r}.",
                hint=f"Brokers with metrics: {', '.join(map(str, sorted(urls))) or 'none'}.",
            )
        urls = {broker: urls[broker]}

    def one(item: tuple[int, str]) -> BrokerMetrics:
        bid, url = item
        try:
            return summarize(bid, scrape(url, timeout=timeout), topic=topic)
        except KafkaAgentError as exc:
            return BrokerMetrics(broker=bid, up=False, error=exc.message)

    with ThreadPoolExecutor(max_workers=max(1, min(16, len(urls)))) as pool:
        rows = list(pool.map(one, sorted(urls.items())))
    return BrokerMetricsReport(cluster=cluster, source="jmx", brokers=rows, totals=_totals([r for r in rows if r.up]))


def promql(url: str, query: str, *, timeout: float) -> list[PromSeries]:
    """An instant PromQL query: each series' labels and value."""
    full = url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
    body = _get(full, timeout=timeout, what=f"Prometheus at {url}")
    try:
        data = json.loads(body)
    except ValueError:
        raise KafkaAgentError(f"Prometheus at {url} did not answer JSON.") from None
    if data.get("status") != "success":
        raise InvalidArgument(f"Prometheus refused the query: {str(data.get('error', 'unknown error'))[:300]}")
    result = data.get("data", {})
    if result.get("resultType") == "scalar":
        return [PromSeries(labels={}, value=_num(result.get("result", [None, None])[1]))]
    rows = []
    for item in result.get("result", []):
        labels = {str(k): str(v) for k, v in dict(item.get("metric", {})).items()}
        value = item.get("value", [None, None])
        rows.append(PromSeries(labels=labels, value=_num(value[1] if len(value) > 1 else None)))
    return rows


def _num(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def from_prometheus(
    cluster: str,
    url: str,
    *,
    timeout: float,
    selector: str | None = None,
    broker: int | None = None,
    topic: str | None = None,
) -> BrokerMetricsReport:
    """The same figures, read from Prometheus (series labelled ``broker``; ``selector`` narrows to one cluster)."""
    names = "|".join(p + ".*" for p in PREFIXES)
    topic_match = "|" + _escape(topic) if topic else ""
    matchers = [f'__name__=~"{names}"', 'broker!=""', f'topic=~"{topic_match}"']
    if broker is not None:
        matchers.append(f'broker="{broker}"')
    if selector:
        matchers.append(selector.strip().strip("{}"))
    rows = promql(url, "{" + ",".join(matchers) + "}", timeout=timeout)
    by_broker: dict[int, list[Series]] = {}
    for row in rows:
        try:
            bid = int(row.labels.get("broker", ""))
        except ValueError:
            continue
        if row.value is None:
            continue
        labels = {k: v for k, v in row.labels.items() if k not in ("__name__",)}
        by_broker.setdefault(bid, []).append(Series(row.labels.get("__name__", ""), labels, row.value))
    brokers = [summarize(b, s, topic=topic) for b, s in sorted(by_broker.items())]
    notes = [] if brokers else ["Prometheus holds no broker series (labels broker=<id>) for this selection."]
    return BrokerMetricsReport(
        cluster=cluster, source="prometheus", brokers=brokers, totals=_totals(brokers), notes=notes
    )


def _escape(text: str) -> str:
    import re

    return re.escape(text).replace("\\", "\\\\").replace('"', '\\"')


def broker_metrics(
    cluster: str,
    *,
    metrics_url: dict[int, str],
    prometheus_url: str | None,
    timeout: float,
    selector: str | None = None,
    broker: int | None = None,
    topic: str | None = None,
    query: str | None = None,
) -> BrokerMetricsReport:
    """The cluster's broker metrics from Prometheus when it has one, else from the brokers' agents; ``query`` runs
    PromQL as is (Prometheus only)."""
    if query is not None:
        if not prometheus_url:
            raise InvalidArgument(
                f"`query`: cluster {cluster!r} has no prometheus_url, and PromQL needs a Prometheus server.",
                hint="Leave query out to read the brokers' agents, or set prometheus_url for the cluster.",
            )
        rows = promql(prometheus_url, query, timeout=timeout)
        return BrokerMetricsReport(cluster=cluster, source="prometheus", query=query, series=rows[:500])
    if prometheus_url:
        return from_prometheus(cluster, prometheus_url, timeout=timeout, selector=selector, broker=broker, topic=topic)
    if metrics_url:
        return from_agents(cluster, metrics_url, timeout=timeout, broker=broker, topic=topic)
    raise ConfigError(
        f"Cluster {cluster!r} has no broker metrics configured.",
        hint="Start the dev cluster with `kafka-agent dev-cluster up --metrics` and set metrics_url (broker id -> "
        "URL) or prometheus_url for the cluster (KAFKA_AGENT_METRICS_URL / KAFKA_AGENT_PROMETHEUS_URL for the "
        "local one).",
    )
