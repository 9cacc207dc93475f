package io.ksa.streams;

import com.fasterxml.jackson.databind.JsonNode;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * ksqlDB's scalar functions with their documented semantics (argument types were checked when the statement was
 * compiled). NULL arguments give NULL except where ksqlDB says otherwise (CONCAT and CONCAT_WS skip them, COALESCE,
 * IFNULL, GREATEST and LEAST look past them). The Python side (streams.sql.functions) mirrors these for push
 * queries, and the corpus test checks both against independently computed results.
 */
public final class SqlFunctions {
    private SqlFunctions() {}

    private static final Map<String, int[]> ARITY = Map.ofEntries(
            Map.entry("ABS", new int[] {1, 1}), Map.entry("CEIL", new int[] {1, 1}),
            Map.entry("FLOOR", new int[] {1, 1}), Map.entry("ROUND", new int[] {1, 2}),
            Map.entry("SQRT", new int[] {1, 1}), Map.entry("SIGN", new int[] {1, 1}),
            Map.entry("EXP", new int[] {1, 1}), Map.entry("LN", new int[] {1, 1}),
            Map.entry("CBRT", new int[] {1, 1}),
            Map.entry("GREATEST", new int[] {1, 99}), Map.entry("LEAST", new int[] {1, 99}),
            Map.entry("UCASE", new int[] {1, 1}), Map.entry("LCASE", new int[] {1, 1}),
            Map.entry("LEN", new int[] {1, 1}), Map.entry("CONCAT", new int[] {1, 99}),
            Map.entry("CONCAT_WS", new int[] {2, 99}), Map.entry("SUBSTRING", new int[] {2, 3}),
            Map.entry("TRIM", new int[] {1, 1}), Map.entry("LTRIM", new int[] {1, 1}),
            Map.entry("RTRIM", new int[] {1, 1}), Map.entry("REPLACE", new int[] {3, 3}),
            Map.entry("INSTR", new int[] {2, 4}), Map.entry("LPAD", new int[] {3, 3}),
            Map.entry("RPAD", new int[] {3, 3}), Map.entry("INITCAP", new int[] {1, 1}),
            Map.entry("SPLIT", new int[] {2, 2}), Map.entry("REGEXP_EXTRACT", new int[] {2, 3}),
            Map.entry("REGEXP_REPLACE", new int[] {3, 3}), Map.entry("EXTRACTJSONFIELD", new int[] {2, 2}),
            Map.entry("IFNULL", new int[] {2, 2}), Map.entry("COALESCE", new int[] {1, 99}),
            Map.entry("NULLIF", new int[] {2, 2}), Map.entry("AS_VALUE", new int[] {1, 1}),
            Map.entry("ARRAY_LENGTH", new int[] {1, 1}), Map.entry("ARRAY_CONTAINS", new int[] {2, 2}),
            Map.entry("ARRAY_JOIN", new int[] {1, 2}),
            Map.entry("TIMESTAMPTOSTRING", new int[] {2, 3}), Map.entry("STRINGTOTIMESTAMP", new int[] {2, 3}),
            Map.entry("FORMAT_TIMESTAMP", new int[] {2, 3}), Map.entry("PARSE_TIMESTAMP", new int[] {2, 3}),
            Map.entry("FROM_UNIXTIME", new int[] {1, 1}), Map.entry("UNIX_TIMESTAMP", new int[] {0, 1}),
            Map.entry("DATETOSTRING", new int[] {2, 2}), Map.entry("STRINGTODATE", new int[] {2, 2}),
            Map.entry("FORMAT_DATE", new int[] {2, 2}), Map.entry("PARSE_DATE", new int[] {2, 2}));

    private static final Map<String, DateTimeFormatter> FORMATS = new ConcurrentHashMap<>();
    private static final Map<String, Pattern> PATTERNS = new ConcurrentHashMap<>();

    static void check(String name, int args) {
        int[] a = ARITY.get(name);
        if (a == null) {
            throw new IllegalArgumentException("unknown function " + name + "()");
        }
        if (args < a[0] || args > a[1]) {
            throw new IllegalArgumentException(name + "() takes " + a[0] + (a[1] == a[0] ? "" : ".." + a[1])
                    + " argument(s), not " + args);
        }
    }

    private static boolean anyNull(Object[] a) {
        for (Object o : a) {
            if (o == null) {
                return true;
            }
        }
        return false;
    }

