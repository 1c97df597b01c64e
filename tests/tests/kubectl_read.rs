//! Our kubectl's reading verbs against a real control plane (etcd + kube-apiserver), compared
//! with the real `/usr/bin/kubectl` on the same objects: same stdout, same stderr, same exit
//! code. Needs root (the harness's rule) and `cargo build --workspace --bins`.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use tinykube_tests::apiserver::describe_output;
use tinykube_tests::kubectl::{ours, run_ours, run_real, Invocation};
use tinykube_tests::{binary_path, require_root, CmdOutput, ControlPlane, KUBECTL};

const OBJECTS: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: team
---
apiVersion: v1
kind: Pod
metadata:
  name: web-1
  labels: {app: web, tier: front}
spec:
  containers:
  - name: main
    image: busybox
    command: ["sleep", "3600"]
    ports: [{containerPort: 80}]
---
apiVersion: v1
kind: Pod
metadata:
  name: db-1
  labels: {app: db}
spec:
  containers:
  - name: main
    image: busybox
---
apiVersion: v1
kind: Pod
metadata:
  name: other
  namespace: team
  labels: {app: web}
spec:
  containers:
  - name: main
    image: busybox
---
apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {app: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: busybox
        image: busybox
        command: ["sleep", "3600"]
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData: {user: admin, password: "s3cr3t!"}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: "y"
  long: "a long value with spaces that goes well past the eightieth column so that go-yaml folds it onto a second line"
  script: |
    echo one
    echo two
"#;

/// A control plane with [`OBJECTS`] created by the real kubectl.
async fn cluster() -> Result<ControlPlane> {
    require_root();
    let cp = ControlPlane::start().await?;
    let out = run_real(&cp, &["apply", "-f", "-"], Some(OBJECTS)).await?;
    ensure!(
        out.success(),
        "applying the objects: {}",
        describe_output(&out)
    );
    Ok(cp)
}

fn same(a: &CmdOutput, b: &CmdOutput) -> bool {
    a.stdout == b.stdout && a.stderr == b.stderr && a.status.code() == b.status.code()
}

/// Whether a word is an age as kubectl prints it (`9s`, `2m10s`, `3h`, `5d2h`).
fn is_age(word: &str) -> bool {
    let mut parts = 0;
    let mut rest = word;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        let unit = rest[digits..].chars().next();
        if digits == 0 || !matches!(unit, Some('s' | 'm' | 'h' | 'd' | 'y')) {
            return false;
        }
        rest = &rest[digits + 1..];
        parts += 1;
    }
    (1..=2).contains(&parts)
}

