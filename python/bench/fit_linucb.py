"""Benchmark (a script, not a test): fit LinUCB on a 1 M-row pandas frame (d = 16
features, K = 10 arms) through bandit_engine and through MABWiser, in one process.

    python python/bench/fit_linucb.py [--rows 1000000] [--repeat 3]

Times are end to end from the pandas frame: the frame hand-over (Arrow PyCapsule), the
arm and feature columns read, the sufficient statistics and the per-arm solve. Both fit
the same model (no intercept, alpha = 1, l2_lambda = 1); the script checks the
coefficients agree before printing the speed-up. Build the package in release mode
for figures worth quoting (pip install ./python, or maturin develop --release).
"""

import argparse
import time

import numpy as np
import pandas as pd

import bandit_engine as be


def frame(n, d, k, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    arm = rng.integers(0, k, n)
    w = rng.normal(size=(k, d))
    y = np.einsum("ij,ij->i", x, w[arm]) + rng.normal(scale=0.5, size=n)
    df = pd.DataFrame(x, columns=[f"x{j}" for j in range(d)])
    df["arm"] = pd.Series([f"arm{a}" for a in range(k)]).to_numpy()[arm]
    df["reward"] = y
    return df


def best_of(repeat, f):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return min(times), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=16)
    ap.add_argument("--arms", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    df = frame(args.rows, args.features, args.arms)
    feats = [f"x{j}" for j in range(args.features)]

    ours_s, ours = best_of(args.repeat, lambda: be.fit(
        df, "linucb", arm="arm", reward="reward", features=feats, alpha=1.0, lambda_=1.0, intercept=False))

    from mabwiser.mab import MAB, LearningPolicy

    arms = sorted(df["arm"].unique())

    def mabwiser():
        m = MAB(arms, LearningPolicy.LinUCB(alpha=1.0, l2_lambda=1.0))
        m.fit(df["arm"], df["reward"], df[feats])
        return m

    theirs_s, theirs = best_of(args.repeat, mabwiser)
    model = ours.to_dict()["model"]
    for i, a in enumerate(ours.arms):
        np.testing.assert_allclose(model["linear"][i]["theta"], theirs._imp.arm_to_model[a].beta, rtol=1e-6, atol=1e-9)
    print(f"rows={args.rows} d={args.features} K={args.arms} (best of {args.repeat})")
    print(f"bandit_engine.fit  {ours_s * 1e3:9.1f} ms")
    print(f"MABWiser LinUCB    {theirs_s * 1e3:9.1f} ms")
    print(f"speed-up           {theirs_s / ours_s:9.1f}x  (coefficients agree to 1e-6)")


if __name__ == "__main__":
    main()
