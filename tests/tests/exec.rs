//! Interactive exec end to end, on a one-node cluster-in-a-box ([`Cluster`]: etcd and
//! kube-apiserver in the hub namespace, tinykube-runtime and the kubelet in the node namespace).
//!
//! - Through CRI alone: the `Exec` rpc hands out a one-time URL on the runtime's streaming
//!   server (loopback of the node namespace), and a WebSocket client speaking the remotecommand
//!   protocol (`v5.channel.k8s.io`/`v4.channel.k8s.io`) runs commands with stdout/stderr,
//!   stdin with the v5 close-stream, a tty with resizes, and gets the exit code in the error
//!   channel's Status.
//! - Through the whole chain (kubectl -> apiserver `pods/exec` -> kubelet `/exec` -> runtime),
//!   with the REAL kubectl (`/usr/bin/kubectl`, WebSocket v5) and with ours: output, exit codes
//!   passed through, stdin, `-c`, errors for a missing pod or container, and `-it` under a
//!   pseudo-terminal (`script` from util-linux) with a tty inside that follows the size.
//!
//! Needs root and `cargo build --workspace --bins` first.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Context};
use futures::{SinkExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;
use tinykube_cri_proto::v1 as cri;
use tinykube_tests::cluster::{cstatus, phase, Cluster};
use tinykube_tests::kubectl::{check, shell_line, Kubectl};
use tinykube_tests::CmdOutput;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// Bound of every single command or session of these tests.
const LIMIT: Duration = Duration::from_secs(60);

fn pod_yaml(node: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: shell}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: main, image: busybox, command: [sleep, '3600'], env: [{{name: WHO, value: main}}]}}
  - {{name: side, image: busybox, command: [sleep, '3600'], env: [{{name: WHO, value: side}}]}}
"
    )
}

/// A cluster with the two-container pod `shell` running.
async fn cluster_with_shell() -> anyhow::Result<(Cluster, Pod)> {
    let c = Cluster::start().await?;
    c.apply(&pod_yaml(&c.node_name)).await?;
    let pod = c
        .wait_pod("shell", "both containers running", |p| {
            phase(p) == "Running"
                && ["main", "side"].iter().all(|name| {
                    cstatus(p, name)
                        .state
                        .is_some_and(|state| state.running.is_some())
                })
        })
        .await?;
    Ok((c, pod))
}

fn container_id(pod: &Pod, name: &str) -> anyhow::Result<String> {
    Ok(cstatus(pod, name)
        .container_id
        .context("container has no id")?
        .trim_start_matches("tinykube://")
        .to_string())
}

/// A TCP connection made from inside network namespace `netns` (the socket keeps it).
fn connect_in_netns(netns: &str, address: &str) -> anyhow::Result<std::net::TcpStream> {
    let path = format!("/run/netns/{netns}");
    let address = address.to_string();
    std::thread::spawn(move || -> anyhow::Result<std::net::TcpStream> {
        let namespace = std::fs::File::open(&path).with_context(|| path.clone())?;
        nix::sched::setns(namespace, nix::sched::CloneFlags::CLONE_NEWNET)?;
        let stream = std::net::TcpStream::connect(&address).with_context(|| address.clone())?;
        stream.set_nonblocking(true)?;
        Ok(stream)
    })
    .join()
    .map_err(|_| anyhow!("connect thread panicked"))?
}

/// What a client saw of one exec session.
#[derive(Debug, Default)]
struct Session {
    protocol: String,
    first: Vec<u8>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    status: Option<Value>,
    closed_normally: bool,
}

/// Runs one session against a streaming URL from the node namespace: offers `protocols`,
/// sends `input` (whole messages, channel byte included) once connected, and reads until the
/// server closes.
async fn stream_session(
    c: &Cluster,
    url: &str,
    protocols: &str,
    input: Vec<Vec<u8>>,
) -> anyhow::Result<Session> {
    let address = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .context("url")?;
    let tcp = tokio::net::TcpStream::from_std(connect_in_netns(c.node.name(), address)?)?;
    let mut request = url.replace("http://", "ws://").into_client_request()?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", protocols.parse()?);
    let (mut ws, response) = tokio_tungstenite::client_async(request, tcp).await?;
    let mut session = Session {
        protocol: response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        ..Default::default()
    };
    for message in input {
        ws.send(Message::binary(message)).await?;
    }
    tokio::time::timeout(LIMIT, async {
        while let Some(message) = ws.next().await {
            match message? {
                Message::Binary(data)
                    if session.first.is_empty()
                        && session.status.is_none()
                        && data.len() == 1
                        && session.stdout.is_empty() =>
                {
                    session.first = data.to_vec();
                }
                Message::Binary(data) => match data.first() {
                    Some(1) => session.stdout.extend_from_slice(&data[1..]),
                    Some(2) => session.stderr.extend_from_slice(&data[1..]),
                    Some(3) if data.len() > 1 => {
                        session.status = Some(serde_json::from_slice(&data[1..])?)
                    }
                    _ => {}
                },
                Message::Close(frame) => {
                    session.closed_normally = frame.is_some_and(|f| u16::from(f.code) == 1000);
                }
                _ => {}
            }
        }
        anyhow::Ok(())
    })
    .await
    .context("session did not end")??;
    Ok(session)
}

