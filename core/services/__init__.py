"""REST services around a cluster (Schema Registry, Kafka Connect): httpx clients that raise our errors, the
Avro serde in the Confluent wire format, and the local Avro compatibility explainer."""
