// Golden decisions from the reference SDK (@traffical/core, SHA-256 v2 hash contract).
//
// Usage: node generate.mjs CORE_DIST_INDEX OUT_DIR SPEC_FIXTURES_DIR
// (build.sh builds CORE_DIST_INDEX with tsc and calls this.)
//
// Writes, into OUT_DIR, bundle files and `expected_*.json` files in the format of the
// spec's test vectors (traffical-sdk-spec/test-vectors), so `bandit-engine conformance
// OUT_DIR` runs them. Each test case carries the context exactly as the SDK read it
// (contexts are written here as JSON text, so `1.0`, `-0` and `1e21` reach both the
// SDK and the Rust resolver as written), the caller defaults, the SDK's assignments
// and its full per-layer metadata (`expectedLayers`, the objects `decide()` returned),
// plus, for contextual policies, the scores and floored-softmax probabilities computed
// with the SDK's exported scoring functions.
//
// Nothing here decides an outcome: every expected value is what the SDK returned.

import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [coreIndex, outDir, specDir] = process.argv.slice(2);
if (!coreIndex || !outDir || !specDir) {
  console.error("usage: node generate.mjs CORE_DIST_INDEX OUT_DIR SPEC_FIXTURES_DIR");
  process.exit(2);
}
const sdk = await import(pathToFileURL(path.resolve(coreIndex)).href);
fs.mkdirSync(outDir, { recursive: true });

const readJson = (p) => JSON.parse(fs.readFileSync(p, "utf8"));
const writeText = (name, text) => fs.writeFileSync(path.join(outDir, name), text);
const writeJson = (name, v) => writeText(name, JSON.stringify(v, null, 2) + "\n");

// A small seeded generator (mulberry32) so the generated contexts are reproducible.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Scores and probabilities of every contextual policy the decision matched, from the
// SDK's exported scoring functions (coefficients looked up by `key ?? name`, as the
// SDK's engine does).
function scoring(bundle, ctx, layers) {
  const out = [];
  for (const l of layers) {
    if (!l.policyId) continue;
    const layer = bundle.layers.find((x) => x.id === l.layerId);
    const policy = layer.policies.find((p) => p.id === l.policyId);
    const model = policy.contextualModel;
    if (!model || policy.allocations.length === 0) continue;
    const scores = policy.allocations.map((a) => {
      const c = model.coefficients[a.key ?? a.name];
      return c ? sdk.computeAllocationScore(c, ctx) : model.defaultAllocationScore;
    });
    const probabilities = sdk.applyProbabilityFloor(
      sdk.softmaxProbabilities(scores, model.gamma),
      model.actionProbabilityFloor
    );
    out.push({
      layerId: l.layerId,
      policyId: policy.id,
      seed: `ctx:${l.unitKeyValue ?? sdk.getUnitKeyValue(bundle, ctx)}:${policy.id}`,
      scores,
      probabilities,
    });
  }
  return out;
}

// cases: [{ name, context: JSON text, defaults?, edgeResults? }]
function emit(expectedName, description, bundleName, bundle, cases, extra = {}) {
  const allDefaults = Object.fromEntries(bundle.parameters.map((p) => [p.key, p.default]));
  const parts = cases.map((c) => {
    const ctx = JSON.parse(c.context);
    const defaults = c.defaults ?? allDefaults;
    const options = c.edgeResults
      ? {
          edgeResults: new Map(
            c.edgeResults.map((e) => [e.policyId, { allocationIndex: e.allocationIndex, entityId: e.entityId }])
          ),
        }
      : undefined;
    const d = sdk.decide(bundle, ctx, defaults, options);
    const layers = JSON.parse(JSON.stringify(d.metadata.layers));
    const body = {
      name: c.name,
      context: "__CONTEXT__",
      ...(c.defaults ? { defaults: c.defaults } : {}),
      ...(c.edgeResults ? { edgeResults: c.edgeResults } : {}),
      expectedAssignments: d.assignments,
      expectedLayers: layers,
    };
    const sc = scoring(bundle, ctx, layers);
    if (sc.length > 0) body.expectedScoring = sc;
    const text = JSON.stringify(body, null, 2).replace(/^/gm, "    ").trimStart();
    return "    " + text.replace('"__CONTEXT__"', c.context);
  });
  const head = {
    description,
    bundle: bundleName,
    ...extra,
    hashContract: "sha256-v2",
    generatedBy: "@traffical/core 0.12.0 decide(), via scripts/sdk-golden/generate.mjs",
  };
  const headText = JSON.stringify(head, null, 2).replace(/\n}$/, "");
  writeText(expectedName, `${headText},\n  "testCases": [\n${parts.join(",\n")}\n  ]\n}\n`);
}

const j = (v) => JSON.stringify(v);

