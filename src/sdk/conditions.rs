//! Policy conditions as the reference SDK evaluates them (`@traffical/core` 0.12
//! `resolution/conditions.ts`), compiled once: dot paths split, relational operands
//! converted with `ToNumber`, regular expressions built with ECMAScript semantics
//! (no flags, matched over UTF-16 code units as `RegExp.prototype.test` does).

use serde_json::{Map, Value};

use super::js::{self, JsRef};
use super::model::{Condition, ConditionOp};

/// A condition ready to evaluate.
#[derive(Debug)]
pub struct CompiledCondition {
    path: Vec<String>,
    op: ConditionOp,
    value: Option<Value>,
    values: Option<Vec<Value>>,
    /// `ToNumber(value)` for `gt`, `gte`, `lt`, `lte` (NaN: never true).
    number: f64,
    /// `new RegExp(value)`; `None` when the operand is not a string or the pattern
    /// does not compile (the SDK's try/catch then returns false).
    regex: Option<regress::Regex>,
}

impl CompiledCondition {
    /// Compiles one condition.
    #[must_use]
    pub fn new(c: &Condition) -> Self {
        let regex = match (&c.op, &c.value) {
            (ConditionOp::Regex, Some(Value::String(p))) => regress::Regex::new(p).ok(),
            _ => None,
        };
        Self {
            path: c.field.split('.').map(str::to_owned).collect(),
            op: c.op,
            value: c.value.clone(),
            values: c.values.clone(),
            number: js::to_number(c.value.as_ref()),
            regex,
        }
    }

    fn lookup<'a>(&self, ctx: &'a Map<String, Value>) -> JsRef<'a> {
        let mut parts = self.path.iter();
        let mut cur = js::object_get(ctx, parts.next().map_or("", String::as_str));
        for p in parts {
            if cur.is_nullish() {
                return JsRef::Undefined;
            }
            cur = cur.get(p);
        }
        cur
    }

    /// Whether the condition holds for `ctx`.
    #[must_use]
    pub fn matches(&self, ctx: &Map<String, Value>) -> bool {
        let v = self.lookup(ctx);
        let operand = self.value.as_ref();
        let text = |f: &dyn Fn(&str, &str) -> bool| match (v.as_str(), operand) {
            (Some(s), Some(Value::String(o))) => f(s, o),
            _ => false,
        };
        match self.op {
            ConditionOp::Eq => v.strict_equals(operand),
            ConditionOp::Neq => !v.strict_equals(operand),
            // Array.prototype.includes (SameValueZero: === for JSON values).
            ConditionOp::In => self
                .values
                .as_ref()
                .is_some_and(|vs| vs.iter().any(|x| v.strict_equals(Some(x)))),
            ConditionOp::Nin => self
                .values
                .as_ref()
                .is_none_or(|vs| !vs.iter().any(|x| v.strict_equals(Some(x)))),
            ConditionOp::Gt => v.as_number().is_some_and(|c| c > self.number),
            ConditionOp::Gte => v.as_number().is_some_and(|c| c >= self.number),
            ConditionOp::Lt => v.as_number().is_some_and(|c| c < self.number),
            ConditionOp::Lte => v.as_number().is_some_and(|c| c <= self.number),
            // Substring tests agree between UTF-8 and UTF-16 for well-formed text.
            ConditionOp::Contains => text(&|s, o| s.contains(o)),
            ConditionOp::StartsWith => text(&|s, o| s.starts_with(o)),
            ConditionOp::EndsWith => text(&|s, o| s.ends_with(o)),
            ConditionOp::Regex => match (v.as_str(), &self.regex) {
                (Some(s), Some(re)) => regex_test(re, s),
                _ => false,
            },
            ConditionOp::Exists => !v.is_nullish(),
            ConditionOp::NotExists => v.is_nullish(),
            ConditionOp::Unknown => false,
        }
    }
}

/// `RegExp.prototype.test` without flags: the subject is a sequence of UTF-16 code
/// units (so `.` matches half of a surrogate pair). ASCII subjects take the byte
/// matcher, which is equivalent there.
#[must_use]
pub fn regex_test(re: &regress::Regex, s: &str) -> bool {
    if s.is_ascii() {
        return re.find_ascii(s).is_some();
    }
    let units: Vec<u16> = s.encode_utf16().collect();
    re.find_from_ucs2(&units, 0).next().is_some()
}

/// One condition, compiled on the fly (prefer [`CompiledCondition`] in loops).
#[must_use]
pub fn evaluate_condition(c: &Condition, ctx: &Map<String, Value>) -> bool {
    CompiledCondition::new(c).matches(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cond(field: &str, op: ConditionOp, value: Option<Value>) -> Condition {
        Condition {
            field: field.into(),
            op,
            value,
            values: None,
        }
    }

    #[test]
    fn javascript_regular_expressions() {
        let ctx: Map<String, Value> = serde_json::from_str(
            r#"{"rocket": "🚀", "nbsp": "\u00a0", "line": "abc\n", "brace": "a{"}"#,
        )
        .unwrap();
        let t = |field: &str, p: &str| {
            evaluate_condition(&cond(field, ConditionOp::Regex, Some(json!(p))), &ctx)
        };
        // Without the u flag a surrogate pair is two characters.
        assert!(!t("rocket", "^.$"));
        assert!(t("rocket", "^..$"));
        // \s includes U+00A0; $ does not match before a final newline.
        assert!(t("nbsp", r"^\s$"));
        assert!(!t("line", "c$"));
        assert!(t("line", "^[^]+$"));
        // Annex B: a lone brace is a literal, \p without u is the letter p.
        assert!(t("brace", "a{"));
        assert!(!t("brace", "("));
    }

    #[test]
    fn relational_operators_convert_the_operand_like_javascript() {
        let ctx: Map<String, Value> = serde_json::from_str(r#"{"n": 5, "s": "9"}"#).unwrap();
        let t = |field: &str, op, v: Option<Value>| evaluate_condition(&cond(field, op, v), &ctx);
        assert!(t("n", ConditionOp::Gt, Some(json!("3"))));
        assert!(t("n", ConditionOp::Gt, Some(json!(""))));
        assert!(t("n", ConditionOp::Gt, Some(Value::Null)));
        assert!(t("n", ConditionOp::Lt, Some(json!("0x10"))));
        assert!(t("n", ConditionOp::Gt, Some(json!([4]))));
        assert!(!t("n", ConditionOp::Gt, None));
        assert!(!t("n", ConditionOp::Gt, Some(json!("abc"))));
        // The context value must be a number: "9" > 3 is not considered.
        assert!(!t("s", ConditionOp::Gt, Some(json!(3))));
    }

    #[test]
    fn null_and_absent_operands_differ() {
        let ctx: Map<String, Value> = serde_json::from_str(r#"{"z": null}"#).unwrap();
        let with_null: Condition =
            serde_json::from_value(json!({"field": "z", "op": "eq", "value": null})).unwrap();
        let without: Condition =
            serde_json::from_value(json!({"field": "missing", "op": "eq"})).unwrap();
        let null_vs_missing: Condition =
            serde_json::from_value(json!({"field": "missing", "op": "eq", "value": null})).unwrap();
        assert!(evaluate_condition(&with_null, &ctx));
        assert!(evaluate_condition(&without, &ctx));
        assert!(!evaluate_condition(&null_vs_missing, &ctx));
        let unknown: Condition =
            serde_json::from_value(json!({"field": "z", "op": "like", "value": 1})).unwrap();
        assert_eq!(unknown.op, ConditionOp::Unknown);
        assert!(!evaluate_condition(&unknown, &ctx));
    }
}
