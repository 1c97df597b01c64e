//! `compute_pod_actions`: what the runtime must do to move one pod from what it observed
//! towards its spec. Pure: no I/O, table-tested below. The worker executes the actions.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;

/// State of a container as the runtime reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CState {
    Created,
    Running,
    Exited,
    #[default]
    Unknown,
}

/// One sandbox of a pod in the runtime.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedSandbox {
    pub id: String,
    pub attempt: u32,
    pub ready: bool,
    pub ip: Option<String>,
    pub created_at: i64,
}

/// One container of a pod in the runtime.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObservedContainer {
    pub id: String,
    pub sandbox_id: String,
    pub name: String,
    pub attempt: u32,
    pub state: CState,
    pub exit_code: i32,
    pub reason: String,
    pub message: String,
    pub created_at: i64,
    pub started_at: i64,
    pub finished_at: i64,
    pub image: String,
    pub image_ref: String,
}

/// What the runtime holds for one pod, newest first in each list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedPod {
    pub sandboxes: Vec<ObservedSandbox>,
    pub containers: Vec<ObservedContainer>,
}

impl ObservedPod {
    /// Sorts sandboxes and containers newest first.
    pub fn sort(&mut self) {
        self.sandboxes
            .sort_by_key(|s| std::cmp::Reverse((s.attempt, s.created_at)));
        self.containers
            .sort_by_key(|c| std::cmp::Reverse((c.attempt, c.created_at)));
    }
    /// The newest sandbox.
    pub fn sandbox(&self) -> Option<&ObservedSandbox> {
        self.sandboxes.first()
    }
    /// The newest instance of container `name`.
    pub fn latest(&self, name: &str) -> Option<&ObservedContainer> {
        self.containers.iter().find(|c| c.name == name)
    }
    /// The instance before the newest of container `name` (for `lastState`).
    pub fn previous(&self, name: &str) -> Option<&ObservedContainer> {
        self.containers.iter().filter(|c| c.name == name).nth(1)
    }
    pub fn running(&self) -> impl Iterator<Item = &ObservedContainer> {
        self.containers
            .iter()
            .filter(|c| matches!(c.state, CState::Running | CState::Created | CState::Unknown))
    }
}

/// Inputs of a decision besides spec and runtime state.
#[derive(Debug, Clone, Default)]
pub struct SyncContext {
    /// Containers still in CrashLoopBackOff, with the time left.
    pub backoff: HashMap<String, Duration>,
    /// Running containers whose liveness (or startup) probe failed: restart them.
    pub unhealthy: HashSet<String>,
}

/// One step for the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Stop every running container and ready sandbox of the pod (its sandbox must be replaced).
    KillPod,
    CreateSandbox {
        attempt: u32,
    },
    StartContainer {
        name: String,
        init: bool,
        attempt: u32,
    },
    KillContainer {
        id: String,
        name: String,
        reason: String,
    },
    /// The container should restart but is in CrashLoopBackOff.
    BackOff {
        name: String,
        remaining: Duration,
    },
    /// The pod is done (Succeeded/Failed): stop its sandbox, keep containers for logs.
    StopSandbox {
        id: String,
    },
    /// Old exited instances beyond the newest two of a container.
    RemoveContainer {
        id: String,
    },
}

/// Whether an exited container should run again under `policy`.
pub fn should_restart(policy: &str, exit_code: i32) -> bool {
    match policy {
        "Never" => false,
        "OnFailure" => exit_code != 0,
        _ => true,
    }
}

fn restart_policy(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always")
}

fn next_attempt(obs: &ObservedPod, name: &str) -> u32 {
    obs.latest(name).map(|c| c.attempt + 1).unwrap_or(0)
}

/// Where the pod's init containers stand.
#[derive(Debug, PartialEq, Eq)]
pub enum InitProgress {
    /// All init containers exited 0 (or there are none).
    Done,
    /// This one runs now.
    Running(String),
    /// This one must be started (first time or restart).
    Next(String),
    /// This one failed and will not be restarted: the pod failed.
    Failed(String),
}

