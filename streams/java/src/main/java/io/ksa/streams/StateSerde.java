package io.ksa.streams;

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
 * A compact binary serde for aggregation state (a map of names to longs, doubles or nulls): it is read and written
 * once per record, so it must be cheap. Layout: count, then per entry name length, name bytes, tag (0 null, 1 long,
 * 2 double) and 8 bytes.
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
            int size = 4;
            int i = 0;
            for (Object k : m.keySet()) {
                names[i] = String.valueOf(k).getBytes(StandardCharsets.UTF_8);
                size += 2 + names[i].length + 1 + 8;
                i++;
            }
            ByteBuffer buf = ByteBuffer.allocate(size);
            buf.putInt(m.size());
            i = 0;
            for (Object v : m.values()) {
                buf.putShort((short) names[i].length).put(names[i]);
                i++;
                if (v == null) {
                    buf.put((byte) 0).putLong(0L);
                } else if (v instanceof Long || v instanceof Integer || v instanceof Short) {
                    buf.put((byte) 1).putLong(((Number) v).longValue());
                } else if (v instanceof Number n) {
                    buf.put((byte) 2).putDouble(n.doubleValue());
                } else {
                    throw new SerializationException("aggregation state holds a " + v.getClass().getSimpleName());
                }
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
                long raw = buf.getLong();
                out.put(new String(name, StandardCharsets.UTF_8),
                        tag == 0 ? null : tag == 1 ? (Object) raw : (Object) Double.longBitsToDouble(raw));
            }
            return out;
        };
        return Serdes.serdeFrom(ser, de);
    }
}
