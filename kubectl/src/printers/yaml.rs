//! YAML exactly as upstream kubectl prints it: `sigs.k8s.io/yaml` turns the object's JSON into
//! go-yaml v2 output, so keys are sorted (go-yaml's natural order), sequences inside mappings are
//! not indented, strings that would read back as another type are double-quoted (`"80"`,
//! `"true"`, `"y"`, timestamps), multi-line strings become literal blocks (`|`, `|-`, `|+`), and
//! long strings are folded at spaces past column 80, all following the libyaml emitter rules.

use serde_json::{Map, Value};
use std::cmp::Ordering;

/// go-yaml's preferred line width: scalars break at a space once past this column.
const BEST_WIDTH: usize = 80;
/// go-yaml's indentation step.
const INDENT: usize = 2;

/// The YAML document for `value`, ending in a newline.
pub fn to_yaml(value: &Value) -> String {
    let mut emitter = Emitter::default();
    emitter.node(value, 0, Context::Root);
    if !emitter.out.ends_with('\n') {
        emitter.out.push('\n');
    }
    emitter.out
}

/// Mapping keys in go-yaml v2's order: runs of digits compare as numbers, and non-letters sort
/// before letters.
pub fn compare_keys(a: &str, b: &str) -> Ordering {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    for i in 0..ar.len().min(br.len()) {
        if ar[i] == br[i] {
            continue;
        }
        let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let mut an: i64 = 0;
        let mut bn: i64 = 0;
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an
                .saturating_mul(10)
                .saturating_add(i64::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn
                .saturating_mul(10)
                .saturating_add(i64::from(br[bi] as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

/// Where a node sits, which decides how it starts and how it is indented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    Root,
    /// The value after `key:`.
    MappingValue,
    /// Right after `- `.
    SequenceItem,
}

#[derive(Default)]
struct Emitter {
    out: String,
    /// Characters on the current line so far (libyaml's `column`).
    column: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
}

impl Emitter {
    fn put(&mut self, s: &str) {
        for c in s.chars() {
            self.put_char(c);
        }
    }

    fn put_char(&mut self, c: char) {
        self.out.push(c);
        if c == '\n' {
            self.column = 0;
        } else {
            self.column += 1;
        }
    }

    fn newline_indent(&mut self, indent: usize) {
        if self.column != 0 {
            self.put_char('\n');
        }
        while self.column < indent {
            self.put_char(' ');
        }
    }

    /// Emits `value` whose block content sits at `indent`.
    fn node(&mut self, value: &Value, indent: usize, context: Context) {
        match value {
            Value::Object(map) if map.is_empty() => self.inline("{}", context),
            Value::Array(items) if items.is_empty() => self.inline("[]", context),
            Value::Object(map) => self.mapping(map, indent, context),
            Value::Array(items) => self.sequence(items, indent, context),
            Value::String(s) => self.string(s, indent, context, false),
            Value::Null => self.inline("null", context),
            Value::Bool(b) => self.inline(if *b { "true" } else { "false" }, context),
            Value::Number(n) => self.inline(&format_number(n), context),
        }
    }

    fn inline(&mut self, text: &str, context: Context) {
        if context == Context::MappingValue {
            self.put_char(' ');
        }
        self.put(text);
        self.put_char('\n');
    }

    fn mapping(&mut self, map: &Map<String, Value>, indent: usize, context: Context) {
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort_by(|a, b| compare_keys(a, b));
        // A mapping as a mapping value starts on the next line, one step in; after `- ` its
        // first key stays on the dash's line.
        let indent = match context {
            Context::MappingValue => {
                self.put_char('\n');
                indent + INDENT
            }
            _ => indent,
        };
        for (i, key) in keys.into_iter().enumerate() {
            if i > 0 || context != Context::SequenceItem {
                self.newline_indent(indent);
            }
            self.string(key, indent, Context::Root, true);
            self.put_char(':');
            let value = &map[key.as_str()];
            match value {
                // Sequences in a mapping are not indented (go-yaml's indentless sequences).
                Value::Array(items) if !items.is_empty() => {
                    self.put_char('\n');
                    self.sequence(items, indent, Context::MappingValue);
                }
                _ => self.node(value, indent, Context::MappingValue),
            }
        }
    }

    fn sequence(&mut self, items: &[Value], indent: usize, context: Context) {
        // A sequence right after `- ` nests one step in.
        let indent = if context == Context::SequenceItem {
            indent + INDENT
        } else {
            indent
        };
        for (i, item) in items.iter().enumerate() {
            if i > 0 || context != Context::SequenceItem {
                self.newline_indent(indent);
            }
            self.put("- ");
            match item {
                Value::Object(map) if !map.is_empty() => {
                    self.mapping(map, indent + INDENT, Context::SequenceItem)
                }
                _ => self.node(item, indent, Context::SequenceItem),
            }
        }
    }

    /// A string scalar; `is_key` puts it in libyaml's simple-key context (no folding).
    fn string(&mut self, s: &str, indent: usize, context: Context, is_key: bool) {
        if context == Context::MappingValue {
            self.put_char(' ');
        }
        let analysis = Analysis::of(s);
        let requested = if s.contains('\n') {
            Style::Literal
        } else if resolves_to_string(s) {
            Style::Plain
        } else {
            Style::DoubleQuoted
        };
        let style = select_style(requested, &analysis, s, is_key);
        // Continuation lines of a folded or literal scalar sit one step in.
        let continuation = indent + INDENT;
        let allow_breaks = !is_key;
        match style {
            Style::Plain => self.write_plain(s, continuation, allow_breaks),
            Style::SingleQuoted => self.write_single_quoted(s, continuation, allow_breaks),
            Style::DoubleQuoted => self.write_double_quoted(s, continuation, allow_breaks),
            Style::Literal => self.write_literal(s, continuation),
        }
        if !is_key {
            self.put_char('\n');
        }
    }

    fn write_plain(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_is_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks && !spaces && self.column > BEST_WIDTH && !next_is_space {
                    self.newline_indent(indent);
                } else {
                    self.put_char(c);
                }
                spaces = true;
            } else {
                self.put_char(c);
                spaces = false;
            }
        }
    }

    fn write_single_quoted(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        self.put_char('\'');
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_is_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i > 0
                    && i + 1 < chars.len()
                    && !next_is_space
                {
                    self.newline_indent(indent);
                } else {
                    self.put_char(c);
                }
                spaces = true;
            } else {
                if c == '\'' {
                    self.put_char('\'');
                }
                self.put_char(c);
                spaces = false;
            }
        }
        self.put_char('\'');
    }

    fn write_double_quoted(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        self.put_char('"');
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if !is_printable(c) || c == '\u{feff}' || is_break(c) || c == '"' || c == '\\' {
                self.put_char('\\');
                let escaped = match c {
                    '\0' => "0".to_owned(),
                    '\u{7}' => "a".to_owned(),
                    '\u{8}' => "b".to_owned(),
                    '\t' => "t".to_owned(),
                    '\n' => "n".to_owned(),
                    '\u{b}' => "v".to_owned(),
                    '\u{c}' => "f".to_owned(),
                    '\r' => "r".to_owned(),
                    '\u{1b}' => "e".to_owned(),
                    '"' => "\"".to_owned(),
                    '\\' => "\\".to_owned(),
                    '\u{85}' => "N".to_owned(),
                    '\u{a0}' => "_".to_owned(),
                    '\u{2028}' => "L".to_owned(),
                    '\u{2029}' => "P".to_owned(),
                    c if (c as u32) <= 0xff => format!("x{:02X}", c as u32),
                    c if (c as u32) <= 0xffff => format!("u{:04X}", c as u32),
                    c => format!("U{:08X}", c as u32),
                };
                self.put(&escaped);
                spaces = false;
            } else if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i > 0
                    && i + 1 < chars.len()
                {
                    self.newline_indent(indent);
                    if chars.get(i + 1) == Some(&' ') {
                        self.put_char('\\');
                    }
                } else {
                    self.put_char(c);
                }
                spaces = true;
            } else {
                self.put_char(c);
                spaces = false;
            }
        }
        self.put_char('"');
    }

    fn write_literal(&mut self, s: &str, indent: usize) {
        self.put_char('|');
        let chars: Vec<char> = s.chars().collect();
        if chars.first().is_some_and(|&c| c == ' ' || is_break(c)) {
            self.put(&INDENT.to_string());
        }
        match chars.last() {
            None => self.put_char('-'),
            Some(&last) if !is_break(last) => self.put_char('-'),
            Some(_) if chars.len() == 1 || is_break(chars[chars.len() - 2]) => self.put_char('+'),
            Some(_) => {}
        }
        self.put_char('\n');
        let mut at_line_start = true;
        for &c in &chars {
            if is_break(c) {
                self.put_char('\n');
                at_line_start = true;
            } else {
                if at_line_start {
                    self.newline_indent(indent);
                    at_line_start = false;
                }
                self.put_char(c);
            }
        }
        // The content's final line break was written by the loop; `string` adds none twice.
        if self.out.ends_with('\n') {
            self.out.pop();
            self.column = 1;
        }
    }
}

