//! Pod sources merged into the desired set: the apiserver (`fieldSelector=spec.nodeName=<node>`)
//! and static pods from `--pod-manifest-path` (checked every `--file-check-frequency`), plus
//! the mirror pods that publish static pods in the apiserver.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::watcher;

use crate::{lock, pod_key, Kubelet, MIRROR_ANNOTATION, SOURCE_ANNOTATION};

/// Annotation carrying a static pod's content hash (upstream's name).
pub const HASH_ANNOTATION: &str = "kubernetes.io/config.hash";

/// FNV-1a, stable across builds (the UID of a static pod must survive kubelet restarts).
pub fn fnv(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Parses one manifest (YAML or JSON) into the static pod it describes for `node`: name
/// `<name>-<node>`, namespace `default` unless set, UID from the content, source `file`.
pub fn static_pod(file: &Path, content: &str, node: &str) -> Result<Pod, String> {
    let mut pod: Pod = serde_yaml::from_str(content).map_err(|e| e.to_string())?;
    let name = pod
        .metadata
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or("metadata.name is required")?;
    if pod.spec.as_ref().is_none_or(|s| s.containers.is_empty()) {
        return Err("spec.containers is required".into());
    }
    let ns = pod
        .metadata
        .namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".into());
    let hash = format!(
        "{:016x}",
        fnv(format!("{}\n{node}\n{content}", file.display()).as_bytes())
    );
    pod.metadata.name = Some(format!("{name}-{node}"));
    pod.metadata.namespace = Some(ns);
    pod.metadata.uid = Some(hash.clone());
    let ann = pod.metadata.annotations.get_or_insert_with(BTreeMap::new);
    ann.insert(SOURCE_ANNOTATION.into(), "file".into());
    ann.insert(HASH_ANNOTATION.into(), hash);
    ann.insert("kubernetes.io/config.seen".into(), String::new());
    if let Some(spec) = pod.spec.as_mut() {
        spec.node_name = Some(node.into());
        for c in spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut().flatten())
        {
            if c.termination_message_path.is_none() {
                c.termination_message_path = Some("/dev/termination-log".into());
            }
        }
    }
    Ok(pod)
}

/// Reads every manifest in `dir` (hidden files skipped). Malformed ones are logged with their
/// file name and skipped.
pub fn read_manifests(dir: &Path, node: &str) -> HashMap<String, Pod> {
    let mut out = HashMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    for path in files {
        let fname = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        if fname.starts_with('.') || !path.is_file() {
            continue;
        }
        let content = match std::fs::read_to_string(&path) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot read static pod manifest; skipped");
                continue;
            }
        };
        match static_pod(&path, &content, node) {
            Ok(pod) => {
                out.insert(pod.metadata.uid.clone().unwrap_or_default(), pod);
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "malformed static pod manifest; skipped")
            }
        }
    }
    out
}

/// Polls the manifest directory and updates the static pods.
pub async fn watch_manifests(k: Arc<Kubelet>) {
    let mut last: Option<Vec<String>> = None;
    loop {
        let pods = read_manifests(&k.config.pod_manifest_path, &k.node_name);
        let mut uids: Vec<String> = pods.keys().cloned().collect();
        uids.sort();
        if last.as_ref() != Some(&uids) {
            *lock(&k.static_pods) = pods;
            last = Some(uids);
            k.files_synced
                .store(true, std::sync::atomic::Ordering::Relaxed);
            k.reconcile_workers();
        }
        tokio::select! {
            _ = k.shutdown.cancelled() => return,
            _ = tokio::time::sleep(k.config.file_check_frequency) => {}
        }
    }
}

