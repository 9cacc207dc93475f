"""Kafka clients per named cluster, created on first use and closed with the server.

The server lifespan owns one ``KafkaClients``; tools ask it for the admin client (or a producer) of a cluster.
Consumers are never pooled: each read makes its own, assign-based, and closes it.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from core.errors import Unreachable, translate_kafka_error
from core.settings import ClusterConfig, Settings

if TYPE_CHECKING:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient


LIBRDKAFKA_LOG = logging.getLogger("kafka_agent.librdkafka")
LIBRDKAFKA_LOG.setLevel(logging.CRITICAL)


class KafkaClients:
    """Lazily created admin clients and producers, one per named cluster."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._admins: dict[str, AdminClient] = {}
        self._producers: dict[str, Producer] = {}
        self._last_errors: dict[str, str] = {}
        self._known: dict[str, dict[int, tuple[str, int]]] = {}  # every broker address seen, per cluster
        self._reachable: dict[str, float] = {}  # cluster -> until when a bootstrap address was known to answer

    def cluster(self, name: str | None, *, argument: str = "cluster") -> ClusterConfig:
        return self.settings.cluster(name, argument=argument)

    def base_config(self, name: str | None) -> dict[str, Any]:
        cfg: dict[str, Any] = dict(self.cluster(name).librdkafka_config())
        cfg.setdefault("client.id", "kafka-streaming-agent")
        # librdkafka's own log lines (connection refused, retries ...) go through logging, not raw stderr;
        # failures reach the caller as errors anyway.
        cfg["logger"] = LIBRDKAFKA_LOG
        cluster_name = self.cluster(name).name

        def on_error(err: Any) -> None:
            # Remember the last client-level error (e.g. a rejected SASL login), so a later timeout can say why.
            self._last_errors[cluster_name] = f"{err.name()}: {err.str()}"

        cfg["error_cb"] = on_error
        return cfg

    def last_error(self, name: str | None) -> str | None:
        """The last client-level error librdkafka reported for this cluster (authentication, transport ...)."""
        key = self.cluster(name).name
        admin = self._admins.get(key)
        if admin is not None:
            admin.poll(0)  # error callbacks are served from poll()
        return self._last_errors.get(key)

    def admin(self, name: str | None) -> AdminClient:
        from confluent_kafka.admin import AdminClient

        cluster = self.cluster(name)
        self.require_answering(cluster.name)
        with self._lock:
            client = self._admins.get(cluster.name)
            if client is None:
                conf = self.base_config(cluster.name)
                conf.setdefault("socket.connection.setup.timeout.ms", 5000)
                client = AdminClient(conf)
                self._admins[cluster.name] = client
            return client

    def producer(self, name: str | None) -> Producer:
        """A shared idempotent producer with acks=all (librdkafka defaults idempotence off: we set it)."""
        from confluent_kafka import Producer

        cluster = self.cluster(name)
        self.require_answering(cluster.name)
        with self._lock:
            producer = self._producers.get(cluster.name)
            if producer is None:
                conf = self.base_config(cluster.name)
                conf.update(
                    {
                        "enable.idempotence": True,
                        "acks": "all",
                        "linger.ms": 5,
                        "message.timeout.ms": int(self.settings.request_timeout_s * 2000),
                    }
                )
                producer = Producer(conf)
                self._producers[cluster.name] = producer
            return producer

    def consumer_config(self, name: str | None, **overrides: Any) -> dict[str, Any]:
        """Config for a throwaway assign-based consumer: no auto commit, read_committed, a unique group id."""
        import uuid

        self.require_answering(self.cluster(name).name)
        conf = self.base_config(name)
        conf.update(
            {
                "group.id": f"kafka-agent-reader-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "isolation.level": "read_committed",
                "auto.offset.reset": "earliest",
            }
        )
        conf.update(overrides)
        return conf

    def fresh_admin(self, name: str | None) -> AdminClient:
        """An admin client made for one look at the cluster: no cached metadata, short connection set-up."""
        from confluent_kafka.admin import AdminClient

        conf = self.base_config(name)
        conf["socket.connection.setup.timeout.ms"] = 2000
        conf["client.id"] = "kafka-streaming-agent-observer"
        return AdminClient(conf)

    def known_brokers(self, name: str | None) -> dict[int, tuple[str, int]]:
        with self._lock:
            return dict(self._known.get(self.cluster(name).name, {}))

    def remember_brokers(self, name: str | None, addresses: dict[int, tuple[str, int]]) -> None:
        with self._lock:
            self._known.setdefault(self.cluster(name).name, {}).update(addresses)

    def require_answering(self, name: str) -> None:
        """Fail fast, naming the address and the reason, when no bootstrap address accepts a connection at all.

        A refused connection or an unknown host is known in milliseconds, while librdkafka would retry until the
        request timeout. A cluster that accepts connections but answers slowly still gets the configured timeout.
        An answering cluster is not probed again for a few seconds.
        """
        import time

        from core.kafka.observe import parse_address, probe_all

        now = time.monotonic()
        if self._reachable.get(name, 0.0) > now:
            return
        cluster = self.cluster(name)
        seeds = [a for a in (parse_address(s) for s in cluster.bootstrap_servers.split(",")) if a is not None]
        if not seeds:
            raise Unreachable(
                f"Cluster {name!r}: bootstrap_servers {cluster.bootstrap_servers[:200]!r} holds no host:port address.",
                hint="Fix bootstrap_servers in the clusters file (or KAFKA_AGENT_BOOTSTRAP_SERVERS).",
            )
        results = probe_all(seeds, timeout=1.5)
        if any(reason is None for reason in results.values()):
            self._reachable[name] = now + 5.0
            return
        why = "; ".join(f"{h}:{p}: {reason}" for (h, p), reason in sorted(results.items()))
        raise Unreachable(
            f"Cannot reach cluster {name!r} at {cluster.bootstrap_servers}: {why}.",
            hint="Start it (kafka-agent dev-cluster up for the local one) or fix its bootstrap_servers.",
        )

    def ensure_reachable(self, name: str | None) -> None:
        """Raise ``Unreachable`` naming the address tried when no broker answers metadata."""
        cluster = self.cluster(name)
        try:
            self.admin(cluster.name).list_topics(timeout=min(self.settings.request_timeout_s, 10))
        except Exception as exc:
            err = translate_kafka_error(
                exc, what=f"connect to cluster {cluster.name!r}", bootstrap=cluster.bootstrap_servers
            )
            if isinstance(err, Unreachable):
                raise err from None
            raise Unreachable(
                f"Could not reach cluster {cluster.name!r} at {cluster.bootstrap_servers}: {err.message}",
                hint="Start it with `kafka-agent dev-cluster up`, or fix the bootstrap servers.",
            ) from None

    def close(self) -> None:
        with self._lock:
            for producer in self._producers.values():
                producer.flush(5)
            self._producers.clear()
            self._admins.clear()
