//! `kubectl create -f` and the generators upstream ships: `create deployment`,
//! `create secret generic`, `create configmap`, `create namespace`. Generated objects are built
//! field for field as upstream's typed objects serialize (`creationTimestamp: null`,
//! `resources: {}`, `status: {}`), so `--dry-run=client -o yaml` prints the same text.

use super::apply::{self, finish, print_outcome, with_last_applied, Outcome};
use crate::cli::GlobalFlags;
use crate::error::CliError;
use crate::printers::OutputFormat;
use crate::remote::{self, Endpoint};
use crate::session::Session;
use crate::targets::{self, DryRun, Target};
use base64::Engine;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::Path;
use tinykube_apimachinery::validation;

/// Arguments of `kubectl create`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CreateArgs {
    #[command(subcommand)]
    pub generator: Option<Generator>,
    /// Filename, directory, or '-' (stdin) of the resources to create.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub filenames: Vec<String>,
    /// Process the directory used in -f recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    #[command(flatten)]
    pub common: CommonFlags,
}

/// Flags every form of `create` takes.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonFlags {
    /// Output format: one of yaml, json, name.
    #[arg(short = 'o', long, global = true)]
    pub output: Option<String>,
    /// Must be "none", "server", or "client".
    #[arg(long, value_enum, default_value = "none", num_args = 0..=1, require_equals = true, default_missing_value = "client", global = true)]
    pub dry_run: DryRun,
    /// Write the configuration to the last-applied annotation, so `kubectl apply` can manage
    /// the object later.
    #[arg(long, global = true)]
    pub save_config: bool,
    /// How the server validates fields: strict, warn or ignore.
    #[arg(long, default_value = "strict", num_args = 0..=1, require_equals = true, default_missing_value = "strict", global = true)]
    pub validate: String,
    /// Name of the manager used to track field ownership.
    #[arg(long, default_value = "kubectl-create", global = true)]
    pub field_manager: String,
}

/// The generators.
#[derive(Debug, clap::Subcommand)]
pub enum Generator {
    /// Create a deployment with the specified name.
    #[command(visible_alias = "deploy")]
    Deployment(DeploymentArgs),
    /// Create a secret.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Create a config map from a local file, directory or literal value.
    #[command(visible_alias = "cm")]
    Configmap(DataArgs),
    /// Create a namespace with the specified name.
    #[command(visible_alias = "ns")]
    Namespace(NameArgs),
}

/// `kubectl create secret ...`.
#[derive(Debug, clap::Subcommand)]
pub enum SecretCommand {
    /// Create a secret from a local file, directory, or literal value.
    Generic(DataArgs),
}

