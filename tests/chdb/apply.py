"""Runs downpour's schema and edge-encoded rows on current ClickHouse, embedded
(chdb-core, pinned by scripts/components.sh chdb), for tests/it/current_clickhouse.rs.

    apply.py SESSION_DIR DATABASE STATEMENTS_JSON \
        --load TABLE COLUMNS ROWS_FILE [--load ...] \
        --event-id ID --partial-id ID --user-id ID --span-id ID \
        [--expire TABLE ...]

STATEMENTS_JSON is [{"version": "0001_init", "sql": "CREATE ..."}, ...], the
output of downpour's own splitter, so this runs exactly what `migrate` runs.
Each statement runs twice (migrations are idempotent; an ADD COLUMN whose
column exists counts as done, as the migrator takes it). Each --load is one
INSERT of a RowBinary file, in order. Prints one JSON object of reader query
results on stdout; on any ClickHouse error prints it on stderr and exits 1.
Each --expire TABLE is merged (OPTIMIZE ... FINAL, which applies TTL) after
the loads, and all its rows are printed under "expired".
"""
import argparse
import json
import sys

import chdb
from chdb import session

# Readers get plain numbers and UTC wall-clock times whatever the machine's zone.
OUT = " SETTINGS output_format_json_quote_64bit_integers = 0, session_timezone = 'UTC'"


def literal(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def fail(what, sql, err):
    print(f"{what} failed on ClickHouse {chdb.engine_version}:\n{sql}\n--\n{err}", file=sys.stderr)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("session_dir")
    ap.add_argument("database")
    ap.add_argument("statements")
    ap.add_argument("--load", nargs=3, action="append", default=[],
                    metavar=("TABLE", "COLUMNS", "FILE"))
    ap.add_argument("--event-id", required=True)
    ap.add_argument("--partial-id", required=True)
    ap.add_argument("--user-id", required=True)
    ap.add_argument("--span-id", required=True)
    ap.add_argument("--expire", action="append", default=[], metavar="TABLE")
    a = ap.parse_args()
    with open(a.statements) as f:
        statements = json.load(f)

    sess = session.Session(a.session_dir)

    def run(what, sql, fmt="CSV", done_if_exists=False):
        try:
            return sess.query(sql, fmt).bytes().decode()
        except Exception as e:  # chdb raises ChdbError (or RuntimeError in older builds)
            # The migrator's rules (src/sink/schema.rs, already_applied): an
            # ADD COLUMN that finds its column has done its job ...
            if done_if_exists and " ADD COLUMN " in sql.upper() and "DUPLICATE_COLUMN" in str(e):
                return ""
            # ... and a RENAME whose first target exists has swapped already.
            if done_if_exists and sql.upper().startswith("RENAME TABLE") \
                    and "TABLE_ALREADY_EXISTS" in str(e):
                return ""
            fail(what, sql, e)

    def rows(sql):
        out = run("query", sql + OUT, "JSONEachRow")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def one(sql):
        r = rows(sql)
        return r[0] if r else None

    def count(sql):
        return one(sql)["c"]

    db = a.database
    run("create database", f"CREATE DATABASE IF NOT EXISTS {db}")
    run("use database", f"USE {db}")
    for round_ in (1, 2):
        for i, s in enumerate(statements, 1):
            run(f"migration {s['version']} statement {i} (run {round_})", s["sql"],
                done_if_exists=True)

    loaded = []
    for table, columns, path in a.load:
        before = count(f"SELECT count() AS c FROM {table}")
        run(f"RowBinary load into {table}",
            f"INSERT INTO {table} ({columns}) FROM INFILE {literal(path)} FORMAT RowBinary")
        loaded.append({"table": table, "rows": count(f"SELECT count() AS c FROM {table}") - before})

    expired = {}
    for table in a.expire:
        run(f"merge of {table}", f"OPTIMIZE TABLE {table} FINAL")
        expired[table] = rows(f"SELECT * FROM {table} ORDER BY received_at")

    ev, pp, uid = literal(a.event_id), literal(a.partial_id), literal(a.user_id)
    result = {
        "version": one("SELECT version() AS v")["v"],
        "statements": len(statements),
        "loaded": loaded,
        "events_rows": count("SELECT count() AS c FROM events"),
        "events_view_count": count("SELECT count() AS c FROM events_view"),
        "event_count": count(f"SELECT count() AS c FROM events_view WHERE event_id = {ev}"),
        "event": one(f"SELECT * FROM events_view WHERE event_id = {ev}"),
        "partial_final": one(f"SELECT * FROM partial_events_final WHERE event_id = {pp}"),
        "partial_in_events_view": count(
            f"SELECT count() AS c FROM events_view WHERE event_id = {pp}"),
        "signals_view_count": count("SELECT count() AS c FROM signals_view"),
        "users_view_count": count("SELECT count() AS c FROM users_view"),
        "user": one(f"SELECT * FROM users_view WHERE user_id = {uid}"),
        "span": one(f"SELECT * FROM spans_view WHERE span_id = {literal(a.span_id)}"),
        "expired": expired,
    }
    sess.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
