//! Leader election on a `coordination.k8s.io/v1` Lease, with upstream client-go's semantics, so
//! that two replicas of a component (kube-scheduler, kube-controller-manager) can run and only
//! one of them works at a time.
//!
//! # How it works
//!
//! Every candidate reads the Lease `<namespace>/<name>` every `retry_period` (with upstream's
//! jitter of up to 1.2 × the period, or right when the holder's lease runs out if that is
//! sooner) and decides with the pure function [`decide`]:
//!
//! | Lease | holder | [`Action`] |
//! |---|---|---|
//! | absent | - | [`Action::Create`]: create it, held by us, `leaseTransitions: 0` |
//! | present | us | [`Action::Renew`]: new `renewTime`; `acquireTime` and transitions kept |
//! | present | empty (released) | [`Action::Acquire`] |
//! | present | other, `renewTime + leaseDurationSeconds` passed | [`Action::Acquire`]: take over, transitions + 1 |
//! | present | other, still valid | [`Action::Wait`] |
//!
//! Writes are optimistic: the update carries the `resourceVersion` that was read, so when two
//! candidates race for an expired lease the apiserver accepts one write and answers 409 Conflict
//! to the other, which stays a candidate. A create racing another create gets 409 AlreadyExists
//! the same way.
//!
//! Once it holds the lease, the leader renews it every `retry_period`. If no renewal succeeds for
//! `renew_deadline` (each attempt is also bounded by it), leadership is lost: the work is
//! cancelled, awaited, and [`LeaderElector::run`] returns [`LeaderElectionError::Lost`] — upstream
//! components exit at that point, and so should ours. Because `renew_deadline < lease_duration`,
//! the old leader has stopped before anyone else may take the lease over.
//!
//! When the work ends (on shutdown or on its own), the lease is released as upstream's
//! `ReleaseOnCancel` does: holder emptied, `leaseDurationSeconds: 1`, so another candidate takes
//! over at its next retry rather than after a full lease duration.
//!
//! Expiry is judged from the lease's own `renewTime`, so candidates are assumed to have roughly
//! synchronised clocks (upstream instead times how long it has *observed* an unchanged record,
//! which tolerates skew but makes a fresh candidate wait a full duration even for a long-dead
//! leader).
//!
//! # Use
//!
//! ```no_run
//! # async fn demo(client: kube::Client) -> Result<(), tinykube_component_base::leader::LeaderElectionError> {
//! use tinykube_component_base::leader::{default_identity, LeaderElector, LeaseConfig};
//! use tokio_util::sync::CancellationToken;
//!
//! let shutdown = CancellationToken::new(); // e.g. shutdown_on_signals()
//! let config = LeaseConfig::new("kube-system", "kube-controller-manager", default_identity());
//! let elector = LeaderElector::new(client, config)?;
//! // `run` waits to become leader, then runs the closure's future until `leading` is cancelled
//! // (shutdown, or the lease was lost) or it returns by itself.
//! let outcome = elector
//!     .run(shutdown, |leading: CancellationToken| async move {
//!         leading.cancelled().await; // run controllers here until `leading` is cancelled
//!     })
//!     .await;
//! match outcome {
//!     Ok(Some(())) => {}       // we led, and the work finished (shutdown or by itself)
//!     Ok(None) => {}           // shut down before ever leading
//!     Err(error) => return Err(error), // lost the lease (exit non-zero, as upstream)
//! }
//! # Ok(()) }
//! ```

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use kube::Client;
use tokio_util::sync::CancellationToken;

/// Upstream's jitter factor for the retry period (`wait.Jitter(retryPeriod, 1.2)`).
pub const JITTER_FACTOR: f64 = 1.2;

/// Errors of leader election; each names the lease.
#[derive(Debug, thiserror::Error)]
pub enum LeaderElectionError {
    /// The configuration breaks upstream's rules (durations, identity).
    #[error("invalid leader election configuration: {0}")]
    InvalidConfig(String),
    /// The lease could not be renewed within the renew deadline: leadership is lost.
    #[error(
        "leader election lost: lease {namespace}/{name} not renewed within {renew_deadline:?}"
    )]
    Lost {
        namespace: String,
        name: String,
        renew_deadline: Duration,
    },
}

