//! orch-core: the object model, the `Store` trait and the typed `Api` of orch,
//! an SDK of Kubernetes-style control-plane primitives.
//!
//! * [`kinds`]: Pod, Node, ReplicaSet, Deployment, ConfigMap, Secret,
//!   Namespace, Lease, Event — serde with Kubernetes' JSON field names, so
//!   real manifests parse unchanged.
//! * [`store`]: the [`Store`](store::Store) trait, etcd v3's data model
//!   (revisions, txn, watch, leases, compaction), and its conformance suite.
//! * [`Api`]: typed CRUD and watch over any store, with optimistic
//!   concurrency, finalizers, selectors, validation and admission.
//! * [`manifest`]: multi-document YAML/JSON into typed or dynamic objects.
//! * [`Resource`]: how embedders add kinds of their own.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use orch_core::{manifest, Api, Deployment};
//! use orch_store::MemStore;
//!
//! let yaml = r#"
//! apiVersion: apps/v1
//! kind: Deployment
//! metadata: {name: web}
//! spec:
//!   replicas: 3
//!   selector: {matchLabels: {app: web}}
//!   template:
//!     metadata: {labels: {app: web}}
//!     spec:
//!       containers: [{name: web, image: "myapp:1.4.0"}]
//! "#;
//! let docs = manifest::parse(yaml, &manifest::Registry::builtin())?;
//! let web: Deployment = docs[0].parse()?;
//!
//! let api: Api<Deployment> = Api::namespaced(Arc::new(MemStore::new()), "default");
//! let created = api.create(&web).await?;
//! assert_eq!(api.get("web").await?.spec.replicas, Some(3));
//! assert_eq!(created.metadata.generation, 1);
//! # Ok::<(), orch_core::Error>(())
//! # }).unwrap();
//! ```
#![warn(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod admission;
pub mod api;
mod byte_string;
pub mod condition;
pub mod controller;
mod dynamic;
mod error;
mod int_or_string;
pub mod kinds;
pub mod manifest;
pub mod meta;
mod quantity;
pub mod resource;
pub mod schema;
pub mod selector;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod time;
pub mod validation;

pub use api::Api;
pub use byte_string::ByteString;
pub use dynamic::DynamicObject;
pub use error::{Error, Result};
pub use int_or_string::IntOrString;
pub use kinds::{
    ConfigMap, Deployment, Event, Job, Lease, Namespace, Node, Pod, ReplicaSet, Secret,
};
pub use meta::{FieldsV1, ManagedFieldsEntry, ObjectList, ObjectMeta, OwnerReference, TypeMeta};
pub use quantity::Quantity;
pub use resource::{ApiResource, Object, Resource};
pub use time::{MicroTime, Time};
