//! Pod sources merged into the desired set: the apiserver (`fieldSelector=spec.nodeName=<node>`)
//! and static pods from `--pod-manifest-path` (watched with inotify, rescanned every
//! `--file-check-frequency`), plus the mirror pods that publish static pods in the apiserver.

use std::collections::{BTreeMap, HashMap};
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::watcher;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

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

/// Events on the manifest directory that can change the set of static pods. `IN_MODIFY` is
/// left out on purpose: a file being written is read once it is closed (`IN_CLOSE_WRITE`), not
/// half-way through.
fn manifest_events() -> AddWatchFlags {
    AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_ATTRIB
        | AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_MOVE_SELF
        | AddWatchFlags::IN_ONLYDIR
}

/// How long a burst of events (an editor's save, a `cp` of many files) may last before the
/// directory is read: one read for the whole burst.
const MANIFEST_SETTLE: Duration = Duration::from_millis(100);

/// An inotify watch on the manifest directory. A small thread waits on the inotify fd (with
/// `poll`, bounded so it notices when the watch is dropped) and wakes the async side through a
/// channel: `true` for "something changed", `false` for "the watch ended" (the directory was
/// removed or moved away, so it must be set up again).
struct DirWatch {
    events: tokio::sync::mpsc::Receiver<bool>,
}

/// How often the inotify thread checks whether its [`DirWatch`] is still wanted.
const INOTIFY_POLL_MS: u16 = 500;

impl DirWatch {
    fn new(dir: &Path) -> std::io::Result<DirWatch> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        inotify.add_watch(dir, manifest_events())?;
        // Capacity 1: a pending "changed" already covers any later event.
        let (tx, events) = tokio::sync::mpsc::channel(1);
        std::thread::Builder::new()
            .name("manifest-inotify".into())
            .spawn(move || inotify_thread(inotify, tx))?;
        Ok(DirWatch { events })
    }

    /// Waits for the next change; `false` when the watch ended.
    async fn changed(&mut self) -> bool {
        self.events.recv().await.unwrap_or(false)
    }

    /// Discards notifications already queued (the read that follows covers them); `false`
    /// when the watch ended meanwhile.
    fn drain(&mut self) -> bool {
        use tokio::sync::mpsc::error::TryRecvError;
        loop {
            match self.events.try_recv() {
                Ok(true) => continue,
                Ok(false) | Err(TryRecvError::Disconnected) => return false,
                Err(TryRecvError::Empty) => return true,
            }
        }
    }
}

fn inotify_thread(inotify: Inotify, tx: tokio::sync::mpsc::Sender<bool>) {
    let ended = |events: &[nix::sys::inotify::InotifyEvent]| {
        events.iter().any(|e| {
            e.mask.intersects(
                AddWatchFlags::IN_IGNORED
                    | AddWatchFlags::IN_DELETE_SELF
                    | AddWatchFlags::IN_MOVE_SELF,
            )
        })
    };
    while !tx.is_closed() {
        let mut fds = [PollFd::new(inotify.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, INOTIFY_POLL_MS) {
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => {}
            Err(_) => break,
        }
        match inotify.read_events() {
            Ok(events) if ended(&events) => break,
            Ok(_) => {
                if let Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) = tx.try_send(true) {
                    return;
                }
            }
            Err(Errno::EAGAIN | Errno::EINTR) => {}
            Err(_) => break,
        }
    }
    let _ = tx.blocking_send(false);
}

/// Waits for a change through `watch`, or forever without one.
async fn manifest_change(watch: &mut Option<DirWatch>) -> bool {
    match watch {
        Some(w) => w.changed().await,
        None => std::future::pending().await,
    }
}

