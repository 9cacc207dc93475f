package io.ksa.streams.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ksa.streams.Spec;
import io.ksa.streams.TopologyFactory;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.TimeWindows;

/**
 * Windowed-count throughput: the generic runner's topology (built from a spec) or the same topology written by hand.
 *
 * <pre>java io.ksa.streams.bench.StreamsBench --mode runner|hand --spec spec.json --config client.properties
 *      --state-dir DIR --records N</pre>
 *
 * Counts records folded into the window aggregate (after the repartition), and prints one JSON line with the
 * records/s between the first and the N-th record. One stream thread, the spec's processing guarantee, in both.
 */
public final class StreamsBench {
    private static final ObjectMapper JSON = new ObjectMapper();

    private StreamsBench() {}

    /** The seed's windowed count as a Kafka Streams user would write it: JSON in, group by user_id, count, JSON out. */
    static Topology handWritten(String source, String sink, long windowMs, long graceMs, AtomicLong counted) {
        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(source, Consumed.with(Serdes.String(), Serdes.String()))
                .groupBy((k, v) -> userId(v), Grouped.with(Serdes.String(), Serdes.String()))
                .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMillis(windowMs), Duration.ofMillis(graceMs)))
                .aggregate(() -> 0L, (k, v, agg) -> {
                    counted.incrementAndGet();
                    return agg + 1;
                }, Materialized.with(Serdes.String(), Serdes.Long()))
                .toStream()
                .map((wk, count) -> KeyValue.pair(wk.key(), "{\"user_id\":" + quote(wk.key()) + ",\"window_start\":"
                        + wk.window().start() + ",\"window_end\":" + wk.window().end() + ",\"count\":" + count + "}"))
                .to(sink, Produced.with(Serdes.String(), Serdes.String()));
        return builder.build();
    }

    private static String userId(String json) {
        try {
            JsonNode node = JSON.readTree(json).get("user_id");
            return node == null ? null : node.asText();
        } catch (Exception e) {
            return null;
        }
    }

    private static String quote(String s) {
        try {
            return JSON.writeValueAsString(s);
        } catch (Exception e) {
            return "\"\"";
        }
    }

    public static void main(String[] args) throws Exception {
        java.util.Map<String, String> opts = new java.util.HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            opts.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        }
        Spec spec = Spec.read(new File(opts.get("spec")));
        long records = Long.parseLong(opts.get("records"));
        Properties props = new Properties();
        try (var in = Files.newInputStream(Path.of(opts.get("config")))) {
            props.load(in);
        }
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, spec.applicationId);
        props.put(StreamsConfig.STATE_DIR_CONFIG, opts.get("state-dir"));
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, "1");
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, spec.processingGuarantee);
        props.put("auto.offset.reset", "earliest");
        props.putAll(spec.properties);
        AtomicLong counted;
        Topology topology;
        if (opts.get("mode").equals("hand")) {
            counted = new AtomicLong();
            Spec.Window w = spec.aggregate.window;
            topology = handWritten(spec.source.topic, spec.sink.topic, w.sizeMs, w.graceMs == null ? 0L : w.graceMs, counted);
        } else {
            TopologyFactory.Built built = TopologyFactory.build(spec);
            counted = built.aggregated;
            topology = built.topology;
        }
        try (KafkaStreams streams = new KafkaStreams(topology, props)) {
            streams.start();
            long first = 0;
            long maxSeconds = Long.parseLong(opts.getOrDefault("max-seconds", "600"));
            long deadline = System.nanoTime() + Duration.ofSeconds(maxSeconds).toNanos();
            long lastReport = System.nanoTime();
            while (counted.get() < records && System.nanoTime() < deadline) {
                if (streams.state() == KafkaStreams.State.ERROR || streams.state() == KafkaStreams.State.PENDING_ERROR
                        || streams.state() == KafkaStreams.State.NOT_RUNNING) {
                    System.err.println("the application failed: " + streams.state());
                    System.exit(1);
                }
                if (first == 0 && counted.get() > 0) {
                    first = System.nanoTime();
                }
                Thread.sleep(5);
                if (System.nanoTime() - lastReport > 5_000_000_000L) {
                    lastReport = System.nanoTime();
                    System.err.println("progress: " + counted.get() + " state " + streams.state());
                }
            }
            long done = System.nanoTime();
            long n = counted.get();
            if (n < records) {
                System.err.println("only " + n + " of " + records + " records were aggregated before the deadline");
                System.exit(1);
            }
            double seconds = (done - first) / 1e9;
            System.out.println("{\"mode\": \"" + opts.get("mode") + "\", \"records\": " + n + ", \"seconds\": " + seconds
                    + ", \"records_per_s\": " + (n / seconds) + "}");
            streams.close(Duration.ofSeconds(30));
        }
    }
}
