//! `kubectl expose deployment NAME --port --target-port --type --name --protocol`: a Service
//! selecting the deployment's pods (its `spec.selector.matchLabels`), labelled like the
//! deployment, with the ports given or, without `--port`, the template's container ports, as
//! upstream's service generator builds it.

use super::apply::{print_outcome, Outcome};
use crate::cli::GlobalFlags;
use crate::error::CliError;
use crate::printers::OutputFormat;
use crate::resources::split_type_name;
use crate::targets::{self, DryRun, Target};
use serde_json::{json, Map, Value};

/// Arguments of `kubectl expose`.
#[derive(Debug, clap::Args)]
pub struct ExposeArgs {
    /// `TYPE NAME` or `TYPE/NAME` of what to expose.
    pub args: Vec<String>,
    /// The port that the service should serve on.
    #[arg(long)]
    pub port: Option<String>,
    /// Name or number of the port on the container the service directs traffic to.
    #[arg(long)]
    pub target_port: Option<String>,
    /// Type for this service: ClusterIP, NodePort, LoadBalancer, or ExternalName.
    #[arg(long = "type")]
    pub service_type: Option<String>,
    /// The name of the new service (default: the exposed object's name).
    #[arg(long)]
    pub name: Option<String>,
    /// The network protocol of the service: TCP (default), UDP or SCTP.
    #[arg(long)]
    pub protocol: Option<String>,
    /// A label selector for the service (default: the exposed object's selector).
    #[arg(long)]
    pub selector: Option<String>,
    /// Labels of the service (default: the exposed object's labels).
    #[arg(short = 'l', long)]
    pub labels: Option<String>,
    /// Output format: one of yaml, json, name.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Must be "none", "server", or "client".
    #[arg(long, value_enum, default_value = "none", num_args = 0..=1, require_equals = true, default_missing_value = "client")]
    pub dry_run: DryRun,
}

/// `a=b,c=d` into a map.
fn parse_map(text: &str, what: &str) -> Result<Map<String, Value>, CliError> {
    let mut out = Map::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| {
            CliError::usage(format!("invalid {what} {part:?}: expected key=value"))
        })?;
        out.insert(k.to_owned(), Value::String(v.to_owned()));
    }
    Ok(out)
}

/// An int-or-string port value as upstream's `intstr.Parse` reads it.
fn int_or_string(text: &str) -> Value {
    match text.parse::<i64>() {
        Ok(n) => json!(n),
        Err(_) => Value::String(text.to_owned()),
    }
}

/// The Service exposing `object` (a deployment or anything with a pod template), as upstream
/// builds it. Pure.
pub fn service_for(object: &Value, args: &ExposeArgs) -> Result<Value, CliError> {
    let source_name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let selector = match &args.selector {
        Some(s) => parse_map(s, "selector")?,
        None => {
            let spec_selector = object.pointer("/spec/selector");
            let match_labels = spec_selector
                .and_then(|s| s.get("matchLabels"))
                .or(spec_selector)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let has_expressions = spec_selector
                .and_then(|s| s.get("matchExpressions"))
                .and_then(Value::as_array)
                .is_some_and(|e| !e.is_empty());
            if has_expressions {
                return Err(CliError::usage(format!(
                    "couldn't retrieve selectors via --selector flag or introspection: the selector of {source_name} uses matchExpressions, which a Service cannot express"
                )));
            }
            if match_labels.is_empty() {
                return Err(CliError::usage(
                    "couldn't retrieve selectors via --selector flag or introspection: no selectors, therefore cannot be exposed",
                ));
            }
            match_labels
        }
    };
    let labels = match &args.labels {
        Some(l) => parse_map(l, "label")?,
        None => object
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
    };
    let protocol = args.protocol.clone();
    let ports: Vec<Value> = match &args.port {
        Some(port) => {
            let port: i64 = port
                .parse()
                .map_err(|_| CliError::usage(format!("invalid --port {port:?}: not a number")))?;
            let mut entry = Map::new();
            entry.insert("port".into(), json!(port));
            entry.insert(
                "protocol".into(),
                Value::String(protocol.clone().unwrap_or_else(|| "TCP".into())),
            );
            entry.insert(
                "targetPort".into(),
                args.target_port
                    .as_deref()
                    .map(int_or_string)
                    .unwrap_or_else(|| json!(port)),
            );
            vec![Value::Object(entry)]
        }
        None => {
            let container_ports: Vec<(i64, String)> = object
                .pointer("/spec/template/spec/containers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .flat_map(|c| {
                    c.get("ports")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default()
                })
                .filter_map(|p| {
                    let number = p.get("containerPort")?.as_i64()?;
                    let proto = p
                        .get("protocol")
                        .and_then(Value::as_str)
                        .unwrap_or("TCP")
                        .to_owned();
                    Some((number, proto))
                })
                .collect();
            if container_ports.is_empty() {
                return Err(CliError::usage(
                    "couldn't find port via --port flag or introspection",
                ));
            }
            let many = container_ports.len() > 1;
            container_ports
                .iter()
                .enumerate()
                .map(|(i, (number, proto))| {
                    let mut entry = Map::new();
                    if many {
                        entry.insert("name".into(), Value::String(format!("port-{}", i + 1)));
                    }
                    entry.insert("port".into(), json!(number));
                    entry.insert(
                        "protocol".into(),
                        Value::String(protocol.clone().unwrap_or_else(|| proto.clone())),
                    );
                    entry.insert(
                        "targetPort".into(),
                        args.target_port
                            .as_deref()
                            .map(int_or_string)
                            .unwrap_or_else(|| json!(number)),
                    );
                    Value::Object(entry)
                })
                .collect()
        }
    };
    let name = args.name.clone().unwrap_or_else(|| source_name.to_owned());
    let mut metadata = Map::new();
    metadata.insert("creationTimestamp".into(), Value::Null);
    if !labels.is_empty() {
        metadata.insert("labels".into(), Value::Object(labels));
    }
    metadata.insert("name".into(), Value::String(name));
    let mut spec = Map::new();
    spec.insert("ports".into(), Value::Array(ports));
    spec.insert("selector".into(), Value::Object(selector));
    if let Some(t) = &args.service_type {
        spec.insert("type".into(), Value::String(t.clone()));
    }
    Ok(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": metadata,
        "spec": spec,
        "status": {"loadBalancer": {}},
    }))
}

