//! The pure half of kube-proxy: Services and EndpointSlices in, `iptables-restore` text out.
//!
//! [`build_model`] turns the cached API objects into one [`ServicePortInfo`] per service port
//! with its ready endpoints; [`render_model`] turns that into a [`Ruleset`] (the fixed chains'
//! rules and one entry per per-service chain); [`restore_input`] turns a ruleset into the
//! `filter` and `nat` sections that `iptables-restore --noflush` applies in one go, either all
//! of it (a full sync) or only what changed since the ruleset applied before (a partial sync);
//! [`render_rules`] is all three, as a full sync of an empty namespace writes it. Nothing here
//! does I/O, so every rule is covered by table-driven tests below.
//!
//! The chains are upstream's (`pkg/proxy/iptables/proxier.go`):
//!
//! ```text
//! nat PREROUTING, OUTPUT -> KUBE-SERVICES
//!   -d clusterIP -p proto --dport port        -> KUBE-SVC-<hash>
//!   (last) -m addrtype --dst-type LOCAL      -> KUBE-NODEPORTS
//! KUBE-NODEPORTS  -p proto --dport nodePort   -> KUBE-EXT-<hash> -> KUBE-MARK-MASQ, KUBE-SVC-<hash>
//! KUBE-SVC-<hash> masquerade off-cluster sources, affinity (-m recent), then
//!                 -m statistic --mode random --probability 1/(n-i) -> KUBE-SEP-<hash> ...
//! KUBE-SEP-<hash> -s own IP -> KUBE-MARK-MASQ (hairpin); DNAT --to-destination ip:port
//! nat POSTROUTING -> KUBE-POSTROUTING: MASQUERADE packets marked 0x4000 by KUBE-MARK-MASQ
//! filter OUTPUT, FORWARD -> KUBE-SERVICES: REJECT cluster IPs with no ready endpoint
//! filter INPUT -> KUBE-EXTERNAL-SERVICES: REJECT node ports with no ready endpoint
//! filter FORWARD -> KUBE-FORWARD: accept marked and established service traffic
//! ```
//!
//! Chain names hash exactly as upstream's: `KUBE-SVC-`/`KUBE-EXT-` + the first 16 characters
//! of base32(sha256(`ns/name:port` + lowercase protocol)), `KUBE-SEP-` the same over
//! `ns/name:port` + protocol + `ip:port`, so rules read the same as on a real cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use sha2::{Digest, Sha256};

/// Label on an EndpointSlice naming its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The mark `KUBE-MARK-MASQ` sets and `KUBE-POSTROUTING` masquerades (upstream's bit 14).
pub const MASQ_MARK: &str = "0x4000";

pub const KUBE_SERVICES: &str = "KUBE-SERVICES";
pub const KUBE_NODEPORTS: &str = "KUBE-NODEPORTS";
pub const KUBE_POSTROUTING: &str = "KUBE-POSTROUTING";
pub const KUBE_MARK_MASQ: &str = "KUBE-MARK-MASQ";
pub const KUBE_EXTERNAL_SERVICES: &str = "KUBE-EXTERNAL-SERVICES";
pub const KUBE_FORWARD: &str = "KUBE-FORWARD";

/// Prefixes of the per-service chains; every chain we own starts with `KUBE-`.
pub const SVC_PREFIX: &str = "KUBE-SVC-";
pub const EXT_PREFIX: &str = "KUBE-EXT-";
pub const SEP_PREFIX: &str = "KUBE-SEP-";

/// The fixed chains we own, per table. Per-service chains come on top.
pub const NAT_CHAINS: [&str; 4] = [
    KUBE_SERVICES,
    KUBE_NODEPORTS,
    KUBE_POSTROUTING,
    KUBE_MARK_MASQ,
];
pub const FILTER_CHAINS: [&str; 3] = [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD];

/// Whether `chain` (in any table) is one kube-proxy owns, so may flush or delete.
pub fn is_our_chain(chain: &str) -> bool {
    NAT_CHAINS.contains(&chain)
        || FILTER_CHAINS.contains(&chain)
        || [SVC_PREFIX, EXT_PREFIX, SEP_PREFIX]
            .iter()
            .any(|p| chain.starts_with(p))
}

/// The jumps from the built-in chains into ours: (table, built-in chain, rule arguments).
/// Kept outside the restore text because built-in chains are shared with everybody else; the
/// executor checks each with `-C` and inserts it with `-I` only when missing.
pub fn jump_rules() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    let portals = ["-m", "comment", "--comment", "kubernetes service portals"];
    let new = ["-m", "conntrack", "--ctstate", "NEW"];
    let cat = |parts: &[&[&'static str]]| parts.concat();
    vec![
        (
            "filter",
            "INPUT",
            cat(&[
                &new,
                &[
                    "-m",
                    "comment",
                    "--comment",
                    "kubernetes externally-visible service portals",
                    "-j",
                    KUBE_EXTERNAL_SERVICES,
                ],
            ]),
        ),
        (
            "filter",
            "FORWARD",
            cat(&[&new, &portals, &["-j", KUBE_SERVICES]]),
        ),
        (
            "filter",
            "OUTPUT",
            cat(&[&new, &portals, &["-j", KUBE_SERVICES]]),
        ),
        (
            "filter",
            "FORWARD",
            vec![
                "-m",
                "comment",
                "--comment",
                "kubernetes forwarding rules",
                "-j",
                KUBE_FORWARD,
            ],
        ),
        ("nat", "OUTPUT", cat(&[&portals, &["-j", KUBE_SERVICES]])),
        (
            "nat",
            "PREROUTING",
            cat(&[&portals, &["-j", KUBE_SERVICES]]),
        ),
        (
            "nat",
            "POSTROUTING",
            vec![
                "-m",
                "comment",
                "--comment",
                "kubernetes postrouting rules",
                "-j",
                KUBE_POSTROUTING,
            ],
        ),
    ]
}

/// What the rules depend on besides the API objects: the node and proxy flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeContext {
    /// This node's name (`--hostname-override`); for messages.
    pub node_name: String,
    /// `--cluster-cidr`: traffic to a ClusterIP from outside it is masqueraded.
    pub cluster_cidr: Option<String>,
    /// `--masquerade-all`: masquerade all traffic to ClusterIPs.
    pub masquerade_all: bool,
    /// `--nodeport-addresses`: CIDRs of the node addresses NodePorts answer on; empty: all
    /// local addresses.
    pub nodeport_addresses: Vec<String>,
}

/// One ready endpoint of a service port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EndpointInfo {
    pub ip: String,
    pub port: i32,
}

impl EndpointInfo {
    /// `ip:port`, as upstream's `Endpoint.String()`.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
}

/// One port of one Service, with what the rules need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePortInfo {
    /// `ns/name:port` (`ns/name` for an unnamed port), upstream's `ServicePortName.String()`.
    pub name: String,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    pub cluster_ip: String,
    pub port: i32,
    pub node_port: Option<i32>,
    /// `sessionAffinity: ClientIP` timeout in seconds.
    pub affinity_timeout: Option<i32>,
    /// Ready endpoints, sorted by `ip:port`, without duplicates.
    pub endpoints: Vec<EndpointInfo>,
}

