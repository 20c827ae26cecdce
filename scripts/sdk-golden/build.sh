#!/usr/bin/env bash
# Builds the reference SDK's core package (@traffical/core 0.12.0, from a checkout of
# the repository traffical/js-sdk) with tsc, then runs generate.mjs to write the golden
# decisions into tests/fixtures/sdk-sha256/, starting from the spec's test vectors
# copied in tests/fixtures/reference/traffical-sdk-spec.
#
# Usage: scripts/sdk-golden/build.sh SDK_DIR [WORK_DIR]
#   SDK_DIR   a checkout of the reference SDK (the folder holding packages/core/src);
#             it is not part of this repository
#   WORK_DIR  scratch directory for node_modules and the build (default:
#             /tmp/bandit-engine-sdk-golden); nothing there is committed.
# Needs node >= 20 and npm with access to the npm registry.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
if [ $# -lt 1 ]; then
    sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
sdk="$1"
work="${2:-/tmp/bandit-engine-sdk-golden}"
mkdir -p "$work"
rm -rf "$work/src" "$work/dist"
cp -r "$sdk/packages/core/src" "$work/src"
cp "$here/package.json" "$here/tsconfig.golden.json" "$work/"
(cd "$work" && npm install --no-audit --no-fund --silent)
(cd "$work" && npx tsc -p tsconfig.golden.json)
node "$here/generate.mjs" "$work/dist/index.js" "$repo/tests/fixtures/sdk-sha256" \
  "$repo/tests/fixtures/reference/traffical-sdk-spec/test-vectors/fixtures"
