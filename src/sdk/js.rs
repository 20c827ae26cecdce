//! The few JavaScript semantics the reference SDK's resolution depends on, over JSON
//! values: `String(value)`, `ToNumber`, `===`, property lookup with dot paths
//! (`getNestedValue`), and `Math.exp` as V8 computes it.
//!
//! References: ECMA-262 (2024) §6.1.6.1.20 `Number::toString`, §7.1.4 `ToNumber`
//! and §7.1.4.1.1 `StringToNumber`, §7.2.15 `IsStrictlyEqual`, §23.1.3.36
//! `Array.prototype.toString`; V8 `src/base/ieee754.cc` (`exp`, from fdlibm
//! `e_exp.c`).

use std::borrow::Cow;

use serde_json::{Map, Value};

/// `Number::toString(x)` in radix 10: the shortest digits that round-trip, laid out
/// as ECMAScript does (`1e+21`, `1e-7`, `0.000001`, `-0` → `0`).
#[must_use]
pub fn number_to_string(x: f64) -> String {
    let mut s = String::new();
    write_number(&mut s, x);
    s
}

/// Appends `Number::toString(x)` to `out`.
pub fn write_number(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("NaN");
        return;
    }
    if x == 0.0 {
        out.push('0');
        return;
    }
    if x.is_infinite() {
        out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    if x < 0.0 {
        out.push('-');
    }
    // Rust's `{:e}` prints the shortest round-trip digits, as ECMAScript requires
    // (both pick the digits closest to x among the shortest when several exist).
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci
        .split_once('e')
        .expect("`{:e}` output always has an exponent");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let e: i32 = exp.parse().expect("`{:e}` exponent is an integer");
    let k = digits.len() as i32;
    let n = e + 1;
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if n > 0 { '+' } else { '-' });
        out.push_str(&(n - 1).abs().to_string());
    }
}

fn write_string(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, number_value(n)),
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            // Array.prototype.toString is join(","), with null and undefined as "".
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if !item.is_null() {
                    write_string(out, item);
                }
            }
        }
        Value::Object(_) => out.push_str("[object Object]"),
    }
}

/// `String(value)`: strings as they are, numbers as `Number::toString`, arrays
/// joined by commas, objects as `[object Object]`.
#[must_use]
pub fn to_string(v: &Value) -> Cow<'_, str> {
    match v {
        Value::String(s) => Cow::Borrowed(s),
        other => {
            let mut s = String::new();
            write_string(&mut s, other);
            Cow::Owned(s)
        }
    }
}

/// The number a JSON number denotes in JavaScript (the nearest double).
#[must_use]
pub fn number_value(n: &serde_json::Number) -> f64 {
    n.as_f64().unwrap_or(f64::NAN)
}

/// ECMAScript white space and line terminators, which `StringToNumber` trims.
fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\u{9}' | '\u{a}' | '\u{b}' | '\u{c}' | '\u{d}' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

