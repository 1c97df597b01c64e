//! Objects in etcd, as DESIGN §4 lays them out: the JSON of each object under
//! `/registry/<resource>/[<namespace>/]<name>`, its `resourceVersion` the key's `mod_revision`.
//! Create is a transaction on `create_revision == 0`; update and delete are transactions on the
//! `mod_revision` the caller read, so concurrent writers get a conflict instead of losing data.
//! The stored JSON carries no `resourceVersion`; it is set from etcd on every read.

use etcd_client::{
    Client, Compare, CompareOp, EventType, GetOptions, KeyValue, KvClient, Txn, TxnOp,
    TxnOpResponse, WatchClient, WatchOptions, WatchStream,
};
use serde_json::Value;
use tinykube_apimachinery::keys::REGISTRY_ROOT;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("key {0} not found")]
    NotFound(String),
    #[error("key {0} already exists")]
    AlreadyExists(String),
    /// The object changed since the caller read it; carries the current object when it exists.
    #[error("key {key} was modified concurrently")]
    Conflict { key: String },
    /// A watch or read asked for a revision etcd has compacted away.
    #[error("revision {requested} is compacted (oldest available {oldest})")]
    Compacted { requested: i64, oldest: i64 },
    #[error("stored value under {key} is not valid JSON: {source}")]
    Corrupt {
        key: String,
        source: serde_json::Error,
    },
    #[error("etcd: {0}")]
    Etcd(#[from] etcd_client::Error),
}

/// One stored object with its revision.
#[derive(Debug, Clone)]
pub struct Stored {
    pub key: String,
    pub object: Value,
    pub revision: i64,
}

impl Stored {
    /// `object` as of `revision`, which becomes its `metadata.resourceVersion`.
    fn at(key: String, mut object: Value, revision: i64) -> Stored {
        set_resource_version(&mut object, revision);
        Stored {
            key,
            object,
            revision,
        }
    }
}

/// A page of a list: objects in key order and the revision the list was read at.
#[derive(Debug)]
pub struct ListPage {
    pub items: Vec<Stored>,
    pub revision: i64,
    /// Whether more keys follow the last item under the prefix.
    pub more: bool,
}

/// A change seen by an etcd watch.
#[derive(Debug, Clone)]
pub struct Change {
    pub key: String,
    /// The object after the change, or `None` for a deletion.
    pub object: Option<Value>,
    /// The object before the change, when there was one.
    pub previous: Option<Value>,
    pub revision: i64,
}

/// Where the keys live in etcd: the rest of the apiserver speaks of keys under `/registry/`,
/// and `--etcd-prefix` moves them all under another root (upstream's flag), e.g. so two
/// clusters can share one etcd.
#[derive(Clone, Debug)]
struct KeyMap {
    root: std::sync::Arc<str>,
}

impl KeyMap {
    fn physical(&self, key: &str) -> String {
        match key.strip_prefix(REGISTRY_ROOT) {
            Some(rest) => format!("{}{rest}", self.root),
            None => key.to_string(),
        }
    }

    fn logical(&self, key: &[u8]) -> String {
        let key = String::from_utf8_lossy(key);
        match key.strip_prefix(&*self.root) {
            Some(rest) => format!("{REGISTRY_ROOT}{rest}"),
            None => key.into_owned(),
        }
    }
}

/// The etcd-backed store. Cheap to clone: clones share one connection.
#[derive(Clone)]
pub struct Store {
    kv: KvClient,
    watch: WatchClient,
    keys: KeyMap,
}

/// The largest etcd response we accept: upstream lifts gRPC's 4 MiB default to the maximum so a
/// large unpaged list still answers.
const MAX_RESPONSE_BYTES: usize = i32::MAX as usize;

/// Sets `metadata.resourceVersion` to `revision`.
pub fn set_resource_version(object: &mut Value, revision: i64) {
    if let Some(meta) = object
        .as_object_mut()
        .map(|o| {
            o.entry("metadata")
                .or_insert_with(|| Value::Object(Default::default()))
        })
        .and_then(Value::as_object_mut)
    {
        meta.insert(
            "resourceVersion".to_string(),
            Value::String(revision.to_string()),
        );
    }
}

/// The bytes etcd holds for `object`: without `metadata.resourceVersion`, which is etcd's own
/// revision. The copy made to strip it is handed back, to be returned with the write's revision
/// without copying the object again.
fn encode(object: &Value) -> (Vec<u8>, Value) {
    let mut stored = object.clone();
    if let Some(meta) = stored.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    (serde_json::to_vec(&stored).unwrap_or_default(), stored)
}

fn decode(kv: &KeyValue, revision: i64, keys: &KeyMap) -> Result<Stored, StorageError> {
    let key = keys.logical(kv.key());
    let object: Value =
        serde_json::from_slice(kv.value()).map_err(|source| StorageError::Corrupt {
            key: key.clone(),
            source,
        })?;
    Ok(Stored::at(key, object, revision))
}