/// Reads the manifest directory into the static pods; returns whether the set changed.
fn sync_manifests(k: &Arc<Kubelet>, last: &mut Option<Vec<String>>) -> bool {
    let pods = read_manifests(&k.config.pod_manifest_path, &k.node_name);
    let mut uids: Vec<String> = pods.keys().cloned().collect();
    uids.sort();
    if last.as_ref() == Some(&uids) {
        return false;
    }
    *lock(&k.static_pods) = pods;
    *last = Some(uids);
    k.files_synced
        .store(true, std::sync::atomic::Ordering::Relaxed);
    k.reconcile_workers();
    true
}

/// Keeps the static pods in step with the manifest directory: read at once on every inotify
/// event (after [`MANIFEST_SETTLE`]), and in full every `--file-check-frequency` as a safety
/// net (and as the only way while the directory does not exist or cannot be watched).
pub async fn watch_manifests(k: Arc<Kubelet>) {
    let dir = k.config.pod_manifest_path.clone();
    let mut last: Option<Vec<String>> = None;
    let mut watch: Option<DirWatch> = None;
    let mut warned = false;
    loop {
        if watch.is_none() {
            match DirWatch::new(&dir) {
                Ok(w) => {
                    tracing::debug!(dir = %dir.display(), "watching static pod manifests with inotify");
                    watch = Some(w);
                    warned = false;
                }
                Err(e) if !warned => {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the static pod manifest directory; checking it every --file-check-frequency");
                    warned = true;
                }
                Err(_) => {}
            }
        }
        if sync_manifests(&k, &mut last) {
            tracing::debug!(
                pods = last.as_ref().map_or(0, Vec::len),
                "static pods changed"
            );
        }
        tokio::select! {
            _ = k.shutdown.cancelled() => return,
            _ = tokio::time::sleep(k.config.file_check_frequency) => {}
            alive = manifest_change(&mut watch) => {
                tokio::time::sleep(MANIFEST_SETTLE).await;
                if !alive || !watch.as_mut().is_some_and(DirWatch::drain) {
                    watch = None;
                }
            }
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
                let deleting = m.metadata.deletion_timestamp.is_some();
                if same && !deleting {
                    continue;
                }
                // Mirror pods have nothing to stop: a deletion finishes at once (the mirror
                // comes back on a later pass), a stale mirror is replaced now.
                delete_now(&api, &name).await;
                if deleting {
                    continue;
                }
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
                delete_now(&api, m.metadata.name.as_deref().unwrap_or("")).await;
            }
        }
    }
}

/// Deletes a mirror pod without a grace period; a failure is retried on the next pass.
async fn delete_now(api: &Api<Pod>, name: &str) {
    let _ = api
        .delete(
            name,
            &DeleteParams {
                grace_period_seconds: Some(0),
                ..Default::default()
            },
        )
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::is_static;

    #[tokio::test]
    async fn inotify_sees_writes_and_the_end_of_the_directory() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("manifests");
        std::fs::create_dir(&dir).unwrap();
        let mut watch = DirWatch::new(&dir).unwrap();
        std::fs::write(dir.join("a.yaml"), "x").unwrap();
        assert!(
            tokio::time::timeout(Duration::from_secs(5), watch.changed())
                .await
                .unwrap(),
            "write seen"
        );
        tokio::time::sleep(MANIFEST_SETTLE).await;
        assert!(watch.drain());
        std::fs::rename(dir.join("a.yaml"), base.path().join("a.yaml")).unwrap();
        assert!(
            tokio::time::timeout(Duration::from_secs(5), watch.changed())
                .await
                .unwrap(),
            "move away seen"
        );
        // Nothing happens: no notification.
        assert!(
            tokio::time::timeout(Duration::from_millis(300), watch.changed())
                .await
                .is_err()
        );
        std::fs::remove_dir(&dir).unwrap();
        let mut alive = true;
        for _ in 0..3 {
            alive = tokio::time::timeout(Duration::from_secs(5), watch.changed())
                .await
                .unwrap();
            if !alive {
                break;
            }
        }
        assert!(!alive, "removal of the directory ends the watch");
        assert!(DirWatch::new(&dir).is_err());
    }

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
