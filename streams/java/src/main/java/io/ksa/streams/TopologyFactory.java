package io.ksa.streams;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
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
import org.apache.kafka.streams.kstream.Repartitioned;
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
    /** What the runner needs besides the topology: the queryable store, how to read it, and the counters. */
    public static final class Built {
        public Topology topology;
        public String store;
        /** kv | window | session | null (no aggregation) */
        public String storeKind;
        public String keyField = "key";
        Aggs aggs;
        Spec.Aggregate aggregate;
        Eval having;
        Map<String, Eval> select;
        public final AtomicLong recordsIn = new AtomicLong();
        public final AtomicLong recordsOut = new AtomicLong();
        /** Records folded into an aggregate (after any repartition). */
        public final AtomicLong aggregated = new AtomicLong();
        /** Records that came after the grace period of one of their windows (see {@link LateRecords}). */
        public final AtomicLong late = new AtomicLong();
        /** How the store's keys were partitioned (for finding the instance that holds a key). */
        public org.apache.kafka.common.serialization.Serializer<String> partitionKeys = Serdes.String().serializer();

        public Map<String, Object> finish(Object state) {
            return aggs == null ? null : aggs.finish(state);
        }

        /**
         * The row an aggregate shows for a key (and window): the output of the topology for it, with the key column(s)
         * and window bounds; null when HAVING hides it.
         */
        public Map<String, Object> present(String key, Long start, Long end, Object state) {
            if (aggs == null) {
                return null;
            }
            Map<String, Object> out = outputRow(this, key, start, end, aggs.finish(state), true);
            return out;
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
        AvroSupport.remember(spec.source.avroSchemas);
        Consumed<String, Object> consumed = Consumed.with(
                Keys.serde(spec.source.keyFormat, spec.source.keyType), valueSerde(spec.source.valueFormat, null, null));
        if (spec.source.timestampField != null && !spec.source.timestampField.isBlank()) {
            consumed = consumed.withTimestampExtractor(fieldTimestamp(spec.source.timestampField));
        }
        KStream<String, Object> stream = builder.stream(spec.source.topic, consumed);
        stream = stream.peek((k, v) -> built.recordsIn.incrementAndGet());
        boolean rows = spec.source.columns != null && !spec.source.columns.isEmpty();
        if (rows) {
            stream = stream.processValues(() -> Rows.processor(spec.source.columns, "reading " + spec.source.topic));
        }
        for (Spec.Step step : spec.steps) {
            stream = applyStep(stream, step);
        }
        if (spec.join != null) {
            Serde<Object> current = rows || stepsMakeJson(spec.steps) ? json : Values.serde(spec.source.valueFormat);
            stream = applyJoin(builder, stream, spec.join, current);
        }
        for (Spec.Step step : spec.postSteps) {
            stream = applyStep(stream, step);
        }
        Serde<Object> sinkSerde = valueSerde(spec.sink.valueFormat, spec.sink.avroSchema, spec.sink.avroSchemaId);
        if (spec.aggregate != null) {
            stream = applyAggregate(stream, spec, built, json, rows);
        }
        stream.peek((k, v) -> built.recordsOut.incrementAndGet())
                .to(spec.sink.topic, Produced.with(Keys.serde(spec.sink.keyFormat, spec.sink.keyType), sinkSerde));
        built.topology = builder.build();
        return built;
    }

    static Serde<Object> valueSerde(String format, String avroSchema, Integer avroSchemaId) {
        if ("avro".equals(format)) {
            return AvroSupport.serde(avroSchema, avroSchemaId);
        }
        return Values.serde(format);
    }

    private static TimestampExtractor fieldTimestamp(String field) {
        return (record, partitionTime) -> {
            if (record.value() instanceof Map<?, ?> m) {
                Object v = m.get(field);
                if (v == null) {
                    for (Map.Entry<?, ?> e : m.entrySet()) {
                        if (String.valueOf(e.getKey()).equalsIgnoreCase(field)) {
                            v = e.getValue();
                        }
                    }
                }
                if (v instanceof Number n) {
                    return n.longValue();
                }
                if (v instanceof String s) {
                    try {
                        return SqlTypes.parseTimestamp(s);
                    } catch (SqlTypes.CoercionException e) {
                        Failures.GLOBAL.record("timestamp " + field, e.getMessage() + "; the record time was used");
                    }
                }
            }
            long ts = record.timestamp();
            return ts >= 0 ? ts : Math.max(partitionTime, 0L);
        };
    }

    private static KStream<String, Object> applyStep(KStream<String, Object> stream, Spec.Step step) {
        String op = step.op == null ? "" : step.op;
        switch (op) {
            case "filter" -> {
                Eval e = Eval.compile(step.expr);
                String where = "filter " + e.source();
                return stream.filter((k, v) -> e.test(Expr.vars(k, v), where));
            }
            case "select" -> {
                if (step.fields == null || step.fields.isEmpty()) {
                    throw new IllegalArgumentException("a select step needs fields");
                }
                Map<String, Eval> fields = compileAll(step.fields);
                return stream.mapValues((k, v) -> project(fields, Expr.vars(k, v)));
            }
            case "set_key" -> {
                Eval e = Eval.compile(step.expr);
                return stream.selectKey((k, v) -> Values.keyOf(e.eval(Expr.vars(k, v))));
            }
            default -> throw new IllegalArgumentException("unsupported step '" + op + "' (filter, select, set_key)");
        }
    }

    private static Map<String, Eval> compileAll(Map<String, Object> fields) {
        Map<String, Eval> out = new LinkedHashMap<>();
        fields.forEach((name, src) -> out.put(name, Eval.compile(src)));
        return out;
    }

    private static Map<String, Object> project(Map<String, Eval> fields, Map<String, Object> vars) {
        Map<String, Object> out = new LinkedHashMap<>();
        fields.forEach((name, e) -> out.put(name, e.eval(vars)));
        return out;
    }

    @SuppressWarnings("unchecked")
    private static ValueJoiner<Object, Object, Object> joiner(Spec.Join join) {
        if (join.select != null && !join.select.isEmpty()) {
            Map<String, Eval> fields = compileAll(join.select);
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
            } else if (left != null) {
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
        AvroSupport.remember(join.avroSchemas);
        Serde<Object> rightRaw = valueSerde(join.valueFormat, null, null);
        Consumed<String, Object> rightConsumed = Consumed.with(Keys.serde(join.keyFormat, join.keyType), rightRaw);
        boolean rows = join.rightColumns != null && !join.rightColumns.isEmpty();
        Serde<Object> rightSerde = rows ? Values.json() : rightRaw;
        String type = join.type == null ? "inner" : join.type;
        if (!List.of("inner", "left", "outer").contains(type)) {
            throw new IllegalArgumentException("unsupported join type '" + join.type + "' (inner, left, outer)");
        }
        boolean left = type.equals("left");
        ValueJoiner<Object, Object, Object> joiner = joiner(join);
        String kind = join.kind == null ? "" : join.kind;
        if (type.equals("outer") && !kind.equals("stream")) {
            throw new IllegalArgumentException("an outer join needs two streams (kind 'stream')");
        }
        switch (kind) {
            case "table" -> {
                KTable<String, Object> table = builder.table(join.topic, rightConsumed);
                if (rows) {
                    Rows reader = new Rows(join.rightColumns, "reading " + join.topic);
                    table = table.mapValues((k, v) -> (Object) reader.build(k, v, 0L, -1, -1L));
                }
                Joined<String, Object, Object> joined = Joined.with(keys, leftSerde, rightSerde);
                return left ? stream.leftJoin(table, joiner, joined) : stream.join(table, joiner, joined);
            }
            case "global_table" -> {
                if (join.keyExpr == null) {
                    throw new IllegalArgumentException("a global_table join needs key_expr");
                }
                GlobalKTable<String, Object> table = builder.globalTable(join.topic, rightConsumed);
                Eval keyExpr = Eval.compile(join.keyExpr);
                return left
                        ? stream.leftJoin(table, (k, v) -> Values.keyOf(keyExpr.eval(Expr.vars(k, v))), joiner)
                        : stream.join(table, (k, v) -> Values.keyOf(keyExpr.eval(Expr.vars(k, v))), joiner);
            }
            case "stream" -> {
                if (join.windowMs == null && join.beforeMs == null) {
                    throw new IllegalArgumentException("a stream-stream join needs window_ms");
                }
                KStream<String, Object> other = builder.stream(join.topic, rightConsumed);
                if (rows) {
                    other = other.processValues(() -> Rows.processor(join.rightColumns, "reading " + join.topic));
                }
                if (join.rightKey != null) {
                    Eval by = Eval.compile(join.rightKey);
                    other = other.selectKey((k, v) -> Values.keyOf(by.eval(Expr.vars(k, v))));
                }
                long before = join.beforeMs != null ? join.beforeMs : join.windowMs;
                long after = join.afterMs != null ? join.afterMs : join.windowMs;
                Duration diff = Duration.ofMillis(Math.max(before, after));
                JoinWindows windows = join.graceMs == null
                        ? JoinWindows.ofTimeDifferenceWithNoGrace(diff)
                        : JoinWindows.ofTimeDifferenceAndGrace(diff, Duration.ofMillis(join.graceMs));
                windows = windows.before(Duration.ofMillis(before)).after(Duration.ofMillis(after));
                StreamJoined<String, Object, Object> sj = StreamJoined.with(keys, leftSerde, rightSerde);
                return switch (type) {
                    case "left" -> stream.leftJoin(other, joiner, windows, sj);
                    case "outer" -> stream.outerJoin(other, joiner, windows, sj);
                    default -> stream.join(other, joiner, windows, sj);
                };
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
            KStream<String, Object> stream, Spec spec, Built built, Serde<Object> json, boolean rows) {
        Spec.Aggregate agg = spec.aggregate;
        Serde<String> keys = Serdes.String();
        Aggs aggs = new Aggs(agg.aggregations, built.aggregated);
        Serde<Object> state = StateSerde.serde();
        built.aggs = aggs;
        built.aggregate = agg;
        built.keyField = agg.keyField;
        built.having = agg.having == null ? null : Eval.compile(agg.having);
        built.select = agg.select == null || agg.select.isEmpty() ? null : compileAll(agg.select);
        String store = spec.store == null || spec.store.isBlank() ? spec.name + "-store" : spec.store;
        built.store = store;
        boolean emitFinal = "final".equals(agg.emit);
        if (!emitFinal && !"changes".equals(agg.emit)) {
            throw new IllegalArgumentException("unsupported emit '" + agg.emit + "' (changes, final)");
        }
        Serde<Object> valueSerde = Values.serde(spec.source.valueFormat);
        if (rows || spec.join != null || stepsMakeJson(spec.steps) || stepsMakeJson(spec.postSteps)
                || "avro".equals(spec.source.valueFormat)) {
            valueSerde = json;
        }
        // Like ksqlDB, repartition only what the aggregations read (nothing at all for a count).
        java.util.Set<String> needed = aggs.neededFields();
        KStream<String, Object> keyed;
        boolean repartition = agg.groupBy != null && !(agg.groupBy instanceof String s && s.isBlank());
        if (repartition) {
            Eval by = Eval.compile(agg.groupBy);
            // one node: the new key, and no record at all for a null key (as ksqlDB drops it)
            keyed = stream.flatMap((k, v) -> {
                String key = Values.keyOf(by.eval(Expr.vars(k, v)));
                if (key == null) {
                    return List.of();
                }
                return List.of(KeyValue.pair(key, needed == null ? v : projectFields(v, needed)));
            });
            if (needed != null) {
                valueSerde = json;
            }
        } else {
            keyed = stream.filter((k, v) -> k != null);
            boolean rekeyed = spec.steps.stream().anyMatch(x -> "set_key".equals(x.op))
                    || spec.postSteps.stream().anyMatch(x -> "set_key".equals(x.op));
            if (!rekeyed) {
                built.partitionKeys = Keys.serde(spec.source.keyFormat, spec.source.keyType).serializer();
            }
        }
        if (agg.window != null) {
            // count late records where the windowed aggregation sees them: after the repartition
            if (repartition) {
                keyed = keyed.repartition(Repartitioned.<String, Object>with(keys, valueSerde).withName("group"));
            }
            Spec.Window w = agg.window;
            keyed = keyed.processValues(() -> new LateRecords(w, built.late));
        }
        KGroupedStream<String, Object> grouped = keyed.groupByKey(Grouped.with(keys, valueSerde));
        if (agg.window == null) {
            if (emitFinal) {
                throw new IllegalArgumentException("emit final needs a window");
            }
            built.storeKind = "kv";
            KTable<String, Object> table = grouped.aggregate(aggs::init, aggs::add,
                    Materialized.<String, Object, KeyValueStore<Bytes, byte[]>>as(store)
                            .withKeySerde(keys).withValueSerde(state));
            return table.toStream().mapValues((k, v) -> v == null ? null
                    : outputRow(built, k, null, null, aggs.finish(v), false));
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
                : outputRow(built, wk.key(), wk.window().start(), wk.window().end(), aggs.finish(v), false)));
    }

    /**
     * The output of an aggregate: with the spec API, the key field, window bounds and aggregations; with SQL, the row
     * of key column(s), aggregations and window bounds filtered by HAVING (null: a tombstone) and projected by SELECT
     * (``withKey`` also keeps the key columns, for interactive queries).
     */
    static Map<String, Object> outputRow(Built built, String key, Long start, Long end, Map<String, Object> result,
                                         boolean withKey) {
        Spec.Aggregate agg = built.aggregate;
        if (agg.keyColumns == null || agg.keyColumns.isEmpty()) {
            Map<String, Object> out = new LinkedHashMap<>();
            if (built.keyField != null) {
                out.put(built.keyField, key);
            }
            if (start != null) {
                out.put(agg.windowStartField, start);
                out.put(agg.windowEndField, end);
            }
            out.putAll(result);
            return out;
        }
        Map<String, Object> row = new LinkedHashMap<>();
        Rows keyReader = new Rows(agg.keyColumns, "group key");
        Map<String, Object> keyRow = keyReader.build(key, Map.of(), 0L, -1, -1L);
        if (keyRow != null) {
            for (Spec.Column c : agg.keyColumns) {
                row.put(c.name, keyRow.get(c.name));
            }
        }
        if (start != null) {
            row.put(agg.windowStartField, start);
            row.put(agg.windowEndField, end);
        }
        row.putAll(result);
        Map<String, Object> vars = Expr.vars(key, row);
        if (built.having != null && !built.having.test(vars, "HAVING " + built.having.source())) {
            return null;
        }
        Map<String, Object> out = new LinkedHashMap<>();
        if (withKey) {
            for (Spec.Column c : agg.keyColumns) {
                out.put(c.name, row.get(c.name));
            }
            if (start != null) {
                out.put(agg.windowStartField, start);
                out.put(agg.windowEndField, end);
            }
        }
        if (built.select != null) {
            built.select.forEach((name, e) -> out.put(name, e.eval(vars)));
        } else {
            out.putAll(result);
            if (start != null && !withKey) {
                out.put(agg.windowStartField, start);
                out.put(agg.windowEndField, end);
            }
        }
        return out;
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

    private static boolean stepsMakeJson(List<Spec.Step> steps) {
        return steps.stream().anyMatch(s -> "select".equals(s.op));
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
