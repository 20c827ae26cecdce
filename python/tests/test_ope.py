"""evaluate: the CLI's estimates on the bundled Open Bandit Dataset sample, and the same
estimates from a logged frame of any library."""

import json

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import bandit_engine as be
from conftest import OBD

RANDOM = OBD / "random" / "all"
PRIOR = OBD / "prior_bts_all.json"


def test_obd_estimates_match_the_cli(cli):
    want = json.loads(cli("evaluate", "--obd", RANDOM, "--prior", PRIOR, "--resamples", 200, "--json"))
    got = be.evaluate(RANDOM, policy="bts", prior=PRIOR, n_bootstrap=200, as_="pandas")
    assert list(got["estimator"]) == list(want["estimates"])
    for row in got.to_dict("records"):
        w = want["estimates"][row["estimator"]]
        assert row["estimate"] == pytest.approx(w["estimate"], rel=1e-12)
        assert row["ci_low"] == pytest.approx(w["ciLow"], rel=1e-12)
        assert row["ci_high"] == pytest.approx(w["ciHigh"], rel=1e-12)
        assert row["n"] == want["rows"] == 10000
    sub = be.evaluate(RANDOM, policy="uniform", estimators=["ipw", "dr"], n_bootstrap=50, as_="pandas")
    assert list(sub["estimator"]) == ["ipw", "dr"]


def logged(n=3000, k=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    action = rng.integers(0, k, n)
    p = 0.1 + 0.05 * action + 0.05 * (x[:, 0] > 0)
    return pd.DataFrame({
        "action": action, "reward": (rng.random(n) < p).astype(float),
        "propensity": np.full(n, 1.0 / k), "x0": x[:, 0], "x1": x[:, 1],
    })


def test_a_logged_frame_gives_the_same_estimates_in_every_library():
    df = logged()
    kw = dict(policy="fixed", weights=[0.1, 0.1, 0.1, 0.7], context=["x0", "x1"], n_bootstrap=100,
              reward_model="ridge", as_="pandas")
    results = [be.evaluate(f, **kw) for f in (df, pl.from_pandas(df), pa.Table.from_pandas(df))]
    for r in results[1:]:
        pd.testing.assert_frame_equal(r, results[0])
    ipw = results[0].set_index("estimator").loc["ipw", "estimate"]
    # IPW by hand: weight pi(a)/p(a) on each row.
    w = np.array([0.1, 0.1, 0.1, 0.7])[df["action"]] / df["propensity"]
    assert ipw == pytest.approx(float((w * df["reward"]).mean()), rel=1e-12)


def test_a_bad_propensity_names_the_field():
    df = logged(n=20)
    df.loc[5, "propensity"] = 0.0
    with pytest.raises(be.BanditEngineError, match="pscore|propensity"):
        be.evaluate(df, policy="uniform", n_bootstrap=10)