#[derive(Debug, clap::Args)]
pub struct NameArgs {
    pub name: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct DeploymentArgs {
    pub name: Vec<String>,
    /// Image names to run; one container per image.
    #[arg(long = "image", required = true)]
    pub images: Vec<String>,
    /// Number of replicas to create.
    #[arg(short = 'r', long, default_value_t = 1, allow_negative_numbers = true)]
    pub replicas: i64,
    /// The containerPort the first container exposes.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub port: i64,
    /// The command of the container(s), after `--`.
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// Data flags of `create secret generic` and `create configmap`.
#[derive(Debug, clap::Args)]
pub struct DataArgs {
    pub name: Vec<String>,
    /// Specify a key and literal value to insert (i.e. mykey=somevalue).
    #[arg(long = "from-literal")]
    pub literals: Vec<String>,
    /// Key files can be specified using their file path ([key=]path); a directory adds every
    /// regular file in it.
    #[arg(long = "from-file")]
    pub files: Vec<String>,
    /// The type of secret to create (secrets only).
    #[arg(long = "type")]
    pub secret_type: Option<String>,
}

pub async fn run(flags: &GlobalFlags, args: CreateArgs) -> Result<(), CliError> {
    let format = args
        .common
        .output
        .as_deref()
        .map(|o| OutputFormat::parse(Some(o)))
        .transpose()?;
    let validation = apply::field_validation(&args.common.validate)?;
    match args.generator {
        None => create_from_files(flags, &args, format.as_ref(), validation).await,
        Some(generator) => {
            let (kind, name, object) = build_generated(generator)?;
            create_generated(
                flags,
                &args.common,
                format.as_ref(),
                validation,
                kind,
                &name,
                object,
            )
            .await
        }
    }
}

async fn create_from_files(
    flags: &GlobalFlags,
    args: &CreateArgs,
    format: Option<&OutputFormat>,
    validation: &str,
) -> Result<(), CliError> {
    if args.filenames.is_empty() {
        return Err(CliError::usage(
            "must specify one of -f and -k\n\nSee 'kubectl create -h' for help and examples",
        ));
    }
    let (session, catalog) = targets::connect(flags).await?;
    let resolved = targets::from_manifests(&session, &catalog, &args.filenames, args.recursive)?;
    if resolved.targets.is_empty() && resolved.errors.is_empty() {
        return Err(CliError::usage("no objects passed to create"));
    }
    let mut errors = resolved.errors;
    for target in &resolved.targets {
        let object = target.object.clone().unwrap_or_default();
        let object = if args.common.save_config {
            with_last_applied(&object)
        } else {
            object
        };
        match send_create(
            &session,
            target,
            &args.common,
            validation,
            Value::Object(object),
            None,
        )
        .await
        {
            Ok(created) => print_outcome(
                format,
                target,
                Outcome::Created,
                args.common.dry_run,
                &created,
            )?,
            Err(e) => errors.push(remote::with_source(e, "creating", &target.source)),
        }
    }
    finish(errors)
}

async fn send_create(
    session: &Session,
    target: &Target,
    common: &CommonFlags,
    validation: &str,
    object: Value,
    generated: Option<GeneratedKind>,
) -> Result<Value, CliError> {
    if common.dry_run == DryRun::Client {
        return Ok(object);
    }
    let mut query: Vec<(&str, &str)> = vec![
        ("fieldManager", common.field_manager.as_str()),
        ("fieldValidation", validation),
    ];
    query.extend(common.dry_run.query());
    let endpoint: Endpoint = target.endpoint(session);
    match generated {
        None => endpoint.create(&object, &query).await,
        Some(kind) => {
            endpoint
                .create_with(&object, &query, |e| match &e {
                    kube::Error::Api(status) => match kind.failure(&status.message) {
                        Some(message) => CliError::usage(message),
                        None => remote::api_error(e),
                    },
                    _ => remote::api_error(e),
                })
                .await
        }
    }
}

/// Which generated kind, for messages and the type to post to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GeneratedKind {
    Deployment,
    Secret,
    ConfigMap,
    Namespace,
}

impl GeneratedKind {
    fn plural(self) -> &'static str {
        match self {
            Self::Deployment => "deployments.apps",
            Self::Secret => "secrets",
            Self::ConfigMap => "configmaps",
            Self::Namespace => "namespaces",
        }
    }

    /// Upstream wraps the server's message for some generators (`failed to create secret`
    /// has no colon there).
    fn failure(self, message: &str) -> Option<String> {
        match self {
            Self::Deployment => Some(format!("failed to create deployment: {message}")),
            Self::Secret => Some(format!("failed to create secret {message}")),
            Self::ConfigMap => Some(format!("failed to create configmap: {message}")),
            Self::Namespace => None,
        }
    }
}

fn exactly_one_name(names: Vec<String>, command: &str) -> Result<String, CliError> {
    match <[String; 1]>::try_from(names) {
        Ok([name]) => Ok(name),
        Err(names) => Err(CliError::usage(format!(
            "exactly one NAME is required, got {}\nSee 'kubectl create {command} -h' for help and examples",
            names.len()
        ))),
    }
}

fn build_generated(generator: Generator) -> Result<(GeneratedKind, String, Value), CliError> {
    match generator {
        Generator::Deployment(args) => {
            let name = exactly_one_name(args.name, "deployment")?;
            let object =
                deployment_object(&name, &args.images, args.replicas, args.port, &args.command)?;
            Ok((GeneratedKind::Deployment, name, object))
        }
        Generator::Secret(SecretCommand::Generic(args)) => {
            let name = exactly_one_name(args.name, "secret generic")?;
            let data = collect_data(&args.literals, &args.files, DataKind::Secret, &name)?;
            Ok((
                GeneratedKind::Secret,
                name.clone(),
                secret_object(&name, &data, args.secret_type.as_deref()),
            ))
        }
        Generator::Configmap(args) => {
            let name = exactly_one_name(args.name, "configmap")?;
            let data = collect_data(&args.literals, &args.files, DataKind::ConfigMap, &name)?;
            Ok((
                GeneratedKind::ConfigMap,
                name.clone(),
                configmap_object(&name, &data),
            ))
        }
        Generator::Namespace(args) => {
            let name = exactly_one_name(args.name, "namespace")?;
            let object = json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"creationTimestamp": null, "name": name},
                "spec": {}, "status": {},
            });
            Ok((GeneratedKind::Namespace, name, object))
        }
    }
}

