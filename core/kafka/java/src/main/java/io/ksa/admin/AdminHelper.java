package io.ksa.admin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterClientQuotasOptions;
import org.apache.kafka.clients.admin.AlterPartitionReassignmentsOptions;
import org.apache.kafka.clients.admin.DescribeClientQuotasOptions;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.DescribeLogDirsOptions;
import org.apache.kafka.clients.admin.ListPartitionReassignmentsOptions;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.PartitionReassignment;
import org.apache.kafka.clients.admin.ReplicaInfo;
import org.apache.kafka.clients.admin.UnregisterBrokerOptions;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.quota.ClientQuotaFilterComponent;

/**
 * Kafka's Java Admin client for what confluent-kafka lacks, as JSON lines: the first line on stdin is
 * {"config": {client properties}}; then each request {"id", "op", "args", "mutate", "timeoutMs"} gets one response
 * line {"id", "ok", "result"} or {"id", "ok": false, "error": {"type", "message"}} on stdout. A mutating operation must
 * be sent with "mutate": true and a reading one without it, so the caller's split between reads and changes (the
 * Python side checks a gate permit for every change) cannot be blurred by a typo. Ends when stdin closes.
 */
public final class AdminHelper {
    static final Set<String> MUTATING = Set.of("alterReassignments", "alterClientQuotas", "unregisterBroker");
    static final Set<String> READING =
            Set.of("ping", "describeCluster", "describeLogDirs", "listReassignments", "describeClientQuotas");

    private final ObjectMapper json = new ObjectMapper();
    private final Admin admin;

