//! `kubectl get`: tables from the apiserver's server-side Table (one block per type, a blank
//! line between blocks, `kind/name` names when several types print together), or the objects
//! themselves with `-o yaml|json|name|jsonpath=...` (one object when one was named, else a
//! `kind: List`), and `-w` to keep printing changes. Names that do not exist are reported after
//! the rest is printed, and the exit code is 1, as upstream.
//!
//! The URL and request helpers here are shared by `describe` and `logs`.

use crate::cli::GlobalFlags;
use crate::error::CliError;
use crate::printers::table::{Table, TableOptions, TablePrinter};
use crate::printers::{self, OutputFormat};
pub use crate::remote::{percent_encode, resource_path, with_query};
use crate::resources::{split_type_name, Catalog, ResourceType};
use crate::session::Session;
use futures::{AsyncBufReadExt, StreamExt};
use serde_json::Value;
use std::io::Write;

/// What upstream asks for to get server-side tables.
pub const ACCEPT_TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

/// Upstream's page size for lists (`--chunk-size`).
const DEFAULT_CHUNK_SIZE: i64 = 500;

/// Arguments of `kubectl get`.
#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// TYPE[.VERSION][.GROUP] [NAME ...], or TYPE/NAME ...
    pub args: Vec<String>,
    /// Output format: wide, yaml, json, name, jsonpath=TEMPLATE.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Label selector to filter on (e.g. -l key1=value1,key2 in (a,b)); sent to the server.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Field selector to filter on (e.g. --field-selector status.phase=Running).
    #[arg(long)]
    pub field_selector: Option<String>,
    /// List the requested objects across all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// After listing, watch for changes.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// Watch for changes without listing first.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub watch_only: Option<bool>,
    /// With --watch, print the event type (ADDED, MODIFIED, DELETED) first.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub output_watch_events: Option<bool>,
    /// Show all labels as the last column.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub show_labels: Option<bool>,
    /// Do not print headers.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub no_headers: Option<bool>,
    /// Labels to show as columns (-L key1,key2).
    #[arg(short = 'L', long = "label-columns", value_delimiter = ',')]
    pub label_columns: Vec<String>,
    /// List the resource type with each name.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub show_kind: Option<bool>,
    /// Treat "resource not found" as a successful retrieval.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub ignore_not_found: Option<bool>,
    /// Objects per page when listing (0 disables paging).
    #[arg(long, default_value_t = DEFAULT_CHUNK_SIZE)]
    pub chunk_size: i64,
    /// Keep metadata.managedFields in yaml/json output.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub show_managed_fields: Option<bool>,
}

/// One thing to fetch: a type, and a name unless the whole collection is listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub resource: ResourceType,
    pub name: Option<String>,
}

/// Resolves `get`-style arguments (`pods`, `po web db`, `pods,svc`, `all`, `deploy/web svc/web`)
/// into targets, in the order upstream visits them.
pub fn resolve_targets(catalog: &Catalog, args: &[String]) -> Result<Vec<Target>, CliError> {
    let Some(first) = args.first() else {
        return Err(CliError::usage(
            "Required resource not specified.\nUse \"kubectl explain <resource>\" for a detailed description of that resource (e.g. kubectl explain pods).",
        ));
    };
    if args.iter().any(|a| a.contains('/')) {
        let mut targets = Vec::new();
        for arg in args {
            let (typed, name) = split_type_name(arg);
            let Some(name) = name.filter(|n| !n.is_empty()) else {
                return Err(CliError::usage(
                    "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'kubectl get resource/<resource_name>' instead of 'kubectl get resource resource/<resource_name>'",
                ));
            };
            targets.push(Target {
                resource: catalog.resolve(typed)?.clone(),
                name: Some(name.to_owned()),
            });
        }
        return Ok(targets);
    }
    let types = catalog.expand(first)?;
    let names = &args[1..];
    let mut targets = Vec::new();
    for resource in types {
        if names.is_empty() {
            targets.push(Target {
                resource: resource.clone(),
                name: None,
            });
        }
        for name in names {
            targets.push(Target {
                resource: resource.clone(),
                name: Some(name.clone()),
            });
        }
    }
    Ok(targets)
}