async fn create_generated(
    flags: &GlobalFlags,
    common: &CommonFlags,
    format: Option<&OutputFormat>,
    validation: &str,
    kind: GeneratedKind,
    name: &str,
    mut object: Value,
) -> Result<(), CliError> {
    let (session, catalog) = targets::connect(flags).await?;
    let rtype = catalog.resolve(kind.plural())?.clone();
    if rtype.namespaced && session.namespace_from_flag {
        object["metadata"]["namespace"] = Value::String(session.namespace.clone());
    }
    if common.save_config {
        if let Value::Object(map) = &object {
            object = Value::Object(with_last_applied(map));
        }
    }
    let target = Target {
        rtype,
        namespace: session.namespace.clone(),
        name: name.to_owned(),
        source: String::new(),
        object: None,
    };
    let created = send_create(&session, &target, common, validation, object, Some(kind)).await?;
    print_outcome(format, &target, Outcome::Created, common.dry_run, &created)
}

/// Upstream's `create deployment` object.
pub fn deployment_object(
    name: &str,
    images: &[String],
    replicas: i64,
    port: i64,
    command: &[String],
) -> Result<Value, CliError> {
    if images.len() > 1 && !command.is_empty() {
        return Err(CliError::usage(
            "cannot specify multiple --image options and command",
        ));
    }
    let mut containers: Vec<Value> = Vec::new();
    for image in images {
        let mut container = Map::new();
        container.insert("name".into(), Value::String(container_name(image)));
        container.insert("image".into(), Value::String(image.clone()));
        container.insert("resources".into(), json!({}));
        if !command.is_empty() {
            container.insert("command".into(), json!(command));
        }
        containers.push(Value::Object(container));
    }
    if port >= 0 {
        if let Some(Value::Object(first)) = containers.first_mut() {
            first.insert("ports".into(), json!([{"containerPort": port}]));
        }
    }
    Ok(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"creationTimestamp": null, "labels": {"app": name}, "name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {},
            "template": {
                "metadata": {"creationTimestamp": null, "labels": {"app": name}},
                "spec": {"containers": containers},
            },
        },
        "status": {},
    }))
}

/// The container name upstream derives from an image: the last path segment without tag or
/// digest; `_` and `.` become `-`.
pub fn container_name(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    let last = last.split(':').next().unwrap_or(last);
    let last = last.split('@').next().unwrap_or(last);
    last.replace(['_', '.'], "-")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    Secret,
    ConfigMap,
}

/// Gathers `--from-literal` and `--from-file` into key -> bytes, with upstream's checks and
/// messages.
pub fn collect_data(
    literals: &[String],
    files: &[String],
    kind: DataKind,
    name: &str,
) -> Result<BTreeMap<String, Vec<u8>>, CliError> {
    let mut data = BTreeMap::new();
    for literal in literals {
        let (key, value) = literal.split_once('=').ok_or_else(|| {
            CliError::usage(format!(
                "invalid literal source {literal}, expected key=value"
            ))
        })?;
        add_key(&mut data, key, value.as_bytes().to_vec(), kind, name)?;
    }
    for source in files {
        let (key, path) = parse_file_source(source)?;
        let path_ref = Path::new(&path);
        if path_ref.is_dir() {
            if key.is_some() {
                return Err(CliError::usage(
                    "cannot give a key name for a directory path",
                ));
            }
            let mut entries: Vec<_> = std::fs::read_dir(path_ref)
                .map_err(|e| read_error(&path, &e))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect();
            entries.sort();
            for entry in entries {
                let key = entry
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let bytes =
                    std::fs::read(&entry).map_err(|e| read_error(&entry.to_string_lossy(), &e))?;
                add_key(&mut data, &key, bytes, kind, name)?;
            }
        } else {
            let bytes = std::fs::read(path_ref).map_err(|e| read_error(&path, &e))?;
            let key = key.unwrap_or_else(|| {
                path.trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .unwrap_or(&path)
                    .to_owned()
            });
            add_key(&mut data, &key, bytes, kind, name)?;
        }
    }
    Ok(data)
}

