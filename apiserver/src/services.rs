//! ClusterIP and NodePort allocation for Services (upstream's service REST hooks).
//!
//! What is in use is read from the Services themselves (the watch cache), plus the allocations
//! of creates still in flight, so a deleted Service frees its addresses without bookkeeping
//! and two concurrent creates never get the same address.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tinykube_apimachinery::status::FieldError;

/// How long an allocation is held for a create before the watch cache must show it.
const PENDING_TTL: Duration = Duration::from_secs(60);

/// An IPv4 CIDR such as `10.96.0.0/12`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(text: &str) -> Result<Cidr, String> {
        let (ip, prefix) = text
            .split_once('/')
            .ok_or_else(|| format!("invalid CIDR {text:?}: expected address/prefix"))?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| format!("invalid CIDR {text:?}: bad IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| (8..=30).contains(p))
            .ok_or_else(|| format!("invalid CIDR {text:?}: prefix must be 8 to 30"))?;
        let mask = u32::MAX << (32 - prefix);
        Ok(Cidr {
            network: Ipv4Addr::from(u32::from(ip) & mask),
            prefix,
        })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Cidr {
    fn size(&self) -> u32 {
        1u32 << (32 - self.prefix)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & (u32::MAX << (32 - self.prefix)) == u32::from(self.network)
    }

    /// The `n`th address (0 is the network address).
    pub fn nth(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + n)
    }

    fn usable(&self, ip: Ipv4Addr) -> bool {
        let offset = u32::from(ip).wrapping_sub(u32::from(self.network));
        self.contains(ip) && offset != 0 && offset != self.size() - 1
    }
}

/// What one create reserved, to free if the create fails.
#[derive(Debug, Default)]
pub struct Allocation {
    ip: Option<Ipv4Addr>,
    node_ports: Vec<u16>,
}

/// Allocates ClusterIPs from the service CIDR and NodePorts from the node port range.
pub struct ServiceAllocator {
    cidr: Cidr,
    node_ports: (u16, u16),
    pending_ips: Mutex<HashMap<Ipv4Addr, Instant>>,
    pending_ports: Mutex<HashMap<u16, Instant>>,
}

/// Addresses and ports the given Services hold.
fn in_use(services: &[std::sync::Arc<Value>]) -> (Vec<Ipv4Addr>, Vec<u16>) {
    let mut ips = Vec::new();
    let mut ports = Vec::new();
    for service in services {
        if let Some(ip) = service
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .and_then(|ip| ip.parse().ok())
        {
            ips.push(ip);
        }
        for port in service
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(node_port) = port
                .get("nodePort")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
            {
                ports.push(node_port);
            }
        }
    }
    (ips, ports)
}

impl ServiceAllocator {
    pub fn new(cidr: Cidr, node_ports: (u16, u16)) -> ServiceAllocator {
        ServiceAllocator {
            cidr,
            node_ports,
            pending_ips: Mutex::new(HashMap::new()),
            pending_ports: Mutex::new(HashMap::new()),
        }
    }

    /// The `kubernetes` Service's address: the first of the range, as upstream.
    pub fn first_ip(&self) -> Ipv4Addr {
        self.cidr.nth(1)
    }

