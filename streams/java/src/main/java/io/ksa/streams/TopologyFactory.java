package io.ksa.streams;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.GlobalKTable;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.Joined;
import org.apache.kafka.streams.kstream.KGroupedStream;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.SessionWindows;
import org.apache.kafka.streams.kstream.SlidingWindows;
import org.apache.kafka.streams.kstream.StreamJoined;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.ValueJoiner;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.processor.TimestampExtractor;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.SessionStore;
import org.apache.kafka.streams.state.WindowStore;

/** Builds a Kafka Streams topology from a {@link Spec}. */
public final class TopologyFactory {
    /** What the runner needs besides the topology: the queryable store and how to read it. */
    public static final class Built {
        public Topology topology;
        public String store;
        /** kv | window | session | null (no aggregation) */
        public String storeKind;
        public String keyField = "key";
        Aggs aggs;
        public final AtomicLong recordsIn = new AtomicLong();
        public final AtomicLong recordsOut = new AtomicLong();
        /** Records folded into an aggregate (after any repartition). */
        public final AtomicLong aggregated = new AtomicLong();

        public Map<String, Object> finish(Object state) {
            return aggs == null ? null : aggs.finish(state);
        }
    }

    private TopologyFactory() {}

    public static Built build(Spec spec) {
        if (spec.source == null || spec.source.topic == null) {
            throw new IllegalArgumentException("the spec needs a source topic");
        }
        if (spec.sink == null || spec.sink.topic == null) {
            throw new IllegalArgumentException("the spec needs a sink topic");
        }
        Built built = new Built();
        StreamsBuilder builder = new StreamsBuilder();
        Serde<String> keys = Serdes.String();
        Serde<Object> json = Values.json();
        Consumed<String, Object> consumed = Consumed.with(keys, Values.serde(spec.source.valueFormat));
        if (spec.source.timestampField != null && !spec.source.timestampField.isBlank()) {
            consumed = consumed.withTimestampExtractor(fieldTimestamp(spec.source.timestampField));
        }
        KStream<String, Object> stream = builder.stream(spec.source.topic, consumed);
        stream = stream.peek((k, v) -> built.recordsIn.incrementAndGet());
        for (Spec.Step step : spec.steps) {
            stream = applyStep(stream, step);
        }
        if (spec.join != null) {
            Serde<Object> current = stepsMakeJson(spec) ? json : Values.serde(spec.source.valueFormat);
            stream = applyJoin(builder, stream, spec.join, current);
        }
        Serde<Object> sinkSerde = Values.serde(spec.sink.valueFormat);
        if (spec.aggregate != null) {
            stream = applyAggregate(stream, spec, built, json);
        }
        stream.peek((k, v) -> built.recordsOut.incrementAndGet()).to(spec.sink.topic, Produced.with(keys, sinkSerde));
        built.topology = builder.build();
        return built;
    }

    private static TimestampExtractor fieldTimestamp(String field) {
        return (record, partitionTime) -> {
            if (record.value() instanceof Map<?, ?> m && m.get(field) instanceof Number n) {
                return n.longValue();
            }
            long ts = record.timestamp();
            return ts >= 0 ? ts : Math.max(partitionTime, 0L);
        };
    }

    private static KStream<String, Object> applyStep(KStream<String, Object> stream, Spec.Step step) {
        String op = step.op == null ? "" : step.op;
        switch (op) {
            case "filter" -> {
                Expr e = Expr.compile(step.expr);
                return stream.filter((k, v) -> e.test(Expr.vars(k, v)));
            }
            case "select" -> {
                if (step.fields == null || step.fields.isEmpty()) {
                    throw new IllegalArgumentException("a select step needs fields");
                }
                Map<String, Expr> fields = compileAll(step.fields);
                return stream.mapValues((k, v) -> project(fields, Expr.vars(k, v)));
            }
            case "set_key" -> {
                Expr e = Expr.compile(step.expr);
                return stream.selectKey((k, v) -> Values.keyOf(e.eval(Expr.vars(k, v))));
            }
            default -> throw new IllegalArgumentException("unsupported step '" + op + "' (filter, select, set_key)");
        }
    }

    private static Map<String, Expr> compileAll(Map<String, String> fields) {
        Map<String, Expr> out = new LinkedHashMap<>();
        fields.forEach((name, src) -> out.put(name, Expr.compile(src)));
        return out;
    }

    private static Map<String, Object> project(Map<String, Expr> fields, Map<String, Object> vars) {
        Map<String, Object> out = new LinkedHashMap<>();
        fields.forEach((name, e) -> out.put(name, e.eval(vars)));
        return out;
    }