/// `[key=]path` as upstream's `ParseFileSource` reads it.
pub fn parse_file_source(source: &str) -> Result<(Option<String>, String), CliError> {
    match source.matches('=').count() {
        0 => Ok((None, source.to_owned())),
        1 if source.starts_with('=') => Err(CliError::usage(format!(
            "key name for file path {} missing",
            &source[1..]
        ))),
        1 if source.ends_with('=') => Err(CliError::usage(format!(
            "file path for key name {} missing",
            &source[..source.len() - 1]
        ))),
        1 => {
            let (key, path) = source.split_once('=').unwrap_or_default();
            Ok((Some(key.to_owned()), path.to_owned()))
        }
        _ => Err(CliError::usage(
            "key names or file paths cannot contain '='",
        )),
    }
}

fn read_error(path: &str, error: &std::io::Error) -> CliError {
    let reason = match error.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => error.to_string(),
    };
    CliError::usage(format!("error reading {path}: {reason}"))
}

/// Upstream's `IsConfigMapKey`.
pub fn config_key_errors(key: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if key.len() > validation::DNS1123_SUBDOMAIN_MAX_LENGTH {
        errors.push(validation::max_len_error(
            validation::DNS1123_SUBDOMAIN_MAX_LENGTH,
        ));
    }
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        errors.push(validation::regex_error(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
            "[-._a-zA-Z0-9]+",
            &["key.name", "KEY_NAME", "key-name"],
        ));
    }
    if key == "." {
        errors.push("must not be '.'".into());
    } else if key == ".." {
        errors.push("must not be '..'".into());
    } else if key.starts_with("..") {
        errors.push("must not start with '..'".into());
    }
    errors
}

fn add_key(
    data: &mut BTreeMap<String, Vec<u8>>,
    key: &str,
    value: Vec<u8>,
    kind: DataKind,
    name: &str,
) -> Result<(), CliError> {
    let errors = config_key_errors(key);
    let what = match kind {
        DataKind::Secret => "Secret",
        DataKind::ConfigMap => "ConfigMap",
    };
    if !errors.is_empty() {
        return Err(CliError::usage(format!(
            "{key:?} is not valid key name for a {what} {}",
            errors.join(";")
        )));
    }
    if data.contains_key(key) {
        return Err(CliError::usage(match kind {
            DataKind::Secret => format!("cannot add key {key}, another key by that name already exists"),
            DataKind::ConfigMap => format!(
                "cannot add key {key:?}, another key by that name already exists in Data for ConfigMap {name:?}"
            ),
        }));
    }
    data.insert(key.to_owned(), value);
    Ok(())
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Upstream's `create secret generic` object.
pub fn secret_object(
    name: &str,
    data: &BTreeMap<String, Vec<u8>>,
    secret_type: Option<&str>,
) -> Value {
    let mut object = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"creationTimestamp": null, "name": name},
    });
    if !data.is_empty() {
        object["data"] = data
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(base64(v))))
            .collect::<Map<_, _>>()
            .into();
    }
    if let Some(t) = secret_type.filter(|t| !t.is_empty()) {
        object["type"] = Value::String(t.to_owned());
    }
    object
}

