package io.ksa.streams;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Aggregations (count, sum, min, max, avg) over a JSON map state; avg keeps a hidden sum and count. */
final class Aggs {
    private record Agg(String name, String op, Expr expr) {}

    private final List<Agg> aggs = new ArrayList<>();
    private final java.util.concurrent.atomic.AtomicLong added;

    Aggs(List<Spec.Aggregation> specs, java.util.concurrent.atomic.AtomicLong added) {
        this.added = added;
        if (specs == null || specs.isEmpty()) {
            aggs.add(new Agg("count", "count", null));
            return;
        }
        for (Spec.Aggregation a : specs) {
            String op = a.op == null ? "" : a.op;
            if (!List.of("count", "sum", "min", "max", "avg").contains(op)) {
                throw new IllegalArgumentException("unsupported aggregation '" + op + "' (count, sum, min, max, avg)");
            }
            if (!op.equals("count") && (a.expr == null || a.expr.isBlank())) {
                throw new IllegalArgumentException("aggregation '" + a.name + "' (" + op + ") needs an expression");
            }
            aggs.add(new Agg(a.name, op, a.expr == null || a.expr.isBlank() ? null : Expr.compile(a.expr)));
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
        Map<String, Object> vars = Expr.vars(key, value);
        for (Agg a : aggs) {
            if (a.op.equals("count")) {
                if (a.expr == null || a.expr.eval(vars) != null) {
                    s.put(a.name, num(s.get(a.name), 0L).longValue() + 1L);
                }
                continue;
            }
            Object r = a.expr.eval(vars);
            if (!(r instanceof Number n)) {
                continue;
            }
            switch (a.op) {
                case "sum" -> s.put(a.name, plus(s.get(a.name), n));
                case "min" -> s.put(a.name, s.get(a.name) == null || cmp(n, (Number) s.get(a.name)) < 0 ? n : s.get(a.name));
                case "max" -> s.put(a.name, s.get(a.name) == null || cmp(n, (Number) s.get(a.name)) > 0 ? n : s.get(a.name));
                case "avg" -> {
                    s.put("__sum_" + a.name, plus(s.get("__sum_" + a.name), n));
                    s.put("__n_" + a.name, num(s.get("__n_" + a.name), 0L).longValue() + 1L);
                }
                default -> throw new IllegalStateException(a.op);
            }
        }
        return s;
    }

    /** Merge two session aggregates. */
    @SuppressWarnings("unchecked")
    Object merge(String key, Object left, Object right) {
        Map<String, Object> a = (Map<String, Object>) left;
        Map<String, Object> b = (Map<String, Object>) right;
        Map<String, Object> s = new LinkedHashMap<>(a);
        for (Agg g : aggs) {
            switch (g.op) {
                case "count" -> s.put(g.name, num(a.get(g.name), 0L).longValue() + num(b.get(g.name), 0L).longValue());
                case "sum" -> s.put(g.name, plusNullable(a.get(g.name), b.get(g.name)));
                case "min", "max" -> {
                    Number x = (Number) a.get(g.name);
                    Number y = (Number) b.get(g.name);
                    int sign = g.op.equals("min") ? -1 : 1;
                    s.put(g.name, x == null ? y : y == null ? x : (cmp(x, y) * sign >= 0 ? x : y));
                }
                case "avg" -> {
                    s.put("__sum_" + g.name, plusNullable(a.get("__sum_" + g.name), b.get("__sum_" + g.name)));
                    s.put("__n_" + g.name, num(a.get("__n_" + g.name), 0L).longValue()
                            + num(b.get("__n_" + g.name), 0L).longValue());
                }
                default -> throw new IllegalStateException(g.op);
            }
        }
        return s;
    }

    /** The visible result: hidden avg parts replaced by the average; missing sums/counts as 0. */
    @SuppressWarnings("unchecked")
    Map<String, Object> finish(Object state) {
        Map<String, Object> s = (Map<String, Object>) state;
        Map<String, Object> out = new LinkedHashMap<>();
        for (Agg a : aggs) {
            switch (a.op) {
                case "count" -> out.put(a.name, num(s.get(a.name), 0L).longValue());
                case "sum" -> out.put(a.name, s.get(a.name) == null ? 0L : s.get(a.name));
                case "min", "max" -> out.put(a.name, s.get(a.name));
                case "avg" -> {
                    long n = num(s.get("__n_" + a.name), 0L).longValue();
                    out.put(a.name, n == 0 ? null : num(s.get("__sum_" + a.name), 0L).doubleValue() / n);
                }
                default -> throw new IllegalStateException(a.op);
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

    private static int cmp(Number a, Number b) {
        if (integral(a) && integral(b)) {
            return Long.compare(a.longValue(), b.longValue());
        }
        return Double.compare(a.doubleValue(), b.doubleValue());
    }
}