    @SuppressWarnings("unchecked")
    private static ValueJoiner<Object, Object, Object> joiner(Spec.Join join) {
        if (join.select != null && !join.select.isEmpty()) {
            Map<String, Expr> fields = compileAll(join.select);
            return (left, right) -> {
                Map<String, Object> vars = new LinkedHashMap<>();
                vars.put("left", left);
                vars.put("right", right);
                vars.put("value", left);
                return project(fields, vars);
            };
        }
        return (left, right) -> {
            Map<String, Object> out = new LinkedHashMap<>();
            if (left instanceof Map<?, ?> l) {
                out.putAll((Map<String, Object>) l);
            } else {
                out.put("left", left);
            }
            if (right instanceof Map<?, ?> r) {
                for (Map.Entry<String, Object> e : ((Map<String, Object>) r).entrySet()) {
                    out.put(out.containsKey(e.getKey()) ? "right_" + e.getKey() : e.getKey(), e.getValue());
                }
            } else if (right != null) {
                out.put("right", right);
            }
            return out;
        };
    }

    private static KStream<String, Object> applyJoin(
            StreamsBuilder builder, KStream<String, Object> stream, Spec.Join join, Serde<Object> leftSerde) {
        Serde<String> keys = Serdes.String();
        Serde<Object> rightSerde = Values.serde(join.valueFormat);
        boolean left = "left".equals(join.type);
        if (!left && !"inner".equals(join.type)) {
            throw new IllegalArgumentException("unsupported join type '" + join.type + "' (inner, left)");
        }
        ValueJoiner<Object, Object, Object> joiner = joiner(join);
        String kind = join.kind == null ? "" : join.kind;
        switch (kind) {
            case "table" -> {
                KTable<String, Object> table = builder.table(join.topic, Consumed.with(keys, rightSerde));
                Joined<String, Object, Object> joined = Joined.with(keys, leftSerde, rightSerde);
                return left ? stream.leftJoin(table, joiner, joined) : stream.join(table, joiner, joined);
            }
            case "global_table" -> {
                if (join.keyExpr == null) {
                    throw new IllegalArgumentException("a global_table join needs key_expr");
                }
                GlobalKTable<String, Object> table = builder.globalTable(join.topic, Consumed.with(keys, rightSerde));
                Expr keyExpr = Expr.compile(join.keyExpr);
                return left
                        ? stream.leftJoin(table, (k, v) -> Values.keyOf(keyExpr.eval(Expr.vars(k, v))), joiner)
                        : stream.join(table, (k, v) -> Values.keyOf(keyExpr.eval(Expr.vars(k, v))), joiner);
            }
            case "stream" -> {
                if (join.windowMs == null) {
                    throw new IllegalArgumentException("a stream-stream join needs window_ms");
                }
                KStream<String, Object> other = builder.stream(join.topic, Consumed.with(keys, rightSerde));
                JoinWindows windows = join.graceMs == null
                        ? JoinWindows.ofTimeDifferenceWithNoGrace(Duration.ofMillis(join.windowMs))
                        : JoinWindows.ofTimeDifferenceAndGrace(
                                Duration.ofMillis(join.windowMs), Duration.ofMillis(join.graceMs));
                StreamJoined<String, Object, Object> sj = StreamJoined.with(keys, leftSerde, rightSerde);
                return left ? stream.leftJoin(other, joiner, windows, sj) : stream.join(other, joiner, windows, sj);
            }
            default -> throw new IllegalArgumentException(
                    "unsupported join kind '" + kind + "' (table, global_table, stream)");
        }
    }

    private static Duration ms(Long v, String what) {
        if (v == null || v <= 0) {
            throw new IllegalArgumentException("the window needs a positive " + what);
        }
        return Duration.ofMillis(v);
    }