/// The first key after every key starting with `prefix`, the end of an etcd prefix range.
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

impl Store {
    /// Connects to the etcd endpoints (`http://127.0.0.1:2379`), keeping every key under
    /// `prefix` (upstream's `--etcd-prefix`, `/registry` by default).
    pub async fn connect(endpoints: &[String], prefix: &str) -> Result<Store, StorageError> {
        let client = Client::connect(endpoints, None).await?;
        let root = format!("/{}", prefix.trim_matches('/'));
        Ok(Store {
            keys: KeyMap { root: root.into() },
            kv: client
                .kv_client()
                .max_decoding_message_size(MAX_RESPONSE_BYTES),
            watch: client
                .watch_client()
                .max_decoding_message_size(MAX_RESPONSE_BYTES),
        })
    }

    /// etcd's current revision: the newest write anywhere in the keyspace.
    pub async fn current_revision(&self) -> Result<i64, StorageError> {
        let response = self
            .kv
            .clone()
            .get("/", Some(GetOptions::new().with_count_only()))
            .await?;
        Ok(response.header().map(|h| h.revision()).unwrap_or_default())
    }

    pub async fn get(&self, key: &str) -> Result<Stored, StorageError> {
        let response = self.kv.clone().get(self.keys.physical(key), None).await?;
        let kv = response
            .kvs()
            .first()
            .ok_or_else(|| StorageError::NotFound(key.to_string()))?;
        decode(kv, kv.mod_revision(), &self.keys)
    }

    /// Creates `key`; fails with `AlreadyExists` when it is taken. Returns the stored object.
    pub async fn create(&self, key: &str, object: &Value) -> Result<Stored, StorageError> {
        let physical = self.keys.physical(key);
        let (bytes, object) = encode(object);
        let txn = Txn::new()
            .when([Compare::create_revision(
                physical.as_str(),
                CompareOp::Equal,
                0,
            )])
            .and_then([TxnOp::put(physical.as_str(), bytes, None)]);
        let response = self.kv.clone().txn(txn).await?;
        if !response.succeeded() {
            return Err(StorageError::AlreadyExists(key.to_string()));
        }
        let revision = response.header().map(|h| h.revision()).unwrap_or_default();
        Ok(Stored::at(key.to_string(), object, revision))
    }

    /// Replaces `key` if its `mod_revision` is still `expected`.
    pub async fn update(
        &self,
        key: &str,
        object: &Value,
        expected: i64,
    ) -> Result<Stored, StorageError> {
        let physical = self.keys.physical(key);
        let (bytes, object) = encode(object);
        let txn = Txn::new()
            .when([Compare::mod_revision(
                physical.as_str(),
                CompareOp::Equal,
                expected,
            )])
            .and_then([TxnOp::put(physical.as_str(), bytes, None)])
            .or_else([TxnOp::get(physical.as_str(), None)]);
        let response = self.kv.clone().txn(txn).await?;
        if !response.succeeded() {
            return Err(Self::failed_precondition(key, response.op_responses()));
        }
        let revision = response.header().map(|h| h.revision()).unwrap_or_default();
        Ok(Stored::at(key.to_string(), object, revision))
    }

    /// Deletes `key` if its `mod_revision` is still `expected`. Returns the deleted object.
    pub async fn delete(&self, key: &str, expected: i64) -> Result<Stored, StorageError> {
        let physical = self.keys.physical(key);
        let txn = Txn::new()
            .when([Compare::mod_revision(
                physical.as_str(),
                CompareOp::Equal,
                expected,
            )])
            .and_then([
                TxnOp::get(physical.as_str(), None),
                TxnOp::delete(physical.as_str(), None),
            ])
            .or_else([TxnOp::get(physical.as_str(), None)]);
        let response = self.kv.clone().txn(txn).await?;
        if !response.succeeded() {
            return Err(Self::failed_precondition(key, response.op_responses()));
        }
        let revision = response.header().map(|h| h.revision()).unwrap_or_default();
        let deleted = response
            .op_responses()
            .into_iter()
            .find_map(|op| match op {
                TxnOpResponse::Get(get) => get.kvs().first().cloned(),
                _ => None,
            })
            .ok_or_else(|| StorageError::NotFound(key.to_string()))?;
        let mut stored = decode(&deleted, revision, &self.keys)?;
        stored.revision = revision;
        Ok(stored)
    }

    fn failed_precondition(key: &str, responses: Vec<TxnOpResponse>) -> StorageError {
        let exists = responses.into_iter().any(|op| match op {
            TxnOpResponse::Get(get) => !get.kvs().is_empty(),
            _ => false,
        });
        if exists {
            StorageError::Conflict {
                key: key.to_string(),
            }
        } else {
            StorageError::NotFound(key.to_string())
        }
    }

