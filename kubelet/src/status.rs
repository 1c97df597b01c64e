//! The pod status the kubelet reports, computed from spec and runtime state. Pure.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::actions::{init_progress, CState, InitProgress, ObservedContainer, ObservedPod};

/// What the worker knows besides the runtime: probe results and errors of the last sync.
#[derive(Debug, Clone, Default)]
pub struct StatusContext {
    pub host_ip: String,
    /// Readiness per container (absent: no readiness probe, ready when running).
    pub ready: HashMap<String, bool>,
    /// Containers that passed their startup probe (absent: no startup probe).
    pub started: HashMap<String, bool>,
    /// Containers waiting with a reason (CrashLoopBackOff, ErrImagePull, CreateContainerError...).
    pub waiting: HashMap<String, (String, String)>,
    pub start_time: Option<Timestamp>,
}

fn ns_time(ns: i64) -> Option<Time> {
    (ns > 0)
        .then(|| Timestamp::from_nanosecond(ns as i128).ok())
        .flatten()
        .map(|t| Time(Timestamp::from_second(t.as_second()).unwrap_or(t)))
}

fn terminated(o: &ObservedContainer) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: o.exit_code,
            reason: Some(if o.reason.is_empty() {
                if o.exit_code == 0 {
                    "Completed"
                } else {
                    "Error"
                }
                .to_string()
            } else {
                o.reason.clone()
            }),
            message: (!o.message.is_empty()).then(|| o.message.clone()),
            started_at: ns_time(o.started_at),
            finished_at: ns_time(o.finished_at),
            container_id: Some(format!("tinykube://{}", o.id)),
            signal: None,
        }),
        ..Default::default()
    }
}

fn container_status(c: &Container, obs: &ObservedPod, ctx: &StatusContext) -> ContainerStatus {
    let latest = obs.latest(&c.name);
    let waiting = |reason: &str, message: &str| ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.to_string()),
            message: (!message.is_empty()).then(|| message.to_string()),
        }),
        ..Default::default()
    };
    let mut last_state = None;
    let (state, ready, started) = match latest {
        None => {
            let (r, m) = ctx
                .waiting
                .get(&c.name)
                .cloned()
                .unwrap_or(("ContainerCreating".into(), String::new()));
            (waiting(&r, &m), false, false)
        }
        Some(o) => match o.state {
            CState::Running => {
                last_state = obs.previous(&c.name).map(terminated);
                let started = ctx.started.get(&c.name).copied().unwrap_or(true);
                let ready = started && ctx.ready.get(&c.name).copied().unwrap_or(true);
                (
                    ContainerState {
                        running: Some(ContainerStateRunning {
                            started_at: ns_time(o.started_at),
                        }),
                        ..Default::default()
                    },
                    ready,
                    started,
                )
            }
            CState::Exited => {
                if let Some((r, m)) = ctx.waiting.get(&c.name) {
                    // Restarting (e.g. CrashLoopBackOff): waiting, last state = this exit.
                    last_state = Some(terminated(o));
                    (waiting(r, m), false, false)
                } else {
                    last_state = obs.previous(&c.name).map(terminated);
                    (terminated(o), false, false)
                }
            }
            CState::Created | CState::Unknown => {
                last_state = obs.previous(&c.name).map(terminated);
                (waiting("ContainerCreating", ""), false, false)
            }
        },
    };
    ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone().unwrap_or_default(),
        image_id: latest.map(|o| o.image_ref.clone()).unwrap_or_default(),
        container_id: latest.map(|o| format!("tinykube://{}", o.id)),
        restart_count: latest.map(|o| o.attempt as i32).unwrap_or(0),
        ready,
        started: Some(started),
        state: Some(state),
        last_state: Some(last_state.unwrap_or_default()),
        ..Default::default()
    }
}

