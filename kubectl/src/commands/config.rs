//! `kubectl config view|current-context|use-context|set-context|get-contexts`.
//!
//! Kubeconfig files are handled as plain documents so nothing we do not know about is lost.
//! Reading merges the files in precedence order as upstream does (the first file to name a
//! cluster, context or user wins; the first non-empty `current-context` wins). Writing goes to
//! the file upstream picks (the one already holding the context, or the current context, else
//! the default file) and rewrites it in upstream's canonical form: keys sorted, named entries
//! sorted by name, `preferences: {}`.

use crate::cli::GlobalFlags;
use crate::error::CliError;
use crate::printers::tabwriter::TabWriter;
use crate::printers::{self, OutputFormat};
use crate::session::kubeconfig_paths;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// Subcommands of `kubectl config`.
#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Display merged kubeconfig settings or a specified kubeconfig file.
    View(ViewArgs),
    /// Display the current-context.
    CurrentContext,
    /// Set the current-context in a kubeconfig file.
    #[command(alias = "use")]
    UseContext {
        /// The context to switch to.
        name: String,
    },
    /// Set a context entry in kubeconfig.
    SetContext(SetContextArgs),
    /// Describe one or many contexts.
    GetContexts(GetContextsArgs),
}

/// Arguments of `kubectl config view`.
#[derive(Debug, clap::Args)]
pub struct ViewArgs {
    /// Remove all information not used by the current-context.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub minify: Option<bool>,
    /// Display raw byte data and sensitive data.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub raw: Option<bool>,
    /// Accepted for compatibility: data is already inline in what we print.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub flatten: Option<bool>,
    /// Output format: yaml (default), json or jsonpath=TEMPLATE.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
}

/// Arguments of `kubectl config set-context`.
#[derive(Debug, clap::Args)]
pub struct SetContextArgs {
    /// The context to create or modify.
    pub name: Option<String>,
    /// Modify the current context.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub current: Option<bool>,
    /// The cluster entry of the context.
    #[arg(long = "cluster")]
    pub cluster: Option<String>,
    /// The user entry of the context.
    #[arg(long = "user")]
    pub user: Option<String>,
    /// The namespace of the context.
    #[arg(long = "namespace")]
    pub namespace: Option<String>,
}

/// Arguments of `kubectl config get-contexts`.
#[derive(Debug, clap::Args)]
pub struct GetContextsArgs {
    /// Contexts to show (all when none).
    pub names: Vec<String>,
    /// Output format: name.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Do not print headers.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub no_headers: Option<bool>,
}

/// The sections of a kubeconfig holding named entries, and the key of each entry's body.
const SECTIONS: [(&str, &str); 3] = [
    ("clusters", "cluster"),
    ("contexts", "context"),
    ("users", "user"),
];

/// Reads one kubeconfig file as a document (an empty file is an empty config).
pub fn read_document(path: &Path) -> Result<Value, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("loading {}: {e}", path.display())))?;
    if text.trim().is_empty() {
        return Ok(json!({}));
    }
    let value: Value = serde_yaml::from_str(&text)
        .map_err(|e| CliError::usage(format!("loading {}: {e}", path.display())))?;
    Ok(if value.is_null() { json!({}) } else { value })
}

