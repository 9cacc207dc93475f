package io.ksa.streams;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.LogAndContinueExceptionHandler;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.apache.kafka.streams.state.ReadOnlySessionStore;
import org.apache.kafka.streams.state.ReadOnlyWindowStore;
import org.apache.kafka.streams.state.WindowStoreIterator;

/**
 * Runs one spec as a Kafka Streams application, with a local HTTP endpoint on 127.0.0.1.
 *
 * <pre>java io.ksa.streams.Runner --spec spec.json --config client.properties --state-dir DIR --port-file FILE</pre>
 *
 * GET /health, /topology, /metrics, /query?key=K | from=A&to=B | all=true [&time_from=ms&time_to=ms].
 */
public final class Runner {
    private final Spec spec;
    private final TopologyFactory.Built built;
    private final KafkaStreams streams;
    private final long startedAt = System.currentTimeMillis();
    private volatile String lastError;

    Runner(Spec spec, Properties props) {
        this.spec = spec;
        this.built = TopologyFactory.build(spec);
        this.streams = new KafkaStreams(built.topology, props);
        streams.setUncaughtExceptionHandler(e -> {
            lastError = e.getClass().getSimpleName() + ": " + e.getMessage();
            System.err.println("stream thread failed: " + lastError);
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
    }

    static Properties properties(Spec spec, Properties client, String stateDir) {
        Properties p = new Properties();
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, "1");
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG,
                spec.processingGuarantee == null ? StreamsConfig.EXACTLY_ONCE_V2 : spec.processingGuarantee);
        p.put(StreamsConfig.DESERIALIZATION_EXCEPTION_HANDLER_CLASS_CONFIG, LogAndContinueExceptionHandler.class);
        p.putAll(client);
        p.putAll(spec.properties);
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, spec.applicationId);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        return p;
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = new LinkedHashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            opts.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        }
        if (opts.get("describe") != null) {
            Spec spec = Spec.read(new File(opts.get("describe")));
            System.out.println(TopologyFactory.build(spec).topology.describe());
            return;
        }
        Spec spec = Spec.read(new File(opts.get("spec")));
        Properties client = new Properties();
        if (opts.get("config") != null) {
            try (var in = Files.newInputStream(Path.of(opts.get("config")))) {
                client.load(in);
            }
        }
        Runner runner = new Runner(spec, properties(spec, client, opts.get("state-dir")));
        HttpServer http = runner.serve(Integer.parseInt(opts.getOrDefault("port", "0")));
        CountDownLatch done = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            http.stop(0);
            runner.streams.close(java.time.Duration.ofSeconds(20));
            done.countDown();
        }));
        runner.streams.start();
        if (opts.get("port-file") != null) {
            Path file = Path.of(opts.get("port-file"));
            Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            String body = "{\"port\": " + http.getAddress().getPort() + ", \"pid\": " + ProcessHandle.current().pid() + "}";
            Files.writeString(tmp, body);
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        }
        System.err.println("runner " + spec.name + " started, http port " + http.getAddress().getPort());
        done.await();
    }

    HttpServer serve(int port) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 16);
        server.setExecutor(Executors.newFixedThreadPool(2));
        server.createContext("/health", ex -> reply(ex, 200, health()));
        server.createContext("/topology", ex -> reply(ex, 200, Map.of("description", built.topology.describe().toString())));
        server.createContext("/metrics", ex -> reply(ex, 200, metrics()));
        server.createContext("/query", ex -> {
            try {
                reply(ex, 200, query(params(ex)));
            } catch (IllegalArgumentException e) {
                reply(ex, 400, Map.of("error", e.getMessage()));
            } catch (Exception e) {
                reply(ex, 503, Map.of("error", e.getClass().getSimpleName() + ": " + e.getMessage()));
            }
        });
        server.start();
        return server;
    }

    private static Map<String, String> params(HttpExchange ex) {
        Map<String, String> out = new LinkedHashMap<>();
        String q = ex.getRequestURI().getRawQuery();
        if (q == null) {
            return out;
        }
        for (String part : q.split("&")) {
            int eq = part.indexOf('=');
            if (eq > 0) {
                out.put(URLDecoder.decode(part.substring(0, eq), StandardCharsets.UTF_8),
                        URLDecoder.decode(part.substring(eq + 1), StandardCharsets.UTF_8));
            }
        }
        return out;
    }

    private static void reply(HttpExchange ex, int status, Object body) throws IOException {
        byte[] bytes = Values.JSON.writeValueAsBytes(body);
        ex.getResponseHeaders().add("Content-Type", "application/json");
        ex.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(bytes);
        }
    }

    Map<String, Object> health() {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("name", spec.name);
        out.put("application_id", spec.applicationId);
        out.put("state", streams.state().name());
        out.put("running", streams.state().isRunningOrRebalancing());
        out.put("pid", ProcessHandle.current().pid());
        out.put("started_at", Instant.ofEpochMilli(startedAt).toString());
        out.put("store", built.store);
        out.put("store_kind", built.storeKind);
        out.put("error", lastError);
        return out;
    }

    Map<String, Object> metrics() {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("records_in", built.recordsIn.get());
        out.put("records_out", built.recordsOut.get());
        out.put("records_aggregated", built.aggregated.get());
        double lag = 0;
        boolean sawLag = false;
        Double processRate = null;
        Double commitRate = null;
        Double commitTotal = null;
        Double dropped = null;
        for (Map.Entry<MetricName, ? extends Metric> e : streams.metrics().entrySet()) {
            MetricName n = e.getKey();
            Object v = e.getValue().metricValue();
            if (!(v instanceof Double d) || d.isNaN()) {
                continue;
            }
            String client = n.tags().getOrDefault("client-id", "");
            if (n.name().equals("records-lag") && n.group().equals("consumer-fetch-manager-metrics")
                    && n.tags().containsKey("partition") && !client.contains("restore-consumer")) {
                lag += d;
                sawLag = true;
            } else if (n.group().equals("stream-thread-metrics")) {
                switch (n.name()) {
                    case "process-rate" -> processRate = d;
                    case "commit-rate" -> commitRate = d;
                    case "commit-total" -> commitTotal = d;
                    default -> { }
                }
            } else if (n.name().equals("dropped-records-total") && n.group().equals("stream-task-metrics")) {
                dropped = (dropped == null ? 0 : dropped) + d;
            }
        }
        out.put("lag", sawLag ? (long) lag : null);
        out.put("process_rate", processRate);
        out.put("commit_rate", commitRate);
        out.put("commit_total", commitTotal == null ? null : commitTotal.longValue());
        out.put("dropped_records", dropped == null ? null : dropped.longValue());
        out.put("state", streams.state().name());
        return out;
    }

    Map<String, Object> query(Map<String, String> p) {
        if (built.storeKind == null) {
            throw new IllegalArgumentException("this application has no queryable store (it does not aggregate)");
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("store", built.store);
        out.put("store_kind", built.storeKind);
        List<Map<String, Object>> rows = new ArrayList<>();
        String key = p.get("key");
        String from = p.get("from");
        String to = p.get("to");
        int limit = Integer.parseInt(p.getOrDefault("limit", "1000"));
        switch (built.storeKind) {
            case "kv" -> {
                ReadOnlyKeyValueStore<String, Object> s = streams.store(
                        StoreQueryParameters.fromNameAndType(built.store, QueryableStoreTypes.keyValueStore()));
                if (key != null) {
                    Object v = s.get(key);
                    if (v != null) {
                        rows.add(TopologyFactory.withKey(built.keyField, key, built.finish(v)));
                    }
                } else {
                    try (KeyValueIterator<String, Object> it = from != null || to != null ? s.range(from, to) : s.all()) {
                        while (it.hasNext() && rows.size() < limit) {
                            KeyValue<String, Object> kv = it.next();
                            rows.add(TopologyFactory.withKey(built.keyField, kv.key, built.finish(kv.value)));
                        }
                    }
                }
            }
            case "window" -> {
                ReadOnlyWindowStore<String, Object> s = streams.store(
                        StoreQueryParameters.fromNameAndType(built.store, QueryableStoreTypes.windowStore()));
                Instant tf = Instant.ofEpochMilli(Long.parseLong(p.getOrDefault("time_from", "0")));
                Instant tt = Instant.ofEpochMilli(Long.parseLong(p.getOrDefault("time_to", String.valueOf(Long.MAX_VALUE / 2))));
                if (key != null) {
                    try (WindowStoreIterator<Object> it = s.fetch(key, tf, tt)) {
                        while (it.hasNext() && rows.size() < limit) {
                            KeyValue<Long, Object> kv = it.next();
                            rows.add(windowRow(key, kv.key, null, kv.value));
                        }
                    }
                } else {
                    try (KeyValueIterator<Windowed<String>, Object> it = from != null || to != null
                            ? s.fetch(from, to, tf, tt) : s.fetchAll(tf, tt)) {
                        while (it.hasNext() && rows.size() < limit) {
                            KeyValue<Windowed<String>, Object> kv = it.next();
                            rows.add(windowRow(kv.key.key(), kv.key.window().start(), kv.key.window().end(), kv.value));
                        }
                    }
                }
            }
            case "session" -> {
                ReadOnlySessionStore<String, Object> s = streams.store(
                        StoreQueryParameters.fromNameAndType(built.store, QueryableStoreTypes.sessionStore()));
                if (key == null && (from == null || to == null)) {
                    throw new IllegalArgumentException("a session store query needs key, or from and to");
                }
                try (KeyValueIterator<Windowed<String>, Object> it = key != null ? s.fetch(key) : s.fetch(from, to)) {
                    while (it.hasNext() && rows.size() < limit) {
                        KeyValue<Windowed<String>, Object> kv = it.next();
                        rows.add(windowRow(kv.key.key(), kv.key.window().start(), kv.key.window().end(), kv.value));
                    }
                }
            }
            default -> throw new IllegalStateException(built.storeKind);
        }
        out.put("rows", rows);
        return out;
    }

    private Map<String, Object> windowRow(String key, long start, Long end, Object value) {
        Long size = spec.aggregate.window.sizeMs;
        long e = end != null ? end : start + (size == null ? 0 : size);
        return TopologyFactory.windowed(built.keyField, key, start, e, built.finish(value));
    }
}