// Values whose JavaScript String() is worth checking, as JSON text.
const oddValues = [
  "1", "1.0", "-0", "0", "1e21", "1e+21", "123456789012345678901", "1e-7", "0.000001", "1.5e-7",
  "0.1", "0.30000000000000004", "5e-324", "1.7976931348623157e308", "-42.5", "100", "2.50",
  "true", "false", '"1"', '"true"', '""', '" "', '"ü-🚀"', "[1,2]", "[]", "[null,1]", '{"a":1}',
];

// ---------------------------------------------------------------------------
// 1. The spec's bundles, resolved under the current hash contract.
// ---------------------------------------------------------------------------
for (const name of ["basic", "conditions", "contextual", "edge_policies"]) {
  const bundle = readJson(path.join(specDir, `bundle_${name}.json`));
  const spec = readJson(path.join(specDir, `expected_${name}.json`));
  writeJson(`bundle_${name}.json`, bundle);
  const cases = spec.testCases.map((tc) => ({
    name: tc.name,
    context: j(tc.context),
    defaults: tc.defaults,
    edgeResults: tc.edgeResults,
  }));
  if (name !== "edge_policies") {
    const r = rng(1000 + name.length);
    for (let i = 0; i < 40; i++) {
      const ctx = { userId: `user-${i}` };
      if (name === "conditions") {
        ctx.cartValue = Math.round(r() * 200);
        ctx.deviceType = ["mobile", "desktop", "tablet"][i % 3];
      }
      if (name === "contextual") {
        if (i % 5 !== 0) ctx.engagement_score = Math.round(r() * 1000) / 100;
        if (i % 7 !== 0) ctx.device_type = ["mobile", "desktop", "tablet", "tv"][i % 4];
      }
      cases.push({ name: `generated_${i}`, context: j(ctx) });
    }
    oddValues.forEach((v, i) => cases.push({ name: `unit_key_${i}`, context: `{"userId": ${v}}` }));
  }
  emit(
    `expected_${name}.json`,
    `The spec's bundle_${name}.json resolved by the reference SDK under the SHA-256 v2 hash.`,
    `bundle_${name}.json`,
    bundle,
    cases
  );
}
writeJson("entity_weights.json", readJson(path.join(specDir, "entity_weights.json")));