fn entries<'a>(document: &'a Value, section: &str) -> impl Iterator<Item = &'a Value> {
    document
        .get(section)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn entry_name(entry: &Value) -> &str {
    entry
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn current_context_of(document: &Value) -> &str {
    document
        .get("current-context")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Merges documents in precedence order, as upstream's loading rules do.
pub fn merge(documents: &[Value]) -> Value {
    let mut merged = Map::new();
    for (section, _) in SECTIONS {
        let mut seen: Vec<Value> = Vec::new();
        for document in documents {
            for entry in entries(document, section) {
                if !seen.iter().any(|e| entry_name(e) == entry_name(entry)) {
                    seen.push(entry.clone());
                }
            }
        }
        merged.insert(section.into(), Value::Array(seen));
    }
    let current = documents
        .iter()
        .map(current_context_of)
        .find(|c| !c.is_empty())
        .unwrap_or_default();
    merged.insert("current-context".into(), json!(current));
    Value::Object(merged)
}

/// The canonical form upstream writes and prints: sorted named entries, empty sections as
/// `null`, `preferences: {}`, `apiVersion`/`kind` set.
pub fn canonical(document: &Value) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!("v1"));
    out.insert("kind".into(), json!("Config"));
    out.insert(
        "preferences".into(),
        document
            .get("preferences")
            .filter(|p| p.is_object())
            .cloned()
            .unwrap_or_else(|| json!({})),
    );
    out.insert(
        "current-context".into(),
        json!(current_context_of(document)),
    );
    for (section, body) in SECTIONS {
        let mut list: Vec<Value> = entries(document, section)
            .map(|entry| {
                let mut content = entry
                    .get(body)
                    .filter(|b| b.is_object())
                    .cloned()
                    .unwrap_or_else(|| json!({}));
                // Fields upstream's v1 types always write (no `omitempty`).
                let required: &[&str] = match section {
                    "clusters" => &["server"],
                    "contexts" => &["cluster", "user"],
                    _ => &[],
                };
                if let Some(map) = content.as_object_mut() {
                    for key in required {
                        map.entry(*key).or_insert_with(|| json!(""));
                    }
                }
                json!({"name": entry_name(entry), body: content})
            })
            .collect();
        list.sort_by(|a, b| entry_name(a).cmp(entry_name(b)));
        out.insert(
            section.into(),
            if list.is_empty() {
                Value::Null
            } else {
                Value::Array(list)
            },
        );
    }
    if let Some(extensions) = document.get("extensions") {
        out.insert("extensions".into(), extensions.clone());
    }
    Value::Object(out)
}

/// Hides credentials as `config view` does without `--raw`.
pub fn redact(document: &mut Value) {
    let replace = |body: Option<&mut Value>, keys: &[(&str, &str)]| {
        if let Some(body) = body.and_then(Value::as_object_mut) {
            for (key, replacement) in keys {
                if body
                    .get(*key)
                    .and_then(Value::as_str)
                    .is_some_and(|v| !v.is_empty())
                {
                    body.insert((*key).into(), json!(replacement));
                }
            }
        }
    };
    if let Some(clusters) = document.get_mut("clusters").and_then(Value::as_array_mut) {
        for cluster in clusters {
            replace(
                cluster.get_mut("cluster"),
                &[("certificate-authority-data", "DATA+OMITTED")],
            );
        }
    }
    if let Some(users) = document.get_mut("users").and_then(Value::as_array_mut) {
        for user in users {
            replace(
                user.get_mut("user"),
                &[
                    ("client-certificate-data", "DATA+OMITTED"),
                    ("client-key-data", "DATA+OMITTED"),
                    ("token", "REDACTED"),
                    ("password", "REDACTED"),
                ],
            );
        }
    }
}

