//! Upstream's `ControllerExpectations`: after a ReplicaSet creates or deletes pods, its next
//! sync must not act on a cache that has not seen those writes yet, or it would create (or
//! delete) the same pods twice. Before issuing writes the controller records how many pod
//! creations and which pod deletions it expects; the pod informer lowers the counts as it
//! observes them; a failed write lowers them at once. The owner syncs its replica count only
//! when nothing is outstanding — or when the record is older than [`EXPECTATIONS_TTL`], in case
//! an event was missed.
//!
//! Time is passed in, so this is pure and tested without clocks.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// How long a record may stay unfulfilled before it is ignored (upstream: 5 minutes).
pub const EXPECTATIONS_TTL: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone)]
struct Record {
    adds: i64,
    deletes: HashSet<String>,
    set_at: Instant,
}

/// Outstanding pod creations and deletions per owner key (`namespace/name`).
#[derive(Debug, Default)]
pub struct Expectations {
    records: HashMap<String, Record>,
}

impl Expectations {
    /// Records that `adds` creations of pods controlled by `owner` are about to be issued.
    pub fn expect_creations(&mut self, owner: &str, adds: usize, now: Instant) {
        let record = self.records.entry(owner.to_string()).or_insert(Record {
            adds: 0,
            deletes: HashSet::new(),
            set_at: now,
        });
        record.adds += adds as i64;
        record.set_at = now;
    }

    /// Records that the pods `keys` (`namespace/name`) are about to be deleted.
    pub fn expect_deletions<'a>(
        &mut self,
        owner: &str,
        keys: impl IntoIterator<Item = &'a str>,
        now: Instant,
    ) {
        let record = self.records.entry(owner.to_string()).or_insert(Record {
            adds: 0,
            deletes: HashSet::new(),
            set_at: now,
        });
        record.deletes.extend(keys.into_iter().map(str::to_string));
        record.set_at = now;
    }

    /// A pod controlled by `owner` was observed (or its creation failed).
    pub fn creation_observed(&mut self, owner: &str) {
        if let Some(record) = self.records.get_mut(owner) {
            record.adds = (record.adds - 1).max(0);
        }
    }

    /// The pod `key` was observed deleted or terminating (or its deletion failed).
    pub fn deletion_observed(&mut self, owner: &str, key: &str) {
        if let Some(record) = self.records.get_mut(owner) {
            record.deletes.remove(key);
        }
    }

    /// Whether `owner` may act on the cache: nothing outstanding, no record, or an expired one.
    pub fn satisfied(&self, owner: &str, now: Instant) -> bool {
        match self.records.get(owner) {
            None => true,
            Some(record) => {
                (record.adds <= 0 && record.deletes.is_empty())
                    || now.saturating_duration_since(record.set_at) > EXPECTATIONS_TTL
            }
        }
    }

    /// Forgets `owner` (it was deleted, or its record expired and is about to be replaced).
    pub fn forget(&mut self, owner: &str) {
        self.records.remove(owner);
    }

    /// What is outstanding for `owner`: (creations, deletions).
    pub fn pending(&self, owner: &str) -> (i64, usize) {
        self.records
            .get(owner)
            .map(|r| (r.adds.max(0), r.deletes.len()))
            .unwrap_or((0, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    enum Op {
        ExpectAdds(usize),
        ExpectDeletes(&'static [&'static str]),
        Added,
        Deleted(&'static str),
        Forget,
        /// Advance the clock.
        Wait(Duration),
    }

    #[test]
    fn expectations_table() {
        use Op::*;
        // (operations, satisfied afterwards, pending afterwards)
        let cases: Vec<(Vec<Op>, bool, (i64, usize))> = vec![
            (vec![], true, (0, 0)),
            (vec![ExpectAdds(2)], false, (2, 0)),
            (vec![ExpectAdds(2), Added], false, (1, 0)),
            (vec![ExpectAdds(2), Added, Added], true, (0, 0)),
            // Observations beyond what was expected never go negative.
            (
                vec![ExpectAdds(1), Added, Added, ExpectAdds(1)],
                false,
                (1, 0),
            ),
            (vec![ExpectDeletes(&["ns/a", "ns/b"])], false, (0, 2)),
            (
                vec![ExpectDeletes(&["ns/a", "ns/b"]), Deleted("ns/a")],
                false,
                (0, 1),
            ),
            (
                vec![
                    ExpectDeletes(&["ns/a"]),
                    Deleted("ns/other"),
                    Deleted("ns/a"),
                ],
                true,
                (0, 0),
            ),
            (vec![ExpectAdds(3), Forget], true, (0, 0)),
            // A record nobody fulfils expires.
            (
                vec![
                    ExpectAdds(1),
                    Wait(EXPECTATIONS_TTL + Duration::from_secs(1)),
                ],
                true,
                (1, 0),
            ),
            (
                vec![ExpectAdds(1), Wait(Duration::from_secs(10))],
                false,
                (1, 0),
            ),
        ];
        for (i, (ops, satisfied, pending)) in cases.into_iter().enumerate() {
            let start = Instant::now();
            let mut now = start;
            let mut e = Expectations::default();
            for op in &ops {
                match op {
                    ExpectAdds(n) => e.expect_creations("ns/rs", *n, now),
                    ExpectDeletes(keys) => e.expect_deletions("ns/rs", keys.iter().copied(), now),
                    Added => e.creation_observed("ns/rs"),
                    Deleted(k) => e.deletion_observed("ns/rs", k),
                    Forget => e.forget("ns/rs"),
                    Wait(d) => now += *d,
                }
            }
            assert_eq!(e.satisfied("ns/rs", now), satisfied, "case {i}: {ops:?}");
            assert_eq!(e.pending("ns/rs"), pending, "case {i}: {ops:?}");
            // Other owners are unaffected.
            assert!(e.satisfied("ns/other", now));
        }
    }
}
