"""A corpus of ksqlDB statements, drawn from what ksqlDB's documentation describes (the quickstart's pageviews and
users, the windowing, join, aggregation, function and REST pages), each with the result expected from it computed
here independently of the engine: plain Python over the same input records.

Each case is run one of three ways, all without a broker:
- persistent queries (CREATE ... AS SELECT, INSERT INTO ... SELECT) are compiled by the engine and their specs run on
  Kafka's TopologyTestDriver by the real runner (``io.ksa.streams.Simulate``, one JVM for the whole corpus); the
  output records are compared with the expected ones;
- other statements run on the engine against an in-memory cluster (topics, a schema registry); their REST entities
  are compared;
- pull and push queries and PRINT read the in-memory topics.

A case ksqlDB supports that this engine does not is marked ``unsupported`` with the construct its error must name.
``evaluate()`` returns every case's outcome; ``tests/streams/test_ksql_corpus.py`` asserts them and
``bench/ksql_corpus.py`` prints the share supported.
"""

from __future__ import annotations

import heapq
import json
import struct
import subprocess
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from streams.ksql_engine import AppResources, KsqlEngine, PlannedChange
from streams.ksql_rows import RawRecord

T0 = 1_700_000_000_000 // 60_000 * 60_000  # a whole minute

# --- the input records -------------------------------------------------------------------------------------------

USERS = [
    # userid, registertime, gender, regionid, interests, contactinfo
    ("User_1", 1000, "FEMALE", "Region_1", ["News", "Movies"], {"phone": "555-1", "city": "Palo Alto"}),
    ("User_2", 2000, "MALE", "Region_2", ["Travel"], {"phone": "555-2", "city": "San Jose"}),
    ("User_3", 3000, "FEMALE", "Region_6", ["Game", "Sport"], {"phone": "555-3", "city": "Irvine"}),
    ("User_4", 4000, "OTHER", "Region_3", [], {"phone": "555-4", "city": "Palo Alto"}),
    ("User_5", 5000, "MALE", "Region_6", ["News"], {"phone": "555-5", "city": "San Mateo"}),
]
# pageviews: (offset seconds, userid, pageid); User_9 has no profile
PAGEVIEWS = [
    (i * 7, f"User_{[1, 2, 3, 1, 5, 9, 3, 1, 2, 5][i % 10]}", f"Page_{[11, 25, 3, 17, 42, 11, 8, 20, 91, 3][i % 10]}")
    for i in range(40)
]
# a few records out of order (10-40 s late): windows without GRACE PERIOD keep them (ksqlDB's 24 h default)
PAGEVIEWS_LATE = [(48, "User_2", "Page_50"), (100, "User_1", "Page_50"), (190, "User_3", "Page_12")]
ITEMS = ["Item_1", "Item_2", "Item_3"]
CITIES = [("Palo Alto", "CA", 94301), ("Austin", "TX", 73301), ("Boston", "MA", 2108)]
# orders: orderid, offset s, itemid, orderunits, city index, tags, attrs
ORDERS = [
    (
        n,
        n * 11,
        ITEMS[n % 3],
        round(0.5 + (n * 37 % 50) / 10, 1),
        n % 3,
        [f"t{n % 4}", "x"][: 1 + n % 2],
        {"channel": ["web", "app"][n % 2]},
    )
    for n in range(1, 25)
]
# shipments: shipmentid, orderid, offset s, warehouse (some late, some never)
SHIPMENTS = [(f"S{n}", n, n * 11 + (5 if n % 4 else 4000), ["W1", "W2"][n % 2]) for n in range(1, 25) if n % 5]
PAYMENTS = [(f"P{n}", n, Decimal(f"{n * 3}.{n % 10}5"), ["USD", "EUR"][n % 2]) for n in range(1, 13)]


def _ts(offset_s: float) -> int:
    return T0 + int(offset_s * 1000)


def input_records() -> dict[str, list[tuple[Any, Any, int]]]:
    """topic -> [(key, value, timestamp ms)] in the order they are produced."""
    out: dict[str, list[tuple[Any, Any, int]]] = defaultdict(list)
    for uid, reg, gender, region, interests, contact in USERS:
        out["users"].append(
            (
                uid,
                {
                    "registertime": reg,
                    "gender": gender,
                    "regionid": region,
                    "interests": interests,
                    "contactinfo": contact,
                },
                _ts(0),
            )
        )
    for offset, uid, page in PAGEVIEWS + PAGEVIEWS_LATE:
        out["pageviews"].append((None, {"viewtime": _ts(offset), "userid": uid, "pageid": page}, _ts(offset)))
    for oid, offset, item, units, city, tags, attrs in ORDERS:
        c = CITIES[city]
        address = {"city": c[0], "state": c[1], "zipcode": c[2]}
        value = {
            "ordertime": _ts(offset),
            "itemid": item,
            "orderunits": units,
            "address": address,
            "tags": tags,
            "attrs": attrs,
        }
        out["orders"].append((oid, value, _ts(offset)))
    for sid, oid, offset, wh in sorted(SHIPMENTS, key=lambda s: s[2]):  # produced as they happen
        out["shipments"].append((sid, {"orderid": oid, "warehouse": wh}, _ts(offset)))
    for pid, oid, amount, cur in PAYMENTS:
        out["payments"].append((pid, {"orderid": oid, "amount": float(amount), "currency": cur}, _ts(oid * 11 + 3)))
    for i in range(6):
        out["ratings"].append((None, f"{i},{100 + i % 3},{1 + i % 5},{'web' if i % 2 else 'ios'},msg {i}", _ts(i)))
    return out


SETUP = [
    "CREATE STREAM PAGEVIEWS (VIEWTIME BIGINT, USERID VARCHAR, PAGEID VARCHAR) "
    "WITH (KAFKA_TOPIC='pageviews', VALUE_FORMAT='JSON', TIMESTAMP='VIEWTIME');",
    "CREATE TABLE USERS (USERID VARCHAR PRIMARY KEY, REGISTERTIME BIGINT, GENDER VARCHAR, REGIONID VARCHAR, "
    "INTERESTS ARRAY<VARCHAR>, CONTACTINFO MAP<VARCHAR, VARCHAR>) WITH (KAFKA_TOPIC='users', VALUE_FORMAT='JSON');",
    "CREATE TYPE ADDRESS AS STRUCT<CITY VARCHAR, STATE VARCHAR, ZIPCODE BIGINT>;",
    "CREATE STREAM ORDERS (ORDERID INT KEY, ORDERTIME BIGINT, ITEMID VARCHAR, ORDERUNITS DOUBLE, ADDRESS ADDRESS, "
    "TAGS ARRAY<VARCHAR>, ATTRS MAP<VARCHAR, VARCHAR>) WITH (KAFKA_TOPIC='orders', VALUE_FORMAT='JSON');",
    "CREATE STREAM SHIPMENTS (SHIPMENTID VARCHAR KEY, ORDERID INT, WAREHOUSE VARCHAR) "
    "WITH (KAFKA_TOPIC='shipments', VALUE_FORMAT='JSON');",
    "CREATE STREAM PAYMENTS (PAYMENTID VARCHAR KEY, ORDERID INT, AMOUNT DECIMAL(10, 2), CURRENCY VARCHAR) "
    "WITH (KAFKA_TOPIC='payments', VALUE_FORMAT='JSON');",
    "CREATE STREAM RATINGS (RATING_ID BIGINT, USER_ID INT, STARS INT, CHANNEL VARCHAR, MESSAGE VARCHAR) "
    "WITH (KAFKA_TOPIC='ratings', VALUE_FORMAT='DELIMITED');",
]

# --- expected results, computed from the records above ---------------------------------------------------------------


def pv() -> list[dict[str, Any]]:
    return [{"VIEWTIME": _ts(o), "USERID": u, "PAGEID": p} for o, u, p in PAGEVIEWS + PAGEVIEWS_LATE]


def users() -> dict[str, dict[str, Any]]:
    return {
        u: {"REGISTERTIME": r, "GENDER": g, "REGIONID": reg, "INTERESTS": i, "CONTACTINFO": c}
        for u, r, g, reg, i, c in USERS
    }