/// The output with every age replaced and runs of blanks collapsed: what must match when the
/// clock ticked between the two runs (a new age can also widen the AGE column).
fn without_ages(text: &str) -> String {
    text.lines()
        .map(|line| {
            line.split_whitespace()
                .map(|w| if is_age(w) { "<age>" } else { w })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn same_but_ages(a: &CmdOutput, b: &CmdOutput) -> bool {
    without_ages(&a.stdout) == without_ages(&b.stdout)
        && a.stderr == b.stderr
        && a.status.code() == b.status.code()
}

/// Runs `args` through both kubectls and fails unless stdout, stderr and exit code match.
/// Ages tick while the two run, so a mismatch is retried; if ages still differ, the outputs
/// must match with the ages masked.
async fn assert_same(cp: &ControlPlane, args: &[&str]) -> Result<CmdOutput> {
    let mut last = None;
    for _ in 0..2 {
        let mine = run_ours(cp, args, None).await?;
        let theirs = run_real(cp, args, None).await?;
        if same(&mine, &theirs) {
            return Ok(mine);
        }
        last = Some((mine, theirs));
    }
    let (mine, theirs) = last.context("no attempt ran")?;
    if same_but_ages(&mine, &theirs) {
        return Ok(mine);
    }
    anyhow::bail!(
        "`kubectl {}` differs\n=== ours ===\n{}\n=== real ===\n{}",
        args.join(" "),
        describe_output(&mine),
        describe_output(&theirs)
    )
}

#[tokio::test]
async fn get_tables_match_the_real_kubectl() -> Result<()> {
    let cp = cluster().await?;
    let commands: &[&[&str]] = &[
        &["get", "pods"],
        &["get", "po"],
        &["get", "pods", "-o", "wide"],
        &["get", "pods", "-A"],
        &["get", "pods", "--all-namespaces", "--show-labels"],
        &["get", "pods", "-n", "team"],
        &["get", "pods", "-l", "app=web"],
        &["get", "pods", "-l", "app in (web,db),tier!=back"],
        &["get", "pods", "-l", "!tier"],
        &["get", "pods", "--field-selector", "metadata.name=db-1"],
        &["get", "pods", "--no-headers"],
        &["get", "pods", "-L", "app,tier"],
        &["get", "pods", "web-1", "db-1"],
        &["get", "pod/web-1", "svc/web", "deploy/web"],
        &["get", "deployments"],
        &["get", "deploy", "-o", "wide"],
        &["get", "rs"],
        &["get", "services"],
        &["get", "svc", "-o", "wide"],
        &["get", "ep"],
        &["get", "secrets"],
        &["get", "cm"],
        &["get", "configmaps", "settings"],
        &["get", "nodes"],
        &["get", "ns"],
        &["get", "namespaces", "team", "default"],
        &["get", "all"],
        &["get", "all", "-A"],
        &["get", "all", "--no-headers"],
        &["get", "pods,svc", "-n", "team"],
        &["get", "pods", "-n", "empty"],
        &["get", "pods", "-l", "app=none", "-A"],
    ];
    for args in commands {
        assert_same(&cp, args).await?;
    }
    Ok(())
}

#[tokio::test]
async fn object_formats_match_the_real_kubectl() -> Result<()> {
    let cp = cluster().await?;
    let commands: &[&[&str]] = &[
        &["get", "pod", "web-1", "-o", "yaml"],
        &["get", "pods", "-o", "yaml"],
        &["get", "pods", "-o", "json"],
        &["get", "cm", "settings", "-o", "yaml"],
        &["get", "cm", "settings", "-o", "json"],
        &["get", "deploy/web", "-o", "yaml"],
        &["get", "svc", "web", "-o", "json"],
        &["get", "secret", "creds", "-o", "yaml"],
        &["get", "pods", "web-1", "db-1", "-o", "yaml"],
        &["get", "pods", "-n", "empty", "-o", "yaml"],
        &["get", "all", "-o", "name"],
        &["get", "pods", "-A", "-o", "name"],
        &["get", "pods", "-o", "jsonpath={.items[*].metadata.name}"],
        &["get", "pod", "web-1", "-o", "jsonpath={.spec.containers[0].image}"],
        &[
            "get",
            "pods",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}{\"\\t\"}{.metadata.labels.app}{\"\\n\"}{end}",
        ],
        &[
            "get",
            "pods",
            "-o",
            "jsonpath={.items[?(@.metadata.name==\"db-1\")].metadata.labels}",
        ],
        &["get", "svc", "web", "-o", "jsonpath={.spec.ports[0].port}"],
    ];
    for args in commands {
        assert_same(&cp, args).await?;
    }
    Ok(())
}

#[tokio::test]
async fn errors_match_the_real_kubectl() -> Result<()> {
    let cp = cluster().await?;
    let commands: &[&[&str]] = &[
        &["get", "pods", "nope"],
        &["get", "pods", "web-1", "nope", "db-1"],
        &["get", "pods", "nope", "-o", "yaml"],
        &["get", "pods", "web-1", "nope", "-o", "name"],
        &["get", "nosuchtype"],
        &["get", "pods", "-o", "xml"],
        &["get", "pods", "--bogus-flag"],
        &["describe", "svc", "nope"],
        &["config", "use-context", "nope"],
    ];
    let out = assert_same(&cp, &["get", "pods", "nope", "--ignore-not-found"]).await?;
    ensure!(
        out.success() && out.stdout.is_empty(),
        "{}",
        describe_output(&out)
    );
    for args in commands {
        let out = assert_same(&cp, args).await?;
        ensure!(
            out.status.code() == Some(1),
            "`kubectl {}` should exit 1: {}",
            args.join(" "),
            describe_output(&out)
        );
    }
    Ok(())
}

#[tokio::test]
async fn describe_matches_the_real_kubectl() -> Result<()> {
    let cp = cluster().await?;
    for args in [
        &["describe", "svc", "web"][..],
        &["describe", "deployment", "web"],
    ] {
        assert_same(&cp, args).await?;
    }
    // Upstream prints a secret's keys in Go map order (random): compare the lines as sets.
    let mine = run_ours(&cp, &["describe", "secret", "creds"], None).await?;
    let theirs = run_real(&cp, &["describe", "secret", "creds"], None).await?;
    let mut mine_lines: Vec<&str> = mine.stdout.lines().collect();
    let mut their_lines: Vec<&str> = theirs.stdout.lines().collect();
    mine_lines.sort();
    their_lines.sort();
    ensure!(
        mine_lines == their_lines,
        "describe secret differs\n=== ours ===\n{}\n=== real ===\n{}",
        mine.stdout,
        theirs.stdout
    );
    // A pod's description: compare the lines that do not depend on the moment.
    let mine = run_ours(&cp, &["describe", "pod", "web-1"], None).await?;
    let theirs = run_real(&cp, &["describe", "pod", "web-1"], None).await?;
    ensure!(mine.success(), "{}", describe_output(&mine));
    for line in theirs.stdout.lines() {
        let key_line = [
            "Name:",
            "Namespace:",
            "Labels:",
            "Node:",
            "Status:",
            "Containers:",
            "    Image:",
            "    Port:",
            "      sleep",
            "Events:",
        ]
        .iter()
        .any(|prefix| line.starts_with(prefix));
        if key_line {
            ensure!(
                mine.stdout.lines().any(|l| l == line),
                "our describe pod lacks {line:?}\n=== ours ===\n{}\n=== real ===\n{}",
                mine.stdout,
                theirs.stdout
            );
        }
    }
    // Secret values never show.
    ensure!(!mine.stdout.contains("s3cr3t"), "{}", mine.stdout);
    let secret = run_ours(&cp, &["describe", "secret", "creds"], None).await?;
    ensure!(
        secret.stdout.contains("password:  7 bytes"),
        "{}",
        secret.stdout
    );
    Ok(())
}

#[tokio::test]
async fn discovery_and_version_verbs() -> Result<()> {
    let cp = cluster().await?;
    for args in [
        &["api-resources"][..],
        &["api-resources", "-o", "wide"],
        &["api-resources", "--namespaced=false", "-o", "name"],
        &["api-resources", "--api-group=apps"],
        &["cluster-info"],
    ] {
        assert_same(&cp, args).await?;
    }
    let version = run_ours(&cp, &["version"], None).await?;
    ensure!(version.success(), "{}", describe_output(&version));
    ensure!(
        version
            .stdout
            .starts_with("Client Version: v1.33.0-tinykube.")
            && version
                .stdout
                .contains("\nServer Version: v1.33.0-tinykube."),
        "{}",
        version.stdout
    );
    let json = run_ours(&cp, &["version", "-o", "json"], None).await?;
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout)
        .with_context(|| format!("version -o json is not JSON: {}", json.stdout))?;
    ensure!(parsed["serverVersion"]["compiler"] == "rustc", "{parsed}");
    let client_only = run_ours(&cp, &["version", "--client"], None).await?;
    ensure!(
        client_only.stdout.lines().count() == 1,
        "{}",
        client_only.stdout
    );
    Ok(())
}

#[tokio::test]
async fn config_edits_the_kubeconfig_like_the_real_kubectl() -> Result<()> {
    let cp = cluster().await?;
    assert_same(&cp, &["config", "view"]).await?;
    assert_same(&cp, &["config", "get-contexts"]).await?;
    assert_same(&cp, &["config", "current-context"]).await?;
    // The same edits through each kubectl on two copies of a kubeconfig with secrets.
    let original = "apiVersion: v1\nkind: Config\nclusters:\n- name: b\n  cluster:\n    server: https://b:6443\n    certificate-authority-data: QUJD\n- name: a\n  cluster: {server: 'http://a'}\ncontexts:\n- name: ctx-b\n  context: {cluster: b, user: u}\ncurrent-context: ctx-b\nusers:\n- name: u\n  user: {token: secret-token, client-key-data: QUJD}\n";
    let mine_path = cp.write_file("mine.kubeconfig", original)?;
    let theirs_path = cp.write_file("theirs.kubeconfig", original)?;
    let steps: &[&[&str]] = &[
        &["config", "view"],
        &["config", "view", "--raw"],
        &["config", "view", "--minify"],
        &[
            "config",
            "set-context",
            "dev",
            "--cluster=a",
            "--namespace=x",
        ],
        &["config", "set-context", "dev", "--user=u"],
        &["config", "use-context", "dev"],
        &["config", "get-contexts"],
        &["config", "current-context"],
        &["config", "set-context", "--current", "--namespace=y"],
        &["config", "view"],
    ];
    for args in steps {
        let mine = Invocation::new(binary_path("kubectl")?)
            .arg("--kubeconfig")
            .arg(&mine_path)
            .args(*args)
            .run()
            .await?;
        let theirs = Invocation::new(KUBECTL)
            .arg("--kubeconfig")
            .arg(&theirs_path)
            .args(*args)
            .run()
            .await?;
        ensure!(
            same(&mine, &theirs),
            "`kubectl {}` differs\n=== ours ===\n{}\n=== real ===\n{}",
            args.join(" "),
            describe_output(&mine),
            describe_output(&theirs)
        );
        let written_mine = std::fs::read_to_string(&mine_path)?;
        let written_theirs = std::fs::read_to_string(&theirs_path)?;
        ensure!(
            written_mine == written_theirs,
            "after `kubectl {}` the files differ\n=== ours ===\n{written_mine}\n=== real ===\n{written_theirs}",
            args.join(" ")
        );
    }
    Ok(())
}

#[tokio::test]
async fn watch_prints_the_table_then_each_change() -> Result<()> {
    let cp = cluster().await?;
    let mut watch = ours(&cp)?
        .args(["get", "pods", "-w", "--output-watch-events"])
        .spawn()?;
    let first = watch
        .wait_for_stdout("the initial table", Duration::from_secs(30), |s| {
            s.lines().count() >= 3
        })
        .await?;
    let header = first.lines().next().unwrap_or_default();
    ensure!(
        header.starts_with("EVENT      NAME    READY   STATUS    RESTARTS   AGE"),
        "{first}"
    );
    ensure!(first.contains("ADDED      db-1"), "{first}");
    let out = run_real(&cp, &["label", "pod", "db-1", "changed=yes"], None).await?;
    ensure!(out.success(), "{}", describe_output(&out));
    let out = run_real(&cp, &["delete", "pod", "db-1", "--wait=false"], None).await?;
    ensure!(out.success(), "{}", describe_output(&out));
    let all = watch
        .wait_for_stdout(
            "the modification and deletion",
            Duration::from_secs(30),
            |s| s.contains("MODIFIED   db-1") && s.contains("DELETED    db-1"),
        )
        .await?;
    // The header is printed once; later rows keep its column widths.
    ensure!(all.matches("NAME").count() == 1, "{all}");
    let modified = all
        .lines()
        .find(|l| l.starts_with("MODIFIED"))
        .context("no MODIFIED line")?;
    ensure!(
        modified.find("Pending") == header.find("STATUS"),
        "columns moved:\n{all}"
    );
    watch.stop();
    Ok(())
}
