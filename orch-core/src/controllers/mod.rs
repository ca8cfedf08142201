//! The built-in controllers: ordinary [`Reconciler`](crate::controller::Reconciler)s
//! that an embedder runs as they are, wraps, or replaces.
//!
//! * [`ReplicaSetController`] keeps a number of Pods running.
//! * [`DeploymentController`] rolls Pod templates out through ReplicaSets.
//! * [`GarbageCollector`] deletes dependents whose owners are gone, and
//!   carries out foreground and orphan deletion.
//! * [`NodeLifecycleController`] marks nodes that stop renewing their Lease
//!   unreachable and evicts their pods.

pub mod deployment;
pub mod expectations;
pub mod garbage_collector;
pub mod node_lifecycle;
pub mod pod_readiness;
pub mod replica_set;

pub use deployment::DeploymentController;
pub use garbage_collector::GarbageCollector;
pub use node_lifecycle::{NodeLifecycleConfig, NodeLifecycleController};
pub use replica_set::ReplicaSetController;

use crate::meta::OwnerReference;
use crate::resource::Resource;

/// A controller owner reference to `owner` (`controller` and
/// `blockOwnerDeletion` set), as Kubernetes' controllers write them.
pub fn controller_ref<K: Resource>(owner: &K) -> OwnerReference {
    OwnerReference {
        api_version: K::api_resource().api_version,
        kind: K::KIND.to_owned(),
        name: owner.meta().name.clone(),
        uid: owner.meta().uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}
