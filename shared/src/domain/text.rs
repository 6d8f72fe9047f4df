//! Untrusted text made safe to keep, quote or show: cut on a char boundary, flattened to
//! one line, without characters that reorder or hide text.

use serde_json::Value;

/// The longest prefix of `s` with at most `max` chars (cut on a char boundary).
pub fn truncate_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((end, _)) => s.get(..end).unwrap_or(s),
        None => s,
    }
}

/// `s` made safe to quote in an error message: at most `max` chars of input, marked
/// with '…' when cut, with control and bidi/zero-width characters escaped so that a
/// hostile payload cannot forge or hide log text.
pub fn quote_capped(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i >= max {
            out.push('…');
            break;
        }
        push_quoted(&mut out, c);
    }
    out
}

/// Like [`quote_capped`], but `max` bounds the output, escapes included: for text whose
/// every character may be one a hostile sender chose to make long.
pub fn quote_within(s: &str, max: usize) -> String {
    let mut out = String::new();
    let mut len = 0;
    for c in s.chars() {
        let mut piece = String::new();
        push_quoted(&mut piece, c);
        len += piece.chars().count();
        if len > max {
            out.push('…');
            break;
        }
        out.push_str(&piece);
    }
    out
}

fn push_quoted(out: &mut String, c: char) {
    if c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
    {
        out.extend(c.escape_default());
    } else {
        out.push(c);
    }
}

/// Characters that reorder or hide text (bidi controls, zero-width ones): in an alert they
/// could make a reason read as something else.
pub fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// Cuts untrusted text to `max` characters and flattens it to one line, without characters
/// that reorder or hide text.
pub fn clip(s: &str, max: usize) -> String {
    let flat: String = s
        .chars()
        .filter(|c| !is_invisible_format(*c))
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        flat
    } else {
        let mut out: String = flat.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// A JSON value's type as error messages name it ("expected a string, found a number").
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_chars("abc", 5), "abc");
        assert_eq!(truncate_chars("abc", 3), "abc");
        assert_eq!(truncate_chars("abc", 2), "ab");
        assert_eq!(truncate_chars("ééé", 2), "éé");
        assert_eq!(truncate_chars("👍👍", 1), "👍");
        assert_eq!(truncate_chars("x", 0), "");
        assert_eq!(quote_capped("ab\ncd", 10), "ab\\ncd");
        assert_eq!(quote_capped("abcdef", 3), "abc…");
        assert_eq!(quote_capped("abc", 3), "abc");
        assert_eq!(quote_capped("a\u{202e}b\"c`", 10), "a\\u{202e}b\"c`");
        assert_eq!(quote_within("a\u{202e}b", 9), "a\\u{202e}…");
        assert_eq!(quote_within("abc", 3), "abc");
    }
}
