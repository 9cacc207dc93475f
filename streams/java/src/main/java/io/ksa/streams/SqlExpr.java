package io.ksa.streams;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * A typed SQL expression tree, compiled by the Python side from ksqlDB's SQL (type-checked there), evaluated with
 * SQL semantics: NULL propagates through operators and functions, AND/OR are three-valued, integer division truncates,
 * a division by zero or a failed conversion is NULL (and counted in {@link Failures}).
 *
 * <pre>
 * ["lit", v]  ["dec", "1.50"]  ["col", name(, var)]  ["neg", type, e]  ["not", e]  ["arith", op, type, a, b]
 * ["cmp", op, a, b]  ["and", a, b]  ["or", a, b]  ["isnull", e, negated]  ["in", e, [items], negated]
 * ["between", e, lo, hi, negated]  ["like", e, pattern, negated, escape]  ["case", [[cond, value]...], else]
 * ["cast", type, e]  ["call", NAME, args...]  ["field", e, name]  ["index", e, i]  ["array", items...]
 * ["map", k, v, ...]  ["struct", name, e, ...]  ["distinct", a, b, negated]
 * </pre>
 */
public final class SqlExpr implements Eval {
    interface Node {
        Object eval(Map<String, Object> vars);
    }

    private final Node root;
    private final String source;
    private final String topField;

    private SqlExpr(Node root, String source, String topField) {
        this.root = root;
        this.source = source;
        this.topField = topField;
    }

    public static SqlExpr compile(List<Object> tree) {
        String top = null;
        if (tree.size() >= 2 && "col".equals(tree.get(0)) && (tree.size() == 2 || "value".equals(tree.get(2)))) {
            top = (String) tree.get(1);
        }
        return new SqlExpr(node(tree), Values.toJson(tree), top);
    }

    @Override
    public Object eval(Map<String, Object> vars) {
        try {
            return root.eval(vars);
        } catch (SqlTypes.CoercionException | ArithmeticException | IllegalArgumentException
                 | IndexOutOfBoundsException | ClassCastException e) {
            Failures.GLOBAL.record("expression", e.getMessage() + " in " + source);
            return null;
        }
    }

    @Override
    public String source() {
        return source;
    }

    @Override
    public String topField() {
        return topField;
    }

    @SuppressWarnings("unchecked")
    private static List<Object> list(Object o) {
        if (!(o instanceof List<?>)) {
            throw new IllegalArgumentException("a SQL expression node is a list, not " + o);
        }
        return (List<Object>) o;
    }

