package io.ksa.streams;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
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
import org.apache.kafka.streams.KeyQueryMetadata;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.StreamsMetadata;
import org.apache.kafka.streams.errors.LogAndContinueExceptionHandler;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.state.HostInfo;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.apache.kafka.streams.state.ReadOnlySessionStore;
import org.apache.kafka.streams.state.ReadOnlyWindowStore;
import org.apache.kafka.streams.state.WindowStoreIterator;

/**
 * Runs one spec as a Kafka Streams application, with a local HTTP endpoint.
 *
 * <pre>java io.ksa.streams.Runner --spec spec.json --config client.properties --state-dir DIR --port-file FILE
 *     [--host 127.0.0.1] [--port 0]</pre>
 *
 * GET /health, /topology, /metrics, /query?key=K | from=A&to=B | all=true [&time_from=ms&time_to=ms].
 *
 * <p>Several runners of one application (same application.id) share its partitions, as Kafka Streams instances do;
 * each advertises its endpoint (application.server), and a query for a key another instance holds, or for
 * everything, is answered with the other instances' rows too. When the application fails (a stream thread dies),
 * the JVM exits with code 70, so the supervisor restarts it. A clean stop leaves the consumer group at once.
 */
public final class Runner {
    static final int EXIT_FAILED = 70;
    private final Spec spec;
    private final TopologyFactory.Built built;
    private final KafkaStreams streams;
    private final HostInfo self;
    private final long startedAt = System.currentTimeMillis();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();
    private volatile String lastError;

