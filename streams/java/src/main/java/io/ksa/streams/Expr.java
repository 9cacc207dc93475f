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
public final class Expr {
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

    private final String source;
    private final CelRuntime.Program program;

    private Expr(String source, CelRuntime.Program program) {
        this.source = source;
        this.program = program;
    }

    public static Expr compile(String source) {
        try {
            CelAbstractSyntaxTree ast = COMPILER.compile(source).getAst();
            return new Expr(source, RUNTIME.createProgram(ast));
        } catch (CelValidationException | CelEvaluationException e) {
            throw new IllegalArgumentException("invalid CEL expression '" + source + "': " + e.getMessage(), e);
        }
    }

    public String source() {
        return source;
    }

    /** Evaluate; an evaluation error (missing field, wrong type) yields null rather than stopping the app. */
    public Object eval(Map<String, Object> vars) {
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
            return null;
        }
    }

    public boolean test(Map<String, Object> vars) {
        return Boolean.TRUE.equals(eval(vars));
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
