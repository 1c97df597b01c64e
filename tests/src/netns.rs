//! Simulated nodes: network namespaces joined by a bridge, all owned by the harness.
//!
//! ```text
//!             hub namespace  tkh-<pid>-<n>-hub
//!         ┌──────────────────────────────────────────┐
//!         │  bridge tkbr (10.X.0.254/24)             │
//!         │    ├── tkv1 ─┐      ├── tkv2 ─┐          │
//!         └──────────────┼────────────────┼──────────┘
//!                  veth  │          veth  │
//!         ┌──────────────┴───┐   ┌────────┴─────────┐
//!         │ eth0 10.X.0.1/24 │   │ eth0 10.X.0.2/24 │
//!         │ tkh-<pid>-<n>-n1 │   │ tkh-<pid>-<n>-n2 │   node namespaces
//!         └──────────────────┘   └──────────────────┘
//! ```
//!
//! Every link and address lives inside namespaces created here; the machine's own network
//! namespace is never touched (everything is done with `ip -n NS ...` / `ip netns exec`). Each
//! [`Network`] has its own /24 (`10.X.0.0/24`, X in 120..=239, away from the Service range
//! `10.96.0.0/12` and the pod range `10.244.0.0/16`); since the namespaces are isolated, two
//! networks using the same subnet would not clash anyway.
//!
//! Names are `tkh-<pid>-<counter>-hub` and `tkh-<pid>-<counter>-n<i>`, unique per process and
//! call. Interface names (`tkbr`, `tkv<i>`, `eth0`) repeat across networks, which is fine because
//! they live in different namespaces, and stay within the kernel's 15-character limit.
//!
//! Teardown ([`Network::teardown`], also run by `Drop`, including while a test panics) kills
//! every process still inside each namespace, deletes the node namespaces, then the hub. It is
//! idempotent. Declare the `Network` before the [`crate::Process`]es that run in it, so those
//! are dropped first and get a graceful SIGTERM; whatever is left gets SIGKILL from the
//! teardown. [`Network::new`] first removes leftovers of earlier runs whose creating process
//! (the pid in the name) is dead, so a crashed run does not leave junk for ever.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::cmd::{self, pid_alive, run_ok, CmdOutput};
use crate::error::{HarnessError, Result};

/// Prefix of every namespace the harness creates.
pub const NETNS_PREFIX: &str = "tkh-";

/// Name of the bridge inside the hub namespace.
pub const BRIDGE_NAME: &str = "tkbr";

/// Prefix of the hub-side veth names (`tkv1`, `tkv2`, ...).
pub const HUB_VETH_PREFIX: &str = "tkv";

/// Default bound for [`Node::exec`].
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(60);

/// Most nodes one network can hold (host numbers 1..=250; .254 is the hub's bridge).
pub const MAX_NODES: usize = 250;

static NETWORK_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A hub namespace with a bridge, and the node namespaces attached to it. Torn down on drop.
#[derive(Debug)]
pub struct Network {
    base: String,
    hub: String,
    subnet: u8,
    nodes: Mutex<Vec<Node>>,
}

/// One simulated node: a network namespace with `lo` and `eth0` (on the network's bridge) up.
///
/// A `Node` is a cheap handle (clone it freely); the namespace belongs to its [`Network`] and
/// disappears with it.
#[derive(Debug, Clone)]
pub struct Node {
    name: String,
    ip: Ipv4Addr,
    prefix_len: u8,
    hub_veth: String,
}

fn ns_path(name: &str) -> std::path::PathBuf {
    Path::new("/run/netns").join(name)
}

/// Whether a network namespace with this name exists (`/run/netns/<name>`).
pub fn netns_exists(name: &str) -> bool {
    ns_path(name).exists()
}