// ---------------------------------------------------------------------------
// 2. Every condition operator, one layer per condition.
// ---------------------------------------------------------------------------
{
  const conditions = [
    ["eq_str", { field: "s", op: "eq", value: "abc" }],
    ["eq_num", { field: "n", op: "eq", value: 1 }],
    ["eq_float", { field: "n", op: "eq", value: 1.5 }],
    ["eq_numstr", { field: "n", op: "eq", value: "1" }],
    ["eq_bool", { field: "b", op: "eq", value: true }],
    ["eq_null", { field: "z", op: "eq", value: null }],
    ["eq_novalue", { field: "z", op: "eq" }],
    ["eq_obj", { field: "o", op: "eq", value: {} }],
    ["eq_nested", { field: "o.x", op: "eq", value: 5 }],
    ["eq_deep", { field: "o.p.q", op: "eq", value: "deep" }],
    ["eq_index", { field: "arr.0", op: "eq", value: "a" }],
    ["eq_length", { field: "arr.length", op: "eq", value: 2 }],
    ["eq_strlen", { field: "s.length", op: "eq", value: 3 }],
    ["neq_str", { field: "s", op: "neq", value: "abc" }],
    ["neq_novalue", { field: "z", op: "neq" }],
    ["in_str", { field: "s", op: "in", values: ["abc", "def"] }],
    ["in_num", { field: "n", op: "in", values: [1, 2] }],
    ["in_mixed", { field: "n", op: "in", values: ["1", true] }],
    ["in_null", { field: "z", op: "in", values: [null] }],
    ["in_novalues", { field: "s", op: "in" }],
    ["nin_num", { field: "n", op: "nin", values: [1, 2] }],
    ["nin_novalues", { field: "s", op: "nin" }],
    ["gt_num", { field: "n", op: "gt", value: 0.5 }],
    ["gte_num", { field: "n", op: "gte", value: 1 }],
    ["lt_numstr", { field: "n", op: "lt", value: "2" }],
    ["lte_true", { field: "n", op: "lte", value: true }],
    ["gt_null", { field: "n", op: "gt", value: null }],
    ["gt_novalue", { field: "n", op: "gt" }],
    ["gt_text", { field: "n", op: "gt", value: "abc" }],
    ["gt_empty", { field: "n", op: "gt", value: "" }],
    ["gte_hex", { field: "n", op: "gte", value: "0x10" }],
    ["lt_spaces", { field: "n", op: "lt", value: " 12 " }],
    ["gt_exp", { field: "n", op: "gt", value: "1e3" }],
    ["lt_inf", { field: "n", op: "lt", value: "Infinity" }],
    ["gt_arr", { field: "n", op: "gt", value: [0] }],
    ["gt_arr2", { field: "n", op: "gt", value: [0, 1] }],
    ["gt_obj", { field: "n", op: "gt", value: {} }],
    ["gt_strctx", { field: "s", op: "gt", value: "a" }],
    ["contains", { field: "s", op: "contains", value: "b" }],
    ["contains_num", { field: "n", op: "contains", value: "1" }],
    ["contains_numop", { field: "s", op: "contains", value: 1 }],
    ["starts_empty", { field: "s", op: "startsWith", value: "" }],
    ["starts", { field: "s", op: "startsWith", value: "ab" }],
    ["ends", { field: "s", op: "endsWith", value: "bc" }],
    ["re_anchor", { field: "s", op: "regex", value: "^a.c$" }],
    ["re_invalid", { field: "s", op: "regex", value: "(" }],
    ["re_digits", { field: "s", op: "regex", value: "\\d+" }],
    ["re_case", { field: "s", op: "regex", value: "ABC" }],
    ["re_dollar", { field: "s", op: "regex", value: "c$" }],
    ["re_space", { field: "s", op: "regex", value: "^\\s$" }],
    ["re_anychar", { field: "s", op: "regex", value: "^[^]+$" }],
    ["re_dot_newline", { field: "s", op: "regex", value: "^.+$" }],
    ["re_named", { field: "s", op: "regex", value: "(?<y>\\d{4})-\\k<y>" }],
    ["re_lookbehind", { field: "s", op: "regex", value: "(?<=a)b" }],
    ["re_backref", { field: "s", op: "regex", value: "(\\w)\\1" }],
    ["re_word", { field: "s", op: "regex", value: "\\bbc\\b" }],
    ["re_brace", { field: "s", op: "regex", value: "a{" }],
    ["re_escape_p", { field: "s", op: "regex", value: "\\p{L}" }],
    ["re_unicode_class", { field: "s", op: "regex", value: "^.$" }],
    ["re_numop", { field: "s", op: "regex", value: 1 }],
    ["exists", { field: "s", op: "exists" }],
    ["exists_nested", { field: "o.x", op: "exists" }],
    ["exists_null", { field: "z", op: "exists" }],
    ["not_exists", { field: "z", op: "notExists" }],
    ["not_exists_under_string", { field: "s.x", op: "notExists" }],
    ["unknown_op", { field: "s", op: "like", value: "abc" }],
  ];
  const parameters = [];
  const layers = [];
  for (const [id, cond] of conditions) {
    parameters.push({ key: `op.${id}`, type: "string", default: "no", layerId: `layer_${id}`, namespace: "op" });
    layers.push({
      id: `layer_${id}`,
      policies: [
        {
          id: `policy_${id}`,
          state: "running",
          kind: "static",
          allocations: [{ id: `alloc_${id}`, name: "match", bucketRange: [0, 99], overrides: { [`op.${id}`]: "yes" } }],
          conditions: [cond],
        },
      ],
    });
  }
  const bundle = {
    version: "2026-01-01T00:00:00.000Z",
    orgId: "org_golden",
    projectId: "proj_golden",
    env: "test",
    hashing: { unitKey: "userId", bucketCount: 100 },
    parameters,
    layers,
  };
  writeJson("bundle_operators.json", bundle);
  const contexts = [
    `{"userId": "u1", "s": "abc", "n": 1, "b": true, "o": {"x": 5, "p": {"q": "deep"}}, "arr": ["a", "b"]}`,
    `{"userId": "u2", "s": "abd", "n": 1.0, "b": false, "z": null}`,
    `{"userId": "u3", "s": "def", "n": 2, "o": {"x": "5"}, "arr": ["b"]}`,
    `{"userId": "u4", "s": "xbc", "n": 0, "o": {}, "arr": []}`,
    `{"userId": "u5", "s": "ab", "n": -1, "z": 0}`,
    `{"userId": "u6", "s": "", "n": 0.5, "z": false}`,
    `{"userId": "u7", "s": "a\\nc", "n": 1.5}`,
    `{"userId": "u8", "s": "abc\\n", "n": 16}`,
    `{"userId": "u9", "s": " ", "n": 12}`,
    `{"userId": "u10", "s": "\\u00a0", "n": 11.999}`,
    `{"userId": "u11", "s": "\\ufeff", "n": 1000}`,
    `{"userId": "u12", "s": "2024-2024", "n": 1000.5}`,
    `{"userId": "u13", "s": "2024-2025", "n": 1e308}`,
    `{"userId": "u14", "s": "ab bc", "n": -0}`,
    `{"userId": "u15", "s": "aab", "n": 1e-7}`,
    `{"userId": "u16", "s": "a{", "n": 3}`,
    `{"userId": "u17", "s": "p{L}", "n": 2}`,
    `{"userId": "u18", "s": "ü", "n": 1}`,
    `{"userId": "u19", "s": "🚀", "n": 1}`,
    `{"userId": "u20", "s": "ABC", "n": "1"}`,
    `{"userId": "u21", "s": 1, "n": true}`,
    `{"userId": "u22", "s": ["abc"], "n": [1]}`,
    `{"userId": "u23", "s": {"x": 1}, "n": null}`,
    `{"userId": "u24"}`,
    `{"userId": "u25", "s": "bc", "o": {"x": 5.0}, "arr": {"0": "a", "length": 2}}`,
    `{"userId": "u26", "s": "a\\u2028c", "n": 0.5000000000000001}`,
    `{"userId": "u27", "s": "abcabc", "o": null, "arr": "ab"}`,
    `{"userId": "u28", "s": "c", "o": 5}`,
  ];
  emit(
    "expected_operators.json",
    "Every condition operator of the schema, one layer per condition (parameter op.<id> is \"yes\" when the condition holds).",
    "bundle_operators.json",
    bundle,
    contexts.map((c, i) => ({ name: `operators_${i + 1}`, context: c }))
  );
}

