//! Shared informers: one watch per resource type, a cache (kube-runtime's reflector [`Store`])
//! and a fan-out of changes to every controller that subscribed.
//!
//! kube-runtime's own shared streams (`store_shared`) broadcast only applied objects; controllers
//! here also need deletions (a deleted pod must wake its ReplicaSet, a pod whose labels changed
//! must wake the Services that selected it before), so a [`Change`] carries the cached object
//! before the event as well as after it. A relist (after a watch expired) is diffed against the
//! cache, so objects that vanished meanwhile are reported as [`Change::Deleted`] too.
//!
//! A subscriber that joins after the cache synced first receives every cached object as an
//! [`Change::Applied`] with no `old`, so it never misses the initial state.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::{Stream, StreamExt};
use kube::api::Api;
use kube::runtime::reflector::{store::Writer, Lookup, ObjectRef, Store};
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::Resource;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// One observed change of a cached object.
#[derive(Debug)]
pub enum Change<K> {
    /// Added (`old` is `None`) or modified.
    Applied { old: Option<Arc<K>>, new: Arc<K> },
    /// Deleted; the last state seen.
    Deleted(Arc<K>),
}

impl<K> Clone for Change<K> {
    fn clone(&self) -> Self {
        match self {
            Change::Applied { old, new } => Change::Applied {
                old: old.clone(),
                new: new.clone(),
            },
            Change::Deleted(obj) => Change::Deleted(obj.clone()),
        }
    }
}

impl<K> Change<K> {
    /// The object as it is now (for a deletion: as it was last seen).
    pub fn object(&self) -> &Arc<K> {
        match self {
            Change::Applied { new, .. } => new,
            Change::Deleted(obj) => obj,
        }
    }

    /// The object before this change, if it was known.
    pub fn old(&self) -> Option<&Arc<K>> {
        match self {
            Change::Applied { old, .. } => old.as_ref(),
            Change::Deleted(obj) => Some(obj),
        }
    }

    /// Both states worth looking at (before and after), without duplicates for deletions.
    pub fn states(&self) -> Vec<&Arc<K>> {
        match self {
            Change::Applied {
                old: Some(old),
                new,
            } => vec![old, new],
            Change::Applied { old: None, new } => vec![new],
            Change::Deleted(obj) => vec![obj],
        }
    }
}

type Subscribers<K> = Arc<Mutex<Vec<mpsc::UnboundedSender<Change<K>>>>>;

/// A watch of one resource type, its cache and its subscribers.
pub struct Informer<K>
where
    K: Resource + Lookup + Clone + 'static,
    <K as Lookup>::DynamicType: Eq + Hash + Clone,
{
    store: Store<K>,
    writer: Arc<Mutex<Option<Writer<K>>>>,
    subscribers: Subscribers<K>,
    synced: Arc<AtomicBool>,
    /// Flips to true on the first list. (The store's own readiness signal wakes only one
    /// waiter, and several controllers wait for the same informer.)
    synced_tx: Arc<watch::Sender<bool>>,
    dyntype: <K as Lookup>::DynamicType,
}

impl<K> Clone for Informer<K>
where
    K: Resource + Lookup + Clone + 'static,
    <K as Lookup>::DynamicType: Eq + Hash + Clone,
{
    fn clone(&self) -> Self {
        Informer {
            store: self.store.clone(),
            writer: self.writer.clone(),
            subscribers: self.subscribers.clone(),
            synced: self.synced.clone(),
            synced_tx: self.synced_tx.clone(),
            dyntype: self.dyntype.clone(),
        }
    }
}

impl<K> Informer<K>
where
    K: Resource + Lookup + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    <K as Lookup>::DynamicType: Eq + Hash + Clone + Send + Sync + Default,
{
    /// An informer for a statically typed resource; call [`Informer::start`] to begin watching.
    pub fn new() -> Self {
        Self::new_with(Default::default())
    }
}

impl<K> Default for Informer<K>
where
    K: Resource + Lookup + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    <K as Lookup>::DynamicType: Eq + Hash + Clone + Send + Sync + Default,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<K> Informer<K>
