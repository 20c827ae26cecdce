//! The structural rules of the platform's `config-bundle.schema.json` (draft 7),
//! checked in Rust so publishing needs no schema file at run time: required fields,
//! JSON types, enums, `bucketCount ≥ 1`, two-integer `bucketRange`s, `date-time`
//! strings, and the `contextualModel` shape (`gamma ≥ 0`,
//! `0 ≤ actionProbabilityFloor ≤ 1`, numeric coefficients). The test suite checks the
//! same bundles against the real schema with the `jsonschema` crate.
//!
//! Fields the schema does not describe (`entityState`, `eligibleBucketRange`, ...) are
//! allowed, as the schema allows additional properties.

use serde_json::Value;

use crate::time::parse_rfc3339;

/// One violation: JSON path (`layers[0].policies[1].allocations[2].bucketRange`)
/// and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaViolation {
    /// Where.
    pub path: String,
    /// What.
    pub reason: String,
}

struct Checker {
    out: Vec<SchemaViolation>,
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl Checker {
    fn fail(&mut self, path: &str, reason: impl Into<String>) {
        self.out.push(SchemaViolation {
            path: path.to_owned(),
            reason: reason.into(),
        });
    }

    /// The object at `path`, after checking `required` keys; `None` if not an object.
    fn object<'v>(
        &mut self,
        v: &'v Value,
        path: &str,
        required: &[&str],
    ) -> Option<&'v serde_json::Map<String, Value>> {
        let Some(o) = v.as_object() else {
            self.fail(path, format!("expected an object, found {}", kind(v)));
            return None;
        };
        for key in required {
            if !o.contains_key(*key) {
                self.fail(path, format!("required property \"{key}\" is missing"));
            }
        }
        Some(o)
    }

    fn string(
        &mut self,
        o: &serde_json::Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Option<String> {
        match o.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) => {
                self.fail(
                    &format!("{path}.{key}"),
                    format!("expected a string, found {}", kind(v)),
                );
                None
            }
            None => None,
        }
    }

    fn enumerated(
        &mut self,
        o: &serde_json::Map<String, Value>,
        key: &str,
        path: &str,
        allowed: &[&str],
    ) {
        if let Some(s) = self.string(o, key, path) {
            if !allowed.contains(&s.as_str()) {
                self.fail(
                    &format!("{path}.{key}"),
                    format!("\"{s}\" is not one of {}", allowed.join(", ")),
                );
            }
        }
    }

    fn date_time(&mut self, o: &serde_json::Map<String, Value>, key: &str, path: &str) {
        if let Some(s) = self.string(o, key, path) {
            if parse_rfc3339(&s).is_none() {
                self.fail(
                    &format!("{path}.{key}"),
                    format!("\"{s}\" is not an RFC 3339 date-time"),
                );
            }
        }
    }

    fn number(
        &mut self,
        o: &serde_json::Map<String, Value>,
        key: &str,
        path: &str,
        min: Option<f64>,
        max: Option<f64>,
    ) {
        match o.get(key) {
            Some(Value::Number(n)) => {
                let x = n.as_f64().unwrap_or(f64::NAN);
                if !x.is_finite() || min.is_some_and(|m| x < m) || max.is_some_and(|m| x > m) {
                    self.fail(
                        &format!("{path}.{key}"),
                        format!(
                            "{n} is outside [{}, {}]",
                            min.map_or("-inf".into(), |m| m.to_string()),
                            max.map_or("inf".into(), |m| m.to_string())
                        ),
                    );
                }
            }
            Some(v) => self.fail(
                &format!("{path}.{key}"),
                format!("expected a number, found {}", kind(v)),
            ),
            None => {}
        }
    }

    fn array<'v>(
        &mut self,
        o: &'v serde_json::Map<String, Value>,
        key: &str,
        path: &str,
    ) -> &'v [Value] {
        match o.get(key) {
            Some(Value::Array(a)) => a,
            Some(v) => {
                self.fail(
                    &format!("{path}.{key}"),
                    format!("expected an array, found {}", kind(v)),
                );
                &[]
            }
            None => &[],
        }
    }

    fn bundle(&mut self, v: &Value) {
        let Some(o) = self.object(
            v,
            "bundle",
            &[
                "version",
                "orgId",
                "projectId",
                "env",
                "hashing",
                "parameters",
                "layers",
            ],
        ) else {
            return;
        };
        self.date_time(o, "version", "");
        for key in ["orgId", "projectId", "env"] {
            self.string(o, key, "");
        }
        if let Some(h) = o.get("hashing") {
            if let Some(h) = self.object(h, "hashing", &["unitKey", "bucketCount"]) {
                self.string(h, "unitKey", "hashing");
                match h.get("bucketCount") {
                    Some(Value::Number(n)) if n.as_u64().is_some_and(|c| c >= 1) => {}
                    Some(v) => self.fail(
                        "hashing.bucketCount",
                        format!("expected an integer ≥ 1, found {v}"),
                    ),
                    None => {}
                }
            }
        }
        for (i, p) in self.array(o, "parameters", "").iter().enumerate() {
            let at = format!("parameters[{i}]");
            if let Some(p) =
                self.object(p, &at, &["key", "type", "default", "layerId", "namespace"])
            {
                for key in ["key", "layerId", "namespace"] {
                    self.string(p, key, &at);
                }
                self.enumerated(p, "type", &at, &["string", "number", "boolean", "json"]);
            }
        }
        for (li, l) in self.array(o, "layers", "").iter().enumerate() {
            let at = format!("layers[{li}]");
            let Some(l) = self.object(l, &at, &["id", "policies"]) else {
                continue;
            };
            self.string(l, "id", &at);
            for (pi, p) in self.array(l, "policies", &at).iter().enumerate() {
                self.policy(p, &format!("{at}.policies[{pi}]"));
            }
        }
    }

    fn policy(&mut self, v: &Value, at: &str) {
        let Some(p) = self.object(v, at, &["id", "state", "kind", "allocations", "conditions"])
        else {
            return;
        };
        self.string(p, "id", at);
        self.enumerated(p, "state", at, &["draft", "running", "paused", "completed"]);
        self.enumerated(p, "kind", at, &["static", "adaptive"]);
        if p.contains_key("stateVersion") {
            self.date_time(p, "stateVersion", at);
        }
        for (ai, a) in self.array(p, "allocations", at).iter().enumerate() {
            let aat = format!("{at}.allocations[{ai}]");
            let Some(a) = self.object(a, &aat, &["name", "bucketRange", "overrides"]) else {
                continue;
            };
            self.string(a, "name", &aat);
            match a.get("bucketRange") {
                Some(Value::Array(r))
                    if r.len() == 2 && r.iter().all(|x| x.is_i64() || x.is_u64()) => {}
                Some(v) => self.fail(
                    &format!("{aat}.bucketRange"),
                    format!("expected two integers, found {v}"),
                ),
                None => {}
            }
            if let Some(o) = a.get("overrides") {
                self.object(o, &format!("{aat}.overrides"), &[]);
            }
        }
        const OPS: [&str; 14] = [
            "eq",
            "neq",
            "in",
            "nin",
            "gt",
            "gte",
            "lt",
            "lte",
            "contains",
            "startsWith",
            "endsWith",
            "regex",
            "exists",
            "notExists",
        ];
        for (ci, c) in self.array(p, "conditions", at).iter().enumerate() {
            let cat = format!("{at}.conditions[{ci}]");
            if let Some(c) = self.object(c, &cat, &["field", "op"]) {
                self.string(c, "field", &cat);
                self.enumerated(c, "op", &cat, &OPS);
                self.array(c, "values", &cat);
            }
        }
        if let Some(cl) = p.get("contextLogging") {
            let cat = format!("{at}.contextLogging");
            if let Some(cl) = self.object(cl, &cat, &["allowedFields"]) {
                for (i, f) in self.array(cl, "allowedFields", &cat).iter().enumerate() {
                    if !f.is_string() {
                        self.fail(
                            &format!("{cat}.allowedFields[{i}]"),
                            format!("expected a string, found {}", kind(f)),
                        );
                    }
                }
            }
        }
        if let Some(m) = p.get("contextualModel") {
            self.model(m, &format!("{at}.contextualModel"));
        }
    }

    fn model(&mut self, v: &Value, at: &str) {
        let Some(m) = self.object(
            v,
            at,
            &[
                "gamma",
                "actionProbabilityFloor",
                "defaultAllocationScore",
                "coefficients",
            ],
        ) else {
            return;
        };
        self.number(m, "gamma", at, Some(0.0), None);
        self.number(m, "actionProbabilityFloor", at, Some(0.0), Some(1.0));
        self.number(m, "defaultAllocationScore", at, None, None);
        let Some(coefs) = m.get("coefficients") else {
            return;
        };
        let cat = format!("{at}.coefficients");
        let Some(coefs) = self.object(coefs, &cat, &[]) else {
            return;
        };
        for (name, c) in coefs {
            let nat = format!("{cat}.{name}");
            let Some(c) = self.object(c, &nat, &["intercept", "numeric", "categorical"]) else {
                continue;
            };
            self.number(c, "intercept", &nat, None, None);
            for (i, f) in self.array(c, "numeric", &nat).iter().enumerate() {
                let fat = format!("{nat}.numeric[{i}]");
                if let Some(f) = self.object(f, &fat, &["key", "coef", "missing"]) {
                    self.string(f, "key", &fat);
                    self.number(f, "coef", &fat, None, None);
                    self.number(f, "missing", &fat, None, None);
                }
            }
            for (i, f) in self.array(c, "categorical", &nat).iter().enumerate() {
                let fat = format!("{nat}.categorical[{i}]");
                if let Some(f) = self.object(f, &fat, &["key", "values", "missing"]) {
                    self.string(f, "key", &fat);
                    self.number(f, "missing", &fat, None, None);
                    if let Some(values) = f.get("values") {
                        let vat = format!("{fat}.values");
                        if let Some(values) = self.object(values, &vat, &[]) {
                            for (k, x) in values {
                                if !x.is_number() {
                                    self.fail(
                                        &format!("{vat}.{k}"),
                                        format!("expected a number, found {}", kind(x)),
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Every violation of the bundle schema's rules in `bundle`, in document order.
#[must_use]
pub fn schema_violations(bundle: &Value) -> Vec<SchemaViolation> {
    let mut c = Checker { out: Vec::new() };
    c.bundle(bundle);
    for v in &mut c.out {
        if let Some(rest) = v.path.strip_prefix('.') {
            v.path = rest.to_owned();
        }
        if v.path.is_empty() {
            v.path = "bundle".into();
        }
    }
    c.out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn minimal() -> Value {
        json!({
            "version": "2026-11-20T00:00:00.000Z", "orgId": "o", "projectId": "p", "env": "e",
            "hashing": {"unitKey": "userId", "bucketCount": 100},
            "parameters": [{"key": "k", "type": "number", "default": 0, "layerId": "l", "namespace": "n"}],
            "layers": [{"id": "l", "policies": [{"id": "p", "state": "running", "kind": "adaptive",
                "conditions": [{"field": "f", "op": "eq", "value": 1}],
                "allocations": [{"name": "a", "bucketRange": [0, 99], "overrides": {}}],
                "contextualModel": {"gamma": 1, "actionProbabilityFloor": 0.1, "defaultAllocationScore": 0,
                    "coefficients": {"a": {"intercept": 0.5, "numeric": [{"key": "x", "coef": 1, "missing": 0}],
                        "categorical": [{"key": "c", "values": {"us": 1}, "missing": 0}]}}}}]}]
        })
    }

    #[test]
    fn a_valid_bundle_has_no_violations() {
        assert_eq!(schema_violations(&minimal()), vec![]);
    }

    #[test]
    fn violations_name_the_json_path() {
        let mut b = minimal();
        b["version"] = json!("yesterday");
        b["hashing"]["bucketCount"] = json!(0);
        b["layers"][0]["policies"][0]["allocations"][0]["bucketRange"] = json!([0, 1.5]);
        b["layers"][0]["policies"][0]["conditions"][0]["op"] = json!("like");
        let m = &mut b["layers"][0]["policies"][0]["contextualModel"];
        m["actionProbabilityFloor"] = json!(2);
        m["coefficients"]["a"]["numeric"][0]["coef"] = Value::Null;
        m["coefficients"]["a"]["categorical"][0]["values"]["us"] = json!("1");
        b.as_object_mut().unwrap().remove("env");
        let got: Vec<String> = schema_violations(&b)
            .into_iter()
            .map(|v| format!("{}: {}", v.path, v.reason))
            .collect();
        assert_eq!(
            got,
            vec![
                "bundle: required property \"env\" is missing",
                "version: \"yesterday\" is not an RFC 3339 date-time",
                "hashing.bucketCount: expected an integer ≥ 1, found 0",
                "layers[0].policies[0].allocations[0].bucketRange: expected two integers, found [0,1.5]",
                "layers[0].policies[0].conditions[0].op: \"like\" is not one of eq, neq, in, nin, gt, gte, lt, lte, contains, startsWith, endsWith, regex, exists, notExists",
                "layers[0].policies[0].contextualModel.actionProbabilityFloor: 2 is outside [0, 1]",
                "layers[0].policies[0].contextualModel.coefficients.a.numeric[0].coef: expected a number, found null",
                "layers[0].policies[0].contextualModel.coefficients.a.categorical[0].values.us: expected a number, found string",
            ]
        );
    }
}
