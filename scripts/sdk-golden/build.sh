#!/usr/bin/env bash
# Builds the reference SDK's core package (@traffical/core, from
# ../shared/reference/traffical-js-sdk) with tsc, then runs generate.mjs to write the
# golden decisions into tests/fixtures/sdk-sha256/.
#
# Usage: scripts/sdk-golden/build.sh [SDK_DIR] [WORK_DIR]
#   SDK_DIR   the reference SDK checkout (default: ../shared/reference/traffical-js-sdk
#             relative to the repository root)
#   WORK_DIR  scratch directory for node_modules and the build (default:
#             /tmp/bandit-engine-sdk-golden); nothing there is committed.
# Needs node >= 20 and npm with access to the npm registry.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
sdk="${1:-$repo/../shared/reference/traffical-js-sdk}"
work="${2:-/tmp/bandit-engine-sdk-golden}"
mkdir -p "$work"
rm -rf "$work/src" "$work/dist"
cp -r "$sdk/packages/core/src" "$work/src"
cp "$here/package.json" "$here/tsconfig.golden.json" "$work/"
(cd "$work" && npm install --no-audit --no-fund --silent)
(cd "$work" && npx tsc -p tsconfig.golden.json)
node "$here/generate.mjs" "$work/dist/index.js" "$repo/tests/fixtures/sdk-sha256" \
  "$sdk/../traffical-sdk-spec/test-vectors/fixtures"
