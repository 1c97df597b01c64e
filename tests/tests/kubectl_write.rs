//! Our kubectl's writing verbs (issue 9) against a real etcd + kube-apiserver, each command
//! compared with the real `/usr/bin/kubectl` run on a twin object where upstream behaviour
//! matters: `apply` (files, directories, stdin, JSON, `kind: List`, the last-applied annotation,
//! three-way patches, interplay with the real kubectl), `create` and its generators, `expose`,
//! `delete`, `scale`, `set image`, `label`, `annotate`, `edit`, and `rollout` with the
//! controller manager and a hollow status writer standing in for kubelets.
//!
//! Needs root and the binaries: `cargo build -p tinykube-apiserver -p tinykube-controller-manager
//! -p tinykube-kubectl --bins` (or `cargo build --workspace --bins`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::{json, Value};
use tinykube_tests::apiserver::describe_output;
use tinykube_tests::kubectl::{ours, real};
use tinykube_tests::{
    free_port, require_root, wait_for_healthz, CmdOutput, ControlPlane, Launch, Process,
};

/// How long any condition may take to come true.
const WAIT: Duration = Duration::from_secs(60);

async fn start() -> ControlPlane {
    require_root();
    ControlPlane::start()
        .await
        .unwrap_or_else(|e| panic!("could not start etcd + kube-apiserver: {e}"))
}

async fn run_ours(cp: &ControlPlane, args: &[&str]) -> CmdOutput {
    ours(cp)
        .unwrap_or_else(|e| panic!("our kubectl is not built: {e}"))
        .args(args)
        .run()
        .await
        .unwrap_or_else(|e| panic!("kubectl {}: {e}", args.join(" ")))
}

async fn run_ours_stdin(cp: &ControlPlane, args: &[&str], stdin: &str) -> CmdOutput {
    ours(cp)
        .unwrap_or_else(|e| panic!("our kubectl is not built: {e}"))
        .args(args)
        .stdin(stdin)
        .run()
        .await
        .unwrap_or_else(|e| panic!("kubectl {}: {e}", args.join(" ")))
}

async fn run_real(cp: &ControlPlane, args: &[&str]) -> CmdOutput {
    real(cp)
        .args(args)
        .run()
        .await
        .unwrap_or_else(|e| panic!("real kubectl {}: {e}", args.join(" ")))
}

/// Runs our kubectl and asserts it succeeded; returns stdout.
async fn ok(cp: &ControlPlane, args: &[&str]) -> String {
    let out = run_ours(cp, args).await;
    assert!(
        out.success(),
        "our `kubectl {}` failed:\n{}",
        args.join(" "),
        describe_output(&out)
    );
    out.stdout
}

/// Runs the real kubectl and asserts it succeeded; returns stdout.
async fn real_ok(cp: &ControlPlane, args: &[&str]) -> String {
    let out = run_real(cp, args).await;
    assert!(
        out.success(),
        "real `kubectl {}` failed:\n{}",
        args.join(" "),
        describe_output(&out)
    );
    out.stdout
}

/// Runs the same command line through both; asserts equal exit codes, stdout and stderr
/// (after `twin` renames in the real one's output are mapped back).
async fn same(
    cp: &ControlPlane,
    ours_args: &[&str],
    real_args: &[&str],
    twin: &[(&str, &str)],
) -> CmdOutput {
    let mine = run_ours(cp, ours_args).await;
    let theirs = run_real(cp, real_args).await;
    let unrename = |text: &str| {
        twin.iter()
            .fold(text.to_owned(), |t, (from, to)| t.replace(to, from))
    };
    assert_eq!(
        (mine.status.code(), mine.stdout.clone(), mine.stderr.clone()),
        (
            theirs.status.code(),
            unrename(&theirs.stdout),
            unrename(&theirs.stderr)
        ),
        "ours `{}` vs real `{}`",
        ours_args.join(" "),
        real_args.join(" ")
    );
    mine
}

/// The object as JSON through the real kubectl.
async fn get_json(cp: &ControlPlane, args: &[&str]) -> Value {
    let mut all = vec!["get", "-o", "json"];
    all.extend_from_slice(args);
    serde_json::from_str(&real_ok(cp, &all).await).expect("kubectl get -o json prints JSON")
}

fn last_applied(object: &Value) -> String {
    object["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create manifest directory");
    }
    std::fs::write(&path, text).expect("write manifest");
    path
}

