//! Resource arithmetic in the units the scheduler compares: milli-CPU, bytes and counts.
//!
//! [`pod_requests`] is upstream's `resourcehelper.PodRequests`: the sum of the regular
//! containers' requests, raised to the largest init-container request where that is larger
//! (an init container runs alone, before the others), with restartable init containers
//! (sidecars, `restartPolicy: Always`) counted as running alongside everything that starts
//! after them, plus the pod's `overhead`. A container with a limit but no request for a
//! resource requests its limit (upstream's API defaulting does this on create).
//!
//! Quantities that do not parse count as zero and are reported back, so an odd pod never
//! crashes the scheduler (the apiserver would normally have rejected it).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use tinykube_apimachinery::Quantity;

/// CPU (milli-cores) assumed for a container that requests none, for scoring only
/// (upstream `DefaultMilliCPURequest`).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Memory (bytes) assumed for a container that requests none, for scoring only
/// (upstream `DefaultMemoryRequest`, 200 MiB).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// A set of resource amounts: requests of a pod, allocatable or requested of a node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// `cpu` in thousandths of a core.
    pub milli_cpu: i64,
    /// `memory` in bytes.
    pub memory: i64,
    /// `ephemeral-storage` in bytes.
    pub ephemeral_storage: i64,
    /// `pods` (only meaningful for a node's allocatable).
    pub pods: i64,
    /// Every other resource (extended resources, hugepages), in whole units.
    pub scalar: BTreeMap<String, i64>,
}

/// A quantity that did not parse, with the resource it was given for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadQuantity {
    pub resource: String,
    pub value: String,
    pub error: String,
}

impl Resources {
    /// Reads a `ResourceList` (a pod's requests, a node's allocatable). Bad quantities count
    /// as zero and are appended to `bad`.
    pub fn from_list(
        list: Option<&BTreeMap<String, K8sQuantity>>,
        bad: &mut Vec<BadQuantity>,
    ) -> Resources {
        let mut out = Resources::default();
        for (name, quantity) in list.into_iter().flatten() {
            let parsed = match Quantity::try_from(quantity) {
                Ok(q) => q,
                Err(error) => {
                    bad.push(BadQuantity {
                        resource: name.clone(),
                        value: quantity.0.clone(),
                        error: error.to_string(),
                    });
                    continue;
                }
            };
            out.set(name, &parsed);
        }
        out
    }

    fn set(&mut self, name: &str, quantity: &Quantity) {
        match name {
            "cpu" => self.milli_cpu = quantity.milli_value(),
            "memory" => self.memory = quantity.value(),
            "ephemeral-storage" => self.ephemeral_storage = quantity.value(),
            "pods" => self.pods = quantity.value(),
            other => {
                self.scalar.insert(other.to_string(), quantity.value());
            }
        }
    }

    /// `self += other` (saturating).
    pub fn add(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_add(other.milli_cpu);
        self.memory = self.memory.saturating_add(other.memory);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_add(other.ephemeral_storage);
        self.pods = self.pods.saturating_add(other.pods);
        for (name, value) in &other.scalar {
            let entry = self.scalar.entry(name.clone()).or_insert(0);
            *entry = entry.saturating_add(*value);
        }
    }

    /// `self -= other` (saturating); scalar entries that reach zero are dropped.
    pub fn sub(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_sub(other.milli_cpu);
        self.memory = self.memory.saturating_sub(other.memory);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_sub(other.ephemeral_storage);
        self.pods = self.pods.saturating_sub(other.pods);
        for (name, value) in &other.scalar {
            if let Some(entry) = self.scalar.get_mut(name) {
                *entry = entry.saturating_sub(*value);
                if *entry == 0 {
                    self.scalar.remove(name);
                }
            }
        }
    }

    /// Each resource raised to `other`'s amount where that is larger.
    pub fn max_with(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        self.pods = self.pods.max(other.pods);
        for (name, value) in &other.scalar {
            let entry = self.scalar.entry(name.clone()).or_insert(0);
            *entry = (*entry).max(*value);
        }
    }

    /// True when nothing but (possibly) `pods` is requested.
    pub fn is_empty_request(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.scalar.values().all(|v| *v == 0)
    }
}

/// CPU and memory with upstream's non-zero defaults applied per container: what scoring uses
/// so that request-less pods still spread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NonZero {
    pub milli_cpu: i64,
    pub memory: i64,
}