/// GETs `path_and_query` with `accept` and decodes the JSON answer.
pub async fn get_json(
    client: &kube::Client,
    path_and_query: &str,
    accept: &str,
) -> Result<Value, CliError> {
    let request = http::Request::get(path_and_query)
        .header(http::header::ACCEPT, accept)
        .body(Vec::new())
        .map_err(|e| CliError::usage(e.to_string()))?;
    Ok(client.request::<Value>(request).await?)
}

/// Lists every page of `path` (following `continue`), returning each page's JSON.
pub async fn list_pages(
    client: &kube::Client,
    path: &str,
    selectors: &Selectors,
    chunk_size: i64,
    accept: &str,
) -> Result<Vec<Value>, CliError> {
    let mut pages = Vec::new();
    let mut continue_token = String::new();
    let limit = if chunk_size > 0 {
        chunk_size.to_string()
    } else {
        String::new()
    };
    loop {
        let url = with_query(
            path,
            &[
                ("labelSelector", selectors.labels.as_str()),
                ("fieldSelector", selectors.fields.as_str()),
                ("limit", limit.as_str()),
                ("continue", continue_token.as_str()),
            ],
        );
        let page = get_json(client, &url, accept).await?;
        continue_token = page
            .pointer("/metadata/continue")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        pages.push(page);
        if continue_token.is_empty() {
            return Ok(pages);
        }
    }
}

/// The items of every page of `path` as JSON (each with its `apiVersion` and `kind`).
pub async fn list_items(
    client: &kube::Client,
    path: &str,
    selectors: &Selectors,
) -> Result<Vec<Value>, CliError> {
    let pages = list_pages(client, path, selectors, 0, "application/json").await?;
    Ok(pages
        .into_iter()
        .flat_map(printers::items_of_list)
        .collect())
}