/// Where the lease lives, who we are and upstream's timing (`--leader-elect-*` flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseConfig {
    /// Namespace of the Lease (`--leader-elect-resource-namespace`, upstream `kube-system`).
    pub namespace: String,
    /// Name of the Lease (`--leader-elect-resource-name`, e.g. `kube-scheduler`).
    pub name: String,
    /// Our identity, written as `holderIdentity`; unique per process ([`default_identity`]).
    pub identity: String,
    /// How long a lease stays valid after its last renewal (upstream default 15 s).
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before giving up (upstream default 10 s).
    pub renew_deadline: Duration,
    /// How often candidates retry and the leader renews (upstream default 2 s).
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// A configuration with upstream's default durations: 15 s lease, 10 s renew deadline,
    /// 2 s retry period.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        identity: impl Into<String>,
    ) -> LeaseConfig {
        LeaseConfig {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    /// Checks upstream's rules (`NewLeaderElector`): every duration positive, lease duration
    /// greater than the renew deadline, renew deadline greater than 1.2 × retry period, and a
    /// non-empty identity, namespace and name.
    pub fn validate(&self) -> Result<(), LeaderElectionError> {
        let invalid = |reason: String| Err(LeaderElectionError::InvalidConfig(reason));
        if self.lease_duration <= self.renew_deadline {
            return invalid(format!(
                "leaseDuration ({:?}) must be greater than renewDeadline ({:?})",
                self.lease_duration, self.renew_deadline
            ));
        }
        if self.renew_deadline.as_secs_f64() <= JITTER_FACTOR * self.retry_period.as_secs_f64() {
            return invalid(format!(
                "renewDeadline ({:?}) must be greater than retryPeriod*JitterFactor ({:?}*{JITTER_FACTOR})",
                self.renew_deadline, self.retry_period
            ));
        }
        if self.retry_period.is_zero() {
            return invalid("retryPeriod must be greater than zero".into());
        }
        if self.lease_duration.as_secs() < 1 || self.lease_duration.as_secs() > i32::MAX as u64 {
            return invalid(format!(
                "leaseDuration ({:?}) must be whole seconds between 1s and {}s",
                self.lease_duration,
                i32::MAX
            ));
        }
        if self.identity.is_empty() {
            return invalid("identity must not be empty".into());
        }
        if self.namespace.is_empty() || self.name.is_empty() {
            return invalid("lease namespace and name must not be empty".into());
        }
        Ok(())
    }
}

/// Upstream's identity for a component replica: `<hostname>_<random uuid>`.
pub fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!("{host}_{}", uuid::Uuid::new_v4())
}

/// What a candidate does with the lease it just read (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// No lease exists: create one held by us.
    Create,
    /// We hold the lease: renew it.
    Renew,
    /// The lease is free (released, never held) or expired: take it over.
    Acquire,
    /// Another candidate holds a valid lease until `expires`.
    Wait { holder: String, expires: Timestamp },
}

/// Decides what to do with `lease` (as read from the apiserver, `None` if absent) at `now`.
/// `default_duration` is used when the lease does not say how long it lasts.
pub fn decide(
    lease: Option<&Lease>,
    now: Timestamp,
    me: &str,
    default_duration: Duration,
) -> Action {
    let Some(lease) = lease else {
        return Action::Create;
    };
    let Some(spec) = &lease.spec else {
        return Action::Acquire;
    };
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder.is_empty() {
        return Action::Acquire;
    }
    if holder == me {
        return Action::Renew;
    }
    let Some(renewed) = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|t| t.0)
    else {
        // Held, but never renewed: nothing says it is alive.
        return Action::Acquire;
    };
    let duration = match spec.lease_duration_seconds {
        Some(seconds) if seconds > 0 => SignedDuration::from_secs(i64::from(seconds)),
        _ => SignedDuration::try_from(default_duration).unwrap_or(SignedDuration::MAX),
    };
    let expires = renewed.checked_add(duration).unwrap_or(Timestamp::MAX);
    if now < expires {
        Action::Wait {
            holder: holder.to_string(),
            expires,
        }
    } else {
        Action::Acquire
    }
}

