//! The valid path without allocation: one pass over a row's `properties` JSON text
//! that parses and checks at once, reading strings and numbers in place.
//!
//! [`check_row`] answers per listed property "valid or not" while it scans; only a
//! property that fails is parsed into a [`Value`] and handed to
//! [`validate_property`], so messages keep one source and a valid event allocates
//! nothing. Anything the scanner is not sure of (malformed text, a nested key given
//! twice, very deep nesting, a number serde_json would read differently) makes it
//! give up with `None`, and the caller runs the streaming serde check
//! ([`super::scan::check_row`]) instead, whose output this one must equal; the tests
//! below and in `scan.rs` hold them to that.
//!
//! The idea of validating while tokenizing, without a tree, is the one of simdjson's
//! "On Demand" front end (Keiser and Lemire, "On-Demand JSON", 2024); this is a plain
//! byte loop, which is enough for the short, flat objects events carry.

use indexmap::IndexMap;
use serde_json::Value;

use crate::config::{
    check_value, matches_format, missing, validate_property, EventSchema, Pattern, PropertySchema,
    PropertyType, Violation,
};

/// Nesting accepted before giving up (serde_json refuses at 128).
const MAX_DEPTH: u32 = 100;

/// Where a listed top-level property's value is in the text, and whether it passed.
pub(super) type Slot = Option<(usize, usize, bool)>;

/// Every violation of one row, as [`super::scan::check_row`] finds them, or `None`
/// when the text needs the serde path. `slots` is scratch space kept across rows.
pub(super) fn check_row<'a>(
    schema: &EventSchema,
    value: Option<f64>,
    props: Option<&'a str>,
    slots: &mut Vec<Slot>,
    cache: &mut PatternCache<'a>,
    out: &mut Vec<Violation>,
) -> Option<()> {
    slots.clear();
    slots.resize(schema.properties.len(), None);
    if let Some(text) = props {
        let mut cur = Cursor {
            text,
            pos: 0,
            cache,
        };
        cur.top_object(&schema.properties, slots)?;
    }
    if let Some(v) = value {
        if let Some(message) = check_value(schema.value_type, v) {
            out.push(Violation {
                path: "value".to_owned(),
                rule: crate::config::Rule::ValueType,
                message,
            });
        }
    }
    for ((name, prop), slot) in schema.properties.iter().zip(slots.iter()) {
        match *slot {
            Some((_, _, true)) => {}
            Some((start, end, false)) => {
                let text = props.expect("a slot is only filled from the text");
                let v: Value = serde_json::from_str(&text[start..end]).ok()?;
                validate_property(&prop.schema, &v, name, out);
            }
            None if prop.schema.required => out.push(missing(name, name)),
            None => {}
        }
    }
    Some(())
}

/// Results of `pattern` tests on strings borrowed from the text, direct-mapped: events
/// repeat their values (currency codes, plan names), and a hit costs a hash of a short
/// string instead of a regular-expression run.
pub(super) struct PatternCache<'a> {
    slots: Vec<Option<(*const Pattern, &'a str, bool)>>,
}

impl Default for PatternCache<'_> {
    fn default() -> Self {
        Self {
            slots: vec![None; Self::SLOTS],
        }
    }
}

impl<'a> PatternCache<'a> {
    const SLOTS: usize = 1024;
    /// Longer strings are rarely repeated; testing them directly is cheaper.
    const MAX_LEN: usize = 48;

    fn is_match(&mut self, p: &Pattern, s: &'a str) -> bool {
        if s.len() > Self::MAX_LEN {
            return p.is_match(s);
        }
        // FNV-1a over the bytes and the pattern's address.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ (p as *const Pattern as u64);
        for b in s.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        let i = (h as usize) & (Self::SLOTS - 1);
        match self.slots[i] {
            Some((q, t, hit)) if std::ptr::eq(q, p) && t == s => hit,
            _ => {
                let hit = p.is_match(s);
                self.slots[i] = Some((p, s, hit));
                hit
            }
        }
    }
}

/// A JSON string as found: borrowed when it has no escapes.
enum Str<'a> {
    Borrowed(&'a str),
    Owned(String),
}

impl Str<'_> {
    fn as_str(&self) -> &str {
        // Keys: borrowed or decoded, compared as text.
        match self {
            Self::Borrowed(s) => s,
            Self::Owned(s) => s,
        }
    }
}

struct Cursor<'a, 'c> {
    text: &'a str,
    pos: usize,
    cache: &'c mut PatternCache<'a>,
}