    /// Fills in `spec.clusterIP(s)` and missing `nodePort`s of a new Service, checking the
    /// requested ones. `existing` are the Services stored now.
    pub fn allocate(
        &self,
        service: &mut Value,
        existing: &[std::sync::Arc<Value>],
    ) -> Result<Allocation, FieldError> {
        let (used_ips, used_ports) = in_use(existing);
        let mut allocation = Allocation::default();
        let service_type = service
            .pointer("/spec/type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_string();
        if service_type != "ExternalName" {
            let requested = service
                .pointer("/spec/clusterIP")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let ip = match requested.as_str() {
                "None" => None,
                "" => Some(self.pick_ip(&used_ips)?),
                text => {
                    let ip: Ipv4Addr = text.parse().map_err(|_| {
                        FieldError::invalid(
                            "spec.clusterIPs[0]",
                            json!(text),
                            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                        )
                    })?;
                    self.claim_ip(ip, &used_ips)?;
                    Some(ip)
                }
            };
            match ip {
                Some(ip) => {
                    allocation.ip = Some(ip);
                    service["spec"]["clusterIP"] = json!(ip.to_string());
                    service["spec"]["clusterIPs"] = json!([ip.to_string()]);
                }
                None => {
                    service["spec"]["clusterIP"] = json!("None");
                    service["spec"]["clusterIPs"] = json!(["None"]);
                }
            }
        }
        if matches!(service_type.as_str(), "NodePort" | "LoadBalancer") {
            let count = service
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            for index in 0..count {
                let port = &mut service["spec"]["ports"][index];
                let requested = port
                    .get("nodePort")
                    .and_then(Value::as_u64)
                    .filter(|p| *p != 0);
                let node_port = match requested {
                    Some(p) => {
                        let p = u16::try_from(p).ok().filter(|p| (self.node_ports.0..=self.node_ports.1).contains(p)).ok_or_else(|| {
                            FieldError::invalid(
                                format!("spec.ports[{index}].nodePort"),
                                json!(p),
                                format!("provided port is not in the valid range. The range of valid ports is {}-{}", self.node_ports.0, self.node_ports.1),
                            )
                        })?;
                        self.claim_port(p, index, &used_ports)?;
                        p
                    }
                    None => self.pick_port(&used_ports)?,
                };
                allocation.node_ports.push(node_port);
                port["nodePort"] = json!(node_port);
            }
        }
        Ok(allocation)
    }

    /// Frees what a failed create reserved.
    pub fn release(&self, allocation: &Allocation) {
        if let Some(ip) = allocation.ip {
            self.pending_ips
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&ip);
        }
        let mut ports = self.pending_ports.lock().unwrap_or_else(|p| p.into_inner());
        for port in &allocation.node_ports {
            ports.remove(port);
        }
    }

