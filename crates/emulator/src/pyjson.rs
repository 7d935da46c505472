//! JSON the way Python's `json.dumps` writes it, because that is what Odoo puts on the wire.
//!
//! Odoo encodes bus frames with `json.dumps(...)` defaults: `", "` and `": "` separators and every
//! non-ASCII character escaped as `\uXXXX` (astral characters as a surrogate pair, lower-case
//! hex). Its JSON-RPC HTTP responses use the same separators but `ensure_ascii=False`, so UTF-8
//! goes out raw (measured on a real 18.0, raw captures kept outside the repository). A client that
//! only works with serde's compact output, or that chokes on surrogate pairs, would pass against a
//! naive fake and fail against Odoo; this module keeps the emulator honest.
//!
//! Floats follow Python's `repr`: shortest round-trip digits, `1.0` rather than `1`, exponent form
//! outside `1e-4 <= |x| < 1e16` with a signed two-digit exponent (`1e+16`, `1.5e-07`).

use std::io::{self, Write};

use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::Value;
use serde_json::ser::Formatter;

/// Python's `ensure_ascii` switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ascii {
    /// `\uXXXX` for everything outside printable ASCII (bus frames).
    Escape,
    /// Raw UTF-8 (JSON-RPC responses).
    Raw,
}

/// A `serde_json` formatter reproducing `json.dumps` output.
#[derive(Debug, Clone, Copy)]
pub struct PyFormatter {
    ascii: Ascii,
}

impl PyFormatter {
    pub fn new(ascii: Ascii) -> Self {
        PyFormatter { ascii }
    }
}

impl Formatter for PyFormatter {
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn write_f64<W: ?Sized + Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        w.write_all(python_float_repr(value).as_bytes())
    }

    fn write_f32<W: ?Sized + Write>(&mut self, w: &mut W, value: f32) -> io::Result<()> {
        self.write_f64(w, f64::from(value))
    }

    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        match self.ascii {
            Ascii::Raw => w.write_all(fragment.as_bytes()),
            Ascii::Escape => {
                let mut start = 0;
                for (i, ch) in fragment.char_indices() {
                    if ch.is_ascii() && ch != '\u{7f}' {
                        continue;
                    }
                    w.write_all(&fragment.as_bytes()[start..i])?;
                    let mut units = [0u16; 2];
                    for unit in ch.encode_utf16(&mut units) {
                        write!(w, "\\u{unit:04x}")?;
                    }
                    start = i + ch.len_utf8();
                }
                w.write_all(&fragment.as_bytes()[start..])
            }
        }
    }
}

/// Encode any serialisable value Python-style.
pub fn to_string<T: Serialize + ?Sized>(value: &T, ascii: Ascii) -> String {
    let mut out = Vec::with_capacity(128);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PyFormatter::new(ascii));
    // Serialising a `Value` or our own plain structs cannot fail: no maps with non-string keys.
    if value.serialize(&mut ser).is_err() {
        return "null".to_string();
    }
    // The formatter only ever writes valid UTF-8 (escapes are ASCII, fragments are &str).
    String::from_utf8(out).unwrap_or_default()
}

/// Bus-frame encoding: Python defaults, non-ASCII escaped.
pub fn dumps(value: &Value) -> String {
    to_string(value, Ascii::Escape)
}

/// JSON-RPC response encoding: Python separators, raw UTF-8.
pub fn dumps_utf8<T: Serialize + ?Sized>(value: &T) -> String {
    to_string(value, Ascii::Raw)
}

/// A JSON object whose keys keep the order they were pushed in, like a Python dict.
///
/// `serde_json::Map` sorts its keys (the crate is built without `preserve_order`), which is right
/// for Odoo's `Store` payloads (they come out sorted) but wrong for `session_info` and the
/// JSON-RPC envelope, whose key order real clients see.
#[derive(Debug, Clone, Default)]
pub struct Dict(Vec<(String, Value)>);

