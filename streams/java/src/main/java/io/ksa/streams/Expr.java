package io.ksa.streams;

import dev.cel.common.CelAbstractSyntaxTree;
import dev.cel.common.CelOptions;
import dev.cel.common.CelValidationException;
import dev.cel.common.types.SimpleType;
import dev.cel.compiler.CelCompiler;
import dev.cel.compiler.CelCompilerFactory;
import dev.cel.runtime.CelEvaluationException;
import dev.cel.runtime.CelRuntime;
import dev.cel.runtime.CelRuntimeFactory;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** One compiled CEL expression over the variables key, value, left, right (all dynamic). */
public final class Expr implements Eval {
    private static final CelOptions OPTIONS =
            CelOptions.current().enableHeterogeneousNumericComparisons(true).build();
    private static final CelCompiler COMPILER = CelCompilerFactory.standardCelCompilerBuilder()
            .setOptions(OPTIONS)
            .addVar("key", SimpleType.DYN)
            .addVar("value", SimpleType.DYN)
            .addVar("left", SimpleType.DYN)
            .addVar("right", SimpleType.DYN)
            .build();
    private static final CelRuntime RUNTIME = CelRuntimeFactory.standardCelRuntimeBuilder().setOptions(OPTIONS).build();

    private static final java.util.regex.Pattern PATH =
            java.util.regex.Pattern.compile("^(key|value|left|right)(\\.[A-Za-z_][A-Za-z0-9_]*)*$");

    private final String source;
    private final CelRuntime.Program program;
    /** For a plain field path (value.a.b): the variable and the fields, read without the CEL interpreter. */
    private final String[] path;

    private Expr(String source, CelRuntime.Program program, String[] path) {
        this.source = source;
        this.program = program;
        this.path = path;
    }

    public static Expr compile(String source) {
        String trimmed = source.strip();
        if (PATH.matcher(trimmed).matches()) {
            return new Expr(source, null, trimmed.split("\\."));
        }
        try {
            CelAbstractSyntaxTree ast = COMPILER.compile(source).getAst();
            return new Expr(source, RUNTIME.createProgram(ast), null);
        } catch (CelValidationException | CelEvaluationException e) {
            throw new IllegalArgumentException("invalid CEL expression '" + source + "': " + e.getMessage(), e);
        }
    }

    /**
     * The top-level value field this expression reads when it is a plain path ("" when it reads only the key), or
     * null when it may read anything.
     */
    @Override
    public String topField() {
        if (path == null) {
            return null;
        }
        if (path[0].equals("key")) {
            return "";
        }
        return path[0].equals("value") && path.length >= 2 ? path[1] : null;
    }

    @Override
    public String source() {
        return source;
    }

    /**
     * Evaluate; an evaluation error (missing field, wrong type) yields null rather than stopping the app, and is
     * counted in {@link Failures} with its reason.
     */
    @Override
    public Object eval(Map<String, Object> vars) {
        if (path != null) {
            Object v = vars.get(path[0]);
            for (int i = 1; i < path.length && v != null; i++) {
                v = v instanceof Map<?, ?> m ? m.get(path[i]) : null;
            }
            return v instanceof Map<?, ?> || v instanceof List<?> ? fromCel(toCel(v)) : toCel(v);
        }
        Map<String, Object> act = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : vars.entrySet()) {
            Object v = toCel(e.getValue());
            if (v != null) {
                act.put(e.getKey(), v);
            }
        }
        try {
            return fromCel(program.eval(act));
        } catch (CelEvaluationException e) {
            Failures.GLOBAL.record("'" + source.strip() + "'", e.getMessage());
            return null;
        }
    }

    public static Map<String, Object> vars(String key, Object value) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("key", key);
        m.put("value", value);
        return m;
    }

    /** JSON values to CEL's: ints become longs, nulls inside maps are dropped (so has() is false for them). */
    static Object toCel(Object v) {
        if (v instanceof Integer i) {
            return i.longValue();
        }
        if (v instanceof Short s) {
            return s.longValue();
        }
        if (v instanceof Float f) {
            return f.doubleValue();
        }
        if (v instanceof java.math.BigInteger b) {
            return b.longValue();
        }
        if (v instanceof java.math.BigDecimal b) {
            return b.doubleValue();
        }
        if (v instanceof Map<?, ?> m) {
            Map<String, Object> out = new LinkedHashMap<>();
            for (Map.Entry<?, ?> e : m.entrySet()) {
                Object c = toCel(e.getValue());
                if (c != null) {
                    out.put(String.valueOf(e.getKey()), c);
                }
            }
            return out;
        }
        if (v instanceof List<?> l) {
            List<Object> out = new ArrayList<>();
            for (Object o : l) {
                Object c = toCel(o);
                if (c != null) {
                    out.add(c);
                }
            }
            return out;
        }
        return v;
    }

    /** CEL results back to plain JSON-able values. */
    static Object fromCel(Object v) {
        if (v == null || v.getClass().getSimpleName().equals("NullValue")) {
            return null;
        }
        if (v instanceof com.google.common.primitives.UnsignedLong u) {
            return u.longValue();
        }
        if (v instanceof Map<?, ?> m) {
            Map<String, Object> out = new LinkedHashMap<>();
            for (Map.Entry<?, ?> e : m.entrySet()) {
                out.put(String.valueOf(e.getKey()), fromCel(e.getValue()));
            }
            return out;
        }
        if (v instanceof List<?> l) {
            List<Object> out = new ArrayList<>();
            for (Object o : l) {
                out.add(fromCel(o));
            }
            return out;
        }
        return v;
    }
}