/// The first init container that has not exited 0, and what to do about it.
pub fn init_progress(pod: &Pod, obs: &ObservedPod) -> InitProgress {
    let inits = pod
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .map(|v| v.as_slice())
        .unwrap_or(&[]);
    for c in inits {
        match obs.latest(&c.name) {
            Some(o) if o.state == CState::Exited && o.exit_code == 0 => continue,
            Some(o) if o.state == CState::Exited => {
                // Init containers restart unless the pod's policy is Never.
                return if restart_policy(pod) == "Never" {
                    InitProgress::Failed(c.name.clone())
                } else {
                    InitProgress::Next(c.name.clone())
                };
            }
            Some(_) => return InitProgress::Running(c.name.clone()),
            None => return InitProgress::Next(c.name.clone()),
        }
    }
    InitProgress::Done
}

/// The decision: desired `pod` against `obs`, the runtime's view of it.
pub fn compute_pod_actions(pod: &Pod, obs: &ObservedPod, ctx: &SyncContext) -> Vec<Action> {
    let mut actions = Vec::new();
    let Some(spec) = pod.spec.as_ref() else {
        return actions;
    };
    let policy = restart_policy(pod);
    let sandbox_ready = obs.sandbox().is_some_and(|s| s.ready);
    let app_started = spec
        .containers
        .iter()
        .any(|c| obs.latest(&c.name).is_some());

    if !sandbox_ready {
        if let Some(sb) = obs.sandbox() {
            // The sandbox died. A pod that never restarts and already ran stays down.
            if policy == "Never" && app_started {
                if obs.running().next().is_some() {
                    actions.push(Action::KillPod);
                }
                return actions;
            }
            if terminal(pod, obs) {
                return actions;
            }
            actions.push(Action::KillPod);
            actions.push(Action::CreateSandbox {
                attempt: sb.attempt + 1,
            });
        } else {
            actions.push(Action::CreateSandbox { attempt: 0 });
        }
        // A new sandbox runs every init container again, then the app containers.
        let inits = spec.init_containers.as_deref().unwrap_or(&[]);
        if let Some(first) = inits.first() {
            actions.push(Action::StartContainer {
                name: first.name.clone(),
                init: true,
                attempt: next_attempt(obs, &first.name),
            });
        } else {
            for c in &spec.containers {
                actions.push(Action::StartContainer {
                    name: c.name.clone(),
                    init: false,
                    attempt: next_attempt(obs, &c.name),
                });
            }
        }
        return actions;
    }

    match init_progress(pod, obs) {
        InitProgress::Done => {}
        InitProgress::Running(_) | InitProgress::Failed(_) => return actions,
        InitProgress::Next(name) => {
            if let Some(remaining) = ctx.backoff.get(&name) {
                actions.push(Action::BackOff {
                    name,
                    remaining: *remaining,
                });
            } else {
                let attempt = next_attempt(obs, &name);
                actions.push(Action::StartContainer {
                    name,
                    init: true,
                    attempt,
                });
            }
            return actions;
        }
    }

    let mut all_done = true;
    for c in &spec.containers {
        match obs.latest(&c.name) {
            None => {
                all_done = false;
                actions.push(Action::StartContainer {
                    name: c.name.clone(),
                    init: false,
                    attempt: 0,
                });
            }
            Some(o) if o.state == CState::Exited => {
                if should_restart(policy, o.exit_code) {
                    all_done = false;
                    if let Some(remaining) = ctx.backoff.get(&c.name) {
                        actions.push(Action::BackOff {
                            name: c.name.clone(),
                            remaining: *remaining,
                        });
                    } else {
                        actions.push(Action::StartContainer {
                            name: c.name.clone(),
                            init: false,
                            attempt: o.attempt + 1,
                        });
                    }
                }
            }
            Some(o) => {
                all_done = false;
                if ctx.unhealthy.contains(&c.name) {
                    actions.push(Action::KillContainer {
                        id: o.id.clone(),
                        name: c.name.clone(),
                        reason: "failed liveness probe".into(),
                    });
                    if should_restart(policy, 137) {
                        actions.push(Action::StartContainer {
                            name: c.name.clone(),
                            init: false,
                            attempt: o.attempt + 1,
                        });
                    }
                }
            }
        }
    }
    if all_done {
        if let Some(sb) = obs.sandbox() {
            actions.push(Action::StopSandbox { id: sb.id.clone() });
        }
    }
    // Garbage: keep the newest two instances of each container (current + previous).
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for c in &obs.containers {
        let n = seen.entry(c.name.as_str()).or_default();
        *n += 1;
        if *n > 2 && c.state == CState::Exited {
            actions.push(Action::RemoveContainer { id: c.id.clone() });
        }
    }
    actions
}

