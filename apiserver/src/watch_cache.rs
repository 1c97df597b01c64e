//! The watch cache: one etcd watch per resource feeds an in-memory copy of its objects and a
//! window of recent events, which serve `resourceVersion=0` lists and fan out to every HTTP
//! watcher. Without it, a thousand kubelets watching pods would be a thousand etcd watches.
//!
//! A watcher subscribes under the same lock the feeder takes to apply an event, so the events it
//! replays from the window and the live ones it then receives have neither a gap nor an overlap.
//! When the etcd watch breaks, the cache relists and ends every subscription; clients re-watch
//! from their last resourceVersion, as they do against upstream.

use crate::storage::{Change, Store};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

/// Events kept for watchers that resume from an older resourceVersion.
const HISTORY_CAPACITY: usize = 10_000;
/// Events a slow watcher may fall behind before its watch is ended (it then re-watches).
const FANOUT_CAPACITY: usize = 4_096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change of one object.
#[derive(Debug)]
pub struct WatchEvent {
    pub kind: EventType,
    /// The object after the change (for a deletion: as it was, at the deletion's revision).
    pub object: Arc<Value>,
    /// The object before the change, so a filtered watcher can tell an object that stopped
    /// matching its selector (a DELETED for it) from one that never matched.
    pub previous: Option<Arc<Value>>,
    pub revision: i64,
}

/// A watcher's start: the events it must see first, then the live feed.
pub struct Subscription {
    pub initial: Vec<Arc<WatchEvent>>,
    pub live: broadcast::Receiver<Arc<WatchEvent>>,
}

/// The window no longer reaches back to the requested resourceVersion.
#[derive(Debug, thiserror::Error)]
#[error("too old resource version: {requested} ({oldest})")]
pub struct TooOld {
    pub requested: i64,
    pub oldest: i64,
}

struct State {
    objects: BTreeMap<String, Arc<Value>>,
    /// The newest revision applied.
    revision: i64,
    /// Watches starting after this revision can be served from `history`.
    oldest: i64,
    history: VecDeque<Arc<WatchEvent>>,
    sender: broadcast::Sender<Arc<WatchEvent>>,
}

/// The cache of one resource (one etcd key prefix).
pub struct WatchCache {
    prefix: String,
    state: RwLock<State>,
    ready: watch::Sender<bool>,
}