    private static KStream<String, Object> applyAggregate(
            KStream<String, Object> stream, Spec spec, Built built, Serde<Object> json) {
        Spec.Aggregate agg = spec.aggregate;
        Serde<String> keys = Serdes.String();
        Aggs aggs = new Aggs(agg.aggregations, built.aggregated);
        Serde<Object> state = StateSerde.serde();
        built.aggs = aggs;
        built.keyField = agg.keyField == null ? "key" : agg.keyField;
        String store = spec.store == null || spec.store.isBlank() ? spec.name + "-store" : spec.store;
        built.store = store;
        boolean emitFinal = "final".equals(agg.emit);
        if (!emitFinal && !"changes".equals(agg.emit)) {
            throw new IllegalArgumentException("unsupported emit '" + agg.emit + "' (changes, final)");
        }
        Serde<Object> valueSerde = Values.serde(spec.source.valueFormat);
        if (spec.join != null || stepsMakeJson(spec)) {
            valueSerde = json;
        }
        KGroupedStream<String, Object> grouped;
        // Like ksqlDB, repartition only what the aggregations read (nothing at all for a count).
        java.util.Set<String> needed = aggs.neededFields();
        if (agg.groupBy != null && !agg.groupBy.isBlank()) {
            Expr by = Expr.compile(agg.groupBy);
            KStream<String, Object> keyed = stream.map((k, v) -> KeyValue.pair(
                            Values.keyOf(by.eval(Expr.vars(k, v))), needed == null ? v : projectFields(v, needed)))
                    .filter((k, v) -> k != null);
            if (needed != null) {
                valueSerde = json;
            }
            grouped = keyed.groupByKey(Grouped.with(keys, valueSerde));
        } else {
            grouped = stream.filter((k, v) -> k != null).groupByKey(Grouped.with(keys, valueSerde));
        }
        String keyField = built.keyField;
        if (agg.window == null) {
            if (emitFinal) {
                throw new IllegalArgumentException("emit final needs a window");
            }
            built.storeKind = "kv";
            KTable<String, Object> table = grouped.aggregate(aggs::init, aggs::add,
                    Materialized.<String, Object, KeyValueStore<Bytes, byte[]>>as(store)
                            .withKeySerde(keys).withValueSerde(state));
            return table.toStream().mapValues((k, v) -> v == null ? null : withKey(keyField, k, aggs.finish(v)));
        }
        Spec.Window w = agg.window;
        Duration grace = w.graceMs == null ? null : Duration.ofMillis(w.graceMs);
        String type = w.type == null ? "" : w.type;
        KTable<Windowed<String>, Object> table;
        long sizeOrGap = w.sizeMs != null ? w.sizeMs : w.gapMs != null ? w.gapMs : 0L;
        Duration retention = Duration.ofMillis(w.retentionMs != null ? w.retentionMs
                : Math.max(sizeOrGap + (w.graceMs == null ? 0L : w.graceMs), Duration.ofDays(1).toMillis()));
        switch (type) {
            case "tumbling", "hopping" -> {
                Duration size = ms(w.sizeMs, "size_ms");
                TimeWindows tw = grace == null ? TimeWindows.ofSizeWithNoGrace(size) : TimeWindows.ofSizeAndGrace(size, grace);
                if (type.equals("hopping")) {
                    tw = tw.advanceBy(ms(w.advanceMs, "advance_ms"));
                }
                built.storeKind = "window";
                table = grouped.windowedBy(tw).aggregate(aggs::init, aggs::add,
                        Materialized.<String, Object, WindowStore<Bytes, byte[]>>as(store)
                                .withKeySerde(keys).withValueSerde(state).withRetention(retention));
            }
            case "sliding" -> {
                Duration size = ms(w.sizeMs, "size_ms");
                SlidingWindows sw = grace == null
                        ? SlidingWindows.ofTimeDifferenceWithNoGrace(size)
                        : SlidingWindows.ofTimeDifferenceAndGrace(size, grace);
                built.storeKind = "window";
                table = grouped.windowedBy(sw).aggregate(aggs::init, aggs::add,
                        Materialized.<String, Object, WindowStore<Bytes, byte[]>>as(store)
                                .withKeySerde(keys).withValueSerde(state).withRetention(retention));
            }
            case "session" -> {
                Duration gap = ms(w.gapMs, "gap_ms");
                SessionWindows sw = grace == null
                        ? SessionWindows.ofInactivityGapWithNoGrace(gap)
                        : SessionWindows.ofInactivityGapAndGrace(gap, grace);
                built.storeKind = "session";
                table = grouped.windowedBy(sw).aggregate(aggs::init, aggs::add, aggs::merge,
                        Materialized.<String, Object, SessionStore<Bytes, byte[]>>as(store)
                                .withKeySerde(keys).withValueSerde(state).withRetention(retention));
            }
            default -> throw new IllegalArgumentException(
                    "unsupported window '" + type + "' (tumbling, hopping, session, sliding)");
        }
        if (emitFinal) {
            table = table.suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()));
        }
        return table.toStream().map((wk, v) -> KeyValue.pair(wk.key(), v == null ? null
                : windowed(keyField, wk.key(), wk.window().start(), wk.window().end(), aggs.finish(v))));
    }

    private static Object projectFields(Object value, java.util.Set<String> fields) {
        Map<String, Object> out = new LinkedHashMap<>();
        if (value instanceof Map<?, ?> m) {
            for (String f : fields) {
                Object v = m.get(f);
                if (v != null) {
                    out.put(f, v);
                }
            }
        }
        return out;
    }

    private static boolean stepsMakeJson(Spec spec) {
        return spec.steps.stream().anyMatch(s -> "select".equals(s.op));
    }

    static Map<String, Object> withKey(String keyField, String key, Map<String, Object> result) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put(keyField, key);
        out.putAll(result);
        return out;
    }

    static Map<String, Object> windowed(String keyField, String key, long start, long end, Map<String, Object> r) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put(keyField, key);
        out.put("window_start", start);
        out.put("window_end", end);
        out.putAll(r);
        return out;
    }
}
