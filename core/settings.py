"""One settings object for the whole project, read from ``KAFKA_AGENT_*`` variables and an optional clusters file.

The clusters file (YAML) names clusters; ``${VAR}`` and ``${VAR:-default}`` in it are replaced from the environment,
so secrets stay out of the file::

    default: prod
    clusters:
      prod:
        bootstrap_servers: kafka-1:9093,kafka-2:9093
        profile: production
        security_protocol: SASL_SSL
        sasl_mechanism: SCRAM-SHA-512
        sasl_username: ops
        sasl_password: ${PROD_KAFKA_PASSWORD}
        schema_registry_url: http://registry:8081
        connect_url: http://connect:8083

Without a file there is one cluster, ``local``, at ``KAFKA_AGENT_BOOTSTRAP_SERVERS``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError, UnknownCluster

Profile = Literal["production", "staging", "dev"]
ConsentMode = Literal["token", "elicit", "approve"]
# How a person consents to a destructive change when the cluster does not say: see core.gate.consent.
DEFAULT_CONSENT: dict[str, ConsentMode] = {"dev": "token", "staging": "elicit", "production": "approve"}
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "GSSAPI"]

_CLUSTER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def default_data_dir() -> Path:
    """The per-user data folder (XDG), where memory, audit log and run records live by default."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "kafka-streaming-agent"