impl<'a> Cursor<'a, '_> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn ws(&mut self) {
        let b = self.bytes();
        while self.pos < b.len() && matches!(b[self.pos], b' ' | b'\n' | b'\r' | b'\t') {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.pos += 1)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.pos + word.len();
        (self.bytes().get(self.pos..end)? == word).then(|| self.pos = end)
    }

    /// The top-level object, filling `slots` for listed keys (the last of repeated
    /// keys wins, as when parsing into a map); then only whitespace may follow.
    fn top_object(
        &mut self,
        listed: &IndexMap<String, crate::config::ResolvedProperty>,
        slots: &mut [Slot],
    ) -> Option<()> {
        self.ws();
        self.eat(b'{')?;
        self.ws();
        if self.eat(b'}').is_none() {
            loop {
                self.ws();
                let key = self.string()?;
                self.ws();
                self.eat(b':')?;
                self.ws();
                let start = self.pos;
                match index_of(listed, key.as_str()) {
                    Some(i) => {
                        let ok = self.value(Some(&listed[i].schema), 1)?;
                        slots[i] = Some((start, self.pos, ok));
                    }
                    None => {
                        self.value(None, 1)?;
                    }
                }
                self.ws();
                if self.eat(b',').is_none() {
                    self.eat(b'}')?;
                    break;
                }
            }
        }
        self.ws();
        (self.pos == self.text.len()).then_some(())
    }

    /// Reads one value; whether it satisfies `schema` (always true without one).
    fn value(&mut self, schema: Option<&PropertySchema>, depth: u32) -> Option<bool> {
        match self.peek()? {
            b'"' => {
                let s = self.string()?;
                let cache = &mut *self.cache;
                Some(schema.is_none_or(|p| match s {
                    Str::Borrowed(t) => string_ok(p, t, |re| cache.is_match(re, t)),
                    Str::Owned(t) => string_ok(p, &t, |re| re.is_match(&t)),
                }))
            }
            b'{' => self.object(schema, depth + 1),
            b'[' => self.array(schema, depth + 1),
            b't' => {
                self.literal(b"true")?;
                Some(schema.is_none_or(|p| bool_ok(p, true)))
            }
            b'f' => {
                self.literal(b"false")?;
                Some(schema.is_none_or(|p| bool_ok(p, false)))
            }
            b'n' => {
                // Present and of the wrong type, whatever the type.
                self.literal(b"null")?;
                Some(schema.is_none())
            }
            b'-' | b'0'..=b'9' => {
                let x = self.number()?;
                Some(schema.is_none_or(|p| number_ok(p, x)))
            }
            _ => None,
        }
    }

    fn array(&mut self, schema: Option<&PropertySchema>, depth: u32) -> Option<bool> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(b'[')?;
        let (mut ok, items) = match schema {
            Some(p) if p.property_type == PropertyType::Array => (true, p.items.as_deref()),
            Some(_) => (false, None),
            None => (true, None),
        };
        let mut n = 0u64;
        self.ws();
        if self.eat(b']').is_none() {
            loop {
                self.ws();
                ok &= self.value(items, depth)?;
                n += 1;
                self.ws();
                if self.eat(b',').is_none() {
                    self.eat(b']')?;
                    break;
                }
            }
        }
        if let Some(p) = schema.filter(|_| ok) {
            ok = p.min_items.is_none_or(|m| n >= m) && p.max_items.is_none_or(|m| n <= m);
        }
        Some(ok)
    }

    fn object(&mut self, schema: Option<&PropertySchema>, depth: u32) -> Option<bool> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(b'{')?;
        let (mut ok, declared, closed) = match schema {
            Some(p) if p.property_type == PropertyType::Object => (
                true,
                p.properties.as_ref(),
                p.additional_properties == Some(false),
            ),
            Some(_) => (false, None, false),
            None => (true, None, false),
        };
        // Declared keys seen, to find missing required ones; more than 64 declared
        // keys, or one given twice, go to the serde path.
        if declared.is_some_and(|d| d.len() > 64) {
            return None;
        }
        let mut seen = 0u64;
        self.ws();
        if self.eat(b'}').is_none() {
            loop {
                self.ws();
                let key = self.string()?;
                self.ws();
                self.eat(b':')?;
                self.ws();
                match declared.and_then(|d| index_of(d, key.as_str()).map(|i| (d, i))) {
                    Some((d, i)) => {
                        if seen & (1 << i) != 0 {
                            return None;
                        }
                        seen |= 1 << i;
                        ok &= self.value(Some(&d[i]), depth)?;
                    }
                    None => {
                        self.value(None, depth)?;
                        ok &= !closed;
                    }
                }
                self.ws();
                if self.eat(b',').is_none() {
                    self.eat(b'}')?;
                    break;
                }
            }
        }
        if let Some(d) = declared {
            ok &= d
                .values()
                .enumerate()
                .all(|(i, sub)| !sub.required || seen & (1 << i) != 0);
        }
        Some(ok)
    }

    /// A string at the cursor: borrowed without escapes, decoded by serde_json with.
    fn string(&mut self) -> Option<Str<'a>> {
        self.eat(b'"')?;
        let b = self.bytes();
        let start = self.pos;
        let mut escaped = false;
        loop {
            match *b.get(self.pos)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.pos += 2;
                }
                c if c < 0x20 => return None,
                _ => self.pos += 1,
            }
        }
        let end = self.pos;
        self.pos += 1;
        if escaped {
            serde_json::from_str(&self.text[start - 1..self.pos])
                .ok()
                .map(Str::Owned)
        } else {
            Some(Str::Borrowed(&self.text[start..end]))
        }
    }

    /// A number at the cursor, as serde_json's `as_f64` would give it.
    fn number(&mut self) -> Option<f64> {
        let b = self.bytes();
        let start = self.pos;
        let negative = b[self.pos] == b'-';
        if negative {
            self.pos += 1;
        }
        let digits = |pos: &mut usize| {
            let s = *pos;
            while b.get(*pos).is_some_and(u8::is_ascii_digit) {
                *pos += 1;
            }
            *pos - s
        };
        let int_start = self.pos;
        let int_digits = digits(&mut self.pos);
        if int_digits == 0 || (int_digits > 1 && b[int_start] == b'0') {
            return None;
        }
        let mut frac_digits = 0;
        if b.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            frac_digits = digits(&mut self.pos);
            if frac_digits == 0 {
                return None;
            }
        }
        let exponent = matches!(b.get(self.pos), Some(b'e' | b'E'));
        if exponent {
            self.pos += 1;
            if matches!(b.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if digits(&mut self.pos) == 0 {
                return None;
            }
        }
        // Up to 15 significant digits and no exponent the value is exact as an integer
        // and one correctly rounded division, which is also what serde_json computes;
        // anything longer is parsed by serde_json itself.
        if exponent || int_digits + frac_digits > 15 {
            return serde_json::from_str::<f64>(&self.text[start..self.pos]).ok();
        }
        let mut m: u64 = 0;
        for &c in &b[int_start..self.pos] {
            if c != b'.' {
                m = m * 10 + u64::from(c - b'0');
            }
        }
        let x = m as f64 / POW10[frac_digits];
        Some(if negative { -x } else { x })
    }
}

