//! `-o jsonpath=TEMPLATE`: the JSONPath template language of upstream kubectl
//! (`k8s.io/client-go/util/jsonpath`): literal text with `{...}` actions holding paths
//! (`{.metadata.name}`, `{.items[*].metadata.name}`, `{.spec.containers[0].image}`, `{..image}`),
//! quoted text (`{"\n"}`), unions (`[0,1]`, `['a','b']`), slices (`[1:3]`, `[-1:]`), filters
//! (`[?(@.type=="Ready")]`, `[?(@.port>80)]`, `[?(@.name)]`) and `{range ...}...{end}`.
//!
//! As kubectl does by default (`--allow-missing-template-keys=true`), a missing key prints
//! nothing. Several results of one action are separated by a space; strings print raw,
//! numbers and booleans as Go prints them, maps and lists as compact JSON.

use super::yaml::go_float_g;
use crate::gojson;
use serde_json::Value;
use std::cmp::Ordering;

/// A parse or evaluation failure, worded as upstream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JsonPathError(pub String);

fn fail<T>(message: impl Into<String>) -> Result<T, JsonPathError> {
    Err(JsonPathError(message.into()))
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
enum Item {
    Text(String),
    Path(Vec<Step>),
    Range(Vec<Step>, Vec<Item>),
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Wildcard,
    Recursive,
    Slice {
        start: Option<i64>,
        end: Option<i64>,
        step: Option<i64>,
        single: bool,
    },
    Union(Vec<Vec<Step>>),
    Filter {
        left: Vec<Step>,
        operator: Option<String>,
        right: Operand,
    },
    Literal(Value),
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    None,
    Literal(Value),
    Path(Vec<Step>),
}

impl Template {
    /// Parses a template such as `{range .items[*]}{.metadata.name}{"\n"}{end}`.
    pub fn parse(text: &str) -> Result<Self, JsonPathError> {
        let mut flat = Vec::new();
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        let mut literal = String::new();
        while i < chars.len() {
            if chars[i] != '{' {
                literal.push(chars[i]);
                i += 1;
                continue;
            }
            if !literal.is_empty() {
                flat.push(Flat::Text(std::mem::take(&mut literal)));
            }
            let end = find_action_end(&chars, i + 1)
                .ok_or_else(|| JsonPathError(format!("unclosed action in {text:?}")))?;
            let action: String = chars[i + 1..end].iter().collect();
            flat.push(parse_action(action.trim())?);
            i = end + 1;
        }
        if !literal.is_empty() {
            flat.push(Flat::Text(literal));
        }
        let mut position = 0;
        let items = nest(&flat, &mut position, false)?;
        Ok(Self { items })
    }

    /// Runs the template over `data`.
    pub fn execute(&self, data: &Value) -> Result<String, JsonPathError> {
        let mut out = String::new();
        run_items(&self.items, data, &mut out)?;
        Ok(out)
    }
}

/// One action or text run before `range`/`end` are nested.
#[derive(Debug, Clone)]
enum Flat {
    Text(String),
    Path(Vec<Step>),
    Range(Vec<Step>),
    End,
}

fn nest(flat: &[Flat], position: &mut usize, in_range: bool) -> Result<Vec<Item>, JsonPathError> {
    let mut items = Vec::new();
    while *position < flat.len() {
        let current = flat[*position].clone();
        *position += 1;
        match current {
            Flat::Text(t) => items.push(Item::Text(t)),
            Flat::Path(p) => items.push(Item::Path(p)),
            Flat::Range(p) => {
                let body = nest(flat, position, true)?;
                items.push(Item::Range(p, body));
            }
            Flat::End if in_range => return Ok(items),
            Flat::End => return fail("not in range, nothing to end"),
        }
    }
    Ok(items)
}

/// The index of the `}` closing an action opened before `start`, skipping quoted text.
fn find_action_end(chars: &[char], start: usize) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut i = start;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(_) if c == '\\' => i += 1,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '}' => return Some(i),
            None => {}
        }
        i += 1;
    }
    None
}