impl ServicePortInfo {
    /// Lowercase protocol, as in `-p tcp` and the chain-name hash.
    pub fn proto(&self) -> String {
        self.protocol.to_ascii_lowercase()
    }
    pub fn svc_chain(&self) -> String {
        service_port_chain_name(SVC_PREFIX, &self.name, &self.proto())
    }
    pub fn ext_chain(&self) -> String {
        service_port_chain_name(EXT_PREFIX, &self.name, &self.proto())
    }
    pub fn sep_chain(&self, endpoint: &EndpointInfo) -> String {
        service_port_endpoint_chain_name(&self.name, &self.proto(), &endpoint.addr())
    }
}

/// Every service port the node must program, sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyModel {
    pub ports: Vec<ServicePortInfo>,
}

/// RFC 4648 base32 with padding, as Go's `base32.StdEncoding`.
fn base32_std(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let bits = buf.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < chars {
                let index = ((bits >> (35 - i * 5)) & 0x1f) as usize;
                out.push(ALPHABET[index] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn hash16(input: &str) -> String {
    let digest = Sha256::digest(input.as_bytes());
    base32_std(&digest)[..16].to_string()
}

/// `prefix` + upstream's `portProtoHash(servicePortName, protocol)`.
pub fn service_port_chain_name(prefix: &str, service_port_name: &str, protocol: &str) -> String {
    format!(
        "{prefix}{}",
        hash16(&format!("{service_port_name}{protocol}"))
    )
}

/// Upstream's `servicePortEndpointChainName`: `KUBE-SEP-` + hash of name, protocol, `ip:port`.
pub fn service_port_endpoint_chain_name(
    service_port_name: &str,
    protocol: &str,
    endpoint: &str,
) -> String {
    format!(
        "{SEP_PREFIX}{}",
        hash16(&format!("{service_port_name}{protocol}{endpoint}"))
    )
}

/// Upstream's `computeProbability`: `1/n` with ten decimals.
pub fn probability(n: usize) -> String {
    format!("{:.10}", 1.0 / n as f64)
}

/// The service ports to program from the cache: ClusterIP, NodePort and LoadBalancer Services
/// with a cluster IP (headless and ExternalName Services get no rules), each with the ready
/// IPv4 endpoints of the slices labelled with its name whose port name and protocol match.
pub fn build_model<'a>(
    services: impl IntoIterator<Item = &'a Service>,
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
) -> ProxyModel {
    // (namespace, service, port name, protocol) -> endpoints.
    let mut endpoints: BTreeMap<(String, String, String, String), BTreeSet<EndpointInfo>> =
        BTreeMap::new();
    for slice in slices {
        if slice.address_type != "IPv4" || slice.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let namespace = slice.metadata.namespace.clone().unwrap_or_default();
        let Some(service) = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_NAME_LABEL))
        else {
            continue;
        };
        for port in slice.ports.iter().flatten() {
            let Some(number) = port.port else { continue };
            let key = (
                namespace.clone(),
                service.clone(),
                port.name.clone().unwrap_or_default(),
                port.protocol.clone().unwrap_or_else(|| "TCP".into()),
            );
            let set = endpoints.entry(key).or_default();
            for endpoint in &slice.endpoints {
                // Upstream: a nil ready condition means ready.
                let ready = endpoint
                    .conditions
                    .as_ref()
                    .and_then(|c| c.ready)
                    .unwrap_or(true);
                if !ready {
                    continue;
                }
                if let Some(ip) = endpoint.addresses.first() {
                    set.insert(EndpointInfo {
                        ip: ip.clone(),
                        port: number,
                    });
                }
            }
        }
    }

    let mut ports = Vec::new();
    for service in services {
        let Some(spec) = &service.spec else { continue };
        let cluster_ip = match spec.cluster_ip.as_deref() {
            Some(ip) if !ip.is_empty() && ip != "None" && !ip.contains(':') => ip.to_string(),
            _ => continue,
        };
        if spec.type_.as_deref() == Some("ExternalName") {
            continue;
        }
        let namespace = service.metadata.namespace.clone().unwrap_or_default();
        let name = service.metadata.name.clone().unwrap_or_default();
        let affinity_timeout = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
            spec.session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                .unwrap_or(10800)
        });
        for port in spec.ports.iter().flatten() {
            let port_name = port.name.clone().unwrap_or_default();
            let protocol = port.protocol.clone().unwrap_or_else(|| "TCP".into());
            let display = if port_name.is_empty() {
                format!("{namespace}/{name}")
            } else {
                format!("{namespace}/{name}:{port_name}")
            };
            let key = (namespace.clone(), name.clone(), port_name, protocol.clone());
            ports.push(ServicePortInfo {
                name: display,
                protocol,
                cluster_ip: cluster_ip.clone(),
                port: port.port,
                node_port: port.node_port.filter(|_| {
                    matches!(
                        spec.type_.as_deref(),
                        Some("NodePort") | Some("LoadBalancer")
                    )
                }),
                affinity_timeout,
                endpoints: endpoints
                    .get(&key)
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default(),
            });
        }
    }
    ports.sort_by(|a, b| a.name.cmp(&b.name).then(a.protocol.cmp(&b.protocol)));
    ProxyModel { ports }
}

/// The rendered rules, split so a sync can write all of them or only what changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    /// Rules of our filter chains ([`FILTER_CHAINS`]), written whole on every sync.
    pub filter_rules: String,
    /// Rules of our fixed nat chains ([`NAT_CHAINS`]), written whole on every sync.
    pub nat_rules: String,
    /// Each per-service nat chain (`KUBE-SVC-`, `KUBE-EXT-`, `KUBE-SEP-`) with its rules.
    pub service_chains: BTreeMap<String, String>,
    /// The keys of `service_chains` service by service (SVC, EXT, SEPs of each service port,
    /// ports by name), the order a full sync creates them in. Not sorted by chain name on
    /// purpose: iptables-nft takes many times longer to read back a table whose chains were
    /// created in name order (10,000 services: iptables-save 5 s instead of 0.5 s).
    pub creation_order: Vec<String>,
}

impl Ruleset {
    /// Every chain of ours this ruleset declares in the nat table.
    pub fn nat_chains(&self) -> BTreeSet<String> {
        NAT_CHAINS
            .iter()
            .map(|c| c.to_string())
            .chain(self.service_chains.keys().cloned())
            .collect()
    }

    /// Every chain of ours this ruleset declares in the filter table.
    pub fn filter_chains(&self) -> BTreeSet<String> {
        FILTER_CHAINS.iter().map(|c| c.to_string()).collect()
    }

    /// Number of `-A` rules, both tables.
    pub fn rule_count(&self) -> usize {
        let count = |s: &str| s.lines().filter(|l| l.starts_with("-A ")).count();
        count(&self.filter_rules)
            + count(&self.nat_rules)
            + self
                .service_chains
                .values()
                .map(|c| count(c))
                .sum::<usize>()
    }
}

/// [`build_model`] then [`render_model`], as a full sync of an empty namespace would write it.
pub fn render_rules(services: &[Service], slices: &[EndpointSlice], node: &NodeContext) -> String {
    let ruleset = render_model(&build_model(services, slices), node);
    let none = BTreeSet::new();
    restore_input(
        &ruleset,
        &Baseline::Full {
            nat: &none,
            filter: &none,
        },
    )
}

