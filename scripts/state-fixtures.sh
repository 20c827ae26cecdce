#!/usr/bin/env bash
# Makes the state files of tests/fixtures/state-compat/world/ again: each written by
# `bandit-engine retrain` built at an earlier commit, on the world beside them.
# tests/it/state_compat.rs warm-starts the current engine from each.
#
# usage: scripts/state-fixtures.sh   (from a clone with its history; builds each old
# commit in its own target directory under $TMPDIR, 20-40 minutes the first time)
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
work="${TMPDIR:-/tmp}/bandit-engine-state-fixtures"
fixtures="$root/tests/fixtures/state-compat/world"
mkdir -p "$work" "$fixtures"

# The world: written once by the current engine (both configs share its events).
cargo build -q --bin bandit-engine
if [ ! -f "$fixtures/events.ndjson" ]; then
    target/debug/bandit-engine -q synth --units 250 --seed 11 --days 2 --malformed-rate 0 --out "$work/world"
    cp "$work/world/events.ndjson" "$work/world/bundle.json" "$fixtures/"
    cp "$work/world/.traffical/config.yaml" "$fixtures/config.yaml"
    # The checkout policy learned by linear_contextual instead.
    python3 - "$fixtures" <<'PY'
import sys
d = sys.argv[1]
t = open(f"{d}/config.yaml").read()
at = t.index("policy_checkout_cta:")
tail = t[at:].replace("algorithm: thompson_bernoulli", "algorithm: linear_contextual\n    lambda: 2", 1)
open(f"{d}/config-linear.yaml", "w").write(t[:at] + tail)
PY
fi

# state-<commit>.json: retrain at <commit> with <config>.
state_at() {
    local commit=$1 config=$2 src="$work/src-$1"
    [ -d "$src" ] || git worktree add --detach -q "$src" "$commit"
    (cd "$src" && CARGO_TARGET_DIR="$work/target-$commit" cargo build -q --bin bandit-engine)
    rm -rf "$work/out-$commit"
    "$work/target-$commit/debug/bandit-engine" -q retrain --seed 3 \
        --config "$fixtures/$config" --bundle "$fixtures/bundle.json" \
        --events "$fixtures/events.ndjson" --out "$work/out-$commit"
    cp "$work/out-$commit/current/state.json" "$fixtures/state-$commit.json"
    echo "state-$commit.json written by $commit with $config"
}

state_at e4c3ce7 config.yaml         # before per-entity state (97e46f2)
state_at e79cc96 config-linear.yaml  # before linear state (0def1fe)
