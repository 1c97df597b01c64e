//! `kubectl apply -f`: create what does not exist, patch what does with a three-way strategic
//! merge patch, as upstream's client-side apply.
//!
//! The configuration last applied is kept in the object's
//! `kubectl.kubernetes.io/last-applied-configuration` annotation, written byte for byte as
//! upstream writes it (Go's JSON of the manifest object with that annotation removed, its
//! namespace filled in, `annotations: {}` when it had none, and a trailing newline), so the real
//! kubectl and ours can take turns on the same object. An unchanged manifest sends nothing and
//! prints `unchanged`.

use crate::cli::GlobalFlags;
use crate::error::CliError;
use crate::gojson;
use crate::manifest::Object;
use crate::printers::{self, OutputFormat};
use crate::remote::{self, PatchType, APPLY_FIELD_MANAGER};
use crate::session::Session;
use crate::targets::{self, DryRun, Target};
use serde_json::Value;
use tinykube_apimachinery::patch_meta;
use tinykube_apimachinery::strategic_merge;

/// The annotation holding the last applied configuration.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// How many times a patch is recomputed after a 409 Conflict, as upstream's `maxPatchRetry`.
const MAX_PATCH_RETRIES: usize = 5;

/// Arguments of `kubectl apply`.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// The files that contain the configurations to apply ('-' for stdin); directories are
    /// read for .json, .yaml and .yml files.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub filenames: Vec<String>,
    /// Process the directory used in -f recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Output format: one of yaml, json, name.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Must be "none", "server", or "client": with client only print what would be sent, with
    /// server submit without persisting.
    #[arg(long, value_enum, default_value = "none", num_args = 0..=1, require_equals = true, default_missing_value = "client")]
    pub dry_run: DryRun,
    /// How the server validates fields: strict (default), warn or ignore (true = strict,
    /// false = ignore).
    #[arg(long, default_value = "strict", num_args = 0..=1, require_equals = true, default_missing_value = "strict")]
    pub validate: String,
    /// Name of the manager used to track field ownership.
    #[arg(long, default_value = APPLY_FIELD_MANAGER)]
    pub field_manager: String,
}

/// The `fieldValidation` query value of a `--validate` flag.
pub fn field_validation(flag: &str) -> Result<&'static str, CliError> {
    match flag {
        "strict" | "true" => Ok("Strict"),
        "warn" => Ok("Warn"),
        "ignore" | "false" => Ok("Ignore"),
        other => Err(CliError::usage(format!(
            "invalid - validate option \"{other}\"; must be one of: strict (or true), warn, ignore (or false)"
        ))),
    }
}

pub async fn run(flags: &GlobalFlags, args: ApplyArgs) -> Result<(), CliError> {
    if args.filenames.is_empty() {
        return Err(CliError::usage("must specify one of -f and -k"));
    }
    let format = args
        .output
        .as_deref()
        .map(|o| OutputFormat::parse(Some(o)))
        .transpose()?;
    let validation = field_validation(&args.validate)?;
    let (session, catalog) = targets::connect(flags).await?;
    let resolved = targets::from_manifests(&session, &catalog, &args.filenames, args.recursive)?;
    if resolved.targets.is_empty() && resolved.errors.is_empty() {
        return Err(CliError::usage("no objects passed to apply"));
    }
    let mut errors = resolved.errors;
    for target in &resolved.targets {
        match apply_one(&session, target, &args, validation).await {
            Ok((outcome, object)) => {
                print_outcome(format.as_ref(), target, outcome, args.dry_run, &object)?
            }
            Err(e) => errors.push(e),
        }
    }
    finish(errors)
}

/// Turns the failures of a multi-object verb into its result: upstream prints each on its own
/// line and exits 1.
pub fn finish(mut errors: Vec<CliError>) -> Result<(), CliError> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(CliError::Many(errors)),
    }
}

/// What applying one object did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Configured,
    Unchanged,
}

impl Outcome {
    pub fn word(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Configured => "configured",
            Self::Unchanged => "unchanged",
        }
    }
}

