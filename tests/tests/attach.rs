//! `kubectl attach` and `kubectl run -i/-it` end to end, on a one-node cluster-in-a-box
//! ([`Cluster`]): kubectl -> apiserver `pods/attach` -> kubelet `/attach` -> the runtime's CRI
//! `Attach` and streaming server -> the container's own stdio, with the REAL kubectl
//! (`/usr/bin/kubectl`) and with ours.
//!
//! - A `stdin: true, tty: true` container running `sh`: `attach -it` under a pseudo-terminal
//!   (`script` from util-linux), commands typed into it, the session ending with the shell
//!   (`exit 3`) and the container restarting as its restart policy says.
//! - A container without a tty printing a line every 0.2 s: `attach` shows the new lines.
//! - The apiserver's and kubectl's answers to bad requests, discovery of `pods/attach`.
//! - `kubectl run` creating the generator's pod, `run -i` with piped input (stdin closed
//!   after the first attach), `run --attach` of a command that ends at once, `run -it --rm
//!   --restart=Never` under a terminal: output, exit codes, the pod deleted afterwards (a
//!   scheduler places these pods).
//!
//! Needs root and `cargo build --workspace --bins` first.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::core::v1::Pod;
use tinykube_tests::cluster::{cstatus, phase, Cluster};
use tinykube_tests::kubectl::{check, shell_line, Kubectl};
use tinykube_tests::CmdOutput;

/// Bound of every single command of these tests.
const LIMIT: Duration = Duration::from_secs(90);

fn pod_yaml(node: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: shell}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: sh, image: busybox, command: [sh], stdin: true, tty: true}}
  - name: ticker
    image: busybox
    command: [sh, -c, 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done']
"
    )
}