    /// Lists keys under `prefix` starting at `start` (inclusive), at most `limit` (0: all), at
    /// `revision` (0: the newest).
    pub async fn list(
        &self,
        prefix: &str,
        start: Option<&str>,
        limit: i64,
        revision: i64,
    ) -> Result<ListPage, StorageError> {
        let prefix = self.keys.physical(prefix);
        let from = self.keys.physical(start.unwrap_or(&prefix));
        let mut options = GetOptions::new().with_range(prefix_end(&prefix));
        if limit > 0 {
            options = options.with_limit(limit);
        }
        if revision > 0 {
            options = options.with_revision(revision);
        }
        let response = self
            .kv
            .clone()
            .get(from, Some(options))
            .await
            .map_err(|error| compacted_or(error, revision))?;
        let read_at = response.header().map(|h| h.revision()).unwrap_or_default();
        let revision = if revision > 0 { revision } else { read_at };
        let items = response
            .kvs()
            .iter()
            .map(|kv| decode(kv, kv.mod_revision(), &self.keys))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ListPage {
            items,
            revision,
            more: response.more(),
        })
    }

    /// Watches every key under `prefix` for changes after `after`.
    pub async fn watch(&self, prefix: &str, after: i64) -> Result<EtcdWatch, StorageError> {
        let prefix = self.keys.physical(prefix);
        let options = WatchOptions::new()
            .with_range(prefix_end(&prefix))
            .with_start_revision(after + 1)
            .with_prev_key();
        let stream = self.watch.clone().watch(prefix, Some(options)).await?;
        Ok(EtcdWatch {
            stream,
            after,
            keys: self.keys.clone(),
        })
    }

    /// Compacts etcd's history up to `revision` (what upstream's apiserver does every few
    /// minutes; tests use it to show `410 Gone`).
    pub async fn compact(&self, revision: i64) -> Result<(), StorageError> {
        self.kv.clone().compact(revision, None).await?;
        Ok(())
    }
}

fn compacted_or(error: etcd_client::Error, requested: i64) -> StorageError {
    let text = error.to_string();
    if text.contains("compacted") {
        StorageError::Compacted {
            requested,
            oldest: 0,
        }
    } else {
        StorageError::Etcd(error)
    }
}

/// An open etcd watch.
pub struct EtcdWatch {
    stream: WatchStream,
    after: i64,
    keys: KeyMap,
}

impl EtcdWatch {
    /// The next batch of changes; `Ok(None)` when etcd closed the watch.
    pub async fn next(&mut self) -> Result<Option<Vec<Change>>, StorageError> {
        loop {
            let Some(response) = self.stream.message().await? else {
                return Ok(None);
            };
            if response.compact_revision() > 0 {
                return Err(StorageError::Compacted {
                    requested: self.after,
                    oldest: response.compact_revision(),
                });
            }
            if response.canceled() {
                return Ok(None);
            }
            if response.events().is_empty() {
                continue;
            }
            let mut changes = Vec::with_capacity(response.events().len());
            for event in response.events() {
                let Some(kv) = event.kv() else { continue };
                let revision = kv.mod_revision();
                let previous = match event.prev_kv() {
                    Some(prev) => Some(decode(prev, prev.mod_revision(), &self.keys)?.object),
                    None => None,
                };
                let object = match event.event_type() {
                    EventType::Put => Some(decode(kv, revision, &self.keys)?.object),
                    EventType::Delete => None,
                };
                // A deletion reports the object as it was, at the deletion's revision.
                let previous = previous.map(|mut prev| {
                    if object.is_none() {
                        set_resource_version(&mut prev, revision);
                    }
                    prev
                });
                self.after = revision;
                changes.push(Change {
                    key: self.keys.logical(kv.key()),
                    object,
                    previous,
                    revision,
                });
            }
            return Ok(Some(changes));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_key_after_the_prefix() {
        let cases: &[(&str, &[u8])] = &[
            ("/registry/pods/", b"/registry/pods0"),
            ("a", b"b"),
            ("", &[0]),
        ];
        for (prefix, end) in cases {
            assert_eq!(prefix_end(prefix), end.to_vec(), "{prefix}");
        }
    }

    #[test]
    fn etcd_prefix_moves_every_key_and_back() {
        let cases = [
            (
                "/registry",
                "/registry/pods/default/a",
                "/registry/pods/default/a",
            ),
            (
                "/other",
                "/registry/pods/default/a",
                "/other/pods/default/a",
            ),
            ("/a/b", "/registry/services/specs/", "/a/b/services/specs/"),
        ];
        for (root, logical, physical) in cases {
            let keys = KeyMap { root: root.into() };
            assert_eq!(keys.physical(logical), physical);
            assert_eq!(keys.logical(physical.as_bytes()), logical);
        }
    }

    #[test]
    fn stored_json_has_no_resource_version() {
        let object = serde_json::json!({"metadata": {"name": "a", "resourceVersion": "7"}});
        let stored: Value = serde_json::from_slice(&encode(&object).0).unwrap();
        assert_eq!(stored, serde_json::json!({"metadata": {"name": "a"}}));
    }
}
