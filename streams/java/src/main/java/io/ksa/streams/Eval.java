package io.ksa.streams;

import java.util.List;
import java.util.Map;

/** A compiled expression: CEL text ({@link Expr}) or a typed SQL expression tree ({@link SqlExpr}). */
public interface Eval {
    /** The value, or null when it cannot be computed (the reason is recorded in {@link Failures}). */
    Object eval(Map<String, Object> vars);

    /** A short text of the expression, for messages. */
    String source();

    /** The top-level value field this expression reads when it is a plain field path ("" for the key), else null. */
    default String topField() {
        return null;
    }

    /** A filter: true keeps the record; a null result drops it; a result that is not a boolean is a failure. */
    default boolean test(Map<String, Object> vars, String where) {
        Object r = eval(vars);
        if (r instanceof Boolean b) {
            return b;
        }
        if (r != null) {
            Failures.GLOBAL.record(where, "'" + source() + "' returned " + Values.describe(r) + ", not a boolean");
        }
        return false;
    }

    /** A CEL string, or {"sql": [...]} for a SQL expression tree. */
    @SuppressWarnings("unchecked")
    static Eval compile(Object spec) {
        if (spec instanceof String s) {
            return Expr.compile(s);
        }
        if (spec instanceof Map<?, ?> m && m.get("sql") instanceof List<?> tree) {
            return SqlExpr.compile((List<Object>) tree);
        }
        throw new IllegalArgumentException("an expression is a CEL string or {\"sql\": [...]}, not " + spec);
    }
}