where
    K: Resource + Lookup + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    <K as Lookup>::DynamicType: Eq + Hash + Clone + Send + Sync,
{
    /// An informer for a resource known by its dynamic type (e.g. from discovery).
    pub fn new_with(dyntype: <K as Lookup>::DynamicType) -> Self {
        let writer = Writer::new(dyntype.clone());
        Informer {
            store: writer.as_reader(),
            writer: Arc::new(Mutex::new(Some(writer))),
            subscribers: Arc::new(Mutex::new(Vec::new())),
            synced: Arc::new(AtomicBool::new(false)),
            synced_tx: Arc::new(watch::channel(false).0),
            dyntype,
        }
    }

    /// The cache. Never mutate what it hands out.
    pub fn store(&self) -> &Store<K> {
        &self.store
    }

    /// Whether the first list has been received.
    pub fn has_synced(&self) -> bool {
        self.synced.load(Ordering::SeqCst)
    }

    /// Waits for the first list (or forever when the informer never starts).
    pub async fn wait_synced(&self) {
        let mut rx = self.synced_tx.subscribe();
        let _ = rx.wait_for(|synced| *synced).await;
    }

    /// A stream of every change from now on (preceded by the cached state when already synced).
    pub fn subscribe(&self) -> impl Stream<Item = Change<K>> + Send + 'static {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut subscribers = lock(&self.subscribers);
        if self.has_synced() {
            for obj in self.store.state() {
                let _ = tx.send(Change::Applied {
                    old: None,
                    new: obj,
                });
            }
        }
        subscribers.push(tx);
        futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }

    /// Starts the watch with `config` through `api`, modifying every object with `trim` before
    /// it is cached (to drop fields nobody reads). Runs until `shutdown`. Starting twice is a
    /// no-op.
    pub fn start_with(
        &self,
        api: Api<K>,
        config: watcher::Config,
        trim: fn(&mut K),
        shutdown: CancellationToken,
    ) {
        let Some(writer) = lock(&self.writer).take() else {
            return;
        };
        let this = self.clone();
        let kind = <K as Lookup>::kind(&self.dyntype).to_string();
        tokio::spawn(async move {
            let stream = watcher(api, config)
                .default_backoff()
                .map(move |event| event.map(|e| e.modify(trim)));
            let mut stream = std::pin::pin!(stream);
            let mut state = RunState {
                writer,
                relist: Vec::new(),
            };
            loop {
                let event = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    event = stream.next() => event,
                };
                match event {
                    None => break,
                    Some(Ok(event)) => this.handle(&mut state, event),
                    Some(Err(error)) => {
                        tracing::warn!(%error, kind = %kind, "watch failed; retrying with backoff")
                    }
                }
            }
        });
    }

    /// Starts the watch with no trimming.
    pub fn start(&self, api: Api<K>, config: watcher::Config, shutdown: CancellationToken) {
        self.start_with(api, config, |_| {}, shutdown)
    }

    fn handle(&self, state: &mut RunState<K>, event: Event<K>) {
        // Cache and fan out under one lock, so a subscriber that joins meanwhile sees either the
        // state before (and then this change) or the state after, never a gap.
        let mut subscribers = lock(&self.subscribers);
        let mut changes = Vec::new();
        match &event {
            Event::Apply(obj) => {
                let key = obj.to_object_ref(self.dyntype.clone());
                let old = self.store.get(&key);
                state.writer.apply_watcher_event(&event);
                if let Some(new) = self.store.get(&key) {
                    changes.push(Change::Applied { old, new });
                }
            }
            Event::Delete(obj) => {
                state.writer.apply_watcher_event(&event);
                // The final state the apiserver sent (it carries the deletion).
                changes.push(Change::Deleted(Arc::new(obj.clone())));
            }
            Event::Init => {
                state.relist.clear();
                state.writer.apply_watcher_event(&event);
            }
            Event::InitApply(obj) => {
                state.relist.push(obj.to_object_ref(self.dyntype.clone()));
                state.writer.apply_watcher_event(&event);
            }
            Event::InitDone => {
                let before: HashMap<ObjectRef<K>, Arc<K>> = self
                    .store
                    .state()
                    .into_iter()
                    .map(|o| (o.to_object_ref(self.dyntype.clone()), o))
                    .collect();
                state.writer.apply_watcher_event(&event);
                let first = !self.synced.swap(true, Ordering::SeqCst);
                self.synced_tx.send_replace(true);
                for key in state.relist.drain(..) {
                    let Some(new) = self.store.get(&key) else {
                        continue;
                    };
                    let old = before.get(&key).cloned();
                    let unchanged = old
                        .as_ref()
                        .is_some_and(|o| resource_version(&**o) == resource_version(&*new));
                    if first || !unchanged {
                        changes.push(Change::Applied { old, new });
                    }
                }
                for (key, obj) in before {
                    if self.store.get(&key).is_none() {
                        changes.push(Change::Deleted(obj));
                    }
                }
            }
        }
        for change in changes {
            subscribers.retain(|tx| tx.send(change.clone()).is_ok());
        }
    }
}

fn resource_version<K: Resource>(obj: &K) -> Option<&str> {
    obj.meta().resource_version.as_deref()
}

struct RunState<K>
where
    K: Resource + Lookup + Clone + 'static,
    <K as Lookup>::DynamicType: Eq + Hash + Clone,
{
    writer: Writer<K>,
    relist: Vec<ObjectRef<K>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
