//! kubelet end to end on a cluster-in-a-box ([`tinykube_tests::cluster`]): etcd and
//! kube-apiserver in a hub namespace, tinykube-runtime and the kubelet in a node namespace,
//! driven with the real kubectl and the runtime's CRI socket.
//!
//! Needs root and `cargo build -p tinykube-kubelet -p tinykube-runtime -p tinykube-apiserver
//! --bins` first.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tinykube_cri_proto::v1 as cri;
use tinykube_tests::binary_path;
use tinykube_tests::cluster::{condition, cstatus, phase, Cluster, ClusterOptions, WAIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_registration_lease_and_status() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    let n = c.get_json(&["node", &c.node_name]).await?.context("node")?;
    let addrs = n["status"]["addresses"].as_array().context("addresses")?;
    assert!(
        addrs
            .iter()
            .any(|a| a["type"] == "InternalIP" && a["address"] == c.node.ip().to_string()),
        "{addrs:?}"
    );
    assert_eq!(n["status"]["capacity"]["pods"], "110");
    assert_eq!(
        n["status"]["allocatable"]["cpu"],
        std::thread::available_parallelism()?.get().to_string()
    );
    assert!(n["status"]["capacity"]["memory"]
        .as_str()
        .unwrap_or("")
        .ends_with("Ki"));
    for kind in ["MemoryPressure", "DiskPressure", "PIDPressure"] {
        assert!(
            n["status"]["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["type"] == kind),
            "{kind}"
        );
    }
    let lease = c
        .get_json(&["lease", "-n", "kube-node-lease", &c.node_name])
        .await?
        .context("lease")?;
    assert_eq!(lease["spec"]["holderIdentity"], c.node_name.as_str());
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 40);
    // The CNI config the kubelet wrote names the pod CIDR.
    let conf = std::fs::read_to_string(c.d().join("net.d/10-tinykube.conflist"))?;
    assert!(conf.contains(&c.pod_cidr), "{conf}");
    assert!(c.kubelet_get("/healthz").await?.contains("ok"));
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_with_init_env_volumes_runs_and_reports_status() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    c.apply(
        r#"
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: s3cret, user: admin}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: conf}
data: {mode: fast, "app.conf": "level=1"}
---
apiVersion: v1
kind: Service
metadata: {name: web-svc}
spec:
  ports: [{port: 80, targetPort: 8080}]
"#,
    )
    .await?;
    let manifest = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: app, labels: {{tier: front}}}}
spec:
  nodeName: {node}
  restartPolicy: Always
  volumes:
  - {{name: shared, emptyDir: {{}}}}
  - {{name: sec, secret: {{secretName: creds, defaultMode: 0400}}}}
  - {{name: cfg, configMap: {{name: conf, items: [{{key: app.conf, path: conf/app.conf}}]}}}}
  initContainers:
  - name: init1
    image: busybox
    command: [sh, -c, "echo first > /shared/order"]
    volumeMounts: [{{name: shared, mountPath: /shared}}]
  - name: init2
    image: busybox
    command: [sh, -c, "echo second >> /shared/order"]
    volumeMounts: [{{name: shared, mountPath: /shared}}]
  containers:
  - name: main
    image: busybox
    command: [sh, -c]
    args:
    - |
      echo "ORDER=$(cat /shared/order | tr '\n' ,)"
      echo "PW=$PW MODE=$MODE NAME=$POD_NAME NS=$POD_NS UID=$POD_UID TIER=$TIER IP=$POD_IP NODE=$NODE"
      echo "SVC=$WEB_SVC_SERVICE_HOST:$WEB_SVC_SERVICE_PORT LINK=$WEB_SVC_PORT_80_TCP_ADDR"
      echo "FROM=$cfg_mode"
      echo "SECRETFILE=$(cat /sec/password) MODEBITS=$(stat -L -c %a /sec/password)"
      echo "CFGFILE=$(cat /cfg/conf/app.conf)"
      touch /sec/x 2>/dev/null && echo SECRET_RW || echo SECRET_RO
      echo ready; sleep 3600
    env:
    - {{name: PW, valueFrom: {{secretKeyRef: {{name: creds, key: password}}}}}}
    - {{name: MODE, valueFrom: {{configMapKeyRef: {{name: conf, key: mode}}}}}}
    - {{name: POD_NAME, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}
    - {{name: POD_NS, valueFrom: {{fieldRef: {{fieldPath: metadata.namespace}}}}}}
    - {{name: POD_UID, valueFrom: {{fieldRef: {{fieldPath: metadata.uid}}}}}}
    - {{name: TIER, valueFrom: {{fieldRef: {{fieldPath: "metadata.labels['tier']"}}}}}}
    - {{name: POD_IP, valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}}}
    - {{name: NODE, valueFrom: {{fieldRef: {{fieldPath: spec.nodeName}}}}}}
    envFrom: [{{prefix: cfg_, configMapRef: {{name: conf}}}}]
    volumeMounts:
    - {{name: shared, mountPath: /shared}}
    - {{name: sec, mountPath: /sec}}
    - {{name: cfg, mountPath: /cfg}}
    resources:
      limits: {{cpu: 500m, memory: 64Mi}}
