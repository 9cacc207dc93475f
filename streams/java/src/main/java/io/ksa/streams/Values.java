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
        throw new IllegalArgumentException("unsupported value format '" + format + "' (use json or string)");
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

    /** A key for grouping or re-keying: strings stay, other values are written as JSON; null stays null. */
    public static String keyOf(Object v) {
        if (v == null) {
            return null;
        }
        if (v instanceof String s) {
            return s;
        }
        try {
            return JSON.writeValueAsString(v);
        } catch (IOException e) {
            return String.valueOf(v);
        }
    }
}
