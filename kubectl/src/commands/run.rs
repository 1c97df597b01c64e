//! `kubectl run NAME --image=IMAGE [--restart=...] [-i] [-t] [--rm] [--attach] [--command]
//! [-- ARGS...]`: creates a pod as upstream's `run-pod/v1` generator does (one container named
//! after the pod, label `run=NAME`, `stdinOnce` with `-i` unless `--leave-stdin-open`), and
//! prints `pod/NAME created`; or, with `-i` or `--attach`, waits for it to run and attaches as
//! `kubectl attach` does (the logs instead when it already ended), then with `--restart=Never`
//! or `OnFailure` waits for it to finish and exits with its container's code; `--rm` deletes
//! it at the end.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, LogParams, PostParams};
use serde_json::{json, Map, Value};

use crate::cli::GlobalFlags;
use crate::commands::attach::{self, AttachTo};
use crate::commands::exec;
use crate::error::CliError;
use crate::session::Session;

/// Arguments of `kubectl run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The image for the container to run.
    #[arg(long)]
    pub image: Option<String>,
    /// The restart policy for this Pod. Legal values [Always, OnFailure, Never].
    #[arg(long)]
    pub restart: Option<String>,
    /// Keep stdin open on the container in the pod, even if nothing is attached.
    #[arg(short = 'i', long)]
    pub stdin: bool,
    /// Allocate a TTY for the container in the pod.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// If true, delete the pod after it exits. Only valid when attaching to the container,
    /// e.g. with '--attach' or with '-i/--stdin'.
    #[arg(long)]
    pub rm: bool,
    /// If true, wait for the Pod to start running, and then attach to the Pod as if 'kubectl
    /// attach ...' were called. Default false, unless '-i/--stdin' is set, in which case the
    /// default is true. With '--restart=Never' the exit code of the container process is
    /// returned.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub attach: Option<bool>,
    /// If true and extra arguments are present, use them as the 'command' field in the
    /// container, rather than the 'args' field which is the default.
    #[arg(long = "command")]
    pub use_command: bool,
    /// Environment variables to set in the container.
    #[arg(long)]
    pub env: Vec<String>,
    /// Comma separated labels to apply to the pod. Will override previous values.
    #[arg(short = 'l', long)]
    pub labels: Option<String>,
    /// The port that this container exposes.
    #[arg(long)]
    pub port: Option<String>,
    /// The image pull policy for the container. If left empty, this value will not be
    /// specified by the client and defaulted by the server.
    #[arg(long)]
    pub image_pull_policy: Option<String>,
    /// If the pod is started in interactive mode or with stdin, leave stdin open after the
    /// first attach completes. By default, stdin will be closed after the first attach
    /// completes.
    #[arg(long)]
    pub leave_stdin_open: bool,
    /// If true, suppress prompt messages.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// The length of time (like 5s, 2m, or 3h, higher than zero) to wait until at least one
    /// pod is running.
    #[arg(long, default_value = "1m0s")]
    pub pod_running_timeout: String,
    /// NAME, then (without `--`) the container's arguments.
    #[arg(value_name = "NAME")]
    pub name_and_args: Vec<String>,
    /// The container's arguments (or command, with --command), after `--`.
    #[arg(last = true, value_name = "ARGS")]
    pub after_dash: Vec<String>,
}

/// What `kubectl run -i/--attach` waits for once attached (upstream's exit conditions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitWait {
    /// `--restart=Never`: Succeeded or Failed.
    Completed,
    /// `--restart=OnFailure` (the default with `-i`): Succeeded.
    Succeeded,
}

/// What an invocation does: the pod to create and what follows.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPlan {
    pub name: String,
    pub pod: Value,
    pub attach: bool,
    pub remove: bool,
    pub exit_wait: Option<ExitWait>,
}