/// GETs one object as JSON; `None` when the server says it does not exist.
pub async fn get_json_opt(client: &kube::Client, path: &str) -> Result<Option<Value>, CliError> {
    match get_json(client, path, "application/json").await {
        Ok(object) => Ok(Some(object)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// `-l` and `--field-selector`, passed to the server as given.
#[derive(Debug, Clone, Default)]
pub struct Selectors {
    pub labels: String,
    pub fields: String,
}

/// What one target produced.
enum Fetched {
    Tables(Vec<Table>),
    Objects(Vec<Value>),
}

pub async fn run(flags: &GlobalFlags, args: GetArgs) -> Result<(), CliError> {
    let format = OutputFormat::parse(args.output.as_deref())?;
    if args.all_namespaces && flags.namespace.is_some() && args.args.iter().any(|a| a.contains('/'))
    {
        return Err(CliError::usage(
            "a resource cannot be retrieved by name across all namespaces",
        ));
    }
    if let Some(selector) = &args.selector {
        tinykube_apimachinery::labels::Selector::parse(selector)
            .map_err(|e| CliError::usage(e.to_string()))?;
    }
    let session = Session::connect(flags).await?;
    let catalog = Catalog::discover(&session.client).await?;
    let targets = resolve_targets(&catalog, &args.args).map_err(|e| match e {
        CliError::Usage(m) if m.starts_with("Required resource") => {
            CliError::usage(format!("{m}\nSee 'kubectl get -h' for help and examples"))
        }
        other => other,
    })?;
    if args.all_namespaces && targets.iter().any(|t| t.name.is_some()) {
        return Err(CliError::usage(
            "a resource cannot be retrieved by name across all namespaces",
        ));
    }
    let selectors = Selectors {
        labels: args.selector.clone().unwrap_or_default(),
        fields: args.field_selector.clone().unwrap_or_default(),
    };
    if (args.selector.is_some() || args.field_selector.is_some())
        && targets.iter().any(|t| t.name.is_some())
    {
        return Err(CliError::usage(
            "selectors and the all flag cannot be used when passing resource/name arguments",
        ));
    }
    let namespace = (!args.all_namespaces).then(|| session.namespace.clone());
    if args.watch || args.watch_only.unwrap_or(false) {
        return watch(
            &session,
            &args,
            &format,
            &targets,
            namespace.as_deref(),
            &selectors,
        )
        .await;
    }

    let accept = if format.is_table() {
        ACCEPT_TABLE
    } else {
        "application/json"
    };
    let mut fetched: Vec<(Target, Fetched)> = Vec::new();
    let mut errors: Vec<CliError> = Vec::new();
    let ignore_not_found = args.ignore_not_found.unwrap_or(false);
    for target in &targets {
        let ns = namespace.as_deref();
        let result = match &target.name {
            Some(name) => {
                let path = resource_path(&target.resource, ns, Some(name));
                get_json(&session.client, &path, accept)
                    .await
                    .map(|v| vec![v])
            }
            None => {
                let path = resource_path(&target.resource, ns, None);
                list_pages(&session.client, &path, &selectors, args.chunk_size, accept).await
            }
        };
        let pages = match result {
            Ok(pages) => pages,
            Err(e) if e.is_not_found() && ignore_not_found => continue,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let entry = if format.is_table() {
            Fetched::Tables(
                pages
                    .iter()
                    .map(Table::from_value)
                    .collect::<Result<Vec<_>, _>>()?,
            )
        } else {
            let mut objects = Vec::new();
            for page in pages {
                if target.name.is_some() {
                    objects.push(page);
                } else {
                    objects.extend(printers::items_of_list(page));
                }
            }
            if !args.show_managed_fields.unwrap_or(false) {
                objects.iter_mut().for_each(printers::hide_managed_fields);
            }
            Fetched::Objects(objects)
        };
        fetched.push((target.clone(), entry));
    }

    let mut stdout = String::new();
    if format.is_table() {
        stdout = print_tables(&args, &format, &fetched);
        if stdout.is_empty() && errors.is_empty() && !ignore_not_found {
            let all_namespaced =
                !args.all_namespaces && targets.iter().all(|t| t.resource.namespaced);
            if all_namespaced {
                eprintln!("No resources found in {} namespace.", session.namespace);
            } else {
                eprintln!("No resources found");
            }
        }
    } else {
        let single = targets.len() == 1 && targets[0].name.is_some();
        let objects: Vec<Value> = fetched
            .into_iter()
            .flat_map(|(_, f)| match f {
                Fetched::Objects(o) => o,
                Fetched::Tables(_) => Vec::new(),
            })
            .collect();
        if single && !errors.is_empty() {
            return Err(errors.remove(0));
        }
        if !(objects.is_empty() && ignore_not_found && single) {
            let object = if single && objects.len() == 1 {
                objects.into_iter().next().unwrap_or_default()
            } else {
                printers::list_of(objects)
            };
            stdout = printers::print_object(&format, &object)?;
        }
    }
    print!("{stdout}");
    let _ = std::io::stdout().flush();
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(CliError::Many(errors)),
    }
}

/// Lays out the fetched tables: one block per run of the same type, a blank line between
/// blocks that printed something (unless `--no-headers`), as upstream's `get` does.
fn print_tables(args: &GetArgs, format: &OutputFormat, fetched: &[(Target, Fetched)]) -> String {
    let with_kind = args.show_kind.unwrap_or(false) || {
        let mut kinds = fetched
            .iter()
            .map(|(t, _)| (&t.resource.group, &t.resource.kind));
        let first = kinds.next();
        kinds.any(|k| Some(k) != first)
    };
    let no_headers = args.no_headers.unwrap_or(false);
    let mut out = String::new();
    let mut separator_ready = false;
    let mut current: Option<(&ResourceType, TablePrinter)> = None;
    let emit = |text: String, out: &mut String, separator_ready: &mut bool| {
        if !text.is_empty() {
            if *separator_ready {
                out.push('\n');
                *separator_ready = false;
            }
            out.push_str(&text);
        }
    };
    for (target, entry) in fetched {
        let Fetched::Tables(tables) = entry else {
            continue;
        };
        let same_type = current
            .as_ref()
            .is_some_and(|(resource, _)| **resource == target.resource);
        if !same_type {
            if let Some((_, mut printer)) = current.take() {
                emit(printer.flush(), &mut out, &mut separator_ready);
                if !no_headers && !out.is_empty() {
                    separator_ready = true;
                }
            }
            let options = TableOptions {
                wide: *format == OutputFormat::Wide,
                no_headers,
                with_namespace: args.all_namespaces && target.resource.namespaced,
                show_labels: args.show_labels.unwrap_or(false),
                label_columns: args.label_columns.clone(),
                kind: with_kind.then(|| target.resource.qualified_kind()),
            };
            current = Some((&target.resource, TablePrinter::new(options)));
        }
        if let Some((_, printer)) = current.as_mut() {
            for table in tables {
                printer.add(table.clone(), None);
            }
        }
    }
    if let Some((_, mut printer)) = current.take() {
        emit(printer.flush(), &mut out, &mut separator_ready);
    }
    out
}

/// `get -w`: prints the current state, then one line (or object) per change until the server
/// ends the watch.
async fn watch(
    session: &Session,
    args: &GetArgs,
    format: &OutputFormat,
    targets: &[Target],
    namespace: Option<&str>,
    selectors: &Selectors,
) -> Result<(), CliError> {
    let first = targets
        .first()
        .ok_or_else(|| CliError::usage("Required resource not specified."))?;
    if targets.iter().any(|t| t.resource != first.resource) || targets.len() > 1 {
        return Err(CliError::usage(
            "watch is only supported on individual resources and resource collections - more than 1 resource was found",
        ));
    }
    let resource = &first.resource;
    let mut selectors = selectors.clone();
    if let Some(name) = &first.name {
        selectors.fields = format!("metadata.name={name}");
    }
    let accept = if format.is_table() {
        ACCEPT_TABLE
    } else {
        "application/json"
    };
    let path = resource_path(resource, namespace, None);
    // The named object must exist, as upstream's GET before the watch checks.
    if let Some(name) = &first.name {
        get_json(
            &session.client,
            &resource_path(resource, namespace, Some(name)),
            "application/json",
        )
        .await?;
    }
    let pages = list_pages(&session.client, &path, &selectors, 0, accept).await?;
    let resource_version = pages
        .last()
        .and_then(|p| p.pointer("/metadata/resourceVersion"))
        .and_then(Value::as_str)
        .unwrap_or("0")
        .to_owned();
    let events = args.output_watch_events.unwrap_or(false);
    let options = TableOptions {
        wide: *format == OutputFormat::Wide,
        no_headers: args.no_headers.unwrap_or(false),
        with_namespace: args.all_namespaces && resource.namespaced,
        show_labels: args.show_labels.unwrap_or(false),
        label_columns: args.label_columns.clone(),
        kind: args
            .show_kind
            .unwrap_or(false)
            .then(|| resource.qualified_kind()),
    };
    let mut printer = TablePrinter::new(options);
    let mut printed_objects = 0usize;
    let mut out = std::io::stdout();
    let mut print_event = |event_type: &str,
                           object: &Value,
                           printer: &mut TablePrinter|
     -> Result<String, CliError> {
        if format.is_table() {
            printer.add(Table::from_value(object)?, events.then_some(event_type));
            return Ok(printer.flush());
        }
        let mut object = object.clone();
        if !args.show_managed_fields.unwrap_or(false) {
            printers::hide_managed_fields(&mut object);
        }
        let object = if events {
            serde_json::json!({"type": event_type, "object": object})
        } else {
            object
        };
        let mut text = printers::print_object(format, &object)?;
        if *format == OutputFormat::Yaml && printed_objects > 0 {
            text = format!("---\n{text}");
        }
        printed_objects += 1;
        Ok(text)
    };
    if !args.watch_only.unwrap_or(false) {
        for page in &pages {
            let text = if format.is_table() {
                // Upstream prints the whole first table as one ADDED event.
                printer.add(Table::from_value(page)?, events.then_some("ADDED"));
                printer.flush()
            } else {
                let mut text = String::new();
                for item in printers::items_of_list(page.clone()) {
                    text.push_str(&print_event("ADDED", &item, &mut printer)?);
                }
                text
            };
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    }
    let url = with_query(
        &path,
        &[
            ("watch", "true"),
            ("resourceVersion", resource_version.as_str()),
            ("labelSelector", selectors.labels.as_str()),
            ("fieldSelector", selectors.fields.as_str()),
        ],
    );
    let request = http::Request::get(url.as_str())
        .header(http::header::ACCEPT, accept)
        .body(Vec::new())
        .map_err(|e| CliError::usage(e.to_string()))?;
    let stream = session.client.request_stream(request).await?;
    let mut lines = stream.lines();
    while let Some(line) = lines.next().await {
        let line = line.map_err(|e| CliError::Unreachable(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let event: Value = serde_json::from_str(&line)
            .map_err(|e| CliError::usage(format!("decoding a watch event: {e}")))?;
        let event_type = event
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let object = event.get("object").cloned().unwrap_or_default();
        match event_type {
            "BOOKMARK" => continue,
            "ERROR" => {
                let message = object
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("watch error");
                return Err(CliError::usage(message.to_owned()));
            }
            _ => {}
        }
        let text = print_event(event_type, &object, &mut printer)?;
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIResource, APIResourceList};

    fn catalog() -> Catalog {
        let resource = |name: &str, kind: &str, short: &str, namespaced: bool| APIResource {
            name: name.into(),
            kind: kind.into(),
            namespaced,
            singular_name: kind.to_lowercase(),
            short_names: Some(vec![short.into()]),
            categories: (name != "nodes").then(|| vec!["all".into()]),
            verbs: vec!["get".into(), "list".into()],
            ..APIResource::default()
        };
        Catalog::from_documents(vec![
            (
                "".into(),
                APIResourceList {
                    group_version: "v1".into(),
                    resources: vec![
                        resource("pods", "Pod", "po", true),
                        resource("nodes", "Node", "no", false),
                    ],
                },
            ),
            (
                "apps".into(),
                APIResourceList {
                    group_version: "apps/v1".into(),
                    resources: vec![resource("deployments", "Deployment", "deploy", true)],
                },
            ),
        ])
    }

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn summary(targets: &[Target]) -> Vec<String> {
        targets
            .iter()
            .map(|t| format!("{}/{}", t.resource.plural, t.name.as_deref().unwrap_or("*")))
            .collect()
    }

    #[test]
    fn arguments_become_targets_in_upstream_order() {
        let catalog = catalog();
        let cases: [(&[&str], &[&str]); 5] = [
            (&["po"], &["pods/*"]),
            (&["pods", "a", "b"], &["pods/a", "pods/b"]),
            (&["po,deploy", "x"], &["pods/x", "deployments/x"]),
            (&["deploy/web", "po/a"], &["deployments/web", "pods/a"]),
            (&["all"], &["pods/*", "deployments/*"]),
        ];
        for (input, want) in cases {
            let got = summary(&resolve_targets(&catalog, &args(input)).unwrap());
            assert_eq!(got, want, "{input:?}");
        }
    }

    #[test]
    fn mixed_and_missing_arguments_are_refused() {
        let catalog = catalog();
        let error = resolve_targets(&catalog, &args(&["pods", "po/a"])).unwrap_err();
        assert!(error
            .to_string()
            .contains("there is no need to specify a resource type"));
        let error = resolve_targets(&catalog, &args(&["foo"])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "error: the server doesn't have a resource type \"foo\""
        );
        assert!(resolve_targets(&catalog, &[]).is_err());
    }

    #[test]
    fn paths_follow_the_api_layout() {
        let catalog = catalog();
        let pods = catalog.resolve("po").unwrap();
        let nodes = catalog.resolve("no").unwrap();
        let deploy = catalog.resolve("deploy").unwrap();
        assert_eq!(
            resource_path(pods, Some("default"), Some("web")),
            "/api/v1/namespaces/default/pods/web"
        );
        assert_eq!(resource_path(pods, None, None), "/api/v1/pods");
        assert_eq!(
            resource_path(nodes, Some("default"), Some("n1")),
            "/api/v1/nodes/n1"
        );
        assert_eq!(
            resource_path(deploy, Some("x"), None),
            "/apis/apps/v1/namespaces/x/deployments"
        );
        assert_eq!(
            with_query(
                "/api/v1/pods",
                &[("labelSelector", "app in (a,b)"), ("continue", "")]
            ),
            "/api/v1/pods?labelSelector=app%20in%20%28a%2Cb%29"
        );
    }
}