/// `StringToNumber`: the grammar of ECMAScript numeric strings (`""` is 0, hex, octal
/// and binary literals, `Infinity`), NaN for anything else.
#[must_use]
pub fn string_to_number(s: &str) -> f64 {
    let t = s.trim_matches(is_js_space);
    if t.is_empty() {
        return 0.0;
    }
    let b = t.as_bytes();
    if b.len() > 2 && b[0] == b'0' {
        let radix = match b[1] {
            b'x' | b'X' => 16,
            b'o' | b'O' => 8,
            b'b' | b'B' => 2,
            _ => 0,
        };
        if radix != 0 {
            let mut v = 0.0f64;
            for &c in &b[2..] {
                let Some(d) = (c as char).to_digit(radix) else {
                    return f64::NAN;
                };
                v = v * f64::from(radix) + f64::from(d);
            }
            return v;
        }
    }
    let (sign, body) = match b[0] {
        b'+' => (1.0, &t[1..]),
        b'-' => (-1.0, &t[1..]),
        _ => (1.0, t),
    };
    if body == "Infinity" {
        return sign * f64::INFINITY;
    }
    // StrUnsignedDecimalLiteral: digits [. digits] [exp] | . digits [exp].
    let bb = body.as_bytes();
    let mut i = 0;
    let int_start = i;
    while i < bb.len() && bb[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < bb.len() && bb[i] == b'.' {
        i += 1;
        let f = i;
        while i < bb.len() && bb[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - f;
    }
    if digits == 0 {
        return f64::NAN;
    }
    if i < bb.len() && (bb[i] == b'e' || bb[i] == b'E') {
        i += 1;
        if i < bb.len() && (bb[i] == b'+' || bb[i] == b'-') {
            i += 1;
        }
        let e = i;
        while i < bb.len() && bb[i].is_ascii_digit() {
            i += 1;
        }
        if i == e {
            return f64::NAN;
        }
    }
    if i != bb.len() {
        return f64::NAN;
    }
    // The grammar is checked; Rust's parser rounds correctly, as ECMAScript requires.
    body.parse::<f64>().map_or(f64::NAN, |v| sign * v)
}

/// `ToNumber(ToPrimitive(value, number))` for a JSON value; `None` is `undefined`.
#[must_use]
pub fn to_number(v: Option<&Value>) -> f64 {
    match v {
        None => f64::NAN,
        Some(Value::Null) => 0.0,
        Some(Value::Bool(b)) => f64::from(u8::from(*b)),
        Some(Value::Number(n)) => number_value(n),
        Some(Value::String(s)) => string_to_number(s),
        // Arrays and objects go through toString.
        Some(other) => string_to_number(&to_string(other)),
    }
}

static NULL: Value = Value::Null;

/// Properties every plain object inherits from `Object.prototype`.
pub const OBJECT_PROTOTYPE: &[&str] = &[
    "__defineGetter__",
    "__defineSetter__",
    "__lookupGetter__",
    "__lookupSetter__",
    "__proto__",
    "constructor",
    "hasOwnProperty",
    "isPrototypeOf",
    "propertyIsEnumerable",
    "toLocaleString",
    "toString",
    "valueOf",
];

/// Methods every array inherits from `Array.prototype` (Node 20).
const ARRAY_PROTOTYPE: &[&str] = &[
    "at",
    "concat",
    "copyWithin",
    "entries",
    "every",
    "fill",
    "filter",
    "find",
    "findIndex",
    "findLast",
    "findLastIndex",
    "flat",
    "flatMap",
    "forEach",
    "includes",
    "indexOf",
    "join",
    "keys",
    "lastIndexOf",
    "map",
    "pop",
    "push",
    "reduce",
    "reduceRight",
    "reverse",
    "shift",
    "slice",
    "some",
    "sort",
    "splice",
    "toReversed",
    "toSorted",
    "toSpliced",
    "unshift",
    "values",
    "with",
];

/// What a property lookup on parsed JSON yields in JavaScript.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum JsRef<'a> {
    /// `undefined`.
    Undefined,
    /// A JSON value.
    Json(&'a Value),
    /// An array's `length`.
    Length(usize),
    /// An inherited member: a function, or (`__proto__`) the prototype object.
    Inherited {
        /// `typeof` is `"object"` (the prototype) rather than `"function"`.
        object: bool,
    },
}

impl<'a> JsRef<'a> {
    /// `typeof x === "number"`: the number.
    #[must_use]
    pub fn as_number(self) -> Option<f64> {
        match self {
            Self::Json(Value::Number(n)) => Some(number_value(n)),
            Self::Length(n) => Some(n as f64),
            _ => None,
        }
    }

    /// `typeof x === "string"`: the string.
    #[must_use]
    pub fn as_str(self) -> Option<&'a str> {
        match self {
            Self::Json(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// `x === undefined || x === null`.
    #[must_use]
    pub fn is_nullish(self) -> bool {
        matches!(self, Self::Undefined | Self::Json(Value::Null))
    }

    /// `x[key]`, for `x` of type object; `undefined` for primitives and functions.
    #[must_use]
    pub fn get(self, key: &str) -> JsRef<'a> {
        match self {
            Self::Json(Value::Object(m)) => object_get(m, key),
            Self::Json(Value::Array(items)) => {
                if key == "length" {
                    return Self::Length(items.len());
                }
                if let Some(i) = canonical_index(key) {
                    return items.get(i).map_or(Self::Undefined, Self::Json);
                }
                if ARRAY_PROTOTYPE.contains(&key) {
                    return Self::Inherited { object: false };
                }
                inherited(key)
            }
            // Object.prototype itself: its own members, and a null prototype.
            Self::Inherited { object: true } => {
                if key == "__proto__" {
                    Self::Json(&NULL)
                } else {
                    inherited(key)
                }
            }
            _ => Self::Undefined,
        }
    }

    /// `===` against a JSON value of the bundle (`None`: the field is absent, so
    /// `undefined`). Objects and arrays are never equal: JavaScript compares them by
    /// reference and the bundle's are never the context's.
    #[must_use]
    pub fn strict_equals(self, other: Option<&Value>) -> bool {
        match (self, other) {
            (Self::Undefined, None) => true,
            (Self::Json(a), Some(b)) => match (a, b) {
                (Value::Null, Value::Null) => true,
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Number(x), Value::Number(y)) => number_value(x) == number_value(y),
                (Value::String(x), Value::String(y)) => x == y,
                _ => false,
            },
            (Self::Length(n), Some(Value::Number(y))) => n as f64 == number_value(y),
            _ => false,
        }
    }
}

fn inherited(key: &str) -> JsRef<'static> {
    if OBJECT_PROTOTYPE.contains(&key) {
        JsRef::Inherited {
            object: key == "__proto__",
        }
    } else {
        JsRef::Undefined
    }
}

/// `obj[key]` on a parsed JSON object: own properties, then `Object.prototype`'s.
#[must_use]
pub fn object_get<'a>(m: &'a Map<String, Value>, key: &str) -> JsRef<'a> {
    match m.get(key) {
        Some(v) => JsRef::Json(v),
        None => inherited(key),
    }
}

