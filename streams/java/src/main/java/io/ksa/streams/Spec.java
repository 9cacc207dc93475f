package io.ksa.streams;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import java.io.File;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The declarative application spec, as written by the Python side (snake_case JSON). Validated there first.
 *
 * <p>An expression is either CEL text or, when compiled from SQL, {"sql": [...]} (see {@link SqlExpr}).
 */
public final class Spec {
    public String name;
    public String applicationId;
    public Source source;
    public List<Step> steps = new ArrayList<>();
    public Join join;
    /** Steps after the join (the WHERE and projection of a SQL join). */
    public List<Step> postSteps = new ArrayList<>();
    public Aggregate aggregate;
    public Sink sink;
    public String store;
    public String processingGuarantee = "exactly_once_v2";
    public Map<String, String> properties = new LinkedHashMap<>();

    /** A declared column of a SQL source: values are read into it by name (case-insensitive) and type. */
    public static final class Column {
        public String name;
        public String type = "STRING";
        public boolean key;
    }

    public static final class Source {
        public String topic;
        public String valueFormat = "json";
        /** kafka | json | none; keys are text inside the runner (see {@link Keys}). */
        public String keyFormat = "kafka";
        public String keyType = "STRING";
        /** Optional JSON field holding the event time in epoch milliseconds; else the record timestamp. */
        public String timestampField;
        /** SQL sources: the columns a record is read into (a row), with ROWTIME, ROWPARTITION and ROWOFFSET. */
        public List<Column> columns;
        /** Avro: writer schemas known in advance, by registry id. */
        public Map<String, String> avroSchemas;
    }

    public static final class Step {
        /** filter | select | set_key */
        public String op;
        public Object expr;
        public Map<String, Object> fields;
    }

    public static final class Join {
        /** table | global_table | stream */
        public String kind;
        public String topic;
        public String valueFormat = "json";
        public String keyFormat = "kafka";
        public String keyType = "STRING";
        /** inner | left | outer (stream-stream only) */
        public String type = "inner";
        /** global_table only: the lookup key computed from the stream record. */
        public Object keyExpr;
        /** stream only: re-key the other stream by this expression before joining. */
        public Object rightKey;
        /** SQL: the other side's columns (its records are read into rows). */
        public List<Column> rightColumns;
        public Map<String, String> avroSchemas;
        /** stream only: the join window (time difference) and its grace; before/after make it asymmetric. */
        public Long windowMs;
        public Long beforeMs;
        public Long afterMs;
        public Long graceMs;
        /** Output fields computed from `left`, `right` and `key`; default: left's fields, then right's. */
        public Map<String, Object> select;
    }

    public static final class Window {
        /** tumbling | hopping | session | sliding */
        public String type;
        public Long sizeMs;
        public Long advanceMs;
        public Long gapMs;
        public Long graceMs;
        /** How long window results stay queryable; default max(size + grace, 1 day). */
        public Long retentionMs;
    }

    public static final class Aggregation {
        public String name;
        /**
         * count | sum | min | max | avg | latest_by_offset | earliest_by_offset | count_distinct | topk |
         * topkdistinct | collect_list | collect_set | histogram
         */
        public String op;
        public Object expr;
        /** topk / topkdistinct: how many values. */
        public Integer param;
        /** latest_by_offset / earliest_by_offset: skip null values (ksqlDB's default). */
        public Boolean ignoreNulls = Boolean.TRUE;
        /** The SQL type of the result (DECIMAL sums keep their scale). */
        public String type;
    }

    public static final class Aggregate {
        public Object groupBy;
        /** Name of the group key in output values (the spec API); null to leave the key out of the value (SQL). */
        public String keyField = "key";
        /** SQL: the key columns of the output (one, or several encoded as a JSON object key). */
        public List<Column> keyColumns;
        public Window window;
        public List<Aggregation> aggregations = new ArrayList<>();
        /** changes | final */
        public String emit = "changes";
        /** SQL HAVING over the output row (key columns, aggregations by name, window bounds); a miss is a tombstone. */
        public Object having;
        /** SQL: the output value's fields, computed from that row; default: the aggregations. */
        public Map<String, Object> select;
        public String windowStartField = "window_start";
        public String windowEndField = "window_end";
    }

    public static final class Sink {
        public String topic;
        public String valueFormat = "json";
        public String keyFormat = "kafka";
        public String keyType = "STRING";
        public String avroSchema;
        public Integer avroSchemaId;
    }

    static final ObjectMapper MAPPER = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false)
            .configure(DeserializationFeature.USE_LONG_FOR_INTS, true);

    public static Spec read(File file) throws IOException {
        return MAPPER.readValue(file, Spec.class);
    }

    public static Spec parse(String json) throws IOException {
        return MAPPER.readValue(json, Spec.class);
    }
}
