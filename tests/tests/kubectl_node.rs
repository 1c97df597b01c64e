//! Our kubectl on a cluster with real pods, compared with the real kubectl (issue 9), on a
//! one-node cluster-in-a-box ([`Cluster`]: etcd and kube-apiserver in the hub namespace,
//! tinykube-runtime and the kubelet in the node namespace). Both kubectls run inside the hub
//! namespace, like a client on the control-plane machine.
//!
//! - `port-forward` end to end (kubectl -> apiserver `pods/portforward` -> kubelet
//!   `/portForward` -> runtime streaming server -> 127.0.0.1:<port> in the pod's network
//!   namespace): our kubectl forwards local ports to a busybox httpd in a pod (fixed, free and
//!   named ports, a Service port translated to its targetPort, `--address`), and `wget` in the
//!   same namespace gets the page; the real kubectl does the same over SPDY/3.1 tunnelled in
//!   WebSocket; a port nothing listens on reports upstream's error and ends the command (both
//!   kubectls); the checks before any stream (pod not running, bad ports, no upgrade) match
//!   upstream's.
//! - `logs`: `-c`, `--tail`, `--timestamps`, `--previous` after a restart, `deploy/name`,
//!   the default-container note, and `-f` showing a line as it is written, each compared
//!   with the real kubectl.
//! - `describe node` and `get nodes -o wide` compared with the real kubectl.
//!
//! Needs root and `cargo build --workspace --bins` first.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tinykube_cri_proto::v1 as cri;
use tinykube_tests::cluster::{cstatus, phase, Cluster};
use tinykube_tests::kubectl::{check, Invocation, Kubectl, Running};
use tinykube_tests::CmdOutput;

/// Bound of every single command and wait of these tests.
const LIMIT: Duration = Duration::from_secs(60);

/// `args` for `which` kubectl, run inside the hub namespace with the cluster's kubeconfig.
fn kubectl(c: &Cluster, which: Kubectl, args: &[&str]) -> anyhow::Result<Invocation> {
    Ok(c.control_plane
        .kubectl_invocation(which.program()?)
        .args(args)
        .timeout(LIMIT))
}

async fn run(c: &Cluster, which: Kubectl, args: &[&str]) -> anyhow::Result<CmdOutput> {
    Ok(kubectl(c, which, args)?.run().await?)
}

/// `wget -qO- url` from the hub namespace (bounded with `timeout`: busybox's own `-T` is
/// unusable).
async fn wget(c: &Cluster, url: &str) -> anyhow::Result<CmdOutput> {
    Ok(c.control_plane
        .in_hub()
        .args([
            "/usr/bin/timeout",
            "10",
            "/bin/busybox",
            "wget",
            "-qO-",
            url,
        ])
        .timeout(LIMIT)
        .run()
        .await?)
}

/// Runs `args` with both kubectls and requires the same exit status, stdout and stderr.
async fn same_output(c: &Cluster, args: &[&str]) -> anyhow::Result<CmdOutput> {
    let real = run(c, Kubectl::Real, args).await?;
    let ours = run(c, Kubectl::Ours, args).await?;
    if (real.status.code(), &real.stdout, &real.stderr)
        != (ours.status.code(), &ours.stdout, &ours.stderr)
    {
        bail!(
            "kubectl {args:?} differs\n--- real (exit {:?}) ---\n{}{}\n--- ours (exit {:?}) ---\n{}{}",
            real.status.code(),
            real.stdout,
            real.stderr,
            ours.status.code(),
            ours.stdout,
            ours.stderr
        );
    }
    Ok(ours)
}

