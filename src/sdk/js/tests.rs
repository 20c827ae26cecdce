use super::*;
use serde_json::json;

#[test]
fn numbers_print_as_javascript_string_does() {
    // Node 20: String(x) for each.
    for (x, s) in [
        (1.0, "1"),
        (-0.0, "0"),
        (0.1, "0.1"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (123_456_789_012_345_680_000.0, "123456789012345680000"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (0.000_001, "0.000001"),
        (-42.5, "-42.5"),
        (5e-324, "5e-324"),
        (f64::MAX, "1.7976931348623157e+308"),
        (2.5, "2.5"),
        (1.234_5e25, "1.2345e+25"),
    ] {
        assert_eq!(number_to_string(x), s, "{x:e}");
    }
}

#[test]
fn string_of_json_values_follows_javascript() {
    let v: Value =
        serde_json::from_str(r#"[1.0, true, null, [1, [2, null]], {"a": 1}, "x"]"#).unwrap();
    let a = v.as_array().unwrap();
    assert_eq!(to_string(&a[0]), "1");
    assert_eq!(to_string(&a[1]), "true");
    assert_eq!(to_string(&a[3]), "1,2,");
    assert_eq!(to_string(&a[4]), "[object Object]");
    assert_eq!(to_string(&a[5]), "x");
    assert_eq!(to_string(&v), "1,true,,1,2,,[object Object],x");
}

#[test]
fn numeric_strings_follow_string_to_number() {
    assert_eq!(string_to_number(""), 0.0);
    assert_eq!(string_to_number(" \u{a0}12\n"), 12.0);
    assert_eq!(string_to_number("0x10"), 16.0);
    assert_eq!(string_to_number("0b101"), 5.0);
    assert_eq!(string_to_number("1e3"), 1000.0);
    assert_eq!(string_to_number(".5"), 0.5);
    assert_eq!(string_to_number("5."), 5.0);
    assert_eq!(string_to_number("-Infinity"), f64::NEG_INFINITY);
    for bad in [
        "abc", ".", "1e", "inf", "NaN", "-0x10", "1_000", "infinity", "1 2",
    ] {
        assert!(string_to_number(bad).is_nan(), "{bad}");
    }
    assert_eq!(to_number(Some(&json!([7]))), 7.0);
    assert_eq!(to_number(Some(&json!([]))), 0.0);
    assert!(to_number(Some(&json!([1, 2]))).is_nan());
    assert!(to_number(Some(&json!({}))).is_nan());
    assert!(to_number(None).is_nan());
    assert_eq!(to_number(Some(&Value::Null)), 0.0);
}

#[test]
fn paths_index_objects_and_arrays_like_javascript() {
    let ctx: Map<String, Value> =
        serde_json::from_str(r#"{"o": {"x": 5}, "a": ["p", "q"], "s": "abc", "z": null}"#).unwrap();
    assert_eq!(get_path(&ctx, "o.x"), JsRef::Json(&json!(5)));
    assert_eq!(get_path(&ctx, "a.1"), JsRef::Json(&json!("q")));
    assert_eq!(get_path(&ctx, "a.01"), JsRef::Undefined);
    assert_eq!(get_path(&ctx, "a.length").as_number(), Some(2.0));
    assert_eq!(get_path(&ctx, "s.length"), JsRef::Undefined);
    assert_eq!(get_path(&ctx, "z.x"), JsRef::Undefined);
    assert_eq!(get_path(&ctx, "missing.x"), JsRef::Undefined);
    assert!(!get_path(&ctx, "constructor").is_nullish());
    assert!(get_path(&ctx, "o.toString").as_str().is_none());
}

#[test]
fn strict_equality_is_javascripts() {
    let one = json!(1);
    let one_f: Value = serde_json::from_str("1.0").unwrap();
    assert!(JsRef::Json(&one_f).strict_equals(Some(&one)));
    assert!(!JsRef::Json(&json!("1")).strict_equals(Some(&one)));
    assert!(JsRef::Undefined.strict_equals(None));
    assert!(!JsRef::Undefined.strict_equals(Some(&Value::Null)));
    assert!(!JsRef::Json(&json!({})).strict_equals(Some(&json!({}))));
    assert!(JsRef::Json(&json!(-0.0)).strict_equals(Some(&json!(0))));
}

#[test]
fn exp_near_underflow_is_within_two_subnormal_units() {
    for x in [-709.9749778072095, -708.5, -740.0, -744.4] {
        let (a, b) = (exp(x), x.exp());
        assert!(
            (a - b).abs() <= 2.0 * f64::from_bits(1),
            "exp({x}) = {a}, std {b}"
        );
    }
}

proptest::proptest! {
    #[test]
    fn number_strings_round_trip_and_never_panic(bits in proptest::num::u64::ANY) {
        let x = f64::from_bits(bits);
        let s = number_to_string(x);
        if x.is_finite() {
            // ECMAScript's StringToNumber reads Number::toString back exactly.
            proptest::prop_assert_eq!(string_to_number(&s), if x == 0.0 { 0.0 } else { x });
            proptest::prop_assert_eq!(s.parse::<f64>().ok(), Some(if x == 0.0 { 0.0 } else { x }));
        }
    }

    #[test]
    fn string_to_number_never_panics(s in ".{0,24}") {
        let _ = string_to_number(&s);
    }

    #[test]
    fn paths_never_panic(path in "[a-z0-9_.]{0,12}") {
        let ctx: Map<String, Value> = serde_json::from_str(
            r#"{"a": {"b": [1, {"c": null}]}, "s": "x", "0": [[]]}"#,
        )
        .unwrap();
        let _ = get_path(&ctx, &path);
    }

    #[test]
    fn exp_is_close_to_the_platform_exp(x in -745.0f64..709.0) {
        let (a, b) = (exp(x), x.exp());
        // Relative 2 ε, or two units of the smallest subnormal where the result
        // is subnormal (x < −708.4) and relative precision runs out.
        let tol = 2.0 * f64::EPSILON * b.abs() + 2.0 * f64::from_bits(1);
        proptest::prop_assert!((a - b).abs() <= tol, "exp({x}) = {a}, std {b}");
    }
}

#[test]
fn exp_matches_v8_bit_for_bit() {
    // Pairs of bit patterns (x, Math.exp(x)) written by Node 20 (V8 11.3):
    // scripts/sdk-golden/generate.mjs, tests/fixtures/sdk-sha256/math_exp.txt.
    let text = include_str!("../../../tests/fixtures/sdk-sha256/math_exp.txt");
    let mut n = 0;
    let mut bad = Vec::new();
    for line in text.lines() {
        let (x, y) = line.split_once(' ').unwrap();
        let x = f64::from_bits(u64::from_str_radix(x, 16).unwrap());
        let y = u64::from_str_radix(y, 16).unwrap();
        if exp(x).to_bits() != y {
            bad.push(format!(
                "exp({x:e}) = {:e}, V8 {:e}",
                exp(x),
                f64::from_bits(y)
            ));
        }
        n += 1;
    }
    assert!(
        bad.is_empty(),
        "{} of {n}: {:?}",
        bad.len(),
        &bad[..bad.len().min(40)]
    );
    assert!(n > 5000);
}