class ClusterConfig(BaseModel):
    """One named Kafka cluster and the services around it."""

    name: str
    bootstrap_servers: str
    profile: Profile = "dev"
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: SecretStr | None = None
    client_properties: dict[str, str] = Field(
        default_factory=dict, description="Extra librdkafka properties passed to every client of this cluster."
    )
    schema_registry_url: str | None = None
    schema_registry_username: str | None = None
    schema_registry_password: SecretStr | None = None
    connect_url: str | None = None
    ksqldb_url: str | None = None
    ksqldb_username: str | None = None
    ksqldb_password: SecretStr | None = None
    metrics_url: dict[int, str] = Field(
        default_factory=dict,
        description="Broker id -> the /metrics URL of its Prometheus JMX exporter agent (kafka_broker_metrics, watch).",
    )
    prometheus_url: str | None = Field(
        None, description="A Prometheus server scraping the brokers (labels broker=<id>); preferred over metrics_url."
    )
    prometheus_selector: str | None = Field(
        None, description='Label matchers of this cluster\'s series in Prometheus, e.g. cluster="prod".'
    )
    consent: ConsentMode | None = Field(
        None,
        description="How a person consents to destructive changes: token (dev only), elicit (asked through the MCP "
        "client) or approve (out of band, `kafka-agent approvals`). Default by profile: dev token, staging elicit, "
        "production approve.",
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _CLUSTER_NAME.match(value):
            raise ValueError(f"cluster name {value!r} must be lowercase letters, digits, '-' or '_'")
        return value

    @model_validator(mode="after")
    def _check_consent(self) -> ClusterConfig:
        if self.consent == "token" and self.profile != "dev":
            raise ValueError(
                f"consent 'token' is for dev clusters only: a model that reads the token can confirm its own call. "
                f"Use 'elicit' or 'approve' for the {self.profile} cluster {self.name!r}"
            )
        return self

    def consent_mode(self) -> ConsentMode:
        return self.consent or DEFAULT_CONSENT[self.profile]

    def librdkafka_config(self) -> dict[str, str]:
        """The librdkafka properties for a client of this cluster (secrets included: never log this)."""
        conf: dict[str, str] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username is not None:
            conf["sasl.username"] = self.sasl_username
        if self.sasl_password is not None:
            conf["sasl.password"] = self.sasl_password.get_secret_value()
        if self.ssl_ca_location:
            conf["ssl.ca.location"] = self.ssl_ca_location
        if self.ssl_certificate_location:
            conf["ssl.certificate.location"] = self.ssl_certificate_location
        if self.ssl_key_location:
            conf["ssl.key.location"] = self.ssl_key_location
        if self.ssl_key_password is not None:
            conf["ssl.key.password"] = self.ssl_key_password.get_secret_value()
        conf.update(self.client_properties)
        return conf

    def java_properties(self) -> dict[str, str]:
        """The Kafka Java client properties equivalent to ``librdkafka_config`` (secrets included: never log this):
        SASL and a CA; a client certificate (mutual TLS) and ``client_properties`` (librdkafka's) are not carried
        over."""
        props = {"bootstrap.servers": self.bootstrap_servers, "security.protocol": self.security_protocol}
        if self.sasl_mechanism:
            props["sasl.mechanism"] = self.sasl_mechanism
            if self.sasl_username is not None and self.sasl_password is not None:
                module = (
                    "org.apache.kafka.common.security.plain.PlainLoginModule"
                    if self.sasl_mechanism == "PLAIN"
                    else "org.apache.kafka.common.security.scram.ScramLoginModule"
                )
                user = self.sasl_username.replace('"', '\\"')
                password = self.sasl_password.get_secret_value().replace('"', '\\"')
                props["sasl.jaas.config"] = f'{module} required username="{user}" password="{password}";'
        if self.ssl_ca_location:
            props["ssl.truststore.type"] = "PEM"
            props["ssl.truststore.location"] = self.ssl_ca_location
        return props

    def redacted(self) -> dict[str, Any]:
        """A view safe to show or log."""
        return self.model_dump(
            mode="json", exclude={"sasl_password", "ssl_key_password", "schema_registry_password", "ksqldb_password"}
        )


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate_env(text: str, env: dict[str, str] | None = None) -> str:
    """Replace ``${VAR}`` / ``${VAR:-default}``; a missing variable without a default is an error."""
    source = os.environ if env is None else env

    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in source:
            return source[name]
        if default is not None:
            return default
        raise ConfigError(
            f"The clusters file refers to ${{{name}}}, which is not set.",
            hint=f"Export {name} or give a default as ${{{name}:-value}}.",
        )

    return _ENV_REF.sub(repl, text)


class Settings(BaseSettings):
    """Everything configurable, from ``KAFKA_AGENT_*`` environment variables (or keyword arguments in tests)."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_AGENT_", extra="ignore", env_nested_delimiter="__")

    # Kafka
    bootstrap_servers: str = "127.0.0.1:9092"
    profile: Profile = "dev"
    clusters_file: Path | None = None
    default_cluster: str | None = None
    request_timeout_s: float = Field(15.0, gt=0, description="Timeout of one admin request.")
    tool_timeout_s: float = Field(120.0, gt=0, description="Upper bound for one tool call.")
    lag_cache_ttl_s: float = Field(2.0, ge=0, description="How long end offsets are cached for lag queries.")
    max_message_bytes_returned: int = Field(8192, gt=0, description="Cap on one record value returned by a tool.")

    # Safety
    read_only: bool = False
    allow_tools: list[str] = Field(default_factory=list)
    deny_tools: list[str] = Field(default_factory=list)
    protected_topics_pattern: str | None = None
    confirm_ttl_s: float = Field(300.0, gt=0, description="Life of a consent token.")
    approval_ttl_s: float = Field(86_400.0, gt=0, description="Life of a pending or granted approval.")
    consent: ConsentMode | None = Field(
        None, description="Consent mode of the single `local` cluster (without a clusters file); default by profile."
    )
    consent_store: Literal["local", "kafka"] = Field(
        "local",
        description="Where tokens and approvals live: local (SQLite in the data folder) or kafka (a compacted topic, "
        "for several servers behind a load balancer).",
    )
    consent_topic: str = Field("kafka-agent.consent", pattern=r"^[A-Za-z0-9._-]{1,249}$")
    consent_cluster: str | None = Field(None, description="Cluster holding the consent topic (default cluster).")
    audit_log: Path | None = None

    # Which tools a client sees (mcp_server/toolsets.py): default, all, toolset names, +name / -name
    toolsets: str = Field("default", max_length=500)
    dynamic_toolsets: bool = Field(
        False, description="Sessions start with the selection plus discovery tools and may enable more toolsets."
    )

    # HTTP transport
    http_host: str = "127.0.0.1"
    http_port: int = 8765
    http_token: SecretStr | None = None
    http_allowed_origins: list[str] = Field(default_factory=list)

    # Console (the web pages at /ui)
    console_token: SecretStr | None = Field(
        None,
        description="The people's credential for the console (login form or bearer); default: KAFKA_AGENT_HTTP_TOKEN. "
        "Set it apart from the MCP token so that a machine holding the MCP token cannot decide approvals.",
    )
    console_sample_s: float = Field(
        10.0, ge=0, description="How often the console samples consumer lag for its charts (0: no sampler)."
    )
    console_session_ttl_s: float = Field(43_200.0, gt=0, description="Life of a console login session.")

    # Memory
    data_dir: Path = Field(default_factory=default_data_dir)
    chroma_path: Path | None = None
    chroma_url: str | None = None
    embedding_model: str = "all-MiniLM-L6-v2"
    embedding_backend: Literal["onnx", "torch"] = Field(
        "onnx", description="What runs the embedding model: ONNX Runtime (exported once, then no torch) or torch."
    )
    memory_allow_custom_types: bool = True
    memory_search_cache_rows: int = Field(
        200_000,
        ge=0,
        description="Filtered vector_search keeps an in-process copy of each cluster collection's vectors and filter "
        "fields (embedded Chroma only; about 2 KB per entry); collections bigger than this are searched in Chroma "
        "alone. 0 turns the copy off.",
    )

    # Agent
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    model: str = "claude-sonnet-5-5"
    max_turns: int = Field(30, ge=1, le=1000)
    max_input_tokens_per_run: int = Field(
        300_000,
        ge=1000,
        description="Uncached input a run may send (input plus cache writes; cache reads are reported apart), checked "
        "before each turn against an estimate of the next request.",
    )
    max_output_tokens_per_run: int = Field(60_000, ge=1000, description="Output tokens a run may use.")
    max_output_tokens_per_turn: int = Field(8192, ge=256, le=128_000, description="max_tokens of one model request.")
    max_continuations: int = Field(
        2, ge=0, le=10, description="Replies in a row cut off at max_tokens that the run asks the model to continue."
    )
    phase_tools: bool = Field(True, description="Send the model only the tools the current phase allows.")
    cache_conversation: bool = Field(True, description="Cache breakpoints on the conversation, not only the prefix.")
    tool_search: Literal["off", "bm25", "regex"] = Field(
        "bm25",
        description="Anthropic's tool search: the phase's tools are sent with defer_loading and the model finds them "
        "on demand; off sends the phase's tools in full (a model without tool search falls back to that by itself).",
    )
    max_run_seconds: float = 900.0
    approval: Literal["ask", "never", "auto"] = "ask"
    mcp_servers_file: Path | None = None
    agents_topic_prefix: str = Field(
        "agents", pattern=r"^[A-Za-z0-9._-]+$", description="Prefix of the delegation topics (<prefix>.<peer>.tasks)."
    )

    # Stream runners (one JVM per application instance)
    streams_heap: str = Field("256m", pattern=r"^\d+[kKmMgG]$", description="Heap (-Xmx) of each stream runner JVM.")
    streams_threads: int = Field(1, ge=1, le=32, description="Kafka Streams stream threads per runner instance.")
    streams_host: str = Field(
        "127.0.0.1",
        description="Address each runner's HTTP endpoint binds and advertises (application.server): other instances "
        "of the same application, on other machines, forward interactive queries to it.",
    )
    streams_max_restarts: int = Field(
        10,
        ge=0,
        le=1000,
        description="A crashed runner is restarted with backoff; after this many failed starts in "
        "a row (each lasting under a minute) the supervisor gives up and the application is reported failed.",
    )

    # Dev cluster
    devcluster_home: Path | None = None

    # Broker metrics of the single `local` cluster (a clusters file names them per cluster)
    metrics_url: dict[int, str] = Field(
        default_factory=dict, description="Broker id -> /metrics URL of its JMX exporter agent (local cluster)."
    )
    prometheus_url: str | None = Field(None, description="Prometheus scraping the local cluster's brokers.")

    # Watch (`kafka-agent watch`) and lag evaluation (kafka_consumer_lag, the exporter, `lag --watch`)
    watch_interval_s: float = Field(5.0, gt=0, le=3600, description="Seconds between two samples of a cluster.")
    lag_window_s: float = Field(
        60.0, gt=0, le=86_400, description="Lag evaluation window: a consumer whose offset does not move for it STALLs."
    )
    lag_stop_s: float | None = Field(
        None, gt=0, le=86_400, description="No offset move for this long is STOP (default: twice the window)."
    )
    lag_sample_s: float = Field(
        10.0,
        ge=0,
        le=3600,
        description="The MCP server samples lag this often for kafka_consumer_lag statuses (0: off).",
    )
    incidents_topic: str = Field("agents.incidents", pattern=r"^[A-Za-z0-9._-]{1,249}$")
    watch_group: str = Field(
        "kafka-agent-watch", pattern=r"^[A-Za-z0-9._-]{1,200}$", description="Consumer group of the watch processes."
    )
    watch_cluster: str | None = Field(
        None, description="Cluster holding the incidents topic and the watch group (default: the default cluster)."
    )
    watch_latency_ms: float | None = Field(
        None, gt=0, description="p99 produce/fetch latency that opens an incident (default by the cluster's profile)."
    )

    # Platform as code (gitops/): where the MCP tools keep platform files and saved plans
    platform_dir: Path | None = Field(
        None, description="Folder of the platform files and plans the MCP tools use (default <data_dir>/platform)."
    )

    def resolved_chroma_path(self) -> Path:
        return self.chroma_path or (self.data_dir / "memory")

    def resolved_audit_log(self) -> Path:
        return self.audit_log or (self.data_dir / "audit.jsonl")

    def resolved_devcluster_home(self) -> Path:
        return self.devcluster_home or (self.data_dir / "devcluster")

    def resolved_platform_dir(self) -> Path:
        return self.platform_dir or (self.data_dir / "platform")

    def clusters(self) -> dict[str, ClusterConfig]:
        """The named clusters: from the clusters file when set, else the single ``local`` cluster."""
        cached: dict[str, ClusterConfig] | None = getattr(self, "_clusters_cache", None)
        if cached is not None:
            return cached
        clusters = self._load_clusters()
        object.__setattr__(self, "_clusters_cache", clusters)
        return clusters

    def _load_clusters(self) -> dict[str, ClusterConfig]:
        if self.clusters_file is None:
            try:
                local = ClusterConfig(
                    name="local",
                    bootstrap_servers=self.bootstrap_servers,
                    profile=self.profile,
                    consent=self.consent,
                    metrics_url=self.metrics_url,
                    prometheus_url=self.prometheus_url,
                )
            except ValueError as exc:
                raise ConfigError(f"KAFKA_AGENT_CONSENT: {exc}") from None
            return {"local": local}
        import yaml

        try:
            raw_text = self.clusters_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"Cannot read the clusters file {self.clusters_file}: {exc.strerror}.",
                hint="Fix KAFKA_AGENT_CLUSTERS_FILE or create the file.",
            ) from exc
        try:
            data = yaml.safe_load(interpolate_env(raw_text)) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"The clusters file {self.clusters_file} is not valid YAML: {exc}.") from exc
        entries = data.get("clusters") if isinstance(data, dict) else None
        if not isinstance(entries, dict) or not entries:
            raise ConfigError(
                f"The clusters file {self.clusters_file} has no 'clusters:' mapping.",
                hint="Add clusters: {name: {bootstrap_servers: host:port}}.",
            )
        clusters: dict[str, ClusterConfig] = {}
        for name, body in entries.items():
            try:
                clusters[str(name)] = ClusterConfig.model_validate({**(body or {}), "name": str(name)})
            except ValueError as exc:
                raise ConfigError(f"Cluster {name!r} in {self.clusters_file} is invalid: {exc}") from exc
        default = data.get("default")
        if default is not None and self.default_cluster is None:
            object.__setattr__(self, "default_cluster", str(default))
        return clusters

    def cluster(self, name: str | None, *, argument: str = "cluster") -> ClusterConfig:
        """The named cluster, or the default one; a clear error names the configured ones."""
        clusters = self.clusters()
        key = name or self.default_cluster or next(iter(clusters))
        try:
            return clusters[key]
        except KeyError:
            shown = repr(key) if len(key) <= 60 else repr(key[:57] + "...")
            raise UnknownCluster(
                f"`{argument}`: {shown} is not a configured cluster.",
                hint=f"Use one of: {', '.join(sorted(clusters))} (or add it to the clusters file).",
            ) from None
