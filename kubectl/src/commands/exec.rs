//! `kubectl exec [-i] [-t] POD|TYPE/NAME [-c CONTAINER] -- COMMAND [ARGS...]`: runs a command
//! in a container through the apiserver's `pods/exec` (kube-rs `Api::<Pod>::exec`, a WebSocket
//! speaking `v5.channel.k8s.io`), as upstream kubectl does: local stdin is passed with `-i`,
//! `-t` puts the local terminal in raw mode (restored on the way out) and follows its size on
//! SIGWINCH, and the remote command's exit code becomes ours.
//!
//! Without `-c`, the container is the pod's `kubectl.kubernetes.io/default-container`, else
//! its first; with several containers, `Defaulted container "x" out of: x, y` says so on
//! stderr (unless `-q`).

use std::io::{IsTerminal, Read, Write};

use futures::SinkExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::{Api, AttachParams, AttachedProcess, DynamicObject, ListParams, TerminalSize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cli::GlobalFlags;
use crate::commands::logs;
use crate::error::CliError;
use crate::resources::{split_type_name, Catalog};
use crate::session::Session;

/// The annotation naming the container `exec`, `logs` and `attach` default to (upstream's).
pub const DEFAULT_CONTAINER_ANNOTATION: &str = "kubectl.kubernetes.io/default-container";

/// The flags `exec` and `attach` share (upstream's `StreamOptions`).
#[derive(Debug, clap::Args)]
pub struct StreamFlags {
    /// Container name. If omitted, use the kubectl.kubernetes.io/default-container annotation
    /// for selecting the container to be attached or the first container in the pod will be
    /// chosen.
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Pass stdin to the container.
    #[arg(short = 'i', long)]
    pub stdin: bool,
    /// Stdin is a TTY.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Only print output from the remote session.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// Arguments of `kubectl exec`.
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub stream: StreamFlags,
    /// POD or TYPE/NAME.
    #[arg(value_name = "POD | TYPE/NAME")]
    pub target: Vec<String>,
    /// The command and its arguments, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// The pod and command an invocation means, with upstream's wording for what is missing.
/// `kubectl exec POD CMD...` (without `--`) still works, with upstream's deprecation note.
pub fn target_and_command(args: &ExecArgs) -> Result<(String, Vec<String>, bool), CliError> {
    let Some(target) = args.target.first() else {
        return Err(CliError::usage(
            "pod, type/name or --filename must be specified",
        ));
    };
    let mut command = args.target[1..].to_vec();
    let deprecated = !command.is_empty();
    command.extend(args.command.iter().cloned());
    if command.is_empty() {
        return Err(CliError::usage(
            "you must specify at least one command for the container",
        ));
    }
    Ok((target.clone(), command, deprecated))
}

/// The container to exec in and, when the choice was not obvious, upstream's note about it.
pub fn choose_container(pod: &Pod, requested: Option<&str>) -> (String, Option<String>) {
    if let Some(name) = requested {
        return (name.to_string(), None);
    }
    let spec = pod.spec.clone().unwrap_or_default();
    let names: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    let annotated = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DEFAULT_CONTAINER_ANNOTATION))
        .filter(|name| names.contains(&name.as_str()));
    if let Some(name) = annotated {
        return (name.clone(), None);
    }
    let first = names.first().copied().unwrap_or_default().to_string();
    if names.len() <= 1 {
        return (first, None);
    }
    let mut all: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    all.extend(
        spec.init_containers
            .iter()
            .flatten()
            .map(|c| format!("{} (init)", c.name)),
    );
    all.extend(
        spec.ephemeral_containers
            .iter()
            .flatten()
            .map(|c| format!("{} (ephem)", c.name)),
    );
    let note = format!("Defaulted container {first:?} out of: {}", all.join(", "));
    (first, Some(note))
}

