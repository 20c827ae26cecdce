//! A JSON scanner over one line that borrows instead of building: strings come back as
//! slices of the line, numbers as their text, nested values as the span of their text.
//!
//! It accepts a subset of what `serde_json` accepts and nothing more: strict JSON
//! grammar, no backslash anywhere (the caller refuses such lines before scanning, so a
//! string's text is its value), no control character in a string, nesting below
//! [`MAX_DEPTH`]. Anything else is `None`, and the line takes the reader's older
//! path, which decides. A number's value is read by `serde_json` itself from its text
//! ([`number`]), so integer ranges, `-0` and float rounding are serde's.

use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};

/// Nesting deeper than this is left to `serde_json` (whose own limit is 128).
const MAX_DEPTH: u32 = 64;

/// Keys of one object compared for duplicates; an object with more is not taken as
/// canonical (its text is re-serialised instead, see [`canonical_map`]).
const MAX_KEYS: usize = 32;

/// A cursor over the bytes of one line.
pub(super) struct Scanner<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scanner<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Self { text, at: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// Skips JSON whitespace (space, tab, newline, carriage return).
    pub(super) fn ws(&mut self) {
        let b = self.bytes();
        while self.at < b.len() && matches!(b[self.at], b' ' | b'\t' | b'\n' | b'\r') {
            self.at += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    pub(super) fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.bytes().get(self.at).copied()
    }

    /// Consumes `c` after whitespace.
    pub(super) fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.at += 1)
    }

    /// Whether only whitespace is left.
    pub(super) fn at_end(&mut self) -> bool {
        self.ws();
        self.at == self.text.len()
    }

    /// A string's text (the line has no backslash, so the text is the value).
    pub(super) fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let b = self.bytes();
        let start = self.at;
        let mut i = start;
        loop {
            match *b.get(i)? {
                b'"' => break,
                c if c < 0x20 => return None,
                _ => i += 1,
            }
        }
        self.at = i + 1;
        // Both ends are ASCII quotes, so the slice is on character boundaries.
        Some(&self.text[start..i])
    }

    /// A number's text, checked against the JSON grammar.
    pub(super) fn number(&mut self) -> Option<&'a str> {
        self.ws();
        let b = self.bytes();
        let start = self.at;
        let mut i = start;
        let digits = |i: &mut usize| {
            let from = *i;
            while *i < b.len() && b[*i].is_ascii_digit() {
                *i += 1;
            }
            *i > from
        };
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => {
                digits(&mut i);
            }
            _ => return None,
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if !digits(&mut i) {
                return None;
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !digits(&mut i) {
                return None;
            }
        }
        self.at = i;
        Some(&self.text[start..i])
    }

    /// The literal `word` (`true`, `false`, `null`).
    fn literal(&mut self, word: &str) -> Option<()> {
        self.ws();
        let end = self.at + word.len();
        (self.text.as_bytes().get(self.at..end)? == word.as_bytes()).then(|| self.at = end)
    }

    /// `null`, consumed, or `false` leaving the cursor in place.
    pub(super) fn null(&mut self) -> bool {
        self.peek() == Some(b'n') && self.literal("null").is_some()
    }

    /// `true` or `false`.
    pub(super) fn boolean(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' => self.literal("true").map(|()| true),
            b'f' => self.literal("false").map(|()| false),
            _ => None,
        }
    }

    /// Any value, checked and skipped; its text.
    pub(super) fn value(&mut self) -> Option<&'a str> {
        self.ws();
        let start = self.at;
        self.skip(0)?;
        Some(&self.text[start..self.at])
    }

    fn skip(&mut self, depth: u32) -> Option<()> {
        if depth >= MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => {
                self.at += 1;
                if self.eat(b'}').is_some() {
                    return Some(());
                }
                loop {
                    self.string()?;
                    self.eat(b':')?;
                    self.skip(depth + 1)?;
                    match self.peek()? {
                        b',' => self.at += 1,
                        b'}' => {
                            self.at += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.at += 1;
                if self.eat(b']').is_some() {
                    return Some(());
                }
                loop {
                    self.skip(depth + 1)?;
                    match self.peek()? {
                        b',' => self.at += 1,
                        b']' => {
                            self.at += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            _ => self.number().map(drop),
        }
    }

    /// The members of an object: calls `member` with each key, the cursor on its
    /// value (which `member` must consume).
    pub(super) fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, &'a str) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            member(self, key)?;
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// The elements of an array: calls `element` with the cursor on each.
    pub(super) fn array(&mut self, mut element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            element(self)?;
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

/// A number's value as serde reads it into `T` from the same text (`None` where serde
/// refuses: a fraction for an integer, out of range).
pub(super) fn number<T: DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_str(text).ok()
}

/// Whether `text`, a number's JSON text, is what `serde_json` writes for the number it
/// reads (as [`Number`]: integers stay integers).
fn canonical_number(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = b.strip_prefix(b"-").unwrap_or(b);
    // A plain integer well inside 64 bits, without a leading zero, is written back as is.
    if digits.len() <= 18 && digits.iter().all(u8::is_ascii_digit) {
        return digits[0] != b'0' || b == b"0";
    }
    number::<Number>(text).is_some_and(|n| writes_as(&n, b))
}

/// Whether `text`, a number's JSON text, is what `serde_json` writes for it as `f64`.
fn canonical_f64(text: &str) -> bool {
    number::<f64>(text).is_some_and(|x| writes_as(&x, text.as_bytes()))
}

/// Whether `serde_json` writes `x` as `text` (written on the stack: no allocation).
fn writes_as<T: serde::Serialize>(x: &T, text: &[u8]) -> bool {
    let mut buf = [0u8; 64];
    let mut w = &mut buf[..];
    if serde_json::to_writer(&mut w, x).is_err() {
        return false;
    }
    let n = 64 - w.len();
    &buf[..n] == text
}

/// Whether an object's or array's text (already checked by [`Scanner::value`]) is what
/// `serde_json` writes after reading it as a `Value` (with `preserve_order`): no
/// whitespace, numbers written back as they are, no key twice in an object.
fn canonical_value(s: &mut Scanner<'_>, depth: u32) -> Option<()> {
    let b = s.bytes();
    match *b.get(s.at)? {
        b'"' => s.string().map(drop),
        b'{' => {
            s.at += 1;
            if b.get(s.at) == Some(&b'}') {
                s.at += 1;
                return Some(());
            }
            let mut keys: [&str; MAX_KEYS] = [""; MAX_KEYS];
            let mut n = 0;
            loop {
                (b.get(s.at) == Some(&b'"')).then_some(())?;
                let key = s.string()?;
                if n == MAX_KEYS || keys[..n].contains(&key) {
                    return None;
                }
                keys[n] = key;
                n += 1;
                (b.get(s.at) == Some(&b':')).then(|| s.at += 1)?;
                canonical_value(s, depth + 1)?;
                match *b.get(s.at)? {
                    b',' => s.at += 1,
                    b'}' => {
                        s.at += 1;
                        return Some(());
                    }
                    _ => return None,
                }
            }
        }
        b'[' => {
            s.at += 1;
            if b.get(s.at) == Some(&b']') {
                s.at += 1;
                return Some(());
            }
            loop {
                canonical_value(s, depth + 1)?;
                match *b.get(s.at)? {
                    b',' => s.at += 1,
                    b']' => {
                        s.at += 1;
                        return Some(());
                    }
                    _ => return None,
                }
            }
        }
        b't' | b'f' | b'n' => s.skip(depth),
        b'-' | b'0'..=b'9' => {
            let text = s.number()?;
            canonical_number(text).then_some(())
        }
        _ => None,
    }
}

/// The canonical text of an object field read as `Map<String, Value>` (context,
/// assignments, properties): the span itself when it is already what `serde_json`
/// writes, else read and written again. `None` where serde refuses the text (a
/// number out of range).
pub(super) fn canonical_map(span: &str) -> Option<std::borrow::Cow<'_, str>> {
    let mut s = Scanner::new(span);
    if canonical_value(&mut s, 0).is_some() && s.at == span.len() {
        return Some(std::borrow::Cow::Borrowed(span));
    }
    let m: Map<String, Value> = serde_json::from_str(span).ok()?;
    Some(std::borrow::Cow::Owned(
        serde_json::to_string(&m).expect("a JSON map serialises"),
    ))
}

/// The canonical text of `values`, read as `BTreeMap<String, f64>`: keys in order,
/// every value a number written as `f64`. `None` where serde refuses the text (a value
/// that is not a number).
pub(super) fn canonical_values(span: &str) -> Option<std::borrow::Cow<'_, str>> {
    let mut s = Scanner::new(span);
    let mut last: Option<&str> = None;
    let mut canonical = true;
    s.object(|s, key| {
        // Every value a number: anything else (null too) serde refuses as `f64`.
        if !matches!(s.peek()?, b'-' | b'0'..=b'9') {
            return None;
        }
        let text = s.number()?;
        canonical &= last.is_none_or(|l| l < key) && canonical_f64(text);
        last = Some(key);
        Some(())
    })?;
    if canonical && !spaced(span) {
        return Some(std::borrow::Cow::Borrowed(span));
    }
    let m: std::collections::BTreeMap<String, f64> = serde_json::from_str(span).ok()?;
    Some(std::borrow::Cow::Owned(
        serde_json::to_string(&m).expect("numbers serialise"),
    ))
}

/// Whether JSON text without escapes has whitespace between its tokens (which
/// `serde_json` does not write).
pub(super) fn spaced(text: &str) -> bool {
    let mut in_string = false;
    for &c in text.as_bytes() {
        match c {
            b'"' => in_string = !in_string,
            b' ' | b'\t' | b'\n' | b'\r' if !in_string => return true,
            _ => {}
        }
    }
    false
}
