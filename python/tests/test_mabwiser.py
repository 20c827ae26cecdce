"""Side by side with MABWiser on the same rows.

Parameterisation (checked in MABWiser's source, mabwiser/linear.py and thompson.py):
MABWiser's LinUCB keeps A = l2_lambda·I + XᵀX and b = Xᵀy per arm, θ = A⁻¹b, and scores
xᵀθ + alpha·sqrt(xᵀA⁻¹x), with no intercept column: ours with ``intercept=False``,
``lambda_ = l2_lambda`` and the same ``alpha``. Its LinTS draws θ ~ N(θ̂, alpha²A⁻¹), our
LinTS θ̂ + v·L⁻ᵀz with A = LLᵀ: the same posterior with v = alpha. Its Thompson sampling
starts every arm at Beta(1, 1), our default prior.

Tolerances: arm statistics exactly; LinUCB scores to 1e-9 relative (two ways of solving
the same 3×3 system); Thompson's sampled expectations, which MABWiser draws once per
call, to four standard errors of the Beta mean over 400 draws.
"""

import numpy as np
import pandas as pd
import os

import pytest

import bandit_engine as be

# CI sets BANDIT_ENGINE_REQUIRED: there MABWiser must be installed, not skipped.
if os.environ.get("BANDIT_ENGINE_REQUIRED"):
    import mabwiser.mab as mab
else:
    mab = pytest.importorskip("mabwiser.mab")
MAB, LearningPolicy = mab.MAB, mab.LearningPolicy

ARMS = ["a", "b", "c", "d"]


def rows(n=5000, d=3, seed=11):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    arm = rng.choice(ARMS, n)
    w = {a: rng.normal(size=d) for a in ARMS}
    y = np.array([x[i] @ w[arm[i]] for i in range(n)]) + rng.normal(scale=0.5, size=n)
    df = pd.DataFrame(x, columns=[f"x{j}" for j in range(d)])
    df["arm"], df["reward"] = arm, y
    return df


@pytest.mark.parametrize("alpha,l2", [(1.0, 1.0), (0.25, 5.0)])
def test_linucb_matches_mabwiser(alpha, l2):
    df = rows()
    feats = ["x0", "x1", "x2"]
    theirs = MAB(ARMS, LearningPolicy.LinUCB(alpha=alpha, l2_lambda=l2))
    theirs.fit(df["arm"], df["reward"], df[feats].to_numpy())
    ours = be.fit(df, "linucb", features=feats, alpha=alpha, lambda_=l2, intercept=False)
    model = ours.to_dict()["model"]
    for i, a in enumerate(ours.arms):
        np.testing.assert_allclose(model["linear"][i]["theta"], theirs._imp.arm_to_model[a].beta, rtol=1e-9)
        assert model["arms"][i]["n"] == int((df["arm"] == a).sum())
    test = rows(n=300, seed=12)
    want = pd.DataFrame(theirs.predict_expectations(test[feats].to_numpy()))[ARMS]
    got = ours.predict_expectations(test)[ARMS]
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-9)
    assert ours.predict(test) == theirs.predict(test[feats].to_numpy())


def test_lints_posterior_mean_matches_mabwiser():
    df = rows(seed=13)
    feats = ["x0", "x1", "x2"]
    theirs = MAB(ARMS, LearningPolicy.LinTS(alpha=0.5, l2_lambda=2.0))
    theirs.fit(df["arm"], df["reward"], df[feats].to_numpy())
    ours = be.fit(df, "lints", features=feats, v=0.5, lambda_=2.0, intercept=False).to_dict()["model"]
    for i, a in enumerate(ARMS):
        np.testing.assert_allclose(ours["linear"][i]["theta"], theirs._imp.arm_to_model[a].beta, rtol=1e-9)


def test_thompson_sampling_matches_mabwiser():
    rng = np.random.default_rng(5)
    n = 4000
    arm = rng.choice(ARMS, n)
    p = {"a": 0.05, "b": 0.08, "c": 0.12, "d": 0.10}
    reward = (rng.random(n) < np.array([p[a] for a in arm])).astype(int)
    df = pd.DataFrame({"arm": arm, "reward": reward})
    theirs = MAB(ARMS, LearningPolicy.ThompsonSampling(), seed=1)
    theirs.fit(df["arm"], df["reward"])
    ours = be.fit(df, "thompson_bernoulli", seed=1)
    model = ours.to_dict()["model"]
    for i, a in enumerate(ARMS):
        post = model["arms"][i]["posterior"]
        assert post["alpha"] == theirs._imp.arm_to_success_count[a]
        assert post["beta"] == theirs._imp.arm_to_fail_count[a]
    # MABWiser's expectations are one Beta draw per arm and call: their mean over many
    # calls is the posterior mean, alpha / (alpha + beta).
    draws = pd.DataFrame([theirs.predict_expectations() for _ in range(400)])
    for i, a in enumerate(ARMS):
        post = model["arms"][i]["posterior"]
        s, f = post["alpha"], post["beta"]
        mean = s / (s + f)
        sd = np.sqrt(s * f / ((s + f) ** 2 * (s + f + 1)))
        assert abs(draws[a].mean() - mean) < 4 * sd / np.sqrt(len(draws))
    # Our P(best) is the frequency of MABWiser's picks (one Thompson draw each), to four
    # binomial standard errors; our predict, the most likely best, is its most frequent.
    picks = pd.Series([theirs.predict() for _ in range(1000)]).value_counts(normalize=True)
    p_best = ours.predict_expectations()
    for a in ARMS:
        q = p_best[a]
        assert abs(picks.get(a, 0.0) - q) <= 4 * np.sqrt(max(q * (1 - q), 1e-4) / 1000), a
    assert ours.predict() == picks.index[0]
