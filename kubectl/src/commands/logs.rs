//! `kubectl logs`: streams `pods/{name}/log` (which the apiserver proxies to the pod's
//! kubelet) to stdout, with upstream's flags (`-f`, `--tail`, `-c`, `-p`, `--timestamps`) and
//! its choice of pod for `deploy/name`, `rs/name` or `svc/name`.

use crate::cli::GlobalFlags;
use crate::commands::get::{
    get_json, list_items, percent_encode, resource_path, with_query, Selectors,
};
use crate::error::CliError;
use crate::resources::{split_type_name, Catalog};
use crate::session::Session;
use futures::AsyncReadExt;
use serde_json::Value;
use std::io::Write;

/// Arguments of `kubectl logs`.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// POD, or TYPE/NAME (deploy/web picks one of its pods).
    pub target: String,
    /// Specify if the logs should be streamed.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Lines of recent log file to display (-1 shows all).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub tail: i64,
    /// Print the logs of this container.
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Print the logs of the previous instance of the container.
    #[arg(short = 'p', long)]
    pub previous: bool,
    /// Include timestamps on each line.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub timestamps: Option<bool>,
}

/// The log URL for one container, with the query upstream sends.
pub fn log_path(namespace: &str, pod: &str, container: &str, args: &LogsArgs) -> String {
    let tail = if args.tail >= 0 {
        args.tail.to_string()
    } else {
        String::new()
    };
    with_query(
        &format!(
            "/api/v1/namespaces/{}/pods/{}/log",
            percent_encode(namespace),
            percent_encode(pod)
        ),
        &[
            ("container", container),
            ("follow", if args.follow { "true" } else { "" }),
            ("previous", if args.previous { "true" } else { "" }),
            ("tailLines", tail.as_str()),
            (
                "timestamps",
                if args.timestamps.unwrap_or(false) {
                    "true"
                } else {
                    ""
                },
            ),
        ],
    )
}

/// The pod upstream's `logs` reads for a controller: assigned, running and ready pods first,
/// then by name.
pub fn pick_pod(pods: &[Value]) -> Option<&Value> {
    let rank = |pod: &Value| {
        let assigned = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        let running = pod.pointer("/status/phase").and_then(Value::as_str) == Some("Running");
        let ready = pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
        (!assigned, !running, !ready)
    };
    pods.iter().min_by(|a, b| {
        rank(a).cmp(&rank(b)).then_with(|| {
            a.pointer("/metadata/name")
                .and_then(Value::as_str)
                .cmp(&b.pointer("/metadata/name").and_then(Value::as_str))
        })
    })
}

/// `matchLabels` of a controller (or a Service's plain selector) as a label selector string.
pub(crate) fn selector_of(object: &Value) -> Option<String> {
    let map = object
        .pointer("/spec/selector/matchLabels")
        .or_else(|| object.pointer("/spec/selector"))
        .and_then(Value::as_object)?;
    let mut pairs: Vec<String> = map
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
        .collect();
    pairs.sort();
    (!pairs.is_empty()).then(|| pairs.join(","))
}

/// Names of the containers in one of a pod's lists.
fn names_in<'a>(pod: &'a Value, list: &str) -> Vec<&'a str> {
    pod.pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// The container to read, as upstream's `logsForObject` picks it: the requested one, else the
/// `kubectl.kubernetes.io/default-container` annotation's when the pod has it, else the first
/// (with a note on stderr when there was a choice); a name the pod does not have is an error.
pub fn choose_container(pod: &Value, requested: Option<&str>) -> Result<String, CliError> {
    let pod_name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let containers = names_in(pod, "containers");
    let init = names_in(pod, "initContainers");
    let ephemeral = names_in(pod, "ephemeralContainers");
    let exists = |name: &str| {
        containers.contains(&name) || init.contains(&name) || ephemeral.contains(&name)
    };
    let mut chosen = requested.filter(|c| !c.is_empty()).map(str::to_owned);
    if chosen.is_none() {
        let annotated = pod
            .pointer("/metadata/annotations/kubectl.kubernetes.io~1default-container")
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty());
        match annotated {
            Some(name) if exists(name) => chosen = Some(name.to_owned()),
            Some(name) => {
                eprintln!("Default container name \"{name}\" not found in pod {pod_name}")
            }
            None => {}
        }
    }
    let container = match chosen {
        Some(container) => container,
        None => {
            let first = containers.first().copied().unwrap_or_default().to_owned();
            if containers.len() > 1 || !init.is_empty() || !ephemeral.is_empty() {
                let mut all: Vec<String> = containers.iter().map(|c| c.to_string()).collect();
                all.extend(init.iter().map(|c| format!("{c} (init)")));
                all.extend(ephemeral.iter().map(|c| format!("{c} (ephem)")));
                eprintln!("Defaulted container \"{first}\" out of: {}", all.join(", "));
            }
            first
        }
    };
    if !exists(&container) {
        return Err(CliError::usage(format!(
            "container {container} is not valid for pod {pod_name}"
        )));
    }
    Ok(container)
}

