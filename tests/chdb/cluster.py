"""Runs the cluster form of downpour's schema (sql/cluster/) on current
ClickHouse, embedded (chdb-core), next to the one-server schema; for
tests/it/current_clickhouse.rs.

    cluster.py CONFIG_XML SINGLE_DB SINGLE_JSON REPLICATED_DB REPLICATED_JSON PLAIN_DB PLAIN_JSON

CONFIG_XML names the test cluster's ZooKeeper, the macros and a cluster
`downpour` (chdb takes a server config through its connection string).
Each *_JSON is [{"version": ..., "sql": ...}, ...], split and rendered by
downpour's own code, so this runs what `migrate` runs; each statement runs
twice. REPLICATED is created as written, its tables registered in ZooKeeper.
chdb runs no replica's background work, so its replicated tables stay
read-only and take no ALTER: PLAIN is the same SQL with each replicated
engine replaced by its plain form, which runs the ALTERs of
sql/cluster/0002 and gives the columns readers see.
Prints one JSON object: the columns (name, type) of every table and view
readers use in SINGLE and PLAIN, and the engine and TTL of the local tables
of REPLICATED and PLAIN. On any ClickHouse error prints it on stderr and
exits 1.
"""
import json
import os
import re
import sys
import time

import chdb


def main():
    config, single_db, single_file, repl_db, repl_file, plain_db, plain_file = sys.argv[1:8]
    conn = chdb.connect(f":memory:?config-file={config}")
    cur = conn.cursor()

    def run(what, sql):
        try:
            cur.execute(sql)
            return cur.fetchall()
        except Exception as e:  # ChdbError
            print(f"{what} failed on ClickHouse {chdb.engine_version}:\n{sql}\n--\n{e}",
                  file=sys.stderr, flush=True)
            os._exit(1)

    def execute(sql):
        # As the migrator does (src/sink/schema.rs, execute): a replicated
        # table is read-only for a moment after it is created.
        started = time.monotonic()
        while True:
            try:
                return cur.execute(sql)
            except Exception as e:
                if "TABLE_IS_READ_ONLY" not in str(e) or time.monotonic() - started > 60:
                    raise
                time.sleep(0.5)

    plain = re.compile(r"Replicated(\w*MergeTree)\('[^']*', '[^']*'(, )?")
    for db, path in ((single_db, single_file), (repl_db, repl_file), (plain_db, plain_file)):
        with open(path) as f:
            statements = json.load(f)
        if db == plain_db:
            for s in statements:
                s["sql"] = plain.sub(r"\1(", s["sql"])
        run("create database", f"CREATE DATABASE IF NOT EXISTS {db}")
        run("use", f"USE {db}")
        for round_ in (1, 2):
            for i, s in enumerate(statements, 1):
                try:
                    execute(s["sql"])
                except Exception as e:
                    # The migrator's rules (src/sink/schema.rs, already_applied).
                    upper = s["sql"].upper()
                    if " ADD COLUMN " in upper and "DUPLICATE_COLUMN" in str(e):
                        continue
                    if upper.startswith("RENAME TABLE") and "TABLE_ALREADY_EXISTS" in str(e):
                        continue
                    run(f"{db}: {s['version']} statement {i} (run {round_})", s["sql"])

    def columns(db):
        out = {}
        for table, name, type_ in run("columns", f"""
                SELECT table, name, type FROM system.columns
                WHERE database = '{db}' AND table IN (
                    SELECT name FROM system.tables WHERE database = '{db}'
                    AND engine != 'MaterializedView' AND name != 'schema_migrations'
                    AND name NOT LIKE '%\\_local')
                ORDER BY table, name"""):
            out.setdefault(table, []).append([name, type_])
        return out

    def local_tables(db):
        return {t: [e, ttl] for t, e, ttl in run("engines", f"""
            SELECT name, engine, position(create_table_query, ' TTL ') > 0
            FROM system.tables WHERE database = '{db}' AND name LIKE '%\\_local'
            ORDER BY name""")}

    result = {
        "version": chdb.engine_version,
        "single": columns(single_db),
        "cluster": columns(plain_db),
        "replicated": local_tables(repl_db),
        "plain": local_tables(plain_db),
    }
    for db in (single_db, repl_db, plain_db):
        run("drop", f"DROP DATABASE IF EXISTS {db} SYNC")
    print(json.dumps(result), flush=True)
    # chdb's ZooKeeper threads trip an assertion at interpreter exit: leave now.
    os._exit(0)


main()
