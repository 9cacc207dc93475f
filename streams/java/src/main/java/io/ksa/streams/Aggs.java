package io.ksa.streams;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Aggregations over a map state (one entry per aggregation, plus hidden parts): count, sum, min, max, avg (a hidden sum
 * and count), latest_by_offset and earliest_by_offset, count_distinct and histogram (a hidden map of value -> count),
 * topk and topkdistinct (a sorted list), collect_list and collect_set (capped at 1000 values, as ksqlDB does).
 */
final class Aggs {
    static final List<String> OPS = List.of("count", "sum", "min", "max", "avg", "latest_by_offset",
            "earliest_by_offset", "count_distinct", "topk", "topkdistinct", "collect_list", "collect_set", "histogram");
    private static final int COLLECT_LIMIT = 1000;

    private record Agg(String name, String op, Eval expr, int param, boolean ignoreNulls, String type) {}

    private final List<Agg> aggs = new ArrayList<>();
    private final AtomicLong added;

    Aggs(List<Spec.Aggregation> specs, AtomicLong added) {
        this.added = added;
        if (specs == null || specs.isEmpty()) {
            aggs.add(new Agg("count", "count", null, 0, true, null));
            return;
        }
        for (Spec.Aggregation a : specs) {
            String op = a.op == null ? "" : a.op;
            if (!OPS.contains(op)) {
                throw new IllegalArgumentException("unsupported aggregation '" + op + "' (" + String.join(", ", OPS) + ")");
            }
            boolean blank = a.expr == null || (a.expr instanceof String s && s.isBlank());
            if (!op.equals("count") && blank) {
                throw new IllegalArgumentException("aggregation '" + a.name + "' (" + op + ") needs an expression");
            }
            int param = a.param == null ? 1 : a.param;
            if ((op.equals("topk") || op.equals("topkdistinct")) && param < 1) {
                throw new IllegalArgumentException("aggregation '" + a.name + "' (" + op + ") needs param >= 1");
            }
            aggs.add(new Agg(a.name, op, blank ? null : Eval.compile(a.expr), param,
                    a.ignoreNulls == null || a.ignoreNulls, a.type));
        }
    }

    /** Top-level value fields the aggregations read, or null when some expression may read anything. */
    java.util.Set<String> neededFields() {
        java.util.Set<String> out = new java.util.LinkedHashSet<>();
        for (Agg a : aggs) {
            if (a.expr == null) {
                continue;
            }
            String f = a.expr.topField();
            if (f == null) {
                return null;
            }
            if (!f.isEmpty()) {
                out.add(f);
            }
        }
        return out;
    }

    Object init() {
        return new LinkedHashMap<String, Object>();
    }