/// Whether every app container has exited for good under the pod's restart policy.
pub fn terminal(pod: &Pod, obs: &ObservedPod) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    let policy = restart_policy(pod);
    if matches!(init_progress(pod, obs), InitProgress::Failed(_)) {
        return true;
    }
    !spec.containers.is_empty()
        && spec.containers.iter().all(|c| {
            obs.latest(&c.name)
                .is_some_and(|o| o.state == CState::Exited && !should_restart(policy, o.exit_code))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};

    fn pod(inits: &[&str], apps: &[&str], policy: &str) -> Pod {
        let c = |n: &&str| Container {
            name: n.to_string(),
            image: Some("busybox".into()),
            ..Default::default()
        };
        Pod {
            spec: Some(PodSpec {
                init_containers: Some(inits.iter().map(c).collect()),
                containers: apps.iter().map(c).collect(),
                restart_policy: Some(policy.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn sb(ready: bool) -> ObservedSandbox {
        ObservedSandbox {
            id: "sb".into(),
            attempt: 0,
            ready,
            ip: Some("10.244.0.2".into()),
            created_at: 1,
        }
    }

    fn ctr(name: &str, attempt: u32, state: CState, code: i32) -> ObservedContainer {
        ObservedContainer {
            id: format!("{name}-{attempt}"),
            sandbox_id: "sb".into(),
            name: name.into(),
            attempt,
            state,
            exit_code: code,
            reason: String::new(),
            message: String::new(),
            created_at: attempt as i64,
            started_at: 0,
            finished_at: 0,
            image: String::new(),
            image_ref: String::new(),
        }
    }

    fn obs(ready: bool, cs: Vec<ObservedContainer>) -> ObservedPod {
        let mut o = ObservedPod {
            sandboxes: vec![sb(ready)],
            containers: cs,
        };
        o.sort();
        o
    }

    fn start(name: &str, init: bool, attempt: u32) -> Action {
        Action::StartContainer {
            name: name.into(),
            init,
            attempt,
        }
    }

    #[test]
    fn table() {
        use CState::*;
        let ctx = SyncContext::default();
        let mut backoff = SyncContext::default();
        backoff.backoff.insert("a".into(), Duration::from_secs(10));
        let mut unhealthy = SyncContext::default();
        unhealthy.unhealthy.insert("a".into());
        let cases: Vec<(&str, Pod, ObservedPod, &SyncContext, Vec<Action>)> = vec![
            (
                "new pod: sandbox then app containers",
                pod(&[], &["a", "b"], "Always"),
                ObservedPod::default(),
                &ctx,
                vec![
                    Action::CreateSandbox { attempt: 0 },
                    start("a", false, 0),
                    start("b", false, 0),
                ],
            ),
            (
                "new pod with init: sandbox then the first init only",
                pod(&["i1", "i2"], &["a"], "Always"),
                ObservedPod::default(),
                &ctx,
                vec![Action::CreateSandbox { attempt: 0 }, start("i1", true, 0)],
            ),
            (
                "init running: wait",
                pod(&["i1", "i2"], &["a"], "Always"),
                obs(true, vec![ctr("i1", 0, Running, 0)]),
                &ctx,
                vec![],
            ),
            (
                "first init done: second",
                pod(&["i1", "i2"], &["a"], "Always"),
                obs(true, vec![ctr("i1", 0, Exited, 0)]),
                &ctx,
                vec![start("i2", true, 0)],
            ),
            (
                "init failed, Always: restart it",
                pod(&["i1"], &["a"], "Always"),
                obs(true, vec![ctr("i1", 0, Exited, 1)]),
                &ctx,
                vec![start("i1", true, 1)],
            ),
            (
                "init failed, Never: pod failed, nothing",
                pod(&["i1"], &["a"], "Never"),
                obs(true, vec![ctr("i1", 0, Exited, 1)]),
                &ctx,
                vec![],
            ),
            (
                "inits done: apps",
                pod(&["i1"], &["a"], "Always"),
                obs(true, vec![ctr("i1", 0, Exited, 0)]),
                &ctx,
                vec![start("a", false, 0)],
            ),
            (
                "running: nothing",
                pod(&[], &["a"], "Always"),
                obs(true, vec![ctr("a", 0, Running, 0)]),
                &ctx,
                vec![],
            ),
            (
                "exited 0 under Always: restart",
                pod(&[], &["a"], "Always"),
                obs(true, vec![ctr("a", 0, Exited, 0)]),
                &ctx,
                vec![start("a", false, 1)],
            ),
            (
                "exited 1 under Always in backoff: BackOff",
                pod(&[], &["a"], "Always"),
                obs(true, vec![ctr("a", 0, Exited, 1)]),
                &backoff,
                vec![Action::BackOff {
                    name: "a".into(),
                    remaining: Duration::from_secs(10),
                }],
            ),
            (
                "exited 0 under OnFailure: done, stop sandbox",
                pod(&[], &["a"], "OnFailure"),
                obs(true, vec![ctr("a", 0, Exited, 0)]),
                &ctx,
                vec![Action::StopSandbox { id: "sb".into() }],
            ),
            (
                "exited 2 under OnFailure: restart",
                pod(&[], &["a"], "OnFailure"),
                obs(true, vec![ctr("a", 0, Exited, 2)]),
                &ctx,
                vec![start("a", false, 1)],
            ),
            (
                "exited 2 under Never: done",
                pod(&[], &["a"], "Never"),
                obs(true, vec![ctr("a", 0, Exited, 2)]),
                &ctx,
                vec![Action::StopSandbox { id: "sb".into() }],
            ),
            (
                "liveness failed: kill and restart",
                pod(&[], &["a"], "Always"),
                obs(true, vec![ctr("a", 3, Running, 0)]),
                &unhealthy,
                vec![
                    Action::KillContainer {
                        id: "a-3".into(),
                        name: "a".into(),
                        reason: "failed liveness probe".into(),
                    },
                    start("a", false, 4),
                ],
            ),
            (
                "sandbox died: replace it, restart counts continue",
                pod(&[], &["a"], "Always"),
                obs(false, vec![ctr("a", 2, Exited, 137)]),
                &ctx,
                vec![
                    Action::KillPod,
                    Action::CreateSandbox { attempt: 1 },
                    start("a", false, 3),
                ],
            ),
            (
                "sandbox stopped after Never pod finished: stays",
                pod(&[], &["a"], "Never"),
                obs(false, vec![ctr("a", 0, Exited, 0)]),
                &ctx,
                vec![],
            ),
            (
                "old instances are removed",
                pod(&[], &["a"], "Always"),
                obs(
                    true,
                    vec![
                        ctr("a", 0, Exited, 1),
                        ctr("a", 1, Exited, 1),
                        ctr("a", 2, Running, 0),
                    ],
                ),
                &ctx,
                vec![Action::RemoveContainer { id: "a-0".into() }],
            ),
        ];
        for (what, pod, obs, ctx, want) in cases {
            assert_eq!(compute_pod_actions(&pod, &obs, ctx), want, "{what}");
        }
    }

    #[test]
    fn odd_pods_do_not_panic() {
        let p = Pod::default();
        assert!(
            compute_pod_actions(&p, &ObservedPod::default(), &SyncContext::default()).is_empty()
        );
        assert!(!terminal(&p, &ObservedPod::default()));
    }
}