/// libyaml's `yaml_emitter_analyze_scalar`, reduced to what style selection reads.
struct Analysis {
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
    multiline: bool,
}

impl Analysis {
    fn of(s: &str) -> Self {
        let chars: Vec<char> = s.chars().collect();
        if chars.is_empty() {
            return Analysis {
                block_plain_allowed: true,
                single_quoted_allowed: true,
                block_allowed: false,
                multiline: false,
            };
        }
        let mut block_indicators = s.starts_with("---") || s.starts_with("...");
        let (mut leading_space, mut leading_break) = (false, false);
        let (mut trailing_space, mut trailing_break) = (false, false);
        let (mut break_space, mut space_break) = (false, false);
        let (mut previous_space, mut previous_break) = (false, false);
        let (mut line_breaks, mut special) = (false, false);
        let mut preceded_by_whitespace = true;
        for (i, &c) in chars.iter().enumerate() {
            let followed_by_whitespace = chars
                .get(i + 1)
                .is_none_or(|&n| n == ' ' || n == '\t' || is_break(n));
            if i == 0 {
                match c {
                    '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\''
                    | '"' | '%' | '@' | '`' => block_indicators = true,
                    '?' | ':' if followed_by_whitespace => block_indicators = true,
                    '-' if followed_by_whitespace => block_indicators = true,
                    _ => {}
                }
            } else {
                match c {
                    ':' if followed_by_whitespace => block_indicators = true,
                    '#' if preceded_by_whitespace => block_indicators = true,
                    _ => {}
                }
            }
            if !is_printable(c) {
                special = true;
            }
            if c == ' ' {
                leading_space |= i == 0;
                trailing_space |= i + 1 == chars.len();
                break_space |= previous_break;
                previous_space = true;
                previous_break = false;
            } else if is_break(c) {
                line_breaks = true;
                leading_break |= i == 0;
                trailing_break |= i + 1 == chars.len();
                space_break |= previous_space;
                previous_space = false;
                previous_break = true;
            } else {
                previous_space = false;
                previous_break = false;
            }
            preceded_by_whitespace = c == ' ' || c == '\t' || is_break(c);
        }
        let mut analysis = Analysis {
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: true,
            multiline: line_breaks,
        };
        if leading_space || leading_break || trailing_space || trailing_break {
            analysis.block_plain_allowed = false;
        }
        if trailing_space {
            analysis.block_allowed = false;
        }
        if break_space {
            analysis.block_plain_allowed = false;
            analysis.single_quoted_allowed = false;
        }
        if space_break || special {
            analysis.block_plain_allowed = false;
            analysis.single_quoted_allowed = false;
            analysis.block_allowed = false;
        }
        if line_breaks || block_indicators {
            analysis.block_plain_allowed = false;
        }
        analysis
    }
}