/// `-p tcp -m tcp`, the protocol match as iptables-save prints it.
fn proto_match(proto: &str) -> String {
    format!("-p {proto} -m {proto}")
}

/// Renders both tables: the fixed chains' rules and one entry per per-service chain.
///
/// The jumps in `KUBE-SERVICES` and `KUBE-NODEPORTS` are ordered by target chain, descending.
/// Their order does not matter to the kernel (each matches its own address, protocol and port),
/// but it does to iptables-nft-restore: it records every chain a command names in a sorted
/// linked list, walking it from the smallest name on every command, so targets met in
/// descending order are found near the head and a partial sync, which rewrites these two
/// chains, stays close to linear (10,000 services: 0.6 s of iptables-restore instead of 2 s).
pub fn render_model(model: &ProxyModel, node: &NodeContext) -> Ruleset {
    let mut filter_rules = String::new();
    let mut nat_rules = String::new();
    let mut service_chains: BTreeMap<String, String> = BTreeMap::new();
    let mut creation_order: Vec<String> = Vec::new();
    // (target chain, rule) of the jumps from KUBE-SERVICES and KUBE-NODEPORTS.
    let mut service_jumps: Vec<(String, String)> = Vec::new();
    let mut nodeport_jumps: Vec<(String, String)> = Vec::new();

    // Writing to a String cannot fail.
    macro_rules! rule {
        ($buf:expr, $($arg:tt)*) => {{
            let _ = writeln!($buf, $($arg)*);
        }};
    }

    // Fixed rules, as upstream writes them.
    rule!(
        filter_rules,
        "-A {KUBE_FORWARD} -m conntrack --ctstate INVALID -j DROP"
    );
    rule!(filter_rules, "-A {KUBE_FORWARD} -m comment --comment \"kubernetes forwarding rules\" -m mark --mark {MASQ_MARK}/{MASQ_MARK} -j ACCEPT");
    rule!(filter_rules, "-A {KUBE_FORWARD} -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT");

    for port in &model.ports {
        let proto = port.proto();
        let pm = proto_match(&proto);
        let name = &port.name;
        let dst = format!("-d {}/32 {pm} --dport {}", port.cluster_ip, port.port);
        if port.endpoints.is_empty() {
            rule!(filter_rules, "-A {KUBE_SERVICES} -m comment --comment \"{name} has no endpoints\" {dst} -j REJECT --reject-with icmp-port-unreachable");
            if let Some(node_port) = port.node_port {
                rule!(filter_rules, "-A {KUBE_EXTERNAL_SERVICES} -m comment --comment \"{name} has no endpoints\" -m addrtype --dst-type LOCAL {pm} --dport {node_port} -j REJECT --reject-with icmp-port-unreachable");
            }
            continue;
        }
        let svc = port.svc_chain();
        creation_order.push(svc.clone());
        let mut svc_rules = String::new();
        service_jumps.push((
            svc.clone(),
            format!(
                "-A {KUBE_SERVICES} -m comment --comment \"{name} cluster IP\" {dst} -j {svc}\n"
            ),
        ));
        if let Some(node_port) = port.node_port {
            let ext = port.ext_chain();
            creation_order.push(ext.clone());
            nodeport_jumps.push((
                ext.clone(),
                format!("-A {KUBE_NODEPORTS} -m comment --comment \"{name}\" {pm} --dport {node_port} -j {ext}\n"),
            ));
            let mut ext_rules = String::new();
            rule!(ext_rules, "-A {ext} -m comment --comment \"masquerade traffic for {name} external destinations\" -j {KUBE_MARK_MASQ}");
            rule!(ext_rules, "-A {ext} -j {svc}");
            service_chains.insert(ext, ext_rules);
        }
        if node.masquerade_all {
            rule!(
                svc_rules,
                "-A {svc} -m comment --comment \"{name} cluster IP\" {dst} -j {KUBE_MARK_MASQ}"
            );
        } else if let Some(cidr) = &node.cluster_cidr {
            rule!(
                svc_rules,
                "-A {svc} -m comment --comment \"{name} cluster IP\" {dst} ! -s {cidr} -j {KUBE_MARK_MASQ}"
            );
        }
        let seps: Vec<(String, &EndpointInfo)> = port
            .endpoints
            .iter()
            .map(|e| (port.sep_chain(e), e))
            .collect();
        if let Some(timeout) = port.affinity_timeout {
            for (sep, endpoint) in &seps {
                rule!(svc_rules, "-A {svc} -m comment --comment \"{name} -> {}\" -m recent --name {sep} --mask 255.255.255.255 --rsource --rcheck --seconds {timeout} --reap -j {sep}", endpoint.addr());
            }
        }
        let n = seps.len();
        for (i, (sep, endpoint)) in seps.iter().enumerate() {
            let addr = endpoint.addr();
            if i + 1 < n {
                rule!(svc_rules, "-A {svc} -m comment --comment \"{name} -> {addr}\" -m statistic --mode random --probability {} -j {sep}", probability(n - i));
            } else {
                rule!(
                    svc_rules,
                    "-A {svc} -m comment --comment \"{name} -> {addr}\" -j {sep}"
                );
            }
        }
        service_chains.insert(svc, svc_rules);
        for (sep, endpoint) in seps {
            creation_order.push(sep.clone());
            let addr = endpoint.addr();
            let mut sep_rules = String::new();
            rule!(
                sep_rules,
                "-A {sep} -m comment --comment \"{name}\" -s {}/32 -j {KUBE_MARK_MASQ}",
                endpoint.ip
            );
            let recent = if port.affinity_timeout.is_some() {
                format!(" -m recent --name {sep} --mask 255.255.255.255 --rsource --set")
            } else {
                String::new()
            };
            rule!(
                sep_rules,
                "-A {sep} -m comment --comment \"{name}\"{recent} {pm} -j DNAT --to-destination {addr}"
            );
            service_chains.insert(sep, sep_rules);
        }
    }
    service_jumps.sort_unstable_by(|a, b| b.0.cmp(&a.0));
    nodeport_jumps.sort_unstable_by(|a, b| b.0.cmp(&a.0));
    for (_, jump) in &service_jumps {
        nat_rules.push_str(jump);
    }
    // NodePorts last, as upstream insists.
    let nodeport_comment = "-m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\"";
    if node.nodeport_addresses.is_empty() {
        rule!(
            nat_rules,
            "-A {KUBE_SERVICES} {nodeport_comment} -m addrtype --dst-type LOCAL -j {KUBE_NODEPORTS}"
        );
    } else {
        for cidr in &node.nodeport_addresses {
            rule!(
                nat_rules,
                "-A {KUBE_SERVICES} {nodeport_comment} -d {cidr} -m addrtype --dst-type LOCAL -j {KUBE_NODEPORTS}"
            );
        }
    }
    for (_, jump) in &nodeport_jumps {
        nat_rules.push_str(jump);
    }
    rule!(
        nat_rules,
        "-A {KUBE_POSTROUTING} -m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN"
    );
    rule!(
        nat_rules,
        "-A {KUBE_POSTROUTING} -j MARK --xor-mark {MASQ_MARK}"
    );
    rule!(nat_rules, "-A {KUBE_POSTROUTING} -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully");
    rule!(
        nat_rules,
        "-A {KUBE_MARK_MASQ} -j MARK --or-mark {MASQ_MARK}"
    );
    Ruleset {
        filter_rules,
        nat_rules,
        service_chains,
        creation_order,
    }
}

