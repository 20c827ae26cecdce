"""Times one engine's load and queries over the tables `warehouse_tables` wrote.

    python scripts/warehouse_time.py ENGINE TABLE_DIR OUT_PREFIX QUERY.sql [QUERY.sql ...]

ENGINE is duckdb (in memory), clickhouse (chDB, Memory tables) or spark (local[2],
tables cached). The load is TABLE_DIR/load.ENGINE.sql; each query's result is written
to OUT_PREFIX.<i>.csv (the file `retrain --statistics` or `sql --layout` reads) and its
wall time printed. Needs the engine's Python package (duckdb, chdb or pyspark), as
.ci/run installs them. PostgreSQL is timed with psql's \\timing (docs/warehouse.md).
"""
import csv
import sys
import tempfile
import time

engine, tdir, out, queries = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
statements = [
    s for s in open(f"{tdir}/load.{engine}.sql").read().split(";\n") if s.strip()
]
t0 = time.perf_counter()
if engine == "duckdb":
    import duckdb

    con = duckdb.connect()
    t1 = time.perf_counter()
    for s in statements:
        con.execute(s)

    def run(sql, path):
        con.sql(sql).write_csv(path)

elif engine == "clickhouse":
    from chdb import session

    tmp = tempfile.TemporaryDirectory()
    ch = session.Session(tmp.name)
    t1 = time.perf_counter()
    for s in statements:
        ch.query(s)

    def run(sql, path):
        with open(path, "wb") as f:
            f.write(ch.query(sql, "CSVWithNames").bytes())

elif engine == "spark":
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("bandit-warehouse-time")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "6g")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    t1 = time.perf_counter()
    for s in statements:
        spark.sql(s)
    spark.sql("CACHE TABLE exposures")
    spark.sql("CACHE TABLE tracks")

    def run(sql, path):
        df = spark.sql(sql)
        rows = df.collect()
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(df.columns)
            for row in rows:
                w.writerow([repr(v) if isinstance(v, float) else v for v in row])

else:
    sys.exit(f"unknown engine {engine}: duckdb, clickhouse or spark")
t2 = time.perf_counter()
print(f"{engine}: start {t1 - t0:.1f} s, load {t2 - t1:.1f} s", flush=True)
for i, q in enumerate(queries):
    t = time.perf_counter()
    run(open(q).read(), f"{out}.{i}.csv")
    print(f"{engine}: {q}: {time.perf_counter() - t:.1f} s", flush=True)