pub async fn run(flags: &GlobalFlags, args: LogsArgs) -> Result<(), CliError> {
    let session = Session::connect(flags).await?;
    let namespace = session.namespace.clone();
    let (typed, name) = match split_type_name(&args.target) {
        (kind, Some(name)) => (kind.to_owned(), name.to_owned()),
        (name, None) => ("pods".to_owned(), name.to_owned()),
    };
    let catalog = Catalog::discover(&session.client).await?;
    let resource = catalog.resolve(&typed)?.clone();
    let object = get_json(
        &session.client,
        &resource_path(&resource, Some(&namespace), Some(&name)),
        "application/json",
    )
    .await
    .map_err(|e| {
        // Upstream reads the object through its resource builder, which words a miss so.
        if e.is_not_found() {
            CliError::usage(format!(
                "error from server (NotFound): {} \"{name}\" not found in namespace \"{namespace}\"",
                resource.qualified_plural()
            ))
        } else {
            e
        }
    })?;
    let pod = if resource.kind == "Pod" {
        object
    } else {
        let selector = selector_of(&object).ok_or_else(|| {
            CliError::usage(format!(
                "cannot get the logs from {}: selector for {} not implemented",
                resource.qualified_kind(),
                resource.qualified_kind()
            ))
        })?;
        let pods_type = catalog.resolve("pods")?;
        let selectors = Selectors {
            labels: selector,
            fields: String::new(),
        };
        let pods = list_items(
            &session.client,
            &resource_path(pods_type, Some(&namespace), None),
            &selectors,
        )
        .await?;
        let pod = pick_pod(&pods)
            .cloned()
            .ok_or_else(|| CliError::usage("timed out waiting for the condition"))?;
        if pods.len() > 1 {
            eprintln!(
                "Found {} pods, using pod/{}",
                pods.len(),
                pod.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            );
        }
        pod
    };
    let pod_name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let container = choose_container(&pod, args.container.as_deref())?;
    let url = log_path(&namespace, &pod_name, &container, &args);
    let request = http::Request::get(url.as_str())
        .body(Vec::new())
        .map_err(|e| CliError::usage(e.to_string()))?;
    let mut body = session.client.request_stream(request).await?;
    let mut buffer = vec![0u8; 16 * 1024];
    let mut stdout = std::io::stdout();
    loop {
        let read = body
            .read(&mut buffer)
            .await
            .map_err(|e| CliError::Unreachable(e.to_string()))?;
        if read == 0 {
            break;
        }
        if stdout
            .write_all(&buffer[..read])
            .and_then(|()| stdout.flush())
            .is_err()
        {
            // The reader went away (`| head`): stop quietly, as upstream does.
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args() -> LogsArgs {
        LogsArgs {
            target: "p".into(),
            follow: false,
            tail: -1,
            container: None,
            previous: false,
            timestamps: None,
        }
    }

    #[test]
    fn log_urls_carry_upstream_parameters() {
        assert_eq!(
            log_path("default", "web-1", "c", &args()),
            "/api/v1/namespaces/default/pods/web-1/log?container=c"
        );
        let mut all = args();
        all.follow = true;
        all.tail = 5;
        all.previous = true;
        all.timestamps = Some(true);
        assert_eq!(
            log_path("ns", "p", "c", &all),
            "/api/v1/namespaces/ns/pods/p/log?container=c&follow=true&previous=true&tailLines=5&timestamps=true"
        );
    }

    #[test]
    fn containers_are_chosen_like_upstream() {
        let pod = json!({"metadata": {"name": "p", "annotations": {"kubectl.kubernetes.io/default-container": "b"}},
                         "spec": {"containers": [{"name": "a"}, {"name": "b"}], "initContainers": [{"name": "i"}]}});
        let plain = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let stale = json!({"metadata": {"name": "p", "annotations": {"kubectl.kubernetes.io/default-container": "gone"}},
                           "spec": {"containers": [{"name": "a"}]}});
        let cases: &[(&Value, Option<&str>, Result<&str, &str>)] = &[
            (&pod, None, Ok("b")),
            (&pod, Some("a"), Ok("a")),
            (&pod, Some("i"), Ok("i")),
            (&plain, None, Ok("a")),
            (&plain, Some(""), Ok("a")),
            (&stale, None, Ok("a")),
            (
                &pod,
                Some("nope"),
                Err("error: container nope is not valid for pod p"),
            ),
        ];
        for (pod, requested, want) in cases {
            let got = choose_container(pod, *requested).map_err(|e| e.to_string());
            assert_eq!(
                got,
                want.map(String::from).map_err(String::from),
                "{requested:?}"
            );
        }
    }

    #[test]
    fn running_ready_pods_are_picked_first() {
        let pods = vec![
            json!({"metadata": {"name": "a"}, "spec": {}, "status": {"phase": "Pending"}}),
            json!({"metadata": {"name": "c"}, "spec": {"nodeName": "n"}, "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}),
            json!({"metadata": {"name": "b"}, "spec": {"nodeName": "n"}, "status": {"phase": "Running"}}),
        ];
        assert_eq!(pick_pod(&pods).unwrap()["metadata"]["name"], "c");
        assert!(pick_pod(&[]).is_none());
        assert_eq!(
            selector_of(&json!({"spec": {"selector": {"matchLabels": {"b": "2", "a": "1"}}}}))
                .as_deref(),
            Some("a=1,b=2")
        );
    }
}
