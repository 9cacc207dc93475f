package io.ksa.streams;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;

/**
 * SQL values at run time, as ksqlDB types them: INT and BIGINT are Long, DOUBLE is Double, DECIMAL is BigDecimal,
 * STRING is String, BOOLEAN is Boolean, TIMESTAMP is epoch milliseconds (Long), DATE days since the epoch (Long), TIME
 * milliseconds of the day (Long), ARRAY a List, MAP and STRUCT a Map. {@link #coerce} converts a value to a declared
 * type, as CAST does, and as a record is read into its declared columns.
 */
public final class SqlTypes {
    private SqlTypes() {}

    /** Thrown when a value cannot be converted; the caller records a failure and uses null. */
    public static final class CoercionException extends RuntimeException {
        CoercionException(String message) {
            super(message);
        }
    }

    public static String base(String type) {
        int i = type.indexOf('(');
        int j = type.indexOf('<');
        int cut = i < 0 ? j : (j < 0 ? i : Math.min(i, j));
        return (cut < 0 ? type : type.substring(0, cut)).trim().toUpperCase();
    }

    /** The scale of DECIMAL(p,s), else -1. */
    public static int scale(String type) {
        if (!base(type).equals("DECIMAL")) {
            return -1;
        }
        int c = type.indexOf(',');
        int e = type.indexOf(')');
        return c < 0 || e < 0 ? 0 : Integer.parseInt(type.substring(c + 1, e).trim());
    }

    public static int precision(String type) {
        int o = type.indexOf('(');
        int c = type.indexOf(',');
        return o < 0 || c < 0 ? 38 : Integer.parseInt(type.substring(o + 1, c).trim());
    }

    public static Object coerce(Object v, String type) {
        if (v == null || type == null) {
            return v;
        }
        String b = base(type);
        switch (b) {
            case "INT", "INTEGER", "BIGINT" -> {
                if (v instanceof Long) {
                    return v;
                }
                if (v instanceof Integer || v instanceof Short || v instanceof Byte) {
                    return ((Number) v).longValue();
                }
                if (v instanceof BigDecimal d) {
                    return d.setScale(0, RoundingMode.DOWN).longValueExact();
                }
                if (v instanceof Number n) {
                    double d = n.doubleValue();
                    if (Double.isNaN(d) || Double.isInfinite(d)) {
                        throw new CoercionException("cannot convert " + d + " to " + b);
                    }
                    return (long) d;
                }
                if (v instanceof String s) {
                    try {
                        return Long.parseLong(s.trim());
                    } catch (NumberFormatException e) {
                        throw new CoercionException("cannot convert '" + s + "' to " + b);
                    }
                }
            }
            case "DOUBLE" -> {
                if (v instanceof Double) {
                    return v;
                }
                if (v instanceof Number n) {
                    return n.doubleValue();
                }
                if (v instanceof String s) {
                    try {
                        return Double.parseDouble(s.trim());
                    } catch (NumberFormatException e) {
                        throw new CoercionException("cannot convert '" + s + "' to DOUBLE");
                    }
                }
            }
            case "DECIMAL" -> {
                BigDecimal d;
                if (v instanceof BigDecimal x) {
                    d = x;
                } else if (v instanceof Double || v instanceof Float) {
                    d = new BigDecimal(v.toString());
                } else if (v instanceof Number n) {
                    d = BigDecimal.valueOf(n.longValue());
                } else if (v instanceof String s) {
                    try {
                        d = new BigDecimal(s.trim());
                    } catch (NumberFormatException e) {
                        throw new CoercionException("cannot convert '" + s + "' to " + type);
                    }
                } else {
                    break;
                }
                BigDecimal out = d.setScale(scale(type), RoundingMode.HALF_UP);
                if (out.precision() - out.scale() > precision(type) - scale(type)) {
                    throw new CoercionException(d + " does not fit " + type);
                }
                return out;
            }
            case "STRING", "VARCHAR" -> {
                if (v instanceof String) {
                    return v;
                }
                if (v instanceof BigDecimal d) {
                    return d.toPlainString();
                }
                if (v instanceof Number || v instanceof Boolean) {
                    return v.toString();
                }
                return Values.toJson(v);
            }
            case "BOOLEAN" -> {
                if (v instanceof Boolean) {
                    return v;
                }
                if (v instanceof String s) {
                    String t = s.trim().toLowerCase();
                    if (t.equals("true") || t.equals("false")) {
                        return Boolean.valueOf(t);
                    }
                    throw new CoercionException("cannot convert '" + s + "' to BOOLEAN");
                }
            }
            case "TIMESTAMP" -> {
                if (v instanceof Number n) {
                    return n.longValue();
                }
                if (v instanceof String s) {
                    return parseTimestamp(s);
                }
            }
            case "DATE" -> {
                if (v instanceof Number n) {
                    return n.longValue();
                }
                if (v instanceof String s) {
                    try {
                        return LocalDate.parse(s.trim()).toEpochDay();
                    } catch (RuntimeException e) {
                        throw new CoercionException("cannot convert '" + s + "' to DATE (yyyy-MM-dd)");
                    }
                }
            }
            case "TIME" -> {
                if (v instanceof Number n) {
                    return n.longValue();
                }
                if (v instanceof String s) {
                    try {
                        return LocalTime.parse(s.trim()).toNanoOfDay() / 1_000_000L;
                    } catch (RuntimeException e) {
                        throw new CoercionException("cannot convert '" + s + "' to TIME (HH:mm:ss)");
                    }
                }
            }
            case "ARRAY" -> {
                if (v instanceof List<?>) {
                    return v;
                }
            }
            case "MAP", "STRUCT" -> {
                if (v instanceof Map<?, ?>) {
                    return v;
                }
            }
            case "BYTES" -> {
                return v;
            }
            default -> {
                return v;
            }
        }
        throw new CoercionException("cannot convert " + Values.describe(v) + " to " + type);
    }

    /** ISO-8601 text (a date, a local date-time read as UTC, or an instant) as epoch milliseconds. */
    public static long parseTimestamp(String s) {
        String t = s.trim();
        try {
            if (t.endsWith("Z") || t.matches(".*[+-]\\d\\d:?\\d\\d$")) {
                return Instant.parse(t.length() > 10 && t.charAt(10) == ' ' ? t.replace(' ', 'T') : t).toEpochMilli();
            }
            if (t.length() == 10) {
                return LocalDate.parse(t).atStartOfDay().toInstant(ZoneOffset.UTC).toEpochMilli();
            }
            return LocalDateTime.parse(t.replace(' ', 'T')).toInstant(ZoneOffset.UTC).toEpochMilli();
        } catch (RuntimeException e) {
            throw new CoercionException("cannot convert '" + s + "' to TIMESTAMP (ISO-8601, e.g. 2024-01-31T12:00:00)");
        }
    }

    /** A key value read from its canonical text (see {@link Keys}) to its declared type. */
    public static Object fromKeyText(String text, String type) {
        if (text == null) {
            return null;
        }
        String b = base(type);
        if (b.equals("STRING") || b.equals("VARCHAR")) {
            return text;
        }
        return coerce(text, type);
    }
}
