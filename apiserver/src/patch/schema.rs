//! The strategic-merge-patch schema (merge keys and strategies of the built-in kinds). `kubectl`
//! computes the patches this apiserver applies from the same facts, so the table lives in
//! apimachinery; this module keeps the name the patch and apply code use for it.

pub(crate) use tinykube_apimachinery::patch_meta::*;