    Runner(Spec spec, Properties props, HostInfo self) {
        this.spec = spec;
        this.self = self;
        this.built = TopologyFactory.build(spec);
        this.streams = new KafkaStreams(built.topology, props);
        streams.setUncaughtExceptionHandler(e -> {
            lastError = e.getClass().getSimpleName() + ": " + e.getMessage();
            System.err.println("stream thread failed: " + lastError);
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        streams.setStateListener((now, before) -> {
            if (now == KafkaStreams.State.ERROR) {
                System.err.println("application failed (" + lastError + "); exiting with code " + EXIT_FAILED
                        + " so the supervisor restarts it");
                new Thread(() -> System.exit(EXIT_FAILED), "exit-on-error").start();
            }
        });
    }

    static Properties properties(Spec spec, Properties client, String stateDir) {
        Properties p = new Properties();
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, "1");
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG,
                spec.processingGuarantee == null ? StreamsConfig.EXACTLY_ONCE_V2 : spec.processingGuarantee);
        p.put(StreamsConfig.DESERIALIZATION_EXCEPTION_HANDLER_CLASS_CONFIG, LogAndContinueExceptionHandler.class);
        // a member that disappears (a killed runner) is noticed within 10 s, not 45: faster failover and cleanup
        p.put("session.timeout.ms", "10000");
        p.put("heartbeat.interval.ms", "2000");
        client.forEach((k, v) -> {
            if (!String.valueOf(k).startsWith("ksa.")) {
                p.put(k, v);
            }
        });
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
            for (String file : opts.get("describe").split(File.pathSeparator)) {
                Spec spec = Spec.read(new File(file));
                System.out.println(TopologyFactory.build(spec).topology.describe());
            }
            return;
        }
        Spec spec = Spec.read(new File(opts.get("spec")));
        Properties client = new Properties();
        if (opts.get("config") != null) {
            try (var in = Files.newInputStream(Path.of(opts.get("config")))) {
                client.load(in);
            }
        }
        AvroSupport.configure(client.getProperty("ksa.schema.registry.url"),
                client.getProperty("ksa.schema.registry.basic.auth"));
        String host = opts.getOrDefault("host", "127.0.0.1");
        HttpServer server = HttpServer.create(
                new InetSocketAddress(host, Integer.parseInt(opts.getOrDefault("port", "0"))), 16);
        HostInfo self = new HostInfo(host, server.getAddress().getPort());
        Properties props = properties(spec, client, opts.get("state-dir"));
        props.put(StreamsConfig.APPLICATION_SERVER_CONFIG, self.host() + ":" + self.port());
        Runner runner = new Runner(spec, props, self);
        runner.serve(server);
        CountDownLatch done = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.stop(0);
            // leave the group now: the other instances take over at once, and the group can be deleted
            runner.streams.close(new KafkaStreams.CloseOptions().leaveGroup(true).timeout(Duration.ofSeconds(20)));
            done.countDown();
        }));
        runner.streams.start();
        if (opts.get("port-file") != null) {
            Path file = Path.of(opts.get("port-file"));
            Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            String body = "{\"port\": " + self.port() + ", \"pid\": " + ProcessHandle.current().pid() + "}";
            Files.writeString(tmp, body);
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        }
        System.err.println("runner " + spec.name + " started, http port " + self.port());
        done.await();
    }

    void serve(HttpServer server) {
        server.setExecutor(Executors.newFixedThreadPool(4));
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
        out.put("endpoint", self.host() + ":" + self.port());
        out.put("started_at", Instant.ofEpochMilli(startedAt).toString());
        out.put("store", built.store);
        out.put("store_kind", built.storeKind);
        out.put("error", lastError);
        List<String> instances = new ArrayList<>();
        try {
            for (StreamsMetadata md : streams.metadataForAllStreamsClients()) {
                instances.add(md.host() + ":" + md.port() + " (" + md.topicPartitions().size() + " partition(s))");
            }
        } catch (RuntimeException e) {
            // not running yet
        }
        out.put("instances", instances);
        try {
            out.put("threads", streams.metadataForLocalThreads().size());
        } catch (RuntimeException e) {
            out.put("threads", null);
        }
        return out;
    }

    Map<String, Object> metrics() {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("records_in", built.recordsIn.get());
        out.put("records_out", built.recordsOut.get());
        out.put("records_aggregated", built.aggregated.get());
        out.put("failed_records", Failures.GLOBAL.count());
        out.put("recent_failures", Failures.GLOBAL.recent());
        out.put("late_records", built.storeKind == null || "kv".equals(built.storeKind) ? null : built.late.get());
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
                    case "process-rate" -> processRate = (processRate == null ? 0 : processRate) + d;
                    case "commit-rate" -> commitRate = (commitRate == null ? 0 : commitRate) + d;
                    case "commit-total" -> commitTotal = (commitTotal == null ? 0 : commitTotal) + d;
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

    Map<String, Object> query(Map<String, String> p) throws Exception {
        if (built.storeKind == null) {
            throw new IllegalArgumentException("this application has no queryable store (it does not aggregate)");
        }
        boolean local = "true".equals(p.get("local"));
        String key = p.get("key");
        int limit = Integer.parseInt(p.getOrDefault("limit", "1000"));
        List<Map<String, Object>> rows = new ArrayList<>();
        if (!local) {
            if (key != null) {
                KeyQueryMetadata md = streams.queryMetadataForKey(built.store, key, built.partitionKeys);
                if (md == null || md.equals(KeyQueryMetadata.NOT_AVAILABLE)) {
                    throw new IllegalStateException("no instance holds the store for this key now (rebalancing?)");
                }
                if (!md.activeHost().equals(self)) {
                    rows.addAll(remote(md.activeHost(), p));
                    return answer(rows);
                }
            } else {
                for (StreamsMetadata md : streams.streamsMetadataForStore(built.store)) {
                    if (!md.hostInfo().equals(self) && rows.size() < limit) {
                        rows.addAll(remote(md.hostInfo(), p));
                    }
                }
            }
        }
        rows.addAll(localRows(p, limit - Math.min(rows.size(), limit)));
        return answer(rows.size() > limit ? rows.subList(0, limit) : rows);
    }

    private Map<String, Object> answer(List<Map<String, Object>> rows) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("store", built.store);
        out.put("store_kind", built.storeKind);
        out.put("rows", rows);
        return out;
    }

    @SuppressWarnings("unchecked")
    private List<Map<String, Object>> remote(HostInfo host, Map<String, String> p) throws Exception {
        StringBuilder q = new StringBuilder("local=true");
        p.forEach((k, v) -> {
            if (!k.equals("local")) {
                q.append('&').append(URLEncoder.encode(k, StandardCharsets.UTF_8)).append('=')
                        .append(URLEncoder.encode(v, StandardCharsets.UTF_8));
            }
        });
        URI uri = URI.create("http://" + host.host() + ":" + host.port() + "/query?" + q);
        HttpResponse<String> resp = http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        if (resp.statusCode() != 200) {
            throw new IllegalStateException("the instance at " + host.host() + ":" + host.port() + " answered HTTP "
                    + resp.statusCode() + ": " + resp.body());
        }
        Map<String, Object> body = Values.JSON.readValue(resp.body(), Map.class);
        return (List<Map<String, Object>>) body.get("rows");
    }

    private List<Map<String, Object>> localRows(Map<String, String> p, int limit) {
        List<Map<String, Object>> rows = new ArrayList<>();
        String key = p.get("key");
        String from = p.get("from");
        String to = p.get("to");
        switch (built.storeKind) {
            case "kv" -> {
                ReadOnlyKeyValueStore<String, Object> s = streams.store(
                        StoreQueryParameters.fromNameAndType(built.store, QueryableStoreTypes.keyValueStore()));
                if (key != null) {
                    Object v = s.get(key);
                    addRow(rows, key, null, null, v);
                } else {
                    try (KeyValueIterator<String, Object> it = from != null || to != null ? s.range(from, to) : s.all()) {
                        while (it.hasNext() && rows.size() < limit) {
                            KeyValue<String, Object> kv = it.next();
                            addRow(rows, kv.key, null, null, kv.value);
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
                            addRow(rows, key, kv.key, windowEnd(kv.key), kv.value);
                        }
                    }
                } else {
                    try (KeyValueIterator<Windowed<String>, Object> it = from != null || to != null
                            ? s.fetch(from, to, tf, tt) : s.fetchAll(tf, tt)) {
                        while (it.hasNext() && rows.size() < limit) {
                            KeyValue<Windowed<String>, Object> kv = it.next();
                            addRow(rows, kv.key.key(), kv.key.window().start(), kv.key.window().end(), kv.value);
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
                        addRow(rows, kv.key.key(), kv.key.window().start(), kv.key.window().end(), kv.value);
                    }
                }
            }
            default -> throw new IllegalStateException(built.storeKind);
        }
        return rows;
    }

    private long windowEnd(long start) {
        Long size = spec.aggregate.window.sizeMs;
        return start + (size == null ? 0 : size);
    }

    private void addRow(List<Map<String, Object>> rows, String key, Long start, Long end, Object state) {
        if (state == null) {
            return;
        }
        Map<String, Object> row = built.present(key, start, end, state);
        if (row != null) {
            rows.add(row);
        }
    }
}