/// libyaml's `yaml_emitter_select_scalar_style` for block context.
fn select_style(requested: Style, analysis: &Analysis, s: &str, is_key: bool) -> Style {
    let mut style = requested;
    if is_key && analysis.multiline {
        style = Style::DoubleQuoted;
    }
    if style == Style::Plain && (!analysis.block_plain_allowed || (s.is_empty() && is_key)) {
        style = Style::SingleQuoted;
    }
    if style == Style::SingleQuoted && !analysis.single_quoted_allowed {
        style = Style::DoubleQuoted;
    }
    if style == Style::Literal && (!analysis.block_allowed || is_key) {
        style = Style::DoubleQuoted;
    }
    style
}

/// Whether go-yaml would read `s`, unquoted, back as a string (its `resolve` plus the
/// base-60 float check in `stringv`).
fn resolves_to_string(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
        "-.Inf", "-.INF",
    ];
    if SPECIAL.contains(&s) {
        return false;
    }
    let first = match s.chars().next() {
        Some(c) => c,
        None => return false,
    };
    let resolved_string = match first {
        '.' => s.parse::<f64>().is_err() || s.contains(|c: char| c.is_alphabetic()),
        '+' | '-' | '0'..='9' => {
            let plain = s.replace('_', "");
            !(is_timestamp(s) || is_go_int(&plain) || is_yaml_float(&plain) || is_binary(&plain))
        }
        _ => true,
    };
    resolved_string && !is_base60_float(s)
}

