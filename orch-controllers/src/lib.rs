//! orch-controllers: the built-in controllers, ordinary
//! [`Reconciler`](orch_core::controller::Reconciler)s written against
//! orch-core's public API only — as an embedder's own controller is — that
//! an embedder runs as they are, wraps, or replaces.
//!
//! * [`ReplicaSetController`] keeps a number of Pods running.
//! * [`DeploymentController`] rolls Pod templates out through ReplicaSets.
//! * [`GarbageCollector`] deletes dependents whose owners are gone, and
//!   carries out foreground and orphan deletion.
//! * [`NodeLifecycleController`] marks nodes that stop renewing their Lease
//!   unreachable, and taints nodes for their Ready condition, rate limited
//!   by zone health.
//! * [`TaintEvictionController`] evicts pods from nodes with `NoExecute`
//!   taints they do not tolerate (for longer than their `tolerationSeconds`).
//! * [`PodGc`] deletes terminated pods beyond a threshold and pods no node
//!   agent will finish (their node gone, or none).
//!
//! Their errors are orch-core's [`Error`](orch_core::Error): everything a
//! controller can meet is a failed Api call, retried by the runner's
//! backoff.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use orch_controllers::ReplicaSetController;
//! use orch_core::controller::InformerFactory;
//! use orch_core::{manifest, Api, Pod, ReplicaSet};
//! use tokio_util::sync::CancellationToken;
//!
//! let store = Arc::new(orch_store::MemStore::new());
//! let factory = Arc::new(InformerFactory::new(store.clone()));
//! let shutdown = CancellationToken::new();
//! let controller = Arc::new(ReplicaSetController::new(&factory));
//! let running = tokio::spawn(
//!     ReplicaSetController::controller(factory.clone()).run(controller, shutdown.clone()),
//! );
//!
//! let yaml = r#"
//! apiVersion: apps/v1
//! kind: ReplicaSet
//! metadata: {name: web}
//! spec:
//!   replicas: 2
//!   selector: {matchLabels: {app: web}}
//!   template:
//!     metadata: {labels: {app: web}}
//!     spec: {containers: [{name: web, image: "nginx:1.27"}]}
//! "#;
//! let rs: ReplicaSet = manifest::parse(yaml, &manifest::Registry::builtin())?[0].parse()?;
//! Api::<ReplicaSet>::namespaced(store.clone(), "default").create(&rs).await?;
//!
//! // The controller creates the Pods (no scheduler or node agent here, so
//! // they stay Pending).
//! let pods: Api<Pod> = Api::namespaced(store.clone(), "default");
//! let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
//! while pods.list(&Default::default()).await?.items.len() < 2 {
//!     assert!(tokio::time::Instant::now() < deadline, "no pods");
//!     tokio::time::sleep(Duration::from_millis(10)).await;
//! }
//! shutdown.cancel();
//! running.await.unwrap();
//! # Ok::<(), orch_core::Error>(())
//! # }).unwrap();
//! ```
#![warn(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod deployment;
pub mod expectations;
pub mod garbage_collector;
pub mod job;
pub mod node_lifecycle;
pub mod pod_creation;
pub mod pod_gc;
pub mod pod_readiness;
pub mod replica_set;
pub mod taint_eviction;

pub use deployment::DeploymentController;
pub use garbage_collector::GarbageCollector;
pub use job::JobController;
pub use node_lifecycle::{NodeLifecycleConfig, NodeLifecycleController};
pub use pod_gc::{PodGc, PodGcConfig};
pub use replica_set::ReplicaSetController;
pub use taint_eviction::{TaintEvictionConfig, TaintEvictionController};

use orch_core::meta::OwnerReference;
use orch_core::resource::Resource;

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
