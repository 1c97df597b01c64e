//! Pure Kubernetes API machinery for tinykube.
//!
//! This crate is the Rust counterpart of the parts of upstream
//! `k8s.io/apimachinery` that every tinykube component needs: the apiserver,
//! the controllers, the scheduler, the kubelet and `kubectl` all agree on how
//! a label selector is parsed, how `500m` compares with `0.5`, which names are
//! valid and what a `Status` error body looks like by sharing this crate.
//!
//! | module | upstream package | what it holds |
//! |---|---|---|
//! | [`duration`] | `pkg/util/duration` | human-readable ages (`3m10s`, `2d1h`) |
//! | [`labels`] | `pkg/labels` | label selectors (`-l app=web,tier in (a,b)`), `LabelSelector` conversion |
//! | [`fields`] | `pkg/fields` | field selectors (`--field-selector spec.nodeName=n1`) |
//! | [`quantity`] | `pkg/api/resource` | resource quantities (`500m`, `1Gi`) with exact arithmetic |
//! | [`validation`] | `pkg/util/validation` | DNS-1123/1035 names, qualified names, label values |
//! | [`status`] | `pkg/api/errors`, `pkg/util/validation/field` | `Status` error bodies, field errors and paths |
//! | [`keys`] | `apiserver/pkg/registry` | etcd storage keys (`/registry/pods/default/web`) |
//! | [`patch_meta`] | `pkg/util/strategicpatch` (and `k8s.io/api` struct tags) | strategic-merge-patch merge keys and strategies of the built-in kinds |
//! | [`strategic_merge`] | `pkg/util/strategicpatch` | applying a strategic merge patch (the apiserver), computing a two- or three-way one (`kubectl`) |
//!
//! # Invariant: no I/O
//!
//! Everything here is a pure function of its inputs: no files, sockets,
//! clocks, environment variables, randomness or global state. That keeps the
//! crate trivially testable and lets any component (including `kubectl` and
//! test harnesses) depend on it without pulling in a runtime. Functions never
//! panic on user input — including empty and non-ASCII strings; bad input is
//! reported through the per-module `thiserror` error types.

pub mod duration;
pub mod fields;
pub mod keys;
pub mod labels;
pub mod patch_meta;
pub mod quantity;
pub mod status;
pub mod strategic_merge;
pub mod validation;
pub mod version;

pub use fields::{FieldOperator, FieldRequirement, FieldSelector, FieldSelectorError};
pub use keys::{storage_key, storage_prefix};
pub use labels::{LabelSource, Operator, Requirement, Selector, SelectorError};
pub use quantity::{Format, Quantity, QuantityError};
pub use status::{ApiError, FieldError, FieldErrorKind, FieldPath, Reason};