/// Prints `deployment.apps/web created`, or the object in the `-o` format.
pub fn print_outcome(
    format: Option<&OutputFormat>,
    target: &Target,
    outcome: Outcome,
    dry_run: DryRun,
    object: &Value,
) -> Result<(), CliError> {
    match format {
        None | Some(OutputFormat::Table | OutputFormat::Wide) => {
            println!(
                "{} {}{}",
                target.display(),
                outcome.word(),
                dry_run.suffix()
            )
        }
        Some(OutputFormat::Name) => println!("{}", target.display()),
        Some(format) => {
            let mut object = object.clone();
            printers::hide_managed_fields(&mut object);
            print!("{}", printers::print_object(format, &object)?);
        }
    }
    Ok(())
}

/// The text upstream stores in the last-applied annotation for `object`: Go's JSON of it
/// without that annotation (and with an empty `annotations` map when it has no other), and a
/// newline.
pub fn last_applied_configuration(object: &Object) -> String {
    let mut copy = object.clone();
    annotations_mut(&mut copy).remove(LAST_APPLIED);
    gojson::to_line(&Value::Object(copy))
}

/// `object` with its last-applied annotation set to its own configuration: what apply sends.
pub fn with_last_applied(object: &Object) -> Object {
    let configuration = last_applied_configuration(object);
    let mut modified = object.clone();
    annotations_mut(&mut modified).insert(LAST_APPLIED.into(), Value::String(configuration));
    modified
}

/// The object's `metadata.annotations`, created (empty) when missing or not a map.
fn annotations_mut(object: &mut Object) -> &mut Object {
    let metadata = object
        .entry("metadata")
        .or_insert_with(|| Value::Object(Object::new()));
    if !metadata.is_object() {
        *metadata = Value::Object(Object::new());
    }
    let Value::Object(metadata) = metadata else {
        unreachable!("metadata was just made an object")
    };
    let annotations = metadata
        .entry("annotations")
        .or_insert_with(|| Value::Object(Object::new()));
    if !annotations.is_object() {
        *annotations = Value::Object(Object::new());
    }
    match annotations {
        Value::Object(map) => map,
        _ => unreachable!("annotations was just made an object"),
    }
}

/// The configuration last applied to a live object, if any.
pub fn original_configuration(current: &Value) -> Result<Option<Object>, CliError> {
    let Some(text) = current
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(Value::as_str)
    else {
        return Ok(None);
    };
    if text.is_empty() {
        return Ok(None);
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        _ => Err(CliError::usage(format!(
            "the annotation {LAST_APPLIED} of the live object is not a JSON object"
        ))),
    }
}

/// upstream's description of an object in error messages (its `Info.String()`).
pub fn describe_target(target: &Target) -> String {
    let t = &target.rtype;
    let gv = format!("{}/{}", t.group, t.version);
    let namespace = if t.namespaced {
        target.namespace.as_str()
    } else {
        ""
    };
    format!(
        "Resource: \"{gv}, Resource={}\", GroupVersionKind: \"{gv}, Kind={}\"\nName: \"{}\", Namespace: \"{namespace}\"",
        t.plural, t.kind, target.name
    )
}

