//! Output formats, as upstream kubectl prints them (`-o wide|yaml|json|name|jsonpath=...`, and
//! the default table). Every verb that prints objects uses these: `get`, and the writing verbs'
//! `-o name` / `-o yaml`.
//!
//! - [`table`]: server-side Tables laid out with [`tabwriter`] (Go's `text/tabwriter`).
//! - [`yaml`] / [`crate::gojson`]: byte-for-byte what `sigs.k8s.io/yaml` and `encoding/json`
//!   write.
//! - [`jsonpath`]: the JSONPath template language.

pub mod jsonpath;
pub mod table;
pub mod tabwriter;
pub mod yaml;

use crate::error::CliError;
use crate::gojson;
use serde_json::{json, Value};

/// What `-o` asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputFormat {
    /// No `-o`: the server-side table.
    Table,
    /// `-o wide`: the table with its priority > 0 columns.
    Wide,
    Yaml,
    Json,
    /// `-o name`: `kind.group/name`.
    Name,
    /// `-o jsonpath=TEMPLATE`.
    JsonPath(jsonpath::Template),
}

/// Every format upstream names in its error; the ones tinykube lacks fail with the same error.
const ALLOWED_FORMATS: &str = "custom-columns,custom-columns-file,go-template,go-template-file,json,jsonpath,jsonpath-as-json,jsonpath-file,name,template,templatefile,wide,yaml";

impl OutputFormat {
    /// Parses `-o`'s value (`None` when the flag is absent).
    pub fn parse(output: Option<&str>) -> Result<Self, CliError> {
        let Some(output) = output else {
            return Ok(Self::Table);
        };
        // `-o=yaml` reaches us with its `=`.
        let output = output.strip_prefix('=').unwrap_or(output);
        let (name, argument) = match output.split_once('=') {
            Some((name, argument)) => (name, Some(argument)),
            None => (output, None),
        };
        match (name, argument) {
            ("" | "table", None) => Ok(Self::Table),
            ("wide", None) => Ok(Self::Wide),
            ("yaml", None) => Ok(Self::Yaml),
            ("json", None) => Ok(Self::Json),
            ("name", None) => Ok(Self::Name),
            ("jsonpath", Some(template)) => jsonpath::Template::parse(template)
                .map(Self::JsonPath)
                .map_err(|e| CliError::usage(format!("error parsing jsonpath {template}, {e}"))),
            ("jsonpath", None) => Err(CliError::usage(
                "template format specified but no template given",
            )),
            _ => Err(CliError::usage(format!(
                "unable to match a printer suitable for the output format \"{output}\", allowed formats are: {ALLOWED_FORMATS}"
            ))),
        }
    }

    /// Whether this is one of the table formats (which read the server-side Table).
    pub fn is_table(&self) -> bool {
        matches!(self, Self::Table | Self::Wide)
    }
}

/// `kind.group/name` as `-o name` and the `created`/`configured` lines print it
/// (`pod/web-1`, `deployment.apps/web`), from the object's own `apiVersion` and `kind`.
pub fn object_name(object: &Value) -> String {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_lowercase();
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match api_version.split_once('/') {
        Some((group, _)) if !group.is_empty() => format!("{kind}.{group}/{name}"),
        _ => format!("{kind}/{name}"),
    }
}

/// Removes `metadata.managedFields`, as upstream does unless `--show-managed-fields`.
pub fn hide_managed_fields(object: &mut Value) {
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
}

/// The `kind: List` upstream prints for zero or several objects.
pub fn list_of(items: Vec<Value>) -> Value {
    json!({
        "apiVersion": "v1",
        "items": items,
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    })
}