/// What the kernel is known to hold before a sync; it decides how much the sync writes.
#[derive(Debug, Clone, Copy)]
pub enum Baseline<'a> {
    /// A full sync (at start, after a failure, on the periodic resync): every chain is declared
    /// (which flushes it under `--noflush`) and refilled, and the chains of ours that exist
    /// (`nat`, `filter`) but are no longer rendered are deleted.
    Full {
        nat: &'a BTreeSet<String>,
        filter: &'a BTreeSet<String>,
    },
    /// The kernel holds exactly this ruleset (the last one applied): a partial sync. The fixed
    /// chains are rewritten, per-service chains only when new or changed, chains gone since are
    /// deleted, and unchanged per-service chains are not mentioned, so they stay as they are.
    Applied(&'a Ruleset),
}

/// Above this many per-service chains written or deleted in one sync, the nat section starts
/// with a chain-less `-S`. Reason: iptables-nft-restore keeps the name of every chain a command
/// mentions in a sorted linked list (walked from the start on each command, to limit which
/// chains it fetches from the kernel), which makes writing tens of thousands of chains
/// quadratic: 10,000 services took minutes. A command naming no chain switches that off (the
/// whole table is fetched instead, in one dump); `-S` is the one such command that changes
/// nothing. Its listing goes to iptables-restore's stdout, which the executor discards.
pub const LIST_ALL_CHAINS_ABOVE: usize = 1000;

/// The text for `iptables-restore --noflush`: the `*filter` and `*nat` sections that bring the
/// kernel from `baseline` to `new`, each applied atomically.
pub fn restore_input(new: &Ruleset, baseline: &Baseline) -> String {
    let (written, stale_nat, stale_filter): (Vec<&String>, Vec<String>, Vec<String>) =
        match baseline {
            Baseline::Full { nat, filter } => (
                new.creation_order.iter().collect(),
                nat.difference(&new.nat_chains()).cloned().collect(),
                filter.difference(&new.filter_chains()).cloned().collect(),
            ),
            Baseline::Applied(old) => (
                new.creation_order
                    .iter()
                    .filter(|chain| {
                        old.service_chains.get(*chain) != new.service_chains.get(*chain)
                    })
                    .collect(),
                old.service_chains
                    .keys()
                    .filter(|c| !new.service_chains.contains_key(*c))
                    .cloned()
                    .collect(),
                Vec::new(),
            ),
        };
    let size = new.filter_rules.len()
        + new.nat_rules.len()
        + written
            .iter()
            .map(|c| c.len() + 10 + new.service_chains[*c].len())
            .sum::<usize>()
        + 64 * (stale_nat.len() + stale_filter.len() + 8);
    let mut out = String::with_capacity(size);
    // Writing to a String cannot fail.
    let line = |out: &mut String, text: std::fmt::Arguments| {
        let _ = out.write_fmt(text);
        out.push('\n');
    };
    out.push_str("*filter\n");
    for chain in FILTER_CHAINS
        .iter()
        .map(|c| c.to_string())
        .chain(stale_filter.iter().cloned())
    {
        line(&mut out, format_args!(":{chain} - [0:0]"));
    }
    out.push_str(&new.filter_rules);
    for chain in &stale_filter {
        line(&mut out, format_args!("-X {chain}"));
    }
    out.push_str("COMMIT\n*nat\n");
    if written.len() + stale_nat.len() > LIST_ALL_CHAINS_ABOVE {
        out.push_str("-S\n");
    }
    for chain in NAT_CHAINS {
        line(&mut out, format_args!(":{chain} - [0:0]"));
    }
    for chain in written.iter().copied().chain(stale_nat.iter()) {
        line(&mut out, format_args!(":{chain} - [0:0]"));
    }
    out.push_str(&new.nat_rules);
    for chain in &written {
        out.push_str(&new.service_chains[*chain]);
    }
    for chain in &stale_nat {
        line(&mut out, format_args!("-X {chain}"));
    }
    out.push_str("COMMIT\n");
    out
}

/// A `conntrack -D` to run after a sync: entries DNATed to an endpoint that went away must go,
/// or UDP "connections" (which never end by themselves) keep reaching a dead address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConntrackDelete {
    /// Entries to `cluster_ip` DNATed to `endpoint_ip`.
    ClusterIp {
        cluster_ip: String,
        endpoint_ip: String,
    },
    /// Entries to node port `node_port` DNATed to `endpoint_ip`.
    NodePort { node_port: i32, endpoint_ip: String },
    /// Every entry to `cluster_ip` (it had no endpoint: entries cached the rejection).
    AllToClusterIp { cluster_ip: String },
}

impl ConntrackDelete {
    /// Arguments of `conntrack`.
    pub fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec!["-D".into(), "-p".into(), "udp".into()];
        match self {
            ConntrackDelete::ClusterIp {
                cluster_ip,
                endpoint_ip,
            } => args.extend([
                "--orig-dst".into(),
                cluster_ip.clone(),
                "--dst-nat".into(),
                endpoint_ip.clone(),
            ]),
            ConntrackDelete::NodePort {
                node_port,
                endpoint_ip,
            } => args.extend([
                "--orig-port-dst".into(),
                node_port.to_string(),
                "--dst-nat".into(),
                endpoint_ip.clone(),
            ]),
            ConntrackDelete::AllToClusterIp { cluster_ip } => {
                args.extend(["--orig-dst".into(), cluster_ip.clone()])
            }
        }
        args
    }
}