/// A container's effective requests: `requests`, with `limits` standing in for missing ones.
fn container_requests(
    resources: Option<&ResourceRequirements>,
    bad: &mut Vec<BadQuantity>,
) -> Resources {
    let Some(resources) = resources else {
        return Resources::default();
    };
    let mut merged: BTreeMap<String, K8sQuantity> = resources.limits.clone().unwrap_or_default();
    for (name, value) in resources.requests.iter().flatten() {
        merged.insert(name.clone(), value.clone());
    }
    Resources::from_list(Some(&merged), bad)
}

/// A container's CPU and memory for scoring: missing requests (and limits) become the
/// defaults; an explicit zero stays zero (upstream `GetNonzeroRequests`).
fn container_non_zero(container: &Container, requests: &Resources) -> NonZero {
    let has = |name: &str| {
        container.resources.as_ref().is_some_and(|r| {
            r.requests.as_ref().is_some_and(|l| l.contains_key(name))
                || r.limits.as_ref().is_some_and(|l| l.contains_key(name))
        })
    };
    NonZero {
        milli_cpu: if has("cpu") {
            requests.milli_cpu
        } else {
            DEFAULT_MILLI_CPU_REQUEST
        },
        memory: if has("memory") {
            requests.memory
        } else {
            DEFAULT_MEMORY_REQUEST
        },
    }
}

/// Sum of the containers, max with init containers (sidecars accumulate), plus overhead.
fn aggregate<T, F>(
    spec: &PodSpec,
    mut per_container: F,
    add: fn(&mut T, &T),
    max: fn(&mut T, &T),
    overhead: T,
) -> T
where
    T: Default + Clone,
    F: FnMut(&Container) -> T,
{
    let mut total = T::default();
    for container in &spec.containers {
        add(&mut total, &per_container(container));
    }
    let mut sidecars = T::default();
    let mut init_max = T::default();
    for container in spec.init_containers.iter().flatten() {
        let requests = per_container(container);
        let effective = if container.restart_policy.as_deref() == Some("Always") {
            add(&mut total, &requests);
            add(&mut sidecars, &requests);
            sidecars.clone()
        } else {
            let mut with_sidecars = requests;
            add(&mut with_sidecars, &sidecars);
            with_sidecars
        };
        max(&mut init_max, &effective);
    }
    max(&mut total, &init_max);
    add(&mut total, &overhead);
    total
}

/// What a pod requests (upstream `PodRequests`, see the [module docs](self)). Bad quantities
/// count as zero and are appended to `bad`.
pub fn pod_requests(spec: &PodSpec, bad: &mut Vec<BadQuantity>) -> Resources {
    let overhead = Resources::from_list(spec.overhead.as_ref(), bad);
    aggregate(
        spec,
        |c| container_requests(c.resources.as_ref(), bad),
        Resources::add,
        Resources::max_with,
        overhead,
    )
}