impl WatchCache {
    pub fn new(prefix: String) -> Arc<WatchCache> {
        let (sender, _) = broadcast::channel(FANOUT_CAPACITY);
        Arc::new(WatchCache {
            prefix,
            state: RwLock::new(State {
                objects: BTreeMap::new(),
                revision: 0,
                oldest: 0,
                history: VecDeque::new(),
                sender,
            }),
            ready: watch::channel(false).0,
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until the first list from etcd is loaded, at most `timeout`.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let mut ready = self.ready.subscribe();
        tokio::time::timeout(timeout, ready.wait_for(|r| *r))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The newest revision applied, without copying the objects as [`Self::snapshot`] does.
    pub fn revision(&self) -> i64 {
        self.read().revision
    }

    /// Every object (in key order) and the revision they are current at.
    pub fn snapshot(&self) -> (Vec<Arc<Value>>, i64) {
        let state = self.read();
        (state.objects.values().cloned().collect(), state.revision)
    }

    /// Starts a watch. `after = None`: synthetic ADDED events for every current object, then
    /// changes. `after = Some(rv)`: every change after `rv`.
    pub fn subscribe(&self, after: Option<i64>) -> Result<Subscription, TooOld> {
        let state = self.read();
        let initial = match after {
            None => state
                .objects
                .values()
                .map(|object| {
                    Arc::new(WatchEvent {
                        kind: EventType::Added,
                        object: object.clone(),
                        previous: None,
                        revision: resource_version(object),
                    })
                })
                .collect(),
            Some(rv) if rv < state.oldest => {
                return Err(TooOld {
                    requested: rv,
                    oldest: state.oldest,
                })
            }
            Some(rv) => state
                .history
                .iter()
                .filter(|event| event.revision > rv)
                .cloned()
                .collect(),
        };
        Ok(Subscription {
            initial,
            live: state.sender.subscribe(),
        })
    }

    /// Keeps the cache current until `shutdown`: list, then watch from the list's revision;
    /// on any failure, wait a moment and start over.
    pub async fn run(self: Arc<Self>, store: Store, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        while !shutdown.is_cancelled() {
            let result = tokio::select! {
                result = self.list_and_watch(&store) => result,
                _ = shutdown.cancelled() => return,
            };
            if let Err(error) = result {
                tracing::warn!(prefix = %self.prefix, %error, "watch cache lost etcd, relisting");
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.cancelled() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn list_and_watch(&self, store: &Store) -> Result<(), crate::storage::StorageError> {
        let page = store.list(&self.prefix, None, 0, 0).await?;
        let mut watch = store.watch(&self.prefix, page.revision).await?;
        self.replace(
            page.items.into_iter().map(|s| (s.key, s.object)),
            page.revision,
        );
        while let Some(changes) = watch.next().await? {
            for change in changes {
                self.apply(change);
            }
        }
        Ok(())
    }

    /// Loads a full list. Watchers of an earlier generation are ended: they cannot know what
    /// changed while etcd was out of reach, so they re-watch.
    fn replace(&self, items: impl Iterator<Item = (String, Value)>, revision: i64) {
        let mut state = self.write();
        state.objects = items.map(|(key, object)| (key, Arc::new(object))).collect();
        state.revision = revision;
        state.oldest = revision;
        state.history.clear();
        state.sender = broadcast::channel(FANOUT_CAPACITY).0;
        drop(state);
        self.ready.send_replace(true);
    }

    fn apply(&self, change: Change) {
        let mut state = self.write();
        let previous = state.objects.get(&change.key).cloned();
        let event = match change.object {
            Some(object) => {
                let object = Arc::new(object);
                state.objects.insert(change.key, object.clone());
                WatchEvent {
                    kind: if previous.is_some() {
                        EventType::Modified
                    } else {
                        EventType::Added
                    },
                    object,
                    previous,
                    revision: change.revision,
                }
            }
            None => {
                state.objects.remove(&change.key);
                let object = match change.previous {
                    Some(object) => Arc::new(object),
                    None => match previous.clone() {
                        Some(object) => object,
                        None => return,
                    },
                };
                WatchEvent {
                    kind: EventType::Deleted,
                    object,
                    previous,
                    revision: change.revision,
                }
            }
        };
        let event = Arc::new(event);
        state.revision = change.revision;
        state.history.push_back(event.clone());
        if state.history.len() > HISTORY_CAPACITY {
            if let Some(dropped) = state.history.pop_front() {
                state.oldest = dropped.revision;
            }
        }
        // No receiver is not an error: nobody is watching right now.
        let _ = state.sender.send(event);
    }
}

/// `metadata.resourceVersion` as a number (0 when absent or malformed).
pub fn resource_version(object: &Value) -> i64 {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|rv| rv.parse().ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(name: &str, rv: i64) -> Value {
        json!({"metadata": {"name": name, "resourceVersion": rv.to_string()}})
    }

    fn put(cache: &WatchCache, name: &str, rv: i64) {
        cache.apply(Change {
            key: format!("/registry/pods/default/{name}"),
            object: Some(object(name, rv)),
            previous: None,
            revision: rv,
        });
    }

    fn delete(cache: &WatchCache, name: &str, rv: i64) {
        cache.apply(Change {
            key: format!("/registry/pods/default/{name}"),
            object: None,
            previous: Some(object(name, rv)),
            revision: rv,
        });
    }

    fn kinds(events: &[Arc<WatchEvent>]) -> Vec<(&'static str, i64)> {
        events
            .iter()
            .map(|e| (e.kind.as_str(), e.revision))
            .collect()
    }

    #[test]
    fn resuming_watchers_see_exactly_the_changes_after_their_revision() {
        let cache = WatchCache::new("/registry/pods/".into());
        cache.replace(
            std::iter::once(("/registry/pods/default/a".into(), object("a", 5))),
            5,
        );
        put(&cache, "b", 6);
        put(&cache, "a", 7);
        delete(&cache, "b", 8);
        type Replayed = Vec<(&'static str, i64)>;
        let cases: &[(Option<i64>, Replayed)] = &[
            (Some(5), vec![("ADDED", 6), ("MODIFIED", 7), ("DELETED", 8)]),
            (Some(6), vec![("MODIFIED", 7), ("DELETED", 8)]),
            (Some(8), vec![]),
            (Some(100), vec![]),
            (None, vec![("ADDED", 7)]),
        ];
        for (after, expected) in cases {
            let subscription = cache.subscribe(*after).unwrap();
            assert_eq!(kinds(&subscription.initial), *expected, "after {after:?}");
        }
        assert!(cache.subscribe(Some(4)).is_err(), "before the window: 410");
    }

    #[tokio::test]
    async fn live_events_follow_the_replayed_ones() {
        let cache = WatchCache::new("/registry/pods/".into());
        cache.replace(std::iter::empty(), 10);
        put(&cache, "a", 11);
        let mut subscription = cache.subscribe(Some(10)).unwrap();
        put(&cache, "a", 12);
        assert_eq!(kinds(&subscription.initial), vec![("ADDED", 11)]);
        let live = subscription.live.recv().await.unwrap();
        assert_eq!((live.kind, live.revision), (EventType::Modified, 12));
        assert_eq!(live.previous.as_deref(), Some(&object("a", 11)));
    }

    #[test]
    fn a_relist_ends_existing_watchers() {
        let cache = WatchCache::new("/registry/pods/".into());
        cache.replace(std::iter::empty(), 1);
        let mut subscription = cache.subscribe(None).unwrap();
        cache.replace(std::iter::empty(), 2);
        assert!(matches!(
            subscription.live.try_recv(),
            Err(broadcast::error::TryRecvError::Closed)
        ));
    }
}