/// The pod behind `TYPE/NAME`: itself for pods, else the first pod its selector matches (as
/// upstream's attachable-pod lookup).
pub(crate) async fn resolve_pod(session: &Session, target: &str) -> Result<Pod, CliError> {
    let pods: Api<Pod> = Api::namespaced(session.client.clone(), &session.namespace);
    let (typed, name) = split_type_name(target);
    let Some(name) = name else {
        return Ok(pods.get(typed).await?);
    };
    let catalog = Catalog::discover(&session.client).await?;
    let resource = catalog.resolve(typed)?;
    if resource.group.is_empty() && resource.plural == "pods" {
        return Ok(pods.get(name).await?);
    }
    let objects: Api<DynamicObject> = Api::namespaced_with(
        session.client.clone(),
        &session.namespace,
        &resource.api_resource(),
    );
    let object = objects.get(name).await?;
    let selector = logs::selector_of(&object.data).ok_or_else(|| {
        CliError::usage(format!(
            "cannot attach to {}: selector for {} not implemented",
            resource.qualified_kind(),
            resource.qualified_kind()
        ))
    })?;
    let mut matching = pods
        .list(&ListParams::default().labels(&selector))
        .await?
        .items;
    matching.sort_by_key(|p| {
        let running = p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
        (!running, p.metadata.creation_timestamp.clone())
    });
    matching
        .into_iter()
        .next()
        .ok_or_else(|| CliError::usage(format!("no pods found for {typed}/{name}")))
}

/// Upstream's refusal to `verb` ("exec into", "attach") a container of a pod that finished.
pub(crate) fn refuse_completed(pod: &Pod, verb: &str) -> Result<(), CliError> {
    let phase = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default();
    if phase == "Succeeded" || phase == "Failed" {
        return Err(CliError::usage(format!(
            "cannot {verb} a container in a completed pod; current phase is {phase}"
        )));
    }
    Ok(())
}

/// Puts the local terminal in raw mode until dropped.
struct RawTerminal {
    saved: rustix::termios::Termios,
}