"#,
        node = c.node_name
    );
    c.apply(&manifest).await?;
    let p = c
        .wait_pod("app", "Running and Ready", |p| {
            phase(p) == "Running" && condition(p, "Ready") == "True"
        })
        .await?;
    let st = p.status.clone().unwrap();
    let ip = st.pod_ip.clone().context("podIP")?;
    assert!(
        ip.starts_with(c.pod_cidr.trim_end_matches("0/24")),
        "{ip} in {}",
        c.pod_cidr
    );
    assert_eq!(
        st.host_ip.as_deref(),
        Some(c.node.ip().to_string().as_str())
    );
    assert!(st.start_time.is_some());
    // Init containers without resources make it Burstable, as upstream.
    assert_eq!(st.qos_class.as_deref(), Some("Burstable"));
    for k in ["PodScheduled", "Initialized", "ContainersReady", "Ready"] {
        assert_eq!(condition(&p, k), "True", "{k}");
    }
    let inits = st.init_container_statuses.clone().unwrap();
    assert!(inits.iter().all(|s| s
        .state
        .as_ref()
        .unwrap()
        .terminated
        .as_ref()
        .unwrap()
        .exit_code
        == 0));
    let main = cstatus(&p, "main");
    assert!(main.state.as_ref().unwrap().running.is_some());
    assert!(main
        .container_id
        .as_deref()
        .unwrap_or("")
        .starts_with("tinykube://"));
    assert!(!main.image_id.is_empty());
    assert_eq!(main.restart_count, 0);

    let uid = p.metadata.uid.clone().unwrap();
    let deadline = Instant::now() + WAIT;
    let logs = loop {
        let l = c
            .kubelet_get("/containerLogs/default/app/main")
            .await
            .unwrap_or_default();
        if l.contains("ready") || Instant::now() > deadline {
            break l;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(logs.contains("ORDER=first,second,"), "{logs}");
    assert!(
        logs.contains(&format!(
            "PW=s3cret MODE=fast NAME=app NS=default UID={uid} TIER=front IP={ip} NODE={}",
            c.node_name
        )),
        "{logs}"
    );
    assert!(logs.contains("LINK=10."), "{logs}");
    assert!(logs.contains(":80 "), "{logs}");
    assert!(logs.contains("FROM=fast"), "{logs}");
    assert!(logs.contains("SECRETFILE=s3cret MODEBITS=400"), "{logs}");
    assert!(logs.contains("CFGFILE=level=1"), "{logs}");
    assert!(logs.contains("SECRET_RO"), "{logs}");
    let tail = c
        .kubelet_get("/containerLogs/default/app/main?tailLines=1")
        .await?;
    assert_eq!(tail.trim(), "ready");
    let pods = c.kubelet_get("/pods").await?;
    assert!(pods.contains("\"app\""), "{pods}");

    // configMap volumes follow the object.
    c.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: conf}\ndata: {mode: fast, \"app.conf\": \"level=2\"}\n").await?;
    let file = c.d().join(format!(
        "kubelet/pods/{uid}/volumes/kubernetes.io~configmap/cfg/conf/app.conf"
    ));
    let deadline = Instant::now() + WAIT;
    while std::fs::read_to_string(&file).unwrap_or_default() != "level=2" {
        anyhow::ensure!(
            Instant::now() < deadline,
            "configmap volume not updated\n{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Events for the lifecycle.
    let ev = c
        .kubectl(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=app",
            "-o",
            "jsonpath={.items[*].reason}",
        ])
        .await?;
    for r in ["Pulling", "Pulled", "Created", "Started"] {
        assert!(ev.stdout.contains(r), "{r} in {}", ev.stdout);
    }
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_deletion_runs_prestop_and_cleans_up() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    let hostdir = c.d().join("host");
    std::fs::create_dir_all(&hostdir)?;
    c.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: stopper}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 5
  volumes: [{{name: h, hostPath: {{path: {host}}}}}]
  containers:
  - name: c
    image: busybox
    command: [sh, -c, "trap 'echo TERM >> /h/log; exit 0' TERM; while true; do sleep 0.1; done"]
    volumeMounts: [{{name: h, mountPath: /h}}]
    lifecycle:
      preStop:
        exec: {{command: [sh, -c, "echo PRESTOP >> /h/log"]}}
"#,
        node = c.node_name,
        host = hostdir.display()
    ))
    .await?;
    c.wait_pod("stopper", "Running", |p| phase(p) == "Running")
        .await?;
    let out = c
        .kubectl(&["delete", "pod", "stopper", "--wait=false"])
        .await?;
    assert!(out.success(), "{}", out.stderr);
    c.wait_gone("pod", "stopper").await?;
    let log = std::fs::read_to_string(hostdir.join("log"))?;
    assert_eq!(log, "PRESTOP\nTERM\n");
    assert_eq!(c.runtime_counts().await?, (0, 0));
    let ev = c
        .kubectl(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=stopper",
            "-o",
            "jsonpath={.items[*].reason}",
        ])
        .await?;
    assert!(ev.stdout.contains("Killing"), "{}", ev.stdout);
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashloop_backoff_and_restart_policies() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    for (name, policy, code) in [
        ("crash", "Always", 3),
        ("once", "Never", 4),
        ("fine", "OnFailure", 0),
    ] {
        c.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  nodeName: {}\n  restartPolicy: {policy}\n  containers:\n  - {{name: c, image: busybox, command: [sh, -c, 'exit {code}']}}\n", c.node_name)).await?;
    }
    let p = c
        .wait_pod("crash", "CrashLoopBackOff after restarts", |p| {
            let s = cstatus(p, "c");
            s.restart_count >= 1
                && s.state
                    .as_ref()
                    .and_then(|s| s.waiting.as_ref())
                    .and_then(|w| w.reason.as_deref())
                    == Some("CrashLoopBackOff")
        })
        .await?;
    let s = cstatus(&p, "c");
    assert_eq!(s.last_state.unwrap().terminated.unwrap().exit_code, 3);
    let p = c
        .wait_pod("once", "Failed", |p| phase(p) == "Failed")
        .await?;
    let t = cstatus(&p, "c").state.unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (4, Some("Error")));
    assert_eq!(cstatus(&p, "c").restart_count, 0);
    let p = c
        .wait_pod("fine", "Succeeded", |p| phase(p) == "Succeeded")
        .await?;
    assert_eq!(
        cstatus(&p, "c")
            .state
            .unwrap()
            .terminated
            .unwrap()
            .reason
            .as_deref(),
        Some("Completed")
    );
    let ev = c
        .kubectl(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=crash",
            "-o",
            "jsonpath={.items[*].reason}",
        ])
        .await?;
    assert!(ev.stdout.contains("BackOff"), "{}", ev.stdout);
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_drive_readiness_and_liveness_restarts() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    c.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: probed}}
spec:
  nodeName: {node}
  containers:
  - name: web
    image: busybox
    command: [sh, -c, "mkdir -p /www && echo hi > /www/index.html && httpd -f -p 8080 -h /www"]
    readinessProbe:
      httpGet: {{path: /index.html, port: 8080}}
      periodSeconds: 1
    livenessProbe:
      tcpSocket: {{port: 8080}}
      periodSeconds: 1
  - name: flaky
    image: busybox
    command: [sh, -c, "touch /tmp/alive; sleep 3600"]
    livenessProbe:
      exec: {{command: [test, -f, /tmp/alive]}}
      initialDelaySeconds: 1
      periodSeconds: 1
      failureThreshold: 2
