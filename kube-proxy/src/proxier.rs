//! One sync: render from the cache, apply if changed, flush stale UDP conntrack entries.
//!
//! [`Proxier::sync`] is what the sync loop (in `lib.rs`) calls after a burst of changes, on the
//! periodic resync and on retries. It keeps what it last applied, so an unchanged rendering
//! costs no `iptables-restore` at all; after a failure, at start and on forced (periodic)
//! syncs it re-reads which of our chains exist and re-checks the jumps from the built-in
//! chains, so a flushed table is repaired.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::error::Error;
use crate::iptables::Iptables;
use crate::render::{build_model, render_model, stale_conntrack, NodeContext, ProxyModel};

/// What a sync did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncOutcome {
    /// The rules were (re)written.
    Applied,
    /// The rendering equals what was applied last: nothing was run.
    Unchanged,
}

/// The state kept between syncs.
#[derive(Debug)]
pub struct Proxier {
    iptables: Iptables,
    node: NodeContext,
    /// Whether the kernel is known to hold `applied_text` (false at start and after errors).
    in_sync: bool,
    applied_text: String,
    applied_nat: BTreeSet<String>,
    applied_filter: BTreeSet<String>,
    applied_model: ProxyModel,
}

impl Proxier {
    pub fn new(iptables: Iptables, node: NodeContext) -> Self {
        Proxier {
            iptables,
            node,
            in_sync: false,
            applied_text: String::new(),
            applied_nat: BTreeSet::new(),
            applied_filter: BTreeSet::new(),
            applied_model: ProxyModel::default(),
        }
    }

    /// Renders the rules for `services` and `slices` and applies them when they changed (or
    /// always, with `force`).
    pub async fn sync<'a>(
        &mut self,
        services: impl IntoIterator<Item = &'a Service>,
        slices: impl IntoIterator<Item = &'a EndpointSlice>,
        force: bool,
    ) -> Result<SyncOutcome, Error> {
        let model = build_model(services, slices);
        let ruleset = render_model(&model, &self.node);
        if !force && self.in_sync && ruleset.text == self.applied_text {
            return Ok(SyncOutcome::Unchanged);
        }
        let result = self.apply(&ruleset).await;
        if let Err(error) = result {
            self.in_sync = false;
            return Err(error);
        }
        self.in_sync = true;
        self.applied_nat = ruleset.nat_chains;
        self.applied_filter = ruleset.filter_chains;
        self.applied_text = ruleset.text;
        for delete in stale_conntrack(&self.applied_model, &model) {
            if let Err(error) = self.iptables.conntrack_delete(&delete).await {
                tracing::warn!(%error, "flushing stale conntrack entries");
            }
        }
        self.applied_model = model;
        Ok(SyncOutcome::Applied)
    }

    async fn apply(&mut self, ruleset: &crate::render::Ruleset) -> Result<(), Error> {
        if self.in_sync {
            return self
                .iptables
                .apply(ruleset, &self.applied_nat, &self.applied_filter)
                .await;
        }
        self.iptables.ensure_jumps().await?;
        let nat = self.iptables.our_chains("nat").await?;
        let filter = self.iptables.our_chains("filter").await?;
        self.iptables.apply(ruleset, &nat, &filter).await
    }

    /// Forgets what was applied, so the next sync re-reads the kernel's state and rewrites.
    pub fn invalidate(&mut self) {
        self.in_sync = false;
    }
}
