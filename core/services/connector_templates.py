"""Connector configs for the common connectors, from a few arguments: secrets as ``${file:...}`` references
(the worker needs ``config.providers=file``), keys set with the ValueToKey + ExtractField SMTs, dead-letter queues
for sinks. The worker validates the result when the plugin is installed (see ``kafka.connect.validate_config``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from core.errors import InvalidArgument

ConnectorKind = Literal[
    "jdbc-source",
    "s3-sink",
    "elasticsearch-sink",
    "mongodb-source",
    "mongodb-sink",
    "debezium-postgres",
    "file-source",
    "file-sink",
]

CLASSES: dict[str, str] = {
    "jdbc-source": "io.confluent.connect.jdbc.JdbcSourceConnector",
    "s3-sink": "io.confluent.connect.s3.S3SinkConnector",
    "elasticsearch-sink": "io.confluent.connect.elasticsearch.ElasticsearchSinkConnector",
    "mongodb-source": "com.mongodb.kafka.connect.MongoSourceConnector",
    "mongodb-sink": "com.mongodb.kafka.connect.MongoSinkConnector",
    "debezium-postgres": "io.debezium.connector.postgresql.PostgresConnector",
    "file-source": "org.apache.kafka.connect.file.FileStreamSourceConnector",
    "file-sink": "org.apache.kafka.connect.file.FileStreamSinkConnector",
}

DEFAULT_SECRETS_FILE = "/etc/kafka-connect/secrets.properties"


class ConnectorSpec(BaseModel):
    kind: ConnectorKind
    name: str
    topics: list[str] = Field(default_factory=list)
    topic_prefix: str | None = None
    connection: str | None = None
    database: str | None = None
    tables: list[str] = Field(default_factory=list)
    incrementing_column: str = "id"
    key_field: str | None = None
    bucket: str | None = None
    region: str = "us-east-1"
    file: str | None = None
    tasks_max: int = 1
    secrets_file: str = DEFAULT_SECRETS_FILE
    schema_registry_url: str | None = None
    options: dict[str, str] = Field(default_factory=dict)


class GeneratedConfig(BaseModel):
    name: str
    kind: str
    connector_class: str
    config: dict[str, str]
    secret_references: list[str] = Field(description="Keys the secrets file must define (key = value lines).")
    notes: list[str]


def _need(value: str | None, what: str, kind: str) -> str:
    if not value:
        raise InvalidArgument(f"A {kind} connector needs {what}.", hint=f"Pass {what}.")
    return value


def _secret(spec: ConnectorSpec, key: str, refs: list[str]) -> str:
    refs.append(key)
    return f"${{file:{spec.secrets_file}:{key}}}"


def _key_smts(field: str) -> dict[str, str]:
    return {
        "transforms": "createKey,extractKey",
        "transforms.createKey.type": "org.apache.kafka.connect.transforms.ValueToKey",
        "transforms.createKey.fields": field,
        "transforms.extractKey.type": "org.apache.kafka.connect.transforms.ExtractField$Key",
        "transforms.extractKey.field": field,
    }


def _dlq(name: str) -> dict[str, str]:
    return {
        "errors.tolerance": "all",
        "errors.deadletterqueue.topic.name": f"dlq-{name}",
        "errors.deadletterqueue.context.headers.enable": "true",
        "errors.log.enable": "true",
    }


def _avro(spec: ConnectorSpec, notes: list[str]) -> dict[str, str]:
    if not spec.schema_registry_url:
        notes.append("No schema registry URL: set value.converter.schema.registry.url before using Avro.")
    return {
        "value.converter": "io.confluent.connect.avro.AvroConverter",
        "value.converter.schema.registry.url": spec.schema_registry_url or "http://schema-registry:8081",
    }


def generate(spec: ConnectorSpec) -> GeneratedConfig:
    kind, name = spec.kind, spec.name
    refs: list[str] = []
    notes: list[str] = []
    # the name is part of the config the worker validates (and needs when the config is PUT or POSTed as it is)
    conf: dict[str, str] = {"name": name, "connector.class": CLASSES[kind], "tasks.max": str(spec.tasks_max)}
    if kind == "jdbc-source":
        tables = spec.tables or [_need(None, "tables", kind)]
        conf |= {
            "connection.url": _need(spec.connection, "connection (a JDBC URL)", kind),
            "connection.user": _secret(spec, "jdbc.user", refs),
            "connection.password": _secret(spec, "jdbc.password", refs),
            "mode": "incrementing",
            "incrementing.column.name": spec.incrementing_column,
            "table.whitelist": ",".join(tables),
            "topic.prefix": spec.topic_prefix or "jdbc-",
            "poll.interval.ms": "5000",
            "validate.non.null": "true",
        }
        conf |= _key_smts(spec.key_field or spec.incrementing_column)
        notes.append(
            f"Incrementing mode reads rows whose {spec.incrementing_column} is above the last one seen: it needs a "
            "strictly increasing, non-null column and misses updates (use timestamp+incrementing for those)."
        )
    elif kind == "s3-sink":
        conf |= {
            "topics": ",".join(spec.topics or [_need(None, "topics", kind)]),
            "s3.bucket.name": _need(spec.bucket, "bucket", kind),
            "s3.region": spec.region,
            "aws.access.key.id": _secret(spec, "aws.access.key.id", refs),
            "aws.secret.access.key": _secret(spec, "aws.secret.access.key", refs),
            "storage.class": "io.confluent.connect.s3.storage.S3Storage",
            "format.class": "io.confluent.connect.s3.format.parquet.ParquetFormat",
            "parquet.codec": "snappy",
            "partitioner.class": "io.confluent.connect.storage.partitioner.TimeBasedPartitioner",
            "path.format": "'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH",
            "partition.duration.ms": "3600000",
            "locale": "en-US",
            "timezone": "UTC",
            "timestamp.extractor": "Record",
            "flush.size": "1000",
            "rotate.interval.ms": "600000",
        }
        conf |= _avro(spec, notes) | _dlq(name)
        notes.append("Parquet needs records with a schema: the values are read with the Avro converter.")
    elif kind == "elasticsearch-sink":
        conf |= {
            "topics": ",".join(spec.topics or [_need(None, "topics", kind)]),
            "connection.url": _need(spec.connection, "connection (the Elasticsearch URL)", kind),
            "connection.username": _secret(spec, "elasticsearch.user", refs),
            "connection.password": _secret(spec, "elasticsearch.password", refs),
            "key.ignore": "false",
            "schema.ignore": "true",
            "write.method": "upsert",
            "behavior.on.null.values": "delete",
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        }
        conf |= _dlq(name)
        notes.append("Document ids come from the record key (key.ignore=false): upserts, and tombstones delete.")
    elif kind in ("mongodb-source", "mongodb-sink"):
        conf |= {
            "connection.uri": _secret(spec, "mongodb.uri", refs),
            "database": _need(spec.database, "database", kind),
        }
        if kind == "mongodb-source":
            conf |= {
                "collection": spec.tables[0] if spec.tables else "",
                "topic.prefix": spec.topic_prefix or "mongo",
                "publish.full.document.only": "true",
                "startup.mode": "copy_existing",
            }
            if not spec.tables:
                del conf["collection"]
                notes.append("No collection given: every collection of the database is watched.")
        else:
            conf |= {
                "topics": ",".join(spec.topics or [_need(None, "topics", kind)]),
                "collection": _need(spec.tables[0] if spec.tables else None, "tables (the collection)", kind),
                "document.id.strategy": "com.mongodb.kafka.connect.sink.processor.id.strategy.ProvidedInKeyStrategy",
                "writemodel.strategy": "com.mongodb.kafka.connect.sink.writemodel.strategy.ReplaceOneDefaultStrategy",
            }
            conf |= _dlq(name)
        notes.append("The MongoDB URI (with its password) is read from the secrets file, never stored in Connect.")
    elif kind == "debezium-postgres":
        host, _, port = _need(spec.connection, "connection (host:port of PostgreSQL)", kind).partition(":")
        conf |= {
            "database.hostname": host,
            "database.port": port or "5432",
            "database.user": _secret(spec, "postgres.user", refs),
            "database.password": _secret(spec, "postgres.password", refs),
            "database.dbname": _need(spec.database, "database", kind),
            "topic.prefix": spec.topic_prefix or name,
            "plugin.name": "pgoutput",
            "slot.name": name.replace("-", "_"),
            "publication.name": f"{name.replace('-', '_')}_pub",
            "snapshot.mode": "initial",
            "tasks.max": "1",
            "transforms": "unwrap",
            "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
            "transforms.unwrap.drop.tombstones": "false",
            "transforms.unwrap.delete.handling.mode": "rewrite",
        }
        if spec.tables:
            conf["table.include.list"] = ",".join(spec.tables)
        notes.append("PostgreSQL needs wal_level=logical and a user with REPLICATION; one task per connector.")
    elif kind == "file-source":
        conf |= {
            "file": _need(spec.file, "file", kind),
            "topic": (spec.topics or [_need(None, "topics", kind)])[0],
        }
    else:
        conf |= {
            "file": _need(spec.file, "file", kind),
            "topics": ",".join(spec.topics or [_need(None, "topics", kind)]),
        }
    conf |= spec.options
    if refs:
        notes.append(
            f"Secrets are ${{file:...}} references to {spec.secrets_file} on the worker (config.providers=file, "
            "config.providers.file.class=org.apache.kafka.common.config.provider.FileConfigProvider)."
        )
    return GeneratedConfig(
        name=name, kind=kind, connector_class=CLASSES[kind], config=conf, secret_references=refs, notes=notes
    )