"#,
        node = c.node_name
    ))
    .await?;
    c.wait_pod("probed", "Ready", |p| condition(p, "Ready") == "True")
        .await?;
    // Break the exec liveness probe: the container is restarted.
    let p = c.pod("probed").await?.context("pod")?;
    let id = cstatus(&p, "flaky")
        .container_id
        .unwrap()
        .trim_start_matches("tinykube://")
        .to_string();
    let mut rt = c.cri().await?;
    rt.exec_sync(cri::ExecSyncRequest {
        container_id: id,
        cmd: vec!["rm".into(), "/tmp/alive".into()],
        timeout: 10,
    })
    .await?;
    c.wait_pod("probed", "flaky restarted", |p| {
        cstatus(p, "flaky").restart_count >= 1
    })
    .await?;
    // Break readiness: web is not Ready, pod not Ready.
    let p = c.pod("probed").await?.context("pod")?;
    let id = cstatus(&p, "web")
        .container_id
        .unwrap()
        .trim_start_matches("tinykube://")
        .to_string();
    rt.exec_sync(cri::ExecSyncRequest {
        container_id: id,
        cmd: vec!["rm".into(), "/www/index.html".into()],
        timeout: 10,
    })
    .await?;
    let p = c
        .wait_pod("probed", "not Ready", |p| condition(p, "Ready") == "False")
        .await?;
    assert!(!cstatus(&p, "web").ready);
    assert_eq!(cstatus(&p, "web").restart_count, 0);
    let ev = c
        .kubectl(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=probed",
            "-o",
            "jsonpath={.items[*].reason}",
        ])
        .await?;
    assert!(
        ev.stdout.contains("Unhealthy") && ev.stdout.contains("Killing"),
        "{}",
        ev.stdout
    );
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubelet_restart_adopts_running_pods() -> anyhow::Result<()> {
    let mut c = Cluster::start().await?;
    c.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: keep}}\nspec:\n  nodeName: {}\n  containers:\n  - {{name: c, image: busybox, command: [sleep, '3600']}}\n", c.node_name)).await?;
    let before = c
        .wait_pod("keep", "Running", |p| {
            phase(p) == "Running" && condition(p, "Ready") == "True"
        })
        .await?;
    let mut k = c.kubelet.take().context("kubelet")?;
    k.signal("KILL");
    let _ = k.wait_exit(Duration::from_secs(10)).await;
    drop(k);
    c.start_kubelet()?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = c
        .wait_pod("keep", "Running", |p| phase(p) == "Running")
        .await?;
    let (b, a) = (cstatus(&before, "c"), cstatus(&after, "c"));
    assert_eq!(a.container_id, b.container_id);
    assert_eq!(a.restart_count, 0);
    assert_eq!(
        after.status.as_ref().unwrap().pod_ip,
        before.status.as_ref().unwrap().pod_ip
    );
    assert_eq!(c.runtime_counts().await?, (1, 1));
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_pods_and_mirror_pods() -> anyhow::Result<()> {
    // The full rescan is 10 minutes away: only the inotify watch can see the files below.
    let c = Cluster::start_with(ClusterOptions {
        kubelet_args: vec!["--file-check-frequency".into(), "10m".into()],
        ..Default::default()
    })
    .await?;
    let m = c.d().join("manifests");
    std::fs::write(m.join("bad.yaml"), "kind: Pod\nmetadata: [broken")?;
    std::fs::write(m.join("web.yaml"), "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - {name: c, image: busybox, command: [sleep, '3600']}\n")?;
    let mirror = format!("web-{}", c.node_name);
    let p = c
        .wait_pod(&mirror, "mirror Running", |p| phase(p) == "Running")
        .await?;
    assert!(p
        .metadata
        .annotations
        .as_ref()
        .unwrap()
        .contains_key("kubernetes.io/config.mirror"));
    // Deleted mirror pods come back; the static pod keeps running.
    let out = c
        .kubectl(&["delete", "pod", &mirror, "--wait=false"])
        .await?;
    assert!(out.success(), "{}", out.stderr);
    let uid = p.metadata.uid.clone();
    c.wait_pod(&mirror, "mirror recreated", |p| {
        p.metadata.uid != uid && phase(p) == "Running"
    })
    .await?;
    assert_eq!(c.runtime_counts().await?, (1, 1));
    let log = c.kubelet.as_ref().unwrap().log();
    assert!(
        log.contains("bad.yaml"),
        "malformed manifest not logged by name"
    );
    // Removing the file stops the pod and removes the mirror.
    std::fs::remove_file(m.join("web.yaml"))?;
    c.wait_gone("pod", &mirror).await?;
    c.wait_runtime_empty(WAIT)
        .await
        .context("static pod not stopped")?;
    c.shutdown().await
}

