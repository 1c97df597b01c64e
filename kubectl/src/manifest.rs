//! Reading `-f`: files, directories (`-R` to descend) and `-` (stdin), each a stream of YAML
//! documents separated by `---` lines or of concatenated JSON objects, with `kind: List`
//! flattened into its items. Errors name the source and the line as upstream kubectl words them:
//! `error parsing web.yaml: error converting YAML to JSON: yaml: line 7: ...`, with the line
//! counted from the start of the document, as upstream's YAML reader does.
//!
//! A broken document stops its source (upstream's stream visitor returns at the first error),
//! while the objects read before it and the other sources are still used: `apply -f dir/`
//! applies what it can and reports the rest.

use crate::error::CliError;
use serde_json::{Map, Value};
use std::io::Read;
use std::path::{Path, PathBuf};

/// A JSON object.
pub type Object = Map<String, Value>;

/// The source name upstream uses for `-f -`.
pub const STDIN: &str = "STDIN";

/// File extensions read from a directory, as upstream's `FileExtensions`.
const EXTENSIONS: [&str; 3] = ["json", "yaml", "yml"];

/// One object read from a manifest and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The path as given (or as found under a given directory), or `STDIN`.
    pub source: String,
    pub object: Object,
}

/// Everything `-f` named: the objects that could be read, in order, and one error per source
/// that stopped early.
#[derive(Debug, Default)]
pub struct Manifests {
    pub objects: Vec<Manifest>,
    pub errors: Vec<CliError>,
}

/// Reads every `-f` argument. A path that does not exist fails at once, as upstream does
/// before touching the server.
pub fn read(filenames: &[String], recursive: bool) -> Result<Manifests, CliError> {
    let mut sources: Vec<(String, Option<PathBuf>)> = Vec::new();
    for name in filenames {
        if name == "-" {
            sources.push((STDIN.to_owned(), None));
            continue;
        }
        if name.starts_with("http://") || name.starts_with("https://") {
            return Err(CliError::usage(format!(
                "reading manifests from a URL is not supported: {name}"
            )));
        }
        let path = Path::new(name);
        if !path.exists() {
            return Err(CliError::usage(format!(
                "the path \"{name}\" does not exist"
            )));
        }
        if path.is_dir() {
            for file in walk(path, recursive)? {
                sources.push((file.to_string_lossy().into_owned(), Some(file)));
            }
        } else {
            sources.push((name.clone(), Some(path.to_path_buf())));
        }
    }
    let mut out = Manifests::default();
    for (source, path) in sources {
        let text = match &path {
            Some(path) => std::fs::read(path),
            None => {
                let mut buffer = Vec::new();
                std::io::stdin().read_to_end(&mut buffer).map(|_| buffer)
            }
        };
        let text = match text {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => {
                out.errors
                    .push(CliError::usage(format!("error reading {source}: {e}")));
                continue;
            }
        };
        let (objects, error) = parse(&source, &text);
        out.objects
            .extend(objects.into_iter().map(|object| Manifest {
                source: source.clone(),
                object,
            }));
        out.errors.extend(error);
    }
    Ok(out)
}

/// The manifest files under `dir`, in lexical order; subdirectories only when `recursive`.
fn walk(dir: &Path, recursive: bool) -> Result<Vec<PathBuf>, CliError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| CliError::usage(format!("error reading {}: {e}", dir.display())))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    let mut files = Vec::new();
    for entry in entries {
        if entry.is_dir() {
            if recursive {
                files.extend(walk(&entry, true)?);
            }
        } else if entry
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.contains(&e))
        {
            files.push(entry);
        }
    }
    Ok(files)
}

/// Parses one source: the objects before the first error, and that error.
pub fn parse(source: &str, text: &str) -> (Vec<Object>, Option<CliError>) {
    let mut objects = Vec::new();
    let documents = if text.trim_start().starts_with('{') {
        json_documents(text)
    } else {
        yaml_documents(text)
    };
    for document in documents {
        let value = match document {
            Ok(Value::Null) => continue,
            Ok(value) => value,
            Err(message) => {
                return (
                    objects,
                    Some(CliError::usage(format!(
                        "error parsing {source}: {message}"
                    ))),
                )
            }
        };
        match check(source, value) {
            Ok(found) => objects.extend(found),
            Err(error) => return (objects, Some(error)),
        }
    }
    (objects, None)
}