/// Fills each item's `apiVersion`/`kind` from its list (`PodList` -> `Pod`), as upstream's
/// unstructured decoding does, and returns the items.
pub fn items_of_list(mut list: Value) -> Vec<Value> {
    let api_version = list.get("apiVersion").cloned();
    let kind = list
        .get("kind")
        .and_then(Value::as_str)
        .map(|k| k.strip_suffix("List").unwrap_or(k).to_owned());
    let items = match list.get_mut("items").map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    items
        .into_iter()
        .map(|mut item| {
            if let Some(map) = item.as_object_mut() {
                if let Some(api_version) = &api_version {
                    map.entry("apiVersion")
                        .or_insert_with(|| api_version.clone());
                }
                if let Some(kind) = &kind {
                    map.entry("kind")
                        .or_insert_with(|| Value::String(kind.clone()));
                }
            }
            item
        })
        .collect()
}

/// Prints one object (or a `List`) in a non-table format. `Table`/`Wide` print the name, as
/// upstream's fallback does for objects without a table.
pub fn print_object(format: &OutputFormat, object: &Value) -> Result<String, CliError> {
    match format {
        OutputFormat::Yaml => Ok(yaml::to_yaml(object)),
        // `json.MarshalIndent(object, "", "    ")` and a newline, as upstream's JSONPrinter.
        OutputFormat::Json => Ok(gojson::to_indented(object, "    ") + "\n"),
        OutputFormat::JsonPath(template) => template
            .execute(object)
            .map_err(|e| CliError::usage(format!("error executing jsonpath: {e}"))),
        OutputFormat::Name | OutputFormat::Table | OutputFormat::Wide => {
            if object.get("kind").and_then(Value::as_str) == Some("List") {
                let names: Vec<String> = object
                    .get("items")
                    .and_then(Value::as_array)
                    .map(|items| items.iter().map(object_name).collect())
                    .unwrap_or_default();
                Ok(names.iter().map(|n| format!("{n}\n")).collect())
            } else {
                Ok(format!("{}\n", object_name(object)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_flags_parse_like_upstream() {
        assert_eq!(OutputFormat::parse(None).unwrap(), OutputFormat::Table);
        assert_eq!(
            OutputFormat::parse(Some("wide")).unwrap(),
            OutputFormat::Wide
        );
        assert_eq!(
            OutputFormat::parse(Some("=yaml")).unwrap(),
            OutputFormat::Yaml
        );
        assert!(matches!(
            OutputFormat::parse(Some("jsonpath={.metadata.name}")).unwrap(),
            OutputFormat::JsonPath(_)
        ));
        let error = OutputFormat::parse(Some("xml")).unwrap_err().to_string();
        assert!(
            error.starts_with(
                "error: unable to match a printer suitable for the output format \"xml\""
            ),
            "{error}"
        );
    }

    #[test]
    fn names_carry_the_group() {
        let deploy =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}});
        assert_eq!(object_name(&deploy), "deployment.apps/web");
        assert_eq!(object_name(&pod), "pod/a");
        let list = list_of(vec![deploy, pod]);
        assert_eq!(
            print_object(&OutputFormat::Name, &list).unwrap(),
            "deployment.apps/web\npod/a\n"
        );
    }

    #[test]
    fn list_items_get_their_type() {
        let list = json!({"apiVersion": "apps/v1", "kind": "DeploymentList", "items": [{"metadata": {"name": "web"}}]});
        let items = items_of_list(list);
        assert_eq!(items[0]["kind"], "Deployment");
        assert_eq!(items[0]["apiVersion"], "apps/v1");
    }

    #[test]
    fn pretty_json_matches_go_marshal_indent() {
        let value = json!({"kind": "Secret", "data": {"cc": "ZGRkZA==", "a": "Yg=="}, "list": [], "m": {}, "n": [1, 2.5]});
        assert_eq!(
            print_object(&OutputFormat::Json, &value).unwrap(),
            "{\n    \"data\": {\n        \"a\": \"Yg==\",\n        \"cc\": \"ZGRkZA==\"\n    },\n    \"kind\": \"Secret\",\n    \"list\": [],\n    \"m\": {},\n    \"n\": [\n        1,\n        2.5\n    ]\n}\n"
        );
    }
}
