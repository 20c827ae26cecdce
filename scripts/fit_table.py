"""Writes the table the README's `fit` figure is measured on: N rows (default 1 M) of
`arm` (arm0..arm9, uniform), `reward` (0/1, P = 0.1) and features x0..x15 (uniform in
[0, 1)), seeded, as parquet in row groups of 131 072 rows.

    python scripts/fit_table.py fit1m.parquet [--rows N] [--compression zstd|lz4|uncompressed]

zstd (polars' default) is what the README's figure uses. Random floats barely compress,
so most of a read of that file is zstd's entropy decoding: with one thread, polars reads
it in about 0.23 s against 0.05 s for the same table uncompressed. `bandit-engine fit`
and `scripts/mabwiser_fit.py` both read whichever file is given.
Needs numpy and polars (the yardstick's environment has both).
"""
import argparse

import numpy as np
import polars as pl

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("out")
p.add_argument("--rows", type=int, default=1_000_000)
p.add_argument("--compression", default="zstd", choices=["zstd", "lz4", "snappy", "uncompressed"])
args = p.parse_args()

rng = np.random.default_rng(3)
n = args.rows
columns = {
    "arm": [f"arm{i}" for i in rng.integers(0, 10, n)],
    "reward": (rng.random(n) < 0.1).astype(np.float64),
}
for j in range(16):
    columns[f"x{j}"] = rng.random(n)
pl.DataFrame(columns).write_parquet(args.out, compression=args.compression, row_group_size=131_072)
print(f"wrote {args.out}: {n} rows, arm, reward, x0..x15 ({args.compression})")
