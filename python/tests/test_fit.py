"""fit: the same model as `bandit-engine fit`, whatever the frame library; warm start
equals a full refit; scores follow the model's published formula; errors carry fields."""

import json

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import bandit_engine as be


def make_rows(n=2000, seed=0, d=3, arms=("a", "b", "c")):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"arm": rng.choice(list(arms), n)})
    for j in range(d):
        df[f"x{j}"] = rng.normal(size=n)
    p = 0.2 + 0.1 * (df["arm"] == "b") + 0.05 * (df["x0"] > 0)
    df["reward"] = (rng.random(n) < p).astype(float)
    return df


FEATURES = ["x0", "x1", "x2"]
CASES = [
    ("thompson_bernoulli", {}),
    ("thompson_gaussian", {}),
    ("ucb1", {"alpha": 2.0}),
    ("epsilon_greedy", {"epsilon": 0.2}),
    ("linucb", {"alpha": 0.5, "lambda_": 2.0}),
    ("lints", {"v": 0.5}),
]


def cli_flags(params):
    names = {"lambda_": "--lambda", "alpha": "--alpha", "v": "--v", "epsilon": "--epsilon"}
    return [x for k, v in params.items() for x in (names[k], v)]


@pytest.mark.parametrize("algorithm,params", CASES)
def test_same_model_as_the_cli(cli, tmp_path, algorithm, params):
    df = make_rows()
    csv = tmp_path / "rows.csv"
    df.to_csv(csv, index=False)
    linear = algorithm in ("linucb", "lints")
    args = ["fit", "--rewards", csv, "--algorithm", algorithm, "--arm", "arm", "--reward", "reward"]
    if linear:
        args += ["--features", ",".join(FEATURES)]
    cli(*args, *cli_flags(params), "--out", tmp_path / "model.json")
    want = json.loads((tmp_path / "model.json").read_text())
    got = be.fit(df, algorithm, features=FEATURES if linear else None, **params).to_dict()
    assert got["arms"] == want["arms"]
    assert got["model"]["rows"] == want["model"]["rows"] == len(df)
    for g, w in zip(got["model"]["arms"], want["model"]["arms"]):
        assert g.keys() == w.keys()
        for k in g:
            if isinstance(g[k], float):
                assert g[k] == pytest.approx(w[k], rel=1e-12, abs=1e-12), k
            else:
                assert g[k] == w[k], k
    for g, w in zip(got["model"].get("linear", []), want["model"].get("linear", [])):
        np.testing.assert_allclose(g["theta"], w["theta"], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("algorithm,params", CASES)
def test_pandas_polars_and_pyarrow_give_the_same_model(algorithm, params):
    df = make_rows(seed=1)
    features = FEATURES if algorithm in ("linucb", "lints") else None
    models = [
        be.fit(frame, algorithm, features=features, **params).to_dict()["model"]
        for frame in (df, pl.from_pandas(df), pa.Table.from_pandas(df), pa.Table.from_pandas(df).to_batches()[0])
    ]
    for m in models[1:]:
        assert m == models[0]


def test_results_come_back_as_the_frame_type_given():
    df = make_rows(n=200)
    for frame, kind in ((df, pd.DataFrame), (pl.from_pandas(df), pl.DataFrame), (pa.Table.from_pandas(df), pa.Table)):
        m = be.fit(frame, "linucb", features=FEATURES)
        out = m.predict_expectations(frame)
        assert isinstance(out, kind)
        assert list(out.columns if not isinstance(out, pa.Table) else out.column_names) == ["a", "b", "c"]
        assert len(out) == 200
    m = be.fit(df, "linucb", features=FEATURES)
    assert isinstance(m.predict_expectations(df, as_="polars"), pl.DataFrame)


@pytest.mark.parametrize("algorithm,params", CASES)
def test_partial_fit_equals_a_full_refit(algorithm, params):
    df = make_rows(seed=2)
    features = FEATURES if algorithm in ("linucb", "lints") else None
    full = be.fit(df, algorithm, features=features, **params).to_dict()
    warm = be.fit(df.iloc[:700], algorithm, features=features, **params)
    warm.partial_fit(pl.from_pandas(df.iloc[700:1500]))
    warm.partial_fit(df.iloc[1500:])
    assert warm.rows == len(df)
    assert warm.to_dict() == full


def test_linucb_scores_are_theta_x_plus_alpha_width():
    df = make_rows(seed=3)
    m = be.fit(df, "linucb", features=FEATURES, alpha=0.7)
    model = m.to_dict()["model"]
    x = np.column_stack([np.ones(len(df)), df[FEATURES].to_numpy()])
    got = m.predict_expectations(df)
    for a, arm in enumerate(m.arms):
        theta = np.array(model["linear"][a]["theta"])
        rows = model["linear"][a]["cholesky"]
        L = np.zeros((len(rows), len(rows)))
        for i, r in enumerate(rows):
            L[i, : len(r)] = r
        width = np.linalg.norm(np.linalg.solve(L, x.T), axis=0)
        np.testing.assert_allclose(got[arm].to_numpy(), x @ theta + 0.7 * width, rtol=1e-10)
    best = np.array(m.arms)[got.to_numpy().argmax(axis=1)]
    assert m.predict(df) == list(best)


def test_multi_armed_predict_without_a_frame():
    df = make_rows(seed=4)
    m = be.fit(df, "thompson_bernoulli", seed=3)
    p = m.predict_expectations()
    assert set(p) == {"a", "b", "c"}
    assert sum(p.values()) == pytest.approx(1.0, abs=1e-9)
    assert m.predict() == max(p, key=p.get) == "b"


def test_entity_models_score_each_row_with_its_entity():
    df = make_rows(seed=5)
    df["shop"] = np.where(np.arange(len(df)) % 2 == 0, "s1", "s2")
    m = be.fit(df, "linucb", features=FEATURES, entity="shop")
    d = m.to_dict()
    assert sorted(d["entities"]) == ["s1", "s2"]
    s1 = be.fit(df[df.shop == "s1"], "linucb", features=FEATURES)
    rows = df[df.shop == "s1"].head(5)
    np.testing.assert_allclose(
        m.predict_expectations(rows).to_numpy(), s1.predict_expectations(rows).to_numpy(), rtol=1e-12
    )


def test_a_bad_cell_raises_event_error_with_row_and_column():
    df = make_rows(n=50)
    df.loc[17, "reward"] = 0.5
    with pytest.raises(be.EventError) as e:
        be.fit(df, "thompson_bernoulli")
    assert (e.value.file, e.value.line, e.value.field) == ("<frame>", 18, "reward")
    assert "thompson_gaussian" in e.value.reason
    assert isinstance(e.value, be.BanditEngineError)


def test_a_missing_column_names_the_columns_there_are():
    with pytest.raises(be.EventError) as e:
        be.fit(make_rows(n=10), "linucb", features=["nope"])
    assert "x0" in e.value.reason and e.value.line is None


def test_a_parameter_out_of_its_domain_raises_parameter_error():
    with pytest.raises(be.ParameterError) as e:
        be.fit(make_rows(n=10), "epsilon_greedy", epsilon=1.5)
    assert e.value.name == "epsilon"
    assert e.value.found == "1.5"


def test_unknown_algorithm_and_parameter_are_value_errors():
    with pytest.raises(ValueError, match="did you mean"):
        be.fit(make_rows(n=10), "linucbb")
    with pytest.raises(ValueError, match="unknown parameter"):
        be.fit(make_rows(n=10), "linucb", features=FEATURES, gamma=1)