/// `key in obj` on a parsed JSON object.
#[must_use]
pub fn object_has(m: &Map<String, Value>, key: &str) -> bool {
    m.contains_key(key) || OBJECT_PROTOTYPE.contains(&key)
}

/// A canonical array index: `"0"`, `"17"`, not `"01"`, `"-0"` or `"1.0"`.
fn canonical_index(key: &str) -> Option<usize> {
    let b = key.as_bytes();
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) || (b.len() > 1 && b[0] == b'0') {
        return None;
    }
    key.parse::<usize>().ok().filter(|&i| i < u32::MAX as usize)
}

/// The SDK's `getNestedValue(context, path)`: split on `.`, index objects and
/// arrays, `undefined` through primitives, null and missing keys.
#[must_use]
pub fn get_path<'a>(ctx: &'a Map<String, Value>, path: &str) -> JsRef<'a> {
    let mut parts = path.split('.');
    let first = parts.next().unwrap_or("");
    let mut cur = object_get(ctx, first);
    for p in parts {
        if cur.is_nullish() {
            return JsRef::Undefined;
        }
        cur = cur.get(p);
    }
    cur
}

/// `Math.max(...xs)` (NaN if any is NaN, -Infinity for none).
#[must_use]
pub fn max(xs: &[f64]) -> f64 {
    let mut m = f64::NEG_INFINITY;
    for &x in xs {
        if x.is_nan() {
            return f64::NAN;
        }
        if x > m || (x == 0.0 && m == 0.0 && x.is_sign_positive()) {
            m = x;
        }
    }
    m
}