/// Upstream's QoS class: Guaranteed (every container has equal cpu+memory requests and
/// limits), BestEffort (none has any), else Burstable.
pub fn qos_class(pod: &Pod) -> &'static str {
    let Some(spec) = pod.spec.as_ref() else {
        return "BestEffort";
    };
    let all: Vec<&Container> = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in &all {
        let r = c.resources.clone().unwrap_or_default();
        let req = r.requests.unwrap_or_default();
        let lim = r.limits.unwrap_or_default();
        let relevant = |m: &BTreeMap<
            String,
            k8s_openapi::apimachinery::pkg::api::resource::Quantity,
        >| {
            m.iter()
                .filter(|(k, v)| (k.as_str() == "cpu" || k.as_str() == "memory") && !v.0.is_empty())
                .count()
        };
        if relevant(&req) > 0 || relevant(&lim) > 0 {
            any = true;
        }
        for res in ["cpu", "memory"] {
            let l = lim.get(res);
            let q = req.get(res).or(l);
            match (q, l) {
                (Some(q), Some(l)) if quantity_eq(&q.0, &l.0) => {}
                _ => guaranteed = false,
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

fn quantity_eq(a: &str, b: &str) -> bool {
    use tinykube_apimachinery::quantity::Quantity;
    match (Quantity::parse(a), Quantity::parse(b)) {
        (Ok(a), Ok(b)) => a.nanos() == b.nanos(),
        _ => a == b,
    }
}

fn condition(kind: &str, ok: bool, reason: Option<&str>, old: &Option<PodStatus>) -> PodCondition {
    let status = if ok { "True" } else { "False" };
    // Keep the transition time while the status stays the same.
    let since = old
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == kind))
        .filter(|c| c.status == status)
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| {
            Time(
                Timestamp::from_second(Timestamp::now().as_second())
                    .unwrap_or(Timestamp::UNIX_EPOCH),
            )
        });
    PodCondition {
        type_: kind.to_string(),
        status: status.to_string(),
        reason: if ok { None } else { reason.map(str::to_string) },
        last_transition_time: Some(since),
        ..Default::default()
    }
}