/// The conntrack entries to flush going from `old` to `new` (UDP only, as upstream): entries
/// of UDP endpoints that are gone, and entries of UDP services that had no endpoint and now
/// have one.
pub fn stale_conntrack(old: &ProxyModel, new: &ProxyModel) -> Vec<ConntrackDelete> {
    let key = |p: &ServicePortInfo| (p.name.clone(), p.protocol.clone());
    let new_ports: BTreeMap<_, &ServicePortInfo> = new.ports.iter().map(|p| (key(p), p)).collect();
    let mut out = BTreeSet::new();
    for old_port in old.ports.iter().filter(|p| p.protocol == "UDP") {
        let new_port = new_ports.get(&key(old_port));
        let still_there = |ip: &str| {
            new_port.is_some_and(|p| {
                p.cluster_ip == old_port.cluster_ip && p.endpoints.iter().any(|e| e.ip == ip)
            })
        };
        for endpoint in &old_port.endpoints {
            if still_there(&endpoint.ip) {
                continue;
            }
            out.insert(ConntrackDelete::ClusterIp {
                cluster_ip: old_port.cluster_ip.clone(),
                endpoint_ip: endpoint.ip.clone(),
            });
            if let Some(node_port) = old_port.node_port {
                out.insert(ConntrackDelete::NodePort {
                    node_port,
                    endpoint_ip: endpoint.ip.clone(),
                });
            }
        }
    }
    let old_ports: BTreeMap<_, &ServicePortInfo> = old.ports.iter().map(|p| (key(p), p)).collect();
    for new_port in new.ports.iter().filter(|p| p.protocol == "UDP") {
        let had_none = old_ports
            .get(&key(new_port))
            .is_some_and(|p| p.endpoints.is_empty());
        if had_none && !new_port.endpoints.is_empty() {
            out.insert(ConntrackDelete::AllToClusterIp {
                cluster_ip: new_port.cluster_ip.clone(),
            });
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(ns: &str, name: &str, spec: serde_json::Value) -> Service {
        serde_json::from_value(json!({
            "metadata": {"namespace": ns, "name": name},
            "spec": spec,
        }))
        .unwrap()
    }

    fn web(ip: &str) -> Service {
        service(
            "ns1",
            "svc1",
            json!({"clusterIP": ip, "ports": [{"name": "p80", "port": 80, "protocol": "TCP", "targetPort": 8080}]}),
        )
    }

    /// A slice for `ns/svc` with one port and `(ip, ready)` endpoints.
    fn slice(
        ns: &str,
        svc: &str,
        port_name: &str,
        proto: &str,
        port: i32,
        eps: &[(&str, Option<bool>)],
    ) -> EndpointSlice {
        let endpoints: Vec<_> = eps
            .iter()
            .map(|(ip, ready)| match ready {
                Some(r) => json!({"addresses": [ip], "conditions": {"ready": r}}),
                None => json!({"addresses": [ip]}),
            })
            .collect();
        serde_json::from_value(json!({
            "metadata": {"namespace": ns, "name": format!("{svc}-abc"), "labels": {SERVICE_NAME_LABEL: svc}},
            "addressType": "IPv4",
            "endpoints": endpoints,
            "ports": [{"name": port_name, "port": port, "protocol": proto}],
        }))
        .unwrap()
    }

    fn ctx() -> NodeContext {
        NodeContext {
            node_name: "node1".into(),
            cluster_cidr: Some("10.244.0.0/16".into()),
            ..Default::default()
        }
    }

    #[test]
    fn base32_matches_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "MY======"),
            ("fo", "MZXQ===="),
            ("foo", "MZXW6==="),
            ("foob", "MZXW6YQ="),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI======"),
        ] {
            assert_eq!(base32_std(input.as_bytes()), want, "{input}");
        }
    }

    #[test]
    fn chain_names_hash_as_upstream() {
        // Values from upstream's proxier_test.go for ns1/svc1:p80 tcp and 10.180.0.1:80.
        assert_eq!(
            service_port_chain_name(SVC_PREFIX, "ns1/svc1:p80", "tcp"),
            "KUBE-SVC-XPGD46QRK7WJZT7O"
        );
        assert_eq!(
            service_port_chain_name(EXT_PREFIX, "ns1/svc1:p80", "tcp"),
            "KUBE-EXT-XPGD46QRK7WJZT7O"
        );
        assert_eq!(
            service_port_endpoint_chain_name("ns1/svc1:p80", "tcp", "10.180.0.1:80"),
            "KUBE-SEP-SXIVWICOYRO3J4NJ"
        );
    }

    #[test]
    fn names_are_stable_across_runs_and_input_order() {
        let services = vec![
            web("172.30.0.41"),
            service(
                "ns2",
                "b",
                json!({"clusterIP": "172.30.0.42", "ports": [{"port": 53, "protocol": "UDP"}]}),
            ),
        ];
        let slices = vec![
            slice(
                "ns1",
                "svc1",
                "p80",
                "TCP",
                80,
                &[("10.180.0.2", None), ("10.180.0.1", None)],
            ),
            slice("ns2", "b", "", "UDP", 53, &[("10.180.0.3", None)]),
        ];
        let a = render_rules(&services, &slices, &ctx());
        let mut rev_s = services.clone();
        rev_s.reverse();
        let mut rev_e = slices.clone();
        rev_e.reverse();
        let b = render_rules(&rev_s, &rev_e, &ctx());
        assert_eq!(a, b);
        assert!(a.contains(":KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]"), "{a}");
        assert!(a.contains("-j KUBE-SEP-SXIVWICOYRO3J4NJ"), "{a}");
        // Unnamed port: the port name is just ns/name.
        assert!(a.contains(&service_port_chain_name(SVC_PREFIX, "ns2/b", "udp")));
    }

    /// Parses the `--probability p` of each rule of `chain` (1 for the last, unconditional one)
    /// and returns the share of traffic each endpoint gets.
    fn shares(text: &str, chain: &str) -> Vec<f64> {
        let mut remaining = 1.0;
        let mut out = Vec::new();
        for line in text
            .lines()
            .filter(|l| l.starts_with(&format!("-A {chain} ")) && l.contains("-j KUBE-SEP-"))
            .filter(|l| !l.contains("-m recent"))
        {
            let p = line
                .split_whitespace()
                .skip_while(|w| *w != "--probability")
                .nth(1)
                .map(|p| p.parse::<f64>().unwrap())
                .unwrap_or(1.0);
            out.push(remaining * p);
            remaining *= 1.0 - p;
        }
        out
    }

    #[test]
    fn every_ready_endpoint_gets_an_equal_share() {
        for n in [1usize, 2, 3, 4, 7, 10] {
            let ips: Vec<String> = (1..=n).map(|i| format!("10.180.0.{i}")).collect();
            let eps: Vec<(&str, Option<bool>)> = ips.iter().map(|ip| (ip.as_str(), None)).collect();
            let text = render_rules(
                &[web("172.30.0.41")],
                &[slice("ns1", "svc1", "p80", "TCP", 80, &eps)],
                &ctx(),
            );
            let s = shares(&text, "KUBE-SVC-XPGD46QRK7WJZT7O");
            assert_eq!(s.len(), n);
            let sum: f64 = s.iter().sum();
            assert!((sum - 1.0).abs() < 1e-6, "n={n} sum={sum}");
            for share in &s {
                assert!((share - 1.0 / n as f64).abs() < 1e-6, "n={n} {s:?}");
            }
            // Each endpoint has its own DNAT chain.
            for ip in &ips {
                assert!(text.contains(&format!("-j DNAT --to-destination {ip}:80")));
            }
        }
        assert_eq!(probability(3), "0.3333333333");
        assert_eq!(probability(2), "0.5000000000");
    }

    struct Case<'a> {
        name: &'a str,
        services: Vec<Service>,
        slices: Vec<EndpointSlice>,
        node: NodeContext,
        want: Vec<&'a str>,
        not_want: Vec<&'a str>,
    }

    #[test]
    fn renders_each_feature() {
        let np = service(
            "ns1",
            "np",
            json!({"type": "NodePort", "clusterIP": "172.30.0.43", "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}),
        );
        let np_chain = service_port_chain_name(SVC_PREFIX, "ns1/np", "tcp");
        let cases = vec![
            Case {
                name: "cluster IP with endpoints",
                services: vec![web("172.30.0.41")],
                slices: vec![slice("ns1", "svc1", "p80", "TCP", 80, &[("10.180.0.1", Some(true))])],
                node: ctx(),
                want: vec![
                    "*filter\n:KUBE-SERVICES - [0:0]\n:KUBE-EXTERNAL-SERVICES - [0:0]\n:KUBE-FORWARD - [0:0]\n",
                    "-A KUBE-SERVICES -m comment --comment \"ns1/svc1:p80 cluster IP\" -d 172.30.0.41/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O\n",
                    "-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment \"ns1/svc1:p80 cluster IP\" -d 172.30.0.41/32 -p tcp -m tcp --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ\n",
                    "-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment \"ns1/svc1:p80 -> 10.180.0.1:80\" -j KUBE-SEP-SXIVWICOYRO3J4NJ\n",
                    "-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment \"ns1/svc1:p80\" -s 10.180.0.1/32 -j KUBE-MARK-MASQ\n",
                    "-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment \"ns1/svc1:p80\" -p tcp -m tcp -j DNAT --to-destination 10.180.0.1:80\n",
                    "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n",
                    "-j MASQUERADE --random-fully\n",
                    "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n",
                    "--dst-type LOCAL -j KUBE-NODEPORTS\n",
                ],
                not_want: vec!["REJECT", "--probability", "-m recent"],
            },
            Case {
                name: "no ready endpoint rejects",
                services: vec![web("172.30.0.41")],
                slices: vec![slice("ns1", "svc1", "p80", "TCP", 80, &[("10.180.0.1", Some(false))])],
                node: ctx(),
                want: vec!["-A KUBE-SERVICES -m comment --comment \"ns1/svc1:p80 has no endpoints\" -d 172.30.0.41/32 -p tcp -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable\n"],
                not_want: vec!["KUBE-SVC-", "KUBE-SEP-", "DNAT"],
            },
            Case {
                name: "slice port name must match",
                services: vec![web("172.30.0.41")],
                slices: vec![slice("ns1", "svc1", "other", "TCP", 80, &[("10.180.0.1", None)])],
                node: ctx(),
                want: vec!["has no endpoints"],
                not_want: vec!["DNAT"],
            },
            Case {
                name: "node port",
                services: vec![np.clone()],
                slices: vec![slice("ns1", "np", "", "TCP", 8080, &[("10.180.0.5", None)])],
                node: ctx(),
                want: vec![
                    "-A KUBE-NODEPORTS -m comment --comment \"ns1/np\" -p tcp -m tcp --dport 30080 -j KUBE-EXT-",
                    "external destinations\" -j KUBE-MARK-MASQ\n",
                    "DNAT --to-destination 10.180.0.5:8080",
                ],
                not_want: vec!["REJECT"],
            },
            Case {
                name: "node port without endpoints rejects on local addresses",
                services: vec![np.clone()],
                slices: vec![],
                node: ctx(),
                want: vec!["-A KUBE-EXTERNAL-SERVICES -m comment --comment \"ns1/np has no endpoints\" -m addrtype --dst-type LOCAL -p tcp -m tcp --dport 30080 -j REJECT"],
                not_want: vec!["KUBE-EXT-", &np_chain],
            },
            Case {
                name: "session affinity",
                services: vec![service("ns1", "svc1", json!({"clusterIP": "172.30.0.41", "sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 600}}, "ports": [{"name": "p80", "port": 80, "protocol": "TCP"}]}))],
                slices: vec![slice("ns1", "svc1", "p80", "TCP", 80, &[("10.180.0.1", None), ("10.180.0.2", None)])],
                node: ctx(),
                want: vec![
                    "-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment \"ns1/svc1:p80 -> 10.180.0.1:80\" -m recent --name KUBE-SEP-SXIVWICOYRO3J4NJ --mask 255.255.255.255 --rsource --rcheck --seconds 600 --reap -j KUBE-SEP-SXIVWICOYRO3J4NJ\n",
                    "-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment \"ns1/svc1:p80\" -m recent --name KUBE-SEP-SXIVWICOYRO3J4NJ --mask 255.255.255.255 --rsource --set -p tcp -m tcp -j DNAT --to-destination 10.180.0.1:80\n",
                    "--probability 0.5000000000",
                ],
                not_want: vec![],
            },
            Case {
                name: "masquerade all",
                services: vec![web("172.30.0.41")],
                slices: vec![slice("ns1", "svc1", "p80", "TCP", 80, &[("10.180.0.1", None)])],
                node: NodeContext { masquerade_all: true, cluster_cidr: None, ..ctx() },
                want: vec!["-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment \"ns1/svc1:p80 cluster IP\" -d 172.30.0.41/32 -p tcp -m tcp --dport 80 -j KUBE-MARK-MASQ\n"],
                not_want: vec!["! -s"],
            },
            Case {
                name: "no cluster CIDR, no masquerade for cluster IPs",
                services: vec![web("172.30.0.41")],
                slices: vec![slice("ns1", "svc1", "p80", "TCP", 80, &[("10.180.0.1", None)])],
                node: NodeContext { cluster_cidr: None, ..ctx() },
                want: vec![],
                not_want: vec!["cluster IP\" -d 172.30.0.41/32 -p tcp -m tcp --dport 80 -j KUBE-MARK-MASQ", "! -s"],
            },
            Case {
                name: "nodeport addresses",
                services: vec![],
                slices: vec![],
                node: NodeContext { nodeport_addresses: vec!["10.1.0.0/24".into()], ..ctx() },
                want: vec!["-d 10.1.0.0/24 -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n"],
                not_want: vec![],
            },
            Case {
                name: "headless and ExternalName services get nothing",
                services: vec![
                    service("ns1", "headless", json!({"clusterIP": "None", "ports": [{"port": 80}]})),
                    service("ns1", "ext", json!({"type": "ExternalName", "externalName": "example.com"})),
                ],
                slices: vec![slice("ns1", "headless", "", "TCP", 80, &[("10.180.0.1", None)])],
                node: ctx(),
                want: vec![],
                not_want: vec!["headless", "ext", "KUBE-SVC-"],
            },
            Case {
                name: "duplicate endpoints across slices count once, IPv6 slices ignored",
                services: vec![web("172.30.0.41")],
                slices: vec![
                    slice("ns1", "svc1", "p80", "TCP", 80, &[("10.180.0.1", None)]),
                    slice("ns1", "svc1", "p80", "TCP", 80, &[("10.180.0.1", None)]),
                    {
                        let mut s = slice("ns1", "svc1", "p80", "TCP", 80, &[("fd00::1", None)]);
                        s.address_type = "IPv6".into();
                        s
                    },
                ],
                node: ctx(),
                want: vec![],
                not_want: vec!["--probability", "fd00"],
            },
        ];
        for case in cases {
            let text = render_rules(&case.services, &case.slices, &case.node);
            for w in &case.want {
                assert!(text.contains(w), "{}: missing {w:?} in\n{text}", case.name);
            }
            for w in &case.not_want {
                assert!(
                    !text.contains(w),
                    "{}: unexpected {w:?} in\n{text}",
                    case.name
                );
            }
            // Every chain we jump to is declared.
            for line in text.lines() {
                if let Some(target) = line.split(" -j ").nth(1) {
                    let target = target.split_whitespace().next().unwrap();
                    if target.starts_with("KUBE-") {
                        assert!(
                            text.contains(&format!(":{target} - [0:0]")),
                            "{}: {target} undeclared",
                            case.name
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn rules_go_when_service_or_endpoint_goes() {
        let services = vec![web("172.30.0.41")];
        let two = slice(
            "ns1",
            "svc1",
            "p80",
            "TCP",
            80,
            &[("10.180.0.1", None), ("10.180.0.2", None)],
        );
        let one = slice("ns1", "svc1", "p80", "TCP", 80, &[("10.180.0.1", None)]);
        let before = render_model(&build_model(&services, [&two]), &ctx());
        let after_ep = render_model(&build_model(&services, [&one]), &ctx());
        let gone_sep = service_port_endpoint_chain_name("ns1/svc1:p80", "tcp", "10.180.0.2:80");
        let none = BTreeSet::new();
        let full = |r: &Ruleset| {
            restore_input(
                r,
                &Baseline::Full {
                    nat: &none,
                    filter: &none,
                },
            )
        };
        assert!(full(&before).contains(&gone_sep));
        assert!(!full(&after_ep).contains(&gone_sep));
        assert!(!full(&after_ep).contains("10.180.0.2"));
        assert!(
            before.nat_chains().contains(&gone_sep) && !after_ep.nat_chains().contains(&gone_sep)
        );

        let after_svc = render_model(&build_model(&[], [&one]), &ctx());
        let text = full(&after_svc);
        assert!(!text.contains("KUBE-SVC-"));
        assert!(!text.contains("KUBE-SEP-"));
        assert!(!text.contains("172.30.0.41"));

        // A full sync deletes what the kernel has and is no longer rendered.
        let stale: Vec<String> = before
            .nat_chains()
            .difference(&after_svc.nat_chains())
            .cloned()
            .collect();
        assert_eq!(stale.len(), 3, "{stale:?}");
        let kernel_nat = before.nat_chains();
        let input = restore_input(
            &after_svc,
            &Baseline::Full {
                nat: &kernel_nat,
                filter: &none,
            },
        );
        // A partial sync from `before` deletes the same chains.
        let partial = restore_input(&after_svc, &Baseline::Applied(&before));
        for input in [&input, &partial] {
            let nat = input.split("*nat").nth(1).unwrap();
            for chain in &stale {
                assert!(nat.contains(&format!(":{chain} - [0:0]\n")), "{input}");
                assert!(nat.contains(&format!("-X {chain}\n")), "{input}");
            }
            assert!(nat.ends_with("COMMIT\n"));
            assert!(nat.contains("-X KUBE-SVC-XPGD46QRK7WJZT7O"));
            // Deleted last, after every rule that jumped to them is gone.
            let last_rule = nat.rfind("\n-A ").unwrap();
            assert!(nat.find("\n-X ").unwrap() > last_rule, "{input}");
        }
    }

    /// The per-service chains a restore input declares in its nat section, and those it deletes.
    fn declared_and_deleted(input: &str) -> (BTreeSet<String>, BTreeSet<String>) {
        let nat = input.split("*nat\n").nth(1).unwrap();
        let declared = nat
            .lines()
            .filter_map(|l| l.strip_prefix(':'))
            .filter_map(|l| l.split_whitespace().next())
            .filter(|c| !NAT_CHAINS.contains(c))
            .map(str::to_string)
            .collect();
        let deleted = nat
            .lines()
            .filter_map(|l| l.strip_prefix("-X "))
            .map(str::to_string)
            .collect();
        (declared, deleted)
    }

    #[test]
    fn partial_syncs_write_only_changed_service_chains() {
        let np = |name: &str, ip: &str| {
            service(
                "ns1",
                name,
                json!({"type": "NodePort", "clusterIP": ip, "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}),
            )
        };
        let a = np("a", "172.30.0.1");
        let b = np("b", "172.30.0.2");
        let a_eps = slice("ns1", "a", "", "TCP", 8080, &[("10.180.0.1", None)]);
        let b_two = slice(
            "ns1",
            "b",
            "",
            "TCP",
            8080,
            &[("10.180.0.2", None), ("10.180.0.3", None)],
        );
        let b_one = slice("ns1", "b", "", "TCP", 8080, &[("10.180.0.2", None)]);
        let svc = |n: &str| service_port_chain_name(SVC_PREFIX, &format!("ns1/{n}"), "tcp");
        let ext = |n: &str| service_port_chain_name(EXT_PREFIX, &format!("ns1/{n}"), "tcp");
        let sep = |n: &str, ip: &str| {
            service_port_endpoint_chain_name(&format!("ns1/{n}"), "tcp", &format!("{ip}:8080"))
        };
        let model = |services: &[Service], slices: &[&EndpointSlice]| {
            render_model(&build_model(services, slices.iter().copied()), &ctx())
        };
        let only_a = model(std::slice::from_ref(&a), &[&a_eps]);
        let both = model(&[a.clone(), b.clone()], &[&a_eps, &b_two]);
        let b_shrunk = model(&[a.clone(), b.clone()], &[&a_eps, &b_one]);
        let b_empty = model(&[a.clone(), b.clone()], &[&a_eps]);
        let set = |names: &[String]| names.iter().cloned().collect::<BTreeSet<String>>();

        struct Step<'a> {
            name: &'a str,
            from: &'a Ruleset,
            to: &'a Ruleset,
            declared: BTreeSet<String>,
            deleted: BTreeSet<String>,
        }
        let steps = [
            Step {
                name: "nothing changed",
                from: &both,
                to: &both,
                declared: set(&[]),
                deleted: set(&[]),
            },
            Step {
                name: "a service added: only its chains",
                from: &only_a,
                to: &both,
                declared: set(&[
                    svc("b"),
                    ext("b"),
                    sep("b", "10.180.0.2"),
                    sep("b", "10.180.0.3"),
                ]),
                deleted: set(&[]),
            },
            Step {
                name: "an endpoint gone: its SEP deleted, the SVC rewritten",
                from: &both,
                to: &b_shrunk,
                declared: set(&[svc("b"), sep("b", "10.180.0.3")]),
                deleted: set(&[sep("b", "10.180.0.3")]),
            },
            Step {
                name: "no endpoints left: every chain of b deleted",
                from: &b_shrunk,
                to: &b_empty,
                declared: set(&[svc("b"), ext("b"), sep("b", "10.180.0.2")]),
                deleted: set(&[svc("b"), ext("b"), sep("b", "10.180.0.2")]),
            },
            Step {
                name: "a service removed",
                from: &both,
                to: &only_a,
                declared: set(&[
                    svc("b"),
                    ext("b"),
                    sep("b", "10.180.0.2"),
                    sep("b", "10.180.0.3"),
                ]),
                deleted: set(&[
                    svc("b"),
                    ext("b"),
                    sep("b", "10.180.0.2"),
                    sep("b", "10.180.0.3"),
                ]),
            },
        ];
        for step in steps {
            let input = restore_input(step.to, &Baseline::Applied(step.from));
            let (declared, deleted) = declared_and_deleted(&input);
            assert_eq!(declared, step.declared, "{}:\n{input}", step.name);
            assert_eq!(deleted, step.deleted, "{}:\n{input}", step.name);
            // The fixed chains are always rewritten whole: KUBE-SERVICES lists every service
            // with endpoints, whatever changed.
            let nat = input.split("*nat\n").nth(1).unwrap();
            for chain in NAT_CHAINS {
                assert!(
                    nat.contains(&format!(":{chain} - [0:0]\n")),
                    "{}",
                    step.name
                );
            }
            for svc_chain in step
                .to
                .service_chains
                .keys()
                .filter(|c| c.starts_with(SVC_PREFIX))
            {
                assert!(
                    nat.contains(&format!("-j {svc_chain}\n")),
                    "{}: no jump to {svc_chain}",
                    step.name
                );
            }
            // Unchanged chains are not touched at all: no rule of theirs is written.
            for (chain, _) in step
                .to
                .service_chains
                .iter()
                .filter(|(c, r)| step.from.service_chains.get(*c) == Some(r))
            {
                assert!(
                    !nat.contains(&format!("-A {chain} ")),
                    "{}: {chain}",
                    step.name
                );
            }
        }
        // A full sync writes every chain.
        let none = BTreeSet::new();
        let input = restore_input(
            &both,
            &Baseline::Full {
                nat: &none,
                filter: &none,
            },
        );
        let (declared, _) = declared_and_deleted(&input);
        assert_eq!(
            declared,
            both.service_chains.keys().cloned().collect::<BTreeSet<_>>()
        );
    }

    #[test]
    fn jumps_are_ordered_for_iptables_restore_and_many_chains_list_first() {
        let n = LIST_ALL_CHAINS_ABOVE / 3 + 1;
        let services: Vec<Service> = (0..n)
            .map(|i| {
                service(
                    "ns1",
                    &format!("s{i}"),
                    json!({"type": "NodePort", "clusterIP": format!("172.30.{}.{}", i / 250, i % 250 + 1), "ports": [{"port": 80, "nodePort": 30000 + i, "protocol": "TCP"}]}),
                )
            })
            .collect();
        let slices: Vec<EndpointSlice> = (0..n)
            .map(|i| {
                let ip = format!("10.180.{}.{}", i / 250, i % 250 + 1);
                slice("ns1", &format!("s{i}"), "", "TCP", 8080, &[(&ip, None)])
            })
            .collect();
        let ruleset = render_model(&build_model(&services, &slices), &ctx());
        assert_eq!(ruleset.service_chains.len(), 3 * n);
        // Chains are created service by service, every one once, not in name order.
        assert_eq!(ruleset.creation_order.len(), 3 * n);
        let created: BTreeSet<&String> = ruleset.creation_order.iter().collect();
        assert!(created.iter().copied().eq(ruleset.service_chains.keys()));
        assert!(!ruleset
            .creation_order
            .iter()
            .eq(ruleset.service_chains.keys()));
        assert_eq!(
            ruleset.creation_order[..3],
            [
                service_port_chain_name(SVC_PREFIX, "ns1/s0", "tcp"),
                service_port_chain_name(EXT_PREFIX, "ns1/s0", "tcp"),
                service_port_endpoint_chain_name("ns1/s0", "tcp", "10.180.0.1:8080"),
            ]
        );
        let targets = |chain: &str| -> Vec<String> {
            ruleset
                .nat_rules
                .lines()
                .filter(|l| l.starts_with(&format!("-A {chain} ")))
                .filter_map(|l| l.split(" -j ").nth(1))
                .map(str::to_string)
                .collect()
        };
        let services_jumps = targets(KUBE_SERVICES);
        assert_eq!(services_jumps.len(), n + 1);
        assert_eq!(
            services_jumps.last().map(String::as_str),
            Some(KUBE_NODEPORTS)
        );
        let svc = &services_jumps[..n];
        assert!(svc.windows(2).all(|w| w[0] > w[1]), "descending: {svc:?}");
        let ext = targets(KUBE_NODEPORTS);
        assert_eq!(ext.len(), n);
        assert!(ext.windows(2).all(|w| w[0] > w[1]), "descending: {ext:?}");

        // 3n chains > the threshold: a full sync lists first; a small partial sync does not.
        let none = BTreeSet::new();
        let full = restore_input(
            &ruleset,
            &Baseline::Full {
                nat: &none,
                filter: &none,
            },
        );
        assert!(
            full.contains("*nat\n-S\n:KUBE-SERVICES"),
            "{}",
            &full[..400]
        );
        assert_eq!(full.matches("\n-S\n").count(), 1);
        let fewer = render_model(&build_model(&services[1..], &slices), &ctx());
        let partial = restore_input(&ruleset, &Baseline::Applied(&fewer));
        assert!(!partial.contains("\n-S\n"));
        assert_eq!(declared_and_deleted(&partial).0.len(), 3);
        // Deleting that many stale chains counts the same.
        let empty = render_model(&ProxyModel::default(), &ctx());
        let kernel = ruleset.nat_chains();
        let cleanup = restore_input(
            &empty,
            &Baseline::Full {
                nat: &kernel,
                filter: &none,
            },
        );
        assert!(cleanup.contains("*nat\n-S\n"));
        assert_eq!(declared_and_deleted(&cleanup).1.len(), 3 * n);
    }

    #[test]
    fn stale_udp_conntrack_entries() {
        let udp = |eps: &[(&str, Option<bool>)]| {
            build_model(
                &[service(
                    "ns1",
                    "dns",
                    json!({"type": "NodePort", "clusterIP": "172.30.0.10", "ports": [{"port": 53, "nodePort": 30053, "protocol": "UDP"}]}),
                )],
                &[slice("ns1", "dns", "", "UDP", 53, eps)],
            )
        };
        let both = udp(&[("10.180.0.1", None), ("10.180.0.2", None)]);
        let one = udp(&[("10.180.0.1", None)]);
        let none = udp(&[]);
        assert_eq!(
            stale_conntrack(&both, &one),
            vec![
                ConntrackDelete::ClusterIp {
                    cluster_ip: "172.30.0.10".into(),
                    endpoint_ip: "10.180.0.2".into()
                },
                ConntrackDelete::NodePort {
                    node_port: 30053,
                    endpoint_ip: "10.180.0.2".into()
                },
            ]
        );
        assert_eq!(stale_conntrack(&both, &both), vec![]);
        assert_eq!(
            stale_conntrack(&none, &one),
            vec![ConntrackDelete::AllToClusterIp {
                cluster_ip: "172.30.0.10".into()
            }]
        );
        assert_eq!(stale_conntrack(&one, &ProxyModel::default()).len(), 2);
        // TCP endpoints are never flushed.
        let tcp_a = build_model(
            &[web("172.30.0.41")],
            &[slice(
                "ns1",
                "svc1",
                "p80",
                "TCP",
                80,
                &[("10.180.0.1", None)],
            )],
        );
        assert_eq!(stale_conntrack(&tcp_a, &ProxyModel::default()), vec![]);
        assert_eq!(
            ConntrackDelete::ClusterIp {
                cluster_ip: "1.2.3.4".into(),
                endpoint_ip: "5.6.7.8".into()
            }
            .args(),
            [
                "-D",
                "-p",
                "udp",
                "--orig-dst",
                "1.2.3.4",
                "--dst-nat",
                "5.6.7.8"
            ]
        );
    }

    #[test]
    fn our_chains_only() {
        for c in [
            "KUBE-SERVICES",
            "KUBE-SVC-XPGD46QRK7WJZT7O",
            "KUBE-SEP-X",
            "KUBE-EXT-Y",
            "KUBE-MARK-MASQ",
            "KUBE-FORWARD",
        ] {
            assert!(is_our_chain(c), "{c}");
        }
        for c in [
            "KUBE-MARK-DROP",
            "KUBE-FIREWALL",
            "INPUT",
            "DOCKER",
            "KUBE-KUBELET-CANARY",
        ] {
            assert!(!is_our_chain(c), "{c}");
        }
    }
}