    @SuppressWarnings("unchecked")
    static Node node(Object raw) {
        List<Object> t = list(raw);
        String tag = (String) t.get(0);
        switch (tag) {
            case "lit" -> {
                Object v = t.get(1);
                Object lit = v instanceof Integer i ? (Object) i.longValue() : v;
                return vars -> lit;
            }
            case "dec" -> {
                BigDecimal d = new BigDecimal((String) t.get(1));
                return vars -> d;
            }
            case "col" -> {
                String name = (String) t.get(1);
                String var = t.size() > 2 ? (String) t.get(2) : "value";
                return vars -> vars.get(var) instanceof Map<?, ?> m ? m.get(name) : null;
            }
            case "neg" -> {
                String type = (String) t.get(1);
                Node e = node(t.get(2));
                return vars -> {
                    Object v = e.eval(vars);
                    return v == null ? null : arith("-", type, 0L, v);
                };
            }
            case "not" -> {
                Node e = node(t.get(1));
                return vars -> e.eval(vars) instanceof Boolean b ? !b : null;
            }
            case "arith" -> {
                String op = (String) t.get(1);
                String type = (String) t.get(2);
                Node a = node(t.get(3));
                Node b = node(t.get(4));
                return vars -> {
                    Object x = a.eval(vars);
                    Object y = b.eval(vars);
                    return x == null || y == null ? null : arith(op, type, x, y);
                };
            }
            case "cmp" -> {
                String op = (String) t.get(1);
                Node a = node(t.get(2));
                Node b = node(t.get(3));
                return vars -> {
                    Object x = a.eval(vars);
                    Object y = b.eval(vars);
                    if (x == null || y == null) {
                        return null;
                    }
                    int c = compare(x, y);
                    return switch (op) {
                        case "=" -> c == 0;
                        case "<>", "!=" -> c != 0;
                        case "<" -> c < 0;
                        case "<=" -> c <= 0;
                        case ">" -> c > 0;
                        case ">=" -> c >= 0;
                        default -> throw new IllegalArgumentException("unknown comparison " + op);
                    };
                };
            }
            case "distinct" -> {
                Node a = node(t.get(1));
                Node b = node(t.get(2));
                boolean negated = Boolean.TRUE.equals(t.get(3));
                return vars -> {
                    Object x = a.eval(vars);
                    Object y = b.eval(vars);
                    boolean distinct = x == null ? y != null : (y == null || compare(x, y) != 0);
                    return distinct != negated;
                };
            }
            case "and" -> {
                Node a = node(t.get(1));
                Node b = node(t.get(2));
                return vars -> {
                    Object x = a.eval(vars);
                    if (Boolean.FALSE.equals(x)) {
                        return false;
                    }
                    Object y = b.eval(vars);
                    if (Boolean.FALSE.equals(y)) {
                        return false;
                    }
                    return x == null || y == null ? null : true;
                };
            }
            case "or" -> {
                Node a = node(t.get(1));
                Node b = node(t.get(2));
                return vars -> {
                    Object x = a.eval(vars);
                    if (Boolean.TRUE.equals(x)) {
                        return true;
                    }
                    Object y = b.eval(vars);
                    if (Boolean.TRUE.equals(y)) {
                        return true;
                    }
                    return x == null || y == null ? null : false;
                };
            }
            case "isnull" -> {
                Node e = node(t.get(1));
                boolean negated = Boolean.TRUE.equals(t.get(2));
                return vars -> (e.eval(vars) == null) != negated;
            }
            case "in" -> {
                Node e = node(t.get(1));
                List<Node> items = new ArrayList<>();
                for (Object o : list(t.get(2))) {
                    items.add(node(o));
                }
                boolean negated = t.size() > 3 && Boolean.TRUE.equals(t.get(3));
                return vars -> {
                    Object x = e.eval(vars);
                    if (x == null) {
                        return null;
                    }
                    boolean sawNull = false;
                    for (Node n : items) {
                        Object y = n.eval(vars);
                        if (y == null) {
                            sawNull = true;
                        } else if (compare(x, y) == 0) {
                            return !negated;
                        }
                    }
                    return sawNull ? null : negated;
                };
            }
            case "between" -> {
                Node e = node(t.get(1));
                Node lo = node(t.get(2));
                Node hi = node(t.get(3));
                boolean negated = Boolean.TRUE.equals(t.get(4));
                return vars -> {
                    Object x = e.eval(vars);
                    Object l = lo.eval(vars);
                    Object h = hi.eval(vars);
                    if (x == null || l == null || h == null) {
                        return null;
                    }
                    boolean in = compare(x, l) >= 0 && compare(x, h) <= 0;
                    return in != negated;
                };
            }
            case "like" -> {
                Node e = node(t.get(1));
                Node p = node(t.get(2));
                boolean negated = Boolean.TRUE.equals(t.get(3));
                String escape = t.size() > 4 ? (String) t.get(4) : null;
                Map<String, Pattern> cache = new LinkedHashMap<>();
                return vars -> {
                    Object x = e.eval(vars);
                    Object pat = p.eval(vars);
                    if (x == null || pat == null) {
                        return null;
                    }
                    Pattern re = cache.computeIfAbsent((String) pat, s -> likePattern(s, escape));
                    if (cache.size() > 100) {
                        cache.clear();
                    }
                    return re.matcher((String) x).matches() != negated;
                };
            }
            case "case" -> {
                List<Node[]> whens = new ArrayList<>();
                for (Object o : list(t.get(1))) {
                    List<Object> pair = list(o);
                    whens.add(new Node[] {node(pair.get(0)), node(pair.get(1))});
                }
                Node otherwise = t.size() > 2 && t.get(2) != null ? node(t.get(2)) : null;
                return vars -> {
                    for (Node[] w : whens) {
                        if (Boolean.TRUE.equals(w[0].eval(vars))) {
                            return w[1].eval(vars);
                        }
                    }
                    return otherwise == null ? null : otherwise.eval(vars);
                };
            }
            case "cast" -> {
                String type = (String) t.get(1);
                Node e = node(t.get(2));
                return vars -> SqlTypes.coerce(e.eval(vars), type);
            }
            case "call" -> {
                String name = ((String) t.get(1)).toUpperCase();
                List<Node> args = new ArrayList<>();
                for (int i = 2; i < t.size(); i++) {
                    args.add(node(t.get(i)));
                }
                SqlFunctions.check(name, args.size());
                return vars -> {
                    Object[] a = new Object[args.size()];
                    for (int i = 0; i < a.length; i++) {
                        a[i] = args.get(i).eval(vars);
                    }
                    return SqlFunctions.call(name, a);
                };
            }
            case "field" -> {
                Node e = node(t.get(1));
                String name = (String) t.get(2);
                return vars -> e.eval(vars) instanceof Map<?, ?> m ? field(m, name) : null;
            }
            case "index" -> {
                Node e = node(t.get(1));
                Node i = node(t.get(2));
                return vars -> {
                    Object c = e.eval(vars);
                    Object k = i.eval(vars);
                    if (c == null || k == null) {
                        return null;
                    }
                    if (c instanceof List<?> l) {
                        long n = ((Number) k).longValue();
                        long idx = n > 0 ? n - 1 : l.size() + n;
                        return idx >= 0 && idx < l.size() ? l.get((int) idx) : null;
                    }
                    return c instanceof Map<?, ?> m ? m.get(k instanceof String ? k : String.valueOf(k)) : null;
                };
            }
            case "array" -> {
                List<Node> items = new ArrayList<>();
                for (int i = 1; i < t.size(); i++) {
                    items.add(node(t.get(i)));
                }
                return vars -> {
                    List<Object> out = new ArrayList<>(items.size());
                    for (Node n : items) {
                        out.add(n.eval(vars));
                    }
                    return out;
                };
            }
            case "map", "struct" -> {
                List<Node> parts = new ArrayList<>();
                List<String> names = new ArrayList<>();
                for (int i = 1; i + 1 < t.size(); i += 2) {
                    if (tag.equals("struct")) {
                        names.add((String) t.get(i));
                        parts.add(null);
                    } else {
                        parts.add(node(t.get(i)));
                        names.add(null);
                    }
                    parts.add(node(t.get(i + 1)));
                }
                return vars -> {
                    Map<String, Object> out = new LinkedHashMap<>();
                    for (int i = 0; i + 1 < parts.size(); i += 2) {
                        Object k = names.get(i / 2) != null ? names.get(i / 2) : parts.get(i).eval(vars);
                        out.put(String.valueOf(k), parts.get(i + 1).eval(vars));
                    }
                    return out;
                };
            }
            default -> throw new IllegalArgumentException("unknown SQL expression node '" + tag + "'");
        }
    }