/// `Math.exp(x)` bit for bit as V8 computes it: fdlibm's `__ieee754_exp` (argument
/// reduction `x = k·ln2 + r`, a degree-5 Remez polynomial for `r`, scaling by 2^k),
/// which V8 uses for `Math.exp`, with V8's special case `exp(1) = Math.E`. The C
/// library's `exp` differs from V8's in the last bit for about one input in ten
/// (478 of the 5016 golden inputs), and the softmax must be reproduced exactly.
#[must_use]
#[allow(
    clippy::excessive_precision,
    clippy::unreadable_literal,
    clippy::approx_constant
)]
pub fn exp(x: f64) -> f64 {
    const O_THRESHOLD: f64 = 7.09782712893383973096e+02;
    const U_THRESHOLD: f64 = -7.45133219101941108420e+02;
    const LN2_HI: [f64; 2] = [6.93147180369123816490e-01, -6.93147180369123816490e-01];
    const LN2_LO: [f64; 2] = [1.90821492927058770002e-10, -1.90821492927058770002e-10];
    const HALF: [f64; 2] = [0.5, -0.5];
    const INV_LN2: f64 = 1.44269504088896338700e+00;
    const P1: f64 = 1.66666666666666019037e-01;
    const P2: f64 = -2.77777777770155933842e-03;
    const P3: f64 = 6.61375632143793436117e-05;
    const P4: f64 = -1.65339022054652515390e-06;
    const P5: f64 = 4.13813679705723846039e-08;
    const HUGE: f64 = 1.0e+300;
    const TWO_M1000: f64 = 9.33263618503218878990e-302; // 2^-1000

    // V8 returns Math.E for 1 (fdlibm's algorithm gives the next double up).
    if x == 1.0 {
        return std::f64::consts::E;
    }
    let bits = x.to_bits();
    let high = (bits >> 32) as u32;
    let sign = (high >> 31) as usize;
    let hx = high & 0x7fff_ffff;

    // Huge arguments, NaN and infinities.
    if hx >= 0x4086_2e42 {
        if hx >= 0x7ff0_0000 {
            if ((hx & 0xf_ffff) | (bits as u32)) != 0 {
                return x + x; // NaN
            }
            return if sign == 0 { x } else { 0.0 };
        }
        if x > O_THRESHOLD {
            return f64::INFINITY;
        }
        if x < U_THRESHOLD {
            return 0.0;
        }
    }

    let (hi, lo, k): (f64, f64, i32);
    let xr;
    if hx > 0x3fd6_2e42 {
        // |x| > 0.5 ln2
        if hx < 0x3ff0_a2b2 {
            // and |x| < 1.5 ln2
            hi = x - LN2_HI[sign];
            lo = LN2_LO[sign];
            k = 1 - 2 * sign as i32;
        } else {
            k = (INV_LN2 * x + HALF[sign]) as i32;
            let t = f64::from(k);
            hi = x - t * LN2_HI[0];
            lo = t * LN2_LO[0];
        }
        xr = hi - lo;
    } else if hx < 0x3e30_0000 {
        // |x| < 2^-28
        if HUGE + x > 1.0 {
            return 1.0 + x;
        }
        hi = 0.0;
        lo = 0.0;
        k = 0;
        xr = x;
    } else {
        hi = 0.0;
        lo = 0.0;
        k = 0;
        xr = x;
    }

    let t = xr * xr;
    let twopk = if k >= -1021 {
        f64::from_bits(u64::from((0x3ff0_0000_i32 + (k << 20)) as u32) << 32)
    } else {
        f64::from_bits(u64::from((0x3ff0_0000_i32 + ((k + 1000) << 20)) as u32) << 32)
    };
    let c = xr - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
    if k == 0 {
        return 1.0 - ((xr * c) / (c - 2.0) - xr);
    }
    let y = 1.0 - ((lo - (xr * c) / (2.0 - c)) - hi);
    if k >= -1021 {
        if k == 1024 {
            return y * 2.0 * f64::from_bits(0x7fe0_0000_0000_0000);
        }
        return y * twopk;
    }
    y * twopk * TWO_M1000
}

#[cfg(test)]
mod tests;
