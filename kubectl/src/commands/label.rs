//! `kubectl label` and `kubectl annotate`: `KEY=VALUE` adds or (with `--overwrite`) changes,
//! `KEY-` removes, sent as a JSON merge patch of `metadata.labels` / `metadata.annotations`, with
//! upstream's argument rules and messages (`labeled`, `not labeled`, `unlabeled`, `annotated`,
//! `'app' already has a value (web), and --overwrite is false`).

use super::apply::finish;
use crate::cli::GlobalFlags;
use crate::error::CliError;
use crate::gojson;
use crate::remote::PatchType;
use crate::targets::{self, Selection};
use serde_json::{json, Map, Value};
use tinykube_apimachinery::validation;

/// Which metadata map the command edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Labels,
    Annotations,
}

impl Field {
    fn key(self) -> &'static str {
        match self {
            Self::Labels => "labels",
            Self::Annotations => "annotations",
        }
    }

    fn singular(self) -> &'static str {
        match self {
            Self::Labels => "label",
            Self::Annotations => "annotation",
        }
    }
}

/// Arguments of `kubectl label` / `kubectl annotate`.
#[derive(Debug, clap::Args)]
pub struct LabelArgs {
    /// `TYPE NAME...` or `TYPE/NAME...`, then `KEY=VALUE` and `KEY-` updates.
    pub args: Vec<String>,
    /// Allow existing keys to be overwritten.
    #[arg(long)]
    pub overwrite: bool,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Select all resources of the given types in the namespace.
    #[arg(long)]
    pub all: bool,
    /// Files with the resources to update.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub filenames: Vec<String>,
    /// Only update if the object is still at this resource version.
    #[arg(long)]
    pub resource_version: Option<String>,
    /// Print the labels (annotations) of the objects instead of changing them.
    #[arg(long)]
    pub list: bool,
    /// Output format: only "name".
    #[arg(short = 'o', long)]
    pub output: Option<String>,
}

/// Splits the arguments into resources and `KEY=VALUE` / `KEY-` pairs, as upstream's
/// `GetResourcesAndPairs`: every resource must come before the first pair.
pub fn split_resources_and_pairs(
    args: &[String],
    pair_type: &str,
) -> Result<(Vec<String>, Vec<String>), CliError> {
    let mut resources = Vec::new();
    let mut pairs = Vec::new();
    for arg in args {
        let is_pair =
            (arg.contains('=') && !arg.starts_with('=')) || (arg.ends_with('-') && arg != "-");
        match (is_pair, pairs.is_empty()) {
            (true, _) => pairs.push(arg.clone()),
            (false, true) => resources.push(arg.clone()),
            (false, false) => {
                return Err(CliError::usage(format!(
                    "all resources must be specified before {pair_type} changes: {arg}"
                )))
            }
        }
    }
    Ok((resources, pairs))
}

/// The parsed updates: keys to set (in order, last wins) and keys to remove.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Updates {
    pub set: Vec<(String, String)>,
    pub remove: Vec<String>,
}

/// Parses `KEY=VALUE` / `KEY-` with upstream's rules for labels (one `=`, a valid label value)
/// or annotations (anything after the first `=`).
pub fn parse_updates(pairs: &[String], field: Field) -> Result<Updates, CliError> {
    let mut updates = Updates::default();
    for pair in pairs {
        if pair.contains('=') {
            let (key, value) = match field {
                Field::Labels => {
                    let parts: Vec<&str> = pair.split('=').collect();
                    if parts.len() != 2 {
                        return Err(CliError::usage(format!("invalid label spec: {pair}")));
                    }
                    let errors = validation::is_valid_label_value(parts[1]);
                    if !errors.is_empty() {
                        return Err(CliError::usage(format!(
                            "invalid label value: {pair:?}: {}",
                            errors.join(";")
                        )));
                    }
                    (parts[0], parts[1])
                }
                Field::Annotations => {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    if key.is_empty() {
                        return Err(CliError::usage(format!("invalid annotation spec: {pair}")));
                    }
                    (key, value)
                }
            };
            updates.set.retain(|(k, _)| k != key);
            updates.set.push((key.to_owned(), value.to_owned()));
        } else if let Some(key) = pair.strip_suffix('-') {
            updates.remove.push(key.to_owned());
        } else {
            return Err(CliError::usage(format!(
                "unknown {} spec: {pair}",
                field.singular()
            )));
        }
    }
    if let Some((key, _)) = updates.set.iter().find(|(k, _)| updates.remove.contains(k)) {
        return Err(CliError::usage(match field {
            Field::Labels => "can not both modify and remove a label in the same command".to_owned(),
            Field::Annotations => format!(
                "can not both modify and remove the following annotation(s) in the same command: {key}"
            ),
        }));
    }
    Ok(updates)
}