/// Checks the flags as upstream does (in its order and words) and generates the pod.
pub fn plan(args: &RunArgs) -> Result<RunPlan, CliError> {
    let image = args
        .image
        .as_deref()
        .ok_or_else(|| CliError::usage("required flag(s) \"image\" not set"))?;
    let Some((name, rest)) = args.name_and_args.split_first() else {
        return Err(CliError::usage("NAME is required for run"));
    };
    if image.is_empty() {
        return Err(CliError::usage("--image is required"));
    }
    if image.chars().any(char::is_whitespace) {
        return Err(CliError::usage(format!(
            "Invalid image name {image:?}: invalid reference format"
        )));
    }
    if args.tty && !args.stdin {
        return Err(CliError::usage(
            "-i/--stdin is required for containers with -t/--tty=true",
        ));
    }
    let restart = args.restart.as_deref().unwrap_or("");
    let waited_policy = match restart {
        "" if args.stdin => "OnFailure",
        "" => "Always",
        "Always" | "OnFailure" | "Never" => restart,
        other => return Err(CliError::usage(format!("invalid restart policy: {other}"))),
    };
    let attach = args.attach.unwrap_or(args.stdin);
    if !attach && args.rm {
        return Err(CliError::usage(
            "--rm should only be used for attached containers",
        ));
    }
    let pull_policy = args.image_pull_policy.as_deref().unwrap_or("");
    if !matches!(pull_policy, "" | "Always" | "IfNotPresent" | "Never") {
        return Err(CliError::usage(format!(
            "invalid image pull policy: {pull_policy}"
        )));
    }

    let mut container = Map::new();
    container.insert("name".into(), json!(name));
    container.insert("image".into(), json!(image));
    let container_args: Vec<&String> = rest.iter().chain(&args.after_dash).collect();
    if !container_args.is_empty() {
        let field = if args.use_command { "command" } else { "args" };
        container.insert(field.into(), json!(container_args));
    }
    let env = args
        .env
        .iter()
        .map(|e| parse_env(e))
        .collect::<Result<Vec<_>, _>>()?;
    if !env.is_empty() {
        container.insert("env".into(), json!(env));
    }
    if !pull_policy.is_empty() {
        container.insert("imagePullPolicy".into(), json!(pull_policy));
    }
    if let Some(port) = args.port.as_deref().filter(|p| !p.is_empty()) {
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| CliError::usage(format!("invalid port: {port:?}")))?;
        container.insert("ports".into(), json!([{"containerPort": port}]));
    }
    container.insert("resources".into(), json!({}));
    for (field, on) in [
        ("stdin", args.stdin),
        ("stdinOnce", args.stdin && !args.leave_stdin_open),
        ("tty", args.tty),
    ] {
        if on {
            container.insert(field.into(), json!(true));
        }
    }
    let labels = match args.labels.as_deref().filter(|l| !l.is_empty()) {
        Some(spec) => parse_labels(spec)?,
        None => Map::from_iter([("run".to_string(), json!(name))]),
    };
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "containers": [container],
            "dnsPolicy": "ClusterFirst",
            // The generator's default; the exit-code wait above follows `-i` instead.
            "restartPolicy": if restart.is_empty() { "Always" } else { restart },
        },
    });
    let exit_wait = match waited_policy {
        _ if args.leave_stdin_open => None,
        "Never" => Some(ExitWait::Completed),
        "OnFailure" => Some(ExitWait::Succeeded),
        _ => None,
    };
    Ok(RunPlan {
        name: name.clone(),
        pod,
        attach,
        remove: args.rm,
        exit_wait,
    })
}

/// `NAME=value` (upstream's `parseEnvs`).
fn parse_env(text: &str) -> Result<Value, CliError> {
    let invalid = || CliError::usage(format!("invalid env: {text}"));
    let (name, value) = text.split_once('=').ok_or_else(invalid)?;
    let valid_name = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid_name {
        return Err(invalid());
    }
    Ok(json!({"name": name, "value": value}))
}

