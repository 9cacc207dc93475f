package io.ksa.streams;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.math.BigDecimal;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** SQL semantics of the expression tree: NULLs, three-valued logic, integer division, decimals, LIKE, casts. */
class SqlExprTest {
    private static Object eval(String json, Map<String, Object> row) throws Exception {
        @SuppressWarnings("unchecked")
        List<Object> tree = Values.JSON.readValue(json.replace('\'', '"'), List.class);
        return SqlExpr.compile(tree).eval(Expr.vars("k", row));
    }

    private static Map<String, Object> row(Object... kv) {
        Map<String, Object> m = new HashMap<>();
        for (int i = 0; i + 1 < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    @Test
    void nullsPropagateAndLogicIsThreeValued() throws Exception {
        Map<String, Object> r = row("A", 5L, "B", null);
        assertNull(eval("['cmp','>',['col','B'],['lit',1]]", r));
        assertEquals(false, eval("['and',['cmp','>',['col','B'],['lit',1]],['lit',false]]", r));
        assertEquals(true, eval("['or',['cmp','>',['col','B'],['lit',1]],['lit',true]]", r));
        assertNull(eval("['and',['cmp','>',['col','B'],['lit',1]],['lit',true]]", r));
        assertNull(eval("['arith','+','BIGINT',['col','A'],['col','B']]", r));
        assertEquals("other", eval("['case',[[['cmp','>',['col','B'],['lit',1]],['lit','big']]],['lit','other']]", r));
    }

    @Test
    void arithmeticFollowsTheType() throws Exception {
        Map<String, Object> r = row("A", 7L, "D", new BigDecimal("1.25"));
        assertEquals(2L, eval("['arith','/','INT',['col','A'],['lit',3]]", r));
        assertEquals(-1L, eval("['arith','%','INT',['lit',-7],['lit',3]]", r));
        assertEquals(new BigDecimal("8.75"), eval("['arith','*','DECIMAL(12,2)',['col','A'],['col','D']]", r));
        assertEquals(2.5, eval("['arith','*','DOUBLE',['col','D'],['lit',2]]", r));
        assertNull(eval("['arith','/','INT',['col','A'],['lit',0]]", r));  // NULL, counted as a failure
        assertEquals("a-7", eval("['arith','+','STRING',['lit','a-'],['cast','STRING',['col','A']]]", r));
    }

    @Test
    void likeCastsAndFunctions() throws Exception {
        Map<String, Object> r = row("S", "Region_16", "N", "42");
        assertEquals(true, eval("['like',['col','S'],['lit','%_6'],false,null]", r));
        assertEquals(false, eval("['like',['col','S'],['lit','region%'],false,null]", r));
        assertEquals(42L, eval("['cast','INT',['col','N']]", r));
        assertNull(eval("['cast','INT',['col','S']]", r));
        assertEquals("16", eval("['call','SUBSTRING',['col','S'],['lit',-2]]", r));
        assertEquals(7L, eval("['call','INSTR',['col','S'],['lit','_']]", r));
        assertEquals("Region 16", eval("['call','REPLACE',['col','S'],['lit','_'],['lit',' ']]", r));
        assertEquals(List.of("Region", "16"), eval("['call','SPLIT',['col','S'],['lit','_']]", r));
        assertEquals(3L, eval("['call','ROUND',['lit',2.5]]", r));
        assertEquals("x", eval("['call','IFNULL',['col','NONE'],['lit','x']]", r));
    }
}