def orders() -> list[dict[str, Any]]:
    out = []
    for oid, offset, item, units, city, tags, attrs in ORDERS:
        c = CITIES[city]
        out.append(
            {
                "ORDERID": oid,
                "ORDERTIME": _ts(offset),
                "ITEMID": item,
                "ORDERUNITS": units,
                "ADDRESS": {"CITY": c[0], "STATE": c[1], "ZIPCODE": c[2]},
                "TAGS": tags,
                "ATTRS": attrs,
                "ts": _ts(offset),
            }
        )
    return out


def table_state(records: list[tuple[Any, Any]]) -> dict[Any, Any]:
    """The final row of each key of a table's changelog (a tombstone removes it)."""
    state: dict[Any, Any] = {}
    for key, value in records:
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value
    return state


def on_time(records: list[dict[str, Any]], size: int, grace: int) -> list[dict[str, Any]]:
    """The records a tumbling window of ``size`` with ``grace`` counts, in the order they arrive: one whose window
    ended more than ``grace`` before the latest time seen so far is late, and left out (ksqlDB's rule)."""
    latest = -1
    kept = []
    for r in records:
        latest = max(latest, r["VIEWTIME"])
        start = r["VIEWTIME"] // size * size
        if start + size + grace > latest:
            kept.append(r)
    return kept


def windows_of(ts: int, size: int, advance: int) -> list[int]:
    first = max(0, ts - size + advance) // advance * advance
    return [start for start in range(first, ts + 1, advance) if start <= ts < start + size]


# --- the cases -------------------------------------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    doc: str  # the ksqlDB documentation page that describes the construct
    sql: str
    kind: str  # query (persistent; simulated), statement (entity), select (pull/push/print), error (ksqlDB refuses too)
    expected: Any = None  # records [(key, value)], a table {key: value}, a predicate over the entity, or error text
    compare: str = "records"  # records | table | entity | rows | error
    unsupported: str | None = None  # this engine refuses it; the error must name this
    before: list[str] = field(default_factory=list)  # statements to run first (in the same engine)
    properties: dict[str, str] = field(default_factory=dict)


def _records(rows: list[tuple[Any, dict[str, Any]]]) -> list[tuple[Any, Any]]:
    return rows


def _case_when(units: float) -> str:
    return "small" if units < 2 else "medium" if units < 4 else "large"


def _f(x: float) -> float:
    return float(x)


