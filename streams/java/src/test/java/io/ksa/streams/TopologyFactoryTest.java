package io.ksa.streams;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.WindowStore;
import org.junit.jupiter.api.Test;

/** Every window type, aggregation and join, on Kafka's TopologyTestDriver. */
class TopologyFactoryTest {
    private static final long MIN = 60_000L;
    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");

    private static Spec spec(String json) throws Exception {
        return Spec.parse(json.replace('\'', '"'));
    }

    private static final class Harness implements AutoCloseable {
        final TopologyTestDriver driver;
        final TopologyFactory.Built built;
        final TestInputTopic<String, Object> in;
        final TestOutputTopic<String, Object> out;

        Harness(Spec spec) {
            built = TopologyFactory.build(spec);
            Properties p = new Properties();
            p.put(StreamsConfig.APPLICATION_ID_CONFIG, "test-" + spec.name);
            p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "dummy:1234");
            p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, "0");
            driver = new TopologyTestDriver(built.topology, p);
            in = driver.createInputTopic(spec.source.topic, Serdes.String().serializer(),
                    Values.serde(spec.source.valueFormat).serializer());
            out = driver.createOutputTopic(spec.sink.topic, Serdes.String().deserializer(),
                    Values.serde(spec.sink.valueFormat).deserializer());
        }

        void send(String key, Object value, long offsetMs) {
            in.pipeInput(key, value, T0.plusMillis(offsetMs));
        }

        TestInputTopic<String, Object> input(String topic) {
            return driver.createInputTopic(topic, Serdes.String().serializer(), Values.json().serializer());
        }

        List<KeyValue<String, Object>> read() {
            return out.readKeyValuesToList();
        }

        @Override
        public void close() {
            driver.close();
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> m(Object v) {
        return (Map<String, Object>) v;
    }

    private static Map<String, Object> ev(String user, Object amount) {
        return Map.of("user_id", user, "amount", amount);
    }

    private static final String COUNT_BASE = "{'name':'c','application_id':'c','source':{'topic':'events'},"
            + "'sink':{'topic':'out'},'store':'counts','aggregate':{'group_by':'value.user_id','key_field':'user_id',";

    @Test
    void tumblingCountEmitChanges() throws Exception {
        try (Harness h = new Harness(spec(COUNT_BASE + "'window':{'type':'tumbling','size_ms':300000}}}"))) {
            h.send("x", ev("u1", 1), 0);
            h.send("y", ev("u1", 1), MIN);
            h.send("z", ev("u2", 1), 2 * MIN);
            h.send("w", ev("u1", 1), 6 * MIN);
            List<KeyValue<String, Object>> out = h.read();
            assertEquals(4, out.size());
            assertEquals("u1", out.get(1).key);
            assertEquals(2L, ((Number) m(out.get(1).value).get("count")).longValue());
            assertEquals(T0.toEpochMilli(), ((Number) m(out.get(1).value).get("window_start")).longValue());
            assertEquals(T0.toEpochMilli() + 5 * MIN, ((Number) m(out.get(1).value).get("window_end")).longValue());
            assertEquals(1L, ((Number) m(out.get(3).value).get("count")).longValue());
            assertEquals(T0.toEpochMilli() + 5 * MIN, ((Number) m(out.get(3).value).get("window_start")).longValue());
            WindowStore<String, Object> store = h.driver.getWindowStore("counts");
            assertEquals(2L, ((Number) m(store.fetch("u1", T0.toEpochMilli())).get("count")).longValue());
            assertEquals(1L, ((Number) m(store.fetch("u1", T0.toEpochMilli() + 5 * MIN)).get("count")).longValue());
        }
    }

    @Test
    void tumblingCountEmitFinalOnlyAfterWindowCloses() throws Exception {
        String s = COUNT_BASE + "'window':{'type':'tumbling','size_ms':300000,'grace_ms':60000},'emit':'final'}}";
        try (Harness h = new Harness(spec(s))) {
            h.send("a", ev("u1", 1), 0);
            h.send("a", ev("u1", 1), MIN);
            h.send("a", ev("u1", 1), 5 * MIN);
            assertTrue(h.read().isEmpty(), "nothing before the window closes");
            h.send("a", ev("u1", 1), 6 * MIN); // stream time reaches end + grace
            List<KeyValue<String, Object>> out = h.read();
            assertEquals(1, out.size());
            assertEquals(2L, ((Number) m(out.get(0).value).get("count")).longValue());
        }
    }

    @Test
    void hoppingCount() throws Exception {
        String s = COUNT_BASE + "'window':{'type':'hopping','size_ms':600000,'advance_ms':300000}}}";
        try (Harness h = new Harness(spec(s))) {
            h.send("a", ev("u1", 1), 6 * MIN); // falls in windows [0,10) and [5,15)
            List<KeyValue<String, Object>> out = h.read();
            assertEquals(2, out.size());
            List<Long> starts = new ArrayList<>();
            out.forEach(kv -> starts.add(((Number) m(kv.value).get("window_start")).longValue() - T0.toEpochMilli()));
            assertEquals(List.of(0L, 5 * MIN), starts);
        }
    }

    @Test
    void sessionCountMergesSessions() throws Exception {
        String s = COUNT_BASE + "'window':{'type':'session','gap_ms':300000}}}";
        try (Harness h = new Harness(spec(s))) {
            h.send("a", ev("u1", 1), 0);
            h.send("a", ev("u1", 1), 10 * MIN); // separate session
            h.send("a", ev("u1", 1), 5 * MIN); // within the gap of both: one session of 3
            List<KeyValue<String, Object>> out = h.read();
            out.removeIf(kv -> kv.value == null); // tombstones for the sessions merged away
            KeyValue<String, Object> last = out.get(out.size() - 1);
            assertEquals(3L, ((Number) m(last.value).get("count")).longValue());
            assertEquals(T0.toEpochMilli(), ((Number) m(last.value).get("window_start")).longValue());
            assertEquals(T0.toEpochMilli() + 10 * MIN, ((Number) m(last.value).get("window_end")).longValue());
        }
    }

    @Test
    void slidingCount() throws Exception {
        String s = COUNT_BASE + "'window':{'type':'sliding','size_ms':300000,'grace_ms':0}}}";
        try (Harness h = new Harness(spec(s))) {
            h.send("a", ev("u1", 1), 0);
            h.send("a", ev("u1", 1), 2 * MIN);
            List<KeyValue<String, Object>> out = h.read();
            long max = out.stream().mapToLong(kv -> ((Number) m(kv.value).get("count")).longValue()).max().orElse(0);
            assertEquals(2L, max, "both records are within 5 minutes of each other");
        }
    }

    @Test
    void sumMinMaxAvgWithoutWindow() throws Exception {
        String s = "{'name':'a','application_id':'a','source':{'topic':'events'},'sink':{'topic':'out'},'store':'totals',"
                + "'aggregate':{'group_by':'value.user_id','key_field':'user_id','aggregations':["
                + "{'name':'n','op':'count'},{'name':'total','op':'sum','expr':'value.amount'},"
                + "{'name':'lo','op':'min','expr':'value.amount'},{'name':'hi','op':'max','expr':'value.amount'},"
                + "{'name':'mean','op':'avg','expr':'value.amount'}]}}";
        try (Harness h = new Harness(spec(s))) {
            h.send("a", ev("u1", 10), 0);
            h.send("a", ev("u1", 2.5), 1);
            h.send("a", ev("u1", 30), 2);
            List<KeyValue<String, Object>> out = h.read();
            Map<String, Object> last = m(out.get(out.size() - 1).value);
            assertEquals("u1", last.get("user_id"));
            assertEquals(3L, ((Number) last.get("n")).longValue());
            assertEquals(42.5, ((Number) last.get("total")).doubleValue(), 1e-9);
            assertEquals(2.5, ((Number) last.get("lo")).doubleValue(), 1e-9);
            assertEquals(30L, ((Number) last.get("hi")).longValue());
            assertEquals(42.5 / 3, ((Number) last.get("mean")).doubleValue(), 1e-9);
            KeyValueStore<String, Object> store = h.driver.getKeyValueStore("totals");
            assertEquals(3L, ((Number) m(store.get("u1")).get("n")).longValue());
        }
    }

    @Test
    void filterSelectAndSetKey() throws Exception {
        String s = "{'name':'f','application_id':'f','source':{'topic':'events'},'sink':{'topic':'out'},"
                + "'steps':[{'op':'filter','expr':'value.amount > 5 && value.user_id.startsWith(\\'u\\')'},"
                + "{'op':'select','fields':{'who':'value.user_id','double':'value.amount * 2'}},"
                + "{'op':'set_key','expr':'value.who'}]}";
        try (Harness h = new Harness(spec(s))) {
            h.send("k", ev("u1", 3), 0);
            h.send("k", ev("u2", 7), 1);
            h.send("k", ev("x3", 9), 2);
            List<KeyValue<String, Object>> out = h.read();
            assertEquals(1, out.size());
            assertEquals("u2", out.get(0).key);
            assertEquals(Map.of("who", "u2", "double", 14L), m(out.get(0).value));
        }
    }

    @Test
    void streamTableJoin() throws Exception {
        String s = "{'name':'j','application_id':'j','source':{'topic':'orders'},'sink':{'topic':'out'},"
                + "'join':{'kind':'table','topic':'users','type':'left'}}";
        try (Harness h = new Harness(spec(s))) {
            h.input("users").pipeInput("u1", Map.of("country", "NL"), T0);
            h.send("u1", Map.of("order", "o1"), 1);
            h.send("u2", Map.of("order", "o2"), 2);
            List<KeyValue<String, Object>> out = h.read();
            assertEquals(2, out.size());
            assertEquals(Map.of("order", "o1", "country", "NL"), m(out.get(0).value));
            assertEquals(Map.of("order", "o2"), m(out.get(1).value), "left join keeps unmatched records");
        }
    }

    @Test
    void streamGlobalTableJoin() throws Exception {
        String s = "{'name':'g','application_id':'g','source':{'topic':'orders'},'sink':{'topic':'out'},"
                + "'join':{'kind':'global_table','topic':'products','key_expr':'value.product',"
                + "'select':{'order':'left.order','name':'right.name'}}}";
        try (Harness h = new Harness(spec(s))) {
            h.input("products").pipeInput("p1", Map.of("name", "pen"), T0);
            h.send("o1", Map.of("order", "o1", "product", "p1"), 1);
            h.send("o2", Map.of("order", "o2", "product", "p9"), 2);
            List<KeyValue<String, Object>> out = h.read();
            assertEquals(1, out.size(), "inner join drops the order whose product is unknown");
            assertEquals(Map.of("order", "o1", "name", "pen"), m(out.get(0).value));
        }
    }

    @Test
    void streamStreamJoinWithinWindow() throws Exception {
        String s = "{'name':'s','application_id':'s','source':{'topic':'clicks'},'sink':{'topic':'out'},"
                + "'join':{'kind':'stream','topic':'views','window_ms':60000,'grace_ms':0}}";
        try (Harness h = new Harness(spec(s))) {
            TestInputTopic<String, Object> views = h.input("views");
            views.pipeInput("u1", Map.of("page", "home"), T0);
            h.send("u1", Map.of("click", "buy"), 30_000);
            h.send("u1", Map.of("click", "late"), 5 * MIN);
            List<KeyValue<String, Object>> out = h.read();
            assertEquals(1, out.size());
            assertEquals(Map.of("click", "buy", "page", "home"), m(out.get(0).value));
        }
    }

    @Test
    void badExpressionAndUnknownWindowAreRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TopologyFactory.build(spec("{'name':'b','application_id':'b','source':{'topic':'i'},"
                        + "'sink':{'topic':'o'},'steps':[{'op':'filter','expr':'value.x >'}]}")));
        assertTrue(e.getMessage().contains("invalid CEL expression"));
        e = assertThrows(IllegalArgumentException.class,
                () -> TopologyFactory.build(spec(COUNT_BASE + "'window':{'type':'weird','size_ms':1}}}")));
        assertTrue(e.getMessage().contains("unsupported window"));
    }

    @Test
    void eventTimeFromField() throws Exception {
        String s = "{'name':'t','application_id':'t','source':{'topic':'events','timestamp_field':'ts'},"
                + "'sink':{'topic':'out'},'aggregate':{'group_by':'value.user_id',"
                + "'window':{'type':'tumbling','size_ms':60000}}}";
        try (Harness h = new Harness(spec(s))) {
            h.send("a", Map.of("user_id", "u1", "ts", 120_500L), 0);
            List<KeyValue<String, Object>> out = h.read();
            assertEquals(120_000L, ((Number) m(out.get(0).value).get("window_start")).longValue());
        }
    }
}
