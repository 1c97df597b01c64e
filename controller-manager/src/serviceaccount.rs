//! The ServiceAccount controller (upstream `pkg/controller/serviceaccount`): every active
//! namespace has a `default` ServiceAccount; it is created when missing (new namespace, or
//! someone deleted it).

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Client;

use crate::error::{is_conflict, Error, Result};
use crate::informer::Change;
use crate::runner::obj_ref;
use crate::util::{is_deleting, name_of, namespace_of};

/// The ServiceAccounts every namespace gets.
pub const DEFAULT_SERVICE_ACCOUNTS: &[&str] = &["default"];

/// Which of the default ServiceAccounts `namespace` lacks (none for a terminating namespace).
pub fn missing_accounts(namespace: &Namespace, present: &[&str]) -> Vec<&'static str> {
    let active = !is_deleting(&namespace.metadata)
        && namespace
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .is_none_or(|p| p == "Active");
    if !active {
        return Vec::new();
    }
    DEFAULT_SERVICE_ACCOUNTS
        .iter()
        .copied()
        .filter(|name| !present.contains(name))
        .collect()
}

/// Shared state of the ServiceAccount controller.
pub struct ServiceAccountController {
    pub client: Client,
    pub accounts: Store<ServiceAccount>,
}

impl ServiceAccountController {
    /// A default ServiceAccount deleted: its namespace needs it back.
    pub fn on_account_change(&self, change: Change<ServiceAccount>) -> Vec<ObjectRef<Namespace>> {
        match change {
            Change::Deleted(sa) if DEFAULT_SERVICE_ACCOUNTS.contains(&name_of(&sa.metadata)) => {
                vec![obj_ref(namespace_of(&sa.metadata), None)]
            }
            _ => Vec::new(),
        }
    }
}

/// Creates the missing default ServiceAccounts of a namespace.
pub async fn reconcile(
    namespace: Arc<Namespace>,
    ctx: Arc<ServiceAccountController>,
) -> Result<Action> {
    let ns = name_of(&namespace.metadata).to_string();
    let accounts = ctx.accounts.state();
    let present: Vec<&str> = accounts
        .iter()
        .filter(|sa| namespace_of(&sa.metadata) == ns)
        .map(|sa| name_of(&sa.metadata))
        .collect();
    let api: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), &ns);
    for name in missing_accounts(&namespace, &present) {
        let sa = ServiceAccount {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        match api.create(&PostParams::default(), &sa).await {
            Ok(_) => tracing::info!(namespace = %ns, account = name, "created service account"),
            Err(e) if is_conflict(&e) => {}
            // The namespace started terminating meanwhile.
            Err(kube::Error::Api(s)) if s.code == 403 => {}
            Err(e) => {
                return Err(Error::api(
                    "create service account",
                    format!("{ns}/{name}"),
                    e,
                ))
            }
        }
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::NamespaceStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    #[test]
    fn only_active_namespaces_get_accounts() {
        let ns = |phase: Option<&str>, deleting: bool| Namespace {
            metadata: ObjectMeta {
                name: Some("team".into()),
                deletion_timestamp: deleting.then_some(Time(jiff::Timestamp::UNIX_EPOCH)),
                ..Default::default()
            },
            spec: None,
            status: phase.map(|p| NamespaceStatus {
                phase: Some(p.into()),
                ..Default::default()
            }),
        };
        assert_eq!(
            missing_accounts(&ns(Some("Active"), false), &[]),
            vec!["default"]
        );
        assert_eq!(
            missing_accounts(&ns(None, false), &["other"]),
            vec!["default"]
        );
        assert!(missing_accounts(&ns(Some("Active"), false), &["default"]).is_empty());
        assert!(missing_accounts(&ns(Some("Terminating"), false), &[]).is_empty());
        assert!(missing_accounts(&ns(Some("Active"), true), &[]).is_empty());
    }
}
