package io.ksa.streams;

import java.io.File;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.test.TestRecord;

/**
 * Runs specs on Kafka's TopologyTestDriver (the real topology, without a broker), for checking what SQL compiles to
 * against independently computed results, cheaply and in one JVM.
 *
 * <pre>java io.ksa.streams.Simulate cases.json results.json</pre>
 *
 * cases.json: {"cases": [{"id": ..., "spec": {...}, "inputs": [{"topic", "key", "value", "ts"}...],
 * "avro": {topic: {"id": n, "schema": "..."}}}]}; results.json: {id: {"output": [{"key", "value", "ts"}...],
 * "failed_records": n, "recent_failures": [...], "late_records": n} or {"error": "..."}}.
 */
public final class Simulate {
    private Simulate() {}

    @SuppressWarnings("unchecked")
    public static void main(String[] args) throws Exception {
        Map<String, Object> doc = Values.JSON.readValue(new File(args[0]), Map.class);
        Map<String, Object> results = new LinkedHashMap<>();
        for (Object raw : (List<Object>) doc.get("cases")) {
            Map<String, Object> c = (Map<String, Object>) raw;
            String id = String.valueOf(c.get("id"));
            try {
                results.put(id, run(c));
            } catch (Exception | Error e) {
                results.put(id, Map.of("error", e.getClass().getSimpleName() + ": " + e.getMessage()));
            }
        }
        Values.JSON.writeValue(new File(args[1]), results);
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> run(Map<String, Object> c) throws Exception {
        Failures.GLOBAL.reset();
        Spec spec = Spec.parse(Values.JSON.writeValueAsString(c.get("spec")));
        Map<String, Map<String, Object>> avro = (Map<String, Map<String, Object>>) c.getOrDefault("avro", Map.of());
        TopologyFactory.Built built = TopologyFactory.build(spec);
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, "simulate-" + spec.name);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "dummy:1234");
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, "0");
        // the same results as RocksDB stores, without their start-up cost per case
        p.put(StreamsConfig.DSL_STORE_SUPPLIERS_CLASS_CONFIG,
                org.apache.kafka.streams.state.BuiltInDslStoreSuppliers.InMemoryDslStoreSuppliers.class);
        p.putAll(spec.properties);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
        Map<String, Object> out = new LinkedHashMap<>();
        try (TopologyTestDriver driver = new TopologyTestDriver(built.topology, p)) {
            Map<String, TestInputTopic<String, Object>> inputs = new LinkedHashMap<>();
            for (Object o : (List<Object>) c.getOrDefault("inputs", List.of())) {
                Map<String, Object> rec = (Map<String, Object>) o;
                String topic = (String) rec.get("topic");
                if (!topic.equals(spec.source.topic) && (spec.join == null || !topic.equals(spec.join.topic))) {
                    continue; // another case's input
                }
                TestInputTopic<String, Object> in = inputs.computeIfAbsent(topic, t -> input(driver, spec, t, avro));
                Object key = rec.get("key");
                long ts = ((Number) rec.getOrDefault("ts", 0L)).longValue();
                in.pipeInput(new TestRecord<>(key == null ? null : String.valueOf(key), rec.get("value"),
                        Instant.ofEpochMilli(ts)));
            }
            TestOutputTopic<String, Object> sink = driver.createOutputTopic(spec.sink.topic,
                    Keys.serde(spec.sink.keyFormat, spec.sink.keyType).deserializer(),
                    TopologyFactory.valueSerde(spec.sink.valueFormat, spec.sink.avroSchema, spec.sink.avroSchemaId)
                            .deserializer());
            List<Map<String, Object>> records = new ArrayList<>();
            for (TestRecord<String, Object> r : sink.readRecordsToList()) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("key", r.key());
                m.put("value", r.value());
                m.put("ts", r.timestamp());
                records.add(m);
            }
            out.put("output", records);
            if (built.storeKind != null) {
                out.put("store", store(driver, built));
            }
        }
        out.put("failed_records", Failures.GLOBAL.count());
        out.put("recent_failures", Failures.GLOBAL.recent());
        out.put("late_records", built.late.get());
        return out;
    }

    /** Every row the application's store shows now (what a pull query would read). */
    private static List<Map<String, Object>> store(TopologyTestDriver driver, TopologyFactory.Built built) {
        List<Map<String, Object>> rows = new ArrayList<>();
        switch (built.storeKind) {
            case "kv" -> {
                try (var it = driver.<String, Object>getKeyValueStore(built.store).all()) {
                    it.forEachRemaining(kv -> add(rows, built.present(kv.key, null, null, kv.value)));
                }
            }
            case "window" -> {
                try (var it = driver.<String, Object>getWindowStore(built.store).all()) {
                    it.forEachRemaining(kv -> add(rows, built.present(kv.key.key(), kv.key.window().start(),
                            kv.key.window().end(), kv.value)));
                }
            }
            default -> {
                try (var it = driver.<String, Object>getSessionStore(built.store)
                        .findSessions(null, null, 0L, Long.MAX_VALUE)) {
                    it.forEachRemaining(kv -> add(rows, built.present(kv.key.key(), kv.key.window().start(),
                            kv.key.window().end(), kv.value)));
                }
            }
        }
        return rows;
    }

    private static void add(List<Map<String, Object>> rows, Map<String, Object> row) {
        if (row != null) {
            rows.add(row);
        }
    }

    private static TestInputTopic<String, Object> input(TopologyTestDriver driver, Spec spec, String topic,
                                                        Map<String, Map<String, Object>> avro) {
        String keyFormat = spec.source.keyFormat;
        String keyType = spec.source.keyType;
        String valueFormat = spec.source.valueFormat;
        if (spec.join != null && topic.equals(spec.join.topic) && !topic.equals(spec.source.topic)) {
            keyFormat = spec.join.keyFormat;
            keyType = spec.join.keyType;
            valueFormat = spec.join.valueFormat;
        }
        Map<String, Object> writer = avro.get(topic);
        Serde<Object> values = "avro".equals(valueFormat) && writer != null
                ? AvroSupport.serde((String) writer.get("schema"), ((Number) writer.get("id")).intValue())
                : "delimited".equals(valueFormat) ? Values.string() // the test gives the text of the record
                : Values.serde(valueFormat == null || valueFormat.equals("avro") ? "json" : valueFormat);
        Serde<String> keys = keyFormat == null ? Serdes.String() : Keys.serde(keyFormat, keyType);
        return driver.createInputTopic(topic, keys.serializer(), values.serializer());
    }
}
