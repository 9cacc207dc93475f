package io.ksa.streams;

import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/**
 * A compact binary serde for aggregation state (a map of names to values): it is read and written once per record,
 * so the common case (longs and doubles) must be cheap. Layout: count, then per entry the name (length, UTF-8) and a
 * tag: 0 null, 1 long (8 bytes), 2 double (8 bytes), 3 string, 4 JSON (lists, maps, booleans), 5 decimal (its text);
 * tags 3-5 carry a 4-byte length and the bytes.
 */
final class StateSerde {
    private StateSerde() {}

    static Serde<Object> serde() {
        Serializer<Object> ser = (topic, data) -> {
            if (data == null) {
                return null;
            }
            Map<?, ?> m = (Map<?, ?>) data;
            byte[][] names = new byte[m.size()][];
            byte[][] blobs = new byte[m.size()][];
            int size = 4;
            int i = 0;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                names[i] = String.valueOf(e.getKey()).getBytes(StandardCharsets.UTF_8);
                Object v = e.getValue();
                size += 2 + names[i].length + 1;
                if (v == null || v instanceof Long || v instanceof Integer || v instanceof Short
                        || v instanceof Double || v instanceof Float) {
                    size += 8;
                } else {
                    if (v instanceof String s) {
                        blobs[i] = s.getBytes(StandardCharsets.UTF_8);
                    } else if (v instanceof BigDecimal d) {
                        blobs[i] = d.toString().getBytes(StandardCharsets.UTF_8);
                    } else {
                        blobs[i] = Values.toJson(v).getBytes(StandardCharsets.UTF_8);
                    }
                    size += 4 + blobs[i].length;
                }
                i++;
            }
            ByteBuffer buf = ByteBuffer.allocate(size);
            buf.putInt(m.size());
            i = 0;
            for (Object v : m.values()) {
                buf.putShort((short) names[i].length).put(names[i]);
                if (v == null) {
                    buf.put((byte) 0).putLong(0L);
                } else if (v instanceof Long || v instanceof Integer || v instanceof Short) {
                    buf.put((byte) 1).putLong(((Number) v).longValue());
                } else if (v instanceof Double || v instanceof Float) {
                    buf.put((byte) 2).putDouble(((Number) v).doubleValue());
                } else {
                    byte tag = v instanceof String ? (byte) 3 : v instanceof BigDecimal ? (byte) 5 : (byte) 4;
                    buf.put(tag).putInt(blobs[i].length).put(blobs[i]);
                }
                i++;
            }
            return buf.array();
        };
        Deserializer<Object> de = (topic, bytes) -> {
            if (bytes == null) {
                return null;
            }
            ByteBuffer buf = ByteBuffer.wrap(bytes);
            int n = buf.getInt();
            Map<String, Object> out = new LinkedHashMap<>(Math.max(4, n * 2));
            for (int i = 0; i < n; i++) {
                byte[] name = new byte[buf.getShort()];
                buf.get(name);
                byte tag = buf.get();
                Object v;
                if (tag <= 2) {
                    long raw = buf.getLong();
                    v = tag == 0 ? null : tag == 1 ? (Object) raw : (Object) Double.longBitsToDouble(raw);
                } else {
                    byte[] blob = new byte[buf.getInt()];
                    buf.get(blob);
                    String text = new String(blob, StandardCharsets.UTF_8);
                    if (tag == 3) {
                        v = text;
                    } else if (tag == 5) {
                        v = new BigDecimal(text);
                    } else {
                        try {
                            v = Values.JSON.readValue(blob, Object.class);
                        } catch (java.io.IOException e) {
                            throw new SerializationException("aggregation state is damaged: " + e.getMessage(), e);
                        }
                    }
                }
                out.put(new String(name, StandardCharsets.UTF_8), v);
            }
            return out;
        };
        return Serdes.serdeFrom(ser, de);
    }
}