/// Upstream's `create configmap` object: text values in `data`, others in `binaryData`.
pub fn configmap_object(name: &str, data: &BTreeMap<String, Vec<u8>>) -> Value {
    let mut object = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"creationTimestamp": null, "name": name},
    });
    let mut text = Map::new();
    let mut binary = Map::new();
    for (key, value) in data {
        match std::str::from_utf8(value) {
            Ok(s) => text.insert(key.clone(), Value::String(s.to_owned())),
            Err(_) => binary.insert(key.clone(), Value::String(base64(value))),
        };
    }
    if !text.is_empty() {
        object["data"] = Value::Object(text);
    }
    if !binary.is_empty() {
        object["binaryData"] = Value::Object(binary);
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployments_are_built_like_upstream() {
        let object = deployment_object("d2", &["busybox:1".into()], 3, 8080, &[]).unwrap();
        assert_eq!(
            object,
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "d2", "creationTimestamp": null, "labels": {"app": "d2"}},
                "spec": {
                    "replicas": 3,
                    "selector": {"matchLabels": {"app": "d2"}},
                    "template": {
                        "metadata": {"creationTimestamp": null, "labels": {"app": "d2"}},
                        "spec": {"containers": [{"name": "busybox", "image": "busybox:1",
                            "ports": [{"containerPort": 8080}], "resources": {}}]},
                    },
                    "strategy": {},
                },
                "status": {},
            })
        );
        assert!(
            deployment_object("d", &["a".into(), "b".into()], 1, -1, &["sleep".into()])
                .unwrap_err()
                .to_string()
                .contains("cannot specify multiple --image options and command")
        );
        let cases = [
            ("busybox", "busybox"),
            ("registry.local:5000/team/my_app:1.0", "my-app"),
            ("nginx@sha256:abc", "nginx"),
            ("a.b", "a-b"),
        ];
        for (image, want) in cases {
            assert_eq!(container_name(image), want, "{image}");
        }
    }

    #[test]
    fn data_sources_parse_like_upstream() {
        type Expected<'a> = Result<(Option<&'a str>, &'a str), &'a str>;
        let cases: &[(&str, Expected)] = &[
            ("web.yaml", Ok((None, "web.yaml"))),
            ("k=dir/web.yaml", Ok((Some("k"), "dir/web.yaml"))),
            (
                "=web.yaml",
                Err("error: key name for file path web.yaml missing"),
            ),
            ("k=", Err("error: file path for key name k missing")),
            (
                "a=b=c",
                Err("error: key names or file paths cannot contain '='"),
            ),
        ];
        for (source, want) in cases {
            let got = parse_file_source(source);
            match (got, want) {
                (Ok((key, path)), Ok((wkey, wpath))) => {
                    assert_eq!((key.as_deref(), path.as_str()), (*wkey, *wpath), "{source}")
                }
                (Err(e), Err(message)) => assert_eq!(e.to_string(), *message, "{source}"),
                (got, want) => panic!("{source}: got {got:?}, want {want:?}"),
            }
        }
        let literals = vec!["a=1".to_string(), "b=x=y".to_string()];
        let data = collect_data(&literals, &[], DataKind::Secret, "s").unwrap();
        assert_eq!(data["b"], b"x=y");
        let errors = [
            (vec!["a".to_string()], "error: invalid literal source a, expected key=value"),
            (
                vec!["a=1".to_string(), "a=2".to_string()],
                "error: cannot add key a, another key by that name already exists",
            ),
            (
                vec!["bad key=1".to_string()],
                "error: \"bad key\" is not valid key name for a Secret a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
            ),
        ];
        for (literals, want) in errors {
            let error = collect_data(&literals, &[], DataKind::Secret, "s").unwrap_err();
            assert_eq!(error.to_string(), want);
        }
        let error = collect_data(
            &["a=1".to_string(), "a=2".to_string()],
            &[],
            DataKind::ConfigMap,
            "dup",
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "error: cannot add key \"a\", another key by that name already exists in Data for ConfigMap \"dup\""
        );
        let error = collect_data(
            &[],
            &["/nonexistent-file".to_string()],
            DataKind::Secret,
            "s",
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "error: error reading /nonexistent-file: no such file or directory"
        );
    }

    #[test]
    fn secrets_and_configmaps_encode_their_data() {
        let mut data = BTreeMap::new();
        data.insert("a".to_string(), b"1".to_vec());
        data.insert("bin".to_string(), vec![0xff, 0x00]);
        assert_eq!(
            secret_object("s", &data, Some("Opaque")),
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"creationTimestamp": null, "name": "s"},
                   "data": {"a": "MQ==", "bin": "/wA="}, "type": "Opaque"})
        );
        assert_eq!(
            configmap_object("c", &data),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"creationTimestamp": null, "name": "c"},
                   "data": {"a": "1"}, "binaryData": {"bin": "/wA="}})
        );
        assert_eq!(
            secret_object("e", &BTreeMap::new(), None),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"creationTimestamp": null, "name": "e"}})
        );
    }
}
