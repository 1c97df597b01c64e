//! JSON exactly as Go's `encoding/json` writes it, which is what upstream kubectl prints:
//! object keys sorted bytewise, `<`, `>`, `&`, U+2028 and U+2029 escaped, control characters as
//! `\u00XX` (except `\n`, `\r`, `\t`), and for `-o json` four-space indentation.

use serde_json::Value;

/// `json.MarshalIndent(value, "", "    ")` plus the newline kubectl adds.
pub fn to_json_pretty(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, Some("    "), 0);
    out.push('\n');
    out
}

/// `json.MarshalIndent(value, "", "  ")` plus a newline (what `kubectl version -o json` uses).
pub fn to_json_two_spaces(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, Some("  "), 0);
    out.push('\n');
    out
}

/// `json.Marshal(value)`: compact, as JSONPath prints maps and lists.
pub fn to_json_compact(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, None, 0);
    out
}

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
        Value::Number(n) => out.push_str(&format_number(n)),
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
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                write_string(out, key);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                write_value(out, &map[key.as_str()], indent, depth + 1);
            }
            newline(out, indent, depth);
            out.push('}');
        }
    }
}

/// Go's string encoding with HTML-safe escaping.
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's float encoding: `'f'` format between 1e-6 and 1e21, else `'e'` with a short exponent.
fn format_number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or_default();
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let formatted = format!("{f:e}");
        let (mantissa, exp) = formatted.split_once('e').unwrap_or((&formatted, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    format!("{f}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pretty_json_matches_go_marshal_indent() {
        let value = json!({"kind": "Secret", "data": {"cc": "ZGRkZA==", "a": "Yg=="}, "list": [], "m": {}, "n": [1, 2.5]});
        assert_eq!(
            to_json_pretty(&value),
            "{\n    \"data\": {\n        \"a\": \"Yg==\",\n        \"cc\": \"ZGRkZA==\"\n    },\n    \"kind\": \"Secret\",\n    \"list\": [],\n    \"m\": {},\n    \"n\": [\n        1,\n        2.5\n    ]\n}\n"
        );
    }

    #[test]
    fn strings_escape_like_go() {
        assert_eq!(
            to_json_compact(&json!("a<b>&\"c\"\n\u{1}\u{2028}é")),
            "\"a\\u003cb\\u003e\\u0026\\\"c\\\"\\n\\u0001\\u2028é\""
        );
        assert_eq!(
            to_json_compact(&json!({"b": 1, "a": [true, null]})),
            "{\"a\":[true,null],\"b\":1}"
        );
    }
}