async fn apply_one(
    session: &Session,
    target: &Target,
    args: &ApplyArgs,
    validation: &str,
) -> Result<(Outcome, Value), CliError> {
    let object = target
        .object
        .as_ref()
        .ok_or_else(|| CliError::usage("apply needs an object from a manifest"))?;
    if target.name.is_empty() {
        return Err(CliError::usage(format!(
            "error when retrieving current configuration of:\n{}\nfrom server for: \"{}\": resource name may not be empty",
            describe_target(target),
            target.source
        )));
    }
    let modified = with_last_applied(object);
    let endpoint = target.endpoint(session);
    let mut query: Vec<(&str, &str)> = vec![
        ("fieldManager", args.field_manager.as_str()),
        ("fieldValidation", validation),
    ];
    query.extend(args.dry_run.query());
    let schema = patch_meta::for_kind(&target.rtype.group, &target.rtype.kind);
    let mut attempt = 0;
    loop {
        let current = endpoint.get_opt(&target.name).await.map_err(|e| {
            remote::with_source(
                e,
                &format!(
                    "retrieving current configuration of:\n{}\nfrom server for:",
                    describe_target(target)
                ),
                &target.source,
            )
        })?;
        let Some(current) = current else {
            let created = if args.dry_run == DryRun::Client {
                Value::Object(modified.clone())
            } else {
                endpoint
                    .create(&Value::Object(modified.clone()), &query)
                    .await
                    .map_err(|e| remote::with_source(e, "creating", &target.source))?
            };
            return Ok((Outcome::Created, created));
        };
        let original = original_configuration(&current)?;
        let Value::Object(current_map) = &current else {
            return Err(CliError::usage(
                "the server answered with something not an object",
            ));
        };
        let patch = strategic_merge::three_way(original.as_ref(), &modified, current_map, schema)
            .map_err(|e| {
            CliError::usage(format!(
                "error when creating the patch for \"{}\": {e}",
                target.source
            ))
        })?;
        if patch.is_empty() {
            return Ok((Outcome::Unchanged, current));
        }
        let patch = Value::Object(patch);
        if args.dry_run == DryRun::Client {
            return Ok((Outcome::Configured, current));
        }
        match endpoint
            .patch(&target.name, None, PatchType::Strategic, &patch, &query)
            .await
        {
            Ok(patched) => return Ok((Outcome::Configured, patched)),
            Err(e) if e.status_code() == 409 && attempt < MAX_PATCH_RETRIES => attempt += 1,
            Err(e) => return Err(patch_error(e, &patch, target)),
        }
    }
}

/// Upstream's long form for a failed apply patch: the patch, the object and the source.
fn patch_error(error: CliError, patch: &Value, target: &Target) -> CliError {
    let prefix = format!(
        "error when applying patch:\n{}\nto:\n{}\nfor: \"{}\": error when patching \"{}\"",
        gojson::to_string(patch),
        describe_target(target),
        target.source,
        target.source
    );
    match error {
        CliError::Server {
            reason,
            message,
            code,
        } => CliError::Server {
            reason,
            message: format!("{prefix}: {message}"),
            code,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Object {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn the_annotation_is_upstreams_text() {
        // Recorded from the real kubectl applying the same manifest.
        let manifest = object(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", "echo <&> ; sleep 1"]}
            ]}}},
        }));
        assert_eq!(
            last_applied_configuration(&manifest),
            "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"annotations\":{},\"labels\":{\"app\":\"web\"},\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"replicas\":2,\"template\":{\"spec\":{\"containers\":[{\"command\":[\"sh\",\"-c\",\"echo \\u003c\\u0026\\u003e ; sleep 1\"],\"image\":\"busybox:1.36\",\"name\":\"main\"}]}}}}\n"
        );
        let modified = with_last_applied(&manifest);
        let original = original_configuration(&Value::Object(modified.clone()))
            .unwrap()
            .unwrap();
        assert_eq!(original["metadata"]["annotations"], json!({}));
        // Re-applying the annotated object changes nothing in its annotation.
        assert_eq!(
            last_applied_configuration(&modified),
            last_applied_configuration(&manifest)
        );
    }

    #[test]
    fn other_annotations_are_kept() {
        let manifest = object(
            json!({"kind": "ConfigMap", "metadata": {"name": "c", "annotations": {"a": "b"}}}),
        );
        assert_eq!(
            last_applied_configuration(&manifest),
            "{\"kind\":\"ConfigMap\",\"metadata\":{\"annotations\":{\"a\":\"b\"},\"name\":\"c\"}}\n"
        );
        let modified = with_last_applied(&manifest);
        assert_eq!(modified["metadata"]["annotations"]["a"], "b");
    }

    #[test]
    fn validate_flags_map_to_field_validation() {
        assert_eq!(field_validation("true").unwrap(), "Strict");
        assert_eq!(field_validation("ignore").unwrap(), "Ignore");
        assert!(field_validation("maybe").is_err());
    }
}
