package io.ksa.streams;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.LogicalType;
import org.apache.avro.LogicalTypes;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Avro values in the Confluent wire format (magic byte 0, 4-byte schema id, Avro binary), with a Schema Registry
 * that speaks the Confluent API. The runner only reads the registry (GET /schemas/ids/{id}): the schema a query
 * writes was registered before the runner started (through the gate) and its id is in the spec.
 */
public final class AvroSupport {
    private AvroSupport() {}

    private static volatile String registryUrl;
    private static volatile String basicAuth;
    private static final Map<Integer, Schema> SCHEMAS = new ConcurrentHashMap<>();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    /** The registry of this runner (from its client properties): ksa.schema.registry.url and .basic.auth. */
    public static void configure(String url, String auth) {
        registryUrl = url == null || url.isBlank() ? null : url.replaceAll("/+$", "");
        basicAuth = auth == null || auth.isBlank() ? null : auth;
    }

    /** Schemas known in advance (the spec's avro_schemas), so no registry call is needed for them. */
    public static void remember(Map<String, String> byId) {
        if (byId != null) {
            byId.forEach((id, text) -> SCHEMAS.put(Integer.parseInt(id), new Schema.Parser().parse(text)));
        }
    }

    static Schema schema(int id) {
        Schema known = SCHEMAS.get(id);
        if (known != null) {
            return known;
        }
        if (registryUrl == null) {
            throw new SerializationException("Avro schema id " + id + " is unknown and no schema registry is configured");
        }
        try {
            HttpRequest.Builder req = HttpRequest.newBuilder(URI.create(registryUrl + "/schemas/ids/" + id))
                    .timeout(Duration.ofSeconds(15)).header("Accept", "application/json").GET();
            if (basicAuth != null) {
                req.header("Authorization", "Basic "
                        + Base64.getEncoder().encodeToString(basicAuth.getBytes(StandardCharsets.UTF_8)));
            }
            HttpResponse<String> resp = HTTP.send(req.build(), HttpResponse.BodyHandlers.ofString());
            if (resp.statusCode() != 200) {
                throw new SerializationException("schema registry answered HTTP " + resp.statusCode() + " for id " + id);
            }
            String text = Values.JSON.readTree(resp.body()).get("schema").asText();
            Schema s = new Schema.Parser().parse(text);
            SCHEMAS.put(id, s);
            return s;
        } catch (IOException e) {
            throw new SerializationException("cannot read schema id " + id + " from the registry: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SerializationException("interrupted while reading schema id " + id, e);
        }
    }

    /** A serde reading any registered writer schema, and writing with ``writerSchema`` under ``writerId``. */
    public static Serde<Object> serde(String writerSchema, Integer writerId) {
        Schema writer = writerSchema == null ? null : new Schema.Parser().parse(writerSchema);
        if (writer != null && writerId != null) {
            SCHEMAS.putIfAbsent(writerId, writer);
        }
        Serializer<Object> ser = (topic, data) -> {
            if (data == null) {
                return null;
            }
            if (writer == null || writerId == null) {
                throw new SerializationException("this topic is read as Avro, but no writer schema was given");
            }
            try {
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                out.write(0);
                out.write(ByteBuffer.allocate(4).putInt(writerId).array());
                BinaryEncoder enc = EncoderFactory.get().binaryEncoder(out, null);
                new GenericDatumWriter<Object>(writer).write(toAvro(data, writer, "value"), enc);
                enc.flush();
                return out.toByteArray();
            } catch (IOException | RuntimeException e) {
                throw new SerializationException("cannot write the value as Avro: " + e.getMessage(), e);
            }
        };
        Deserializer<Object> de = (topic, bytes) -> {
            if (bytes == null) {
                return null;
            }
            if (bytes.length < 5 || bytes[0] != 0) {
                throw new SerializationException("the value is not in the Confluent Avro wire format (magic byte 0)");
            }
            int id = ByteBuffer.wrap(bytes, 1, 4).getInt();
            Schema s = schema(id);
            try {
                Object v = new GenericDatumReader<Object>(s).read(null,
                        DecoderFactory.get().binaryDecoder(bytes, 5, bytes.length - 5, null));
                return fromAvro(v, s);
            } catch (IOException | RuntimeException e) {
                throw new SerializationException("cannot read the Avro value (schema id " + id + "): " + e.getMessage(), e);
            }
        };
        return Serdes.serdeFrom(ser, de);
    }

    static Object fromAvro(Object v, Schema s) {
        if (v == null) {
            return null;
        }
        Schema.Type t = s.getType();
        if (t == Schema.Type.UNION) {
            int i = GenericData.get().resolveUnion(s, v);
            return fromAvro(v, s.getTypes().get(i));
        }
        LogicalType lt = s.getLogicalType();
        if (lt instanceof LogicalTypes.Decimal d && v instanceof ByteBuffer b) {
            byte[] raw = new byte[b.remaining()];
            b.duplicate().get(raw);
            return new BigDecimal(new BigInteger(raw), d.getScale());
        }
        return switch (t) {
            case RECORD -> {
                GenericRecord r = (GenericRecord) v;
                Map<String, Object> out = new LinkedHashMap<>();
                for (Schema.Field f : s.getFields()) {
                    out.put(f.name(), fromAvro(r.get(f.pos()), f.schema()));
                }
                yield out;
            }
            case ARRAY -> {
                List<Object> out = new ArrayList<>();
                for (Object o : (List<?>) v) {
                    out.add(fromAvro(o, s.getElementType()));
                }
                yield out;
            }
            case MAP -> {
                Map<String, Object> out = new LinkedHashMap<>();
                ((Map<?, ?>) v).forEach((k, x) -> out.put(k.toString(), fromAvro(x, s.getValueType())));
                yield out;
            }
            case STRING, ENUM -> v.toString();
            case INT -> ((Integer) v).longValue();
            case FLOAT -> ((Float) v).doubleValue();
            case BYTES -> {
                ByteBuffer b = (ByteBuffer) v;
                byte[] raw = new byte[b.remaining()];
                b.duplicate().get(raw);
                yield Base64.getEncoder().encodeToString(raw);
            }
            case FIXED -> Base64.getEncoder().encodeToString(((GenericData.Fixed) v).bytes());
            default -> v;
        };
    }

    static Object toAvro(Object v, Schema s, String where) {
        if (s.getType() == Schema.Type.UNION) {
            if (v == null) {
                for (Schema b : s.getTypes()) {
                    if (b.getType() == Schema.Type.NULL) {
                        return null;
                    }
                }
                throw new IllegalArgumentException(where + " is null but its Avro type is not nullable");
            }
            for (Schema b : s.getTypes()) {
                if (b.getType() != Schema.Type.NULL) {
                    return toAvro(v, b, where);
                }
            }
        }
        if (v == null) {
            if (s.getType() == Schema.Type.NULL) {
                return null;
            }
            throw new IllegalArgumentException(where + " is null but its Avro type is not nullable");
        }
        LogicalType lt = s.getLogicalType();
        if (lt instanceof LogicalTypes.Decimal d) {
            BigDecimal dec = SqlExpr.toDecimal((Number) v).setScale(d.getScale(), java.math.RoundingMode.HALF_UP);
            return ByteBuffer.wrap(dec.unscaledValue().toByteArray());
        }
        return switch (s.getType()) {
            case RECORD -> {
                GenericData.Record r = new GenericData.Record(s);
                Map<?, ?> m = (Map<?, ?>) v;
                for (Schema.Field f : s.getFields()) {
                    Object x = m.get(f.name());
                    if (x == null) {
                        for (Map.Entry<?, ?> e : m.entrySet()) {
                            if (String.valueOf(e.getKey()).equalsIgnoreCase(f.name())) {
                                x = e.getValue();
                            }
                        }
                    }
                    r.put(f.pos(), toAvro(x, f.schema(), where + "." + f.name()));
                }
                yield r;
            }
            case ARRAY -> {
                List<Object> out = new ArrayList<>();
                for (Object o : (List<?>) v) {
                    out.add(toAvro(o, s.getElementType(), where + "[]"));
                }
                yield out;
            }
            case MAP -> {
                Map<String, Object> out = new LinkedHashMap<>();
                ((Map<?, ?>) v).forEach((k, x) -> out.put(String.valueOf(k), toAvro(x, s.getValueType(), where)));
                yield out;
            }
            case STRING -> v.toString();
            case ENUM -> new GenericData.EnumSymbol(s, v.toString());
            case INT -> ((Number) v).intValue();
            case LONG -> ((Number) v).longValue();
            case FLOAT -> ((Number) v).floatValue();
            case DOUBLE -> ((Number) v).doubleValue();
            case BOOLEAN -> (Boolean) v;
            case BYTES -> ByteBuffer.wrap(v instanceof String str ? Base64.getDecoder().decode(str) : (byte[]) v);
            default -> v;
        };
    }
}
