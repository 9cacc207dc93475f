package io.ksa.streams;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Record keys inside the runner are text: each key format converts its bytes to and from that text.
 *
 * <ul>
 *   <li>kafka: ksqlDB's KAFKA format: a STRING key is its UTF-8 bytes; INT 4 bytes, BIGINT 8 bytes, DOUBLE 8 bytes
 *       (big-endian), read as their decimal text;</li>
 *   <li>json: the key is JSON; a JSON string becomes its text, anything else its JSON text (several key columns are
 *       one JSON object); written back as JSON, quoted for STRING keys;</li>
 *   <li>none: no key (null).</li>
 * </ul>
 */
public final class Keys {
    private Keys() {}

    public static Serde<String> serde(String format, String type) {
        String f = format == null ? "kafka" : format.toLowerCase();
        String t = type == null ? "STRING" : SqlTypes.base(type);
        switch (f) {
            case "kafka" -> {
                if (t.equals("STRING") || t.equals("VARCHAR")) {
                    return Serdes.String();
                }
                return Serdes.serdeFrom(kafkaSerializer(t), kafkaDeserializer(t));
            }
            case "json" -> {
                boolean quote = t.equals("STRING") || t.equals("VARCHAR");
                Serializer<String> ser = (topic, key) -> {
                    if (key == null) {
                        return null;
                    }
                    String text = quote ? Values.toJson(key) : key;
                    return text.getBytes(StandardCharsets.UTF_8);
                };
                Deserializer<String> de = (topic, bytes) -> {
                    if (bytes == null) {
                        return null;
                    }
                    try {
                        Object v = Values.JSON.readValue(bytes, Object.class);
                        return Values.keyOf(v);
                    } catch (java.io.IOException e) {
                        throw new SerializationException("record key is not JSON: " + e.getMessage(), e);
                    }
                };
                return Serdes.serdeFrom(ser, de);
            }
            case "none" -> {
                Serializer<String> ser = (topic, key) -> null;
                Deserializer<String> de = (topic, bytes) -> null;
                return Serdes.serdeFrom(ser, de);
            }
            default -> throw new IllegalArgumentException("unsupported key format '" + format + "' (kafka, json, none)");
        }
    }

    private static Serializer<String> kafkaSerializer(String type) {
        return (topic, key) -> {
            if (key == null) {
                return null;
            }
            try {
                return switch (type) {
                    case "INT", "INTEGER" -> ByteBuffer.allocate(4).putInt(Integer.parseInt(key)).array();
                    case "BIGINT" -> ByteBuffer.allocate(8).putLong(Long.parseLong(key)).array();
                    case "DOUBLE" -> ByteBuffer.allocate(8).putDouble(Double.parseDouble(key)).array();
                    default -> key.getBytes(StandardCharsets.UTF_8);
                };
            } catch (NumberFormatException e) {
                throw new SerializationException("key '" + key + "' is not a " + type, e);
            }
        };
    }

    private static Deserializer<String> kafkaDeserializer(String type) {
        return (topic, bytes) -> {
            if (bytes == null) {
                return null;
            }
            ByteBuffer buf = ByteBuffer.wrap(bytes);
            return switch (type) {
                case "INT", "INTEGER" -> {
                    if (bytes.length != 4) {
                        throw new SerializationException("an INT key in the KAFKA format has 4 bytes, not " + bytes.length);
                    }
                    yield Integer.toString(buf.getInt());
                }
                case "BIGINT" -> {
                    if (bytes.length != 8) {
                        throw new SerializationException("a BIGINT key in the KAFKA format has 8 bytes, not " + bytes.length);
                    }
                    yield Long.toString(buf.getLong());
                }
                case "DOUBLE" -> {
                    if (bytes.length != 8) {
                        throw new SerializationException("a DOUBLE key in the KAFKA format has 8 bytes, not " + bytes.length);
                    }
                    yield Double.toString(buf.getDouble());
                }
                default -> new String(bytes, StandardCharsets.UTF_8);
            };
        };
    }
}
