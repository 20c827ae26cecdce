"""Golden values for the linear contextual bandits (tests/it/policies.rs).

Independent of the Rust code: features are encoded here by hand and the ridge
regression is solved with numpy.linalg.solve; LinUCB widths use numpy.linalg.inv
(fine for a reference). Run: python3 linear.py > linear.json (numpy 2.x).

Feature layout (bandit_engine::policy::features): intercept; per numeric field
(value or 0, missing indicator); per categorical field (one-hot over sorted seen
values, missing indicator). LinUCB: Li et al. 2010, Algorithm 1, A = lambda*I + X'X.
"""
import json

import numpy as np

ALLOWED = ["age", "device", "plan"]
LAMBDA = 0.5
ALPHA = 1.5
ARMS = ["control", "bold"]

rng = np.random.default_rng(20240611)
rows = []
for i in range(60):
    ctx = {}
    if rng.random() < 0.85:
        ctx["age"] = int(rng.integers(18, 70))
    ctx["device"] = ["ios", "android", "web"][int(rng.integers(0, 3))]
    if rng.random() < 0.7:
        ctx["plan"] = ["free", "pro"][int(rng.integers(0, 2))]
    ctx["secret"] = "not-allowed"
    arm = int(rng.integers(0, 2))
    base = 0.2 + 0.01 * ctx.get("age", 40) / 10
    lift = 0.3 if (arm == 1 and ctx["device"] == "ios") else 0.0
    reward = round(base + lift + float(rng.normal(0, 0.1)), 6)
    rows.append({"context": ctx, "arm": arm, "reward": reward})

devices = sorted({r["context"]["device"] for r in rows})
plans = sorted({r["context"]["plan"] for r in rows if "plan" in r["context"]})


def encode(ctx):
    x = [1.0]
    if isinstance(ctx.get("age"), (int, float)):
        x += [float(ctx["age"]), 0.0]
    else:
        x += [0.0, 1.0]
    for field, values in (("device", devices), ("plan", plans)):
        onehot = [1.0 if ctx.get(field) == v else 0.0 for v in values]
        x += onehot + [0.0 if any(onehot) else 1.0]
    return np.array(x)


d = len(encode({}))
probes = [{"age": 30, "device": "ios", "plan": "pro"}, {"device": "web"}, {"age": 55, "plan": "gold"}]
out = {"allowed": ALLOWED, "lambda": LAMBDA, "alpha": ALPHA, "arms": ARMS, "rows": rows,
       "probes": probes, "theta": {}, "ucb": {}, "width": {}}
for k, name in enumerate(ARMS):
    X = np.array([encode(r["context"]) for r in rows if r["arm"] == k])
    y = np.array([r["reward"] for r in rows if r["arm"] == k])
    A = LAMBDA * np.eye(d) + X.T @ X
    b = X.T @ y
    theta = np.linalg.solve(A, b)
    Ainv = np.linalg.inv(A)
    out["theta"][name] = theta.tolist()
    widths = [float(np.sqrt(encode(p) @ Ainv @ encode(p))) for p in probes]
    out["width"][name] = widths
    out["ucb"][name] = [float(theta @ encode(p)) + ALPHA * w for p, w in zip(probes, widths)]
out["numpy"] = np.__version__
print(json.dumps(out, indent=1))