/// Watches the pods bound to this node. Mirror pods are not run (their static pod is).
pub async fn watch_apiserver(k: Arc<Kubelet>, client: kube::Client) {
    let api: Api<Pod> = Api::all(client);
    let cfg = watcher::Config::default().fields(&format!("spec.nodeName={}", k.node_name));
    let mut stream = watcher(api, cfg).boxed();
    let mut init: HashMap<String, Pod> = HashMap::new();
    loop {
        let ev = tokio::select! {
            _ = k.shutdown.cancelled() => return,
            ev = stream.next() => ev,
        };
        let Some(ev) = ev else { return };
        let is_mirror = |p: &Pod| {
            p.metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(MIRROR_ANNOTATION))
        };
        match ev {
            Ok(watcher::Event::Init) => init.clear(),
            Ok(watcher::Event::InitApply(p)) => {
                if !is_mirror(&p) {
                    init.insert(p.metadata.uid.clone().unwrap_or_default(), p);
                }
            }
            Ok(watcher::Event::InitDone) => {
                *lock(&k.api_pods) = std::mem::take(&mut init);
                k.api_synced
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                k.reconcile_workers();
            }
            Ok(watcher::Event::Apply(p)) => {
                if !is_mirror(&p) {
                    let uid = p.metadata.uid.clone().unwrap_or_default();
                    lock(&k.api_pods).insert(uid.clone(), p);
                    k.reconcile_workers();
                    k.notify(&uid);
                }
            }
            Ok(watcher::Event::Delete(p)) => {
                let uid = p.metadata.uid.clone().unwrap_or_default();
                lock(&k.api_pods).remove(&uid);
                k.reconcile_workers();
                k.notify(&uid);
            }
            Err(e) => {
                tracing::warn!(error = %e, "pod watch failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Keeps one mirror pod per static pod in the apiserver (recreated when deleted, replaced when
/// the manifest changed) and deletes mirror pods whose static pod is gone.
pub async fn mirror_pods(k: Arc<Kubelet>, client: kube::Client) {
    loop {
        tokio::select! {
            _ = k.shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        if !k.registered.load(std::sync::atomic::Ordering::Relaxed) {
            continue;
        }
        let statics: Vec<Pod> = lock(&k.static_pods).values().cloned().collect();
        let all: Api<Pod> = Api::all(client.clone());
        let lp = kube::api::ListParams::default().fields(&format!("spec.nodeName={}", k.node_name));
        let Ok(existing) = all.list(&lp).await else {
            continue;
        };
        let mirrors: Vec<Pod> = existing
            .items
            .into_iter()
            .filter(|p| {
                p.metadata
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.contains_key(MIRROR_ANNOTATION))
            })
            .collect();
        for sp in &statics {
            let hash = sp.metadata.uid.clone().unwrap_or_default();
            let name = sp.metadata.name.clone().unwrap_or_default();
            let ns = sp.metadata.namespace.clone().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
            let current = mirrors.iter().find(|m| {
                m.metadata.name.as_deref() == Some(&name)
                    && m.metadata.namespace.as_deref() == Some(&ns)
            });
            if let Some(m) = current {
                let same = m
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(MIRROR_ANNOTATION))
                    == Some(&hash);
                if same || m.metadata.deletion_timestamp.is_some() {
                    if m.metadata.deletion_timestamp.is_some() {
                        // Mirror pods have nothing to stop: finish the deletion.
                        let _ = api
                            .delete(
                                &name,
                                &DeleteParams {
                                    grace_period_seconds: Some(0),
                                    ..Default::default()
                                },
                            )
                            .await;
                    }
                    continue;
                }
                let _ = api
                    .delete(
                        &name,
                        &DeleteParams {
                            grace_period_seconds: Some(0),
                            ..Default::default()
                        },
                    )
                    .await;
            }
            let mut mirror = sp.clone();
            mirror.metadata.uid = None;
            mirror.metadata.resource_version = None;
            let ann = mirror
                .metadata
                .annotations
                .get_or_insert_with(BTreeMap::new);
            ann.insert(MIRROR_ANNOTATION.into(), hash.clone());
            mirror.status = None;
            match api.create(&PostParams::default(), &mirror).await {
                Ok(_) => tracing::info!(pod = %pod_key(sp), "created mirror pod"),
                Err(kube::Error::Api(e)) if e.code == 409 => {}
                Err(e) => {
                    tracing::warn!(pod = %pod_key(sp), error = %e, "creating mirror pod failed")
                }
            }
        }
        for m in &mirrors {
            let orphan = !statics.iter().any(|s| {
                s.metadata.name == m.metadata.name && s.metadata.namespace == m.metadata.namespace
            });
            if orphan {
                let api: Api<Pod> = Api::namespaced(
                    client.clone(),
                    m.metadata.namespace.as_deref().unwrap_or("default"),
                );
                let _ = api
                    .delete(
                        m.metadata.name.as_deref().unwrap_or(""),
                        &DeleteParams {
                            grace_period_seconds: Some(0),
                            ..Default::default()
                        },
                    )
                    .await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::is_static;

    #[test]
    fn manifests_yaml_json_and_malformed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: c\n    image: busybox\n").unwrap();
        std::fs::write(dir.path().join("b.json"), r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"j","namespace":"kube-system"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}"#).unwrap();
        std::fs::write(dir.path().join("bad.yaml"), "this: [is not a pod").unwrap();
        std::fs::write(
            dir.path().join("empty.yaml"),
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n",
        )
        .unwrap();
        let pods = read_manifests(dir.path(), "node1");
        let mut names: Vec<String> = pods.values().map(pod_key).collect();
        names.sort();
        assert_eq!(names, vec!["default/web-node1", "kube-system/j-node1"]);
        let again = read_manifests(dir.path(), "node1");
        let mut a: Vec<_> = pods.keys().collect();
        let mut b: Vec<_> = again.keys().collect();
        a.sort();
        b.sort();
        assert_eq!(a, b, "UIDs are stable");
        assert!(pods.values().all(is_static));
    }
}