async fn exec_url(c: &Cluster, request: cri::ExecRequest) -> anyhow::Result<String> {
    Ok(c.cri().await?.exec(request).await?.into_inner().url)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_through_cri_and_the_streaming_server() -> anyhow::Result<()> {
    let (c, pod) = cluster_with_shell().await?;
    let main = container_id(&pod, "main")?;
    let request = |cmd: &[&str]| cri::ExecRequest {
        container_id: main.clone(),
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        tty: false,
        stdin: false,
        stdout: true,
        stderr: true,
    };

    // Output on separate channels, the exit code in the error channel, a normal close.
    let url = exec_url(&c, request(&["sh", "-c", "echo hi; echo oops >&2; exit 3"])).await?;
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let s = stream_session(&c, &url, "v5.channel.k8s.io, v4.channel.k8s.io", vec![]).await?;
    assert_eq!(s.protocol, "v5.channel.k8s.io");
    assert_eq!(
        s.first,
        vec![1],
        "the session opens with an empty stdout message"
    );
    assert_eq!(text(&s.stdout), "hi\n");
    assert_eq!(text(&s.stderr), "oops\n");
    let status = s.status.context("no status")?;
    assert_eq!(status["status"], "Failure", "{status}");
    assert_eq!(status["reason"], "NonZeroExitCode", "{status}");
    assert_eq!(
        status["details"]["causes"][0],
        serde_json::json!({"reason": "ExitCode", "message": "3"})
    );
    assert!(s.closed_normally);

    // The URL was for one session only.
    let again = stream_session(&c, &url, "v5.channel.k8s.io", vec![]).await;
    assert!(
        again.as_ref().is_err_and(|e| e.to_string().contains("404")),
        "{again:?}"
    );

    // Stdin, ended with the v5 close-stream of channel 0: cat sees EOF and exits 0.
    let url = exec_url(
        &c,
        cri::ExecRequest {
            stdin: true,
            ..request(&["cat"])
        },
    )
    .await?;
    let s = stream_session(
        &c,
        &url,
        "v5.channel.k8s.io",
        vec![b"\x00da".to_vec(), b"\x00ta\n".to_vec(), vec![255, 0]],
    )
    .await?;
    assert_eq!(text(&s.stdout), "data\n");
    assert_eq!(
        s.status,
        Some(serde_json::json!({"metadata": {}, "status": "Success"}))
    );

    // v4 only: still served, with the same Status.
    let url = exec_url(&c, request(&["sh", "-c", "echo $WHO"])).await?;
    let s = stream_session(&c, &url, "v4.channel.k8s.io", vec![]).await?;
    assert_eq!(s.protocol, "v4.channel.k8s.io");
    assert_eq!(text(&s.stdout), "main\n");
    assert_eq!(s.status.context("no status")?["status"], "Success");

    // A tty: a pts of the container's own devpts, sized by the first resize message.
    let url = exec_url(
        &c,
        cri::ExecRequest {
            tty: true,
            stdin: true,
            stderr: false,
            ..request(&["sh", "-c", "tty; stty size"])
        },
    )
    .await?;
    let s = stream_session(
        &c,
        &url,
        "v5.channel.k8s.io",
        vec![b"\x04{\"Width\":111,\"Height\":33}\n".to_vec()],
    )
    .await?;
    let out = text(&s.stdout);
    assert!(out.contains("/dev/pts/"), "{out:?}");
    assert!(out.contains("33 111"), "{out:?}");
    assert!(s.stderr.is_empty());

    // Bad requests are refused by the rpc itself.
    let mut rt = c.cri().await?;
    let refused = rt
        .exec(cri::ExecRequest {
            tty: true,
            ..request(&["ls"])
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        refused.message(),
        "invalid argument: tty and stderr cannot both be true"
    );
    let missing = rt
        .exec(cri::ExecRequest {
            container_id: "no-such-container".into(),
            ..request(&["ls"])
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    c.shutdown().await
}

/// Runs `kubectl args` (and `stdin`) inside the hub namespace with the cluster's kubeconfig.
async fn run(
    c: &Cluster,
    kubectl: Kubectl,
    args: &[&str],
    stdin: Option<&str>,
) -> anyhow::Result<CmdOutput> {
    Ok(c.control_plane
        .kubectl_invocation(kubectl.program()?)
        .args(args)
        .stdin(stdin.unwrap_or_default())
        .timeout(LIMIT)
        .run()
        .await?)
}

/// Runs `kubectl args` with a pseudo-terminal as stdin/stdout (util-linux `script`), sized
/// `rows` x `cols` first and resized to `later` two seconds in (the kernel then sends
/// SIGWINCH to kubectl, in the terminal's foreground process group). The background job
/// names the terminal itself: a non-interactive shell gives it /dev/null as stdin.
async fn run_in_pty(
    c: &Cluster,
    kubectl: Kubectl,
    (rows, cols): (u16, u16),
    later: (u16, u16),
    args: &[&str],
) -> anyhow::Result<CmdOutput> {
    let mut words = c.control_plane.kubectl_words(kubectl.program()?);
    words.extend(args.iter().map(PathBuf::from));
    let script = format!(
        "stty rows {rows} cols {cols}; (sleep 2; stty -F /dev/tty rows {} cols {}) & exec {}",
        later.0,
        later.1,
        shell_line(&words)
    );
    Ok(c.control_plane
        .in_hub()
        .args(["script", "-qec", &script, "/dev/null"])
        .timeout(LIMIT)
        .run()
        .await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_exec_real_and_ours() -> anyhow::Result<()> {
    let (c, _pod) = cluster_with_shell().await?;
    for kubectl in Kubectl::BOTH {
        let who = format!("{kubectl:?}");
        let out = run(&c, kubectl, &["exec", "shell", "--", "echo", "hi"], None).await?;
        check(
            &format!("{who} echo"),
            out.success() && out.stdout == "hi\n",
            &out,
        )?;
        check(
            &format!("{who} default container note"),
            out.stderr
                .contains("Defaulted container \"main\" out of: main, side"),
            &out,
        )?;

        let out = run(
            &c,
            kubectl,
            &["exec", "shell", "-c", "side", "--", "sh", "-c", "echo $WHO"],
            None,
        )
        .await?;
        check(
            &format!("{who} -c side"),
            out.success() && out.stdout == "side\n",
            &out,
        )?;

        let out = run(
            &c,
            kubectl,
            &[
                "exec",
                "shell",
                "-c",
                "main",
                "--",
                "sh",
                "-c",
                "echo out; echo err >&2; exit 3",
            ],
            None,
        )
        .await?;
        check(
            &format!("{who} exit 3"),
            out.status.code() == Some(3)
                && out.stdout == "out\n"
                && out.stderr.contains("err\n")
                && out.stderr.contains("command terminated with exit code 3"),
            &out,
        )?;

        let out = run(
            &c,
            kubectl,
            &["exec", "-i", "shell", "-c", "main", "--", "cat"],
            Some("data\n"),
        )
        .await?;
        check(
            &format!("{who} -i cat"),
            out.success() && out.stdout == "data\n",
            &out,
        )?;

        let out = run(&c, kubectl, &["exec", "nopod", "--", "ls"], None).await?;
        check(
            &format!("{who} missing pod"),
            !out.success() && out.stderr.contains("pods \"nopod\" not found"),
            &out,
        )?;

        let out = run(
            &c,
            kubectl,
            &["exec", "shell", "-c", "nope", "--", "ls"],
            None,
        )
        .await?;
        check(
            &format!("{who} missing container"),
            !out.success()
                && out
                    .stderr
                    .contains("container nope is not valid for pod shell"),
            &out,
        )?;

        let out = run_in_pty(&c, kubectl,
                (33, 111),
                (40, 120),
                &[
                    "exec",
                    "-it",
                    "shell",
                    "-c",
                    "main",
                    "--",
                    "sh",
                    "-c",
                    // The first size, then (bounded) the size once the terminal was resized (stty sets
                    // rows and columns one at a time: wait for both).
                    "tty; stty size; i=0; while [ \"$(stty size)\" != '40 120' ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done; echo now $(stty size); exit 4",
                ],
            )
            .await?;
        check(
            &format!("{who} -it"),
            out.status.code() == Some(4)
                && out.stdout.contains("/dev/pts/")
                && out.stdout.contains("33 111")
                && out.stdout.contains("now 40 120"),
            &out,
        )?;
    }

    // The apiserver's own answers before any upgrade.
    let raw = |query: &str| format!("/api/v1/namespaces/default/pods/shell/exec?{query}");
    let cases = [
        (
            raw("stdout=true"),
            "you must specify at least one command for the container",
        ),
        (
            raw("command=ls&stdout=true"),
            "a container name must be specified for pod shell, choose one of: [main side]",
        ),
        (
            raw("command=ls&stdout=true&container=main"),
            "Upgrade request required",
        ),
        (
            raw("command=ls&stdout=true&container=nope"),
            "container nope is not valid for pod shell",
        ),
    ];
    for (path, message) in cases {
        let out = c.kubectl(&["get", "--raw", &path]).await?;
        check(
            &format!("GET {path}"),
            !out.success() && out.stderr.contains(message) && out.stderr.contains("BadRequest"),
            &out,
        )?;
    }
    c.shutdown().await
}