// ---------------------------------------------------------------------------
// 3. Contextual policies: 16 features and 10 allocations, temperature and floor edges.
// ---------------------------------------------------------------------------
{
  const r = rng(7);
  const round = (x) => Math.round(x * 1000) / 1000;
  const numericKeys = ["n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7"];
  const catKeys = ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"];
  const catValues = ["a", "b", "c", "1", "true", "1e+21", "0"];
  const allocations = [];
  const coefficients = {};
  for (let k = 0; k < 10; k++) {
    const key = `arm-${k}`;
    // Allocation 3 has a display name different from its key; allocation 9 has no key
    // (coefficients by name); allocation 7 has no coefficients (default score).
    const alloc = {
      id: `alloc_w${k}`,
      name: k === 3 ? "Arm Three" : k === 9 ? "arm-9-by-name" : key,
      ...(k === 9 ? {} : { key }),
      bucketRange: [k * 100, k * 100 + 99],
      overrides: { "wide.arm": k },
    };
    allocations.push(alloc);
    if (k === 7) continue;
    coefficients[alloc.key ?? alloc.name] = {
      intercept: round(r() - 0.5),
      numeric: numericKeys.map((key) => ({ key, coef: round((r() - 0.5) / 2), missing: round(r() - 0.5) })),
      categorical: catKeys.map((key) => ({
        key,
        values: Object.fromEntries(catValues.filter(() => r() < 0.7).map((v) => [v, round(r() - 0.5)])),
        missing: round((r() - 0.5) / 4),
      })),
    };
  }
  const model = (extra) => ({ gamma: 0.5, actionProbabilityFloor: 0.02, defaultAllocationScore: 0.1, coefficients, ...extra });
  const ctxPolicy = (id, extra, more = {}) => ({
    id,
    key: `${id}-key`,
    state: "running",
    kind: "adaptive",
    allocations,
    conditions: [],
    contextualModel: model(extra),
    ...more,
  });
  const bundle = {
    version: "2026-01-01T00:00:00.000Z",
    orgId: "org_golden",
    projectId: "proj_golden",
    env: "test",
    hashing: { unitKey: "userId", bucketCount: 1000 },
    parameters: [
      { key: "wide.arm", type: "number", default: -1, layerId: "layer_wide", namespace: "wide" },
      { key: "sharp.arm", type: "number", default: -1, layerId: "layer_sharp", namespace: "sharp" },
      { key: "flat.arm", type: "number", default: -1, layerId: "layer_flat", namespace: "flat" },
      { key: "gated.arm", type: "string", default: "none", layerId: "layer_gated", namespace: "gated" },
      { key: "solo.arm", type: "string", default: "none", layerId: "layer_solo", namespace: "solo" },
    ],
    layers: [
      { id: "layer_wide", policies: [ctxPolicy("policy_wide", { generatedAt: "2026-01-01T00:00:00.000Z" })] },
      {
        id: "layer_sharp",
        policies: [
          {
            ...ctxPolicy("policy_sharp", { gamma: 0, actionProbabilityFloor: 0, modelVersion: "v-sharp" }),
            allocations: allocations.map((a) => ({ ...a, overrides: { "sharp.arm": a.overrides["wide.arm"] } })),
          },
        ],
      },
      {
        id: "layer_flat",
        policies: [
          {
            ...ctxPolicy("policy_flat", { gamma: 25, actionProbabilityFloor: 0.5 }),
            allocations: allocations.map((a) => ({ ...a, overrides: { "flat.arm": a.overrides["wide.arm"] } })),
          },
        ],
      },
      {
        id: "layer_gated",
        policies: [
          ctxPolicy("policy_gated_ctx", { gamma: 1 }, {
            conditions: [{ field: "c0", op: "in", values: ["a", "b"] }],
            eligibleBucketRange: { start: 0, end: 599 },
            allocations: allocations.slice(0, 3).map((a) => ({ ...a, overrides: { "gated.arm": a.name } })),
          }),
          {
            id: "policy_gated_static",
            state: "running",
            kind: "adaptive",
            allocations: [
              { id: "alloc_gs0", name: "fallback-a", bucketRange: [0, 249], overrides: { "gated.arm": "fallback-a" } },
              { id: "alloc_gs1", name: "fallback-b", bucketRange: [250, 999], overrides: { "gated.arm": "fallback-b" } },
            ],
            conditions: [],
          },
        ],
      },
      {
        id: "layer_solo",
        policies: [
          ctxPolicy("policy_solo", { gamma: 0.3 }, {
            allocations: [{ id: "alloc_solo", name: "only", key: "arm-0", bucketRange: [0, 999], overrides: { "solo.arm": "only" } }],
          }),
        ],
      },
    ],
  };
  writeJson("bundle_contextual_wide.json", bundle);
  const cases = [];
  for (let i = 0; i < 60; i++) {
    const parts = [`"userId": "cu-${i}"`];
    numericKeys.forEach((k, f) => {
      const u = r();
      if (u < 0.1) return; // missing
      if (u < 0.15) parts.push(`"${k}": null`);
      else if (u < 0.2) parts.push(`"${k}": "${round(r() * 4)}"`); // a string: not a number
      else if (u < 0.23) parts.push(`"${k}": true`);
      else parts.push(`"${k}": ${round((r() - 0.3) * 6 * (f + 1))}`);
    });
    catKeys.forEach((k) => {
      const u = r();
      if (u < 0.1) return;
      if (u < 0.15) parts.push(`"${k}": null`);
      else if (u < 0.2) parts.push(`"${k}": ${["1.0", "1e21", "true", "0", "-0"][Math.floor(r() * 5)]}`);
      else parts.push(`"${k}": "${["a", "b", "c", "d", "1", "true"][Math.floor(r() * 6)]}"`);
    });
    cases.push({ name: `contextual_${i}`, context: `{${parts.join(", ")}}` });
  }
  cases.push({ name: "contextual_empty", context: `{"userId": "cu-empty"}` });
  cases.push({ name: "contextual_no_unit", context: `{"n0": 1, "c0": "a"}` });
  cases.push({
    name: "contextual_subset",
    context: `{"userId": "cu-subset", "n0": 2, "c0": "a"}`,
    defaults: { "wide.arm": -2, "not.in.bundle": "kept" },
  });
  emit(
    "expected_contextual_wide.json",
    "Contextual policies: 16 features (8 numeric, 8 categorical) and 10 allocations (keys differing from names, one without key, one without coefficients); gamma 0 (argmax), a floor above 1/K, conditions with eligibleBucketRange falling through to a bucket policy, a single allocation.",
    "bundle_contextual_wide.json",
    bundle,
    cases
  );
}