/// The pod's CPU and memory for scoring, with the per-container defaults (upstream
/// `NonMissingContainerRequests` aggregation).
pub fn pod_non_zero_requests(spec: &PodSpec) -> NonZero {
    let mut ignored = Vec::new();
    let overhead = Resources::from_list(spec.overhead.as_ref(), &mut ignored);
    aggregate(
        spec,
        |c| container_non_zero(c, &container_requests(c.resources.as_ref(), &mut ignored)),
        |a, b| {
            a.milli_cpu = a.milli_cpu.saturating_add(b.milli_cpu);
            a.memory = a.memory.saturating_add(b.memory);
        },
        |a, b| {
            a.milli_cpu = a.milli_cpu.max(b.milli_cpu);
            a.memory = a.memory.max(b.memory);
        },
        NonZero {
            milli_cpu: overhead.milli_cpu,
            memory: overhead.memory,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: serde_json::Value) -> PodSpec {
        serde_json::from_value(value).unwrap()
    }

    fn container(requests: serde_json::Value) -> serde_json::Value {
        json!({"name": "c", "resources": {"requests": requests}})
    }

    #[test]
    fn pod_requests_follow_the_init_container_rule() {
        // (case, spec, milli_cpu, memory)
        let cases = [
            ("no containers", json!({"containers": []}), 0, 0),
            (
                "sum of containers",
                json!({"containers": [container(json!({"cpu": "100m", "memory": "1Mi"})), container(json!({"cpu": "250m"}))]}),
                350,
                1 << 20,
            ),
            (
                "an init container larger than the sum wins per resource",
                json!({
                    "containers": [container(json!({"cpu": "100m", "memory": "1Gi"}))],
                    "initContainers": [container(json!({"cpu": "2", "memory": "10Mi"}))],
                }),
                2000,
                1 << 30,
            ),
            (
                "the largest init container counts, not their sum",
                json!({
                    "containers": [container(json!({"cpu": "100m"}))],
                    "initContainers": [container(json!({"cpu": "500m"})), container(json!({"cpu": "700m"}))],
                }),
                700,
                0,
            ),
            (
                "sidecars run alongside later init containers and the app",
                json!({
                    "containers": [container(json!({"cpu": "100m"}))],
                    "initContainers": [
                        {"name": "sidecar", "restartPolicy": "Always", "resources": {"requests": {"cpu": "200m"}}},
                        container(json!({"cpu": "500m"})),
                    ],
                }),
                // max(100 + 200, 500 + 200) = 700
                700,
                0,
            ),
            (
                "overhead is added",
                json!({"containers": [container(json!({"cpu": "100m"}))], "overhead": {"cpu": "50m", "memory": "10Mi"}}),
                150,
                10 << 20,
            ),
            (
                "limits stand in for missing requests",
                json!({"containers": [{"name": "c", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"memory": "512Mi"}}}]}),
                1000,
                512 << 20,
            ),
            (
                "a container without resources requests nothing",
                json!({"containers": [{"name": "c"}]}),
                0,
                0,
            ),
        ];
        for (case, value, cpu, memory) in cases {
            let mut bad = Vec::new();
            let r = pod_requests(&spec(value), &mut bad);
            assert_eq!((r.milli_cpu, r.memory), (cpu, memory), "{case}");
            assert!(bad.is_empty(), "{case}: {bad:?}");
        }
    }

    #[test]
    fn extended_resources_and_storage_are_tracked() {
        let mut bad = Vec::new();
        let r = pod_requests(
            &spec(
                json!({"containers": [container(json!({"ephemeral-storage": "1Gi", "example.com/gpu": "2"}))]}),
            ),
            &mut bad,
        );
        assert_eq!(r.ephemeral_storage, 1 << 30);
        assert_eq!(r.scalar.get("example.com/gpu"), Some(&2));
        assert!(!r.is_empty_request());
        assert!(Resources::default().is_empty_request());
    }

    #[test]
    fn bad_quantities_count_as_zero_and_are_reported() {
        let mut bad = Vec::new();
        let r = pod_requests(
            &spec(json!({"containers": [container(json!({"cpu": "lots", "memory": "1Mi"}))]})),
            &mut bad,
        );
        assert_eq!((r.milli_cpu, r.memory), (0, 1 << 20));
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].resource, "cpu");
        assert_eq!(bad[0].value, "lots");
    }

    #[test]
    fn non_zero_requests_default_missing_cpu_and_memory() {
        // (case, spec, milli_cpu, memory)
        let cases = [
            (
                "nothing requested",
                json!({"containers": [{"name": "c"}]}),
                100,
                200 << 20,
            ),
            (
                "two request-less containers",
                json!({"containers": [{"name": "a"}, {"name": "b"}]}),
                200,
                400 << 20,
            ),
            (
                "explicit requests are kept",
                json!({"containers": [container(json!({"cpu": "1", "memory": "1Gi"}))]}),
                1000,
                1 << 30,
            ),
            (
                "an explicit zero stays zero",
                json!({"containers": [container(json!({"cpu": "0"}))]}),
                0,
                200 << 20,
            ),
        ];
        for (case, value, cpu, memory) in cases {
            let nz = pod_non_zero_requests(&spec(value));
            assert_eq!((nz.milli_cpu, nz.memory), (cpu, memory), "{case}");
        }
    }

    #[test]
    fn add_sub_max() {
        let mut a = Resources {
            milli_cpu: 100,
            memory: 10,
            scalar: BTreeMap::from([("x".to_string(), 1)]),
            ..Resources::default()
        };
        let b = Resources {
            milli_cpu: 50,
            memory: 20,
            scalar: BTreeMap::from([("x".to_string(), 1)]),
            ..Resources::default()
        };
        a.add(&b);
        assert_eq!((a.milli_cpu, a.memory, a.scalar["x"]), (150, 30, 2));
        a.sub(&b);
        a.sub(&b);
        assert_eq!((a.milli_cpu, a.memory), (50, -10));
        assert!(!a.scalar.contains_key("x"));
        a.max_with(&b);
        assert_eq!((a.milli_cpu, a.memory, a.scalar["x"]), (50, 20, 1));
    }
}
