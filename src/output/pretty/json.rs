//! Compact JSON for payloads without a special summary: the payload text with the whitespace
//! between tokens removed and `\u` escapes decoded, so `{"message": "caf\u00e9"}` reads
//! `{"message":"café"}`.
//!
//! Why not `serde_json::Value` and its `Display`: that parses the whole payload into a tree and
//! writes it back (most of `-o pretty`'s cost for Store inserts). Working on the text keeps the
//! keys in the order the server sent them and the numbers as written; strings are re-escaped
//! exactly as serde_json would (`\"`, `\\`, `\n`, `\u001b`, …), so a control character still
//! never reaches the terminal raw.

use std::fmt::Write;

/// Writes the compact form of `json` (valid JSON, e.g. a payload) into `out` (cleared first).
/// Returns false, with `out` cleared, when a `\u` escape is a lone surrogate (no character to
/// show): the caller prints the text as received then.
pub(super) fn compact_into(json: &str, out: &mut String) -> bool {
    out.clear();
    let bytes = json.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'"' => match string(json, i, out) {
                Some(next) => i = next,
                None => {
                    out.clear();
                    return false;
                }
            },
            _ => {
                let start = i;
                while i < bytes.len() && !matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r' | b'"') {
                    i += 1;
                }
                out.push_str(&json[start..i]);
            }
        }
    }
    true
}

/// Copies the string literal starting at `json[open]` (a `"`); returns the index after it.
fn string(json: &str, open: usize, out: &mut String) -> Option<usize> {
    let bytes = json.as_bytes();
    out.push('"');
    let mut i = open + 1;
    loop {
        let at = i + memchr::memchr2(b'"', b'\\', &bytes[i..])?;
        out.push_str(&json[i..at]);
        if bytes[at] == b'"' {
            out.push('"');
            return Some(at + 1);
        }
        let escape = *bytes.get(at + 1)?;
        i = at + 2;
        match escape {
            b'u' => {
                let (c, next) = unicode_escape(json, at)?;
                push_escaped(out, c);
                i = next;
            }
            b'/' => out.push('/'),
            // `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`: serde_json writes them the same way.
            _ => out.push_str(&json[at..at + 2]),
        }
    }
}

/// The character of the `\uXXXX` (or surrogate pair `\uD83D\uDE00`) at `json[at]`, and the
/// index after it.
fn unicode_escape(json: &str, at: usize) -> Option<(char, usize)> {
    let hex = |from: usize| -> Option<u32> {
        json.get(from..from + 4)
            .and_then(|h| u32::from_str_radix(h, 16).ok())
    };
    let first = hex(at + 2)?;
    match first {
        0xD800..=0xDBFF => {
            if json.get(at + 6..at + 8) != Some("\\u") {
                return None;
            }
            let second = hex(at + 8)?;
            if !(0xDC00..=0xDFFF).contains(&second) {
                return None;
            }
            let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
            Some((char::from_u32(code)?, at + 12))
        }
        0xDC00..=0xDFFF => None,
        code => Some((char::from_u32(code)?, at + 6)),
    }
}

/// One character inside a JSON string, escaped as serde_json escapes it.
fn push_escaped(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x20 => {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn compact(json: &str) -> String {
        let mut out = String::new();
        assert!(compact_into(json, &mut out), "{json}");
        out
    }

    #[test]
    fn matches_serde_json_display_for_what_odoo_sends() {
        // Keys already in order and integer numbers: exactly what Value's Display writes.
        let cases = [
            r#"{"message": "caf\u00e9 \ud83d\ude00", "sticky": false, "type": "danger"}"#,
            r#"{"a": [1, 2, {"b": null}], "c": "x\ny\t\"q\" \\ \/ \u001b[2J \u0007 \u007f"}"#,
            "{\n  \"a_spaced\" :\t[ true ,false ] ,\r\n \"e\": \"\\u00e9\\u20ac\"\n}",
            r#""just a string""#,
            "null",
            r#"{"ctl": "\b\f\r\u0001\u001f", "quote": "\u0022\u005c"}"#,
        ];
        for json in cases {
            let value: Value = serde_json::from_str(json).unwrap();
            assert_eq!(compact(json), value.to_string(), "{json}");
        }
    }

    #[test]
    fn keeps_the_server_key_order_and_numbers_as_written() {
        assert_eq!(
            compact(r#"{"z": 1.50, "a": 1e-05, "m": -0}"#),
            r#"{"z":1.50,"a":1e-05,"m":-0}"#
        );
    }

    #[test]
    fn a_lone_surrogate_gives_up() {
        let mut out = String::from("left over");
        assert!(!compact_into(r#"{"a": "\ud83d x"}"#, &mut out));
        assert!(out.is_empty());
        assert!(!compact_into(r#"{"a": "\ude00"}"#, &mut out));
    }
}
