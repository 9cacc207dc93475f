"""Stream processing on Apache Kafka Streams: specs, CEL-subset validation, runner processes, streaming SQL."""