// ---------------------------------------------------------------------------
// 4. Per-entity policies resolved from the bundle's entityState.
// ---------------------------------------------------------------------------
{
  const w = (entityId, weights) => ({ entityId, weights, computedAt: "2026-01-01T00:00:00.000Z" });
  const alloc = (id, name, param, value) => ({ id, name, key: name, bucketRange: [0, 0], overrides: { [param]: value } });
  const bundle = {
    version: "2026-01-01T00:00:00.000Z",
    orgId: "org_golden",
    projectId: "proj_golden",
    env: "test",
    hashing: { unitKey: "userId", bucketCount: 1000 },
    parameters: [
      { key: "entity.discount", type: "number", default: 0, layerId: "layer_entity", namespace: "entity" },
      { key: "multi.badge", type: "string", default: "none", layerId: "layer_multi", namespace: "multi" },
      { key: "dyn.index", type: "number", default: -1, layerId: "layer_dynamic", namespace: "dyn" },
      { key: "cold.badge", type: "string", default: "none", layerId: "layer_cold", namespace: "cold" },
    ],
    layers: [
      {
        id: "layer_entity",
        policies: [
          {
            id: "policy_entity",
            key: "entity-discount",
            state: "running",
            kind: "adaptive",
            allocations: [
              alloc("alloc_e0", "ten", "entity.discount", 10),
              alloc("alloc_e1", "twenty", "entity.discount", 20),
              alloc("alloc_e2", "thirty", "entity.discount", 30),
            ],
            conditions: [],
            entityConfig: { entityKeys: ["productId"], resolutionMode: "bundle" },
          },
        ],
      },
      {
        id: "layer_multi",
        policies: [
          {
            id: "policy_multi",
            state: "running",
            kind: "adaptive",
            allocations: [alloc("alloc_m0", "plain", "multi.badge", "plain"), alloc("alloc_m1", "hot", "multi.badge", "hot")],
            conditions: [{ field: "region", op: "neq", value: "blocked" }],
            entityConfig: { entityKeys: ["productId", "region"], resolutionMode: "bundle" },
          },
          {
            id: "policy_multi_static",
            state: "running",
            kind: "static",
            allocations: [{ id: "alloc_ms", name: "static", bucketRange: [0, 999], overrides: { "multi.badge": "static" } }],
            conditions: [],
          },
        ],
      },
      {
        id: "layer_dynamic",
        policies: [
          {
            id: "policy_dynamic",
            state: "running",
            kind: "adaptive",
            allocations: [],
            conditions: [],
            entityConfig: { entityKeys: ["productId"], resolutionMode: "bundle", dynamicAllocations: { countKey: "numVariants" } },
          },
        ],
      },
      {
        id: "layer_cold",
        policies: [
          {
            id: "policy_cold",
            state: "running",
            kind: "adaptive",
            allocations: [alloc("alloc_c0", "x", "cold.badge", "x"), alloc("alloc_c1", "y", "cold.badge", "y")],
            conditions: [],
            entityConfig: { entityKeys: ["productId"], resolutionMode: "bundle" },
          },
        ],
      },
    ],
    entityState: {
      policy_entity: {
        _global: w("_global", [0.2, 0.3, 0.5]),
        entities: {
          "prod-1": w("prod-1", [0.7, 0.2, 0.1]),
          "prod-2": w("prod-2", [0.1, 0.1, 0.8]),
          "prod-short": w("prod-short", [0.5, 0.5]),
          "prod-zero": w("prod-zero", [0.3, 0.3, 0]),
          "prod-under": w("prod-under", [0.1, 0.1, 0.1]),
          "1": w("1", [0, 1, 0]),
          "1e+21": w("1e+21", [0, 0, 1]),
          "true": w("true", [1, 0, 0]),
        },
      },
      policy_multi: {
        _global: w("_global", [0.5, 0.5]),
        entities: { "prod-1_eu": w("prod-1_eu", [0.9, 0.1]), "prod-2_us": w("prod-2_us", [0.05, 0.95]) },
      },
      policy_dynamic: {
        _global: w("_global", [0.1, 0.2, 0.3, 0.4]),
        entities: { "prod-1": w("prod-1", [0.6, 0.2, 0.1, 0.1]) },
      },
    },
  };
  writeJson("bundle_per_entity.json", bundle);
  const products = ['"prod-1"', '"prod-2"', '"prod-3"', '"prod-short"', '"prod-zero"', '"prod-under"', "1", "1.0", "1e21", "true", '""'];
  const regions = ['"eu"', '"us"', '"blocked"', "null", "7"];
  const counts = ["4", "4.7", "3", "1", "0", "-2", '"4"', "null"];
  const cases = [];
  let i = 0;
  for (let u = 0; u < 6; u++) {
    for (const p of products) {
      const region = regions[(u + i) % regions.length];
      const count = counts[(u * 3 + i) % counts.length];
      cases.push({
        name: `per_entity_${i}`,
        context: `{"userId": "pe-${u}", "productId": ${p}, "region": ${region}, "numVariants": ${count}}`,
      });
      i++;
    }
  }
  cases.push({ name: "per_entity_missing_product", context: `{"userId": "pe-x", "region": "eu", "numVariants": 4}` });
  cases.push({ name: "per_entity_null_product", context: `{"userId": "pe-y", "productId": null}` });
  cases.push({ name: "per_entity_no_unit", context: `{"productId": "prod-1"}` });
  emit(
    "expected_per_entity.json",
    "Per-entity policies in bundle resolution mode: entity weights, global fallback, length mismatch, weights not summing to one, multi-key entity ids, dynamic allocations, a policy without state (uniform).",
    "bundle_per_entity.json",
    bundle,
    cases
  );
  // The spec's edge bundle with its policies switched to bundle mode and its
  // entity_weights.json as the weights (named by the fixture, as the spec does).
  const edge = readJson(path.join(specDir, "bundle_edge_policies.json"));
  for (const l of edge.layers) for (const p of l.policies) if (p.entityConfig) p.entityConfig.resolutionMode = "bundle";
  writeJson("bundle_edge_as_bundle_mode.json", edge);
  const weights = readJson(path.join(specDir, "entity_weights.json"));
  const withState = { ...edge, entityState: weights };
  const edgeCases = [];
  for (let u = 0; u < 8; u++) {
    for (const p of ['"prod-42"', '"prod-99"', '"prod-new"']) {
      edgeCases.push({
        name: `edge_bundle_mode_${edgeCases.length}`,
        context: `{"userId": "user-${u}", "productId": ${p}${u % 2 ? ', "numVariants": 4' : ""}}`,
      });
    }
  }
  emit(
    "expected_edge_as_bundle_mode.json",
    "The spec's edge bundle in bundle resolution mode, with the spec's entity_weights.json as entityState.",
    "bundle_edge_as_bundle_mode.json",
    withState,
    edgeCases,
    { entityWeights: "entity_weights.json" }
  );
}