impl Dict {
    pub fn new() -> Self {
        Dict(Vec::new())
    }
    /// Append (or replace in place) one key.
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.insert(key, value);
        self
    }
    pub fn insert(&mut self, key: &str, value: impl Into<Value>) {
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key.to_string(), value)),
        }
    }
}

impl Serialize for Dict {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A value that is either plain JSON, an ordered dict or a list of them, so ordered dicts can
/// nest.
#[derive(Debug, Clone)]
pub enum Nested {
    Plain(Value),
    Ordered(Vec<(String, Nested)>),
    List(Vec<Nested>),
}

impl Serialize for Nested {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Nested::Plain(v) => v.serialize(s),
            Nested::List(items) => items.serialize(s),
            Nested::Ordered(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl From<Dict> for Nested {
    fn from(d: Dict) -> Self {
        Nested::Ordered(
            d.0.into_iter()
                .map(|(k, v)| (k, Nested::Plain(v)))
                .collect(),
        )
    }
}

/// Python's `repr(float)`.
pub fn python_float_repr(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. "1.5e-7", "1e16".
    let sci = format!("{value:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if negative { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let point = exp + 1; // position of the decimal point within `digits`
        let body = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if point as usize >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            let (int, frac) = digits.split_at(point as usize);
            format!("{int}.{frac}")
        };
        format!("{sign}{body}")
    } else {
        let (first, rest) = digits.split_at(1);
        let mantissa = if rest.is_empty() {
            first.to_string()
        } else {
            format!("{first}.{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{esign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn separators_match_python() {
        let v = json!({"a": [1, 2, {"b": null}], "c": true});
        assert_eq!(dumps(&v), r#"{"a": [1, 2, {"b": null}], "c": true}"#);
        assert_eq!(dumps(&json!([])), "[]");
        assert_eq!(dumps(&json!({})), "{}");
    }

    #[test]
    fn non_ascii_is_escaped_with_surrogate_pairs() {
        let v = json!("<p>café 😀</p>");
        assert_eq!(dumps(&v), r#""<p>caf\u00e9 \ud83d\ude00</p>""#);
        assert_eq!(dumps_utf8(&v), "\"<p>café 😀</p>\"");
    }

    #[test]
    fn control_characters_and_del_follow_python() {
        let v = json!("a\"b\\c\n\u{1}\u{7f}");
        assert_eq!(dumps(&v), r#""a\"b\\c\n\u0001\u007f""#);
        // ensure_ascii=False leaves DEL alone, like Python.
        assert_eq!(dumps_utf8(&v), "\"a\\\"b\\\\c\\n\\u0001\u{7f}\"");
    }

    #[test]
    fn floats_follow_python_repr() {
        for (x, s) in [
            (0.5, "0.5"),
            (1.0, "1.0"),
            (100.0, "100.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e16, "1e+16"),
            (1.2345e20, "1.2345e+20"),
            (123456789012345.6, "123456789012345.6"),
            (-2.5, "-2.5"),
            (0.1 + 0.2, "0.30000000000000004"),
        ] {
            assert_eq!(python_float_repr(x), s, "{x}");
        }
        assert_eq!(
            dumps(&json!({"temporary_id": 0.75})),
            r#"{"temporary_id": 0.75}"#
        );
    }

    #[test]
    fn ordered_dict_keeps_insertion_order() {
        let d = Dict::new()
            .set("jsonrpc", "2.0")
            .set("id", 1)
            .set("result", json!({"b": 1, "a": 2}));
        assert_eq!(
            dumps_utf8(&d),
            r#"{"jsonrpc": "2.0", "id": 1, "result": {"a": 2, "b": 1}}"#
        );
        let nested = Nested::Ordered(vec![(
            "z".into(),
            Nested::from(Dict::new().set("y", 1).set("x", 2)),
        )]);
        assert_eq!(dumps_utf8(&nested), r#"{"z": {"y": 1, "x": 2}}"#);
    }
}