fn parse_action(action: &str) -> Result<Flat, JsonPathError> {
    if action == "end" {
        return Ok(Flat::End);
    }
    if let Some(rest) = action.strip_prefix("range") {
        if rest.is_empty() || rest.starts_with(char::is_whitespace) {
            return Ok(Flat::Range(parse_path(rest.trim())?));
        }
    }
    Ok(Flat::Path(parse_path(action)?))
}

/// Parses a path (or a literal) inside an action or a filter.
fn parse_path(text: &str) -> Result<Vec<Step>, JsonPathError> {
    let chars: Vec<char> = text.chars().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '$' | '@' => i += 1,
            '"' | '\'' => {
                let (value, next) = parse_quoted(&chars, i)?;
                steps.push(Step::Literal(Value::String(value)));
                i = next;
            }
            '.' if chars.get(i + 1) == Some(&'.') => {
                steps.push(Step::Recursive);
                let (name, next) = read_field(&chars, i + 2);
                i = next;
                match name.as_str() {
                    "" => {}
                    "*" => steps.push(Step::Wildcard),
                    _ => steps.push(Step::Field(name)),
                }
            }
            '.' => {
                i += 1;
                let (name, next) = read_field(&chars, i);
                i = next;
                match name.as_str() {
                    "" => {}
                    "*" => steps.push(Step::Wildcard),
                    _ => steps.push(Step::Field(name)),
                }
            }
            '[' => {
                let end = find_bracket_end(&chars, i + 1)
                    .ok_or_else(|| JsonPathError(format!("unterminated array in {text:?}")))?;
                let inner: String = chars[i + 1..end].iter().collect();
                steps.push(parse_bracket(inner.trim())?);
                i = end + 1;
            }
            c if c.is_ascii_digit() || c == '-' => {
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
                    j += 1;
                }
                let number: String = chars[i..j].iter().collect();
                let value = number
                    .parse::<i64>()
                    .map(Value::from)
                    .or_else(|_| number.parse::<f64>().map(Value::from))
                    .map_err(|_| JsonPathError(format!("invalid number {number:?}")))?;
                steps.push(Step::Literal(value));
                i = j;
            }
            _ => {
                let (word, next) = read_field(&chars, i);
                match word.as_str() {
                    "true" => steps.push(Step::Literal(Value::Bool(true))),
                    "false" => steps.push(Step::Literal(Value::Bool(false))),
                    _ => return fail(format!("unrecognized character in action: {c:?}")),
                }
                i = next.max(i + 1);
            }
        }
    }
    Ok(steps)
}

/// A field name up to the next `.`, `[`, space or operator; `\` escapes the next character.
fn read_field(chars: &[char], mut i: usize) -> (String, usize) {
    let mut name = String::new();
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            name.push(chars[i + 1]);
            i += 2;
            continue;
        }
        if matches!(
            c,
            '.' | '[' | ']' | ' ' | '\t' | '\n' | '\r' | ')' | ',' | '=' | '!' | '<' | '>' | '}'
        ) {
            break;
        }
        name.push(c);
        i += 1;
    }
    (name, i)
}

fn parse_quoted(chars: &[char], start: usize) -> Result<(String, usize), JsonPathError> {
    let quote = chars[start];
    let mut value = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let escaped = chars[i + 1];
            value.push(match escaped {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                '0' => '\0',
                other => other,
            });
            i += 2;
            continue;
        }
        if c == quote {
            return Ok((value, i + 1));
        }
        value.push(c);
        i += 1;
    }
    fail(format!(
        "unterminated quoted string in {:?}",
        chars.iter().collect::<String>()
    ))
}