/// The lease to write for `action` (`Create`, `Renew` or `Acquire`; `Wait` gives `None`):
/// upstream's record fields, keeping the read lease's metadata (and so its `resourceVersion`,
/// which makes the update optimistic).
pub fn desired_lease(
    current: Option<&Lease>,
    action: &Action,
    now: Timestamp,
    config: &LeaseConfig,
) -> Option<Lease> {
    let duration_seconds = i32::try_from(config.lease_duration.as_secs()).unwrap_or(i32::MAX);
    let old = current.and_then(|l| l.spec.as_ref());
    let transitions = old.and_then(|s| s.lease_transitions).unwrap_or(0).max(0);
    let (acquire_time, transitions) = match action {
        Action::Wait { .. } => return None,
        Action::Create => (MicroTime(now), 0),
        Action::Renew => (
            old.and_then(|s| s.acquire_time.clone())
                .unwrap_or(MicroTime(now)),
            transitions,
        ),
        Action::Acquire => {
            // Taking over from someone (or from a released lease) is a transition; the very
            // first holder of a lease that never had one is not.
            let had_holder = old.is_some_and(|s| {
                s.holder_identity.as_deref().is_some_and(|h| !h.is_empty())
                    || s.acquire_time.is_some()
            });
            (
                MicroTime(now),
                if had_holder {
                    transitions.saturating_add(1)
                } else {
                    transitions
                },
            )
        }
    };
    let metadata = match current {
        Some(lease) => lease.metadata.clone(),
        None => ObjectMeta {
            name: Some(config.name.clone()),
            namespace: Some(config.namespace.clone()),
            ..ObjectMeta::default()
        },
    };
    Some(Lease {
        metadata,
        spec: Some(LeaseSpec {
            holder_identity: Some(config.identity.clone()),
            lease_duration_seconds: Some(duration_seconds),
            acquire_time: Some(acquire_time),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..old.cloned().unwrap_or_default()
        }),
    })
}

/// The lease after we release it (upstream `release()`): no holder, a 1 s duration, the
/// transitions kept. `None` when `current` is not held by `me` (nothing to release).
pub fn released_lease(current: &Lease, now: Timestamp, me: &str) -> Option<Lease> {
    let spec = current.spec.as_ref()?;
    if spec.holder_identity.as_deref() != Some(me) {
        return None;
    }
    Some(Lease {
        metadata: current.metadata.clone(),
        spec: Some(LeaseSpec {
            holder_identity: None,
            lease_duration_seconds: Some(1),
            acquire_time: Some(MicroTime(now)),
            renew_time: Some(MicroTime(now)),
            lease_transitions: spec.lease_transitions,
            ..spec.clone()
        }),
    })
}

/// `period` plus up to `factor` × `period` of random jitter (upstream `wait.Jitter`).
pub fn jittered(period: Duration, factor: f64) -> Duration {
    let extra = period.as_secs_f64() * factor * rand::random::<f64>();
    period + Duration::from_secs_f64(extra.max(0.0))
}

/// How long after a lease's expiry a waiting candidate tries again.
const EXPIRY_MARGIN: Duration = Duration::from_millis(50);

/// Time from now until `moment` (zero if it has passed).
fn until(moment: Timestamp) -> Duration {
    Duration::try_from(moment.duration_since(Timestamp::now())).unwrap_or(Duration::ZERO)
}

/// Runs a piece of work only while holding a Lease. See the [module docs](self).
#[derive(Clone)]
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaseConfig,
    leading: Arc<AtomicBool>,
}

/// Result of one acquire-or-renew attempt.
enum Attempt {
    /// We hold the lease now.
    Held,
    /// Someone else holds a valid lease, until `expires`.
    HeldBy { holder: String, expires: Timestamp },
    /// Our write lost a race (409 AlreadyExists or Conflict): retry.
    Conflict,
}

impl LeaderElector {
    /// An elector for `config` (validated as upstream does) talking through `client`.
    pub fn new(client: Client, config: LeaseConfig) -> Result<LeaderElector, LeaderElectionError> {
        config.validate()?;
        Ok(LeaderElector {
            api: Api::namespaced(client, &config.namespace),
            config,
            leading: Arc::new(AtomicBool::new(false)),
        })
    }

    pub fn config(&self) -> &LeaseConfig {
        &self.config
    }

    /// Whether this process currently holds the lease.
    pub fn is_leader(&self) -> bool {
        self.leading.load(Ordering::SeqCst)
    }

    /// A shared flag that is true while this process holds the lease (for metrics, health).
    pub fn leader_flag(&self) -> Arc<AtomicBool> {
        self.leading.clone()
    }