/// The real `kubectl logs` goes to the apiserver, which streams the log from the pod's kubelet
/// (found through the Node's InternalIP and kubelet port): whole, tailed, with timestamps, and
/// with a clear error for a container the pod does not have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_logs_are_proxied_through_the_apiserver() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    c.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: talker}}
spec:
  nodeName: {node}
  containers:
  - name: c
    image: busybox
    command: [sh, -c, "echo first line; echo second line; sleep 3600"]
"#,
        node = c.node_name
    ))
    .await?;
    c.wait_pod("talker", "Running", |p| phase(p) == "Running")
        .await?;
    let whole = c
        .wait_kubectl_output(&["logs", "talker"], "second line")
        .await?;
    assert_eq!(whole, "first line\nsecond line\n");
    let tail = c
        .kubectl(&["logs", "talker", "--tail=1", "--timestamps"])
        .await?;
    assert!(tail.success(), "{}", tail.stderr);
    let line = tail.stdout.trim_end();
    assert!(
        line.ends_with(" second line") && !line.contains("first"),
        "{line}"
    );
    assert!(
        line.starts_with("20") && line.contains('T'),
        "timestamp missing: {line}"
    );
    let wrong = c.kubectl(&["logs", "talker", "-c", "nope"]).await?;
    assert!(!wrong.success());
    assert!(
        wrong
            .stderr
            .contains("container nope is not valid for pod talker"),
        "{}",
        wrong.stderr
    );
    c.shutdown().await
}