    private AdminHelper(Admin admin) {
        this.admin = admin;
    }

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        // Nothing but protocol lines may reach stdout.
        System.setOut(new PrintStream(System.err, true, StandardCharsets.UTF_8));
        ObjectMapper json = new ObjectMapper();
        String first = in.readLine();
        if (first == null) {
            return;
        }
        Properties props = new Properties();
        json.readTree(first).path("config").fields().forEachRemaining(e -> props.put(e.getKey(), e.getValue().asText()));
        props.putIfAbsent("client.id", "kafka-streaming-agent-admin-helper");
        try (Admin admin = Admin.create(props)) {
            AdminHelper helper = new AdminHelper(admin);
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isBlank()) {
                    continue;
                }
                out.println(helper.handle(line));
                out.flush();
            }
        }
    }

    String handle(String line) {
        ObjectNode response = json.createObjectNode();
        try {
            JsonNode request = json.readTree(line);
            response.set("id", request.path("id"));
            String op = request.path("op").asText();
            boolean mutate = request.path("mutate").asBoolean(false);
            int timeoutMs = request.path("timeoutMs").asInt(15000);
            if (!MUTATING.contains(op) && !READING.contains(op)) {
                return fail(response, "InvalidRequestException", "unknown operation " + op);
            }
            if (MUTATING.contains(op) != mutate) {
                return fail(response, "InvalidRequestException",
                        op + (mutate ? " does not change anything" : " changes the cluster and must be sent as a mutation"));
            }
            response.put("ok", true);
            response.set("result", dispatch(op, request.path("args"), timeoutMs));
            return json.writeValueAsString(response);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            return fail(response, cause.getClass().getSimpleName(), String.valueOf(cause.getMessage()));
        } catch (java.util.concurrent.TimeoutException e) {
            return fail(response, "TimeoutException", "the request did not finish in time");
        } catch (Exception e) {
            return fail(response, e.getClass().getSimpleName(), String.valueOf(e.getMessage()));
        }
    }

    private String fail(ObjectNode response, String type, String message) {
        response.put("ok", false);
        ObjectNode error = response.putObject("error");
        error.put("type", type);
        error.put("message", message);
        try {
            return json.writeValueAsString(response);
        } catch (Exception e) {
            return "{\"ok\":false,\"error\":{\"type\":\"InternalError\",\"message\":\"unserializable response\"}}";
        }
    }

    private JsonNode dispatch(String op, JsonNode args, int timeoutMs) throws Exception {
        switch (op) {
            case "ping":
                return json.createObjectNode().put("pong", true);
            case "describeCluster":
                return describeCluster(args, timeoutMs);
            case "describeLogDirs":
                return describeLogDirs(args, timeoutMs);
            case "listReassignments":
                return listReassignments(args, timeoutMs);
            case "describeClientQuotas":
                return describeClientQuotas(args, timeoutMs);
            case "alterReassignments":
                return alterReassignments(args, timeoutMs);
            case "alterClientQuotas":
                return alterClientQuotas(args, timeoutMs);
            case "unregisterBroker":
                return unregisterBroker(args, timeoutMs);
            default:
                throw new IllegalArgumentException("unknown operation " + op);
        }
    }

    private static <T> T get(KafkaFuture<T> future, int timeoutMs) throws Exception {
        return future.get(timeoutMs + 2000L, TimeUnit.MILLISECONDS);
    }

    private ObjectNode errorNode(Throwable t) {
        Throwable cause = t instanceof ExecutionException && t.getCause() != null ? t.getCause() : t;
        ObjectNode error = json.createObjectNode();
        error.put("type", cause.getClass().getSimpleName());
        error.put("message", String.valueOf(cause.getMessage()));
        return error;
    }

    private static String key(TopicPartition tp) {
        return tp.topic() + ":" + tp.partition();
    }

    private static TopicPartition partition(JsonNode node) {
        return new TopicPartition(node.path("topic").asText(), node.path("partition").asInt());
    }

    private static ArrayNode ints(ObjectMapper json, List<Integer> values) {
        ArrayNode array = json.createArrayNode();
        values.forEach(array::add);
        return array;
    }

    // --- reads ---------------------------------------------------------------------------------------------------

    private JsonNode describeCluster(JsonNode args, int timeoutMs) throws Exception {
        DescribeClusterOptions options = new DescribeClusterOptions().timeoutMs(timeoutMs)
                .includeFencedBrokers(args.path("includeFenced").asBoolean(false));
        DescribeClusterResult result = admin.describeCluster(options);
        ObjectNode out = json.createObjectNode();
        out.put("clusterId", get(result.clusterId(), timeoutMs));
        Node controller = get(result.controller(), timeoutMs);
        if (controller != null && !controller.isEmpty()) {
            out.put("controller", controller.id());
        } else {
            out.putNull("controller");
        }
        ArrayNode nodes = out.putArray("nodes");
        for (Node node : get(result.nodes(), timeoutMs)) {
            ObjectNode n = nodes.addObject();
            n.put("id", node.id());
            n.put("host", node.host());
            n.put("port", node.port());
            if (node.hasRack()) {
                n.put("rack", node.rack());
            } else {
                n.putNull("rack");
            }
            n.put("fenced", node.isFenced());
        }
        return out;
    }

    private JsonNode describeLogDirs(JsonNode args, int timeoutMs) throws Exception {
        List<Integer> brokers = new ArrayList<>();
        args.path("brokers").forEach(b -> brokers.add(b.asInt()));
        Map<Integer, KafkaFuture<Map<String, LogDirDescription>>> futures =
                admin.describeLogDirs(brokers, new DescribeLogDirsOptions().timeoutMs(timeoutMs)).descriptions();
        ObjectNode out = json.createObjectNode();
        for (Map.Entry<Integer, KafkaFuture<Map<String, LogDirDescription>>> entry : new TreeMap<>(futures).entrySet()) {
            ObjectNode broker = out.putObject(String.valueOf(entry.getKey()));
            try {
                ArrayNode dirs = broker.putArray("dirs");
                for (Map.Entry<String, LogDirDescription> dir : new TreeMap<>(get(entry.getValue(), timeoutMs)).entrySet()) {
                    LogDirDescription d = dir.getValue();
                    ObjectNode node = dirs.addObject();
                    node.put("path", dir.getKey());
                    if (d.error() != null) {
                        node.set("error", errorNode(d.error()));
                    }
                    if (d.totalBytes().isPresent()) {
                        node.put("totalBytes", d.totalBytes().getAsLong());
                    }
                    if (d.usableBytes().isPresent()) {
                        node.put("usableBytes", d.usableBytes().getAsLong());
                    }
                    ArrayNode replicas = node.putArray("replicas");
                    for (Map.Entry<TopicPartition, ReplicaInfo> r : d.replicaInfos().entrySet()) {
                        ObjectNode rep = replicas.addObject();
                        rep.put("topic", r.getKey().topic());
                        rep.put("partition", r.getKey().partition());
                        rep.put("size", r.getValue().size());
                        rep.put("offsetLag", r.getValue().offsetLag());
                        rep.put("future", r.getValue().isFuture());
                    }
                }
            } catch (Exception e) {
                broker.remove("dirs");
                broker.set("error", errorNode(e));
            }
        }
        return out;
    }

    private JsonNode listReassignments(JsonNode args, int timeoutMs) throws Exception {
        ListPartitionReassignmentsOptions options = new ListPartitionReassignmentsOptions().timeoutMs(timeoutMs);
        Map<TopicPartition, PartitionReassignment> found;
        if (args.has("partitions") && args.get("partitions").isArray()) {
            Set<TopicPartition> wanted = new HashSet<>();
            args.get("partitions").forEach(p -> wanted.add(partition(p)));
            found = get(admin.listPartitionReassignments(wanted, options).reassignments(), timeoutMs);
        } else {
            found = get(admin.listPartitionReassignments(options).reassignments(), timeoutMs);
        }
        ArrayNode out = json.createArrayNode();
        for (Map.Entry<TopicPartition, PartitionReassignment> e : found.entrySet()) {
            ObjectNode row = out.addObject();
            row.put("topic", e.getKey().topic());
            row.put("partition", e.getKey().partition());
            row.set("replicas", ints(json, e.getValue().replicas()));
            row.set("adding", ints(json, e.getValue().addingReplicas()));
            row.set("removing", ints(json, e.getValue().removingReplicas()));
        }
        return out;
    }

    private JsonNode describeClientQuotas(JsonNode args, int timeoutMs) throws Exception {
        List<ClientQuotaFilterComponent> components = new ArrayList<>();
        for (JsonNode c : args.path("components")) {
            String type = c.path("entityType").asText();
            if (c.path("default").asBoolean(false)) {
                components.add(ClientQuotaFilterComponent.ofDefaultEntity(type));
            } else if (c.hasNonNull("match")) {
                components.add(ClientQuotaFilterComponent.ofEntity(type, c.get("match").asText()));
            } else {
                components.add(ClientQuotaFilterComponent.ofEntityType(type));
            }
        }
        ClientQuotaFilter filter = args.path("strict").asBoolean(false)
                ? ClientQuotaFilter.containsOnly(components)
                : ClientQuotaFilter.contains(components);
        Map<ClientQuotaEntity, Map<String, Double>> found =
                get(admin.describeClientQuotas(filter, new DescribeClientQuotasOptions().timeoutMs(timeoutMs)).entities(),
                        timeoutMs);
        ArrayNode out = json.createArrayNode();
        for (Map.Entry<ClientQuotaEntity, Map<String, Double>> e : found.entrySet()) {
            ObjectNode row = out.addObject();
            ObjectNode entity = row.putObject("entity");
            e.getKey().entries().forEach((k, v) -> {
                if (v == null) {
                    entity.putNull(k);
                } else {
                    entity.put(k, v);
                }
            });
            ObjectNode quotas = row.putObject("quotas");
            new TreeMap<>(e.getValue()).forEach(quotas::put);
        }
        return out;
    }

    // --- changes (sent with "mutate": true only) -----------------------------------------------------------------

    private JsonNode alterReassignments(JsonNode args, int timeoutMs) throws Exception {
        Map<TopicPartition, Optional<NewPartitionReassignment>> moves = new HashMap<>();
        for (JsonNode m : args.path("moves")) {
            TopicPartition tp = partition(m);
            if (m.hasNonNull("replicas")) {
                List<Integer> replicas = new ArrayList<>();
                m.get("replicas").forEach(r -> replicas.add(r.asInt()));
                moves.put(tp, Optional.of(new NewPartitionReassignment(replicas)));
            } else {
                moves.put(tp, Optional.empty()); // cancel: back to the replicas before the reassignment
            }
        }
        Map<TopicPartition, KafkaFuture<Void>> futures = admin.alterPartitionReassignments(
                moves, new AlterPartitionReassignmentsOptions().timeoutMs(timeoutMs)).values();
        ObjectNode out = json.createObjectNode();
        for (Map.Entry<TopicPartition, KafkaFuture<Void>> e : futures.entrySet()) {
            try {
                get(e.getValue(), timeoutMs);
                out.putNull(key(e.getKey()));
            } catch (Exception ex) {
                out.set(key(e.getKey()), errorNode(ex));
            }
        }
        return out;
    }

    private JsonNode alterClientQuotas(JsonNode args, int timeoutMs) throws Exception {
        List<ClientQuotaAlteration> alterations = new ArrayList<>();
        for (JsonNode a : args.path("alterations")) {
            Map<String, String> entity = new HashMap<>();
            a.path("entity").fields().forEachRemaining(e -> entity.put(e.getKey(), e.getValue().isNull() ? null : e.getValue().asText()));
            List<ClientQuotaAlteration.Op> ops = new ArrayList<>();
            a.path("ops").forEach(op -> ops.add(new ClientQuotaAlteration.Op(
                    op.path("key").asText(), op.hasNonNull("value") ? op.get("value").asDouble() : null)));
            alterations.add(new ClientQuotaAlteration(new ClientQuotaEntity(entity), ops));
        }
        AlterClientQuotasOptions options = new AlterClientQuotasOptions().validateOnly(args.path("validateOnly").asBoolean(false));
        options.timeoutMs(timeoutMs);
        Map<ClientQuotaEntity, KafkaFuture<Void>> futures = admin.alterClientQuotas(alterations, options).values();
        ArrayNode out = json.createArrayNode();
        for (Map.Entry<ClientQuotaEntity, KafkaFuture<Void>> e : futures.entrySet()) {
            ObjectNode row = out.addObject();
            ObjectNode entity = row.putObject("entity");
            e.getKey().entries().forEach((k, v) -> {
                if (v == null) {
                    entity.putNull(k);
                } else {
                    entity.put(k, v);
                }
            });
            try {
                get(e.getValue(), timeoutMs);
                row.putNull("error");
            } catch (Exception ex) {
                row.set("error", errorNode(ex));
            }
        }
        return out;
    }

    private JsonNode unregisterBroker(JsonNode args, int timeoutMs) throws Exception {
        int broker = args.path("broker").asInt();
        UnregisterBrokerOptions options = new UnregisterBrokerOptions();
        options.timeoutMs(timeoutMs);
        get(admin.unregisterBroker(broker, options).all(), timeoutMs);
        return json.createObjectNode().put("unregistered", broker);
    }
}