fn find_bracket_end(chars: &[char], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut i = start;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(_) if c == '\\' => i += 1,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '\'' => quote = Some(c),
                '[' | '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                ']' if depth == 0 => return Some(i),
                ']' => depth -= 1,
                _ => {}
            },
        }
        i += 1;
    }
    None
}

fn parse_bracket(inner: &str) -> Result<Step, JsonPathError> {
    if let Some(filter) = inner.strip_prefix("?(").and_then(|f| f.strip_suffix(')')) {
        return parse_filter(filter.trim());
    }
    if inner == "*" {
        return Ok(Step::Wildcard);
    }
    let parts = split_top_level(inner, ',');
    if parts.len() > 1 {
        let alternatives = parts
            .iter()
            .map(|p| parse_bracket(p.trim()).map(|s| vec![s]))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Step::Union(alternatives));
    }
    if inner.starts_with('\'') || inner.starts_with('"') {
        let chars: Vec<char> = inner.chars().collect();
        let (name, _) = parse_quoted(&chars, 0)?;
        return Ok(Step::Field(name));
    }
    let bounds: Vec<&str> = inner.split(':').collect();
    if bounds.len() > 3 {
        return fail(format!("invalid array index {inner}"));
    }
    let number = |s: &str| -> Result<Option<i64>, JsonPathError> {
        let s = s.trim();
        if s.is_empty() {
            Ok(None)
        } else {
            s.parse()
                .map(Some)
                .map_err(|_| JsonPathError(format!("invalid array index {inner}")))
        }
    };
    Ok(Step::Slice {
        start: number(bounds[0])?,
        end: match bounds.get(1) {
            Some(b) => number(b)?,
            None => None,
        },
        step: match bounds.get(2) {
            Some(b) => number(b)?,
            None => None,
        },
        single: bounds.len() == 1,
    })
}

fn split_top_level(text: &str, separator: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut depth = 0usize;
    for c in text.chars() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                current.push(c);
            }
            Some(_) => current.push(c),
            None => match c {
                '"' | '\'' => {
                    quote = Some(c);
                    current.push(c);
                }
                '(' | '[' => {
                    depth += 1;
                    current.push(c);
                }
                ')' | ']' => {
                    depth = depth.saturating_sub(1);
                    current.push(c);
                }
                c if c == separator && depth == 0 => parts.push(std::mem::take(&mut current)),
                c => current.push(c),
            },
        }
    }
    parts.push(current);
    parts
}

fn parse_filter(filter: &str) -> Result<Step, JsonPathError> {
    const OPERATORS: [&str; 7] = ["==", "!=", ">=", "<=", "=~", ">", "<"];
    let chars: Vec<char> = filter.chars().collect();
    let mut quote: Option<char> = None;
    for i in 0..chars.len() {
        let c = chars[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => continue,
            None if c == '"' || c == '\'' => quote = Some(c),
            None => {
                let rest: String = chars[i..].iter().collect();
                if let Some(op) = OPERATORS.iter().find(|op| rest.starts_with(**op)) {
                    let left: String = chars[..i].iter().collect();
                    let right = rest[op.len()..].trim().to_owned();
                    let right_steps = parse_path(&right)?;
                    let right = match right_steps.as_slice() {
                        [Step::Literal(v)] => Operand::Literal(v.clone()),
                        _ => Operand::Path(right_steps),
                    };
                    return Ok(Step::Filter {
                        left: parse_path(left.trim())?,
                        operator: Some((*op).to_owned()),
                        right,
                    });
                }
            }
        }
    }
    Ok(Step::Filter {
        left: parse_path(filter)?,
        operator: None,
        right: Operand::None,
    })
}

fn run_items(items: &[Item], data: &Value, out: &mut String) -> Result<(), JsonPathError> {
    for item in items {
        match item {
            Item::Text(text) => out.push_str(text),
            Item::Path(steps) => {
                let results = evaluate(steps, vec![data])?;
                let printed: Vec<String> = results.iter().map(print_value).collect();
                out.push_str(&printed.join(" "));
            }
            Item::Range(steps, body) => {
                for value in evaluate(steps, vec![data])? {
                    run_items(body, &value, out)?;
                }
            }
        }
    }
    Ok(())
}