/// Checks that a document is an object with `apiVersion` and `kind` (upstream's client-side
/// validation) and flattens a `List` into its items.
fn check(source: &str, value: Value) -> Result<Vec<Object>, CliError> {
    let Value::Object(object) = value else {
        return Err(CliError::usage(format!(
            "error parsing {source}: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            go_kind(&value)
        )));
    };
    let mut missing = Vec::new();
    for field in ["apiVersion", "kind"] {
        if object
            .get(field)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            missing.push(format!("{field} not set"));
        }
    }
    if !missing.is_empty() {
        let detail = if missing.len() == 1 {
            missing.remove(0)
        } else {
            format!("[{}]", missing.join(", "))
        };
        return Err(CliError::usage(format!(
            "error validating \"{source}\": error validating data: {detail}; if you choose to ignore these errors, turn validation off with --validate=false"
        )));
    }
    let is_list = object
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && object.get("items").is_some_and(Value::is_array);
    if !is_list {
        return Ok(vec![object]);
    }
    let mut items = Vec::new();
    for item in object["items"].as_array().into_iter().flatten() {
        items.extend(check(source, item.clone())?);
    }
    Ok(items)
}

fn go_kind(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        _ => "value",
    }
}

/// Concatenated JSON objects.
fn json_documents(text: &str) -> Vec<Result<Value, String>> {
    let mut out = Vec::new();
    for item in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        match item {
            Ok(value) => out.push(Ok(normalize_numbers(value))),
            Err(e) => {
                out.push(Err(e.to_string()));
                break;
            }
        }
    }
    out
}

/// One YAML document of a stream: its text and where it starts.
#[derive(Debug, PartialEq, Eq)]
pub struct Document<'a> {
    pub text: &'a str,
    /// 1-based line of the stream the document's first line is on.
    pub first_line: usize,
}

/// Splits a YAML stream at `---` lines as upstream's `YAMLReader` does: only comments may
/// follow the separator on its line.
pub fn split_documents(text: &str) -> Result<Vec<Document<'_>>, String> {
    let mut documents = Vec::new();
    let mut start = 0;
    let mut first_line = 1;
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if let Some(rest) = line.strip_prefix("---") {
            let rest = rest.trim();
            if !rest.is_empty() && !rest.starts_with('#') {
                return Err(format!("invalid Yaml document separator: {rest}"));
            }
            documents.push(Document {
                text: &text[start..offset],
                first_line,
            });
            start = offset + line.len();
            first_line = index + 2;
        }
        offset += line.len();
    }
    documents.push(Document {
        text: &text[start..],
        first_line,
    });
    Ok(documents)
}

fn yaml_documents(text: &str) -> Vec<Result<Value, String>> {
    let documents = match split_documents(text) {
        Ok(documents) => documents,
        Err(message) => return vec![Err(message)],
    };
    let mut out = Vec::new();
    for document in documents {
        match parse_yaml(document.text) {
            Ok(value) => out.push(Ok(value)),
            Err(message) => {
                out.push(Err(message));
                break;
            }
        }
    }
    out
}

/// Problems libyaml's parser (as opposed to its scanner) reports. go-yaml prints the parser's
/// 0-based mark line for these, the scanner's 1-based one for the others; serde_yaml reports
/// every mark 1-based.
const PARSER_PROBLEMS: [&str; 11] = [
    "did not find expected <stream-start>",
    "did not find expected <document start>",
    "found duplicate %YAML directive",
    "found incompatible YAML document",
    "found duplicate %TAG directive",
    "found undefined tag handle",
    "did not find expected node content",
    "did not find expected '-' indicator",
    "did not find expected key",
    "did not find expected ',' or ']'",
    "did not find expected ',' or '}'",
];

/// One YAML document to JSON, with upstream's error wording.
pub fn parse_yaml(text: &str) -> Result<Value, String> {
    let mut yaml: serde_yaml::Value = match serde_yaml::from_str(text) {
        Ok(value) => value,
        Err(e) => return Err(yaml_error(&e)),
    };
    yaml.apply_merge()
        .map_err(|e| format!("error converting YAML to JSON: yaml: {e}"))?;
    yaml_to_json(yaml).map(normalize_numbers)
}

fn yaml_error(error: &serde_yaml::Error) -> String {
    let text = error.to_string();
    let problem = text.split(" at line ").next().unwrap_or(&text).to_owned();
    let line = error.location().map(|l| {
        if PARSER_PROBLEMS.contains(&problem.as_str()) {
            l.line().saturating_sub(1)
        } else {
            l.line()
        }
    });
    match line {
        Some(line) if line > 0 => {
            format!("error converting YAML to JSON: yaml: line {line}: {problem}")
        }
        _ => format!("error converting YAML to JSON: yaml: {problem}"),
    }
}

