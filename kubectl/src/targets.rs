//! Which objects a writing verb acts on: `TYPE NAME...`, `TYPE/NAME...`, `TYPE1,TYPE2 NAME`,
//! `TYPE -l selector`, `TYPE --all`, or `-f` manifests, with upstream's rules and messages
//! (its resource builder), and the namespace each object lives in.

use crate::error::CliError;
use crate::manifest::{self, Object};
use crate::remote::Endpoint;
use crate::resources::{split_type_name, Catalog, ResourceType};
use crate::session::Session;
use serde_json::Value;

/// One object to act on.
#[derive(Debug, Clone)]
pub struct Target {
    pub rtype: ResourceType,
    /// The namespace it lives in (the session's for cluster-scoped types, unused there).
    pub namespace: String,
    pub name: String,
    /// The manifest it was read from (`-f`), else empty.
    pub source: String,
    /// The object as the manifest wrote it (`-f`), namespace filled in.
    pub object: Option<Object>,
}

impl Target {
    pub fn endpoint<'a>(&'a self, session: &'a Session) -> Endpoint<'a> {
        Endpoint::new(&session.client, &self.rtype, &self.namespace)
    }

    /// `deployment.apps/web`, as the verbs print it.
    pub fn display(&self) -> String {
        format!("{}/{}", self.rtype.qualified_kind(), self.name)
    }
}

/// How the user named the objects.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub args: Vec<String>,
    pub filenames: Vec<String>,
    pub recursive: bool,
    pub selector: Option<String>,
    pub all: bool,
}

/// What a selection resolved to: the objects, and per-source errors met on the way (broken
/// manifests) that the verb reports after doing what it could.
#[derive(Debug, Default)]
pub struct Resolved {
    pub targets: Vec<Target>,
    pub errors: Vec<CliError>,
}

/// Connects and reads the server's discovery documents: what every writing verb starts with.
pub async fn connect(flags: &crate::cli::GlobalFlags) -> Result<(Session, Catalog), CliError> {
    let session = Session::connect(flags).await?;
    let catalog = Catalog::discover(&session.client).await?;
    Ok((session, catalog))
}

/// `--dry-run`: `none` (the default), `client` (nothing is sent) or `server` (sent with
/// `dryRun=All`, nothing is stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DryRun {
    #[default]
    None,
    Client,
    Server,
}

impl DryRun {
    /// The suffix upstream adds to its messages: ` (dry run)`, ` (server dry run)`.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Client => " (dry run)",
            Self::Server => " (server dry run)",
        }
    }

    /// Query parameters for a request that should not be stored.
    pub fn query(self) -> Vec<(&'static str, &'static str)> {
        match self {
            Self::Server => vec![("dryRun", "All")],
            _ => Vec::new(),
        }
    }
}

/// Upstream's message when nothing names a resource.
pub const NO_RESOURCES: &str = "You must provide one or more resources by argument or filename.\nExample resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'";

/// The arguments split into (types, names) as upstream's builder reads them. Pure.
#[derive(Debug, PartialEq, Eq)]
pub enum ArgForm {
    /// `TYPE[,TYPE] [NAME...]`.
    TypesAndNames(String, Vec<String>),
    /// `TYPE/NAME...`.
    Pairs(Vec<(String, String)>),
}

pub fn parse_args(args: &[String]) -> Result<ArgForm, CliError> {
    let Some(first) = args.first() else {
        return Err(CliError::usage(NO_RESOURCES));
    };
    if args.iter().any(|a| a.contains('/')) {
        let mut pairs = Vec::new();
        for arg in args {
            match split_type_name(arg) {
                (kind, Some(name)) if !kind.is_empty() && !name.is_empty() => {
                    pairs.push((kind.to_owned(), name.to_owned()))
                }
                (_, Some(_)) => {
                    return Err(CliError::usage(
                        "arguments in resource/name form must have a single resource and name",
                    ))
                }
                (_, None) => {
                    return Err(CliError::usage(
                        "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'kubectl get resource/<resource_name>' instead of 'kubectl get resource resource/<resource_name>'",
                    ))
                }
            }
        }
        return Ok(ArgForm::Pairs(pairs));
    }
    Ok(ArgForm::TypesAndNames(first.clone(), args[1..].to_vec()))
}

/// The namespace a manifest object goes to: its own, else the session's; with `-n` given, a
/// different one in the manifest is refused as upstream does.
pub fn manifest_namespace(
    session: &Session,
    rtype: &ResourceType,
    object: &mut Object,
) -> Result<String, CliError> {
    if !rtype.namespaced {
        return Ok(session.namespace.clone());
    }
    let written = object
        .get("metadata")
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .filter(|ns| !ns.is_empty())
        .map(str::to_owned);
    let namespace = match written {
        Some(ns) if session.namespace_from_flag && ns != session.namespace => {
            return Err(CliError::usage(format!(
                "the namespace from the provided object \"{ns}\" does not match the namespace \"{}\". You must pass '--namespace={ns}' to perform this operation.",
                session.namespace
            )))
        }
        Some(ns) => ns,
        None => session.namespace.clone(),
    };
    if let Some(Value::Object(metadata)) = object.get_mut("metadata") {
        metadata.insert("namespace".into(), Value::String(namespace.clone()));
    } else {
        let mut metadata = Object::new();
        metadata.insert("namespace".into(), Value::String(namespace.clone()));
        object.insert("metadata".into(), Value::Object(metadata));
    }
    Ok(namespace)
}