/// Names of all named network namespaces (`ip netns list`).
pub fn list_netns() -> Result<Vec<String>> {
    let out = run_ok("ip", &["netns", "list"])?;
    Ok(out
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

/// Pids of the processes inside a namespace (`ip netns pids`), zombies excluded.
pub fn netns_pids(name: &str) -> Result<Vec<u32>> {
    let out = run_ok("ip", &["netns", "pids", name])?;
    Ok(out
        .stdout
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter(|&p| pid_alive(p))
        .collect())
}

/// Kills everything inside the namespace (bounded) and deletes it. Absent namespaces are fine.
fn remove_namespace(name: &str) -> Result<()> {
    if !netns_exists(name) {
        return Ok(());
    }
    let timeout = Duration::from_secs(10);
    let deadline = Instant::now() + timeout;
    loop {
        let pids = netns_pids(name)?;
        if pids.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            return Err(HarnessError::Timeout {
                what: format!("processes in netns {name} to die"),
                timeout,
                last: format!("still alive: {pids:?}"),
            });
        }
        cmd::signal(&pids, "KILL");
        std::thread::sleep(Duration::from_millis(20));
    }
    match run_ok("ip", &["netns", "del", name]) {
        Ok(_) => Ok(()),
        // Someone else (a concurrent stale cleanup) removed it first.
        Err(_) if !netns_exists(name) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The pid encoded in one of our namespace names, if it is ours.
fn creator_pid(name: &str) -> Option<u32> {
    name.strip_prefix(NETNS_PREFIX)?
        .split('-')
        .next()?
        .parse()
        .ok()
}

/// Removes namespaces named with [`NETNS_PREFIX`] whose creating process is no longer alive.
/// Node namespaces go before hubs. Returns the names removed.
pub fn cleanup_stale() -> Result<Vec<String>> {
    let me = std::process::id();
    let mut stale: Vec<String> = list_netns()?
        .into_iter()
        .filter(|n| creator_pid(n).is_some_and(|pid| pid != me && !pid_alive(pid)))
        .collect();
    // Hubs last: false < true.
    stale.sort_by_key(|n| (n.ends_with("-hub"), n.clone()));
    let mut removed = Vec::new();
    for name in stale {
        match remove_namespace(&name) {
            Ok(()) => removed.push(name),
            Err(e) => eprintln!("tinykube-tests: could not remove stale netns {name}: {e}"),
        }
    }
    Ok(removed)
}

impl Network {
    /// Creates the hub namespace with its bridge (after removing stale leftovers of dead runs).
    pub fn new() -> Result<Network> {
        if let Err(e) = cleanup_stale() {
            eprintln!("tinykube-tests: stale netns cleanup failed: {e}");
        }
        let n = NETWORK_COUNTER.fetch_add(1, Ordering::Relaxed);
        let base = format!("{NETNS_PREFIX}{}-{n}", std::process::id());
        let network = Network {
            hub: format!("{base}-hub"),
            base,
            subnet: 120 + (n % 120) as u8,
            nodes: Mutex::new(Vec::new()),
        };
        // From here on, Drop cleans up whatever part was created.
        let hub = network.hub.as_str();
        let bridge_cidr = format!("{}/24", network.hub_ip());
        run_ok("ip", &["netns", "add", hub])?;
        run_ok("ip", &["-n", hub, "link", "set", "lo", "up"])?;
        run_ok(
            "ip",
            &["-n", hub, "link", "add", BRIDGE_NAME, "type", "bridge"],
        )?;
        run_ok(
            "ip",
            &["-n", hub, "addr", "add", &bridge_cidr, "dev", BRIDGE_NAME],
        )?;
        run_ok("ip", &["-n", hub, "link", "set", BRIDGE_NAME, "up"])?;
        Ok(network)
    }

    /// Name of the hub namespace (holds the bridge; processes may run there too).
    pub fn hub_name(&self) -> &str {
        &self.hub
    }

    /// Address of the bridge in the hub namespace, `10.X.0.254`: reachable from every node.
    pub fn hub_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.subnet, 0, 254)
    }

    /// The network's subnet, e.g. `10.123.0.0/24`.
    pub fn cidr(&self) -> String {
        format!("10.{}.0.0/24", self.subnet)
    }

    /// Common prefix of all namespace names of this network, `tkh-<pid>-<n>`.
    pub fn name_prefix(&self) -> &str {
        &self.base
    }

    /// The nodes added so far.
    pub fn nodes(&self) -> Vec<Node> {
        self.nodes.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Every namespace name of this network, nodes first then the hub.
    pub fn namespace_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.nodes().into_iter().map(|n| n.name).collect();
        names.push(self.hub.clone());
        names
    }

    /// Adds a node: a namespace `tkh-<pid>-<n>-n<i>` with `lo` up and `eth0` = `10.X.0.<i>/24`,
    /// whose veth peer `tkv<i>` is on the hub's bridge.
    pub fn add_node(&self) -> Result<Node> {
        let mut nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        let index = nodes.len() + 1;
        if index > MAX_NODES {
            return Err(HarnessError::Network {
                network: self.hub.clone(),
                reason: format!("at most {MAX_NODES} nodes"),
            });
        }
        let node = Node {
            name: format!("{}-n{index}", self.base),
            ip: Ipv4Addr::new(10, self.subnet, 0, index as u8),
            prefix_len: 24,
            hub_veth: format!("{HUB_VETH_PREFIX}{index}"),
        };
        // Recorded before creation, so teardown also removes a half-made node.
        nodes.push(node.clone());
        drop(nodes);

        let (hub, ns, veth) = (
            self.hub.as_str(),
            node.name.as_str(),
            node.hub_veth.as_str(),
        );
        let cidr = node.cidr();
        run_ok("ip", &["netns", "add", ns])?;
        run_ok(
            "ip",
            &[
                "-n", hub, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns,
            ],
        )?;
        run_ok(
            "ip",
            &["-n", hub, "link", "set", veth, "master", BRIDGE_NAME],
        )?;
        run_ok("ip", &["-n", hub, "link", "set", veth, "up"])?;
        run_ok("ip", &["-n", ns, "link", "set", "lo", "up"])?;
        run_ok("ip", &["-n", ns, "addr", "add", &cidr, "dev", "eth0"])?;
        run_ok("ip", &["-n", ns, "link", "set", "eth0", "up"])?;
        Ok(node)
    }

    /// Kills every process left in the network's namespaces and deletes them, nodes first.
    /// Idempotent; also run on drop. Tries every namespace and returns the first error.
    pub fn teardown(&self) -> Result<()> {
        let mut first_error = None;
        for name in self.namespace_names() {
            if let Err(e) = remove_namespace(&name) {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            eprintln!(
                "tinykube-tests: teardown of network {} failed: {e}",
                self.base
            );
        }
    }
}

impl Node {
    /// The namespace name (give it to [`crate::Launch::netns`]).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node's address on `eth0`.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// The address with prefix, e.g. `10.123.0.1/24`.
    pub fn cidr(&self) -> String {
        format!("{}/{}", self.ip, self.prefix_len)
    }

    /// Name of the veth end in the hub namespace (`tkv<i>`).
    pub fn hub_veth(&self) -> &str {
        &self.hub_veth
    }

    /// Runs `program args` inside the node (`ip netns exec`), waiting at most [`EXEC_TIMEOUT`];
    /// returns its output whatever the exit status. Blocking.
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<CmdOutput> {
        self.exec_timeout(program, args, EXEC_TIMEOUT)
    }

    /// [`Node::exec`] with an explicit bound (the command is killed when it runs out).
    pub fn exec_timeout(
        &self,
        program: &str,
        args: &[&str],
        timeout: Duration,
    ) -> Result<CmdOutput> {
        let mut full = vec!["netns", "exec", self.name.as_str(), program];
        full.extend_from_slice(args);
        cmd::run("ip", &full, timeout)
    }

    /// Async [`Node::exec_timeout`], for tokio tests that must not block their runtime.
    pub async fn exec_async(
        &self,
        program: &str,
        args: &[&str],
        timeout: Duration,
    ) -> Result<CmdOutput> {
        let line = format!("ip netns exec {} {program} {}", self.name, args.join(" "));
        let child = tokio::process::Command::new("ip")
            .args(["netns", "exec", self.name.as_str(), program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| HarnessError::io(format!("spawn `{line}`"), e))?;
        match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Ok(Ok(out)) => Ok(CmdOutput {
                status: out.status,
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }),
            Ok(Err(e)) => Err(HarnessError::io(format!("wait for `{line}`"), e)),
            Err(_) => Err(HarnessError::Timeout {
                what: format!("`{line}` to finish"),
                timeout,
                last: "still running; killed".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creator_pid_parses_our_names_only() {
        assert_eq!(creator_pid("tkh-1234-0-hub"), Some(1234));
        assert_eq!(creator_pid("tkh-99-12-n3"), Some(99));
        assert_eq!(creator_pid("cni-1234"), None);
        assert_eq!(creator_pid("tkh-x-0-hub"), None);
    }
}