impl RawTerminal {
    fn enter() -> Result<RawTerminal, CliError> {
        let stdin = std::io::stdin();
        let saved = rustix::termios::tcgetattr(&stdin)
            .map_err(|e| CliError::usage(format!("reading the terminal's settings: {e}")))?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &raw)
            .map_err(|e| CliError::usage(format!("setting the terminal to raw mode: {e}")))?;
        Ok(RawTerminal { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(
            std::io::stdin(),
            rustix::termios::OptionalActions::Now,
            &self.saved,
        );
    }
}

fn local_size() -> Option<TerminalSize> {
    let size = rustix::termios::tcgetwinsize(std::io::stdout())
        .or_else(|_| rustix::termios::tcgetwinsize(std::io::stdin()))
        .ok()?;
    Some(TerminalSize {
        width: size.ws_col,
        height: size.ws_row,
    })
}

/// The exit code a finished session stands for, from the error channel's `Status`.
pub fn exit_code(status: Option<&Status>) -> Result<u8, CliError> {
    let Some(status) = status else {
        return Ok(0);
    };
    if status.status.as_deref() == Some("Success") {
        return Ok(0);
    }
    if status.reason.as_deref() == Some("NonZeroExitCode") {
        let code = status
            .details
            .iter()
            .flat_map(|d| d.causes.iter().flatten())
            .find(|c| c.reason.as_deref() == Some("ExitCode"))
            .and_then(|c| c.message.as_deref()?.parse::<i64>().ok());
        if let Some(code) = code {
            // Upstream prints this on stderr and exits with the remote code.
            eprintln!("command terminated with exit code {code}");
            return Ok(code.clamp(0, 255) as u8);
        }
    }
    Err(CliError::usage(status.message.clone().unwrap_or_default()))
}

pub async fn run(flags: &GlobalFlags, args: ExecArgs) -> Result<(), CliError> {
    let (target, command, deprecated) = target_and_command(&args)?;
    if deprecated {
        eprintln!("kubectl exec [POD] [COMMAND] is DEPRECATED and will be removed in a future version. Use kubectl exec [POD] -- [COMMAND] instead.");
    }
    let session = Session::connect(flags).await?;
    let pod = resolve_pod(&session, &target).await?;
    let name = pod.metadata.name.clone().unwrap_or_default();
    refuse_completed(&pod, "exec into")?;
    let (container, note) = choose_container(&pod, args.stream.container.as_deref());
    if let Some(note) = note.filter(|_| !args.stream.quiet) {
        eprintln!("{note}");
    }
    // As upstream: a tty needs stdin (silently dropped without -i) and a terminal on it.
    let mut tty = args.stream.tty && args.stream.stdin;
    if tty && !std::io::stdin().is_terminal() {
        tty = false;
        if !args.stream.quiet {
            eprintln!("Unable to use a TTY - input is not a terminal or the right kind of file");
        }
    }
    let params = AttachParams {
        container: Some(container),
        stdin: args.stream.stdin,
        stdout: true,
        stderr: !tty,
        tty,
        ..AttachParams::default()
    };
    let pods: Api<Pod> = Api::namespaced(session.client.clone(), &session.namespace);
    let status = stream(pods.exec(&name, command, &params).await, tty, false).await?;
    match exit_code(status.as_ref())? {
        0 => Ok(()),
        code => Err(CliError::Exit(code)),
    }
}

/// A failed exec or attach request as upstream words it: an answer that is not a `Status`
/// (the kubelet's plain-text refusal, passed through by the apiserver) is the reason the
/// connection could not be upgraded.
fn upgrade_error(error: kube::Error) -> CliError {
    match error {
        // kube-rs's reason for a body that did not parse as a Status.
        kube::Error::Api(status) if status.reason == "Failed to parse error data" => {
            CliError::usage(format!("unable to upgrade connection: {}", status.message))
        }
        other => other.into(),
    }
}

/// Copies the streams of a running exec or attach session until it ends; returns its final
/// status. With `tty`, the local terminal is raw while the session lasts, and its size is sent
/// first and on every SIGWINCH; with `redraw` too, a size one larger goes first, as upstream's attach does, so that a program
/// already running on the remote terminal redraws its screen.
pub(crate) async fn stream(
    attached: Result<AttachedProcess, kube::Error>,
    tty: bool,
    redraw: bool,
) -> Result<Option<Status>, CliError> {
    let mut attached = attached.map_err(upgrade_error)?;
    let _raw = if tty {
        Some(RawTerminal::enter()?)
    } else {
        None
    };
    if tty {
        if let Some(mut sizes) = attached.terminal_size() {
            if let Some(size) = local_size() {
                if redraw {
                    let larger = TerminalSize {
                        width: size.width.saturating_add(1),
                        height: size.height.saturating_add(1),
                    };
                    let _ = sizes.send(larger).await;
                }
                let _ = sizes.send(size).await;
            }
            tokio::spawn(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let Ok(mut changes) = signal(SignalKind::window_change()) else {
                    return;
                };
                while changes.recv().await.is_some() {
                    if let Some(size) = local_size() {
                        if sizes.send(size).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    }
    if let Some(mut remote_stdin) = attached.stdin() {
        // A plain thread, not tokio's blocking pool: a read of the terminal that never returns
        // must not keep the process from exiting once the command ended.
        let (chunks, mut received) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            let mut stdin = std::io::stdin().lock();
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if chunks.blocking_send(buf[..n].to_vec()).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        tokio::spawn(async move {
            while let Some(chunk) = received.recv().await {
                if remote_stdin.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            // End of local input: the remote stdin closes too (v5 close-stream).
            let _ = remote_stdin.shutdown().await;
        });
    }
    let stdout = attached.stdout().map(|mut remote| {
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            let mut out = std::io::stdout();
            while let Ok(n) = remote.read(&mut buf).await {
                if n == 0 || out.write_all(&buf[..n]).and_then(|_| out.flush()).is_err() {
                    return;
                }
            }
        })
    });
    let stderr = attached.stderr().map(|mut remote| {
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            let mut err = std::io::stderr();
            while let Ok(n) = remote.read(&mut buf).await {
                if n == 0 || err.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        })
    });
    let status = match attached.take_status() {
        Some(status) => status.await,
        None => None,
    };
    for copier in [stdout, stderr].into_iter().flatten() {
        let _ = copier.await;
    }
    attached
        .join()
        .await
        .map_err(|e| CliError::Unreachable(e.to_string()))?;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use serde_json::json;

    #[derive(Debug, Parser)]
    struct Line {
        #[command(flatten)]
        args: ExecArgs,
    }

    fn parse(line: &[&str]) -> ExecArgs {
        Line::try_parse_from(std::iter::once("exec").chain(line.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn pod_and_command_come_from_around_the_dashes() {
        let args = parse(&["-it", "web", "-c", "app", "--", "sh", "-c", "exit 3"]);
        assert!(args.stream.stdin && args.stream.tty);
        assert_eq!(args.stream.container.as_deref(), Some("app"));
        let (target, command, deprecated) = target_and_command(&args).unwrap();
        assert_eq!(target, "web");
        assert_eq!(command, ["sh", "-c", "exit 3"]);
        assert!(!deprecated);
        let (_, command, deprecated) = target_and_command(&parse(&["web", "date"])).unwrap();
        assert_eq!(command, ["date"]);
        assert!(deprecated);
        let errors = [
            (
                parse(&["web"]),
                "error: you must specify at least one command for the container",
            ),
            (
                parse(&["--", "ls"]),
                "error: pod, type/name or --filename must be specified",
            ),
        ];
        for (args, want) in errors {
            assert_eq!(target_and_command(&args).unwrap_err().to_string(), want);
        }
    }

    #[test]
    fn the_default_container_is_annotated_or_first() {
        let pod = |annotation: Option<&str>, names: &[&str]| -> Pod {
            let mut value = serde_json::json!({
                "metadata": {"name": "p"},
                "spec": {
                    "containers": names.iter().map(|n| serde_json::json!({"name": n})).collect::<Vec<_>>(),
                    "initContainers": [{"name": "setup"}],
                },
            });
            if let Some(a) = annotation {
                value["metadata"]["annotations"] =
                    serde_json::json!({ DEFAULT_CONTAINER_ANNOTATION: a });
            }
            serde_json::from_value(value).unwrap()
        };
        let cases = [
            (pod(None, &["only"]), None, ("only", None)),
            (
                pod(None, &["a", "b"]),
                None,
                (
                    "a",
                    Some("Defaulted container \"a\" out of: a, b, setup (init)"),
                ),
            ),
            (pod(Some("b"), &["a", "b"]), None, ("b", None)),
            (
                pod(Some("gone"), &["a", "b"]),
                None,
                (
                    "a",
                    Some("Defaulted container \"a\" out of: a, b, setup (init)"),
                ),
            ),
            (pod(None, &["a", "b"]), Some("b"), ("b", None)),
        ];
        for (pod, requested, (name, note)) in cases {
            let (got, got_note) = choose_container(&pod, requested);
            assert_eq!(got, name);
            assert_eq!(got_note.as_deref(), note);
        }
    }

    #[test]
    fn the_remote_exit_code_becomes_ours() {
        let status =
            |value: serde_json::Value| -> Status { serde_json::from_value(value).unwrap() };
        let cases = [
            (json!({"metadata": {}, "status": "Success"}), Ok(0)),
            (
                json!({"status": "Failure", "reason": "NonZeroExitCode", "message": "exit 3",
                       "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}),
                Ok(3),
            ),
            (
                json!({"status": "Failure", "reason": "NonZeroExitCode", "message": "exit 300",
                       "details": {"causes": [{"reason": "ExitCode", "message": "300"}]}}),
                Ok(255),
            ),
            (
                json!({"status": "Failure", "reason": "InternalError", "message": "boom"}),
                Err("error: boom"),
            ),
        ];
        for (value, want) in cases {
            let got = exit_code(Some(&status(value.clone()))).map_err(|e| e.to_string());
            assert_eq!(got, want.map_err(String::from), "{value}");
        }
        assert_eq!(exit_code(None).unwrap(), 0);
    }

    #[test]
    fn finished_pods_are_refused() {
        let pod = |phase: &str| -> Pod {
            serde_json::from_value(json!({"metadata": {"name": "p"}, "status": {"phase": phase}}))
                .unwrap()
        };
        assert!(refuse_completed(&pod("Running"), "attach").is_ok());
        assert!(refuse_completed(&pod("Pending"), "attach").is_ok());
        assert_eq!(
            refuse_completed(&pod("Failed"), "attach")
                .unwrap_err()
                .to_string(),
            "error: cannot attach a container in a completed pod; current phase is Failed"
        );
        assert_eq!(
            refuse_completed(&pod("Succeeded"), "exec into")
                .unwrap_err()
                .to_string(),
            "error: cannot exec into a container in a completed pod; current phase is Succeeded"
        );
    }

    #[test]
    fn refused_upgrades_read_like_upstream() {
        let plain =
            kube::core::Status::failure("container sh not found", "Failed to parse error data")
                .with_code(404);
        assert_eq!(
            upgrade_error(kube::Error::Api(plain.boxed())).to_string(),
            "error: unable to upgrade connection: container sh not found"
        );
        let status =
            kube::core::Status::failure("container x is not valid for pod p", "BadRequest")
                .with_code(400);
        assert_eq!(
            upgrade_error(kube::Error::Api(status.boxed())).to_string(),
            "Error from server (BadRequest): container x is not valid for pod p"
        );
    }
}