    @SuppressWarnings("unchecked")
    Object add(String key, Object value, Object state) {
        added.incrementAndGet();
        // the state was just deserialized from the store for this call: updating it in place is safe
        Map<String, Object> s = (Map<String, Object>) state;
        Map<String, Object> vars = null; // built once, only when an aggregation reads the record
        for (Agg a : aggs) {
            if (a.expr != null && vars == null) {
                vars = Expr.vars(key, value);
            }
            if (a.op.equals("count")) {
                if (a.expr == null || a.expr.eval(vars) != null) {
                    s.put(a.name, num(s.get(a.name), 0L).longValue() + 1L);
                }
                continue;
            }
            Object r = a.expr.eval(vars);
            switch (a.op) {
                case "sum" -> {
                    if (r instanceof Number n) {
                        s.put(a.name, plus(s.get(a.name), n));
                    }
                }
                case "min", "max" -> {
                    if (r != null) {
                        Object cur = s.get(a.name);
                        int c = cur == null ? 0 : SqlExpr.compare(r, cur);
                        if (cur == null || (a.op.equals("min") ? c < 0 : c > 0)) {
                            s.put(a.name, r);
                        }
                    }
                }
                case "avg" -> {
                    if (r instanceof Number n) {
                        s.put("__sum_" + a.name, plus(s.get("__sum_" + a.name), n));
                        s.put("__n_" + a.name, num(s.get("__n_" + a.name), 0L).longValue() + 1L);
                    }
                }
                case "latest_by_offset" -> {
                    if (r != null || !a.ignoreNulls) {
                        s.put(a.name, r);
                    }
                }
                case "earliest_by_offset" -> {
                    if ((r != null || !a.ignoreNulls) && !s.containsKey("__set_" + a.name)) {
                        s.put(a.name, r);
                        s.put("__set_" + a.name, 1L);
                    }
                }
                case "count_distinct", "histogram" -> {
                    if (r != null) {
                        Map<String, Object> seen = (Map<String, Object>) s.computeIfAbsent("__map_" + a.name,
                                k -> new LinkedHashMap<String, Object>());
                        String k = Values.keyOf(r);
                        seen.put(k, num(seen.get(k), 0L).longValue() + 1L);
                    }
                }
                case "topk", "topkdistinct" -> {
                    if (r != null) {
                        List<Object> top = new ArrayList<>((List<Object>) s.getOrDefault(a.name, new ArrayList<>()));
                        if (!a.op.equals("topkdistinct") || top.stream().noneMatch(x -> SqlExpr.compare(x, r) == 0)) {
                            top.add(r);
                            top.sort((x, y) -> SqlExpr.compare(y, x));
                            while (top.size() > a.param) {
                                top.remove(top.size() - 1);
                            }
                        }
                        s.put(a.name, top);
                    }
                }
                case "collect_list", "collect_set" -> {
                    List<Object> all = new ArrayList<>((List<Object>) s.getOrDefault(a.name, new ArrayList<>()));
                    boolean fresh = !a.op.equals("collect_set")
                            || all.stream().noneMatch(x -> x == null ? r == null : r != null && SqlExpr.compare(x, r) == 0);
                    if (fresh && all.size() < COLLECT_LIMIT) {
                        all.add(r);
                    }
                    s.put(a.name, all);
                }
                default -> throw new IllegalStateException(a.op);
            }
        }
        return s;
    }

    /** Merge two session aggregates (``left`` the earlier). */
    @SuppressWarnings("unchecked")
    Object merge(String key, Object left, Object right) {
        Map<String, Object> a = (Map<String, Object>) left;
        Map<String, Object> b = (Map<String, Object>) right;
        Map<String, Object> s = new LinkedHashMap<>(a);
        for (Agg g : aggs) {
            String n = g.name;
            switch (g.op) {
                case "count" -> s.put(n, num(a.get(n), 0L).longValue() + num(b.get(n), 0L).longValue());
                case "sum" -> s.put(n, plusNullable(a.get(n), b.get(n)));
                case "min", "max" -> {
                    Object x = a.get(n);
                    Object y = b.get(n);
                    int sign = g.op.equals("min") ? -1 : 1;
                    s.put(n, x == null ? y : y == null ? x : (SqlExpr.compare(x, y) * sign >= 0 ? x : y));
                }
                case "avg" -> {
                    s.put("__sum_" + n, plusNullable(a.get("__sum_" + n), b.get("__sum_" + n)));
                    s.put("__n_" + n, num(a.get("__n_" + n), 0L).longValue() + num(b.get("__n_" + n), 0L).longValue());
                }
                case "latest_by_offset" -> s.put(n, b.containsKey(n) ? b.get(n) : a.get(n));
                case "earliest_by_offset" -> {
                    boolean aSet = a.containsKey("__set_" + n);
                    s.put(n, aSet ? a.get(n) : b.get(n));
                    if (aSet || b.containsKey("__set_" + n)) {
                        s.put("__set_" + n, 1L);
                    }
                }
                case "count_distinct", "histogram" -> {
                    Map<String, Object> m = new LinkedHashMap<>((Map<String, Object>) a.getOrDefault("__map_" + n, Map.of()));
                    ((Map<String, Object>) b.getOrDefault("__map_" + n, Map.of()))
                            .forEach((k, v) -> m.put(k, num(m.get(k), 0L).longValue() + num(v, 0L).longValue()));
                    s.put("__map_" + n, m);
                }
                case "topk", "topkdistinct", "collect_list", "collect_set" -> {
                    List<Object> all = new ArrayList<>((List<Object>) a.getOrDefault(n, List.of()));
                    for (Object o : (List<Object>) b.getOrDefault(n, List.of())) {
                        boolean distinct = g.op.equals("topkdistinct") || g.op.equals("collect_set");
                        if (!distinct || all.stream().noneMatch(x -> x == null ? o == null : o != null
                                && SqlExpr.compare(x, o) == 0)) {
                            all.add(o);
                        }
                    }
                    if (g.op.startsWith("topk")) {
                        all.sort((x, y) -> SqlExpr.compare(y, x));
                        while (all.size() > g.param) {
                            all.remove(all.size() - 1);
                        }
                    } else {
                        while (all.size() > COLLECT_LIMIT) {
                            all.remove(all.size() - 1);
                        }
                    }
                    s.put(n, all);
                }
                default -> throw new IllegalStateException(g.op);
            }
        }
        return s;
    }

