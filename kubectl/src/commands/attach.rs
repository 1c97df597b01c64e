//! `kubectl attach (POD | TYPE/NAME) [-c CONTAINER] [-i] [-t] [-q]`: the streams of a process
//! already running in a container, through the apiserver's `pods/attach` (kube-rs
//! `Api::<Pod>::attach`, a WebSocket speaking `v5.channel.k8s.io`), as upstream kubectl does.
//!
//! The terminal follows the container: a container started with `tty: true` is attached with a
//! tty (raw local terminal, sizes passed on) when `-i` is given on a terminal, one without is
//! never (`-t` then only warns). Output goes to stdout (and stderr without a tty); `-i` passes
//! local stdin. The session ends when the container's process does, or when local input ends
//! for a `stdinOnce` container. The streaming itself is `exec`'s.

use std::io::IsTerminal;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams};

use crate::cli::GlobalFlags;
use crate::commands::exec::{self, StreamFlags};
use crate::error::CliError;
use crate::session::Session;

/// Arguments of `kubectl attach`.
#[derive(Debug, clap::Args)]
pub struct AttachArgs {
    #[command(flatten)]
    pub stream: StreamFlags,
    /// The length of time (like 5s, 2m, or 3h, higher than zero) to wait until at least one
    /// pod is running.
    #[arg(long, default_value = "1m0s")]
    pub pod_running_timeout: String,
    /// POD, TYPE/NAME or TYPE NAME.
    #[arg(value_name = "POD | TYPE/NAME")]
    pub target: Vec<String>,
}

/// The object an invocation names (`POD`, `TYPE/NAME` or `TYPE NAME`), with upstream's
/// wording for a wrong count.
pub fn target_of(args: &[String]) -> Result<String, CliError> {
    match args {
        [] => Err(CliError::usage(
            "at least 1 argument is required for attach",
        )),
        [one] => Ok(one.clone()),
        [kind, name] => Ok(format!("{kind}/{name}")),
        more => Err(CliError::usage(format!(
            "expected POD, TYPE/NAME, or TYPE NAME, (at most 2 arguments) saw {}: [{}]",
            more.len(),
            more.join(" ")
        ))),
    }
}

/// The `tty` of container `name` in `pod` (regular, init or ephemeral), with upstream's error
/// when the pod has no such container.
pub fn container_tty(pod: &Pod, name: &str) -> Result<bool, CliError> {
    let spec = pod.spec.clone().unwrap_or_default();
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == name)
        .map(|c| c.tty)
        .or_else(|| {
            spec.ephemeral_containers
                .iter()
                .flatten()
                .find(|c| c.name == name)
                .map(|c| c.tty)
        })
        .map(|tty| tty.unwrap_or(false))
        .ok_or_else(|| {
            CliError::usage(format!(
                "cannot attach to the container: container {name} not found in pod {}",
                pod.metadata.name.as_deref().unwrap_or_default()
            ))
        })
}

/// Whether the session runs on a terminal, and the warnings upstream prints on the way: the
/// container decides whether there is a tty at all (`-t` for a container without one only
/// warns, a container with one gets it anyway), and a raw local terminal needs `-i` and a
/// terminal on stdin.
pub fn decide_tty(
    asked: bool,
    container_tty: bool,
    stdin: bool,
    stdin_is_terminal: bool,
    container: &str,
) -> (bool, Vec<String>) {
    let mut warnings = Vec::new();
    if asked && !container_tty {
        warnings.push(format!(
            "error: Unable to use a TTY - container {container} did not allocate one"
        ));
        return (false, warnings);
    }
    if !stdin || !container_tty {
        return (false, warnings);
    }
    if !stdin_is_terminal {
        warnings.push(
            "Unable to use a TTY - input is not a terminal or the right kind of file".to_string(),
        );
        return (false, warnings);
    }
    (true, warnings)
}

/// How to attach once the pod is known.
#[derive(Debug, Clone)]
pub struct AttachTo {
    pub container: Option<String>,
    pub stdin: bool,
    pub tty: bool,
    pub quiet: bool,
    /// How a user reattaches (`kubectl attach`; `kubectl run attach` from `run`, as upstream
    /// words it).
    pub command_name: String,
}

/// Attaches to `pod` (running) as `how` says, until the session ends.
pub async fn attach_to(session: &Session, pod: &Pod, how: &AttachTo) -> Result<(), CliError> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let (container, note) = exec::choose_container(pod, how.container.as_deref());
    if let Some(note) = note.filter(|_| !how.quiet) {
        eprintln!("{note}");
    }
    let container_tty = container_tty(pod, &container)?;
    let (raw, warnings) = decide_tty(
        how.tty,
        container_tty,
        how.stdin,
        std::io::stdin().is_terminal(),
        &container,
    );
    if !how.quiet {
        for warning in warnings {
            eprintln!("{warning}");
        }
        // Upstream says so whether or not there is input to give.
        eprintln!("If you don't see a command prompt, try pressing enter.");
    }
    let params = AttachParams {
        container: Some(container.clone()),
        stdin: how.stdin,
        stdout: true,
        stderr: !raw,
        tty: raw,
        ..AttachParams::default()
    };
    let namespace = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| session.namespace.clone());
    let pods: Api<Pod> = Api::namespaced(session.client.clone(), &namespace);
    let status = exec::stream(pods.attach(&name, &params).await, raw, true).await?;
    if let code @ 1.. = exec::exit_code(status.as_ref())? {
        return Err(CliError::Exit(code));
    }
    // Resuming is only possible in a container that comes back.
    let restarts = pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()) == Some("Always");
    if !how.quiet && how.stdin && raw && restarts {
        println!(
            "Session ended, resume using '{} {name} -c {container} -i -t' command when the pod is running",
            how.command_name
        );
    }
    Ok(())
}