fn print_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        Value::Number(n) => go_float_g(n.as_f64().unwrap_or_default()),
        Value::Array(_) | Value::Object(_) => gojson::to_string(value),
    }
}

fn evaluate(steps: &[Step], input: Vec<&Value>) -> Result<Vec<Value>, JsonPathError> {
    let mut current: Vec<Value> = input.into_iter().cloned().collect();
    for step in steps {
        let mut next = Vec::new();
        for value in &current {
            apply(step, value, &mut next)?;
        }
        current = next;
    }
    Ok(current)
}

fn apply(step: &Step, value: &Value, out: &mut Vec<Value>) -> Result<(), JsonPathError> {
    match step {
        Step::Literal(v) => out.push(v.clone()),
        Step::Field(name) => {
            if let Some(found) = value.as_object().and_then(|m| m.get(name)) {
                out.push(found.clone());
            }
        }
        Step::Wildcard => match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.extend(keys.into_iter().map(|k| map[k.as_str()].clone()));
            }
            Value::Array(items) => out.extend(items.iter().cloned()),
            _ => {}
        },
        Step::Recursive => collect_recursive(value, out),
        Step::Slice {
            start,
            end,
            step,
            single,
        } => {
            let Value::Array(items) = value else {
                if value.is_null() {
                    return Ok(());
                }
                return fail(format!("{} is not array or slice", type_name(value)));
            };
            let len = items.len() as i64;
            let mut from = start.unwrap_or(0);
            if from < 0 {
                from += len;
            }
            let mut to = match (end, single) {
                (Some(e), _) => *e,
                (None, true) => from + 1,
                (None, false) => len,
            };
            if to < 0 {
                to += len;
            }
            if to == from {
                return Ok(());
            }
            if from >= len || from < 0 {
                return fail(format!(
                    "array index out of bounds: index {from}, length {len}"
                ));
            }
            if to > len || to < 0 {
                return fail(format!(
                    "array index out of bounds: index {}, length {len}",
                    to - 1
                ));
            }
            if from > to {
                return fail(format!(
                    "starting index {from} is greater than ending index {to}"
                ));
            }
            let stride = match step {
                Some(s) if *s <= 0 => return fail("step must be > 0"),
                Some(s) => *s as usize,
                None => 1,
            };
            out.extend(
                items[from as usize..to as usize]
                    .iter()
                    .step_by(stride)
                    .cloned(),
            );
        }
        Step::Union(alternatives) => {
            for alternative in alternatives {
                out.extend(evaluate(alternative, vec![value])?);
            }
        }
        Step::Filter {
            left,
            operator,
            right,
        } => {
            let Value::Array(items) = value else {
                return fail(format!(
                    "{} is not array or slice and cannot be filtered",
                    gojson::to_string(value)
                ));
            };
            for item in items {
                let lefts = evaluate(left, vec![item])?;
                let Some(operator) = operator else {
                    if !lefts.is_empty() {
                        out.push(item.clone());
                    }
                    continue;
                };
                let rights = match right {
                    Operand::None => Vec::new(),
                    Operand::Literal(v) => vec![v.clone()],
                    Operand::Path(steps) => evaluate(steps, vec![item])?,
                };
                if lefts.is_empty() || rights.is_empty() {
                    continue;
                }
                if lefts.len() > 1 || rights.len() > 1 {
                    return fail("can only compare one element at a time");
                }
                if compare(&lefts[0], operator, &rights[0])? {
                    out.push(item.clone());
                }
            }
        }
    }
    Ok(())
}