/// `strconv.ParseInt(s, 0, 64)` (or ParseUint) would accept it.
fn is_go_int(s: &str) -> bool {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (digits, radix) = if let Some(rest) = unsigned
        .strip_prefix("0x")
        .or_else(|| unsigned.strip_prefix("0X"))
    {
        (rest, 16)
    } else if let Some(rest) = unsigned
        .strip_prefix("0o")
        .or_else(|| unsigned.strip_prefix("0O"))
    {
        (rest, 8)
    } else if let Some(rest) = unsigned
        .strip_prefix("0b")
        .or_else(|| unsigned.strip_prefix("0B"))
    {
        (rest, 2)
    } else if unsigned.len() > 1 && unsigned.starts_with('0') {
        (&unsigned[1..], 8)
    } else {
        (unsigned, 10)
    };
    !digits.is_empty()
        && u128::from_str_radix(digits, radix).is_ok_and(|v| v <= u128::from(u64::MAX))
}

/// go-yaml's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(at) => (&s[..at], Some(&s[at + 1..])),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => digits(frac),
        Some((int, frac)) => digits(int) && (frac.is_empty() || digits(frac)),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

fn is_binary(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    s.strip_prefix("0b")
        .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c == '0' || c == '1'))
}

/// go-yaml's timestamp formats: `2006-1-2`, `2006-1-2T15:4:5.999999999Z07:00` (also with a
/// lower-case `t`) and `2006-1-2 15:4:5.999999999`.
fn is_timestamp(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.len() < 5 || !bytes[..4].iter().all(u8::is_ascii_digit) || bytes[4] != b'-' {
        return false;
    }
    let (date, time) = match s.find(['T', 't', ' ']) {
        Some(at) => (&s[..at], Some((&s[at..at + 1], &s[at + 1..]))),
        None => (s, None),
    };
    let number = |t: &str, max_len: usize, max: u32, min: u32| {
        !t.is_empty()
            && t.len() <= max_len
            && t.chars().all(|c| c.is_ascii_digit())
            && t.parse::<u32>().is_ok_and(|v| v >= min && v <= max)
    };
    let parts: Vec<&str> = date.split('-').collect();
    if parts.len() != 3
        || !number(parts[0], 4, 9999, 0)
        || !number(parts[1], 2, 12, 1)
        || !number(parts[2], 2, 31, 1)
    {
        return false;
    }
    let Some((separator, time)) = time else {
        return true;
    };
    let (clock, zone) = if separator == " " {
        (time, None)
    } else if let Some(clock) = time.strip_suffix('Z') {
        (clock, Some(""))
    } else {
        match time.rfind(['+', '-']) {
            Some(at) => (&time[..at], Some(&time[at + 1..])),
            None => return false,
        }
    };
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, f)) => (hms, Some(f)),
        None => (clock, None),
    };
    let hms: Vec<&str> = hms.split(':').collect();
    let clock_ok = hms.len() == 3
        && number(hms[0], 2, 23, 0)
        && number(hms[1], 2, 59, 0)
        && number(hms[2], 2, 59, 0)
        && fraction
            .is_none_or(|f| !f.is_empty() && f.len() <= 9 && f.chars().all(|c| c.is_ascii_digit()));
    let zone_ok = zone.is_none_or(|z| {
        z.is_empty()
            || z.split_once(':').is_some_and(|(h, m)| {
                h.len() == 2 && m.len() == 2 && number(h, 2, 23, 0) && number(m, 2, 59, 0)
            })
    });
    clock_ok && zone_ok
}

/// go-yaml's `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
fn is_base60_float(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (main, fraction) = match s.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (s, None),
    };
    let mut parts = main.split(':');
    let head = parts.next().unwrap_or_default();
    let head_ok = head.chars().next().is_some_and(|c| c.is_ascii_digit())
        && head.chars().all(|c| c.is_ascii_digit() || c == '_');
    let rest: Vec<&str> = parts.collect();
    let rest_ok = !rest.is_empty()
        && rest.iter().all(|p| match p.as_bytes() {
            [d] => d.is_ascii_digit(),
            [t, d] => (b'0'..=b'5').contains(t) && d.is_ascii_digit(),
            _ => false,
        });
    let fraction_ok = fraction.is_none_or(|f| f.chars().all(|c| c.is_ascii_digit() || c == '_'));
    head_ok && rest_ok && fraction_ok
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// libyaml's printable set (what it may write unescaped).
fn is_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0a
        || (0x20..=0x7e).contains(&u)
        || (0xa0..=0xd7ff).contains(&u)
        || ((0xe000..=0xfffd).contains(&u) && u != 0xfeff)
}

