//! Text for a person's terminal. Names in tables come from files we do not control
//! (allocation names in a bundle, arms in a table, event names in a log); a control
//! character in one (an escape sequence, a carriage return) would move the cursor,
//! recolour or overwrite what the terminal shows, and a bidirectional override would
//! reorder it. They are shown escaped instead, as `\u{1b}`. JSON output escapes
//! control characters itself and is left as it is.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` must not reach a terminal raw: control characters other than newline
/// and tab, and the bidirectional embedding, override and isolate controls.
fn unsafe_char(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every unsafe character written as `\u{..}`; borrowed when there is
/// none (the usual case).
pub(crate) fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Prints `text` to standard output, escaped.
pub(crate) fn print(text: &str) {
    print!("{}", escape(text));
}

/// Prints `text` to standard error, escaped.
pub(crate) fn eprint(text: &str) {
    eprint!("{}", escape(text));
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn control_and_bidi_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(
            escape("plain ünïcode 名前\n\ttab"),
            "plain ünïcode 名前\n\ttab"
        );
        assert!(matches!(escape("plain"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(escape("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape("x\ry"), "x\\u{d}y");
        assert_eq!(escape("\u{202e}evil"), "\\u{202e}evil");
        assert_eq!(escape("del\u{7f}"), "del\\u{7f}");
    }
}