fn collect_recursive(value: &Value, out: &mut Vec<Value>) {
    let children: Vec<&Value> = match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            keys.into_iter().map(|k| &map[k.as_str()]).collect()
        }
        Value::Array(items) => items.iter().collect(),
        _ => Vec::new(),
    };
    if children.is_empty() {
        return;
    }
    out.push(value.clone());
    for child in children {
        collect_recursive(child, out);
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Object(_) => "map[string]interface {}",
        Value::String(_) => "string",
        Value::Number(_) => "int64",
        Value::Bool(_) => "bool",
        Value::Array(_) => "[]interface {}",
        Value::Null => "<nil>",
    }
}

fn compare(left: &Value, operator: &str, right: &Value) -> Result<bool, JsonPathError> {
    if operator == "=~" {
        return fail("regexp filters (=~) are not supported by this kubectl");
    }
    let ordering = match (left, right) {
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    };
    let Some(ordering) = ordering else {
        return fail("incompatible types for comparison");
    };
    Ok(match operator {
        "==" => ordering == Ordering::Equal,
        "!=" => ordering != Ordering::Equal,
        "<" => ordering == Ordering::Less,
        ">" => ordering == Ordering::Greater,
        "<=" => ordering != Ordering::Greater,
        ">=" => ordering != Ordering::Less,
        other => return fail(format!("unrecognized filter operator {other}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pods() -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                {"metadata": {"name": "a", "labels": {"app": "web"}},
                 "spec": {"containers": [{"name": "c1", "image": "busybox"}, {"name": "c2", "image": "nginx"}]},
                 "status": {"conditions": [{"type": "Ready", "status": "True"}], "restarts": 2}},
                {"metadata": {"name": "b"},
                 "spec": {"containers": [{"name": "c1", "image": "redis"}]},
                 "status": {"conditions": [{"type": "Ready", "status": "False"}], "restarts": 0}},
            ],
        })
    }

    fn run(template: &str) -> String {
        Template::parse(template)
            .and_then(|t| t.execute(&pods()))
            .unwrap_or_else(|e| format!("ERROR: {e}"))
    }

    #[test]
    fn templates_print_like_upstream() {
        let cases = [
            ("{.kind}", "List"),
            ("{.items[*].metadata.name}", "a b"),
            ("{.items[0].metadata.name}", "a"),
            ("{.items[-1].metadata.name}", "b"),
            ("{.items[0:1].metadata.name}", "a"),
            (
                "{.items[*].spec.containers[*].image}",
                "busybox nginx redis",
            ),
            ("{range .items[*]}{.metadata.name}{\"\\n\"}{end}", "a\nb\n"),
            (
                "{range .items[*]}[{.metadata.name},{.status.restarts}] {end}",
                "[a,2] [b,0] ",
            ),
            ("{.items[?(@.status.restarts>1)].metadata.name}", "a"),
            (
                "{.items[?(@.status.conditions[0].status==\"False\")].metadata.name}",
                "b",
            ),
            ("{.items[?(@.metadata.labels)].metadata.name}", "a"),
            ("{.items[0].metadata.labels}", "{\"app\":\"web\"}"),
            ("{.items[0].spec.containers[0,1].name}", "c1 c2"),
            ("{.items[0]['metadata']['name']}", "a"),
            ("{.missing.key}", ""),
            ("name: {.items[1].metadata.name}!", "name: b!"),
            ("{..image}", "busybox nginx redis"),
            ("{$.kind}", "List"),
            (
                "{.items[5].metadata.name}",
                "ERROR: array index out of bounds: index 5, length 2",
            ),
            ("{end}", "ERROR: not in range, nothing to end"),
        ];
        for (template, want) in cases {
            assert_eq!(run(template), want, "{template}");
        }
    }

    #[test]
    fn escaped_dots_name_one_field() {
        let data =
            json!({"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}}});
        let template =
            Template::parse("{.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt}")
                .unwrap();
        assert_eq!(template.execute(&data).unwrap(), "now");
    }
}
