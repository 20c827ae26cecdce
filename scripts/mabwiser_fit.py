"""MABWiser LinUCB on the rows of a parquet file (arm, reward, x0..): read with pandas and fit, timed apart.

The reference the README's `fit` figure is compared with:
    python scripts/mabwiser_fit.py FILE.parquet   (needs mabwiser, pandas, pyarrow)
"""
import sys, time
import pandas as pd
from mabwiser.mab import MAB, LearningPolicy

path = sys.argv[1]
t0 = time.perf_counter()
df = pd.read_parquet(path)
t1 = time.perf_counter()
feats = [c for c in df.columns if c.startswith("x")]
arms = sorted(df["arm"].unique())
m = MAB(arms, LearningPolicy.LinUCB(alpha=1.0, l2_lambda=1.0))
m.fit(df["arm"], df["reward"], df[feats])
t2 = time.perf_counter()
print(f"rows={len(df)} d={len(feats)} K={len(arms)} read={t1-t0:.3f}s fit={t2-t1:.3f}s total={t2-t0:.3f}s "
      f"fit_rows_per_s={len(df)/(t2-t1)/1e6:.2f}M total_rows_per_s={len(df)/(t2-t0)/1e6:.2f}M")
