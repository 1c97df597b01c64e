//! One sync: render from the cache, write what changed, flush stale UDP conntrack entries.
//!
//! [`Proxier::sync`] is what the sync loop (in `lib.rs`) calls after a burst of changes, on the
//! periodic resync and on retries. As upstream's iptables proxier, it keeps the ruleset it last
//! applied and, while the kernel is known to hold it, makes *partial* syncs: the fixed chains
//! are rewritten, per-service chains only when new or changed, and chains that went away are
//! deleted; an unchanged rendering costs no `iptables-restore` at all. A *full* sync (at start,
//! after any failure, and on forced periodic resyncs) re-checks the jumps from the built-in
//! chains and rewrites every chain of ours, so a flushed or tampered table is repaired; when
//! the kernel's state is not known (at start, after a failure) it first reads which of our
//! chains exist, so leftovers are deleted too.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::error::Error;
use crate::iptables::Iptables;
use crate::render::{
    build_model, render_model, restore_input, stale_conntrack, Baseline, NodeContext, ProxyModel,
    Ruleset,
};

/// What a sync did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncOutcome {
    /// Every chain of ours was rewritten.
    Full,
    /// Only what changed since the last applied ruleset was written.
    Partial,
    /// The rendering equals what was applied last: nothing was run.
    Unchanged,
}

/// The state kept between syncs.
#[derive(Debug)]
pub struct Proxier {
    iptables: Iptables,
    node: NodeContext,
    /// What the kernel holds, when known (`None` at start and after a failure).
    applied: Option<Ruleset>,
    applied_model: ProxyModel,
}

impl Proxier {
    pub fn new(iptables: Iptables, node: NodeContext) -> Self {
        Proxier {
            iptables,
            node,
            applied: None,
            applied_model: ProxyModel::default(),
        }
    }

    /// Renders the rules for `services` and `slices` and writes what changed; with `force`, or
    /// when the kernel's state is not known, writes everything.
    pub async fn sync<'a>(
        &mut self,
        services: impl IntoIterator<Item = &'a Service>,
        slices: impl IntoIterator<Item = &'a EndpointSlice>,
        force: bool,
    ) -> Result<SyncOutcome, Error> {
        let model = build_model(services, slices);
        let ruleset = render_model(&model, &self.node);
        let previous = self.applied.take();
        if !force && previous.as_ref() == Some(&ruleset) {
            self.applied = previous;
            return Ok(SyncOutcome::Unchanged);
        }
        // `applied` stays empty until the restore succeeded: after a failure the next sync is
        // a full one that reads the kernel's chains again.
        let outcome = match (&previous, force) {
            (Some(previous), false) => {
                let input = restore_input(&ruleset, &Baseline::Applied(previous));
                self.iptables.restore(&input).await?;
                SyncOutcome::Partial
            }
            (Some(previous), true) => {
                // The kernel held `previous`: its chains are the ones to compare with, which
                // spares two iptables-save runs of seconds each on a large table.
                self.full_sync(&ruleset, previous.nat_chains(), previous.filter_chains())
                    .await?;
                SyncOutcome::Full
            }
            (None, _) => {
                let nat = self.iptables.our_chains("nat").await?;
                let filter = self.iptables.our_chains("filter").await?;
                self.full_sync(&ruleset, nat, filter).await?;
                SyncOutcome::Full
            }
        };
        self.applied = Some(ruleset);
        for delete in stale_conntrack(&self.applied_model, &model) {
            if let Err(error) = self.iptables.conntrack_delete(&delete).await {
                tracing::warn!(%error, "flushing stale conntrack entries");
            }
        }
        self.applied_model = model;
        Ok(outcome)
    }

    /// Re-checks the jumps from the built-in chains and rewrites every chain of `ruleset`,
    /// deleting those of `nat` and `filter` (the chains of ours that exist) it lacks.
    async fn full_sync(
        &self,
        ruleset: &Ruleset,
        nat: BTreeSet<String>,
        filter: BTreeSet<String>,
    ) -> Result<(), Error> {
        self.iptables.ensure_jumps().await?;
        let input = restore_input(
            ruleset,
            &Baseline::Full {
                nat: &nat,
                filter: &filter,
            },
        );
        self.iptables.restore(&input).await
    }
}