/// go-yaml's number printing: integers in decimal, floats as Go's `%g` with `.inf`/`.nan`.
pub(crate) fn format_number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or_default();
    go_float_g(f)
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`.
pub(crate) fn go_float_g(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    if f == 0.0 {
        return "0".into();
    }
    // Go's shortest `%g` switches to an exponent outside 1e-4 <= |f| < 1e6.
    let exponent = f.abs().log10().floor() as i32;
    if !(-4..6).contains(&exponent) {
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
    fn objects_print_like_kubectl() {
        let object = json!({
            "kind": "Service",
            "apiVersion": "v1",
            "metadata": {"name": "web", "labels": {"app": "web"}, "creationTimestamp": "2026-11-23T18:38:22Z", "resourceVersion": "31"},
            "spec": {
                "clusterIPs": ["10.103.185.242"],
                "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
                "selector": {"app": "web"},
            },
            "status": {"loadBalancer": {}},
        });
        assert_eq!(
            to_yaml(&object),
            r#"apiVersion: v1
kind: Service
metadata:
  creationTimestamp: "2026-11-23T18:38:22Z"
  labels:
    app: web
  name: web
  resourceVersion: "31"
spec:
  clusterIPs:
  - 10.103.185.242
  ports:
  - port: 80
    protocol: TCP
    targetPort: 80
  selector:
    app: web
status:
  loadBalancer: {}
"#
        );
    }

    #[test]
    fn strings_are_quoted_only_when_they_would_read_back_as_something_else() {
        let cases = [
            ("y", "\"y\""),
            ("yes", "\"yes\""),
            ("true", "\"true\""),
            ("80", "\"80\""),
            ("08", "\"08\""),
            ("0x1f", "\"0x1f\""),
            ("1.5", "\"1.5\""),
            ("1e3", "\"1e3\""),
            ("", "\"\""),
            ("null", "\"null\""),
            ("2026-11-23", "\"2026-11-23\""),
            ("10:30", "\"10:30\""),
            ("10.96.0.1", "10.96.0.1"),
            ("app=web", "app=web"),
            ("sleep 3600", "sleep 3600"),
            ("*", "'*'"),
            ("- x", "'- x'"),
            ("a: b", "'a: b'"),
            ("it's", "it's"),
            (" lead", "' lead'"),
            ("tab\there", "\"tab\\there\""),
            ("{\"a\":1}", "'{\"a\":1}'"),
            ("500m", "500m"),
            ("-", "'-'"),
        ];
        for (input, want) in cases {
            let got = to_yaml(&json!({ "k": input }));
            assert_eq!(got, format!("k: {want}\n"), "{input:?}");
        }
    }

    #[test]
    fn multi_line_strings_are_literal_blocks_with_chomping() {
        let got = to_yaml(&json!({"a": {"b": "one\ntwo\n", "c": "x\ny", "d": "end\n\n"}}));
        assert_eq!(
            got,
            "a:\n  b: |\n    one\n    two\n  c: |-\n    x\n    y\n  d: |+\n    end\n\n"
        );
        // A space before a line break rules out the block style.
        assert_eq!(to_yaml(&json!({"k": "a \nb"})), "k: \"a \\nb\"\n");
    }

    #[test]
    fn long_strings_fold_past_column_eighty() {
        let message = "ReplicaSet \"web-6fd7db4465\" has timed out progressing because it did not become available in time";
        let got = to_yaml(&json!({"status": {"conditions": [{"message": message}]}}));
        assert_eq!(
            got,
            "status:\n  conditions:\n  - message: ReplicaSet \"web-6fd7db4465\" has timed out progressing because it did\n      not become available in time\n"
        );
    }

    #[test]
    fn keys_sort_in_go_yaml_natural_order() {
        let mut keys = vec!["b", "a10", "a9", "A", "_x", "a", "a-b", "ab"];
        keys.sort_by(|a, b| compare_keys(a, b));
        assert_eq!(keys, ["_x", "A", "a", "a-b", "a9", "a10", "ab", "b"]);
    }

    #[test]
    fn nested_sequences_and_empty_collections() {
        let got = to_yaml(&json!({"a": [[1, 2], [], {}], "b": [], "c": null, "d": 0.5}));
        assert_eq!(
            got,
            "a:\n- - 1\n  - 2\n- []\n- {}\nb: []\nc: null\nd: 0.5\n"
        );
        assert_eq!(to_yaml(&json!({})), "{}\n");
    }
}