pub async fn run(flags: &GlobalFlags, args: ExposeArgs) -> Result<(), CliError> {
    let format = args
        .output
        .as_deref()
        .map(|o| OutputFormat::parse(Some(o)))
        .transpose()?;
    let (kind, name) = match args.args.as_slice() {
        [one] => match split_type_name(one) {
            (kind, Some(name)) => (kind.to_owned(), name.to_owned()),
            (_, None) => {
                return Err(CliError::usage(
                    "You must provide one or more resources by argument or filename.",
                ))
            }
        },
        [kind, name] => (kind.clone(), name.clone()),
        _ => {
            return Err(CliError::usage(
                "You must provide one or more resources by argument or filename.",
            ))
        }
    };
    let (session, catalog) = targets::connect(flags).await?;
    let source = Target {
        rtype: catalog.resolve(&kind)?.clone(),
        namespace: session.namespace.clone(),
        name,
        source: String::new(),
        object: None,
    };
    let object = source.endpoint(&session).get(&source.name).await?;
    let service = service_for(&object, &args)?;
    let services = catalog.resolve("services")?.clone();
    let target = Target {
        name: service
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        rtype: services,
        namespace: session.namespace.clone(),
        source: String::new(),
        object: None,
    };
    let created = if args.dry_run == DryRun::Client {
        service
    } else {
        let mut query = vec![("fieldManager", "kubectl-expose")];
        query.extend(args.dry_run.query());
        target.endpoint(&session).create(&service, &query).await?
    };
    match format {
        None => {
            println!("{} exposed{}", target.display(), args.dry_run.suffix());
            Ok(())
        }
        Some(format) => print_outcome(
            Some(&format),
            &target,
            Outcome::Created,
            args.dry_run,
            &created,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: ExposeArgs,
    }

    fn args(line: &[&str]) -> ExposeArgs {
        let mut all = vec!["expose"];
        all.extend_from_slice(line);
        Wrapper::try_parse_from(all).unwrap().args
    }

    fn deployment(ports: Value) -> Value {
        json!({"kind": "Deployment", "metadata": {"name": "w1", "labels": {"app": "w1"}},
               "spec": {"selector": {"matchLabels": {"app": "w1"}},
                        "template": {"spec": {"containers": [{"name": "main", "ports": ports}]}}}})
    }

    #[test]
    fn services_are_built_like_upstream() {
        let service = service_for(
            &deployment(json!([])),
            &args(&[
                "deploy",
                "w1",
                "--port=80",
                "--protocol=UDP",
                "--target-port=http",
                "--name=w1b",
            ]),
        )
        .unwrap();
        assert_eq!(
            service,
            json!({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"creationTimestamp": null, "labels": {"app": "w1"}, "name": "w1b"},
                   "spec": {"ports": [{"port": 80, "protocol": "UDP", "targetPort": "http"}],
                            "selector": {"app": "w1"}},
                   "status": {"loadBalancer": {}}})
        );
        let service = service_for(
            &deployment(json!([{"containerPort": 8080}, {"containerPort": 53, "protocol": "UDP"}])),
            &args(&["deploy", "w1", "--type=NodePort"]),
        )
        .unwrap();
        assert_eq!(
            service["spec"],
            json!({"ports": [
                {"name": "port-1", "port": 8080, "protocol": "TCP", "targetPort": 8080},
                {"name": "port-2", "port": 53, "protocol": "UDP", "targetPort": 53}],
                "selector": {"app": "w1"}, "type": "NodePort"})
        );
        assert_eq!(
            service_for(&deployment(json!([])), &args(&["deploy", "w1"]))
                .unwrap_err()
                .to_string(),
            "error: couldn't find port via --port flag or introspection"
        );
    }
}