/// Like [`same_output`] for views of objects that change by themselves (a node's heartbeat,
/// ages in seconds): the two runs must agree at least once in a few tries, and a divergence
/// that persists fails with both outputs.
async fn same_output_settled(c: &Cluster, args: &[&str]) -> anyhow::Result<CmdOutput> {
    let mut last = None;
    for _ in 0..5 {
        match same_output(c, args).await {
            Ok(out) => return Ok(out),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(last.context("no attempt ran")?)
}

fn web_yaml(node: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: web, labels: {{app: web}}}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: busybox
    command: [sh, -c, 'mkdir -p /www && echo hello from web > /www/index.html && exec httpd -f -p 8080 -h /www']
    ports: [{{name: http, containerPort: 8080}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  selector: {{app: web}}
  ports: [{{name: web, port: 80, targetPort: http}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: stuck}}
spec:
  nodeName: no-such-node
  containers:
  - {{name: c, image: busybox, command: [sleep, '3600']}}
"
    )
}

/// The local port of the `Forwarding from 127.0.0.1:<port> -> <remote>` line that is not
/// `except`.
fn forwarded_port(stdout: &str, remote: u16, except: u16) -> Option<u16> {
    stdout.lines().find_map(|line| {
        let rest = line.strip_prefix("Forwarding from 127.0.0.1:")?;
        let (local, to) = rest.split_once(" -> ")?;
        let local: u16 = local.parse().ok()?;
        (to == remote.to_string() && local != except).then_some(local)
    })
}

/// Waits (bounded) for a started command to end by itself.
async fn finished(running: &mut Running) -> anyhow::Result<CmdOutput> {
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Some(out) = running.try_finish()? {
            return Ok(out);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "still running: {}",
            running.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_forward_reaches_a_pod_through_the_whole_chain() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    c.apply(&web_yaml(&c.node_name)).await?;
    c.wait_pod("web", "httpd running", |p| {
        phase(p) == "Running" && cstatus(p, "httpd").ready
    })
    .await?;

    // CRI: PortForward checks the request and hands out a one-time URL on the streaming server.
    let mut rt = c.cri().await?;
    let sandbox = rt
        .list_pod_sandbox(cri::ListPodSandboxRequest { filter: None })
        .await?
        .into_inner()
        .items
        .into_iter()
        .find(|s| s.metadata.as_ref().is_some_and(|m| m.name == "web"))
        .context("no sandbox for web")?
        .id;
    let url = rt
        .port_forward(cri::PortForwardRequest {
            pod_sandbox_id: sandbox.clone(),
            port: vec![8080],
        })
        .await?
        .into_inner()
        .url;
    anyhow::ensure!(
        url.starts_with("http://127.0.0.1:") && url.contains("/portforward/"),
        "{url}"
    );
    let refused = rt
        .port_forward(cri::PortForwardRequest {
            pod_sandbox_id: sandbox,
            port: vec![0],
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        refused
            .message()
            .contains("port 0 is not a valid port number"),
        "{}",
        refused.message()
    );
    let missing = rt
        .port_forward(cri::PortForwardRequest {
            pod_sandbox_id: "no-such-sandbox".into(),
            port: vec![80],
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);

    // The apiserver's own answers before any upgrade.
    let raw = |query: &str| format!("/api/v1/namespaces/default/pods/web/portforward?{query}");
    for (path, message) in [
        (raw("ports=0"), "invalid ports \"0\""),
        (raw("ports=80,http"), "invalid ports \"http\""),
        (raw("ports=8080"), "Upgrade request required"),
    ] {
        let out = c.kubectl(&["get", "--raw", &path]).await?;
        check(
            &format!("GET {path}"),
            !out.success() && out.stderr.contains(message) && out.stderr.contains("BadRequest"),
            &out,
        )?;
    }
    let discovery = c.kubectl(&["get", "--raw", "/api/v1"]).await?;
    let discovery: serde_json::Value = serde_json::from_str(&discovery.stdout)?;
    let entry = discovery["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == "pods/portforward")
        .context("discovery lists no pods/portforward")?;
    assert_eq!(entry["kind"], "PodPortForwardOptions");

    // Ours: a fixed local port, a free one for a named port, and a port nothing listens on.
    let mut forward = kubectl(
        &c,
        Kubectl::Ours,
        &["port-forward", "pod/web", "18080:8080", ":http", "9999"],
    )?
    .spawn()?;
    let stdout = forward
        .wait_for_stdout("its listeners", LIMIT, |out| {
            out.contains("Forwarding from [::1]:9999 -> 9999")
        })
        .await?;
    for line in [
        "Forwarding from 127.0.0.1:18080 -> 8080\n",
        "Forwarding from [::1]:18080 -> 8080\n",
        "Forwarding from 127.0.0.1:9999 -> 9999\n",
    ] {
        anyhow::ensure!(stdout.contains(line), "no {line:?} in {stdout:?}");
    }
    let free = forwarded_port(&stdout, 8080, 18080).context("no free local port")?;
    for url in [
        "http://127.0.0.1:18080/".to_string(),
        "http://127.0.0.1:18080/index.html".to_string(),
        "http://[::1]:18080/".to_string(),
        format!("http://127.0.0.1:{free}/"),
    ] {
        let out = wget(&c, &url).await?;
        check(
            &format!("wget {url}"),
            out.success() && out.stdout == "hello from web\n",
            &out,
        )?;
    }
    let out = wget(&c, "http://127.0.0.1:9999/").await?;
    check("wget of a closed port fails", !out.success(), &out)?;
    // As upstream, the failed forward ends the command.
    let out = finished(&mut forward).await?;
    check(
        "ours after a failed forward",
        !out.success()
            && out.stderr.contains(
                "an error occurred forwarding 9999 -> 9999: error forwarding port 9999 to pod",
            )
            && out.stderr.ends_with("error: lost connection to pod\n")
            && out.stdout.contains("Handling connection for 18080\n")
            && out
                .stdout
                .contains(&format!("Handling connection for {free}\n"))
            && out.stdout.contains("Handling connection for 9999\n"),
        &out,
    )?;

    // The real kubectl: SPDY/3.1 tunnelled in WebSocket messages, one pair of streams per
    // connection over one session; a port nothing listens on ends its session, as upstream.
    let mut forward = kubectl(
        &c,
        Kubectl::Real,
        &["port-forward", "pod/web", "18090:8080", "9998"],
    )?
    .spawn()?;
    forward
        .wait_for_stdout("its listeners", LIMIT, |out| {
            out.contains("Forwarding from 127.0.0.1:9998 -> 9998")
        })
        .await?;
    for _ in 0..3 {
        let out = wget(&c, "http://127.0.0.1:18090/").await?;
        check(
            "wget through the real kubectl",
            out.success() && out.stdout == "hello from web\n",
            &out,
        )?;
    }
    let out = wget(&c, "http://127.0.0.1:9998/").await?;
    check("wget of a closed port fails", !out.success(), &out)?;
    let out = finished(&mut forward).await?;
    check(
        "the real kubectl after a failed forward",
        !out.success()
            && out.stdout.contains("Handling connection for 18090\n")
            && out.stderr.contains(
                "an error occurred forwarding 9998 -> 9998: error forwarding port 9998 to pod",
            )
            && out.stderr.contains("lost connection to pod"),
        &out,
    )?;

    // A Service port goes to the targetPort its pods name; --address limits the listeners.
    let mut forward = kubectl(
        &c,
        Kubectl::Ours,
        &[
            "port-forward",
            "svc/web",
            "18081:80",
            "--address",
            "127.0.0.1",
        ],
    )?
    .spawn()?;
    forward
        .wait_for_stdout("its listener", LIMIT, |out| {
            out.contains("Forwarding from 127.0.0.1:18081 -> 8080\n")
        })
        .await?;
    let out = wget(&c, "http://127.0.0.1:18081/").await?;
    check(
        "wget through svc/web",
        out.success() && out.stdout == "hello from web\n",
        &out,
    )?;
    let out = forward.stop();
    check(
        "only the asked address",
        !out.stdout.contains("[::1]"),
        &out,
    )?;

    // The checks before any stream read as upstream's.
    for args in [
        &["port-forward", "stuck", "8080"][..],
        &["port-forward", "web", "8080:nope"],
        &["port-forward", "svc/web", "8080:81"],
        &["port-forward", "nopod", "8080"],
        &["port-forward", "web"],
    ] {
        same_output(&c, args).await?;
    }
    c.shutdown().await
}

fn logger_yaml(node: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: logger}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: fixed
    image: busybox
    command: [sh, -c, 'for i in 1 2 3 4 5; do echo line $i; done; echo oops >&2; exec sleep 3600']
  - name: feed
    image: busybox
    command: [sh, -c, 'mkfifo /tmp/in; echo ready; while true; do cat /tmp/in; done']
---
apiVersion: v1
kind: Pod
metadata: {{name: crasher}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'echo run of crasher; sleep 2; exit 1']
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: hello}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: hello}}}}
  template:
    metadata: {{labels: {{app: hello}}}}
    spec:
      nodeName: {node}
      terminationGracePeriodSeconds: 1
      containers:
      - {{name: c, image: busybox, command: [sh, -c, 'echo hello from the deployment; exec sleep 3600']}}
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_match_the_real_kubectl() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    // For the Deployment's pods.
    let _kcm = c.start_controller_manager()?;
    c.apply(&logger_yaml(&c.node_name)).await?;
    c.wait_pod("logger", "both containers running", |p| {
        phase(p) == "Running"
            && ["fixed", "feed"].iter().all(|name| {
                cstatus(p, name)
                    .state
                    .is_some_and(|state| state.running.is_some())
            })
    })
    .await?;
    c.wait_kubectl_output(&["logs", "logger", "-c", "fixed"], "oops")
        .await?;
    c.wait_kubectl_output(&["logs", "logger", "-c", "feed"], "ready")
        .await?;

    for args in [
        &["logs", "logger", "-c", "fixed"][..],
        &["logs", "logger"],
        &["logs", "logger", "-c", "fixed", "--tail=2"],
        &["logs", "logger", "-c", "fixed", "--tail", "0"],
        &["logs", "logger", "-c", "fixed", "--timestamps"],
        &[
            "logs",
            "logger",
            "-c",
            "fixed",
            "--tail=1",
            "--timestamps=true",
        ],
        &["logs", "pod/logger", "-c", "feed"],
        &["logs", "logger", "-c", "nope"],
        &["logs", "logger", "-c", "fixed", "--previous"],
        &["logs", "nopod"],
        &["logs", "deploy/nope"],
    ] {
        same_output(&c, args).await?;
    }
    // stdout and stderr reach the log through separate pipes, so "oops" may come before
    // "line 5": the tail is checked against the whole log, not a fixed order.
    let all = run(&c, Kubectl::Ours, &["logs", "logger", "-c", "fixed"]).await?;
    let mut lines: Vec<&str> = all.stdout.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        ["line 1", "line 2", "line 3", "line 4", "line 5", "oops"],
        "{all:?}"
    );
    let tail = run(
        &c,
        Kubectl::Ours,
        &["logs", "logger", "-c", "fixed", "--tail=2"],
    )
    .await?;
    let last_two: Vec<&str> = all.stdout.lines().skip(4).collect();
    check(
        "--tail=2",
        tail.stdout.lines().collect::<Vec<_>>() == last_two,
        &tail,
    )?;

    // -f: a line written after the command started shows up while it runs.
    let mut follows = Vec::new();
    for which in Kubectl::BOTH {
        let mut follow = kubectl(&c, which, &["logs", "-f", "logger", "-c", "feed"])?.spawn()?;
        follow
            .wait_for_stdout("the log so far", LIMIT, |out| out == "ready\n")
            .await?;
        follows.push(follow);
    }
    let logger = c.pod("logger").await?.context("logger is gone")?;
    let (code, _, stderr) = c
        .exec(
            &logger,
            "feed",
            &["sh", "-c", "echo written later > /tmp/in"],
        )
        .await?;
    anyhow::ensure!(code == 0, "feeding the log failed: {stderr}");
    for follow in &mut follows {
        follow
            .wait_for_stdout("the new line", LIMIT, |out| out == "ready\nwritten later\n")
            .await?;
    }
    drop(follows);

    // --previous once the container restarted.
    c.wait_pod("crasher", "a restart", |p| {
        cstatus(p, "c").restart_count >= 1
    })
    .await?;
    let out = same_output(&c, &["logs", "crasher", "--previous"]).await?;
    check("--previous", out.stdout == "run of crasher\n", &out)?;

    // deploy/name reads a pod of the Deployment.
    c.wait_kubectl_output(&["logs", "deploy/hello"], "hello from the deployment")
        .await?;
    let out = same_output(&c, &["logs", "deploy/hello"]).await?;
    check(
        "deploy/hello",
        out.stdout == "hello from the deployment\n",
        &out,
    )?;
    same_output(&c, &["logs", "deployment/hello", "--timestamps"]).await?;
    c.kubectl(&["delete", "deployment", "hello"]).await?;
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_views_match_the_real_kubectl() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    c.apply(&format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: sized}}
spec:
  nodeName: {}
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: [sleep, '3600']
    resources: {{requests: {{cpu: 100m, memory: 32Mi}}, limits: {{cpu: 200m, memory: 64Mi}}}}
",
        c.node_name
    ))
    .await?;
    c.wait_pod("sized", "running", |p| phase(p) == "Running")
        .await?;
    let out = same_output_settled(&c, &["get", "nodes", "-o", "wide"]).await?;
    check(
        "get nodes -o wide",
        out.stdout.starts_with("NAME ") && out.stdout.contains(&c.node_name),
        &out,
    )?;
    let out = same_output_settled(&c, &["describe", "node", &c.node_name]).await?;
    check(
        "describe node",
        out.stdout.contains("Non-terminated Pods:") && out.stdout.contains("sized"),
        &out,
    )?;
    same_output_settled(&c, &["describe", "nodes"]).await?;
    c.shutdown().await
}
