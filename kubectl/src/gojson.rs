//! JSON exactly as Go's `encoding/json` writes an unstructured object: object keys sorted, no
//! whitespace (or `MarshalIndent`'s), `<`, `>` and `&` escaped as `\u003c`, `\u003e`, `\u0026`
//! (and U+2028/U+2029), `\b` and `\f` as Go 1.22+ writes them, other control characters as
//! `\u00XX`, floats in Go's shortest form (`1`, `0.5`, `1e+21`, `1e-7`).
//!
//! Upstream kubectl stores this text in the `kubectl.kubernetes.io/last-applied-configuration`
//! annotation, so writing it the same way keeps our annotation byte-for-byte identical and lets
//! the real kubectl and ours take turns applying the same object. `-o json` and JSONPath print
//! through the same encoder.

use serde_json::{Number, Value};
use std::fmt::Write;

/// `json.Marshal(value)`.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, None, 0);
    out
}

/// What `json.NewEncoder(w).Encode(value)` writes: [`to_string`] and a newline.
pub fn to_line(value: &Value) -> String {
    let mut out = to_string(value);
    out.push('\n');
    out
}

/// `json.MarshalIndent(value, "", indent)`.
pub fn to_indented(value: &Value, indent: &str) -> String {
    let mut out = String::new();
    write_value(&mut out, value, Some(indent), 0);
    out
}

/// Starts a new line at `depth` levels of `indent`; nothing when compact.
fn newline(out: &mut String, indent: Option<&str>, depth: usize) {
    if let Some(unit) = indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(unit);
        }
    }
}

fn write_value(out: &mut String, value: &Value, indent: Option<&str>, depth: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                write_value(out, item, indent, depth + 1);
            }
            newline(out, indent, depth);
            out.push(']');
        }
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Object(map) => {
            // serde_json's map is ordered by key (no `preserve_order`), as Go sorts map keys.
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                write_string(out, key);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                write_value(out, item, indent, depth + 1);
            }
            newline(out, indent, depth);
            out.push('}');
        }
    }
}

fn write_number(out: &mut String, n: &Number) {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(f) = n.as_f64() {
        out.push_str(&go_float(f));
    }
}

/// Go's `encoding/json` float64 format: the shortest representation, `%f`-style between 1e-6
/// and 1e21, exponent form outside with a sign and at least one exponent digit (`1e-7`,
/// `1e+21`).
pub fn go_float(f: f64) -> String {
    let abs = f.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        // Rust's Display is the shortest round-tripping decimal without an exponent.
        let text = format!("{f}");
        return text;
    }
    // `{:e}` is the shortest round-tripping mantissa with an exponent: `1e21`, `1.5e-7`.
    let text = format!("{f:e}");
    match text.split_once('e') {
        Some((mantissa, exponent)) => {
            let (sign, digits) = match exponent.strip_prefix('-') {
                Some(digits) => ('-', digits),
                None => ('+', exponent),
            };
            let digits = if digits.len() < 2 && sign == '+' {
                format!("{digits:0>2}")
            } else {
                digits.to_owned()
            };
            format!("{mantissa}e{sign}{digits}")
        }
        None => text,
    }
}

/// A JSON string as Go writes it (see the module docs), appended to `out`.
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_like_go() {
        let cases = [
            (
                json!({"b": 1, "a": [true, null]}),
                r#"{"a":[true,null],"b":1}"#,
            ),
            (json!("echo <&> ;"), r#""echo \u003c\u0026\u003e ;""#),
            (json!("tab\tnl\nq\"bs\\"), r#""tab\tnl\nq\"bs\\""#),
            (json!("\u{1}\u{8}\u{2028}"), r#""\u0001\b\u2028""#),
            (json!({"annotations": {}}), r#"{"annotations":{}}"#),
            (json!(0.5), "0.5"),
            (json!(-2.25), "-2.25"),
            (json!(1e21), "1e+21"),
            (json!(1.5e-7), "1.5e-7"),
            (json!(123456789.0), "123456789"),
            (json!(u64::MAX), "18446744073709551615"),
            (json!(-7), "-7"),
        ];
        for (value, want) in cases {
            assert_eq!(to_string(&value), want, "{value}");
        }
        assert_eq!(to_line(&json!({})), "{}\n");
    }

    #[test]
    fn strings_escape_like_go() {
        assert_eq!(
            to_string(&json!("a<b>&\"c\"\n\u{1}\u{2028}é")),
            "\"a\\u003cb\\u003e\\u0026\\\"c\\\"\\n\\u0001\\u2028é\""
        );
        assert_eq!(
            to_string(&json!({"b": 1, "a": [true, null]})),
            "{\"a\":[true,null],\"b\":1}"
        );
    }
}
