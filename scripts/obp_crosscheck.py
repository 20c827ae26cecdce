"""Cross-check of bandit-engine's off-policy evaluation against the Open Bandit
Pipeline (obp 0.5.7), the reference implementation of the Open Bandit Dataset's authors.

Two checks:

1. obp end to end: the standard OBD experiment as obp runs it (Bernoulli TS with the
   production prior, Monte Carlo action distribution with 100,000 simulations, L2
   logistic regression per position with C=100, 3-fold cross-fitting, 1,000 bootstrap
   resamples, seed 12345), estimated on the random/all log and compared with the
   bts/all log's mean click rate. Its numbers differ from ours by Monte Carlo noise,
   fold assignment and bootstrap draws only.
2. Same inputs, same numbers: obp's estimators fed with OUR action distribution
   (written by `cargo run --example obd_ope -- --crosscheck-out FILE`) and a reward
   model fitted on all rows (no cross-fitting, so no random folds), compared with our
   estimates for the same inputs. These must agree to solver tolerance.

Run (Python 3.8-3.10; obp pins numpy 1.23 / scikit-learn 1.1):

    python3.10 -m venv /tmp/obp-venv
    /tmp/obp-venv/bin/pip install obp==0.5.7 matplotlib==3.5.3
    cargo run --example obd_ope -- --crosscheck-out target/obd_ours.json
    /tmp/obp-venv/bin/python scripts/obp_crosscheck.py target/obd_ours.json > docs/obp_crosscheck.json
"""

import json
import sys
import time

import numpy as np
from sklearn.linear_model import LogisticRegression

import obp
from obp.dataset import OpenBanditDataset
from obp.ope import (
    DirectMethod,
    DoublyRobust,
    InverseProbabilityWeighting,
    OffPolicyEvaluation,
    RegressionModel,
    ReplayMethod,
    SelfNormalizedDoublyRobust,
    SelfNormalizedInverseProbabilityWeighting,
)
from obp.policy import BernoulliTS

SEED = 12345
N_SIM = 100_000
N_BOOT = 1000
C = 100.0

ESTIMATORS = {
    "rm": "replay",
    "ipw": "ipw",
    "snipw": "snipw",
    "dm": "dm",
    "dr": "dr",
    "sndr": "sndr",
}


def estimators():
    return [
        ReplayMethod(),
        InverseProbabilityWeighting(),
        SelfNormalizedInverseProbabilityWeighting(),
        DirectMethod(),
        DoublyRobust(),
        SelfNormalizedDoublyRobust(),
    ]


def main(ours_path):
    with open(ours_path) as f:
        ours = json.load(f)

    obd = OpenBanditDataset(behavior_policy="random", campaign="all")
    fb = obd.obtain_batch_bandit_feedback()
    n = fb["n_rounds"]
    on_policy = OpenBanditDataset.calc_on_policy_policy_value_estimate(
        behavior_policy="bts", campaign="all"
    )
    out = {
        "obpVersion": obp.__version__,
        "nRounds": int(n),
        "onPolicyBts": float(on_policy),
        "contextDim": int(fb["context"].shape[1]),
    }

    # 1. obp end to end.
    policy = BernoulliTS(
        n_actions=obd.n_actions,
        len_list=obd.len_list,
        is_zozotown_prior=True,
        campaign="all",
        random_state=SEED,
    )
    t = time.perf_counter()
    single = policy.compute_batch_action_dist(n_rounds=1, n_sim=N_SIM)
    out["secondsMonteCarloActionDist"] = round(time.perf_counter() - t, 3)
    action_dist = np.tile(single, (n, 1, 1))
    reg = RegressionModel(
        n_actions=obd.n_actions,
        len_list=obd.len_list,
        action_context=obd.action_context,
        base_model=LogisticRegression(C=C, max_iter=10000, random_state=SEED),
    )
    t = time.perf_counter()
    q_hat = reg.fit_predict(
        context=fb["context"],
        action=fb["action"],
        reward=fb["reward"],
        position=fb["position"],
        n_folds=3,
        random_state=SEED,
    )
    out["secondsRewardModel"] = round(time.perf_counter() - t, 3)
    ope = OffPolicyEvaluation(bandit_feedback=fb, ope_estimators=estimators())
    values = ope.estimate_policy_values(
        action_dist=action_dist, estimated_rewards_by_reg_model=q_hat
    )
    t = time.perf_counter()
    intervals = ope.estimate_intervals(
        action_dist=action_dist,
        estimated_rewards_by_reg_model=q_hat,
        n_bootstrap_samples=N_BOOT,
        random_state=SEED,
    )
    out["secondsBootstrap"] = round(time.perf_counter() - t, 3)
    end_to_end = {}
    for key, name in ESTIMATORS.items():
        v = float(values[key])
        end_to_end[name] = {
            "estimate": v,
            "ciLow": float(intervals[key]["95.0% CI (lower)"]),
            "ciHigh": float(intervals[key]["95.0% CI (upper)"]),
            "relativeError": abs(v - on_policy) / on_policy,
        }
    out["obpEndToEnd"] = end_to_end

    ours_dist = np.array(ours["actionDist"])  # (n_actions, len_list)
    out["maxAbsDiffActionDist"] = float(np.abs(ours_dist - single[0]).max())

    # 2. Same inputs: our action distribution, reward model on all rows.
    action_dist = np.tile(ours_dist[None, :, :], (n, 1, 1))
    reg1 = RegressionModel(
        n_actions=obd.n_actions,
        len_list=obd.len_list,
        action_context=obd.action_context,
        base_model=LogisticRegression(C=C, max_iter=100000, tol=1e-12, random_state=SEED),
    )
    q1 = reg1.fit_predict(
        context=fb["context"],
        action=fb["action"],
        reward=fb["reward"],
        position=fb["position"],
        n_folds=1,
    )
    ope = OffPolicyEvaluation(bandit_feedback=fb, ope_estimators=estimators())
    values = ope.estimate_policy_values(
        action_dist=action_dist, estimated_rewards_by_reg_model=q1
    )
    same = {}
    for key, name in ESTIMATORS.items():
        theirs = float(values[key])
        mine = ours["noCrossFitting"][name]
        same[name] = {
            "obp": theirs,
            "ours": mine,
            "absDiff": None if mine is None else abs(theirs - mine),
        }
    out["sameInputs"] = same
    coef_diff = 0.0
    objectives = []
    for pos, model in enumerate(reg1.base_model_list):
        theirs = np.concatenate([model.intercept_, model.coef_[0]])
        mine = np.array(ours["coefficients"][pos])
        coef_diff = max(coef_diff, float(np.abs(theirs - mine).max()))
        # scikit-learn's objective, 0.5 |w|^2 + C sum log(1 + exp(-y z)), for both.
        idx = fb["position"] == pos
        x = np.c_[np.ones(idx.sum()), fb["context"][idx], obd.action_context[fb["action"][idx]]]
        y = 2.0 * fb["reward"][idx] - 1.0

        def objective(theta):
            z = x @ theta
            return 0.5 * float(theta[1:] @ theta[1:]) + C * float(np.logaddexp(0.0, -y * z).sum())

        objectives.append({"position": pos, "obp": objective(theirs), "ours": objective(mine)})
    out["maxAbsDiffCoefficients"] = coef_diff
    out["objectives"] = objectives
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main(sys.argv[1])
