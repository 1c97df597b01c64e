//! Node IPAM (upstream `pkg/controller/nodeipam`, the range allocator): with
//! `--allocate-node-cidrs`, every node without `spec.podCIDR` gets the lowest free
//! `/--node-cidr-mask-size` block of `--cluster-cidr` (default `10.244.0.0/16`, `/24` per
//! node) in `spec.podCIDR` and `spec.podCIDRs`. IPv4 only.
//!
//! [`Cidr`] and [`allocate`] are pure; [`reconcile`] patches the node.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use kube::Client;
use serde_json::json;

use crate::error::{Error, Result};
use crate::util::name_of;

/// An IPv4 CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    pub base: u32,
    pub prefix: u8,
}

impl Cidr {
    fn mask(prefix: u8) -> u32 {
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix))
        }
    }

    /// Whether `other` lies within this block.
    pub fn contains(&self, other: &Cidr) -> bool {
        other.prefix >= self.prefix && other.base & Cidr::mask(self.prefix) == self.base
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Cidr, String> {
        let (ip, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not a CIDR (a.b.c.d/n)"))?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| format!("{s:?}: invalid IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("{s:?}: invalid prefix length"))?;
        Ok(Cidr {
            base: u32::from(ip) & Cidr::mask(prefix),
            prefix,
        })
    }
}

/// The lowest block of size `/mask` in `cluster` that is not in `used`.
pub fn allocate(cluster: Cidr, mask: u8, used: &BTreeSet<Cidr>) -> Option<Cidr> {
    if mask < cluster.prefix || mask > 32 {
        return None;
    }
    let count: u64 = 1u64 << (mask - cluster.prefix);
    let step: u64 = 1u64 << (32 - mask);
    (0..count)
        .map(|i| Cidr {
            base: (u64::from(cluster.base) + i * step) as u32,
            prefix: mask,
        })
        .find(|candidate| {
            !used
                .iter()
                .any(|u| u.contains(candidate) || candidate.contains(u))
        })
}

/// Shared state of the node IPAM controller.
pub struct NodeIpamController {
    pub client: Client,
    pub nodes: Store<Node>,
    pub cluster: Cidr,
    pub mask: u8,
    /// Blocks handed out but maybe not yet in the cache, by node.
    pending: Mutex<HashMap<String, Cidr>>,
}

impl NodeIpamController {
    /// A controller handing out `/mask` blocks of `cluster`, both checked by
    /// [`cluster_from_flags`].
    pub fn new(client: Client, nodes: Store<Node>, cluster: Cidr, mask: u8) -> Self {
        NodeIpamController {
            client,
            nodes,
            cluster,
            mask,
            pending: Mutex::new(HashMap::new()),
        }
    }
}

/// The range of `--cluster-cidr`, checked to hold blocks of `--node-cidr-mask-size`.
pub fn cluster_from_flags(cluster_cidr: &str, mask: u8) -> Result<Cidr> {
    let cluster: Cidr = cluster_cidr.parse().map_err(|message| Error::Flag {
        flag: "--cluster-cidr",
        message,
    })?;
    if mask < cluster.prefix || mask > 32 {
        return Err(Error::Flag {
            flag: "--node-cidr-mask-size",
            message: format!("/{mask} does not fit in --cluster-cidr {cluster}"),
        });
    }
    Ok(cluster)
}

fn node_cidrs(node: &Node) -> Vec<Cidr> {
    let spec = node.spec.as_ref();
    spec.and_then(|s| s.pod_cidrs.clone())
        .unwrap_or_default()
        .into_iter()
        .chain(spec.and_then(|s| s.pod_cidr.clone()))
        .filter_map(|c| c.parse().ok())
        .collect()
}