/// Keeps only what the current context uses (`--minify`).
pub fn minify(document: &mut Value, context_override: Option<&str>) -> Result<(), CliError> {
    let current = context_override
        .map(str::to_owned)
        .unwrap_or_else(|| current_context_of(document).to_owned());
    if current.is_empty() {
        return Err(CliError::usage(
            "current-context must exist in order to minify",
        ));
    }
    let context = entries(document, "contexts")
        .find(|e| entry_name(e) == current)
        .cloned()
        .ok_or_else(|| CliError::usage(format!("cannot locate context {current}")))?;
    let field = |key: &str| {
        context
            .pointer(&format!("/context/{key}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (cluster, user) = (field("cluster"), field("user"));
    if let Some(map) = document.as_object_mut() {
        for (section, keep) in [
            ("clusters", &cluster),
            ("contexts", &current),
            ("users", &user),
        ] {
            if let Some(Value::Array(list)) = map.get_mut(section) {
                list.retain(|e| entry_name(e) == keep.as_str());
            }
        }
        map.insert("current-context".into(), json!(current));
    }
    Ok(())
}

/// The `get-contexts` table (`CURRENT NAME CLUSTER AUTHINFO NAMESPACE`), sorted by name;
/// `names` limits it, and unknown names are returned as errors.
pub fn contexts_table(
    document: &Value,
    names: &[String],
    no_headers: bool,
) -> (String, Vec<String>) {
    let current = current_context_of(document);
    let mut contexts: Vec<&Value> = entries(document, "contexts").collect();
    contexts.sort_by(|a, b| entry_name(a).cmp(entry_name(b)));
    let missing: Vec<String> = names
        .iter()
        .filter(|n| !contexts.iter().any(|c| entry_name(c) == n.as_str()))
        .cloned()
        .collect();
    let mut text = String::new();
    if !no_headers {
        text.push_str("CURRENT\tNAME\tCLUSTER\tAUTHINFO\tNAMESPACE\n");
    }
    for context in contexts {
        let name = entry_name(context);
        if !names.is_empty() && !names.iter().any(|n| n == name) {
            continue;
        }
        let field = |key: &str| {
            context
                .pointer(&format!("/context/{key}"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let marker = if name == current { "*" } else { "" };
        text.push_str(&format!(
            "{marker}\t{name}\t{}\t{}\t{}\n",
            field("cluster"),
            field("user"),
            field("namespace")
        ));
    }
    (TabWriter::for_tables().format(&text), missing)
}

/// Loads every existing kubeconfig file in precedence order (path and document).
fn load_all(flags: &GlobalFlags) -> Result<Vec<(PathBuf, Value)>, CliError> {
    let explicit = flags.kubeconfig.is_some();
    let mut loaded = Vec::new();
    for path in kubeconfig_paths(flags) {
        if path.exists() {
            let document = read_document(&path)?;
            loaded.push((path, document));
        } else if explicit {
            return Err(CliError::usage(format!(
                "stat {}: no such file or directory",
                path.display()
            )));
        }
    }
    Ok(loaded)
}

/// Upstream's `GetDefaultFilename`: the explicit file, else the only or first existing (else
/// last) file of `KUBECONFIG`, else `~/.kube/config`.
fn default_file(flags: &GlobalFlags) -> Result<PathBuf, CliError> {
    let paths = kubeconfig_paths(flags);
    if paths.len() > 1 {
        if let Some(existing) = paths.iter().find(|p| p.exists()) {
            return Ok(existing.clone());
        }
    }
    paths
        .last()
        .cloned()
        .ok_or_else(|| CliError::usage("no kubeconfig file to write: set KUBECONFIG or HOME"))
}

fn write_document(path: &Path, document: &Value) -> Result<(), CliError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| CliError::usage(format!("creating {}: {e}", parent.display())))?;
    }
    let text = printers::yaml::to_yaml(&canonical(document));
    std::fs::write(path, text)
        .map_err(|e| CliError::usage(format!("writing {}: {e}", path.display())))
}

/// Sets (or creates) the context `name` in `document`; returns whether it was created.
pub fn set_context(document: &mut Value, name: &str, args: &SetContextArgs) -> bool {
    if !document.is_object() {
        *document = json!({});
    }
    let map = document
        .as_object_mut()
        .expect("document was made an object above");
    let contexts = map.entry("contexts").or_insert_with(|| json!([]));
    if !contexts.is_array() {
        *contexts = json!([]);
    }
    let list = contexts
        .as_array_mut()
        .expect("contexts was made an array above");
    let created = !list.iter().any(|e| entry_name(e) == name);
    if created {
        list.push(json!({"name": name, "context": {}}));
    }
    let entry = list
        .iter_mut()
        .find(|e| entry_name(e) == name)
        .expect("the context exists now");
    let body = entry
        .as_object_mut()
        .expect("context entries are objects")
        .entry("context")
        .or_insert_with(|| json!({}));
    if !body.is_object() {
        *body = json!({});
    }
    let body = body
        .as_object_mut()
        .expect("context body was made an object above");
    for (key, value) in [
        ("cluster", &args.cluster),
        ("user", &args.user),
        ("namespace", &args.namespace),
    ] {
        match value.as_deref() {
            Some("") => {
                body.remove(key);
            }
            Some(v) => {
                body.insert(key.into(), json!(v));
            }
            None => {}
        }
    }
    created
}

pub async fn run(flags: &GlobalFlags, command: ConfigCommand) -> Result<(), CliError> {
    let loaded = load_all(flags)?;
    let documents: Vec<Value> = loaded.iter().map(|(_, d)| d.clone()).collect();
    let merged = merge(&documents);
    match command {
        ConfigCommand::View(args) => {
            let format = match args.output.as_deref() {
                None => OutputFormat::Yaml,
                other => OutputFormat::parse(other)?,
            };
            let mut view = canonical(&merged);
            if args.minify.unwrap_or(false) {
                minify(&mut view, flags.context.as_deref())?;
            }
            if !args.raw.unwrap_or(false) {
                redact(&mut view);
            }
            print!("{}", printers::print_object(&format, &view)?);
            Ok(())
        }
        ConfigCommand::CurrentContext => {
            let current = current_context_of(&merged);
            if current.is_empty() {
                return Err(CliError::usage("current-context is not set"));
            }
            println!("{current}");
            Ok(())
        }
        ConfigCommand::UseContext { name } => {
            if !entries(&merged, "contexts").any(|e| entry_name(e) == name) {
                return Err(CliError::usage(format!(
                    "no context exists with the name: \"{name}\""
                )));
            }
            // Upstream writes the first file that already sets a current-context.
            let (path, mut document) = match loaded
                .iter()
                .find(|(_, d)| !current_context_of(d).is_empty())
            {
                Some((path, document)) if flags.kubeconfig.is_none() => {
                    (path.clone(), document.clone())
                }
                _ => {
                    let path = default_file(flags)?;
                    let document = loaded
                        .iter()
                        .find(|(p, _)| *p == path)
                        .map(|(_, d)| d.clone())
                        .unwrap_or_else(|| json!({}));
                    (path, document)
                }
            };
            if let Some(map) = document.as_object_mut() {
                map.insert("current-context".into(), json!(name));
            }
            write_document(&path, &document)?;
            println!("Switched to context \"{name}\".");
            Ok(())
        }
        ConfigCommand::SetContext(args) => {
            let name = if args.current.unwrap_or(false) {
                let current = current_context_of(&merged).to_owned();
                if current.is_empty() {
                    return Err(CliError::usage("no current context is set"));
                }
                current
            } else {
                match args.name.clone().filter(|n| !n.is_empty()) {
                    Some(name) => name,
                    None => {
                        return Err(CliError::usage(
                            "you must specify a non-empty context name or --current",
                        ))
                    }
                }
            };
            // The file that already defines the context, else the default file.
            let (path, mut document) = match loaded
                .iter()
                .find(|(_, d)| entries(d, "contexts").any(|e| entry_name(e) == name))
            {
                Some((path, document)) => (path.clone(), document.clone()),
                None => {
                    let path = default_file(flags)?;
                    let document = loaded
                        .iter()
                        .find(|(p, _)| *p == path)
                        .map(|(_, d)| d.clone())
                        .unwrap_or_else(|| json!({}));
                    (path, document)
                }
            };
            let created = set_context(&mut document, &name, &args);
            write_document(&path, &document)?;
            let verb = if created { "created" } else { "modified" };
            println!("Context \"{name}\" {verb}.");
            Ok(())
        }
        ConfigCommand::GetContexts(args) => {
            let names_only = match args.output.as_deref().map(|o| o.trim_start_matches('=')) {
                None | Some("") => false,
                Some("name") => true,
                Some(other) => {
                    return Err(CliError::usage(format!(
                        "output must be one of '' or 'name': {other}"
                    )))
                }
            };
            let (table, missing) =
                contexts_table(&merged, &args.names, args.no_headers.unwrap_or(false));
            if names_only {
                let mut names: Vec<&str> = entries(&merged, "contexts").map(entry_name).collect();
                names.sort();
                for name in names {
                    if args.names.is_empty() || args.names.iter().any(|n| n == name) {
                        println!("{name}");
                    }
                }
            } else {
                print!("{table}");
            }
            match missing.first() {
                Some(name) => Err(CliError::usage(format!("context {name} not found"))),
                None => Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    const FIRST: &str = "
clusters:
- name: b
  cluster: {server: 'https://b:6443', certificate-authority-data: QUJD}
- name: a
  cluster: {server: 'http://a'}
contexts:
- name: ctx-b
  context: {cluster: b, user: u}
current-context: ctx-b
users:
- name: u
  user: {token: secret, password: pw, username: bob, client-key-data: QUJD}
";

    #[test]
    fn view_is_canonical_and_redacted() {
        let mut view = canonical(&merge(&[document(FIRST)]));
        redact(&mut view);
        assert_eq!(
            printers::yaml::to_yaml(&view),
            "apiVersion: v1
clusters:
- cluster:
    server: http://a
  name: a
- cluster:
    certificate-authority-data: DATA+OMITTED
    server: https://b:6443
  name: b
contexts:
- context:
    cluster: b
    user: u
  name: ctx-b
current-context: ctx-b
kind: Config
preferences: {}
users:
- name: u
  user:
    client-key-data: DATA+OMITTED
    password: REDACTED
    token: REDACTED
    username: bob
"
        );
        let empty = canonical(&merge(&[]));
        assert_eq!(empty["clusters"], Value::Null);
        assert_eq!(empty["current-context"], "");
    }

    #[test]
    fn earlier_files_win_when_merging() {
        let second = document(
            "clusters:\n- name: a\n  cluster: {server: 'http://other'}\n- name: c\n  cluster: {server: 'http://c'}\ncurrent-context: other\n",
        );
        let merged = merge(&[document(FIRST), second]);
        let servers: Vec<&str> = entries(&merged, "clusters")
            .map(|c| c["cluster"]["server"].as_str().unwrap())
            .collect();
        assert_eq!(servers, ["https://b:6443", "http://a", "http://c"]);
        assert_eq!(current_context_of(&merged), "ctx-b");
    }

    #[test]
    fn set_context_creates_then_modifies() {
        let mut doc = document(FIRST);
        let args = |cluster: Option<&str>, namespace: Option<&str>| SetContextArgs {
            name: None,
            current: None,
            cluster: cluster.map(Into::into),
            user: None,
            namespace: namespace.map(Into::into),
        };
        assert!(set_context(&mut doc, "new", &args(Some("a"), Some("x"))));
        assert!(!set_context(&mut doc, "new", &args(None, Some("y"))));
        let context = entries(&doc, "contexts")
            .find(|e| entry_name(e) == "new")
            .unwrap();
        assert_eq!(
            context["context"],
            json!({"cluster": "a", "namespace": "y"})
        );
    }

    #[test]
    fn get_contexts_marks_the_current_one() {
        let mut doc = document(FIRST);
        set_context(
            &mut doc,
            "new",
            &SetContextArgs {
                name: None,
                current: None,
                cluster: Some("a".into()),
                user: Some("u".into()),
                namespace: Some("x".into()),
            },
        );
        let (table, missing) = contexts_table(&doc, &[], false);
        assert_eq!(
            table,
            "CURRENT   NAME    CLUSTER   AUTHINFO   NAMESPACE\n*         ctx-b   b         u          \n          new     a         u          x\n"
        );
        assert!(missing.is_empty());
        let (_, missing) = contexts_table(&doc, &["nope".into()], false);
        assert_eq!(missing, ["nope"]);
    }

    #[test]
    fn minify_keeps_what_the_current_context_uses() {
        let mut view = canonical(&merge(&[document(FIRST)]));
        minify(&mut view, None).unwrap();
        let clusters: Vec<&str> = entries(&view, "clusters").map(entry_name).collect();
        assert_eq!(clusters, ["b"]);
    }
}