/// sigs.k8s.io/yaml's conversion: keys become strings, tags are dropped.
fn yaml_to_json(value: serde_yaml::Value) -> Result<Value, String> {
    use serde_yaml::Value as Y;
    Ok(match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| format!("json: unsupported value: {f}"))?
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(yaml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(map) => {
            let mut out = Object::new();
            for (key, value) in map {
                let key = match key {
                    Y::String(s) => s,
                    Y::Null => "null".to_owned(),
                    Y::Bool(b) => b.to_string(),
                    Y::Number(n) => n.to_string(),
                    other => {
                        return Err(format!(
                            "error converting YAML to JSON: unsupported map key: {other:?}"
                        ))
                    }
                };
                out.insert(key, yaml_to_json(value)?);
            }
            Value::Object(out)
        }
        Y::Tagged(tagged) => yaml_to_json(tagged.value)?,
    })
}

/// Upstream decodes every JSON number that is a whole number into an int64 (`1.0` becomes
/// `1`); doing the same keeps our last-applied annotation and patches identical to its.
fn normalize_numbers(value: Value) -> Value {
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Value::from(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(normalize_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, normalize_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn splits_documents_with_their_first_lines() {
        let text = "a: 1\n---\nb: 2\n--- # comment\n\nc: 3\n";
        let docs = split_documents(text).unwrap();
        let got: Vec<(&str, usize)> = docs.iter().map(|d| (d.text, d.first_line)).collect();
        assert_eq!(got, [("a: 1\n", 1), ("b: 2\n", 3), ("\nc: 3\n", 5)]);
        assert_eq!(
            split_documents("--- x\nkind: A\n").unwrap_err(),
            "invalid Yaml document separator: x"
        );
    }

    #[test]
    fn errors_name_the_source_and_the_line_within_the_document() {
        let cases = [
            (
                // The second document's line 5 (line 12 of the file), as upstream counts.
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  x: \"1\"\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  bad: x: y\n",
                1,
                "error: error parsing web.yaml: error converting YAML to JSON: yaml: line 5: mapping values are not allowed in this context",
            ),
            (
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [a\n",
                0,
                "error: error parsing web.yaml: error converting YAML to JSON: yaml: line 4: did not find expected ',' or ']'",
            ),
            (
                "apiVersion: v1\nmetadata:\n  name: a\n",
                0,
                "error: error validating \"web.yaml\": error validating data: kind not set; if you choose to ignore these errors, turn validation off with --validate=false",
            ),
            (
                "metadata:\n  name: a\n",
                0,
                "error: error validating \"web.yaml\": error validating data: [apiVersion not set, kind not set]; if you choose to ignore these errors, turn validation off with --validate=false",
            ),
            (
                "--- x\n",
                0,
                "error: error parsing web.yaml: invalid Yaml document separator: x",
            ),
        ];
        for (text, parsed, want) in cases {
            let (objects, error) = parse("web.yaml", text);
            assert_eq!(objects.len(), parsed, "{text}");
            assert_eq!(
                error.map(|e| e.to_string()).as_deref(),
                Some(want),
                "{text}"
            );
        }
    }

    #[test]
    fn reads_yaml_json_streams_and_lists() {
        let yaml = "# leading comment\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- {apiVersion: v1, kind: Secret, metadata: {name: b}}\n---\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: c}\nspec: {replicas: 2.0, x: 0.5, 1: on}\n";
        let (objects, error) = parse("all.yaml", yaml);
        assert!(error.is_none(), "{error:?}");
        let names: Vec<&str> = objects
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(
            objects[2]["spec"],
            json!({"replicas": 2, "x": 0.5, "1": "on"})
        );

        let json_stream = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"j1\"}}\n{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"j2\"}}";
        let (objects, error) = parse("STDIN", json_stream);
        assert!(error.is_none());
        assert_eq!(objects.len(), 2);
        let (objects, error) = parse("bad.json", "{\"apiVersion\": \"v1\",\n \"kind\": ");
        assert!(objects.is_empty());
        assert!(error
            .unwrap()
            .to_string()
            .starts_with("error: error parsing bad.json: EOF while parsing"));
    }

    #[test]
    fn merge_keys_are_applied() {
        let (objects, error) = parse(
            "m.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: m}\nbase: &b {x: \"1\"}\ndata:\n  <<: *b\n  y: \"2\"\n",
        );
        assert!(error.is_none(), "{error:?}");
        assert_eq!(objects[0]["data"], json!({"x": "1", "y": "2"}));
    }
}