/// The node's pressure conditions follow the eviction thresholds: met ones are True with
/// upstream's reasons, others False; a malformed `--eviction-hard` stops the kubelet with a
/// one-line error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pressure_conditions_follow_eviction_thresholds() -> anyhow::Result<()> {
    let bad = std::process::Command::new(binary_path("kubelet")?)
        .args(["--eviction-hard", "memory.free<1Gi"])
        .output()?;
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(
        err.trim(),
        "kubelet: --eviction-hard: \"memory.free<1Gi\": unknown eviction signal \"memory.free\""
    );

    // Always met: less than all of the disk free, less than all pids free. Never met: less
    // than one byte of memory.
    let c = Cluster::start_with(ClusterOptions {
        kubelet_args: vec![
            "--eviction-hard".into(),
            "nodefs.available<100%,pid.available<100%,memory.available<1".into(),
            "--eviction-pressure-transition-period".into(),
            "0s".into(),
        ],
        ..Default::default()
    })
    .await?;
    let n = c.get_json(&["node", &c.node_name]).await?.context("node")?;
    let find = |kind: &str| {
        n["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|x| x["type"] == kind)
            .map(|x| {
                (
                    x["status"].as_str().unwrap_or("").to_string(),
                    x["reason"].as_str().unwrap_or("").to_string(),
                )
            })
    };
    assert_eq!(
        find("DiskPressure"),
        Some(("True".into(), "KubeletHasDiskPressure".into()))
    );
    assert_eq!(
        find("PIDPressure"),
        Some(("True".into(), "KubeletHasInsufficientPID".into()))
    );
    assert_eq!(
        find("MemoryPressure"),
        Some(("False".into(), "KubeletHasSufficientMemory".into()))
    );
    assert_eq!(find("Ready").map(|r| r.0), Some("True".into()));
    c.shutdown().await
}

/// `/metrics` on the kubelet port: upstream's kubelet series follow the pods.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_the_pods() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    c.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: counted}}\nspec:\n  nodeName: {}\n  containers:\n  - {{name: a, image: busybox, imagePullPolicy: IfNotPresent, command: [sleep, '3600']}}\n  - {{name: b, image: busybox, imagePullPolicy: IfNotPresent, command: [sleep, '3600']}}\n", c.node_name)).await?;
    c.wait_pod("counted", "Running", |p| phase(p) == "Running")
        .await?;
    let want = [
        "kubelet_running_pods 1\n",
        "kubelet_running_containers{container_state=\"running\"} 2\n",
        "kubelet_running_containers{container_state=\"exited\"} 0\n",
        "kubelet_pod_start_duration_seconds_count 1\n",
        "kubelet_pod_worker_duration_seconds_count{operation_type=\"create\"} 1\n",
        "# TYPE kubelet_pod_worker_duration_seconds histogram",
        "process_start_time_seconds",
    ];
    // The running gauges follow the runtime's relist (every 2 s).
    let deadline = Instant::now() + WAIT;
    let text = loop {
        let text = c.kubelet_get("/metrics").await?;
        if want.iter().all(|w| text.contains(w)) {
            break text;
        }
        if Instant::now() > deadline {
            bail!("metrics never showed {want:?}:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(
        text.contains("kubelet_pod_worker_duration_seconds_count{operation_type=\"sync\"}"),
        "{text}"
    );
    // Deleting the pod brings the gauges back to zero.
    let out = c
        .kubectl(&["delete", "pod", "counted", "--wait=false"])
        .await?;
    assert!(out.success(), "{}", out.stderr);
    c.wait_gone("pod", "counted").await?;
    let deadline = Instant::now() + WAIT;
    loop {
        let text = c.kubelet_get("/metrics").await?;
        if text.contains("kubelet_running_pods 0\n")
            && text.contains("kubelet_running_containers{container_state=\"running\"} 0\n")
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("running gauges never went back to 0:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    c.shutdown().await
}