/// The pod's status: phase, conditions, IPs, container statuses, QoS class.
pub fn compute_pod_status(pod: &Pod, obs: &ObservedPod, ctx: &StatusContext) -> PodStatus {
    let spec = pod.spec.clone().unwrap_or_default();
    let policy = spec.restart_policy.as_deref().unwrap_or("Always");
    let old = pod.status.clone();
    let inits: Vec<ContainerStatus> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| {
            let mut s = container_status(c, obs, ctx);
            if let Some(t) = s.state.as_ref().and_then(|s| s.terminated.as_ref()) {
                s.ready = t.exit_code == 0;
            }
            s
        })
        .collect();
    let apps: Vec<ContainerStatus> = spec
        .containers
        .iter()
        .map(|c| container_status(c, obs, ctx))
        .collect();
    let init = init_progress(pod, obs);
    let initialized = init == InitProgress::Done;

    // Upstream getPhase.
    let phase = if let InitProgress::Failed(_) = init {
        "Failed"
    } else if !initialized {
        "Pending"
    } else {
        let (mut waiting, mut running, mut stopped, mut succeeded) = (0, 0, 0, 0);
        for s in &apps {
            let st = s.state.clone().unwrap_or_default();
            if st.running.is_some() {
                running += 1;
            } else if let Some(t) = st.terminated {
                stopped += 1;
                if t.exit_code == 0 {
                    succeeded += 1;
                }
            } else if s
                .last_state
                .as_ref()
                .is_some_and(|l| l.terminated.is_some())
            {
                stopped += 1;
            } else {
                waiting += 1;
            }
        }
        if waiting > 0 {
            "Pending"
        } else if running > 0 {
            "Running"
        } else if stopped > 0 {
            if policy == "Always" {
                "Running"
            } else if stopped == succeeded {
                "Succeeded"
            } else if policy == "Never" {
                "Failed"
            } else {
                "Running"
            }
        } else {
            "Pending"
        }
    };
    let containers_ready = !apps.is_empty() && apps.iter().all(|s| s.ready);
    let terminal = phase == "Succeeded" || phase == "Failed";
    let host_network = pod.spec.as_ref().and_then(|s| s.host_network) == Some(true);
    // A hostNetwork pod has no address of its own: upstream reports the node's.
    let pod_ip = if host_network && !ctx.host_ip.is_empty() {
        Some(ctx.host_ip.clone())
    } else {
        obs.sandbox()
            .and_then(|s| s.ip.clone())
            .or_else(|| old.as_ref().and_then(|s| s.pod_ip.clone()))
    };
    let conditions = vec![
        condition(
            "PodReadyToStartContainers",
            obs.sandbox().is_some_and(|s| s.ready) || terminal && obs.sandbox().is_some(),
            None,
            &old,
        ),
        condition(
            "Initialized",
            initialized,
            Some("ContainersNotInitialized"),
            &old,
        ),
        condition(
            "Ready",
            containers_ready && !terminal,
            Some(if terminal {
                "PodCompleted"
            } else {
                "ContainersNotReady"
            }),
            &old,
        ),
        condition(
            "ContainersReady",
            containers_ready && !terminal,
            Some(if terminal {
                "PodCompleted"
            } else {
                "ContainersNotReady"
            }),
            &old,
        ),
        condition("PodScheduled", true, None, &old),
    ];
    PodStatus {
        phase: Some(phase.to_string()),
        conditions: Some(conditions),
        host_ip: Some(ctx.host_ip.clone()),
        host_ips: Some(vec![k8s_openapi::api::core::v1::HostIP {
            ip: ctx.host_ip.clone(),
        }]),
        pod_ip: pod_ip.clone(),
        pod_ips: pod_ip.map(|ip| vec![PodIP { ip }]),
        start_time: old.as_ref().and_then(|s| s.start_time.clone()).or_else(|| {
            ctx.start_time
                .map(|t| Time(Timestamp::from_second(t.as_second()).unwrap_or(t)))
        }),
        init_container_statuses: (!inits.is_empty()).then_some(inits),
        container_statuses: Some(apps),
        qos_class: Some(qos_class(pod).to_string()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::ObservedSandbox;
    use k8s_openapi::api::core::v1::{PodSpec, ResourceRequirements};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    fn ctr(name: &str, attempt: u32, state: CState, code: i32) -> ObservedContainer {
        ObservedContainer {
            id: format!("{name}{attempt}"),
            sandbox_id: "sb".into(),
            name: name.into(),
            attempt,
            state,
            exit_code: code,
            reason: String::new(),
            message: String::new(),
            created_at: attempt as i64,
            started_at: 1_700_000_000_000_000_000,
            finished_at: 0,
            image: "busybox".into(),
            image_ref: "sha256:abc".into(),
        }
    }

    fn pod(policy: &str) -> Pod {
        Pod {
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "a".into(),
                    image: Some("busybox".into()),
                    ..Default::default()
                }],
                restart_policy: Some(policy.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn observed(cs: Vec<ObservedContainer>) -> ObservedPod {
        let mut o = ObservedPod {
            sandboxes: vec![ObservedSandbox {
                id: "sb".into(),
                ready: true,
                ip: Some("10.244.1.5".into()),
                ..Default::default()
            }],
            containers: cs,
        };
        o.sort();
        o
    }

    fn cond(s: &PodStatus, kind: &str) -> String {
        s.conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == kind)
            .unwrap()
            .status
            .clone()
    }

    #[test]
    fn pod_ips_come_from_the_sandbox_or_the_node() {
        let running = observed(vec![ctr("a", 0, CState::Running, 0)]);
        let mut no_ip = running.clone();
        no_ip.sandboxes[0].ip = None;
        let host_net = |on: bool| {
            let mut p = pod("Always");
            if let Some(s) = p.spec.as_mut() {
                s.host_network = Some(on);
            }
            p
        };
        let node = StatusContext {
            host_ip: "10.0.0.7".into(),
            ..Default::default()
        };
        // (pod, observed, context, podIP)
        let cases = [
            (host_net(false), &running, &node, Some("10.244.1.5")),
            (host_net(true), &running, &node, Some("10.0.0.7")),
            (host_net(true), &no_ip, &node, Some("10.0.0.7")),
            (host_net(false), &no_ip, &node, None),
            (host_net(true), &no_ip, &StatusContext::default(), None),
        ];
        for (i, (p, obs, ctx, want)) in cases.iter().enumerate() {
            let s = compute_pod_status(p, obs, ctx);
            assert_eq!(s.pod_ip.as_deref(), *want, "case {i}");
            let ips: Vec<String> = s.pod_ips.into_iter().flatten().map(|i| i.ip).collect();
            assert_eq!(
                ips,
                want.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
                "case {i}"
            );
        }
    }

    #[test]
    fn phases() {
        let ctx = StatusContext::default();
        let s = compute_pod_status(&pod("Always"), &observed(vec![]), &ctx);
        assert_eq!(s.phase.as_deref(), Some("Pending"));
        let s = compute_pod_status(
            &pod("Always"),
            &observed(vec![ctr("a", 0, CState::Running, 0)]),
            &ctx,
        );
        assert_eq!(s.phase.as_deref(), Some("Running"));
        assert_eq!(cond(&s, "Ready"), "True");
        assert_eq!(s.pod_ip.as_deref(), Some("10.244.1.5"));
        let s = compute_pod_status(
            &pod("Never"),
            &observed(vec![ctr("a", 0, CState::Exited, 0)]),
            &ctx,
        );
        assert_eq!(s.phase.as_deref(), Some("Succeeded"));
        assert_eq!(cond(&s, "Ready"), "False");
        let s = compute_pod_status(
            &pod("Never"),
            &observed(vec![ctr("a", 0, CState::Exited, 3)]),
            &ctx,
        );
        assert_eq!(s.phase.as_deref(), Some("Failed"));
        let t = s.container_statuses.unwrap()[0]
            .state
            .clone()
            .unwrap()
            .terminated
            .unwrap();
        assert_eq!((t.exit_code, t.reason.as_deref()), (3, Some("Error")));
        let mut crash = StatusContext::default();
        crash
            .waiting
            .insert("a".into(), ("CrashLoopBackOff".into(), "back-off".into()));
        let s = compute_pod_status(
            &pod("Always"),
            &observed(vec![ctr("a", 2, CState::Exited, 1)]),
            &crash,
        );
        assert_eq!(s.phase.as_deref(), Some("Running"));
        let cs = &s.container_statuses.unwrap()[0];
        assert_eq!(cs.restart_count, 2);
        assert_eq!(
            cs.state
                .as_ref()
                .unwrap()
                .waiting
                .as_ref()
                .unwrap()
                .reason
                .as_deref(),
            Some("CrashLoopBackOff")
        );
        assert_eq!(
            cs.last_state
                .as_ref()
                .unwrap()
                .terminated
                .as_ref()
                .unwrap()
                .exit_code,
            1
        );
        let mut unready = StatusContext::default();
        unready.ready.insert("a".into(), false);
        let s = compute_pod_status(
            &pod("Always"),
            &observed(vec![ctr("a", 0, CState::Running, 0)]),
            &unready,
        );
        assert_eq!(cond(&s, "Ready"), "False");
        assert_eq!(cond(&s, "ContainersReady"), "False");
    }

    #[test]
    fn qos() {
        let mut p = pod("Always");
        assert_eq!(qos_class(&p), "BestEffort");
        let q = |s: &str| Quantity(s.into());
        p.spec.as_mut().unwrap().containers[0].resources = Some(ResourceRequirements {
            limits: Some(BTreeMap::from([
                ("cpu".into(), q("100m")),
                ("memory".into(), q("64Mi")),
            ])),
            ..Default::default()
        });
        assert_eq!(qos_class(&p), "Guaranteed");
        p.spec.as_mut().unwrap().containers[0].resources = Some(ResourceRequirements {
            requests: Some(BTreeMap::from([("cpu".into(), q("100m"))])),
            ..Default::default()
        });
        assert_eq!(qos_class(&p), "Burstable");
    }
}
