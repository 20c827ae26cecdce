#!/usr/bin/env bash
# Writes the bundles `retrain` publishes, which generate.mjs then has the reference SDK
# resolve (issue 18: what we publish must resolve in the SDK exactly as our resolver
# says). Three runs, each showing one thing a hand-written bundle does not:
#   demo.json    datasets/demo retrained: least-movement bucket ranges of adaptive
#                policies (Thompson sampling, a goal with conditions);
#   linear.json  a synth world whose checkout policy is linear_contextual: a
#                contextualModel with numeric and categorical coefficients and the
#                engine's `x-banditEngine` extension;
#   entity.json  the per-entity world (examples/entity_world.rs): entityState weights
#                per product, dynamic allocations.
#
# Usage: scripts/sdk-golden/retrained.sh [BIN] [ENTITY_WORLD_BIN]
#   defaults: target/debug/bandit-engine and target/debug/examples/entity_world
#   (cargo build --bin bandit-engine --example entity_world)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="${1:-$repo/target/debug/bandit-engine}"
world_bin="${2:-$repo/target/debug/examples/entity_world}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
out="$here/retrained"
mkdir -p "$out"

retrain() { # DIR NAME
    "$bin" -q retrain --config "$1/.traffical/config.yaml" --bundle "$1/bundle.json" \
        --events "$1/events.ndjson" --out "$work/out-$2" >/dev/null
    cp "$work/out-$2/current/bundle.json" "$out/$2.json"
}

cp -r "$repo/datasets/demo" "$work/demo"
retrain "$work/demo" demo

"$bin" -q synth --units 3000 --seed 7 --out "$work/linear"
python3 - "$work/linear/.traffical/config.yaml" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read()
at = text.index("policy_checkout_cta:")
head, tail = text[:at], text[at:]
new = tail.replace("algorithm: thompson_bernoulli", "algorithm: linear_contextual\n    lambda: 2", 1)
assert new != tail, "the synth config no longer has policy_checkout_cta on thompson_bernoulli"
open(path, "w").write(head + new)
PY
retrain "$work/linear" linear

"$world_bin" "$work/entity" >/dev/null
retrain "$work/entity" entity
echo "wrote $out/{demo,linear,entity}.json"