    public static Object call(String name, Object[] a) {
        switch (name) {
            case "CONCAT" -> {
                StringBuilder sb = new StringBuilder();
                for (Object o : a) {
                    if (o != null) {
                        sb.append(o);
                    }
                }
                return sb.toString();
            }
            case "CONCAT_WS" -> {
                if (a[0] == null) {
                    return null;
                }
                List<String> parts = new ArrayList<>();
                for (int i = 1; i < a.length; i++) {
                    if (a[i] != null) {
                        parts.add(a[i].toString());
                    }
                }
                return String.join(a[0].toString(), parts);
            }
            case "COALESCE" -> {
                for (Object o : a) {
                    if (o != null) {
                        return o;
                    }
                }
                return null;
            }
            case "IFNULL" -> {
                return a[0] != null ? a[0] : a[1];
            }
            case "NULLIF" -> {
                return a[0] != null && a[1] != null && SqlExpr.compare(a[0], a[1]) == 0 ? null : a[0];
            }
            case "GREATEST", "LEAST" -> {
                Object best = null;
                for (Object o : a) {
                    if (o != null && (best == null
                            || (name.equals("GREATEST") ? SqlExpr.compare(o, best) > 0 : SqlExpr.compare(o, best) < 0))) {
                        best = o;
                    }
                }
                return best;
            }
            case "AS_VALUE" -> {
                return a[0];
            }
            case "UNIX_TIMESTAMP" -> {
                return a.length == 0 ? System.currentTimeMillis() : a[0] == null ? null : ((Number) a[0]).longValue();
            }
            default -> { }
        }
        if (anyNull(a)) {
            return null;
        }
        switch (name) {
            case "ABS" -> {
                Object v = a[0];
                if (v instanceof BigDecimal d) {
                    return d.abs();
                }
                if (v instanceof Double d) {
                    return Math.abs(d);
                }
                return Math.abs(((Number) v).longValue());
            }
            case "CEIL", "FLOOR" -> {
                Object v = a[0];
                boolean up = name.equals("CEIL");
                if (v instanceof BigDecimal d) {
                    return d.setScale(0, up ? RoundingMode.CEILING : RoundingMode.FLOOR);
                }
                if (v instanceof Double d) {
                    return up ? Math.ceil(d) : Math.floor(d);
                }
                return ((Number) v).longValue();
            }
            case "ROUND" -> {
                Object v = a[0];
                if (a.length == 1) {
                    if (v instanceof BigDecimal d) {
                        return d.setScale(0, RoundingMode.HALF_UP);
                    }
                    if (v instanceof Double d) {
                        return Math.round(d);
                    }
                    return ((Number) v).longValue();
                }
                int places = ((Number) a[1]).intValue();
                if (v instanceof BigDecimal d) {
                    return d.setScale(places, RoundingMode.HALF_UP);
                }
                if (v instanceof Double d) {
                    return BigDecimal.valueOf(d).setScale(places, RoundingMode.HALF_UP).doubleValue();
                }
                return ((Number) v).longValue();
            }
            case "SQRT" -> {
                return Math.sqrt(((Number) a[0]).doubleValue());
            }
            case "CBRT" -> {
                return Math.cbrt(((Number) a[0]).doubleValue());
            }
            case "EXP" -> {
                return Math.exp(((Number) a[0]).doubleValue());
            }
            case "LN" -> {
                return Math.log(((Number) a[0]).doubleValue());
            }
            case "SIGN" -> {
                return (long) Math.signum(((Number) a[0]).doubleValue());
            }
            case "UCASE" -> {
                return ((String) a[0]).toUpperCase();
            }
            case "LCASE" -> {
                return ((String) a[0]).toLowerCase();
            }
            case "LEN" -> {
                return (long) ((String) a[0]).length();
            }
            case "TRIM" -> {
                return ((String) a[0]).trim();
            }
            case "LTRIM" -> {
                return ((String) a[0]).replaceAll("^\\s+", "");
            }
            case "RTRIM" -> {
                return ((String) a[0]).replaceAll("\\s+$", "");
            }
            case "REPLACE" -> {
                return ((String) a[0]).replace((String) a[1], (String) a[2]);
            }
            case "SUBSTRING" -> {
                String s = (String) a[0];
                int len = s.length();
                int pos = ((Number) a[1]).intValue();
                int start = pos > 0 ? Math.min(pos - 1, len) : pos < 0 ? Math.max(len + pos, 0) : 0;
                int end = a.length > 2 ? (int) Math.min((long) start + Math.max(0, ((Number) a[2]).intValue()), len) : len;
                return s.substring(start, end);
            }
            case "INSTR" -> {
                String s = (String) a[0];
                String sub = (String) a[1];
                int position = a.length > 2 ? ((Number) a[2]).intValue() : 1;
                int occurrence = a.length > 3 ? ((Number) a[3]).intValue() : 1;
                int found = -1;
                if (position > 0) {
                    int from = position - 1;
                    for (int i = 0; i < occurrence; i++) {
                        found = s.indexOf(sub, from);
                        if (found < 0) {
                            break;
                        }
                        from = found + 1;
                    }
                } else if (position < 0) {
                    int from = s.length() + position;
                    for (int i = 0; i < occurrence; i++) {
                        found = s.lastIndexOf(sub, from);
                        if (found < 0) {
                            break;
                        }
                        from = found - 1;
                    }
                }
                return (long) (found + 1);
            }
            case "LPAD", "RPAD" -> {
                String s = (String) a[0];
                int len = ((Number) a[1]).intValue();
                String pad = (String) a[2];
                if (len < 0 || (pad.isEmpty() && len > s.length())) {
                    return null;
                }
                if (len <= s.length()) {
                    return s.substring(0, len);
                }
                StringBuilder fill = new StringBuilder();
                while (fill.length() < len - s.length()) {
                    fill.append(pad);
                }
                fill.setLength(len - s.length());
                return name.equals("LPAD") ? fill + s : s + fill;
            }
            case "INITCAP" -> {
                String s = (String) a[0];
                StringBuilder sb = new StringBuilder(s.length());
                boolean start = true;
                for (char c : s.toCharArray()) {
                    if (Character.isWhitespace(c)) {
                        start = true;
                        sb.append(c);
                    } else {
                        sb.append(start ? Character.toUpperCase(c) : Character.toLowerCase(c));
                        start = false;
                    }
                }
                return sb.toString();
            }
            case "SPLIT" -> {
                String s = (String) a[0];
                String d = (String) a[1];
                List<Object> out = new ArrayList<>();
                if (d.isEmpty()) {
                    for (char c : s.toCharArray()) {
                        out.add(String.valueOf(c));
                    }
                } else {
                    out.addAll(List.of(s.split(Pattern.quote(d), -1)));
                }
                return out;
            }
            case "REGEXP_EXTRACT" -> {
                Matcher m = PATTERNS.computeIfAbsent((String) a[0], Pattern::compile).matcher((String) a[1]);
                int group = a.length > 2 ? ((Number) a[2]).intValue() : 0;
                return m.find() && group <= m.groupCount() ? m.group(group) : null;
            }
            case "REGEXP_REPLACE" -> {
                return PATTERNS.computeIfAbsent((String) a[1], Pattern::compile).matcher((String) a[0])
                        .replaceAll((String) a[2]);
            }
            case "EXTRACTJSONFIELD" -> {
                return extractJson((String) a[0], (String) a[1]);
            }
            case "ARRAY_LENGTH" -> {
                return (long) ((List<?>) a[0]).size();
            }
            case "ARRAY_CONTAINS" -> {
                for (Object o : (List<?>) a[0]) {
                    if (o != null && SqlExpr.compare(o, a[1]) == 0) {
                        return true;
                    }
                }
                return false;
            }
            case "ARRAY_JOIN" -> {
                String d = a.length > 1 ? (String) a[1] : ",";
                List<String> parts = new ArrayList<>();
                for (Object o : (List<?>) a[0]) {
                    parts.add(o == null ? "null" : o instanceof BigDecimal b ? b.toPlainString() : o.toString());
                }
                return String.join(d, parts);
            }
            case "TIMESTAMPTOSTRING", "FORMAT_TIMESTAMP" -> {
                ZoneId zone = a.length > 2 ? ZoneId.of((String) a[2]) : ZoneId.of("UTC");
                return formatter((String) a[1]).withZone(zone).format(Instant.ofEpochMilli(((Number) a[0]).longValue()));
            }
            case "STRINGTOTIMESTAMP", "PARSE_TIMESTAMP" -> {
                ZoneId zone = a.length > 2 ? ZoneId.of((String) a[2]) : ZoneId.of("UTC");
                String text = (String) a[0];
                DateTimeFormatter f = formatter((String) a[1]);
                try {
                    return LocalDateTime.parse(text, f).atZone(zone).toInstant().toEpochMilli();
                } catch (RuntimeException e) {
                    return LocalDate.parse(text, f).atStartOfDay(zone).toInstant().toEpochMilli();
                }
            }
            case "FROM_UNIXTIME" -> {
                return ((Number) a[0]).longValue();
            }
            case "DATETOSTRING", "FORMAT_DATE" -> {
                return formatter((String) a[1]).format(LocalDate.ofEpochDay(((Number) a[0]).longValue()));
            }
            case "STRINGTODATE", "PARSE_DATE" -> {
                return LocalDate.parse((String) a[0], formatter((String) a[1])).toEpochDay();
            }
            default -> throw new IllegalArgumentException("unknown function " + name + "()");
        }
    }