// ---------------------------------------------------------------------------
// 5. Layers: per-layer unit keys, eligibility, lifecycle states, fall-through.
// ---------------------------------------------------------------------------
{
  const p = (key, layerId, def = "default") => ({ key, type: "string", default: def, layerId, namespace: "l" });
  const bundle = {
    version: "2026-01-01T00:00:00.000Z",
    orgId: "org_golden",
    projectId: "proj_golden",
    env: "test",
    hashing: { unitKey: "userId", bucketCount: 10000 },
    parameters: [p("a.v", "layer_a"), p("m.v", "layer_merchant"), p("blank.v", "layer_blank"), p("e.v", "layer_eligible"), p("e.w", "layer_eligible")],
    layers: [
      {
        id: "layer_a",
        policies: [
          { id: "policy_paused", state: "paused", kind: "static", allocations: [{ name: "p", bucketRange: [0, 9999], overrides: { "a.v": "paused" } }], conditions: [] },
          { id: "policy_draft", state: "draft", kind: "static", allocations: [{ name: "d", bucketRange: [0, 9999], overrides: { "a.v": "draft" } }], conditions: [] },
          {
            id: "policy_partial",
            key: "partial",
            state: "running",
            kind: "adaptive",
            allocations: [
              { id: "alloc_p0", name: "low", key: "low", bucketRange: [0, 2499], overrides: { "a.v": "low", "unknown.param": 1 } },
              { id: "alloc_p1", name: "overlap", key: "overlap", bucketRange: [2000, 4999], overrides: { "a.v": "overlap" } },
            ],
            conditions: [],
          },
          { id: "policy_rest", state: "running", kind: "static", allocations: [{ name: "rest", bucketRange: [0, 9999], overrides: { "a.v": "rest" } }], conditions: [] },
        ],
      },
      {
        id: "layer_merchant",
        unitKey: "merchantId",
        policies: [
          { id: "policy_merchant", state: "running", kind: "adaptive", allocations: [{ name: "m0", bucketRange: [0, 4999], overrides: { "m.v": "m0" } }, { name: "m1", bucketRange: [5000, 9999], overrides: { "m.v": "m1" } }], conditions: [] },
        ],
      },
      { id: "layer_blank", unitKey: "  ", policies: [{ id: "policy_blank", state: "running", kind: "static", allocations: [{ name: "b", bucketRange: [0, 9999], overrides: { "blank.v": "b" } }], conditions: [] }] },
      {
        id: "layer_eligible",
        policies: [
          { id: "policy_first_half", state: "running", kind: "static", eligibleBucketRange: { start: 0, end: 4999 }, allocations: [{ name: "h0", bucketRange: [0, 9999], overrides: { "e.v": "first-half" } }], conditions: [{ field: "country", op: "eq", value: "FR" }] },
          { id: "policy_second_half", state: "completed", kind: "static", eligibleBucketRange: { start: 5000, end: 9999 }, allocations: [{ name: "h1", bucketRange: [0, 9999], overrides: { "e.v": "completed" } }], conditions: [] },
          { id: "policy_catch_all", state: "running", kind: "adaptive", allocations: [{ name: "c0", bucketRange: [0, 3332], overrides: { "e.v": "c0", "e.w": "c0" } }, { name: "c1", bucketRange: [3333, 9999], overrides: { "e.w": "c1" } }], conditions: [] },
        ],
      },
      { id: "layer_attribution_only", policies: [{ id: "policy_attr", state: "running", kind: "adaptive", allocations: [{ name: "x", bucketRange: [0, 6999] }, { name: "y", bucketRange: [7000, 9999] }].map((a) => ({ ...a, overrides: {} })), conditions: [] }] },
    ],
  };
  writeJson("bundle_layers.json", bundle);
  const cases = [];
  for (let i = 0; i < 40; i++) {
    const parts = [`"userId": "lu-${i}"`];
    if (i % 4 !== 0) parts.push(`"merchantId": ${i % 4 === 1 ? `"m-${i}"` : i % 4 === 2 ? i : '""'}`);
    if (i % 3 === 0) parts.push(`"country": "FR"`);
    cases.push({ name: `layers_${i}`, context: `{${parts.join(", ")}}` });
  }
  cases.push({ name: "layers_no_user", context: `{"merchantId": "m-1"}` });
  cases.push({ name: "layers_empty_user", context: `{"userId": "", "merchantId": "m-1"}` });
  cases.push({ name: "layers_false_merchant", context: `{"userId": "lu-x", "merchantId": false}` });
  cases.push({ name: "layers_subset", context: `{"userId": "lu-3", "merchantId": "m-3"}`, defaults: { "e.w": "caller" } });
  emit(
    "expected_layers.json",
    "Layers: lifecycle states, fall-through when a bucket is in no allocation, overlapping ranges, eligibleBucketRange before conditions, per-layer unit keys (present, numeric, empty, blank override), attribution-only layers, a subset of requested parameters.",
    "bundle_layers.json",
    bundle,
    cases
  );
}

