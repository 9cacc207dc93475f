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

/** The declarative application spec, as written by the Python side (snake_case JSON). Validated there first. */
public final class Spec {
    public String name;
    public String applicationId;
    public Source source;
    public List<Step> steps = new ArrayList<>();
    public Join join;
    public Aggregate aggregate;
    public Sink sink;
    public String store;
    public String processingGuarantee = "exactly_once_v2";
    public Map<String, String> properties = new LinkedHashMap<>();

    public static final class Source {
        public String topic;
        public String valueFormat = "json";
        /** Optional JSON field holding the event time in epoch milliseconds; else the record timestamp. */
        public String timestampField;
    }

    public static final class Step {
        /** filter | select | set_key */
        public String op;
        public String expr;
        public Map<String, String> fields;
    }

    public static final class Join {
        /** table | global_table | stream */
        public String kind;
        public String topic;
        public String valueFormat = "json";
        /** inner | left */
        public String type = "inner";
        /** global_table only: the lookup key computed from the stream record. */
        public String keyExpr;
        /** stream only: the join window (time difference) and its grace. */
        public Long windowMs;
        public Long graceMs;
        /** Output fields computed from `left`, `right` and `key`; default: left's fields, then right's. */
        public Map<String, String> select;
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
        /** count | sum | min | max | avg */
        public String op;
        public String expr;
    }

    public static final class Aggregate {
        public String groupBy;
        public String keyField = "key";
        public Window window;
        public List<Aggregation> aggregations = new ArrayList<>();
        /** changes | final */
        public String emit = "changes";
    }

    public static final class Sink {
        public String topic;
        public String valueFormat = "json";
    }

    static final ObjectMapper MAPPER = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    public static Spec read(File file) throws IOException {
        return MAPPER.readValue(file, Spec.class);
    }

    public static Spec parse(String json) throws IOException {
        return MAPPER.readValue(json, Spec.class);
    }
}
