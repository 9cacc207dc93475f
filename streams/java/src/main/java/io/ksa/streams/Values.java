package io.ksa.streams;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/** Value serdes over plain Java objects: JSON (maps, lists, numbers, strings) or UTF-8 strings. */
public final class Values {
    static final ObjectMapper JSON = new ObjectMapper().configure(DeserializationFeature.USE_LONG_FOR_INTS, true);

    private Values() {}

    public static Serde<Object> serde(String format) {
        if (format == null || format.equals("json")) {
            return json();
        }
        if (format.equals("string")) {
            return string();
        }
        if (format.equals("delimited")) {
            return delimited();
        }
        throw new IllegalArgumentException("unsupported value format '" + format + "' (json, string, delimited, avro)");
    }

    /**
     * ksqlDB's DELIMITED format: comma-separated fields in column order, read as a list of strings (null for an
     * empty field) and written from a map's values in order.
     */
    public static Serde<Object> delimited() {
        Serializer<Object> ser = (topic, data) -> {
            if (data == null) {
                return null;
            }
            java.util.Collection<?> fields = data instanceof java.util.Map<?, ?> m ? m.values()
                    : data instanceof java.util.List<?> l ? l : java.util.List.of(data);
            StringBuilder sb = new StringBuilder();
            int i = 0;
            for (Object f : fields) {
                if (i++ > 0) {
                    sb.append(',');
                }
                if (f != null) {
                    String t = f instanceof java.math.BigDecimal d ? d.toPlainString() : f.toString();
                    sb.append(t.contains(",") || t.contains("\"") ? "\"" + t.replace("\"", "\"\"") + "\"" : t);
                }
            }
            return sb.toString().getBytes(StandardCharsets.UTF_8);
        };
        Deserializer<Object> de = (topic, bytes) -> {
            if (bytes == null) {
                return null;
            }
            String line = new String(bytes, StandardCharsets.UTF_8);
            java.util.List<Object> out = new java.util.ArrayList<>();
            StringBuilder cur = new StringBuilder();
            boolean quoted = false;
            boolean wasQuoted = false;
            for (int i = 0; i < line.length(); i++) {
                char c = line.charAt(i);
                if (quoted) {
                    if (c == '"' && i + 1 < line.length() && line.charAt(i + 1) == '"') {
                        cur.append('"');
                        i++;
                    } else if (c == '"') {
                        quoted = false;
                    } else {
                        cur.append(c);
                    }
                } else if (c == '"') {
                    quoted = true;
                    wasQuoted = true;
                } else if (c == ',') {
                    out.add(cur.length() == 0 && !wasQuoted ? null : cur.toString());
                    cur.setLength(0);
                    wasQuoted = false;
                } else {
                    cur.append(c);
                }
            }
            out.add(cur.length() == 0 && !wasQuoted ? null : cur.toString());
            return out;
        };
        return Serdes.serdeFrom(ser, de);
    }

    public static Serde<Object> json() {
        Serializer<Object> ser = (topic, data) -> {
            if (data == null) {
                return null;
            }
            try {
                return JSON.writeValueAsBytes(data);
            } catch (IOException e) {
                throw new SerializationException("cannot write JSON", e);
            }
        };
        Deserializer<Object> de = (topic, bytes) -> {
            if (bytes == null) {
                return null;
            }
            try {
                return JSON.readValue(bytes, Object.class);
            } catch (IOException e) {
                throw new SerializationException("record value is not JSON: " + e.getMessage(), e);
            }
        };
        return Serdes.serdeFrom(ser, de);
    }

    public static Serde<Object> string() {
        Serializer<Object> ser = (topic, data) -> {
            if (data == null) {
                return null;
            }
            if (data instanceof String s) {
                return s.getBytes(StandardCharsets.UTF_8);
            }
            try {
                return JSON.writeValueAsBytes(data);
            } catch (IOException e) {
                throw new SerializationException("cannot write value", e);
            }
        };
        Deserializer<Object> de = (topic, bytes) -> bytes == null ? null : new String(bytes, StandardCharsets.UTF_8);
        return Serdes.serdeFrom(ser, de);
    }

    /** A value and its kind, for messages: 41 (a number), 'x' (a string). */
    public static String describe(Object v) {
        if (v == null) {
            return "null";
        }
        String kind = v instanceof Number ? "a number" : v instanceof String ? "a string" : v instanceof Boolean
                ? "a boolean" : v instanceof java.util.List<?> ? "a list" : v instanceof java.util.Map<?, ?> ? "an object"
                : "a " + v.getClass().getSimpleName();
        String text = v instanceof String s ? "'" + s + "'" : toJson(v);
        if (text.length() > 60) {
            text = text.substring(0, 60) + "...";
        }
        return text + " (" + kind + ")";
    }

    /** JSON text of a value (best effort; for messages and map/list keys). */
    public static String toJson(Object v) {
        try {
            return JSON.writeValueAsString(v);
        } catch (IOException e) {
            return String.valueOf(v);
        }
    }

    /** A key for grouping or re-keying: strings stay, other values are written as JSON; null stays null. */
    public static String keyOf(Object v) {
        if (v == null) {
            return null;
        }
        if (v instanceof String s) {
            return s;
        }
        if (v instanceof java.math.BigDecimal d) {
            return d.toPlainString();
        }
        try {
            return JSON.writeValueAsString(v);
        } catch (IOException e) {
            return String.valueOf(v);
        }
    }
}