const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// A key's index: a linear scan over few keys (no hashing), the map's index otherwise.
fn index_of<V>(map: &IndexMap<String, V>, key: &str) -> Option<usize> {
    if map.len() <= 16 {
        map.keys().position(|k| k == key)
    } else {
        map.get_index_of(key)
    }
}

/// `matches` tests the pattern: through the cache when the string is borrowed.
fn string_ok(p: &PropertySchema, t: &str, matches: impl FnOnce(&Pattern) -> bool) -> bool {
    if p.property_type != PropertyType::String {
        return false;
    }
    p.enum_values
        .as_ref()
        .is_none_or(|e| e.iter().any(|a| a.as_str() == Some(t)))
        && p.format.is_none_or(|f| matches_format(f, t))
        && (p.min_length.is_none() && p.max_length.is_none() || {
            let len = t.chars().count() as u64;
            p.min_length.is_none_or(|m| len >= m) && p.max_length.is_none_or(|m| len <= m)
        })
        && p.pattern.as_ref().is_none_or(matches)
}

fn bool_ok(p: &PropertySchema, b: bool) -> bool {
    p.property_type == PropertyType::Boolean
        && p.enum_values
            .as_ref()
            .is_none_or(|e| e.iter().any(|a| a.as_bool() == Some(b)))
}

fn number_ok(p: &PropertySchema, x: f64) -> bool {
    let type_ok = match p.property_type {
        PropertyType::Number => true,
        PropertyType::Integer => x.fract() == 0.0,
        _ => false,
    };
    type_ok
        && p.enum_values.as_ref().is_none_or(|e| {
            e.iter()
                .any(|a| a.as_number().is_some_and(|n| n.as_f64() == Some(x)))
        })
        && !p.minimum.is_some_and(|m| x < m)
        && !p.maximum.is_some_and(|m| x > m)
}

#[cfg(test)]
mod tests;