    fn claim_ip(&self, ip: Ipv4Addr, used: &[Ipv4Addr]) -> Result<(), FieldError> {
        if !self.cidr.usable(ip) {
            return Err(FieldError::invalid(
                "spec.clusterIPs",
                json!([ip.to_string()]),
                format!("failed to allocate IP {ip}: provided IP is not in the valid range. The range of valid IPs is {}", self.cidr),
            ));
        }
        let mut pending = self.pending_ips.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|_, at| at.elapsed() < PENDING_TTL);
        if used.contains(&ip) || pending.contains_key(&ip) {
            return Err(FieldError::invalid(
                "spec.clusterIPs",
                json!([ip.to_string()]),
                format!("failed to allocate IP {ip}: provided IP is already allocated"),
            ));
        }
        pending.insert(ip, Instant::now());
        Ok(())
    }

    fn pick_ip(&self, used: &[Ipv4Addr]) -> Result<Ipv4Addr, FieldError> {
        let size = self.cidr.size();
        let start = rand::random::<u32>() % size;
        let mut pending = self.pending_ips.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|_, at| at.elapsed() < PENDING_TTL);
        // Upstream leaves the lowest addresses for static assignment; we keep the first one
        // (the kubernetes Service) out of the dynamic pool.
        for step in 0..size {
            let ip = self.cidr.nth((start + step) % size);
            if self.cidr.usable(ip)
                && ip != self.first_ip()
                && !used.contains(&ip)
                && !pending.contains_key(&ip)
            {
                pending.insert(ip, Instant::now());
                return Ok(ip);
            }
        }
        Err(FieldError::internal(
            "spec.clusterIPs",
            "failed to allocate a serviceIP: range is full",
        ))
    }

    fn claim_port(&self, port: u16, index: usize, used: &[u16]) -> Result<(), FieldError> {
        let mut pending = self.pending_ports.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|_, at| at.elapsed() < PENDING_TTL);
        if used.contains(&port) || pending.contains_key(&port) {
            return Err(FieldError::invalid(
                format!("spec.ports[{index}].nodePort"),
                json!(port),
                "provided port is already allocated",
            ));
        }
        pending.insert(port, Instant::now());
        Ok(())
    }

    fn pick_port(&self, used: &[u16]) -> Result<u16, FieldError> {
        let (low, high) = self.node_ports;
        let size = u32::from(high - low) + 1;
        let start = rand::random::<u32>() % size;
        let mut pending = self.pending_ports.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|_, at| at.elapsed() < PENDING_TTL);
        for step in 0..size {
            let port = low + ((start + step) % size) as u16;
            if !used.contains(&port) && !pending.contains_key(&port) {
                pending.insert(port, Instant::now());
                return Ok(port);
            }
        }
        Err(FieldError::internal(
            "spec.ports",
            "failed to allocate a nodePort: range is full",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn allocator() -> ServiceAllocator {
        ServiceAllocator::new("10.96.0.0/28".parse().unwrap(), (30000, 30002))
    }

    #[test]
    fn cidrs_parse_and_reject_garbage() {
        let cidr: Cidr = "10.96.3.7/12".parse().unwrap();
        assert_eq!(cidr.to_string(), "10.96.0.0/12");
        assert!(cidr.contains("10.111.255.254".parse().unwrap()));
        assert!(!cidr.contains("10.112.0.1".parse().unwrap()));
        for bad in ["10.96.0.0", "10.96.0.0/40", "x/12", "10.96.0.0/abc"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn allocation_follows_the_service_type() {
        // (service, Ok((gets a ClusterIP, node ports allocated)) or Err(message fragment))
        type Expected = Result<(bool, usize), &'static str>;
        let cases: &[(Value, Expected)] = &[
            (
                json!({"spec": {"type": "ClusterIP", "ports": [{"port": 80}]}}),
                Ok((true, 0)),
            ),
            (
                json!({"spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 81}]}}),
                Ok((true, 2)),
            ),
            (
                json!({"spec": {"type": "ClusterIP", "clusterIP": "None"}}),
                Ok((false, 0)),
            ),
            (
                json!({"spec": {"type": "ExternalName", "externalName": "x.example"}}),
                Ok((false, 0)),
            ),
            (json!({"spec": {"clusterIP": "10.96.0.5"}}), Ok((true, 0))),
            (
                json!({"spec": {"clusterIP": "10.97.0.5"}}),
                Err("not in the valid range"),
            ),
            (
                json!({"spec": {"clusterIP": "10.96.0.9"}}),
                Err("already allocated"),
            ),
            (json!({"spec": {"clusterIP": "banana"}}), Err("valid IP")),
            (
                json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30001}]}}),
                Err("already allocated"),
            ),
            (
                json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]}}),
                Err("valid range"),
            ),
        ];
        let existing = vec![Arc::new(
            json!({"spec": {"clusterIP": "10.96.0.9", "ports": [{"nodePort": 30001}]}}),
        )];
        for (service, expected) in cases {
            let allocator = allocator();
            let mut service = service.clone();
            let result = allocator.allocate(&mut service, &existing);
            match (result, expected) {
                (Ok(allocation), Ok((has_ip, ports))) => {
                    assert_eq!(allocation.ip.is_some(), *has_ip, "{service}");
                    assert_eq!(allocation.node_ports.len(), *ports, "{service}");
                    if let Some(ip) = allocation.ip {
                        assert_eq!(service["spec"]["clusterIP"], json!(ip.to_string()));
                        assert_ne!(ip, allocator.first_ip());
                        assert_ne!(ip.to_string(), "10.96.0.9");
                    }
                }
                (Err(error), Err(fragment)) => assert!(
                    error.to_string().contains(fragment),
                    "{error} lacks {fragment}"
                ),
                (got, want) => panic!("{service}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn concurrent_creates_never_share_an_address_and_failures_release() {
        let allocator = allocator();
        // 16 addresses: network, broadcast and the kubernetes Service's are never handed out.
        let mut given = Vec::new();
        for _ in 0..13 {
            let mut service = json!({"spec": {}});
            given.push(allocator.allocate(&mut service, &[]).unwrap());
        }
        let mut ips: Vec<_> = given.iter().map(|a| a.ip.unwrap()).collect();
        ips.sort();
        ips.dedup();
        assert_eq!(ips.len(), 13);
        assert!(
            allocator.allocate(&mut json!({"spec": {}}), &[]).is_err(),
            "range is full"
        );
        allocator.release(&given[0]);
        assert!(allocator.allocate(&mut json!({"spec": {}}), &[]).is_ok());
    }
}
