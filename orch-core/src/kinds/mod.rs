//! The built-in kinds, as in Kubernetes' core/v1, apps/v1, batch/v1,
//! coordination.k8s.io/v1 and rbac.authorization.k8s.io/v1 — the fields
//! orch uses.
//!
//! # Unknown fields
//!
//! Decoding ignores fields a kind does not model, as kube-apiserver does with
//! `fieldValidation=Ignore`: a real Kubernetes manifest parses unchanged, but
//! fields orch does not know (say `securityContext`) are dropped on write. The
//! manifest loader reports each ignored field's path in
//! [`ManifestObject::unknown_fields`](crate::manifest::ManifestObject::unknown_fields)
//! so nothing is lost silently. Enumerated fields (`restartPolicy`, `phase`,
//! strategy `type`) reject unknown values.

pub mod config_map;
pub mod deployment;
pub mod event;
pub mod job;
pub mod lease;
pub mod namespace;
pub mod node;
pub mod pod;
pub mod rbac;
pub mod replica_set;
pub mod secret;

pub use config_map::ConfigMap;
pub use deployment::Deployment;
pub use event::Event;
pub use job::Job;
pub use lease::Lease;
pub use namespace::Namespace;
pub use node::Node;
pub use pod::Pod;
pub use rbac::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
pub use replica_set::ReplicaSet;
pub use secret::Secret;
