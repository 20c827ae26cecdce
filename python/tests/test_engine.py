"""retrain, metrics and Resolver on the demo project: the same bytes and numbers as the
CLI; events as paths or frames; config, lock and event errors with their fields."""

import fcntl
import json
import math
import shutil

import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest

import bandit_engine as be


def test_retrain_publishes_the_cli_bundle_and_state(cli, demo, tmp_path):
    cli("retrain", "--config", demo["config"], "--bundle", demo["bundle"], "--events", demo["events"],
        "--seed", 7, "--out", tmp_path / "cli")
    out = be.retrain(demo["config"], demo["bundle"], demo["events"], out=tmp_path / "py", seed=7)
    assert out.published["version"] == 1
    for name in ("bundle.json", "state.json", "report.json"):
        assert (tmp_path / "py" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name
    assert out.bundle == json.loads((tmp_path / "cli" / "bundle.json").read_text())
    assert {p["policyId"] for p in out.report["policies"]} >= {"policy_checkout_cta"}
    # The state feeds the next run, as --state does.
    again = be.retrain(demo["config"], tmp_path / "py" / "bundle.json", demo["events"],
                       state=tmp_path / "py" / "state.json", seed=7)
    assert again.state.keys() == out.state.keys()
    assert again.state != out.state  # the same events counted again on top of the state


def test_metrics_are_the_cli_rows(cli, demo):
    want = json.loads(cli("metrics", "--config", demo["config"], "--bundle", demo["bundle"],
                          "--events", demo["events"], "--json"))
    got = be.metrics(demo["config"], demo["bundle"], demo["events"], as_="pandas")
    assert len(got) == len(want)
    for row, w in zip(got.to_dict("records"), want):
        for k, v in w.items():
            g = row[k]
            if v is None:
                assert g is None or (isinstance(g, float) and math.isnan(g)), k
            elif isinstance(v, float):
                assert g == pytest.approx(v, rel=1e-12), k
            else:
                assert g == v, k


def test_events_as_frames_give_the_same_metrics(cli, demo, tmp_path):
    flat = tmp_path / "events.parquet"
    cli("convert", "--in", demo["events"], "--out", flat)
    by_path = be.metrics(demo["config"], demo["bundle"], flat, as_="pandas")
    table = pq.read_table(flat)
    for frame in (table, pl.from_arrow(table)):
        got = be.metrics(demo["config"], demo["bundle"], frame, as_="pandas")
        pd.testing.assert_frame_equal(got, by_path)


def test_resolver_matches_the_cli(cli, demo):
    r = be.Resolver(demo["bundle"])
    for ctx in ({"userId": "u1"}, {"userId": "u42", "country": "DE"}):
        want = json.loads(cli("resolve", "--bundle", demo["bundle"], "--context", json.dumps(ctx)))
        assert r.resolve(ctx) == want
    many = r.resolve_many(pd.DataFrame({"userId": ["u1", "u2", "u3"]}))
    assert list(many["unitKeyValue"]) == ["u1", "u2", "u3"]
    one = r.resolve({"userId": "u2"})["assignments"]
    assert many.iloc[1]["checkout.ctaText"] == one["checkout.ctaText"]
    assert isinstance(r.resolve_many(pl.DataFrame({"userId": ["u1"]})), pl.DataFrame)


def test_a_broken_config_raises_config_error_with_its_place(demo, tmp_path):
    bad = tmp_path / "config.yaml"
    text = demo["config"].read_text().splitlines()
    bad.write_text("\n".join(text + ["optimization: [", ""]))
    with pytest.raises(be.ConfigError) as e:
        be.retrain(bad, demo["bundle"], demo["events"])
    err = e.value
    assert err.file.endswith("config.yaml")
    assert err.line >= len(text) and err.column >= 1
    assert str(err).startswith(f"{err.file}:{err.line}:{err.column}")


def test_a_malformed_event_in_strict_mode_raises_event_error(demo, tmp_path):
    events = tmp_path / "events.ndjson"
    lines = demo["events"].read_text().splitlines()
    events.write_text("\n".join(lines[:3] + ['{"type": "exposure"'] + lines[3:]) + "\n")
    with pytest.raises(be.EventError) as e:
        be.retrain(demo["config"], demo["bundle"], events, strict=True)
    assert (e.value.file, e.value.line) == (str(events), 4)


def test_a_held_lock_raises_locked(demo, tmp_path):
    out = tmp_path / "out"
    outcome = be.retrain(demo["config"], demo["bundle"], demo["events"], seed=7)
    out.mkdir()
    with open(out / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(be.Locked) as e:
            outcome.publish(out)
    assert e.value.path.endswith(".lock")
    assert "another bandit-engine" in e.value.reason
    assert outcome.publish(out)["version"] == 1


class Recorder:
    def __init__(self):
        self.calls = []

    def start(self, stage, total):
        self.calls.append(("start", stage, total))

    def advance(self, n):
        self.calls.append(("advance", n))

    def finish(self):
        self.calls.append(("finish",))


def test_progress_reaches_a_python_sink(demo):
    sink = Recorder()
    be.retrain(demo["config"], demo["bundle"], demo["events"], seed=7, progress=sink)
    starts = [c for c in sink.calls if c[0] == "start"]
    assert starts, sink.calls
    stage, total = starts[0][1], starts[0][2]
    done = sum(c[1] for c in sink.calls if c[0] == "advance")
    assert 0 < done <= total, (stage, total, done)
    assert sink.calls[-1] == ("finish",)


def test_a_sink_that_raises_does_not_fail_the_run(demo):
    class Broken:
        def start(self, stage, total):
            raise RuntimeError("no")

    out = be.retrain(demo["config"], demo["bundle"], demo["events"], seed=7, progress=Broken())
    assert out.report["policies"]