fn web(namespace: &str, replicas: i32, containers: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {namespace}
  labels: {{app: web}}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
{containers}"#
    )
}

const CONTAINERS_V1: &str = r#"      - name: main
        image: busybox:1.36
        command: ["sh", "-c", "echo <&> ; sleep 3600"]
        ports: [{containerPort: 80}, {containerPort: 81}]
        env: [{name: A, value: "1"}, {name: B, value: "2"}]
"#;

const CONTAINERS_V2: &str = r#"      - name: side
        image: busybox:1.35
      - name: main
        image: busybox:1.37
        command: ["sh", "-c", "echo <&> ; sleep 3600"]
        ports: [{containerPort: 81}, {containerPort: 82, protocol: UDP}]
        env: [{name: B, value: "3"}]
"#;

fn template_spec(object: &Value) -> Value {
    object["spec"]["template"]["spec"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_creates_configures_and_takes_turns_with_the_real_kubectl() {
    let cp = start().await;
    let dir = cp.dir().to_path_buf();
    for ns in ["a", "b"] {
        real_ok(&cp, &["create", "namespace", ns]).await;
    }
    // The same manifest in two namespaces: ours applies in a, the real kubectl in b.
    let v1_a = write(&dir, "a/web.yaml", &web("a", 2, CONTAINERS_V1));
    let v1_b = write(&dir, "b/web.yaml", &web("b", 2, CONTAINERS_V1));
    let out = ok(&cp, &["apply", "-f", v1_a.to_str().unwrap()]).await;
    assert_eq!(out, "deployment.apps/web created\n");
    real_ok(&cp, &["apply", "-f", v1_b.to_str().unwrap()]).await;
    let ours_a = get_json(&cp, &["-n", "a", "deploy", "web"]).await;
    let real_b = get_json(&cp, &["-n", "b", "deploy", "web"]).await;
    assert_eq!(
        last_applied(&ours_a),
        last_applied(&real_b).replace("\"namespace\":\"b\"", "\"namespace\":\"a\""),
        "the last-applied annotation is upstream's text"
    );
    assert!(last_applied(&ours_a).contains("echo \\u003c\\u0026\\u003e"));

    // Unchanged: nothing is written (the resourceVersion stays).
    let rv = ours_a["metadata"]["resourceVersion"].clone();
    same(
        &cp,
        &["apply", "-f", v1_a.to_str().unwrap()],
        &["apply", "-f", v1_b.to_str().unwrap()],
        &[],
    )
    .await;
    assert_eq!(
        get_json(&cp, &["-n", "a", "deploy", "web"]).await["metadata"]["resourceVersion"],
        rv
    );

    // Someone else's label survives a re-apply; fields removed from the file go away; lists
    // are patched by their merge keys.
    real_ok(&cp, &["-n", "a", "label", "deploy", "web", "owner=ops"]).await;
    real_ok(&cp, &["-n", "b", "label", "deploy", "web", "owner=ops"]).await;
    let v2_a = write(&dir, "a/web-v2.yaml", &web("a", 3, CONTAINERS_V2));
    let v2_b = write(&dir, "b/web-v2.yaml", &web("b", 3, CONTAINERS_V2));
    let out = same(
        &cp,
        &["apply", "-f", v2_a.to_str().unwrap()],
        &["apply", "-f", v2_b.to_str().unwrap()],
        &[],
    )
    .await;
    assert_eq!(out.stdout, "deployment.apps/web configured\n");
    let ours_a = get_json(&cp, &["-n", "a", "deploy", "web"]).await;
    let real_b = get_json(&cp, &["-n", "b", "deploy", "web"]).await;
    assert_eq!(template_spec(&ours_a), template_spec(&real_b));
    assert_eq!(ours_a["spec"]["replicas"], 3);
    assert_eq!(ours_a["metadata"]["labels"]["owner"], "ops");
    let main = &template_spec(&ours_a)["containers"][1];
    assert_eq!(main["env"], json!([{"name": "B", "value": "3"}]));
    assert_eq!(
        main["ports"],
        json!([{"containerPort": 81, "protocol": "TCP"}, {"containerPort": 82, "protocol": "UDP"}])
    );
    assert_eq!(
        last_applied(&ours_a),
        last_applied(&real_b).replace("\"namespace\":\"b\"", "\"namespace\":\"a\"")
    );

    // Taking turns: the real kubectl applies v1 over what ours applied and the other way round.
    same(
        &cp,
        &["apply", "-f", v1_b.to_str().unwrap()],
        &["apply", "-f", v1_a.to_str().unwrap()],
        &[],
    )
    .await;
    let ours_b = get_json(&cp, &["-n", "b", "deploy", "web"]).await;
    let real_a = get_json(&cp, &["-n", "a", "deploy", "web"]).await;
    assert_eq!(template_spec(&ours_b), template_spec(&real_a));
    assert_eq!(
        template_spec(&ours_b)["containers"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    same(
        &cp,
        &["apply", "-f", v1_a.to_str().unwrap()],
        &["apply", "-f", v1_b.to_str().unwrap()],
        &[],
    )
    .await;

    // -n against the manifest's namespace; bad YAML; unknown kinds; no name.
    same(
        &cp,
        &["apply", "-n", "b", "-f", v1_a.to_str().unwrap()],
        &["apply", "-n", "b", "-f", v1_a.to_str().unwrap()],
        &[],
    )
    .await;
    let bad = write(
        &dir,
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok1\ndata:\n  x: \"1\"\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  bad: x: y\n",
    );
    let out = same(
        &cp,
        &["apply", "-f", bad.to_str().unwrap()],
        &["apply", "-f", bad.to_str().unwrap()],
        &[("configmap/ok1 created", "configmap/ok1 unchanged")],
    )
    .await;
    assert!(
        out.stderr
            .contains("yaml: line 5: mapping values are not allowed in this context"),
        "{}",
        out.stderr
    );
    let unknown = write(
        &dir,
        "widget.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n",
    );
    let out = run_ours(&cp, &["apply", "-f", unknown.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr
            .contains("no matches for kind \"Widget\" in version \"example.com/v1\""),
        "{}",
        out.stderr
    );
    let out = run_ours(&cp, &["apply", "-f", "/nonexistent/web.yaml"]).await;
    assert_eq!(
        out.stderr,
        "error: the path \"/nonexistent/web.yaml\" does not exist\n"
    );

    // A directory of YAML, JSON and a List (other files ignored, subdirectories only with -R),
    // and stdin.
    write(&dir, "many/1.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c1}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s1}\nstringData: {k: v}\n");
    write(
        &dir,
        "many/2.json",
        r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c2"}, "data": {"k": "v"}}"#,
    );
    write(&dir, "many/3.yml", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: c3}}\n- {apiVersion: v1, kind: Service, metadata: {name: s3}, spec: {ports: [{port: 80}], selector: {app: x}}}\n");
    write(&dir, "many/readme.txt", "not a manifest\n");
    write(
        &dir,
        "many/sub/4.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c4}\n",
    );
    let many = dir.join("many");
    let out = ok(&cp, &["apply", "-n", "a", "-f", many.to_str().unwrap()]).await;
    assert_eq!(
        out,
        "configmap/c1 created\nsecret/s1 created\nconfigmap/c2 created\nconfigmap/c3 created\nservice/s3 created\n"
    );
    let out = ok(
        &cp,
        &["apply", "-n", "a", "-R", "-f", many.to_str().unwrap()],
    )
    .await;
    assert!(
        out.ends_with("service/s3 unchanged\nconfigmap/c4 created\n"),
        "{out}"
    );
    let json_stream = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"j1"}}{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"j2"}}"#;
    let out = run_ours_stdin(&cp, &["apply", "-n", "b", "-f", "-"], json_stream).await;
    assert_eq!(
        out.stdout,
        "configmap/j1 created\nconfigmap/j2 created\n",
        "{}",
        describe_output(&out)
    );
    let out = run_ours_stdin(
        &cp,
        &["apply", "-n", "b", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: j1}\ndata: {k: v}\n",
    )
    .await;
    assert_eq!(
        out.stdout,
        "configmap/j1 configured\n",
        "{}",
        describe_output(&out)
    );
    let out = run_ours(
        &cp,
        &[
            "apply",
            "-n",
            "b",
            "-f",
            many.join("1.yaml").to_str().unwrap(),
            "-o",
            "name",
        ],
    )
    .await;
    assert_eq!(
        out.stdout,
        "configmap/c1\nsecret/s1\n",
        "{}",
        describe_output(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_expose_label_scale_set_delete_and_edit_like_upstream() {
    let cp = start().await;
    let dir = cp.dir().to_path_buf();
    let twin = [("web", "twin")];

    // Generators, with --dry-run output compared byte for byte.
    for args in [
        vec![
            "create",
            "deployment",
            "web",
            "--image=busybox:1.36",
            "--replicas=2",
            "--port=8080",
        ],
        vec![
            "create",
            "secret",
            "generic",
            "web",
            "--from-literal=a=1",
            "--type=Opaque",
        ],
        vec![
            "create",
            "configmap",
            "web",
            "--from-literal=a=1",
            "--from-literal=b=x=y",
        ],
        vec!["create", "namespace", "web"],
    ] {
        let mut dry: Vec<&str> = args.clone();
        dry.extend(["--dry-run=client", "-o", "yaml"]);
        same(&cp, &dry, &dry, &[]).await;
        let real_args: Vec<&str> = args
            .iter()
            .map(|a| if *a == "web" { "twin" } else { a })
            .collect();
        let out = same(&cp, &args, &real_args, &twin).await;
        assert!(out.stdout.ends_with("/web created\n"), "{}", out.stdout);
        // Creating again fails as upstream says it does.
        same(&cp, &args, &real_args, &twin).await;
    }
    let ours_d = get_json(&cp, &["deploy", "web"]).await;
    let real_d = get_json(&cp, &["deploy", "twin"]).await;
    assert_eq!(template_spec(&ours_d), template_spec(&real_d));
    assert_eq!(
        get_json(&cp, &["secret", "web"]).await["data"],
        get_json(&cp, &["secret", "twin"]).await["data"]
    );
    assert_eq!(
        get_json(&cp, &["cm", "web"]).await["data"],
        json!({"a": "1", "b": "x=y"})
    );
    let file = write(&dir, "key.txt", "secret-bytes\n");
    let from_file = format!("--from-file=k={}", file.display());
    same(
        &cp,
        &[
            "create",
            "secret",
            "generic",
            "files",
            &from_file,
            "--from-literal=bad key=1",
        ],
        &[
            "create",
            "secret",
            "generic",
            "files",
            &from_file,
            "--from-literal=bad key=1",
        ],
        &[],
    )
    .await;
    ok(&cp, &["create", "secret", "generic", "files", &from_file]).await;
    assert_eq!(
        get_json(&cp, &["secret", "files"]).await["data"]["k"],
        "c2VjcmV0LWJ5dGVzCg=="
    );
    same(
        &cp,
        &["create", "deployment", "Bad_Name", "--image=x"],
        &["create", "deployment", "Bad_Name", "--image=x"],
        &[],
    )
    .await;

    // create -f, and AlreadyExists naming the file.
    let pod = write(&dir, "pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p1, labels: {app: p}}\nspec:\n  containers: [{name: c, image: busybox}]\n");
    assert_eq!(
        ok(&cp, &["create", "-f", pod.to_str().unwrap()]).await,
        "pod/p1 created\n"
    );
    same(
        &cp,
        &["create", "-f", pod.to_str().unwrap()],
        &["create", "-f", pod.to_str().unwrap()],
        &[],
    )
    .await;

    // expose: selector and labels from the deployment.
    same(
        &cp,
        &[
            "expose",
            "deployment",
            "web",
            "--port=80",
            "--target-port=8080",
            "--type=NodePort",
        ],
        &[
            "expose",
            "deployment",
            "twin",
            "--port=80",
            "--target-port=8080",
            "--type=NodePort",
        ],
        &twin,
    )
    .await;
    let ours_svc = get_json(&cp, &["svc", "web"]).await;
    let real_svc = get_json(&cp, &["svc", "twin"]).await;
    assert_eq!(ours_svc["spec"]["selector"], json!({"app": "web"}));
    assert_eq!(ours_svc["spec"]["type"], real_svc["spec"]["type"]);
    assert_eq!(
        ours_svc["spec"]["ports"][0]["targetPort"],
        real_svc["spec"]["ports"][0]["targetPort"]
    );
    same(
        &cp,
        &[
            "expose",
            "deploy/web",
            "--port=81",
            "--name=web-udp",
            "--protocol=UDP",
            "--dry-run=client",
            "-o",
            "yaml",
        ],
        &[
            "expose",
            "deploy/web",
            "--port=81",
            "--name=web-udp",
            "--protocol=UDP",
            "--dry-run=client",
            "-o",
            "yaml",
        ],
        &[],
    )
    .await;

    // label / annotate, step by step against the twin.
    for args in [
        vec!["label", "deploy", "web", "app=other"],
        vec!["label", "deploy", "web", "app=other", "--overwrite"],
        vec!["label", "deploy", "web", "app=other", "--overwrite"],
        vec!["label", "deploy", "web", "tier=x", "app-"],
        vec!["label", "deploy", "web", "nope-"],
        vec!["label", "deploy", "web"],
        vec!["label", "deploy", "web", "a=b=c"],
        vec!["annotate", "deploy", "web", "note=first"],
        vec!["annotate", "deploy", "web", "note=second"],
        vec!["annotate", "deploy", "web", "note=second", "--overwrite"],
        vec!["annotate", "deploy", "web", "note-"],
    ] {
        let real_args: Vec<&str> = args
            .iter()
            .map(|a| if *a == "web" { "twin" } else { a })
            .collect();
        same(&cp, &args, &real_args, &twin).await;
    }
    assert_eq!(
        get_json(&cp, &["deploy", "web"]).await["metadata"]["labels"],
        json!({"tier": "x"})
    );
    assert_eq!(
        ok(&cp, &["label", "pods", "-l", "app=p", "stage=one"]).await,
        "pod/p1 labeled\n"
    );
    assert_eq!(
        ok(&cp, &["annotate", "pods", "--all", "seen=yes"]).await,
        "pod/p1 annotated\n"
    );

    // scale with and without a precondition; set image.
    for args in [
        vec![
            "scale",
            "deploy/web",
            "--replicas=4",
            "--current-replicas=3",
        ],
        vec![
            "scale",
            "deploy/web",
            "--replicas=4",
            "--current-replicas=2",
        ],
        vec!["scale", "deploy", "web", "--replicas=1"],
        vec!["set", "image", "deploy/web", "nope=busybox"],
        vec!["set", "image", "deploy/web", "busybox=busybox:1.37"],
        vec!["set", "image", "deploy/web", "busybox=busybox:1.37"],
    ] {
        let real_args: Vec<&str> = args
            .iter()
            .map(|a| match *a {
                "web" => "twin",
                "deploy/web" => "deploy/twin",
                other => other,
            })
            .collect();
        same(&cp, &args, &real_args, &twin).await;
    }
    let ours_d = get_json(&cp, &["deploy", "web"]).await;
    assert_eq!(ours_d["spec"]["replicas"], 1);
    assert_eq!(
        template_spec(&ours_d)["containers"][0]["image"],
        "busybox:1.37"
    );
    assert_eq!(
        template_spec(&ours_d),
        template_spec(&get_json(&cp, &["deploy", "twin"]).await)
    );

    // edit: a script as $KUBE_EDITOR.
    let editor = write(
        &dir,
        "editor.sh",
        "#!/bin/sh\nsed -i 's/replicas: 1/replicas: 5/' \"$1\"\n",
    );
    let unchanged = write(&dir, "true.sh", "#!/bin/sh\nexit 0\n");
    let breaker = write(&dir, "break.sh", "#!/bin/sh\n# first round: break the file; the reopened one (with the error header) is saved as is\ngrep -q 'syntax error' \"$1\" || printf 'metadata:\\n  name: [web\\n' > \"$1\"\n");
    for script in [&editor, &unchanged, &breaker] {
        std::fs::set_permissions(script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod editor");
    }
    let edit = |script: &Path| {
        ours(&cp)
            .expect("our kubectl is built")
            .env("KUBE_EDITOR", script)
            .args(["edit", "deploy/web"])
    };
    let out = edit(&editor).run().await.expect("run edit");
    assert_eq!(
        (out.stdout.as_str(), out.success()),
        ("deployment.apps/web edited\n", true),
        "{}",
        describe_output(&out)
    );
    assert_eq!(
        get_json(&cp, &["deploy", "web"]).await["spec"]["replicas"],
        5
    );
    let out = edit(&unchanged).run().await.expect("run edit");
    assert_eq!(
        (out.stderr.as_str(), out.success()),
        ("Edit cancelled, no changes made.\n", true)
    );
    let out = edit(&breaker).run().await.expect("run edit");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        out.stderr,
        "error: Edit cancelled, no valid changes were saved.\n"
    );

    // delete: names, TYPE/NAME, -l, --all, -f, NotFound, --ignore-not-found.
    same(
        &cp,
        &["delete", "deploy", "nope"],
        &["delete", "deploy", "nope"],
        &[],
    )
    .await;
    same(
        &cp,
        &["delete", "deploy/nope", "--ignore-not-found"],
        &["delete", "deploy/nope", "--ignore-not-found"],
        &[],
    )
    .await;
    same(&cp, &["delete", "deploy"], &["delete", "deploy"], &[]).await;
    same(
        &cp,
        &["delete", "secret", "web"],
        &["delete", "secret", "twin"],
        &twin,
    )
    .await;
    assert_eq!(
        ok(&cp, &["delete", "secret/files"]).await,
        "secret \"files\" deleted\n"
    );
    assert_eq!(
        ok(
            &cp,
            &[
                "delete",
                "-f",
                pod.to_str().unwrap(),
                "--grace-period=0",
                "--force"
            ]
        )
        .await,
        "pod \"p1\" force deleted\n"
    );
    assert_eq!(
        ok(&cp, &["delete", "cm", "-l", "app=none"]).await,
        "No resources found\n"
    );
    ok(&cp, &["create", "cm", "x1", "--from-literal=a=b"]).await;
    ok(&cp, &["label", "cm", "x1", "group=g"]).await;
    assert_eq!(
        ok(&cp, &["delete", "cm", "-l", "group=g"]).await,
        "configmap \"x1\" deleted\n"
    );
    assert_eq!(
        ok(&cp, &["delete", "svc/web", "deployment.apps/web"]).await,
        "service \"web\" deleted\ndeployment.apps \"web\" deleted\n"
    );

    // --wait: the command returns only once a finalizer is gone.
    real_ok(&cp, &["create", "cm", "held"]).await;
    real_ok(
        &cp,
        &[
            "patch",
            "cm",
            "held",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
        ],
    )
    .await;
    let mut waiting = ours(&cp)
        .expect("our kubectl is built")
        .args(["delete", "cm", "held"])
        .spawn()
        .expect("spawn delete");
    waiting
        .wait_for_stdout("the deleted line", WAIT, |s| {
            s.contains("configmap \"held\" deleted")
        })
        .await
        .expect("delete prints before waiting");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        waiting.try_finish().expect("poll delete").is_none(),
        "delete must wait for the finalizer"
    );
    real_ok(
        &cp,
        &[
            "patch",
            "cm",
            "held",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ],
    )
    .await;
    let deadline = Instant::now() + WAIT;
    let done = loop {
        if let Some(out) = waiting.try_finish().expect("poll delete") {
            break out;
        }
        assert!(
            Instant::now() < deadline,
            "delete did not return after the finalizer went"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(done.success(), "{}", describe_output(&done));
    real_ok(&cp, &["create", "cm", "held2"]).await;
    real_ok(
        &cp,
        &[
            "patch",
            "cm",
            "held2",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
        ],
    )
    .await;
    assert_eq!(
        ok(&cp, &["delete", "cm", "held2", "--wait=false"]).await,
        "configmap \"held2\" deleted\n"
    );
    real_ok(
        &cp,
        &[
            "patch",
            "cm",
            "held2",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ],
    )
    .await;
    let out = ok(&cp, &["delete", "cm", "--all"]).await;
    assert!(out.contains("configmap \"web\" deleted\n"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// Rollouts: the controller manager and a hollow status writer.
// ---------------------------------------------------------------------------------------------

/// Plays the kubelets of one node: binds pending pods to it, marks them Running (and Ready
/// when `ready` is set) through the status subresource, and finishes graceful deletions.
struct Hollow {
    ready: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Hollow {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn hollow(client: Client) -> Hollow {
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "hollow"}}),
    )
    .unwrap();
    nodes
        .create(&PostParams::default(), &node)
        .await
        .expect("create node");
    let ready = Arc::new(AtomicBool::new(true));
    let flag = ready.clone();
    let task = tokio::spawn(async move {
        let pods: Api<Pod> = Api::all(client.clone());
        loop {
            if let Ok(list) = pods.list(&ListParams::default()).await {
                for pod in list.items {
                    let ns = pod.metadata.namespace.clone().unwrap_or_default();
                    let name = pod.metadata.name.clone().unwrap_or_default();
                    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
                    if pod.metadata.deletion_timestamp.is_some() {
                        let _ = api
                            .delete(&name, &DeleteParams::default().grace_period(0))
                            .await;
                        continue;
                    }
                    if pod
                        .spec
                        .as_ref()
                        .and_then(|s| s.node_name.clone())
                        .is_none()
                    {
                        let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                                             "target": {"apiVersion": "v1", "kind": "Node", "name": "hollow"}});
                        let _: kube::Result<Value> = api
                            .create_subresource("binding", &name, &PostParams::default(), &binding)
                            .await;
                        continue;
                    }
                    let want = if flag.load(Ordering::SeqCst) {
                        "True"
                    } else {
                        "False"
                    };
                    let is = pod
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .and_then(|c| {
                            c.iter()
                                .find(|c| c.type_ == "Ready")
                                .map(|c| c.status.clone())
                        });
                    if is.as_deref() == Some(want) {
                        continue;
                    }
                    let now = "2024-01-01T00:00:00Z";
                    let status = json!({"status": {"phase": "Running", "podIP": "10.244.0.9", "startTime": now,
                        "conditions": [{"type": "Ready", "status": want, "lastTransitionTime": now},
                                       {"type": "ContainersReady", "status": want, "lastTransitionTime": now}]}});
                    let _ = api
                        .patch_status(&name, &PatchParams::default(), &Patch::Merge(status))
                        .await;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    Hollow { ready, task }
}

async fn controller_manager(cp: &ControlPlane) -> Process {
    let port = free_port().expect("free port");
    let kcm = Launch::binary("kube-controller-manager")
        .expect("kube-controller-manager is built")
        .args(["--kubeconfig", cp.kubeconfig().to_str().unwrap()])
        .args(["--leader-elect=false", "--bind-address=127.0.0.1"])
        .arg(format!("--secure-port={port}"))
        .args(["--controllers=deployment-controller,replicaset-controller,garbage-collector-controller"])
        .env("RUST_LOG", "info")
        .spawn()
        .expect("start kube-controller-manager");
    wait_for_healthz(&format!("http://127.0.0.1:{port}/healthz"), WAIT)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "kube-controller-manager not healthy: {e}\n{}",
                kcm.log_tail()
            )
        });
    kcm
}

fn last_line(text: &str) -> &str {
    text.lines().last().unwrap_or_default()
}

async fn images_by_revision(cp: &ControlPlane) -> BTreeMap<i64, String> {
    let list = get_json(cp, &["rs", "-l", "app=web"]).await;
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|rs| {
            let revision = rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                .as_str()?
                .parse()
                .ok()?;
            Some((
                revision,
                rs["spec"]["template"]["spec"]["containers"][0]["image"]
                    .as_str()?
                    .to_owned(),
            ))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollouts_and_cascading_deletes_with_the_controller_manager() {
    let cp = start().await;
    let kcm = controller_manager(&cp).await;
    let client =
        Client::try_from(kube::Config::new(cp.url().parse().expect("url"))).expect("client");
    let hollow = hollow(client).await;
    let dir = cp.dir().to_path_buf();
    let manifest = write(
        &dir,
        "web.yaml",
        &web("default", 3, "      - {name: main, image: busybox:1}\n"),
    );
    ok(&cp, &["apply", "-f", manifest.to_str().unwrap()]).await;
    let status = ["rollout", "status", "deploy/web", "--timeout=60s"];
    let out = ok(&cp, &status).await;
    assert_eq!(
        last_line(&out),
        "deployment \"web\" successfully rolled out",
        "{out}\n{}",
        kcm.log_tail()
    );
    same(&cp, &status, &status, &[]).await;

    // A new revision, its history and change-cause, undo to the previous and to a given one.
    assert_eq!(
        ok(&cp, &["set", "image", "deploy/web", "main=busybox:2"]).await,
        "deployment.apps/web image updated\n"
    );
    ok(
        &cp,
        &[
            "annotate",
            "deploy",
            "web",
            "kubernetes.io/change-cause=image 2",
        ],
    )
    .await;
    let out = ok(&cp, &status).await;
    assert!(
        out.lines()
            .all(|line| line.starts_with("Waiting for deployment")
                || line == "deployment \"web\" successfully rolled out"),
        "{out}"
    );
    assert_eq!(
        last_line(&out),
        "deployment \"web\" successfully rolled out"
    );
    let history = same(
        &cp,
        &["rollout", "history", "deploy/web"],
        &["rollout", "history", "deploy/web"],
        &[],
    )
    .await;
    assert_eq!(
        history.stdout,
        "deployment.apps/web \nREVISION  CHANGE-CAUSE\n1         <none>\n2         image 2\n\n"
    );
    assert_eq!(
        ok(&cp, &["rollout", "undo", "deploy/web"]).await,
        "deployment.apps/web rolled back\n"
    );
    ok(&cp, &status).await;
    let deploy = get_json(&cp, &["deploy", "web"]).await;
    assert_eq!(
        template_spec(&deploy)["containers"][0]["image"],
        "busybox:1"
    );
    assert!(deploy["spec"]["template"]["metadata"]["labels"]
        .get("pod-template-hash")
        .is_none());
    assert_eq!(
        images_by_revision(&cp).await,
        BTreeMap::from([(2, "busybox:2".to_owned()), (3, "busybox:1".to_owned())])
    );
    same(
        &cp,
        &["rollout", "undo", "deploy/web", "--to-revision=9"],
        &["rollout", "undo", "deploy/web", "--to-revision=9"],
        &[],
    )
    .await;
    assert_eq!(
        ok(&cp, &["rollout", "undo", "deploy/web", "--to-revision=3"]).await,
        "deployment.apps/web skipped rollback (current template already matches revision 3)\n"
    );
    assert_eq!(
        ok(&cp, &["rollout", "undo", "deploy/web", "--to-revision=2"]).await,
        "deployment.apps/web rolled back\n"
    );
    ok(&cp, &status).await;
    assert_eq!(
        template_spec(&get_json(&cp, &["deploy", "web"]).await)["containers"][0]["image"],
        "busybox:2"
    );

    // restart, pause, resume, with upstream's refusals.
    assert_eq!(
        ok(&cp, &["rollout", "restart", "deploy/web"]).await,
        "deployment.apps/web restarted\n"
    );
    let restarted = get_json(&cp, &["deploy", "web"]).await;
    assert!(restarted["spec"]["template"]["metadata"]["annotations"]
        ["kubectl.kubernetes.io/restartedAt"]
        .is_string());
    ok(&cp, &status).await;
    assert_eq!(
        ok(&cp, &["rollout", "pause", "deploy/web"]).await,
        "deployment.apps/web paused\n"
    );
    for args in [
        vec!["rollout", "pause", "deploy/web"],
        vec!["rollout", "restart", "deploy/web"],
        vec!["rollout", "undo", "deploy/web"],
    ] {
        same(&cp, &args, &args, &[]).await;
    }
    assert_eq!(
        ok(&cp, &["rollout", "resume", "deploy/web"]).await,
        "deployment.apps/web resumed\n"
    );
    same(
        &cp,
        &["rollout", "resume", "deploy/web"],
        &["rollout", "resume", "deploy/web"],
        &[],
    )
    .await;

    // Progress deadline: pods never become ready.
    hollow.ready.store(false, Ordering::SeqCst);
    let stuck = write(
        &dir,
        "stuck.yaml",
        &web("default", 1, "      - {name: main, image: busybox:1}\n")
            .replace("web", "stuck")
            .replace("replicas: 1", "replicas: 1\n  progressDeadlineSeconds: 2"),
    );
    ok(&cp, &["apply", "-f", stuck.to_str().unwrap()]).await;
    let out = run_ours(&cp, &["rollout", "status", "deploy/stuck", "--timeout=60s"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", describe_output(&out));
    assert_eq!(
        out.stderr,
        "error: deployment \"stuck\" exceeded its progress deadline\n"
    );
    hollow.ready.store(true, Ordering::SeqCst);

    // Cascades: orphan keeps the ReplicaSets, foreground waits until they are gone too.
    ok(&cp, &["delete", "deploy", "stuck", "--cascade=orphan"]).await;
    let orphans = get_json(&cp, &["rs", "-l", "app=stuck"]).await;
    assert_eq!(
        orphans["items"].as_array().map(Vec::len),
        Some(1),
        "the orphaned ReplicaSet stays: {orphans}"
    );
    assert_eq!(
        ok(&cp, &["delete", "deploy", "web", "--cascade=foreground"]).await,
        "deployment.apps \"web\" deleted\n"
    );
    let deadline = Instant::now() + WAIT;
    loop {
        let left = get_json(&cp, &["rs", "-l", "app=web"]).await;
        if left["items"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "foreground deletion left ReplicaSets: {left}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(kcm);
}