// ---------------------------------------------------------------------------
// 7. Bundles `retrain` wrote (scripts/sdk-golden/retrained.sh): least-movement ranges,
//    a linear contextual model with the engine's `x-banditEngine` extension, and
//    entityState weights with dynamic allocations, resolved as published.
// ---------------------------------------------------------------------------
{
  const dir = path.join(path.dirname(new URL(import.meta.url).pathname), "retrained");
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".json")).sort()) {
    const name = file.replace(/\.json$/, "");
    const bundle = readJson(path.join(dir, file));
    writeJson(`bundle_retrained_${name}.json`, bundle);
    // Every field the bundle reads, with values it knows and values it does not.
    const fields = new Map();
    const add = (key, values) => fields.set(key, [...new Set([...(fields.get(key) ?? []), ...values])]);
    for (const layer of bundle.layers) {
      for (const policy of layer.policies) {
        for (const c of policy.conditions ?? []) {
          add(c.field, [...(c.values ?? []), ...(c.value === undefined ? [] : [c.value])].map(j).concat(['"ZZ"', "null"]));
        }
        for (const coef of Object.values(policy.contextualModel?.coefficients ?? {})) {
          for (const n of coef.numeric ?? []) add(n.key, ["0", "1", "2.5", "7", "40", '"3"', "null", "-1"]);
          for (const c of coef.categorical ?? []) add(c.key, Object.keys(c.values).map(j).concat(['"unseen"', "3"]));
        }
        const entity = policy.entityConfig;
        if (entity) {
          const ids = Object.keys(bundle.entityState?.[policy.id]?.entities ?? {}).slice(0, 12);
          for (const k of entity.entityKeys) add(k, ids.map(j).concat(['"prod-unknown"', "7"]));
          const count = entity.dynamicAllocations?.countKey;
          if (count) add(count, ["1", "2", "3", "4", "5", "2.5", '"3"', "null"]);
        }
      }
    }
    const r = rng(1000 + name.length);
    const unit = bundle.hashing.unitKey;
    const cases = [];
    for (let i = 0; i < 240; i++) {
      const parts = [`"${unit}": "rt-${name}-${i}"`];
      for (const [key, values] of fields) {
        if (r() < 0.1) continue; // absent, as a context often is
        parts.push(`${j(key)}: ${values[Math.floor(r() * values.length)]}`);
      }
      cases.push({ name: `retrained_${name}_${i}`, context: `{${parts.join(", ")}}` });
    }
    emit(
      `expected_retrained_${name}.json`,
      `A bundle retrain published (scripts/sdk-golden/retrained/${file}), resolved by the reference SDK as it would be served.`,
      `bundle_retrained_${name}.json`,
      bundle,
      cases
    );
  }
}

// ---------------------------------------------------------------------------
// 6. Math.exp, which the softmax calls: bit patterns of inputs and outputs.
// ---------------------------------------------------------------------------
{
  const r = rng(99);
  const bits = (x) => {
    const dv = new DataView(new ArrayBuffer(8));
    dv.setFloat64(0, x);
    return dv.getBigUint64(0).toString(16).padStart(16, "0");
  };
  const xs = [0, -0, 1, -1, 0.5, 709.78, 709.79, -745.1, -745.2, 1e-300, -1e-300, 2 ** -29, 0.34657359, 1.0397, 40, -40];
  for (let i = 0; i < 4000; i++) xs.push((r() - 0.5) * 80);
  for (let i = 0; i < 1000; i++) xs.push((r() - 0.5) * 1500);
  writeText("math_exp.txt", xs.map((x) => `${bits(x)} ${bits(Math.exp(x))}`).join("\n") + "\n");
}

console.log(`wrote golden fixtures to ${outDir}`);