    /// Waits until this process holds the lease, then runs `work(leading)` while renewing it.
    ///
    /// `leading` is a child of `shutdown`: it is cancelled on shutdown and when the lease is
    /// lost, and the work must then return promptly. Returns
    /// - `Ok(None)` if `shutdown` came before we ever led,
    /// - `Ok(Some(output))` when the work returned (after shutdown, or by itself); the lease
    ///   is released either way,
    /// - `Err(Lost)` if renewing failed for `renew_deadline`; the work was cancelled and
    ///   awaited first.
    pub async fn run<F, Fut>(
        &self,
        shutdown: CancellationToken,
        work: F,
    ) -> Result<Option<Fut::Output>, LeaderElectionError>
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future,
    {
        let lease = format!("{}/{}", self.config.namespace, self.config.name);
        tracing::info!(%lease, identity = %self.config.identity, "attempting to acquire leader lease");
        let mut last_holder = String::new();
        loop {
            if shutdown.is_cancelled() {
                return Ok(None);
            }
            let mut pause = jittered(self.config.retry_period, JITTER_FACTOR);
            let attempt = tokio::select! {
                _ = shutdown.cancelled() => return Ok(None),
                attempt = self.try_acquire_or_renew() => attempt,
            };
            match attempt {
                Ok(Attempt::Held) => break,
                Ok(Attempt::Conflict) => {
                    tracing::debug!(%lease, "lost a race for the lease; retrying");
                }
                Ok(Attempt::HeldBy { holder, expires }) => {
                    if holder != last_holder {
                        tracing::info!(%lease, leader = %holder, "new leader elected");
                        last_holder = holder;
                    }
                    // Try again right when the lease runs out, if that is sooner.
                    pause = pause.min(until(expires) + EXPIRY_MARGIN);
                }
                Err(error) => {
                    tracing::warn!(%lease, %error, "error retrieving or updating the lease");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(None),
                _ = tokio::time::sleep(pause) => {}
            }
        }
        tracing::info!(%lease, identity = %self.config.identity, "successfully acquired lease");
        self.leading.store(true, Ordering::SeqCst);

        let leading = shutdown.child_token();
        let work = work(leading.clone());
        tokio::pin!(work);
        // The work and the renewals run side by side: the work is polled all the time, also
        // while a renewal request is on its way.
        let renewing = self.keep_renewing();
        tokio::pin!(renewing);
        tokio::select! {
            output = &mut work => {
                self.leading.store(false, Ordering::SeqCst);
                self.release().await;
                Ok(Some(output))
            }
            () = &mut renewing => {
                tracing::error!(%lease, "leader election lost");
                leading.cancel();
                self.leading.store(false, Ordering::SeqCst);
                work.await;
                Err(LeaderElectionError::Lost {
                    namespace: self.config.namespace.clone(),
                    name: self.config.name.clone(),
                    renew_deadline: self.config.renew_deadline,
                })
            }
        }
    }

    /// Renews the lease every retry period; returns when no renewal succeeded for the renew
    /// deadline, or someone else holds the lease.
    async fn keep_renewing(&self) {
        let lease = format!("{}/{}", self.config.namespace, self.config.name);
        let mut last_renewed = Instant::now();
        loop {
            tokio::time::sleep(self.config.retry_period).await;
            let attempt =
                tokio::time::timeout(self.config.renew_deadline, self.try_acquire_or_renew()).await;
            match attempt {
                Ok(Ok(Attempt::Held)) => last_renewed = Instant::now(),
                Ok(Ok(Attempt::HeldBy { holder, .. })) => {
                    // Someone else holds a valid lease: stop at once.
                    tracing::warn!(%lease, %holder, "lease was taken by another candidate");
                    return;
                }
                Ok(Ok(Attempt::Conflict)) => {
                    tracing::warn!(%lease, "renewing the lease hit a conflict; retrying")
                }
                Ok(Err(error)) => tracing::warn!(%lease, %error, "failed to renew lease"),
                Err(_) => tracing::warn!(%lease, "renewing the lease timed out"),
            }
            if last_renewed.elapsed() >= self.config.renew_deadline {
                return;
            }
        }
    }

    /// One read-decide-write round.
    async fn try_acquire_or_renew(&self) -> Result<Attempt, kube::Error> {
        let current = self.api.get_opt(&self.config.name).await?;
        let now = Timestamp::now();
        let action = decide(
            current.as_ref(),
            now,
            &self.config.identity,
            self.config.lease_duration,
        );
        if let Action::Wait { holder, expires } = &action {
            return Ok(Attempt::HeldBy {
                holder: holder.clone(),
                expires: *expires,
            });
        }
        let Some(desired) = desired_lease(current.as_ref(), &action, now, &self.config) else {
            return Ok(Attempt::Conflict);
        };
        let result = match action {
            Action::Create => self.api.create(&PostParams::default(), &desired).await,
            _ => {
                self.api
                    .replace(&self.config.name, &PostParams::default(), &desired)
                    .await
            }
        };
        match result {
            Ok(_) => Ok(Attempt::Held),
            // Lost a race (AlreadyExists or Conflict): someone else wrote first.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(Attempt::Conflict),
            Err(error) => Err(error),
        }
    }

    /// Releases the lease if we still hold it; failures are logged (the lease then simply
    /// expires).
    async fn release(&self) {
        let lease = format!("{}/{}", self.config.namespace, self.config.name);
        let current = match self.api.get_opt(&self.config.name).await {
            Ok(Some(current)) => current,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%lease, %error, "failed to read the lease to release it");
                return;
            }
        };
        let Some(released) = released_lease(&current, Timestamp::now(), &self.config.identity)
        else {
            return;
        };
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &released)
            .await
        {
            Ok(_) => tracing::info!(%lease, "released the leader lease"),
            Err(error) => tracing::warn!(%lease, %error, "failed to release the lease"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + seconds).unwrap()
    }

    fn lease(holder: Option<&str>, renewed: Option<i64>, duration: Option<i32>) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some("kube-scheduler".into()),
                namespace: Some("kube-system".into()),
                resource_version: Some("42".into()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_string),
                lease_duration_seconds: duration,
                acquire_time: renewed.map(|s| MicroTime(at(s - 100))),
                renew_time: renewed.map(|s| MicroTime(at(s))),
                lease_transitions: Some(3),
                ..LeaseSpec::default()
            }),
        }
    }

    #[test]
    fn decide_follows_upstream_rules() {
        let fifteen = Duration::from_secs(15);
        let no_spec = Lease {
            metadata: ObjectMeta::default(),
            spec: None,
        };
        // (case, lease, now, expected)
        let cases: Vec<(&str, Option<Lease>, Timestamp, Action)> = vec![
            ("absent lease is created", None, at(0), Action::Create),
            (
                "lease without spec is free",
                Some(no_spec),
                at(0),
                Action::Acquire,
            ),
            (
                "our own lease is renewed",
                Some(lease(Some("me"), Some(0), Some(15))),
                at(5),
                Action::Renew,
            ),
            (
                "our own expired lease is still ours to renew",
                Some(lease(Some("me"), Some(0), Some(15))),
                at(100),
                Action::Renew,
            ),
            (
                "released lease (empty holder) is acquired",
                Some(lease(Some(""), Some(0), Some(1))),
                at(0),
                Action::Acquire,
            ),
            (
                "no holder at all is acquired",
                Some(lease(None, Some(0), Some(15))),
                at(0),
                Action::Acquire,
            ),
            (
                "another holder's valid lease is waited for",
                Some(lease(Some("other"), Some(0), Some(15))),
                at(14),
                Action::Wait {
                    holder: "other".into(),
                    expires: at(15),
                },
            ),
            (
                "expiry is renewTime + leaseDurationSeconds exactly",
                Some(lease(Some("other"), Some(0), Some(15))),
                at(15),
                Action::Acquire,
            ),
            (
                "an expired lease is taken over",
                Some(lease(Some("other"), Some(0), Some(15))),
                at(60),
                Action::Acquire,
            ),
            (
                "the lease's own duration wins over ours",
                Some(lease(Some("other"), Some(0), Some(40))),
                at(30),
                Action::Wait {
                    holder: "other".into(),
                    expires: at(40),
                },
            ),
            (
                "a missing duration falls back to ours",
                Some(lease(Some("other"), Some(0), None)),
                at(10),
                Action::Wait {
                    holder: "other".into(),
                    expires: at(15),
                },
            ),
            (
                "a non-positive duration falls back to ours",
                Some(lease(Some("other"), Some(0), Some(0))),
                at(16),
                Action::Acquire,
            ),
            (
                "held but never renewed is taken",
                Some(lease(Some("other"), None, Some(15))),
                at(0),
                Action::Acquire,
            ),
            (
                "a renewTime in the future (clock skew) is respected",
                Some(lease(Some("other"), Some(100), Some(15))),
                at(0),
                Action::Wait {
                    holder: "other".into(),
                    expires: at(115),
                },
            ),
        ];
        for (case, lease, now, expected) in cases {
            assert_eq!(
                decide(lease.as_ref(), now, "me", fifteen),
                expected,
                "{case}"
            );
        }
    }

    fn config() -> LeaseConfig {
        LeaseConfig::new("kube-system", "kube-scheduler", "me")
    }

    #[test]
    fn desired_lease_sets_upstream_record_fields() {
        let config = config();
        let now = at(1000);
        // Create: a fresh record.
        let created = desired_lease(None, &Action::Create, now, &config).unwrap();
        let spec = created.spec.clone().unwrap();
        assert_eq!(created.metadata.name.as_deref(), Some("kube-scheduler"));
        assert_eq!(created.metadata.namespace.as_deref(), Some("kube-system"));
        assert_eq!(spec.holder_identity.as_deref(), Some("me"));
        assert_eq!(spec.lease_duration_seconds, Some(15));
        assert_eq!(spec.acquire_time, Some(MicroTime(now)));
        assert_eq!(spec.renew_time, Some(MicroTime(now)));
        assert_eq!(spec.lease_transitions, Some(0));

        // Renew: acquireTime and transitions kept, renewTime moves, resourceVersion kept.
        let mine = lease(Some("me"), Some(990), Some(15));
        let renewed = desired_lease(Some(&mine), &Action::Renew, now, &config).unwrap();
        let spec = renewed.spec.clone().unwrap();
        assert_eq!(renewed.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(spec.acquire_time, Some(MicroTime(at(890))));
        assert_eq!(spec.renew_time, Some(MicroTime(now)));
        assert_eq!(spec.lease_transitions, Some(3));

        // Acquire from another holder: a transition, new acquireTime.
        let theirs = lease(Some("other"), Some(900), Some(15));
        let taken = desired_lease(Some(&theirs), &Action::Acquire, now, &config).unwrap();
        let spec = taken.spec.clone().unwrap();
        assert_eq!(taken.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(spec.holder_identity.as_deref(), Some("me"));
        assert_eq!(spec.acquire_time, Some(MicroTime(now)));
        assert_eq!(spec.lease_transitions, Some(4));

        // Acquire a lease nobody ever held: no transition.
        let empty = Lease {
            metadata: ObjectMeta::default(),
            spec: Some(LeaseSpec::default()),
        };
        let first = desired_lease(Some(&empty), &Action::Acquire, now, &config).unwrap();
        assert_eq!(first.spec.unwrap().lease_transitions, Some(0));

        // Wait writes nothing.
        let wait = Action::Wait {
            holder: "other".into(),
            expires: now,
        };
        assert!(desired_lease(Some(&theirs), &wait, now, &config).is_none());
    }

    #[test]
    fn release_empties_the_holder_only_for_the_holder() {
        let now = at(50);
        let mine = lease(Some("me"), Some(40), Some(15));
        let released = released_lease(&mine, now, "me").unwrap();
        let spec = released.spec.unwrap();
        assert_eq!(spec.holder_identity, None);
        assert_eq!(spec.lease_duration_seconds, Some(1));
        assert_eq!(spec.renew_time, Some(MicroTime(now)));
        assert_eq!(spec.lease_transitions, Some(3));
        assert_eq!(released.metadata.resource_version.as_deref(), Some("42"));
        // After release, another candidate acquires at once.
        let after = lease(None, Some(50), Some(1));
        assert_eq!(
            decide(Some(&after), now, "other", Duration::from_secs(15)),
            Action::Acquire
        );
        assert!(released_lease(&lease(Some("other"), Some(40), Some(15)), now, "me").is_none());
    }

    #[test]
    fn config_validation_follows_upstream() {
        assert!(config().validate().is_ok());
        let mut bad = config();
        bad.renew_deadline = Duration::from_secs(15);
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("leaseDuration"));
        let mut bad = config();
        bad.retry_period = Duration::from_secs(9);
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("retryPeriod*JitterFactor"));
        let mut bad = config();
        bad.identity.clear();
        assert!(bad.validate().is_err());
        let mut bad = config();
        bad.namespace.clear();
        assert!(bad.validate().is_err());
    }

    #[test]
    fn jitter_stays_within_upstream_bounds() {
        let period = Duration::from_secs(2);
        for _ in 0..1000 {
            let d = jittered(period, JITTER_FACTOR);
            assert!(
                d >= period && d <= period.mul_f64(1.0 + JITTER_FACTOR),
                "{d:?}"
            );
        }
    }

    #[test]
    fn default_identity_is_host_underscore_uuid() {
        let a = default_identity();
        let b = default_identity();
        assert_ne!(a, b);
        let (host, id) = a.rsplit_once('_').unwrap();
        assert!(!host.is_empty());
        assert_eq!(id.len(), 36);
    }
}
