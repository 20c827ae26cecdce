-- bandit-engine sql --dialect spark: per-allocation statistics of datasets/demo/.traffical/config.yaml
-- (docs/warehouse.md). Its result, as csv or parquet, goes to
-- `bandit-engine retrain --statistics FILE` with the same config, bundle, state and --as-of.
-- policy_checkout_cta: goal purchase (ConversionRate), Decision attribution, units first exposed after - through -
-- policy_discount: goal purchase (ConversionRate), Cumulative attribution, units first exposed after - through -
WITH
bx AS (
  SELECT kind, unit_key, session_id, decision_id, layer_id, policy_id, allocation_name,
    COALESCE(attribution_only, FALSE) AS attribution_only, unix_millis(ts) AS ts
  FROM `exposures`
),
bt AS (
  SELECT event_id, event, unit_key, session_id, decision_id, value, unix_millis(ts) AS ts,
    COALESCE(unix_millis(event_ts), unix_millis(ts)) AS event_ts
  FROM `tracks`
),
kd AS (
  SELECT DISTINCT decision_id FROM bx WHERE decision_id IS NOT NULL
),
p0_g0 AS (
  SELECT unit_key, session_id, decision_id, event_ts, value, event_id,
    ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ts, event_ts, value) AS dup
  FROM bt WHERE event = 'purchase'
),
p0_g AS (
  SELECT g.unit_key AS tu,
    ROW_NUMBER() OVER (PARTITION BY g.unit_key ORDER BY g.event_ts, g.event_id, g.decision_id, g.session_id, g.value) AS tn,
    g.session_id, g.decision_id, g.event_ts, CAST(COALESCE(g.value, 0) AS DOUBLE) AS value,
    CASE WHEN kd.decision_id IS NULL THEN 0 ELSE 1 END AS known
  FROM p0_g0 g LEFT JOIN kd ON kd.decision_id = g.decision_id
  WHERE g.event_id IS NULL OR g.dup = 1
),
p0_de AS (
  SELECT decision_id, allocation_name, MIN(unit_key) AS unit_key, MIN(ts) AS exposed_at
  FROM bx WHERE kind = 'exposure' AND policy_id = 'policy_checkout_cta' AND allocation_name IS NOT NULL AND attribution_only = FALSE AND decision_id IS NOT NULL
  GROUP BY decision_id, allocation_name
),
p0_t AS (
  SELECT g.tu, g.tn, x.allocation_name, x.exposed_at, g.event_ts, g.value, 1 AS linked, x.unit_key AS ukey, x.decision_id AS decision_id
  FROM p0_g g JOIN p0_de x ON x.decision_id = g.decision_id WHERE g.known = 1
  UNION ALL
  SELECT g.tu, g.tn, x.allocation_name, x.exposed_at, g.event_ts, g.value, 0 AS linked, x.unit_key AS ukey, x.decision_id AS decision_id
  FROM p0_g g JOIN p0_de x ON x.unit_key = g.tu WHERE g.known = 0
),
p0_ti AS (
  SELECT t.*, MAX(linked) OVER (PARTITION BY tu, tn) AS top
  FROM p0_t t WHERE exposed_at <= event_ts + 0
),
p0_k AS (
  SELECT * FROM p0_ti WHERE linked = top
),
p0_w_1 AS (
  SELECT k.*, CASE WHEN exposed_at = MAX(exposed_at) OVER (PARTITION BY tu, tn) THEN 1 ELSE 0 END AS is_end FROM p0_k k
),
p0_w AS (
  SELECT k.*, CASE WHEN is_end = 1 THEN CAST(1 AS DOUBLE) / SUM(is_end) OVER (PARTITION BY tu, tn) ELSE 0 END AS weight FROM p0_w_1 k
),
p0_c AS (
  SELECT tu, tn, allocation_name, decision_id, MIN(ukey) AS ukey, MIN(value) AS value, SUM(weight) AS weight
  FROM p0_w GROUP BY tu, tn, allocation_name, decision_id
),
p0_e AS (
  SELECT allocation_name, decision_id, SUM(weight) AS goal_events, SUM(weight * value) AS goal_value
  FROM p0_c GROUP BY allocation_name, decision_id
),
p0_u AS (
  SELECT allocation_name, decision_id, exposed_at FROM p0_de
),
p0_s AS (
  SELECT u.allocation_name, u.exposed_at,
    COALESCE(e.goal_events, 0) AS goal_events, COALESCE(e.goal_value, 0) AS goal_value
  FROM p0_u u LEFT JOIN p0_e e ON e.allocation_name = u.allocation_name AND e.decision_id = u.decision_id
),
p0_r0 AS (
  SELECT allocation_name, exposed_at, goal_events, CASE WHEN goal_events > 0 THEN CAST(1 AS DOUBLE) ELSE CAST(0 AS DOUBLE) END AS reward FROM p0_s
),
p0_r AS (
  SELECT allocation_name, exposed_at, goal_events, reward AS reward FROM p0_r0
),
p1_g0 AS (
  SELECT unit_key, session_id, decision_id, event_ts, value, event_id,
    ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ts, event_ts, value) AS dup
  FROM bt WHERE event = 'purchase'
),
p1_g AS (
  SELECT g.unit_key AS tu,
    ROW_NUMBER() OVER (PARTITION BY g.unit_key ORDER BY g.event_ts, g.event_id, g.decision_id, g.session_id, g.value) AS tn,
    g.session_id, g.decision_id, g.event_ts, CAST(COALESCE(g.value, 0) AS DOUBLE) AS value,
    CASE WHEN kd.decision_id IS NULL THEN 0 ELSE 1 END AS known
  FROM p1_g0 g LEFT JOIN kd ON kd.decision_id = g.decision_id
  WHERE g.event_id IS NULL OR g.dup = 1
),
p1_de AS (
  SELECT decision_id, allocation_name, MIN(unit_key) AS unit_key, MIN(ts) AS exposed_at
  FROM bx WHERE kind = 'exposure' AND policy_id = 'policy_discount' AND allocation_name IS NOT NULL AND attribution_only = FALSE AND decision_id IS NOT NULL
  GROUP BY decision_id, allocation_name
),
p1_sx1 AS (
  SELECT x.*, CASE WHEN session_id IS NULL AND (ts - LAG(ts) OVER (PARTITION BY unit_key, CASE WHEN session_id IS NULL THEN 1 ELSE 0 END ORDER BY ts) <= 1800000) THEN 0 ELSE 1 END AS fresh FROM bx x
),
p1_sx AS (
  SELECT x.*, CASE WHEN session_id IS NOT NULL THEN 's' || session_id
    ELSE 'g' || CAST(SUM(fresh) OVER (PARTITION BY unit_key, CASE WHEN session_id IS NULL THEN 1 ELSE 0 END ORDER BY ts) AS STRING) END AS sess
  FROM p1_sx1 x
),
p1_d AS (
  SELECT unit_key, sess, layer_id, allocation_name, MIN(ts) AS exposed_at
  FROM p1_sx WHERE kind = 'exposure' AND policy_id = 'policy_discount' AND allocation_name IS NOT NULL AND attribution_only = FALSE
  GROUP BY unit_key, sess, layer_id, allocation_name
),
p1_gl AS (
  SELECT tu, tn, sess FROM (
    SELECT g.tu, g.tn, x.sess, g.event_ts - x.ts AS age,
      ROW_NUMBER() OVER (PARTITION BY g.tu, g.tn ORDER BY x.ts DESC, x.sess DESC) AS rk
    FROM p1_g g JOIN p1_sx x ON x.unit_key = g.tu AND x.ts <= g.event_ts
    WHERE g.session_id IS NULL) l
  WHERE rk = 1 AND age <= 1800000
),
p1_gs AS (
  SELECT g.*, CASE WHEN g.session_id IS NOT NULL THEN 's' || g.session_id ELSE l.sess END AS sess
  FROM p1_g g LEFT JOIN p1_gl l ON l.tu = g.tu AND l.tn = g.tn
),
p1_t AS (
  SELECT g.tu, g.tn, x.allocation_name, x.exposed_at, g.event_ts, g.value, 1 AS linked, x.unit_key AS ukey
  FROM p1_gs g JOIN p1_de x ON x.decision_id = g.decision_id WHERE g.known = 1
  UNION ALL
  SELECT g.tu, g.tn, x.allocation_name, x.exposed_at, g.event_ts, g.value, 0 AS linked, g.tu AS ukey
  FROM p1_gs g JOIN p1_d x ON x.unit_key = g.tu AND x.sess = g.sess WHERE g.known = 1
  UNION ALL
  SELECT g.tu, g.tn, x.allocation_name, x.exposed_at, g.event_ts, g.value, 0 AS linked, g.tu AS ukey
  FROM p1_gs g JOIN p1_d x ON x.unit_key = g.tu WHERE g.known = 0
),
p1_ti AS (
  SELECT t.*, MAX(linked) OVER (PARTITION BY tu, tn) AS top
  FROM p1_t t WHERE exposed_at <= event_ts + 0
),
p1_k AS (
  SELECT * FROM p1_ti WHERE linked = top
),
p1_w_1 AS (
  SELECT k.*, CASE WHEN exposed_at = MAX(exposed_at) OVER (PARTITION BY tu, tn) THEN 1 ELSE 0 END AS is_end FROM p1_k k
),
p1_w AS (
  SELECT k.*, CASE WHEN is_end = 1 THEN CAST(1 AS DOUBLE) / SUM(is_end) OVER (PARTITION BY tu, tn) ELSE 0 END AS weight FROM p1_w_1 k
),
p1_c AS (
  SELECT tu, tn, allocation_name, MIN(ukey) AS ukey, MIN(value) AS value, SUM(weight) AS weight
  FROM p1_w GROUP BY tu, tn, allocation_name
),
p1_e AS (
  SELECT ukey, allocation_name, SUM(weight) AS goal_events, SUM(weight * value) AS goal_value
  FROM p1_c GROUP BY ukey, allocation_name
),
p1_u AS (
  SELECT unit_key, allocation_name, MIN(exposed_at) AS exposed_at FROM p1_d GROUP BY unit_key, allocation_name
),
p1_s AS (
  SELECT u.allocation_name, u.exposed_at,
    COALESCE(e.goal_events, 0) AS goal_events, COALESCE(e.goal_value, 0) AS goal_value
  FROM p1_u u LEFT JOIN p1_e e ON e.allocation_name = u.allocation_name AND e.ukey = u.unit_key
),
p1_r0 AS (
  SELECT allocation_name, exposed_at, goal_events, CASE WHEN goal_events > 0 THEN CAST(1 AS DOUBLE) ELSE CAST(0 AS DOUBLE) END AS reward FROM p1_s
),
p1_r AS (
  SELECT allocation_name, exposed_at, goal_events, reward AS reward FROM p1_r0
),
stats AS (
  SELECT CAST('policy_checkout_cta' AS STRING) AS policy_id, allocation_name, COUNT(*) AS units,
    SUM(CASE WHEN goal_events > 0 THEN 1 ELSE 0 END) AS conversions,
    SUM(reward) AS reward_sum, SUM(reward * reward) AS reward_sum_sq, MAX(exposed_at) AS last_exposed_at
  FROM p0_r WHERE reward IS NOT NULL GROUP BY allocation_name
UNION ALL
SELECT CAST('policy_discount' AS STRING) AS policy_id, allocation_name, COUNT(*) AS units,
    SUM(CASE WHEN goal_events > 0 THEN 1 ELSE 0 END) AS conversions,
    SUM(reward) AS reward_sum, SUM(reward * reward) AS reward_sum_sq, MAX(exposed_at) AS last_exposed_at
  FROM p1_r WHERE reward IS NOT NULL GROUP BY allocation_name
)
SELECT policy_id, allocation_name, units, conversions, reward_sum, reward_sum_sq, last_exposed_at
FROM stats
ORDER BY policy_id, allocation_name