/// `a=b,c=d` (upstream's `ParseLabels`).
fn parse_labels(spec: &str) -> Result<Map<String, Value>, CliError> {
    let mut labels = Map::new();
    for pair in spec.split(',') {
        match pair.split_once('=') {
            Some((key, value)) if !key.is_empty() => {
                labels.insert(key.to_string(), json!(value));
            }
            _ => return Err(CliError::usage(format!("invalid label spec: {pair}"))),
        }
    }
    Ok(labels)
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

fn completed(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

fn running_and_ready(pod: &Pod) -> bool {
    phase(pod) == "Running"
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// Watches pod `name` until `done` holds (at most `timeout`); a deleted pod is NotFound.
async fn wait_for(
    pods: &Api<Pod>,
    name: &str,
    timeout: Duration,
    done: fn(&Pod) -> bool,
) -> Result<Pod, CliError> {
    let condition = move |pod: Option<&Pod>| pod.is_none_or(done);
    let found = tokio::time::timeout(
        timeout,
        kube::runtime::wait::await_condition(pods.clone(), name, condition),
    )
    .await
    .map_err(|_| CliError::usage("timed out waiting for the condition"))?
    .map_err(|e| CliError::Unreachable(e.to_string()))?;
    found.ok_or_else(|| CliError::Server {
        reason: "NotFound".into(),
        message: "pods \"\" not found".into(),
        code: 404,
    })
}

/// Prints the whole log of the pod's container (upstream's fallback when it cannot attach).
async fn print_logs(pods: &Api<Pod>, pod: &Pod) -> Result<(), CliError> {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let (container, _) = exec::choose_container(pod, None);
    let params = LogParams {
        container: Some(container),
        ..LogParams::default()
    };
    print!("{}", pods.logs(name, &params).await?);
    Ok(())
}

/// The result of a finished pod, as upstream words it: its container's exit code.
pub fn exit_result(pod: &Pod) -> Result<(), CliError> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    match phase(pod) {
        "Succeeded" => Ok(()),
        "Failed" => {
            let terminated = pod
                .status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .and_then(|cs| cs.first())
                .and_then(|c| c.state.as_ref())
                .and_then(|s| s.terminated.as_ref());
            match terminated.filter(|t| t.exit_code != 0) {
                None => Err(CliError::usage(format!(
                    "pod {namespace}/{name} failed with unknown exit code"
                ))),
                Some(t) => {
                    let text = format!(
                        "pod {namespace}/{name} terminated ({})\n{}",
                        t.reason.as_deref().unwrap_or_default(),
                        t.message.as_deref().unwrap_or_default()
                    );
                    // Upstream's exit error: its text as is (no `error:`), and the container's
                    // code.
                    eprintln!("{}", text.trim_end_matches('\n'));
                    Err(CliError::Exit(t.exit_code.clamp(1, 255) as u8))
                }
            }
        }
        other => Err(CliError::usage(format!(
            "pod {namespace}/{name} left in phase {other}"
        ))),
    }
}

/// Attaches to the created pod once it runs (its logs when it already ended), then waits for
/// its end when the plan says so.
async fn attach_and_wait(
    session: &Session,
    pods: &Api<Pod>,
    plan: &RunPlan,
    args: &RunArgs,
    timeout: Duration,
) -> Result<(), CliError> {
    let pod = wait_for(pods, &plan.name, timeout, |p| {
        running_and_ready(p) || completed(p)
    })
    .await?;
    if completed(&pod) {
        print_logs(pods, &pod).await?;
    } else {
        let how = AttachTo {
            container: None,
            stdin: args.stdin,
            tty: args.tty,
            quiet: args.quiet,
            command_name: "kubectl run attach".to_string(),
        };
        if let Err(error) = attach::attach_to(session, &pod, &how).await {
            let message = error.to_string();
            eprintln!(
                "warning: couldn't attach to pod/{}, falling back to streaming logs: {}",
                plan.name,
                message.trim_start_matches("error: ")
            );
            print_logs(pods, &pod).await?;
        }
    }
    let Some(wait) = plan.exit_wait else {
        return Ok(());
    };
    let finished = match wait {
        ExitWait::Completed => wait_for(pods, &plan.name, timeout, completed).await?,
        ExitWait::Succeeded => {
            wait_for(pods, &plan.name, timeout, |p| phase(p) == "Succeeded").await?
        }
    };
    exit_result(&finished)
}

pub async fn run(flags: &GlobalFlags, args: RunArgs) -> Result<(), CliError> {
    let plan = plan(&args)?;
    let timeout = attach::pod_running_timeout(&args.pod_running_timeout)?;
    let session = Session::connect(flags).await?;
    let pods: Api<Pod> = Api::namespaced(session.client.clone(), &session.namespace);
    let pod: Pod = serde_json::from_value(plan.pod.clone())
        .map_err(|e| CliError::usage(format!("generating the pod: {e}")))?;
    let created = PostParams {
        field_manager: Some("kubectl-run".into()),
        ..PostParams::default()
    };
    pods.create(&created, &pod).await?;
    if !plan.attach {
        println!("pod/{} created", plan.name);
        return Ok(());
    }
    let result = attach_and_wait(&session, &pods, &plan, &args, timeout).await;
    if plan.remove {
        // As upstream, removal runs whatever happened before, and only reports itself.
        match pods.delete(&plan.name, &DeleteParams::default()).await {
            Ok(_) if !args.quiet => println!("pod \"{}\" deleted", plan.name),
            Ok(_) => {}
            Err(error) => {
                let error = CliError::from(error);
                if !error.is_not_found() {
                    eprintln!("{error}");
                }
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Line {
        #[command(flatten)]
        args: RunArgs,
    }

    fn parse(line: &[&str]) -> RunArgs {
        Line::try_parse_from(std::iter::once("run").chain(line.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn pods_are_generated_as_upstream() {
        let plan = plan(&parse(&[
            "-it",
            "--rm",
            "--restart=Never",
            "--image=busybox",
            "box",
            "--",
            "sh",
            "-c",
            "echo hi",
        ]))
        .unwrap();
        assert_eq!(plan.name, "box");
        assert!(plan.attach && plan.remove);
        assert_eq!(plan.exit_wait, Some(ExitWait::Completed));
        assert_eq!(
            plan.pod,
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "box", "labels": {"run": "box"}},
                "spec": {
                    "containers": [{"name": "box", "image": "busybox", "args": ["sh", "-c", "echo hi"],
                                    "resources": {}, "stdin": true, "stdinOnce": true, "tty": true}],
                    "dnsPolicy": "ClusterFirst", "restartPolicy": "Never",
                },
            })
        );

        let plan = plan_of(&[
            "web",
            "--image=nginx",
            "--command",
            "--env=A=1",
            "--port=80",
            "-l",
            "app=web,tier=front",
            "--image-pull-policy=Never",
            "--",
            "nginx",
            "-g",
        ]);
        assert!(!plan.attach);
        assert_eq!(plan.exit_wait, None);
        assert_eq!(
            plan.pod["spec"]["containers"][0],
            json!({"name": "web", "image": "nginx", "command": ["nginx", "-g"], "env": [{"name": "A", "value": "1"}],
                   "imagePullPolicy": "Never", "ports": [{"containerPort": 80}], "resources": {}})
        );
        assert_eq!(
            plan.pod["metadata"]["labels"],
            json!({"app": "web", "tier": "front"})
        );
        assert_eq!(plan.pod["spec"]["restartPolicy"], "Always");

        // -i alone: attach, the pod restarts Always (the generator's default) but the wait is
        // OnFailure's; --leave-stdin-open keeps stdin open and waits for nothing.
        let interactive = plan_of(&["-i", "--image=busybox", "sh"]);
        assert!(interactive.attach);
        assert_eq!(interactive.exit_wait, Some(ExitWait::Succeeded));
        assert_eq!(interactive.pod["spec"]["restartPolicy"], "Always");
        let open = plan_of(&["-i", "--leave-stdin-open", "--image=busybox", "sh"]);
        assert_eq!(open.exit_wait, None);
        assert_eq!(open.pod["spec"]["containers"][0].get("stdinOnce"), None);
        let detached = plan_of(&["-i", "--attach=false", "--image=busybox", "sh"]);
        assert!(!detached.attach);
    }

    fn plan_of(line: &[&str]) -> RunPlan {
        plan(&parse(line)).unwrap()
    }

    #[test]
    fn bad_invocations_read_like_upstream() {
        let cases: &[(&[&str], &str)] = &[
            (&["box"], "required flag(s) \"image\" not set"),
            (&["--image=busybox"], "NAME is required for run"),
            (&["--image=busybox", "--", "sh"], "NAME is required for run"),
            (
                &["-t", "--image=busybox", "box"],
                "-i/--stdin is required for containers with -t/--tty=true",
            ),
            (
                &["--restart=Sometimes", "--image=busybox", "box"],
                "invalid restart policy: Sometimes",
            ),
            (
                &["--rm", "--image=busybox", "box"],
                "--rm should only be used for attached containers",
            ),
            (
                &["--image-pull-policy=Maybe", "--image=busybox", "box"],
                "invalid image pull policy: Maybe",
            ),
            (
                &["--env=1A=b", "--image=busybox", "box"],
                "invalid env: 1A=b",
            ),
            (&["--env=A", "--image=busybox", "box"], "invalid env: A"),
            (
                &["-l", "app", "--image=busybox", "box"],
                "invalid label spec: app",
            ),
        ];
        for (line, want) in cases {
            let got = plan(&parse(line)).unwrap_err().to_string();
            assert_eq!(got, format!("error: {want}"), "{line:?}");
        }
    }

    #[test]
    fn finished_pods_give_their_exit_code() {
        let pod = |phase: &str, terminated: Option<Value>| -> Pod {
            let mut status = json!({"phase": phase});
            if let Some(t) = terminated {
                status["containerStatuses"] = json!([{"name": "box", "image": "busybox", "imageID": "",
                    "ready": false, "restartCount": 0, "state": {"terminated": t}}]);
            }
            serde_json::from_value(
                json!({"metadata": {"name": "box", "namespace": "default"}, "status": status}),
            )
            .unwrap()
        };
        assert!(exit_result(&pod("Succeeded", None)).is_ok());
        let failed = exit_result(&pod(
            "Failed",
            Some(json!({"exitCode": 3, "reason": "Error"})),
        ))
        .unwrap_err();
        assert_eq!(failed.exit_code(), 3);
        assert_eq!(
            exit_result(&pod("Failed", None)).unwrap_err().to_string(),
            "error: pod default/box failed with unknown exit code"
        );
        assert_eq!(
            exit_result(&pod("Running", None)).unwrap_err().to_string(),
            "error: pod default/box left in phase Running"
        );
    }
}