/// What applying `updates` to `current` gives, or upstream's `--overwrite` refusal. Pure.
pub fn apply_updates(
    current: &Map<String, Value>,
    updates: &Updates,
    overwrite: bool,
    field: Field,
) -> Result<Map<String, Value>, CliError> {
    if !overwrite {
        let clashes: Vec<String> = updates
            .set
            .iter()
            .filter(|(k, _)| !(field == Field::Annotations && k == "kubernetes.io/change-cause"))
            .filter_map(|(k, v)| match current.get(k).and_then(Value::as_str) {
                Some(existing) if existing != v => {
                    Some(format!("'{k}' already has a value ({existing})"))
                }
                _ => None,
            })
            .collect();
        if !clashes.is_empty() {
            return Err(CliError::usage(match field {
                Field::Labels => clashes
                    .iter()
                    .map(|c| format!("{c}, and --overwrite is false"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                Field::Annotations => format!(
                    "--overwrite is false but found the following declared annotation(s): {}",
                    clashes.join("; ")
                ),
            }));
        }
    }
    let mut next = current.clone();
    for (k, v) in &updates.set {
        next.insert(k.clone(), Value::String(v.clone()));
    }
    for k in &updates.remove {
        next.remove(k);
    }
    Ok(next)
}

/// Upstream's wording of a label change, from the object before and after (its
/// `updateDataChangeMsg`, which compares the serialized objects).
pub fn label_message(before: &Value, after: &Value, overwrite: bool) -> &'static str {
    if before == after {
        return "not labeled";
    }
    if !overwrite && gojson::to_string(after).len() < gojson::to_string(before).len() {
        return "unlabeled";
    }
    "labeled"
}

pub async fn run(flags: &GlobalFlags, field: Field, args: LabelArgs) -> Result<(), CliError> {
    let (resources, pairs) = split_resources_and_pairs(&args.args, field.singular())?;
    if pairs.is_empty() && !args.list {
        return Err(CliError::usage(format!(
            "at least one {} update is required",
            field.singular()
        )));
    }
    let updates = parse_updates(&pairs, field)?;
    let (session, catalog) = targets::connect(flags).await?;
    let selection = Selection {
        args: resources,
        filenames: args.filenames.clone(),
        recursive: false,
        selector: args.selector.clone(),
        all: args.all,
    };
    let resolved = targets::resolve(&session, &catalog, &selection).await?;
    let mut errors = resolved.errors;
    for target in &resolved.targets {
        let endpoint = target.endpoint(&session);
        let live = match endpoint.get(&target.name).await {
            Ok(live) => live,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let current = live
            .pointer(&format!("/metadata/{}", field.key()))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if args.list {
            println!("Listing {} for {}:", field.key(), target.display());
            for (k, v) in &current {
                println!("{k}={}", v.as_str().unwrap_or_default());
            }
            continue;
        }
        let next = match apply_updates(&current, &updates, args.overwrite, field) {
            Ok(next) => next,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if field == Field::Labels {
            for key in &updates.remove {
                if !current.contains_key(key) {
                    println!("label {key:?} not found.");
                }
            }
        }
        let mut after = live.clone();
        after["metadata"][field.key()] = Value::Object(next.clone());
        let mut patch_map = Map::new();
        for (k, v) in &next {
            if current.get(k) != Some(v) {
                patch_map.insert(k.clone(), v.clone());
            }
        }
        for k in current.keys() {
            if !next.contains_key(k) {
                patch_map.insert(k.clone(), Value::Null);
            }
        }
        let mut patch = json!({"metadata": {field.key(): patch_map}});
        if let Some(version) = &args.resource_version {
            patch["metadata"]["resourceVersion"] = Value::String(version.clone());
        }
        let message = match field {
            Field::Labels => label_message(&live, &after, args.overwrite),
            Field::Annotations => "annotated",
        };
        if !patch_map.is_empty() || args.resource_version.is_some() {
            if let Err(e) = endpoint
                .patch(&target.name, None, PatchType::Merge, &patch, &[])
                .await
            {
                errors.push(e);
                continue;
            }
        }
        match args.output.as_deref() {
            Some("name") => println!("{}", target.display()),
            _ => println!("{} {message}", target.display()),
        }
    }
    finish(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn resources_come_before_pairs() {
        let (resources, pairs) =
            split_resources_and_pairs(&strings(&["deploy", "web", "a=b", "c-"]), "label").unwrap();
        assert_eq!(
            (resources, pairs),
            (strings(&["deploy", "web"]), strings(&["a=b", "c-"]))
        );
        let error =
            split_resources_and_pairs(&strings(&["deploy", "a=b", "web"]), "label").unwrap_err();
        assert_eq!(
            error.to_string(),
            "error: all resources must be specified before label changes: web"
        );
        let (resources, _) = split_resources_and_pairs(&strings(&["=x", "-"]), "label").unwrap();
        assert_eq!(resources, strings(&["=x", "-"]));
    }

    #[test]
    fn pairs_parse_with_upstreams_rules() {
        let updates = parse_updates(&strings(&["a=1", "b=", "a=2", "c-"]), Field::Labels).unwrap();
        assert_eq!(
            updates,
            Updates {
                set: vec![("b".into(), "".into()), ("a".into(), "2".into())],
                remove: strings(&["c"]),
            }
        );
        let cases = [
            (vec!["a=b=c"], Field::Labels, "error: invalid label spec: a=b=c"),
            (vec!["a=-x"], Field::Labels, "error: invalid label value: \"a=-x\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"),
            (vec!["a=1", "a-"], Field::Labels, "error: can not both modify and remove a label in the same command"),
            (vec!["a=1", "a-"], Field::Annotations, "error: can not both modify and remove the following annotation(s) in the same command: a"),
        ];
        for (pairs, field, want) in cases {
            assert_eq!(
                parse_updates(&strings(&pairs), field)
                    .unwrap_err()
                    .to_string(),
                want
            );
        }
        let updates = parse_updates(&strings(&["note=a=b c"]), Field::Annotations).unwrap();
        assert_eq!(updates.set, vec![("note".into(), "a=b c".into())]);
    }

    #[test]
    fn overwrite_is_required_to_change_a_value() {
        let current: Map<String, Value> =
            serde_json::from_value(json!({"app": "web", "tier": "x"})).unwrap();
        let change = Updates {
            set: vec![("app".into(), "other".into())],
            remove: vec![],
        };
        assert_eq!(
            apply_updates(&current, &change, false, Field::Labels)
                .unwrap_err()
                .to_string(),
            "error: 'app' already has a value (web), and --overwrite is false"
        );
        assert_eq!(
            apply_updates(&current, &change, false, Field::Annotations).unwrap_err().to_string(),
            "error: --overwrite is false but found the following declared annotation(s): 'app' already has a value (web)"
        );
        let next = apply_updates(&current, &change, true, Field::Labels).unwrap();
        assert_eq!(next["app"], "other");
        let same = Updates {
            set: vec![("app".into(), "web".into())],
            remove: vec!["tier".into()],
        };
        let next = apply_updates(&current, &same, false, Field::Labels).unwrap();
        assert_eq!(Value::Object(next), json!({"app": "web"}));
    }

    #[test]
    fn messages_follow_the_serialized_size() {
        let before = json!({"metadata": {"labels": {"app": "other"}}});
        let shorter = json!({"metadata": {"labels": {"tier": "x"}}});
        let longer = json!({"metadata": {"labels": {"app": "other", "tier": "x"}}});
        assert_eq!(label_message(&before, &before, false), "not labeled");
        assert_eq!(label_message(&before, &shorter, false), "unlabeled");
        assert_eq!(label_message(&before, &shorter, true), "labeled");
        assert_eq!(label_message(&before, &longer, false), "labeled");
    }
}