    private static DateTimeFormatter formatter(String pattern) {
        return FORMATS.computeIfAbsent(pattern, DateTimeFormatter::ofPattern);
    }

    /** ksqlDB's EXTRACTJSONFIELD: a JSONPath like $.a.b[0]; strings come back as they are, others as JSON text. */
    static String extractJson(String json, String path) {
        JsonNode node;
        try {
            node = Values.JSON.readTree(json);
        } catch (Exception e) {
            return null;
        }
        String p = path.trim();
        if (!p.startsWith("$")) {
            return null;
        }
        Matcher m = Pattern.compile("\\.([A-Za-z0-9_\\-]+)|\\[(\\d+)\\]|\\['([^']+)'\\]").matcher(p.substring(1));
        int at = 0;
        while (at < p.length() - 1 && m.find(at) && m.start() == at) {
            if (node == null) {
                return null;
            }
            if (m.group(1) != null) {
                node = node.get(m.group(1));
            } else if (m.group(2) != null) {
                node = node.get(Integer.parseInt(m.group(2)));
            } else {
                node = node.get(m.group(3));
            }
            at = m.end();
        }
        if (node == null || node.isNull() || node.isMissingNode()) {
            return null;
        }
        return node.isTextual() ? node.asText() : node.toString();
    }
}