/// The served type of a manifest object, with upstream's message for unknown kinds.
pub fn manifest_type<'a>(
    catalog: &'a Catalog,
    object: &Object,
    source: &str,
) -> Result<&'a ResourceType, CliError> {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    catalog.for_kind(api_version, kind).ok_or_else(|| {
            let name = object_name(object);
            let namespace = object
                .get("metadata")
                .and_then(|m| m.get("namespace"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            CliError::usage(format!(
                "resource mapping not found for name: \"{name}\" namespace: \"{namespace}\" from \"{source}\": no matches for kind \"{kind}\" in version \"{api_version}\"\nensure CRDs are installed first"
            ))
        })
}

/// `metadata.name`, or empty.
pub fn object_name(object: &Object) -> String {
    object
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Reads `-f` into targets (type, namespace, name, object).
pub fn from_manifests(
    session: &Session,
    catalog: &Catalog,
    filenames: &[String],
    recursive: bool,
) -> Result<Resolved, CliError> {
    let read = manifest::read(filenames, recursive)?;
    let mut resolved = Resolved {
        errors: read.errors,
        ..Resolved::default()
    };
    let mut targets = Vec::new();
    for manifest::Manifest { source, mut object } in read.objects {
        let rtype = match manifest_type(catalog, &object, &source) {
            Ok(t) => t.clone(),
            Err(e) => {
                resolved.errors.push(e);
                continue;
            }
        };
        let namespace = manifest_namespace(session, &rtype, &mut object)?;
        targets.push(Target {
            name: object_name(&object),
            rtype,
            namespace,
            source,
            object: Some(object),
        });
    }
    // Upstream reports manifest errors after the objects it could use.
    resolved.targets = targets;
    Ok(resolved)
}

/// Resolves a selection against the server: names as given, or the objects a selector or
/// `--all` lists.
pub async fn resolve(
    session: &Session,
    catalog: &Catalog,
    selection: &Selection,
) -> Result<Resolved, CliError> {
    if !selection.filenames.is_empty() {
        if !selection.args.is_empty() {
            return Err(CliError::usage(
                "when paths, URLs, or stdin is provided as input, you may not specify resource arguments as well",
            ));
        }
        return from_manifests(session, catalog, &selection.filenames, selection.recursive);
    }
    let target = |rtype: &ResourceType, name: String| Target {
        rtype: rtype.clone(),
        namespace: session.namespace.clone(),
        name,
        source: String::new(),
        object: None,
    };
    let mut resolved = Resolved::default();
    match parse_args(&selection.args)? {
        ArgForm::Pairs(pairs) => {
            if selection.selector.is_some() || selection.all {
                return Err(CliError::usage(
                    "name cannot be provided when a selector is specified",
                ));
            }
            for (kind, name) in pairs {
                resolved.targets.push(target(catalog.resolve(&kind)?, name));
            }
        }
        ArgForm::TypesAndNames(kinds, names) => {
            let types = catalog.expand(&kinds)?;
            if !names.is_empty() {
                if selection.selector.is_some() {
                    return Err(CliError::usage(
                        "name cannot be provided when a selector is specified",
                    ));
                }
                for rtype in &types {
                    for name in &names {
                        resolved.targets.push(target(rtype, name.clone()));
                    }
                }
            } else if selection.selector.is_some() || selection.all {
                for rtype in types {
                    let endpoint = Endpoint::new(&session.client, rtype, &session.namespace);
                    for item in endpoint.list(selection.selector.as_deref()).await? {
                        let name = item
                            .pointer("/metadata/name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned();
                        resolved.targets.push(target(rtype, name));
                    }
                }
            } else {
                return Err(CliError::usage(
                    "resource(s) were provided, but no name was specified",
                ));
            }
        }
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments_read_like_upstream() {
        assert_eq!(
            parse_args(&strings(&["deploy", "a", "b"])).unwrap(),
            ArgForm::TypesAndNames("deploy".into(), strings(&["a", "b"]))
        );
        assert_eq!(
            parse_args(&strings(&["deploy/a", "svc/b"])).unwrap(),
            ArgForm::Pairs(vec![
                ("deploy".into(), "a".into()),
                ("svc".into(), "b".into())
            ])
        );
        assert!(parse_args(&strings(&["deploy", "svc/b"]))
            .unwrap_err()
            .to_string()
            .contains("no need to specify a resource type as a separate argument"));
        assert!(parse_args(&[])
            .unwrap_err()
            .to_string()
            .starts_with("error: You must provide one or more resources"));
        assert!(parse_args(&strings(&["deploy/"])).is_err());
    }
}