pub async fn run(flags: &GlobalFlags, args: AttachArgs) -> Result<(), CliError> {
    let target = target_of(&args.target)?;
    let timeout = pod_running_timeout(&args.pod_running_timeout)?;
    let session = Session::connect(flags).await?;
    let pod = tokio::time::timeout(timeout, exec::resolve_pod(&session, &target))
        .await
        .map_err(|_| CliError::usage("timed out waiting for the condition"))??;
    exec::refuse_completed(&pod, "attach")?;
    let how = AttachTo {
        container: args.stream.container,
        stdin: args.stream.stdin,
        tty: args.stream.tty,
        quiet: args.stream.quiet,
        command_name: "kubectl attach".to_string(),
    };
    attach_to(&session, &pod, &how).await
}

/// `--pod-running-timeout`, which must be above zero.
pub fn pod_running_timeout(value: &str) -> Result<std::time::Duration, CliError> {
    let timeout = crate::commands::delete::parse_duration(value).map_err(|_| {
        CliError::usage(format!(
            "invalid argument {value:?} for \"--pod-running-timeout\" flag: time: invalid duration {value:?}"
        ))
    })?;
    if timeout.is_zero() {
        return Err(CliError::usage(
            "--pod-running-timeout must be higher than zero",
        ));
    }
    Ok(timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn targets_are_pod_type_slash_name_or_type_name() {
        assert_eq!(target_of(&words(&["web"])).unwrap(), "web");
        assert_eq!(target_of(&words(&["rs/web"])).unwrap(), "rs/web");
        assert_eq!(target_of(&words(&["rs", "web"])).unwrap(), "rs/web");
        assert_eq!(
            target_of(&[]).unwrap_err().to_string(),
            "error: at least 1 argument is required for attach"
        );
        assert_eq!(
            target_of(&words(&["a", "b", "c"])).unwrap_err().to_string(),
            "error: expected POD, TYPE/NAME, or TYPE NAME, (at most 2 arguments) saw 3: [a b c]"
        );
    }

    /// (asked -t, container tty, -i, stdin is a terminal) -> (raw, warnings)
    type Case = ((bool, bool, bool, bool), (bool, &'static [&'static str]));

    #[test]
    fn the_container_decides_the_tty() {
        const NO_TTY: &str = "error: Unable to use a TTY - container c did not allocate one";
        const NOT_TERMINAL: &str =
            "Unable to use a TTY - input is not a terminal or the right kind of file";
        let cases: [Case; 7] = [
            ((true, true, true, true), (true, &[])),
            // The container has a tty: it is used even without -t.
            ((false, true, true, true), (true, &[])),
            ((true, false, true, true), (false, &[NO_TTY])),
            ((false, false, true, true), (false, &[])),
            // Without -i there is no raw terminal.
            ((true, true, false, true), (false, &[])),
            ((true, true, true, false), (false, &[NOT_TERMINAL])),
            ((true, false, false, false), (false, &[NO_TTY])),
        ];
        for ((asked, container, stdin, terminal), (raw, warnings)) in cases {
            let got = decide_tty(asked, container, stdin, terminal, "c");
            assert_eq!(
                got,
                (raw, warnings.iter().map(|w| w.to_string()).collect()),
                "{asked} {container} {stdin} {terminal}"
            );
        }
    }

    #[test]
    fn container_ttys_come_from_the_spec() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {
                "containers": [{"name": "sh", "tty": true}, {"name": "log"}],
                "initContainers": [{"name": "setup"}],
                "ephemeralContainers": [{"name": "debug", "tty": true}],
            },
        }))
        .unwrap();
        assert!(container_tty(&pod, "sh").unwrap());
        assert!(!container_tty(&pod, "log").unwrap());
        assert!(!container_tty(&pod, "setup").unwrap());
        assert!(container_tty(&pod, "debug").unwrap());
        assert_eq!(
            container_tty(&pod, "nope").unwrap_err().to_string(),
            "error: cannot attach to the container: container nope not found in pod p"
        );
    }

    #[test]
    fn pod_running_timeouts_are_durations_above_zero() {
        assert_eq!(pod_running_timeout("1m0s").unwrap().as_secs(), 60);
        assert_eq!(pod_running_timeout("5").unwrap().as_secs(), 5);
        assert_eq!(
            pod_running_timeout("0s").unwrap_err().to_string(),
            "error: --pod-running-timeout must be higher than zero"
        );
        assert!(pod_running_timeout("soon").is_err());
    }
}