def _cases() -> list[Case]:
    U = users()
    P = pv()
    O = orders()  # noqa: E741
    cases: list[Case] = []

    def add(*args: Any, **kw: Any) -> None:
        cases.append(Case(*args, **kw))

    # DDL (setup statements are cases too)
    for i, stmt in enumerate(SETUP):
        kind = (
            "Stream created" if "STREAM" in stmt.split("(")[0] else "Table created" if "TABLE" in stmt else "Registered"
        )
        add(
            f"setup-{i}",
            "create-stream / create-table / create-type",
            stmt,
            "statement",
            lambda e, k=kind: e["commandStatus"]["message"].startswith(k),
            "entity",
        )
    add(
        "create-stream-if-not-exists",
        "create-stream",
        "CREATE STREAM IF NOT EXISTS PAGEVIEWS (X INT) WITH (KAFKA_TOPIC='pageviews', VALUE_FORMAT='JSON');",
        "statement",
        lambda e: e["commandStatus"]["status"] == "SUCCESS",
        "entity",
    )
    add(
        "create-table-no-key",
        "create-table (tables require a PRIMARY KEY)",
        "CREATE TABLE NOKEY (A VARCHAR) WITH (KAFKA_TOPIC='users', VALUE_FORMAT='JSON');",
        "error",
        "require a PRIMARY KEY",
        "error",
    )
    add(
        "create-source-table",
        "create-table (SOURCE tables are read-only)",
        "CREATE SOURCE TABLE USERS_RO (USERID VARCHAR PRIMARY KEY, GENDER VARCHAR) WITH (KAFKA_TOPIC='users', "
        "VALUE_FORMAT='JSON');",
        "statement",
        lambda e: e["commandStatus"]["message"] == "Table created",
        "entity",
    )
    add(
        "insert-into-source-table",
        "insert-values (SOURCE tables refuse writes)",
        "INSERT INTO USERS_RO (USERID, GENDER) VALUES ('User_7', 'MALE');",
        "error",
        "read-only",
        "error",
        before=[
            "CREATE SOURCE TABLE USERS_RO (USERID VARCHAR PRIMARY KEY, GENDER VARCHAR) WITH "
            "(KAFKA_TOPIC='users', VALUE_FORMAT='JSON');"
        ],
    )
    add(
        "create-stream-avro-inferred",
        "serialization (AVRO: columns from the registry)",
        "CREATE STREAM CLICKS_AVRO WITH (KAFKA_TOPIC='clicks_avro', VALUE_FORMAT='AVRO');",
        "statement",
        lambda e: e["commandStatus"]["message"] == "Stream created",
        "entity",
    )

    # metadata statements
    add(
        "show-streams",
        "show-streams",
        "SHOW STREAMS;",
        "statement",
        lambda e: {s["name"] for s in e["streams"]} >= {"PAGEVIEWS", "ORDERS", "SHIPMENTS", "PAYMENTS", "RATINGS"},
        "entity",
    )
    add(
        "list-tables",
        "show-tables",
        "LIST TABLES;",
        "statement",
        lambda e: [t["name"] for t in e["tables"]] == ["USERS"],
        "entity",
    )
    add(
        "show-topics",
        "show-topics",
        "SHOW TOPICS;",
        "statement",
        lambda e: {t["name"] for t in e["topics"]} >= {"pageviews", "users", "orders"},
        "entity",
    )
    add(
        "show-properties",
        "show-properties",
        "SHOW PROPERTIES;",
        "statement",
        lambda e: {p["name"]: p["value"] for p in e["properties"]}["ksql.streams.auto.offset.reset"] == "latest",
        "entity",
    )
    add(
        "set-property",
        "set-property (SET applies to the rest of the request)",
        "SET 'auto.offset.reset'='earliest'; SHOW PROPERTIES;",
        "statement",
        lambda e: (
            {p["name"]: p["value"] for p in e["properties"]}["ksql.streams.auto.offset.reset"] == "earliest"
            and "ksql.streams.auto.offset.reset" in e["overwrittenProperties"]
        ),
        "entity",
    )
    add(
        "unset-property",
        "unset-property",
        "UNSET 'auto.offset.reset';",
        "statement",
        lambda e: "unset" in e["commandStatus"]["message"],
        "entity",
    )
    add(
        "show-functions",
        "show-functions",
        "SHOW FUNCTIONS;",
        "statement",
        lambda e: {"UCASE", "COUNT", "LATEST_BY_OFFSET", "TOPK"} <= {f["name"] for f in e["functions"]},
        "entity",
    )
    add(
        "describe-function",
        "describe-function",
        "DESCRIBE FUNCTION UCASE;",
        "statement",
        lambda e: e["name"] == "UCASE" and e["type"] == "SCALAR",
        "entity",
    )
    add(
        "describe",
        "describe",
        "DESCRIBE PAGEVIEWS;",
        "statement",
        lambda e: (
            [(f["name"], f["schema"]["type"]) for f in e["sourceDescription"]["fields"]]
            == [("VIEWTIME", "BIGINT"), ("USERID", "STRING"), ("PAGEID", "STRING")]
        ),
        "entity",
    )
    add(
        "describe-extended",
        "describe (EXTENDED)",
        "DESCRIBE ORDERS EXTENDED;",
        "statement",
        lambda e: (
            e["sourceDescription"]["extended"] is True
            and e["sourceDescription"]["fields"][0]
            == {"name": "ORDERID", "schema": {"type": "INTEGER", "fields": None, "memberSchema": None}, "type": "KEY"}
            and e["sourceDescription"]["fields"][4]["schema"]["type"] == "STRUCT"
        ),
        "entity",
    )
    add(
        "define-variable",
        "variable-substitution (DEFINE, ${name})",
        "DEFINE name = 'PV'; CREATE STREAM ${name}_COPY AS SELECT * FROM PAGEVIEWS;",
        "statement",
        lambda e: e["commandStatus"]["message"].startswith("Created query with ID CSAS_PV_COPY"),
        "entity",
    )
    add(
        "show-variables",
        "variable-substitution (SHOW VARIABLES)",
        "DEFINE topic = 'pageviews'; SHOW VARIABLES;",
        "statement",
        lambda e: e["variables"] == [{"name": "TOPIC", "value": "pageviews"}],
        "entity",
    )
    add(
        "show-types",
        "create-type (SHOW TYPES)",
        "SHOW TYPES;",
        "statement",
        lambda e: e["types"]["ADDRESS"]["type"] == "STRUCT",
        "entity",
    )
    add(
        "drop-if-exists",
        "drop-stream",
        "DROP STREAM IF EXISTS NOPE;",
        "statement",
        lambda e: e["commandStatus"]["status"] == "SUCCESS",
        "entity",
    )
    add(
        "drop-delete-topic",
        "drop-table (DELETE TOPIC)",
        "DROP TABLE USERS DELETE TOPIC;",
        "statement",
        lambda e, changes: [c.action for c in changes] == ["topic.delete"] and changes[0].resources == ["users"],
        "changes",
    )
    add(
        "show-queries",
        "show-queries",
        "SHOW QUERIES;",
        "statement",
        lambda e: [q["id"].rsplit("_", 1)[0] for q in e["queries"]] == ["CSAS_PV_ONE"],
        "entity",
        before=["CREATE STREAM PV_ONE AS SELECT * FROM PAGEVIEWS;"],
    )
    add(
        "explain",
        "explain",
        "EXPLAIN {query};",
        "statement",
        lambda e: e["queryDescription"]["sinks"] == ["PV_TWO"] and e["queryDescription"]["sources"] == ["PAGEVIEWS"],
        "entity",
        before=["CREATE STREAM PV_TWO AS SELECT * FROM PAGEVIEWS;"],
    )
    add(
        "terminate",
        "terminate",
        "TERMINATE {query};",
        "statement",
        lambda e, changes: e["commandStatus"]["message"] == "Query terminated.",
        "changes",
        before=["CREATE STREAM PV_THREE AS SELECT * FROM PAGEVIEWS;"],
    )
    add(
        "pause-resume",
        "pause / resume",
        "PAUSE {query};",
        "statement",
        lambda e, changes: [c.action for c in changes] == ["stream.stop"],
        "changes",
        before=["CREATE STREAM PV_FOUR AS SELECT * FROM PAGEVIEWS;"],
    )
    add(
        "insert-values",
        "insert-values",
        "INSERT INTO ORDERS (ORDERID, ITEMID, ORDERUNITS) VALUES (99, 'Item_9', 2.5);",
        "statement",
        lambda e, changes: (
            changes[0].action == "topic.produce"
            and bytes.fromhex(changes[0].key or "") == struct.pack(">i", 99)
            and json.loads(bytes.fromhex(changes[0].value or ""))
            == {"ORDERTIME": None, "ITEMID": "Item_9", "ORDERUNITS": 2.5, "ADDRESS": None, "TAGS": None, "ATTRS": None}
        ),
        "changes",
    )
    add("assert-topic", "assert-topic", "ASSERT TOPIC pageviews;", "statement", lambda e: e["exists"] is True, "entity")

    # type errors ksqlDB reports at CREATE (the engine must too)
    add(
        "where-type-error",
        "operators (comparisons need comparable types)",
        "CREATE STREAM BAD1 AS SELECT * FROM PAGEVIEWS WHERE VIEWTIME > 'abc';",
        "error",
        "Cannot compare VIEWTIME (BIGINT) to 'abc' (STRING) with GREATER_THAN",
        "error",
    )
    add(
        "where-not-boolean",
        "select (WHERE is a condition)",
        "CREATE STREAM BAD2 AS SELECT * FROM PAGEVIEWS WHERE VIEWTIME + 1;",
        "error",
        "Should evaluate to boolean",
        "error",
    )
    add(
        "unknown-column",
        "select (columns resolve)",
        "CREATE STREAM BAD3 AS SELECT NOSUCH FROM PAGEVIEWS;",
        "error",
        "'NOSUCH' cannot be resolved",
        "error",
    )
    add(
        "bad-function-args",
        "functions (argument types)",
        "CREATE STREAM BAD4 AS SELECT UCASE(VIEWTIME) FROM PAGEVIEWS;",
        "error",
        "does not accept parameters (BIGINT)",
        "error",
    )

    # persistent queries: projections, filters, functions
    add(
        "csas-where-lt",
        "create-stream-as-select (WHERE pageid < 'Page_20')",
        "CREATE STREAM PAGEVIEWS_INTRO AS SELECT * FROM PAGEVIEWS WHERE PAGEID < 'Page_20' EMIT CHANGES;",
        "query",
        [(None, r) for r in P if r["PAGEID"] < "Page_20"],
    )
    add(
        "csas-like",
        "time-and-windows (LIKE '%_6')",
        "CREATE STREAM PV_LIKE AS SELECT USERID, PAGEID FROM PAGEVIEWS WHERE PAGEID LIKE 'Page_1%';",
        "query",
        [(None, {"USERID": r["USERID"], "PAGEID": r["PAGEID"]}) for r in P if r["PAGEID"].startswith("Page_1")],
    )
    add(
        "csas-in-between",
        "operators (IN, BETWEEN)",
        "CREATE STREAM PV_IN AS SELECT PAGEID FROM PAGEVIEWS WHERE USERID IN ('User_1', 'User_5') AND VIEWTIME "
        f"BETWEEN {_ts(20)} AND {_ts(200)};",
        "query",
        [
            (None, {"PAGEID": r["PAGEID"]})
            for r in P
            if r["USERID"] in ("User_1", "User_5") and _ts(20) <= r["VIEWTIME"] <= _ts(200)
        ],
    )
    add(
        "csas-case",
        "appendix (CASE WHEN units<2 THEN 'sm' ...)",
        "CREATE STREAM ORDER_SIZES AS SELECT ORDERID, CASE WHEN ORDERUNITS < 2 THEN 'small' WHEN ORDERUNITS < 4 THEN "
        "'medium' ELSE 'large' END AS SIZE FROM ORDERS;",
        "query",
        [(o["ORDERID"], {"SIZE": _case_when(o["ORDERUNITS"])}) for o in O],
    )
    add(
        "csas-cast-concat",
        "appendix (CAST, CONCAT)",
        "CREATE STREAM ORDER_LABELS AS SELECT ORDERID, CONCAT(CAST(ORDERUNITS AS VARCHAR), '_units') AS LABEL, "
        "ITEMID + '-' + CAST(ORDERID AS STRING) AS CODE FROM ORDERS;",
        "query",
        [(o["ORDERID"], {"LABEL": f"{o['ORDERUNITS']}_units", "CODE": f"{o['ITEMID']}-{o['ORDERID']}"}) for o in O],
    )
    add(
        "csas-struct-deref",
        "data-types (STRUCT, ->)",
        "CREATE STREAM ORDER_CITIES AS SELECT ORDERID, ADDRESS->CITY AS CITY, ADDRESS->ZIPCODE AS ZIP FROM ORDERS "
        "WHERE ADDRESS->STATE <> 'TX';",
        "query",
        [
            (o["ORDERID"], {"CITY": o["ADDRESS"]["CITY"], "ZIP": o["ADDRESS"]["ZIPCODE"]})
            for o in O
            if o["ADDRESS"]["STATE"] != "TX"
        ],
    )
    add(
        "csas-array-map",
        "data-types (ARRAY[1-based], MAP['key'], ARRAY_LENGTH)",
        "CREATE STREAM ORDER_TAGS AS SELECT ORDERID, TAGS[1] AS FIRST_TAG, ARRAY_LENGTH(TAGS) AS N, "
        "ATTRS['channel'] AS CHANNEL FROM ORDERS;",
        "query",
        [(o["ORDERID"], {"FIRST_TAG": o["TAGS"][0], "N": len(o["TAGS"]), "CHANNEL": o["ATTRS"]["channel"]}) for o in O],
    )
    add(
        "csas-math",
        "functions (ROUND, ABS, FLOOR, CEIL, arithmetic)",
        "CREATE STREAM ORDER_MATH AS SELECT ORDERID, ROUND(ORDERUNITS * 1.5, 1) AS R, FLOOR(ORDERUNITS) AS F, "
        "CEIL(ORDERUNITS) AS C, ABS(ORDERUNITS - 3) AS A, ORDERID % 4 AS M, ORDERID / 3 AS D FROM ORDERS;",
        "query",
        [
            (
                o["ORDERID"],
                {
                    "R": float(Decimal(repr(o["ORDERUNITS"] * 1.5)).quantize(Decimal("0.1"), "ROUND_HALF_UP")),
                    "F": float(int(o["ORDERUNITS"] // 1)),
                    "C": float(-int(-o["ORDERUNITS"] // 1)),
                    "A": abs(o["ORDERUNITS"] - 3),
                    "M": o["ORDERID"] % 4,
                    "D": o["ORDERID"] // 3,
                },
            )
            for o in O
        ],
    )
    add(
        "csas-strings",
        "functions (string functions)",
        "CREATE STREAM PV_STRINGS AS SELECT USERID, LCASE(PAGEID) AS L, LEN(PAGEID) AS N, SUBSTRING(PAGEID, 6) AS "
        "NUM, REPLACE(USERID, 'User_', 'u') AS SHORT, LPAD(SUBSTRING(PAGEID, 6), 3, '0') AS PADDED, "
        "INSTR(PAGEID, '_') AS UNDERSCORE, INITCAP(LCASE(USERID)) AS CAP, TRIM('  x ') AS T FROM PAGEVIEWS "
        "PARTITION BY USERID;",
        "query",
        [
            (
                r["USERID"],
                {
                    "L": r["PAGEID"].lower(),
                    "N": len(r["PAGEID"]),
                    "NUM": r["PAGEID"][5:],
                    "SHORT": r["USERID"].replace("User_", "u"),
                    "PADDED": r["PAGEID"][5:].rjust(3, "0")[:3],
                    "UNDERSCORE": r["PAGEID"].index("_") + 1,
                    "CAP": r["USERID"].lower().capitalize(),
                    "T": "x",
                },
            )
            for r in P
        ],
    )
    add(
        "csas-split-array",
        "functions (SPLIT, ARRAY constructor)",
        "CREATE STREAM PV_SPLIT AS SELECT USERID, SPLIT(PAGEID, '_') AS PARTS, ARRAY[USERID, PAGEID] AS BOTH "
        "FROM PAGEVIEWS PARTITION BY USERID;",
        "query",
        [(r["USERID"], {"PARTS": r["PAGEID"].split("_"), "BOTH": [r["USERID"], r["PAGEID"]]}) for r in P],
    )
    add(
        "csas-ifnull",
        "functions (IFNULL, COALESCE)",
        "CREATE STREAM ORDER_NULLS AS SELECT ORDERID, IFNULL(ATTRS['missing'], 'none') AS M, "
        "COALESCE(ATTRS['missing'], ATTRS['channel']) AS C FROM ORDERS;",
        "query",
        [(o["ORDERID"], {"M": "none", "C": o["ATTRS"]["channel"]}) for o in O],
    )
    add(
        "csas-timestamptostring",
        "functions (TIMESTAMPTOSTRING)",
        "CREATE STREAM PV_TIMES AS SELECT USERID, TIMESTAMPTOSTRING(VIEWTIME, 'yyyy-MM-dd HH:mm:ss', 'UTC') AS AT "
        "FROM PAGEVIEWS PARTITION BY USERID;",
        "query",
        [
            (r["USERID"], {"AT": datetime.fromtimestamp(r["VIEWTIME"] / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")})
            for r in P
        ],
    )
    add(
        "csas-partition-by",
        "partition-data (PARTITION BY)",
        "CREATE STREAM ORDERS_BY_ITEM AS SELECT ITEMID, ORDERID, ORDERUNITS FROM ORDERS PARTITION BY ITEMID;",
        "query",
        [(o["ITEMID"], {"ORDERID": o["ORDERID"], "ORDERUNITS": o["ORDERUNITS"]}) for o in O],
    )
    add(
        "csas-rowtime",
        "time-and-windows (ROWTIME)",
        "CREATE STREAM ORDER_TIMES AS SELECT ORDERID, ROWTIME AS T, ROWTIME - ORDERTIME AS LAG FROM ORDERS;",
        "query",
        [(o["ORDERID"], {"T": o["ts"], "LAG": 0}) for o in O],
    )
    add(
        "csas-delimited",
        "serialization (DELIMITED)",
        "CREATE STREAM RATINGS_WEB AS SELECT RATING_ID, STARS * 2 AS DOUBLE_STARS, UCASE(CHANNEL) AS CHANNEL FROM "
        "RATINGS WHERE CHANNEL = 'web';",
        "query",
        [(None, [str(i), str((1 + i % 5) * 2), "WEB"]) for i in range(6) if i % 2],
    )
    add(
        "csas-with-format",
        "create-stream-as-select (WITH KAFKA_TOPIC, VALUE_FORMAT, PARTITIONS)",
        "CREATE STREAM ORDERS_CSV WITH (KAFKA_TOPIC='orders_csv', VALUE_FORMAT='DELIMITED', PARTITIONS=2) AS SELECT "
        "ORDERID, ITEMID, ORDERUNITS FROM ORDERS;",
        "query",
        [(o["ORDERID"], [o["ITEMID"], str(o["ORDERUNITS"])]) for o in O],
    )
    add(
        "csas-key-format-json",
        "serialization (KEY_FORMAT='JSON')",
        "CREATE STREAM ORDERS_JSON_KEY WITH (KEY_FORMAT='JSON') AS SELECT ORDERID, ITEMID FROM ORDERS;",
        "query",
        [(str(o["ORDERID"]), {"ITEMID": o["ITEMID"]}) for o in O],
    )
    add(
        "csas-avro-out",
        "serialization (VALUE_FORMAT='AVRO', registered schema)",
        "CREATE STREAM ORDERS_AVRO WITH (VALUE_FORMAT='AVRO') AS SELECT ORDERID, ITEMID, ORDERUNITS FROM ORDERS;",
        "query",
        [(o["ORDERID"], {"ITEMID": o["ITEMID"], "ORDERUNITS": o["ORDERUNITS"]}) for o in O],
    )
    add(
        "csas-avro-in",
        "serialization (AVRO source with inferred columns)",
        "CREATE STREAM CLICKS_BIG AS SELECT USER, CLICKS * 10 AS TEN_X FROM CLICKS_AVRO WHERE CLICKS > 1;",
        "query",
        [(None, {"USER": f"u{i}", "TEN_X": i * 10}) for i in range(5) if i > 1],
        before=["CREATE STREAM CLICKS_AVRO WITH (KAFKA_TOPIC='clicks_avro', VALUE_FORMAT='AVRO');"],
    )

    # joins
    enriched = []
    for r in P:
        u = U.get(r["USERID"])
        enriched.append(
            (
                r["USERID"],
                {"PAGEID": r["PAGEID"], "REGIONID": u["REGIONID"] if u else None, "GENDER": u["GENDER"] if u else None},
            )
        )
    add(
        "join-stream-table",
        "joins (quickstart: pageviews LEFT JOIN users, unaliased qualified columns)",
        "CREATE STREAM PAGEVIEWS_ENRICHED AS SELECT USERS.USERID AS USERID, PAGEID, REGIONID, GENDER FROM PAGEVIEWS "
        "LEFT JOIN USERS ON PAGEVIEWS.USERID = USERS.USERID EMIT CHANGES;",
        "query",
        enriched,
    )
    add(
        "join-where-table-column",
        "joins (WHERE on the table's column: pageviews_female)",
        "CREATE STREAM PAGEVIEWS_FEMALE AS SELECT USERS.USERID AS USERID, PAGEID, REGIONID FROM PAGEVIEWS LEFT JOIN "
        "USERS ON PAGEVIEWS.USERID = USERS.USERID WHERE GENDER = 'FEMALE';",
        "query",
        [(k, {"PAGEID": v["PAGEID"], "REGIONID": v["REGIONID"]}) for k, v in enriched if v["GENDER"] == "FEMALE"],
    )
    add(
        "join-inner-alias",
        "joins (INNER JOIN with aliases)",
        "CREATE STREAM PV_REGIONS AS SELECT p.USERID, u.REGIONID AS REGION FROM PAGEVIEWS p INNER JOIN USERS u "
        "ON p.USERID = u.USERID;",
        "query",
        [(k, {"REGION": v["REGIONID"]}) for k, v in enriched if v["REGIONID"] is not None],
    )
    ship_by_order = {oid: (sid, _ts(off), wh) for sid, oid, off, wh in SHIPMENTS}
    shipped = [
        (
            o["ORDERID"],
            {
                "ITEMID": o["ITEMID"],
                "SHIPMENTID": ship_by_order[o["ORDERID"]][0],
                "WAREHOUSE": ship_by_order[o["ORDERID"]][2],
            },
        )
        for o in O
        if o["ORDERID"] in ship_by_order and abs(ship_by_order[o["ORDERID"]][1] - o["ts"]) <= 3_600_000
    ]
    add(
        "join-stream-stream",
        "joins (stream-stream INNER JOIN ... WITHIN ... GRACE PERIOD)",
        "CREATE STREAM SHIPPED_ORDERS AS SELECT o.ORDERID AS ORDERID, o.ITEMID, s.SHIPMENTID, s.WAREHOUSE FROM "
        "ORDERS o "
        "INNER JOIN SHIPMENTS s WITHIN 1 HOUR GRACE PERIOD 15 MINUTES ON o.ORDERID = s.ORDERID;",
        "query",
        shipped,
        "table",
    )
    left = {
        o["ORDERID"]: {
            "ITEMID": o["ITEMID"],
            "SHIPMENTID": ship_by_order.get(o["ORDERID"], (None,))[0]
            if o["ORDERID"] in ship_by_order and abs(ship_by_order[o["ORDERID"]][1] - o["ts"]) <= 30_000
            else None,
        }
        for o in O
    }
    add(
        "join-stream-stream-left",
        "joins (stream-stream LEFT JOIN WITHIN)",
        "CREATE STREAM ORDERS_MAYBE_SHIPPED AS SELECT o.ORDERID AS ORDERID, o.ITEMID, s.SHIPMENTID FROM ORDERS o LEFT "
        "JOIN SHIPMENTS s WITHIN 30 SECONDS GRACE PERIOD 0 SECONDS ON o.ORDERID = s.ORDERID;",
        "query",
        left,
        "final-by-key",
    )
    add(
        "join-stream-stream-outer",
        "joins (stream-stream FULL OUTER JOIN)",
        "CREATE STREAM ORDERS_SHIPMENTS_ALL AS SELECT ROWKEY_PLACEHOLDER FROM ORDERS o FULL OUTER JOIN SHIPMENTS s "
        "WITHIN 1 MINUTE GRACE PERIOD 0 SECONDS ON o.ORDERID = s.ORDERID;".replace(
            "ROWKEY_PLACEHOLDER", "o.ORDERID AS ORDERID, o.ITEMID, s.WAREHOUSE"
        ),
        "query",
        {o["ORDERID"] for o in O} | {oid for _, oid, _, _ in SHIPMENTS},
        "keys",
    )
    add(
        "join-type-mismatch",
        "joins (join columns of one type)",
        "CREATE STREAM BADJ AS SELECT p.USERID FROM PAGEVIEWS p JOIN SHIPMENTS s WITHIN 1 HOUR ON p.VIEWTIME = "
        "s.WAREHOUSE;",
        "error",
        "Invalid join condition",
        "error",
    )

    # aggregations
    per_user = Counter(r["USERID"] for r in P)
    add(
        "ctas-count",
        "aggregate (COUNT(*) GROUP BY)",
        "CREATE TABLE PAGEVIEWS_PER_USER AS SELECT USERID, COUNT(*) AS VIEWS FROM PAGEVIEWS GROUP BY USERID;",
        "query",
        {u: {"VIEWS": n} for u, n in per_user.items()},
        "table",
    )
    tumbling: Counter[tuple[str, int]] = Counter()
    for r in on_time(P, 30_000, 60_000):
        tumbling[(r["USERID"], (r["VIEWTIME"] // 30_000) * 30_000)] += 1
    add(
        "ctas-tumbling",
        "time-and-windows (TUMBLING with GRACE PERIOD)",
        "CREATE TABLE PV_PER_30S AS SELECT USERID, COUNT(*) AS N FROM PAGEVIEWS WINDOW TUMBLING (SIZE 30 SECONDS, "
        "GRACE PERIOD 1 MINUTE) GROUP BY USERID;",
        "query",
        {(u, ws): {"N": n, "WINDOWSTART": ws, "WINDOWEND": ws + 30_000} for (u, ws), n in tumbling.items()},
        "windowed",
    )
    hopping: Counter[tuple[str, int]] = Counter()
    for r in P:
        for start in windows_of(r["VIEWTIME"], 30_000, 10_000):
            hopping[(r["PAGEID"], start)] += 1
    add(
        "ctas-hopping-no-grace",
        "time-and-windows (HOPPING without GRACE: 24 h default keeps late records)",
        "CREATE TABLE PV_HOPPING AS SELECT PAGEID, COUNT(*) AS N FROM PAGEVIEWS WINDOW HOPPING (SIZE 30 SECONDS, "
        "ADVANCE BY 10 SECONDS) GROUP BY PAGEID EMIT CHANGES;",
        "query",
        {(p, ws): {"N": n, "WINDOWSTART": ws, "WINDOWEND": ws + 30_000} for (p, ws), n in hopping.items()},
        "windowed",
    )
    by_user_time = defaultdict(list)
    for r in sorted(P, key=lambda r: r["VIEWTIME"]):
        by_user_time[r["USERID"]].append(r["VIEWTIME"])
    sessions = {}
    for u, times in by_user_time.items():
        start = last = times[0]
        count = 1
        for t in times[1:]:
            if t - last > 60_000:
                sessions[(u, start)] = {"N": count, "WINDOWSTART": start, "WINDOWEND": last}
                start, count = t, 0
            last = t
            count += 1
        sessions[(u, start)] = {"N": count, "WINDOWSTART": start, "WINDOWEND": last}
    add(
        "ctas-session",
        "time-and-windows (SESSION (60 SECONDS))",
        "CREATE TABLE PV_SESSIONS AS SELECT USERID, COUNT(*) AS N FROM PAGEVIEWS WINDOW SESSION (60 SECONDS, GRACE "
        "PERIOD 5 MINUTES) GROUP BY USERID;",
        "query",
        sessions,
        "windowed",
    )
    add(
        "ctas-having",
        "time-and-windows (HAVING COUNT(*) > n)",
        "CREATE TABLE BUSY_USERS AS SELECT USERID, COUNT(*) AS N FROM PAGEVIEWS GROUP BY USERID HAVING COUNT(*) > 6;",
        "query",
        {u: {"N": n} for u, n in per_user.items() if n > 6},
        "table",
    )
    by_item = defaultdict(list)
    for o in O:
        by_item[o["ITEMID"]].append(o["ORDERUNITS"])
    add(
        "ctas-sum-avg-min-max",
        "aggregate-functions (SUM, AVG, MIN, MAX)",
        "CREATE TABLE ITEM_STATS AS SELECT ITEMID, SUM(ORDERUNITS) AS TOTAL, AVG(ORDERUNITS) AS MEAN, "
        "MIN(ORDERUNITS) AS "
        "LO, MAX(ORDERUNITS) AS HI, COUNT(ORDERUNITS) AS N FROM ORDERS GROUP BY ITEMID;",
        "query",
        {
            i: {"TOTAL": sum(v), "MEAN": sum(v) / len(v), "LO": min(v), "HI": max(v), "N": len(v)}
            for i, v in by_item.items()
        },
        "table-approx",
    )
    add(
        "ctas-sum-bigint",
        "aggregate-functions (SUM of BIGINT is BIGINT)",
        "CREATE TABLE VIEWTIME_SUMS AS SELECT USERID, SUM(VIEWTIME) AS S FROM PAGEVIEWS GROUP BY USERID;",
        "query",
        {u: {"S": sum(r["VIEWTIME"] for r in P if r["USERID"] == u)} for u in per_user},
        "table",
    )
    add(
        "ctas-latest-earliest",
        "aggregate-functions (LATEST_BY_OFFSET, EARLIEST_BY_OFFSET)",
        "CREATE TABLE LAST_PAGES AS SELECT USERID, LATEST_BY_OFFSET(PAGEID) AS LAST_PAGE, EARLIEST_BY_OFFSET(PAGEID) "
        "AS "
        "FIRST_PAGE FROM PAGEVIEWS GROUP BY USERID;",
        "query",
        {
            u: {
                "LAST_PAGE": [r["PAGEID"] for r in P if r["USERID"] == u][-1],
                "FIRST_PAGE": next(r["PAGEID"] for r in P if r["USERID"] == u),
            }
            for u in per_user
        },
        "table",
    )
    add(
        "ctas-count-distinct",
        "aggregate-functions (COUNT_DISTINCT)",
        "CREATE TABLE DISTINCT_PAGES AS SELECT USERID, COUNT_DISTINCT(PAGEID) AS PAGES FROM PAGEVIEWS GROUP BY USERID;",
        "query",
        {u: {"PAGES": len({r["PAGEID"] for r in P if r["USERID"] == u})} for u in per_user},
        "table",
    )
    add(
        "ctas-topk",
        "time-and-windows (TOPK(order_total, 5))",
        "CREATE TABLE TOP_ORDERS AS SELECT ITEMID, TOPK(ORDERUNITS, 2) AS TOP2 FROM ORDERS GROUP BY ITEMID;",
        "query",
        {i: {"TOP2": sorted(v, reverse=True)[:2]} for i, v in by_item.items()},
        "table",
    )
    add(
        "ctas-topkdistinct",
        "aggregate-functions (TOPKDISTINCT)",
        "CREATE TABLE TOP_PAGES AS SELECT USERID, TOPKDISTINCT(PAGEID, 2) AS TOP2 FROM PAGEVIEWS GROUP BY USERID;",
        "query",
        {u: {"TOP2": sorted({r["PAGEID"] for r in P if r["USERID"] == u}, reverse=True)[:2]} for u in per_user},
        "table",
    )
    add(
        "ctas-collect",
        "aggregate-functions (COLLECT_LIST, COLLECT_SET)",
        "CREATE TABLE USER_PAGES AS SELECT USERID, COLLECT_LIST(PAGEID) AS ALL_PAGES, COLLECT_SET(PAGEID) AS PAGES "
        "FROM "
        "PAGEVIEWS GROUP BY USERID;",
        "query",
        {
            u: {
                "ALL_PAGES": [r["PAGEID"] for r in P if r["USERID"] == u],
                "PAGES": list(dict.fromkeys(r["PAGEID"] for r in P if r["USERID"] == u)),
            }
            for u in per_user
        },
        "table",
    )
    add(
        "ctas-histogram",
        "aggregate-functions (HISTOGRAM)",
        "CREATE TABLE PAGE_HISTOGRAM AS SELECT USERID, HISTOGRAM(PAGEID) AS H FROM PAGEVIEWS GROUP BY USERID;",
        "query",
        {u: {"H": dict(Counter(r["PAGEID"] for r in P if r["USERID"] == u))} for u in per_user},
        "table",
    )
    multi = Counter((o["ITEMID"], o["ADDRESS"]["CITY"]) for o in O)
    add(
        "ctas-multi-group-by",
        "aggregate (GROUP BY several columns: a JSON key)",
        "CREATE TABLE ITEMS_PER_CITY AS SELECT ITEMID, ADDRESS->CITY AS CITY, COUNT(*) AS N FROM ORDERS GROUP BY "
        "ITEMID, "
        "ADDRESS->CITY;",
        "query",
        {(i, c): {"N": n} for (i, c), n in multi.items()},
        "table",
    )
    final: Counter[tuple[str, int]] = Counter()
    last_time = max(r["VIEWTIME"] for r in P)
    for r in on_time(P, 60_000, 0):
        ws = r["VIEWTIME"] // 60_000 * 60_000
        if ws + 60_000 <= last_time:  # closed before the last record
            final[(r["USERID"], ws)] += 1
    add(
        "ctas-emit-final",
        "time-and-windows (EMIT FINAL)",
        "CREATE TABLE PV_FINAL AS SELECT USERID, COUNT(*) AS N FROM PAGEVIEWS WINDOW TUMBLING (SIZE 1 MINUTE, GRACE "
        "PERIOD 0 SECONDS) GROUP BY USERID EMIT FINAL;",
        "query",
        [
            (u, {"N": n, "WINDOWSTART": ws, "WINDOWEND": ws + 60_000})
            for (u, ws), n in sorted(final.items(), key=lambda x: x[0][1])
        ],
        "final-records",
    )
    sums = defaultdict(Decimal)
    for _, _oid, amount, cur in PAYMENTS:
        sums[cur] += amount
    add(
        "ctas-sum-decimal",
        "data-types (DECIMAL sums stay exact)",
        "CREATE TABLE REVENUE AS SELECT CURRENCY, SUM(AMOUNT) AS TOTAL FROM PAYMENTS GROUP BY CURRENCY;",
        "query",
        {c: {"TOTAL": float(v)} for c, v in sums.items()},
        "table",
    )
    add(
        "ctas-windowstart",
        "time-and-windows (WINDOWSTART, WINDOWEND, FROM_UNIXTIME)",
        "CREATE TABLE WINDOW_BOUNDS AS SELECT ITEMID, WINDOWSTART AS WS, COUNT(*) AS N FROM ORDERS WINDOW TUMBLING "
        "(SIZE "
        "5 MINUTES, GRACE PERIOD 1 MINUTE) GROUP BY ITEMID;",
        "query",
        {
            (i, ws): {"WS": ws, "N": n, "WINDOWSTART": ws, "WINDOWEND": ws + 300_000}
            for (i, ws), n in Counter((o["ITEMID"], o["ts"] // 300_000 * 300_000) for o in O).items()
        },
        "windowed",
    )
    add(
        "ctas-expr-over-aggregates",
        "aggregate (expressions over aggregates, CAST(COUNT(*) AS VARCHAR))",
        "CREATE TABLE USER_LABELS AS SELECT USERID, CONCAT(CAST(COUNT(*) AS VARCHAR), '_views') AS LABEL FROM "
        "PAGEVIEWS "
        "GROUP BY USERID;",
        "query",
        {u: {"LABEL": f"{n}_views"} for u, n in per_user.items()},
        "table",
    )
    add(
        "insert-into-select",
        "insert-into (INSERT INTO ... SELECT)",
        "INSERT INTO ALL_ORDERS SELECT ORDERID, ITEMID FROM ORDERS WHERE ORDERUNITS > 3;",
        "query",
        [(o["ORDERID"], {"ITEMID": o["ITEMID"]}) for o in O if o["ORDERUNITS"] > 3],
        before=[
            "CREATE STREAM ALL_ORDERS (ORDERID INT KEY, ITEMID VARCHAR) WITH (KAFKA_TOPIC='all_orders', "
            "PARTITIONS=1, VALUE_FORMAT='JSON');"
        ],
    )
    add(
        "insert-schema-mismatch",
        "insert-into (the SELECT must match the sink's schema)",
        "INSERT INTO ALL_ORDERS2 SELECT ORDERID, ORDERUNITS FROM ORDERS;",
        "error",
        "Incompatible schema between results and sink",
        "error",
        before=[
            "CREATE STREAM ALL_ORDERS2 (ORDERID INT KEY, ITEMID VARCHAR) WITH (KAFKA_TOPIC='all_orders2', "
            "PARTITIONS=1, VALUE_FORMAT='JSON');"
        ],
    )
    add(
        "key-missing-from-projection",
        "partition-data (the key must be in the projection)",
        "CREATE TABLE NO_KEY AS SELECT COUNT(*) AS N FROM PAGEVIEWS GROUP BY USERID;",
        "error",
        "Key missing from projection",
        "error",
    )

    # transient queries
    add(
        "push-query",
        "queries/push (SELECT ... EMIT CHANGES LIMIT n)",
        "SELECT PAGEID, UCASE(USERID) AS U FROM PAGEVIEWS WHERE USERID = 'User_1' EMIT CHANGES LIMIT 3;",
        "select",
        [[r["PAGEID"], r["USERID"].upper()] for r in P if r["USERID"] == "User_1"][:3],
        "rows",
        properties={"auto.offset.reset": "earliest"},
    )
    add(
        "pull-query-stream",
        "queries/pull (on a stream: its records so far)",
        "SELECT ORDERID, ITEMID FROM ORDERS WHERE ORDERUNITS >= 4.5;",
        "select",
        [[o["ORDERID"], o["ITEMID"]] for o in O if o["ORDERUNITS"] >= 4.5],
        "rows",
    )
    add(
        "pull-query-table",
        "queries/pull (a table by its key)",
        "SELECT USERID, GENDER, INTERESTS[1] AS FIRST FROM USERS WHERE USERID = 'User_3';",
        "select",
        [["User_3", "FEMALE", "Game"]],
        "rows",
    )
    add(
        "print",
        "print (PRINT topic FROM BEGINNING LIMIT n)",
        "PRINT 'shipments' FROM BEGINNING LIMIT 2;",
        "select",
        [[s[0], {"orderid": s[1], "warehouse": s[3]}] for s in SHIPMENTS[:2]],
        "print",
    )

    # what ksqlDB supports and this engine refuses, naming it
    add(
        "create-connector",
        "connect (CREATE SOURCE CONNECTOR)",
        "CREATE SOURCE CONNECTOR jdbc WITH ('connector.class'='io.confluent.connect.jdbc.JdbcSourceConnector');",
        "query",
        unsupported="connectors",
    )
    add(
        "table-table-join",
        "joins (table-table)",
        "CREATE TABLE USER_PAIRS AS SELECT a.USERID, b.GENDER FROM USERS a JOIN USERS_RO b ON a.USERID = b.USERID;",
        "query",
        unsupported="reading the TABLE",
        before=[
            "CREATE SOURCE TABLE USERS_RO (USERID VARCHAR PRIMARY KEY, GENDER VARCHAR) WITH "
            "(KAFKA_TOPIC='users', VALUE_FORMAT='JSON');"
        ],
    )
    add(
        "table-aggregation",
        "aggregate (over a table)",
        "CREATE TABLE USERS_PER_REGION AS SELECT REGIONID, COUNT(*) AS N FROM USERS GROUP BY REGIONID;",
        "query",
        unsupported="reading the TABLE",
    )
    add(
        "explode",
        "table-functions (EXPLODE)",
        "CREATE STREAM TAGS AS SELECT ORDERID, EXPLODE(TAGS) AS TAG FROM ORDERS;",
        "query",
        unsupported="EXPLODE",
    )
    add(
        "lambda",
        "lambda-functions (TRANSFORM)",
        "CREATE STREAM T2 AS SELECT ORDERID, TRANSFORM(TAGS, x => UCASE(x)) AS T FROM ORDERS;",
        "query",
        unsupported="lambda",
    )
    add(
        "n-way-join",
        "joins (N-way)",
        "CREATE STREAM ALL3 AS SELECT o.ORDERID AS ORDERID, s.WAREHOUSE, p.AMOUNT FROM ORDERS o JOIN SHIPMENTS s "
        "WITHIN "
        "1 HOUR ON o.ORDERID = s.ORDERID JOIN PAYMENTS p WITHIN 1 HOUR ON o.ORDERID = p.ORDERID;",
        "query",
        unsupported="N-way",
    )
    add(
        "create-or-replace",
        "create-stream-as-select (CREATE OR REPLACE)",
        "CREATE OR REPLACE STREAM PV_R AS SELECT * FROM PAGEVIEWS;",
        "query",
        unsupported="CREATE OR REPLACE",
    )
    add(
        "transient-aggregation",
        "queries/push (aggregations in a push query)",
        "SELECT USERID, COUNT(*) FROM PAGEVIEWS GROUP BY USERID EMIT CHANGES;",
        "select",
        unsupported="GROUP BY",
    )
    add(
        "latest-by-offset-n",
        "aggregate-functions (LATEST_BY_OFFSET(x, n))",
        "CREATE TABLE LAST3 AS SELECT USERID, LATEST_BY_OFFSET(PAGEID, 3) AS L FROM PAGEVIEWS GROUP BY USERID;",
        "query",
        unsupported="LATEST_BY_OFFSET with 2 arguments",
    )
    return cases


CASES = _cases()
SIMULATE_SECONDS: list[float] = []

# --- running the corpus --------------------------------------------------------------------------------------------

AVRO_CLICKS = json.dumps(
    {
        "type": "record",
        "name": "Click",
        "fields": [{"name": "user", "type": "string"}, {"name": "clicks", "type": "int"}],
    }
)


class MemoryBackend:
    """An in-memory cluster for the engine: topics with records, a schema registry."""

    def __init__(self) -> None:
        self.topics: dict[str, list[RawRecord]] = {}
        self.schemas: dict[int, str] = {7: AVRO_CLICKS}
        self.subjects: dict[str, int] = {"clicks_avro-value": 7}
        for topic, records in input_records().items():
            self.topics[topic] = [
                RawRecord(_key_bytes(topic, k), _value_bytes(v), ts, 0, i) for i, (k, v, ts) in enumerate(records)
            ]
        self.topics["clicks_avro"] = []

    def topic_partitions(self, topic: str) -> int | None:
        return 1 if topic in self.topics else None

    def topic_records(self, topic: str) -> int:
        return len(self.topics.get(topic, []))

    def topic_replicas(self, topic: str) -> int | None:
        return 1 if topic in self.topics else None

    def list_topics(self) -> list[str]:
        return sorted(self.topics)

    def default_replication_factor(self) -> int:
        return 1

    def app_resources(self, name: str) -> AppResources | None:
        return None

    def app_state(self, name: str) -> str:
        return "RUNNING"

    def app_metrics(self, name: str) -> dict[str, Any] | None:
        return None

    def app_topology(self, name: str) -> str | None:
        return "Topologies: ..."

    def query_app(self, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return []

    def registry_latest(self, subject: str) -> tuple[int, str] | None:
        sid = self.subjects.get(subject)
        return (sid, self.schemas[sid]) if sid is not None else None

    def registry_schema(self, schema_id: int) -> str | None:
        return self.schemas.get(schema_id)

    def registry_check(self, subject: str, schema: str) -> tuple[bool, list[str]]:
        return True, []

    def scan(
        self, topic: str, *, earliest: bool, to_end: bool, stop: threading.Event, timeout: float
    ) -> Iterator[RawRecord]:
        if earliest:
            yield from self.topics.get(topic, [])


def _key_bytes(topic: str, key: Any) -> bytes | None:
    if key is None:
        return None
    if topic == "orders":
        return struct.pack(">i", key)
    return str(key).encode()


def _value_bytes(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


class RecordingApplier:
    def __init__(self) -> None:
        self.changes: list[PlannedChange] = []

    def prepare(self, changes: list[PlannedChange]) -> None:
        pass

    def apply(self, change: PlannedChange) -> Any:
        self.changes.append(change)
        return 0 if change.action == "schema.register" else None


@dataclass
class Outcome:
    case: Case
    supported: bool
    ok: bool
    detail: str = ""
    spec: Any = None
    actual: Any = None


def _engine(folder: Path) -> KsqlEngine:
    backend = MemoryBackend()
    engine = KsqlEngine(folder, backend)
    engine.execute("\n".join(SETUP), RecordingApplier())
    return engine


def evaluate(java: Callable[..., list[str]] | None = None) -> list[Outcome]:
    """Every case's outcome. ``java(*args, main=...)`` builds the runner command (streams.manager.java_command)."""
    from streams.manager import java_command

    java = java or java_command
    outcomes: list[Outcome] = []
    simulate: list[tuple[Outcome, dict[str, Any]]] = []
    for case in CASES:
        folder = Path(tempfile.mkdtemp(prefix="ksql-corpus-"))
        engine = KsqlEngine(folder, MemoryBackend()) if case.id.startswith("setup-") else _engine(folder)
        if case.id.startswith("setup-") and int(case.id.split("-")[1]) > 0:
            engine.execute("\n".join(SETUP[: int(case.id.split("-")[1])]), RecordingApplier())
        try:
            for stmt in case.before:
                for entity in engine.execute(stmt, RecordingApplier(), case.properties):
                    message = entity.get("commandStatus", {}).get("message", "")
                    if message.startswith("Created query with ID "):
                        case.sql = case.sql.replace("{query}", message.rsplit(" ", 1)[1])
            outcome = _run_case(engine, case, simulate)
        except Exception as exc:  # a refusal: right for errors and unsupported cases, wrong otherwise
            outcome = _refused(case, exc)
        if outcome is not None:
            outcomes.append(outcome)
    if simulate:
        outcomes += _simulate(simulate, java)
    order = {c.id: i for i, c in enumerate(CASES)}
    return sorted(outcomes, key=lambda o: order[o.case.id])


def _refused(case: Case, exc: Exception) -> Outcome:
    text = str(exc)
    if case.unsupported is not None:
        named = case.unsupported.lower() in text.lower()
        return Outcome(case, False, named, text if not named else "")
    if case.kind == "error":
        ok = str(case.expected).lower() in text.lower()
        return Outcome(case, ok, ok, "" if ok else f"expected an error naming {case.expected!r}, got: {text}")
    return Outcome(case, False, False, f"refused: {type(exc).__name__}: {text}")


def _run_case(engine: KsqlEngine, case: Case, simulate: list[tuple[Outcome, dict[str, Any]]]) -> Outcome | None:
    if case.kind == "select":
        result = engine.query(case.sql, properties=case.properties, timeout=5.0)
        actual = [[row[2], json.loads(row[3])] if case.compare == "print" else row for row in result.rows]
        return _verdict(case, actual == case.expected, actual)
    if case.kind in ("statement", "error"):
        applier = RecordingApplier()
        entities = engine.execute(case.sql, applier, case.properties)
        if case.kind == "error" or case.unsupported:
            return Outcome(case, False, False, f"accepted, but should be refused: {entities}")
        entity = entities[-1]
        found = case.expected(entity, applier.changes) if case.compare == "changes" else case.expected(entity)
        return _verdict(case, bool(found), entity)
    # a persistent query: compile, then simulate (all at once, later)
    planned = engine.plan(case.sql, case.properties)
    specs = [c.spec for c in planned if c.spec is not None]
    if case.unsupported:
        return Outcome(case, False, False, "accepted, but expected to be refused")
    if len(specs) != 1:
        return Outcome(case, False, False, f"expected one query, planned {[c.action for c in planned]}")
    spec = json.loads(specs[0].model_dump_json(exclude_none=True))
    if spec["sink"].get("avro_schema_id") is not None:  # the registry would give each schema its own id
        spec["sink"]["avro_schema_id"] = 1000 + len(simulate)
    outcome = Outcome(case, True, False, spec=spec)
    simulate.append((outcome, spec))
    return None


def _verdict(case: Case, ok: bool, actual: Any) -> Outcome:
    return Outcome(case, True, ok, "" if ok else f"got {str(actual)[:800]}", actual=actual)


def _simulate(items: list[tuple[Outcome, dict[str, Any]]], java: Callable[..., list[str]]) -> list[Outcome]:
    records = input_records()
    folder = Path(tempfile.mkdtemp(prefix="ksql-corpus-sim-"))
    cases = []
    for outcome, spec in items:
        topics = [spec["source"]["topic"]] + ([spec["join"]["topic"]] if spec.get("join") else [])
        per_topic: list[list[dict[str, Any]]] = []
        for topic in topics:
            if topic == "clicks_avro":
                per_topic.append(
                    [
                        {"topic": topic, "key": None, "value": {"user": f"u{i}", "clicks": i}, "ts": _ts(i)}
                        for i in range(5)
                    ]
                )
                continue
            per_topic.append([{"topic": topic, "key": k, "value": v, "ts": ts} for k, v, ts in records[topic]])
        # a table's records first (its topic holds them before the query starts); streams interleaved by time, each
        # in the order it was produced (late records stay late)
        tables = [rs for rs in per_topic if rs and rs[0]["topic"] == "users"]
        streams = [rs for rs in per_topic if not rs or rs[0]["topic"] != "users"]
        inputs = [r for rs in tables for r in rs] + list(heapq.merge(*streams, key=lambda r: r["ts"]))
        if (spec.get("join") or {}).get("kind") == "stream":
            # a last order far later closes every join window, so outer and left results come out
            flush = {
                "ordertime": _ts(99_999),
                "itemid": "Item_0",
                "orderunits": 1.0,
                "address": None,
                "tags": [],
                "attrs": {},
            }
            inputs.append({"topic": "orders", "key": 999, "value": flush, "ts": _ts(99_999)})
        avro = {"clicks_avro": {"id": 7, "schema": AVRO_CLICKS}}
        cases.append({"id": outcome.case.id, "spec": spec, "inputs": inputs, "avro": avro})
    (folder / "cases.json").write_text(json.dumps({"cases": cases}), encoding="utf-8")
    started = time.monotonic()
    proc = subprocess.run(
        java(str(folder / "cases.json"), str(folder / "out.json"), main="io.ksa.streams.Simulate"),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"Simulate failed: {proc.stderr[-3000:]}")
    results = json.loads((folder / "out.json").read_text(encoding="utf-8"))
    SIMULATE_SECONDS.append(time.monotonic() - started)
    out = []
    for outcome, _spec in items:
        result = results[outcome.case.id]
        if "error" in result:
            outcome.ok, outcome.detail = False, f"the runner failed: {result['error']}"
        else:
            outcome.ok, outcome.detail = _compare(outcome.case, result, _spec)
            outcome.actual = result
        out.append(outcome)
    return out


def _norm(v: Any) -> Any:
    if isinstance(v, float) and v == int(v):
        return int(v)
    if isinstance(v, float):
        return round(v, 9)
    if isinstance(v, list):
        return [_norm(x) for x in v]
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in v.items()}
    return v


def _store_state(spec: dict[str, Any], rows: list[dict[str, Any]], windowed: bool) -> dict[Any, Any]:
    """A table as a pull query sees it: key (and window start) -> the other columns."""
    keys = [c["name"] for c in spec["aggregate"]["key_columns"]]
    state = {}
    for row in rows:
        key = row[keys[0]] if len(keys) == 1 else tuple(row[k] for k in keys)
        if windowed:
            key = (key, row["WINDOWSTART"])
        state[key] = _norm({k: v for k, v in row.items() if k not in keys})
    return state


def _compare(case: Case, result: dict[str, Any], spec: dict[str, Any] | None = None) -> tuple[bool, str]:
    output = [(r["key"], r["value"]) for r in result["output"]]
    expected = case.expected
    if spec is not None and spec.get("aggregate") and case.compare in ("table", "table-approx", "windowed"):
        got = _store_state(spec, result.get("store", []), case.compare == "windowed")
        want = {k: _norm(v) for k, v in expected.items()}
        ok = got == want
    elif case.compare == "final-records":
        got = [(_keyval(k), _norm(v)) for k, v in output]
        want = [(k, _norm(v)) for k, v in expected]
        ok = sorted(got, key=str) == sorted(want, key=str)
    elif case.compare == "records":
        got = [(k if k is None else _keyval(k), _norm(v)) for k, v in output]
        want = [(k if k is None else _keyval(k), _norm(v)) for k, v in expected]
        ok = got == want
    elif case.compare in ("table", "table-approx", "final-by-key"):
        got_state = table_state([(_keyval(k), _norm(v)) for k, v in output])
        want_state = {_keyval(k): _norm(v) for k, v in (expected.items() if isinstance(expected, dict) else expected)}
        if case.compare == "final-by-key":
            got_state = {k: v for k, v in got_state.items()}
        ok = got_state == want_state
        got = got_state
        want = want_state
    elif case.compare in ("windowed", "windowed-late"):
        got_state = table_state(
            [
                ((_keyval(k), v["WINDOWSTART"]) if v else (_keyval(k), None), _norm(v))
                for k, v in output
                if v is not None
            ]
        )
        want_state = {(_keyval(k), ws): _norm(v) for (k, ws), v in expected.items()}
        ok = got_state == want_state
        got, want = got_state, want_state
    elif case.compare == "keys":
        got = {_keyval(k) for k, _ in output}
        want = {_keyval(k) for k in expected}
        ok = got == want
    else:
        raise AssertionError(case.compare)
    if result.get("failed_records"):
        return False, f"{result['failed_records']} failed record(s): {result.get('recent_failures')}"
    if ok:
        return True, ""
    return False, f"expected {str(want)[:600]}\n got {str(got)[:600]}"


def _keyval(k: Any) -> Any:
    if isinstance(k, str) and k.lstrip("-").isdigit():
        return int(k)
    return k


def share(outcomes: list[Outcome]) -> tuple[int, int]:
    supported = sum(1 for o in outcomes if o.supported and o.ok)
    return supported, len(outcomes)