    /** The visible result: hidden parts replaced by the values they stand for. */
    @SuppressWarnings("unchecked")
    Map<String, Object> finish(Object state) {
        Map<String, Object> s = (Map<String, Object>) state;
        Map<String, Object> out = new LinkedHashMap<>();
        for (Agg a : aggs) {
            switch (a.op) {
                case "count" -> out.put(a.name, num(s.get(a.name), 0L).longValue());
                case "sum" -> {
                    Object v = s.get(a.name);
                    if (a.type != null && SqlTypes.base(a.type).equals("DECIMAL")) {
                        out.put(a.name, SqlTypes.coerce(v == null ? 0L : v, a.type));
                    } else if (a.type != null && SqlTypes.base(a.type).equals("DOUBLE")) {
                        out.put(a.name, v == null ? 0.0 : ((Number) v).doubleValue());
                    } else {
                        out.put(a.name, v == null ? 0L : v);
                    }
                }
                case "avg" -> {
                    long n = num(s.get("__n_" + a.name), 0L).longValue();
                    out.put(a.name, n == 0 ? null : num(s.get("__sum_" + a.name), 0L).doubleValue() / n);
                }
                case "count_distinct" -> out.put(a.name,
                        (long) ((Map<String, Object>) s.getOrDefault("__map_" + a.name, Map.of())).size());
                case "histogram" -> out.put(a.name, new LinkedHashMap<>(
                        (Map<String, Object>) s.getOrDefault("__map_" + a.name, Map.of())));
                case "topk", "topkdistinct", "collect_list", "collect_set" ->
                        out.put(a.name, s.getOrDefault(a.name, new ArrayList<>()));
                default -> out.put(a.name, s.get(a.name));
            }
        }
        return out;
    }

    private static Number num(Object v, Number dflt) {
        return v instanceof Number n ? n : dflt;
    }

    private static boolean integral(Number n) {
        return n instanceof Long || n instanceof Integer || n instanceof Short;
    }

    private static Number plus(Object acc, Number n) {
        if (acc == null) {
            return n;
        }
        Number a = (Number) acc;
        if (a instanceof BigDecimal || n instanceof BigDecimal) {
            return SqlExpr.toDecimal(a).add(SqlExpr.toDecimal(n));
        }
        if (integral(a) && integral(n)) {
            return a.longValue() + n.longValue();
        }
        return a.doubleValue() + n.doubleValue();
    }

    private static Object plusNullable(Object a, Object b) {
        if (a == null) {
            return b;
        }
        if (b == null) {
            return a;
        }
        return plus(a, (Number) b);
    }
}
