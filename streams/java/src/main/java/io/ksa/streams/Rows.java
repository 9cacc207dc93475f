package io.ksa.streams;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.processor.api.RecordMetadata;

/**
 * Reads a record into the declared columns of a SQL source, as ksqlDB does: value fields by name (case-insensitive),
 * or by position for DELIMITED values; the key column(s) from the record key; each converted to its declared type.
 * ROWTIME, ROWPARTITION and ROWOFFSET are added. A record that does not fit (a value of the wrong type, a value that
 * is not an object) is dropped and counted as a failure, with the reason.
 */
public final class Rows {
    public static final String ROWTIME = "ROWTIME";
    public static final String ROWPARTITION = "ROWPARTITION";
    public static final String ROWOFFSET = "ROWOFFSET";

    private final List<Spec.Column> columns;
    private final String where;
    /** The field spelling last seen for each value column (JSON names rarely match the upper-case column name). */
    private final String[] seen;

    public Rows(List<Spec.Column> columns, String where) {
        this.columns = columns;
        this.where = where;
        this.seen = new String[columns.size()];
    }

    /** The row, or null when the record does not fit (the failure is recorded). */
    public Map<String, Object> build(String key, Object value, long timestamp, int partition, long offset) {
        if (value == null) {
            return null; // a tombstone carries no row
        }
        Map<String, Object> row = new LinkedHashMap<>();
        List<Object> positional = value instanceof List<?> l ? castList(l) : null;
        Map<?, ?> fields = value instanceof Map<?, ?> m ? m : null;
        long valueColumns = columns.stream().filter(c -> !c.key).count();
        int position = 0;
        for (int i = 0; i < columns.size(); i++) {
            Spec.Column c = columns.get(i);
            Object raw;
            if (c.key) {
                raw = keyPart(key, c);
            } else if (fields != null) {
                raw = lookup(fields, c.name, i);
            } else if (positional != null) {
                raw = position < positional.size() ? positional.get(position) : null;
                position++;
            } else if (valueColumns == 1) {
                raw = value; // an unwrapped single value (WRAP_SINGLE_VALUE=false)
            } else {
                Failures.GLOBAL.record(where, "the value is " + Values.describe(value) + ", not an object of columns");
                return null;
            }
            try {
                row.put(c.name, SqlTypes.coerce(raw, c.type));
            } catch (SqlTypes.CoercionException e) {
                Failures.GLOBAL.record(where, "column " + c.name + ": " + e.getMessage() + "; the record was skipped");
                return null;
            }
        }
        row.put(ROWTIME, timestamp);
        row.put(ROWPARTITION, (long) partition);
        row.put(ROWOFFSET, offset);
        return row;
    }

    @SuppressWarnings("unchecked")
    private static List<Object> castList(List<?> l) {
        return (List<Object>) l;
    }

    private Object keyPart(String key, Spec.Column c) {
        long keys = columns.stream().filter(x -> x.key).count();
        if (keys <= 1 || key == null) {
            return key;
        }
        try {
            Object parsed = Values.JSON.readValue(key, Object.class);
            if (parsed instanceof Map<?, ?> m) {
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    if (String.valueOf(e.getKey()).equalsIgnoreCase(c.name)) {
                        return e.getValue();
                    }
                }
            }
        } catch (java.io.IOException e) {
            Failures.GLOBAL.record(where, "a key of several columns must be a JSON object, not " + key);
        }
        return null;
    }

    private Object lookup(Map<?, ?> fields, String name, int i) {
        String last = seen[i];
        if (last != null) {
            Object v = fields.get(last);
            if (v != null || fields.containsKey(last)) {
                return v;
            }
        }
        Object v = fields.get(name);
        if (v != null || fields.containsKey(name)) {
            seen[i] = name;
            return v;
        }
        for (Map.Entry<?, ?> e : fields.entrySet()) {
            String k = String.valueOf(e.getKey());
            if (k.equalsIgnoreCase(name)) {
                seen[i] = k;
                return e.getValue();
            }
        }
        return null;
    }

    /** The processor that turns each record's value into its row (records that do not fit are not forwarded). */
    public static FixedKeyProcessor<String, Object, Object> processor(List<Spec.Column> columns, String where) {
        return new FixedKeyProcessor<>() {
            private FixedKeyProcessorContext<String, Object> context;
            private final Rows rows = new Rows(columns, where);

            @Override
            public void init(FixedKeyProcessorContext<String, Object> context) {
                this.context = context;
            }

            @Override
            public void process(FixedKeyRecord<String, Object> record) {
                RecordMetadata md = context.recordMetadata().orElse(null);
                Map<String, Object> row = rows.build(record.key(), record.value(), record.timestamp(),
                        md == null ? -1 : md.partition(), md == null ? -1L : md.offset());
                if (row != null) {
                    context.forward(record.withValue(row));
                }
            }
        };
    }
}