    private static Object field(Map<?, ?> m, String name) {
        Object v = m.get(name);
        if (v != null || m.containsKey(name)) {
            return v;
        }
        for (Map.Entry<?, ?> e : m.entrySet()) {
            if (String.valueOf(e.getKey()).equalsIgnoreCase(name)) {
                return e.getValue();
            }
        }
        return null;
    }

    static Pattern likePattern(String like, String escape) {
        StringBuilder re = new StringBuilder();
        char esc = escape == null || escape.isEmpty() ? 0 : escape.charAt(0);
        for (int i = 0; i < like.length(); i++) {
            char c = like.charAt(i);
            if (esc != 0 && c == esc && i + 1 < like.length()) {
                re.append(Pattern.quote(String.valueOf(like.charAt(++i))));
            } else if (c == '%') {
                re.append(".*");
            } else if (c == '_') {
                re.append('.');
            } else {
                re.append(Pattern.quote(String.valueOf(c)));
            }
        }
        return Pattern.compile(re.toString(), Pattern.DOTALL);
    }

    /** Numbers compare by value across INT, BIGINT, DOUBLE and DECIMAL; other values by their natural order. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    static int compare(Object x, Object y) {
        if (x instanceof Number a && y instanceof Number b) {
            if (a instanceof BigDecimal || b instanceof BigDecimal) {
                return toDecimal(a).compareTo(toDecimal(b));
            }
            if (a instanceof Double || a instanceof Float || b instanceof Double || b instanceof Float) {
                return Double.compare(a.doubleValue(), b.doubleValue());
            }
            return Long.compare(a.longValue(), b.longValue());
        }
        if (x instanceof Comparable c && x.getClass() == y.getClass()) {
            return c.compareTo(y);
        }
        if (x.equals(y)) {
            return 0;
        }
        throw new IllegalArgumentException("cannot compare " + Values.describe(x) + " with " + Values.describe(y));
    }

    static BigDecimal toDecimal(Number n) {
        if (n instanceof BigDecimal d) {
            return d;
        }
        if (n instanceof Double || n instanceof Float) {
            return new BigDecimal(n.toString());
        }
        return BigDecimal.valueOf(n.longValue());
    }

    static Object arith(String op, String type, Object x, Object y) {
        String base = SqlTypes.base(type);
        if (base.equals("STRING") || base.equals("VARCHAR")) {
            return x.toString() + y; // + and || concatenate strings
        }
        Number a = (Number) x;
        Number b = (Number) y;
        switch (base) {
            case "INT", "INTEGER", "BIGINT" -> {
                long l = a.longValue();
                long r = b.longValue();
                long out = switch (op) {
                    case "+" -> l + r;
                    case "-" -> l - r;
                    case "*" -> l * r;
                    case "/" -> {
                        if (r == 0) {
                            throw new ArithmeticException("division by zero");
                        }
                        yield l / r;
                    }
                    case "%" -> {
                        if (r == 0) {
                            throw new ArithmeticException("division by zero");
                        }
                        yield l % r;
                    }
                    default -> throw new IllegalArgumentException("unknown operator " + op);
                };
                return base.equals("BIGINT") ? out : (long) (int) out;
            }
            case "DOUBLE" -> {
                double l = a.doubleValue();
                double r = b.doubleValue();
                return switch (op) {
                    case "+" -> l + r;
                    case "-" -> l - r;
                    case "*" -> l * r;
                    case "/" -> l / r;
                    case "%" -> l % r;
                    default -> throw new IllegalArgumentException("unknown operator " + op);
                };
            }
            case "DECIMAL" -> {
                BigDecimal l = toDecimal(a);
                BigDecimal r = toDecimal(b);
                int scale = SqlTypes.scale(type);
                BigDecimal out = switch (op) {
                    case "+" -> l.add(r);
                    case "-" -> l.subtract(r);
                    case "*" -> l.multiply(r);
                    case "/" -> {
                        if (r.signum() == 0) {
                            throw new ArithmeticException("division by zero");
                        }
                        yield l.divide(r, MathContext.DECIMAL128);
                    }
                    case "%" -> {
                        if (r.signum() == 0) {
                            throw new ArithmeticException("division by zero");
                        }
                        yield l.remainder(r);
                    }
                    default -> throw new IllegalArgumentException("unknown operator " + op);
                };
                return out.setScale(scale, RoundingMode.HALF_UP);
            }
            default -> throw new IllegalArgumentException("arithmetic on " + type);
        }
    }
}