/// The real kubectl and ours.
fn kubectls() -> anyhow::Result<[(&'static str, PathBuf); 2]> {
    Ok([
        ("real", Kubectl::Real.program()?),
        ("ours", Kubectl::Ours.program()?),
    ])
}

/// Runs `kubectl args` in the hub namespace on a pseudo-terminal (util-linux `script`) of 30
/// rows and 100 columns, typing each `(delay, text)` of `typed` into the terminal after its
/// delay (from the previous one). Text typed before kubectl reads waits in the terminal.
async fn in_terminal(
    c: &Cluster,
    kubectl: &PathBuf,
    args: &[&str],
    typed: &[(f32, &str)],
) -> anyhow::Result<CmdOutput> {
    let mut words = c.control_plane.kubectl_words(kubectl);
    words.extend(args.iter().map(PathBuf::from));
    let inner = format!("stty rows 30 cols 100; exec {}", shell_line(&words));
    let typing: Vec<String> = typed
        .iter()
        .map(|(delay, text)| format!("sleep {delay}; printf '%s' {}", shell_line(&[text])))
        .collect();
    let script = format!(
        "({}) | script -qec {} /dev/null",
        typing.join("; "),
        shell_line(&[inner])
    );
    Ok(c.control_plane
        .in_hub()
        .args(["sh", "-c", &script])
        .timeout(LIMIT)
        .run()
        .await?)
}

/// Runs `kubectl args` (with `stdin`) in the hub namespace to completion.
async fn run_kubectl(
    c: &Cluster,
    kubectl: &PathBuf,
    args: &[&str],
    stdin: &str,
) -> anyhow::Result<CmdOutput> {
    Ok(c.control_plane
        .kubectl_invocation(kubectl)
        .args(args)
        .stdin(stdin)
        .timeout(LIMIT)
        .run()
        .await?)
}

fn restarts(pod: &Pod, container: &str) -> i32 {
    cstatus(pod, container).restart_count
}

fn last_exit_code(pod: &Pod, container: &str) -> Option<i32> {
    cstatus(pod, container)
        .last_state?
        .terminated
        .map(|t| t.exit_code)
}

fn running(pod: &Pod, container: &str) -> bool {
    cstatus(pod, container)
        .state
        .is_some_and(|s| s.running.is_some())
}

/// The numbers of the complete `tick N` lines in `text` (the last may still be coming).
fn ticks(text: &str) -> Vec<u64> {
    text.split_inclusive('\n')
        .filter_map(|l| l.strip_suffix('\n')?.strip_prefix("tick ")?.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_attach_real_and_ours() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    c.apply(&pod_yaml(&c.node_name)).await?;
    c.wait_pod("shell", "both containers running", |p| {
        phase(p) == "Running" && running(p, "sh") && running(p, "ticker")
    })
    .await?;

    let mut notes = Vec::new();
    let kubectls = kubectls()?;
    for (round, (who, kubectl)) in kubectls.iter().enumerate() {
        // A shell on the container's terminal: commands typed are run there, and `exit 3` ends
        // the session (and the container, which restarts: restartPolicy Always).
        let out = in_terminal(
            &c,
            kubectl,
            &["attach", "-it", "shell", "-c", "sh"],
            &[(4.0, "tty; echo sum-$((40+2)); stty size; exit 3\r")],
        )
        .await?;
        check(
            &format!("{who} attach -it"),
            out.success()
                && out.stdout.contains("/dev/pts/")
                && out.stdout.contains("sum-42")
                && out.stdout.contains("30 100")
                && out.stdout.contains(
                    "Session ended, resume using 'kubectl attach shell -c sh -i -t' command when the pod is running",
                )
                // The terminal carries stderr too.
                && out
                    .stdout
                    .contains("If you don't see a command prompt, try pressing enter."),
            &out,
        )?;
        let expected = round as i32 + 1;
        c.wait_pod("shell", "sh restarted after exit 3", |p| {
            restarts(p, "sh") == expected && last_exit_code(p, "sh") == Some(3) && running(p, "sh")
        })
        .await
        .with_context(|| format!("{who}: after attach -it"))?;

        // Without -i: the output as it comes, here the ticker's new lines.
        let mut attached = c
            .control_plane
            .kubectl_invocation(kubectl)
            .args(["attach", "shell", "-c", "ticker"])
            .spawn()?;
        let seen = attached
            .wait_for_stdout("three new ticks", LIMIT, |out| ticks(out).len() >= 3)
            .await?;
        let numbers = ticks(&seen);
        let out = attached.stop();
        anyhow::ensure!(
            numbers.windows(2).all(|w| w[1] == w[0] + 1),
            "{who}: ticks out of order: {numbers:?}\n{}",
            out.stderr
        );
        notes.push(("attach -c ticker", who, out.stderr));

        // -it with input that is no terminal: no tty on our side (a note says so), the
        // default container (the first, another note), the input run by the shell.
        let mut attached = c
            .control_plane
            .kubectl_invocation(kubectl)
            .args(["attach", "-it", "shell"])
            .stdin("echo hi-$((1+1))\n")
            .spawn()?;
        attached
            .wait_for_stdout("the shell's answer", LIMIT, |out| out.contains("hi-2"))
            .await?;
        notes.push(("attach -it <input", who, attached.stop().stderr));

        // Stdin for a container that has none, a missing container, a missing pod.
        for (args, reason) in [
            (
                &["attach", "-i", "shell", "-c", "ticker"][..],
                "was created without stdin: it cannot be attached with stdin",
            ),
            (
                &["attach", "shell", "-c", "nope"][..],
                "error: cannot attach to the container: container nope not found in pod shell",
            ),
            (&["attach", "nopod"][..], "pods \"nopod\" not found"),
        ] {
            let out = run_kubectl(&c, kubectl, args, "").await?;
            check(
                &format!("{who} {args:?}"),
                out.status.code() == Some(1) && out.stderr.contains(reason),
                &out,
            )?;
        }
        let out = run_kubectl(&c, kubectl, &["attach", "shell", "-c", "nope"], "").await?;
        notes.push(("attach -c nope", who, out.stderr));
    }
    // What both print besides the session, line for line.
    for pair in notes.chunks(3).collect::<Vec<_>>().windows(2) {
        for ((what, real, theirs), (_, ours, mine)) in pair[0].iter().zip(pair[1]) {
            anyhow::ensure!(
                theirs == mine,
                "{what}: {real} said {theirs:?}, {ours} said {mine:?}"
            );
        }
    }
    let piped = &notes[1].2;
    anyhow::ensure!(
        piped.contains("Defaulted container \"sh\" out of: sh, ticker")
            && piped.contains("Unable to use a TTY - input is not a terminal"),
        "{piped:?}"
    );

    // The apiserver's own answers before any upgrade, and discovery.
    let raw = |query: &str| format!("/api/v1/namespaces/default/pods/shell/attach?{query}");
    let cases = [
        (
            raw("stdout=true"),
            "a container name must be specified for pod shell, choose one of: [sh ticker]",
        ),
        (
            raw("stdout=true&container=nope"),
            "container nope is not valid for pod shell",
        ),
        (raw("stdout=true&container=sh"), "Upgrade request required"),
        (raw("stdout=maybe&container=sh"), "invalid syntax"),
    ];
    for (path, message) in cases {
        let out = c.kubectl(&["get", "--raw", &path]).await?;
        check(
            &format!("GET {path}"),
            !out.success() && out.stderr.contains(message) && out.stderr.contains("BadRequest"),
            &out,
        )?;
    }
    let out = c.kubectl(&["api-resources", "--no-headers"]).await?;
    check("api-resources", out.success(), &out)?;
    let discovery = c.kubectl(&["get", "--raw", "/api/v1"]).await?;
    let list: serde_json::Value = serde_json::from_str(&discovery.stdout)?;
    let attach = list["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == "pods/attach")
        .context("pods/attach is not in discovery")?;
    assert_eq!(attach["kind"], "PodAttachOptions");
    assert_eq!(attach["verbs"], serde_json::json!(["create", "get"]));
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_run_real_and_ours() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    // `kubectl run` pods name no node.
    let _scheduler = c.start_scheduler()?;
    let (mut generated, mut piped) = (Vec::new(), Vec::new());
    for (who, kubectl) in kubectls()?.iter() {
        // Without attaching: the generator's pod, and upstream's line.
        let name = format!("plain-{who}");
        let out = run_kubectl(
            &c,
            kubectl,
            &[
                "run",
                &name,
                "--image=busybox",
                "--env=A=1",
                "--",
                "sleep",
                "3600",
            ],
            "",
        )
        .await?;
        check(
            &format!("{who} run"),
            out.success() && out.stdout == format!("pod/{name} created\n"),
            &out,
        )?;
        let pod = c.get_json(&["pod", &name]).await?.context("no pod")?;
        let mut container = pod["spec"]["containers"][0].clone();
        for generated_by_server in ["terminationMessagePath", "terminationMessagePolicy"] {
            container
                .as_object_mut()
                .context("container")?
                .remove(generated_by_server);
        }
        // Compared by shape: each kubectl's pod has its own name.
        let shape = serde_json::json!([
            pod["metadata"]["labels"],
            container,
            pod["spec"]["restartPolicy"]
        ]);
        generated.push(shape.to_string().replace(&name, "NAME"));
        let out = run_kubectl(&c, kubectl, &["delete", "pod", &name, "--wait=false"], "").await?;
        check("delete", out.success(), &out)?;

        // -i with piped input: the container's stdin ends with it (stdinOnce), so `cat` ends
        // and the pod completes; its exit code is ours.
        let name = format!("piped-{who}");
        let out = run_kubectl(
            &c,
            kubectl,
            &[
                "run",
                "-i",
                "--rm",
                "--restart=Never",
                "--image=busybox",
                &name,
                "--",
                "sh",
                "-c",
                "cat; echo done; exit 4",
            ],
            "data\n",
        )
        .await?;
        check(
            &format!("{who} run -i"),
            out.status.code() == Some(4)
                && out.stdout.contains("data\ndone\n")
                && out.stdout.contains(&format!("pod \"{name}\" deleted"))
                && out
                    .stderr
                    .contains(&format!("pod default/{name} terminated (Error)")),
            &out,
        )?;
        piped.push(format!("{}{}", out.stdout, out.stderr).replace(&name, "NAME"));
        c.wait_gone("pod", &name).await?;

        // --attach to a container that may well be done before kubectl attaches: its
        // output either way (upstream shows the logs of a finished pod instead).
        let name = format!("quick-{who}");
        let out = run_kubectl(
            &c,
            kubectl,
            &[
                "run",
                "--attach",
                "--rm",
                "--restart=Never",
                "--image=busybox",
                &name,
                "--",
                "echo",
                "quick-output",
            ],
            "",
        )
        .await?;
        check(
            &format!("{who} run --attach"),
            out.success()
                && out.stdout.contains("quick-output\n")
                && out.stdout.contains(&format!("pod \"{name}\" deleted")),
            &out,
        )?;
        c.wait_gone("pod", &name).await?;

        // -it under a terminal: the prompt note, a line typed, the exit code, the pod gone.
        let name = format!("term-{who}");
        let out = in_terminal(
            &c,
            kubectl,
            &[
                "run",
                "-it",
                "--rm",
                "--restart=Never",
                "--image=busybox",
                &name,
                "--",
                "sh",
                "-c",
                "read line; echo \"got-$line\"; tty; exit 0",
            ],
            &[(6.0, "hello\r")],
        )
        .await?;
        check(
            &format!("{who} run -it --rm"),
            out.success()
                && out.stdout.contains("got-hello")
                && out.stdout.contains("/dev/pts/")
                && out.stdout.contains(&format!("pod \"{name}\" deleted"))
                // Nothing to resume: the pod does not restart.
                && !out.stdout.contains("Session ended")
                // The terminal carries stderr too.
                && out
                    .stdout
                    .contains("If you don't see a command prompt, try pressing enter."),
            &out,
        )?;
        c.wait_gone("pod", &name).await?;
    }
    anyhow::ensure!(
        piped[0] == piped[1],
        "run -i: the real kubectl printed {:?}, ours {:?}",
        piped[0],
        piped[1]
    );
    anyhow::ensure!(
        generated[0] == generated[1],
        "the real kubectl and ours generate different pods:\n{}\n{}",
        generated[0],
        generated[1]
    );

    // Mistakes are refused before anything is created, in upstream's words.
    for (who, kubectl) in kubectls()?.iter() {
        for (args, message) in [
            (
                &["run", "x", "--image=busybox", "--rm"][..],
                "--rm should only be used for attached containers",
            ),
            (
                &["run", "x", "--image=busybox", "-t"][..],
                "-i/--stdin is required for containers with -t/--tty=true",
            ),
            (
                &["run", "x", "--image=busybox", "--restart=Sometimes"][..],
                "invalid restart policy: Sometimes",
            ),
        ] {
            let out = run_kubectl(&c, kubectl, args, "").await?;
            check(
                &format!("{who} {args:?}"),
                !out.success() && out.stderr.contains(message),
                &out,
            )?;
        }
    }
    c.shutdown().await
}