/// Gives `node` a pod CIDR if it has none.
pub async fn reconcile(node: Arc<Node>, ctx: Arc<NodeIpamController>) -> Result<Action> {
    let name = name_of(&node.metadata).to_string();
    if !node_cidrs(&node).is_empty() {
        ctx.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&name);
        return Ok(Action::await_change());
    }
    let cidr = {
        let mut pending = ctx.pending.lock().unwrap_or_else(|p| p.into_inner());
        let names: BTreeSet<String> = ctx
            .nodes
            .state()
            .iter()
            .map(|n| name_of(&n.metadata).to_string())
            .collect();
        pending.retain(|n, _| names.contains(n));
        match pending.get(&name) {
            Some(cidr) => *cidr,
            None => {
                let used: BTreeSet<Cidr> = ctx
                    .nodes
                    .state()
                    .iter()
                    .flat_map(|n| node_cidrs(n))
                    .chain(pending.values().copied())
                    .collect();
                let Some(cidr) = allocate(ctx.cluster, ctx.mask, &used) else {
                    return Err(Error::Invalid {
                        key: name,
                        message: format!(
                            "no free /{} left in cluster CIDR {}",
                            ctx.mask, ctx.cluster
                        ),
                    });
                };
                pending.insert(name.clone(), cidr);
                cidr
            }
        }
    };
    let api: Api<Node> = Api::all(ctx.client.clone());
    let patch = json!({"spec": {"podCIDR": cidr.to_string(), "podCIDRs": [cidr.to_string()]}});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(|e| Error::api("set pod CIDR of node", name.clone(), e))?;
    tracing::info!(node = %name, cidr = %cidr, "allocated pod CIDR");
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_prints() {
        assert_eq!(c("10.244.0.0/16").to_string(), "10.244.0.0/16");
        assert_eq!(c("10.244.7.9/24").to_string(), "10.244.7.0/24");
        for bad in ["10.244.0.0", "10.244.0.0/33", "x/8", "::1/64"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert!(c("10.244.0.0/16").contains(&c("10.244.3.0/24")));
        assert!(!c("10.244.0.0/16").contains(&c("10.245.0.0/24")));
        assert!(!c("10.244.3.0/24").contains(&c("10.244.0.0/16")));
    }

    #[test]
    fn flags_need_a_cluster_cidr_that_holds_node_blocks() {
        // (--cluster-cidr, --node-cidr-mask-size, the flag named in the error)
        let cases = [
            ("10.244.0.0/16", 24, None),
            ("10.244.0.0/16", 16, None),
            ("10.244.0.0/16", 32, None),
            ("10.244.0.0/16", 8, Some("--node-cidr-mask-size")),
            ("10.244.0.0/16", 33, Some("--node-cidr-mask-size")),
            ("10.244.0.0", 24, Some("--cluster-cidr")),
        ];
        for (cidr, mask, wrong_flag) in cases {
            match (cluster_from_flags(cidr, mask), wrong_flag) {
                (Ok(cluster), None) => assert_eq!(cluster, c(cidr)),
                (Err(Error::Flag { flag, .. }), Some(wrong)) => assert_eq!(flag, wrong),
                (outcome, _) => panic!("{cidr} /{mask}: {outcome:?}"),
            }
        }
    }

    #[test]
    fn allocates_the_lowest_free_block() {
        let cluster = c("10.244.0.0/16");
        let used = |list: &[&str]| list.iter().map(|s| c(s)).collect::<BTreeSet<_>>();
        // (used, mask, expected)
        let cases = [
            (used(&[]), 24, Some("10.244.0.0/24")),
            (
                used(&["10.244.0.0/24", "10.244.1.0/24"]),
                24,
                Some("10.244.2.0/24"),
            ),
            (
                used(&["10.244.0.0/24", "10.244.2.0/24"]),
                24,
                Some("10.244.1.0/24"),
            ),
            // A bigger block in use covers several candidates.
            (used(&["10.244.0.0/23"]), 24, Some("10.244.2.0/24")),
            (used(&[]), 26, Some("10.244.0.0/26")),
            (used(&[]), 8, None),
        ];
        for (u, mask, expected) in cases {
            assert_eq!(
                allocate(cluster, mask, &u).map(|x| x.to_string()),
                expected.map(str::to_string),
                "{u:?} /{mask}"
            );
        }
        // Exhaustion.
        let small = c("10.0.0.0/30");
        let all: BTreeSet<Cidr> = (0..4)
            .map(|i| Cidr {
                base: small.base + i,
                prefix: 32,
            })
            .collect();
        assert_eq!(allocate(small, 32, &all), None);
    }
}
