#!/usr/bin/env bash
# Makes the fuzz seed corpus (fuzz/corpus/TARGET/) from the repository's real files:
# slices of the demo and yardstick event logs (ndjson, and as csv through `convert`),
# every config YAML, and every bundle (alone, and with a context from its SDK test
# vectors after a NUL byte). Deterministic; the output is committed, so this runs only
# when the files it reads change. Needs the debug binary (cargo build).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BANDIT_ENGINE_BIN:-${CARGO_TARGET_DIR:-target}/debug/bandit-engine}
out=fuzz/corpus
rm -rf "$out"
mkdir -p "$out"/{ndjson,csv,config,bundle}

# ndjson: 4-line slices at 12 evenly spaced places of each log, and every line shape
# that is rare in them (decisions, attribution arrays, values, properties).
n=0
for log in datasets/demo/events.ndjson tests/fixtures/yardstick/events.ndjson; do
    lines=$(wc -l <"$log")
    for i in $(seq 0 11); do
        start=$((1 + i * (lines - 4) / 11))
        sed -n "${start},$((start + 3))p" "$log" >"$out/ndjson/slice-$n.ndjson"
        n=$((n + 1))
    done
    for pat in '"decision"' '"attribution"' '"value"' '"properties"' '"values"' '"sessionId"'; do
        grep -m 2 -F "$pat" "$log" >"$out/ndjson/shape-$n.ndjson" || rm "$out/ndjson/shape-$n.ndjson"
        n=$((n + 1))
    done
done

# csv: the same slices in the flat format.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in "$out"/ndjson/*.ndjson; do
    name=$(basename "$f" .ndjson)
    "$bin" convert --quiet --in "$f" --out "$tmp/$name.csv" --quarantine "$tmp/$name.q.ndjson" >/dev/null
    cp "$tmp/$name.csv" "$out/csv/$name.csv"
done

# config: every config YAML of the repository.
n=0
for f in $(git ls-files '*.yaml' '*.yml' | grep -v '^python/\|^\.ci/'); do
    cp "$f" "$out/config/$n.yaml"
    n=$((n + 1))
done

# bundle: every bundle, then bundle + NUL + the context of its first test vector.
n=0
for f in $(git ls-files 'datasets/*bundle*.json' 'tests/fixtures/*bundle*.json'); do
    [ "$(stat -c %s "$f")" -le 65536 ] || continue # AFL favours small seeds
    cp "$f" "$out/bundle/$n.json"
    expected=$(dirname "$f")/$(basename "$f" | sed 's/^bundle_/expected_/')
    if [ "$expected" != "$f" ] && [ -f "$expected" ]; then
        { cat "$f"; printf '\0'; python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["testCases"][0]["context"]))' "$expected"; } >"$out/bundle/$n-ctx.json"
    fi
    n=$((n + 1))
done
for t in ndjson csv config bundle; do echo "$t: $(ls "$out/$t" | wc -l) seeds, $(du -sh "$out/$t" | cut -f1)"; done
