//! Implementations of orch's [`Store`](orch_core::store::Store) trait.
//!
//! * [`MemStore`]: an in-process MVCC store with etcd v3's semantics —
//!   revisions, transactions, watches that never block writers, leases and
//!   compaction. The embedded default.
//! * `EtcdStore` (feature `etcd`): the same trait over a real etcd's v3 API;
//!   `testing::EtcdProcess` (feature `testing`) starts a local etcd to
//!   point it at.
//! * `RaftStore` (feature `raft`): the same store replicated with openraft —
//!   log-applied MVCC on every member, a durable log with group commit,
//!   snapshots and log compaction, linearizable (ReadIndex) or serializable
//!   reads, leader-decided lease expiry, member changes through joint
//!   consensus, a backend quota with etcd's NOSPACE alarm; members in one
//!   process or in several over gRPC, each serving etcd's v3 API
//!   (`RaftStore::etcd_api`).
//! * [`EncryptedStore`]: any Store with the values of chosen resources
//!   encrypted at rest (AES-GCM), configured by kube-apiserver's
//!   [`EncryptionConfiguration`] file, with key rotation.
//! * `EtcdApiServer` (feature `etcd-api`): serves any Store over etcd's v3
//!   gRPC API, so that `etcdctl` and etcd client libraries work against it.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use orch_core::store::{Compare, PutRequest, Store, TxnOp, TxnRequest};
//! use orch_store::MemStore;
//!
//! let store: Arc<dyn Store> = Arc::new(MemStore::new());
//! // Create-if-absent, as the Api does for every create.
//! let create = TxnRequest {
//!     compare: vec![Compare::absent("/registry/core/pods/default/web-0")],
//!     success: vec![TxnOp::Put(PutRequest::new("/registry/core/pods/default/web-0", "{}"))],
//!     failure: vec![],
//! };
//! assert!(store.txn(create.clone()).await?.succeeded);
//! assert!(!store.txn(create).await?.succeeded);
//! # Ok::<(), orch_core::Error>(())
//! # }).unwrap();
//! ```
#![warn(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod encryption;
#[cfg(feature = "etcd-api")]
mod etcd_api;
#[cfg(feature = "etcd")]
mod etcd_store;
mod image;
mod lease;
mod mem_store;
mod mvcc;
#[cfg(feature = "raft")]
mod raft;
#[cfg(feature = "testing")]
pub mod testing;
mod watch;

pub use encryption::{EncryptedStore, EncryptionConfiguration};
#[cfg(feature = "etcd-api")]
pub use etcd_api::{
    AlarmMember, AlarmType, Alarms, Backup, ClusterView, EtcdApiServer, MemberInfo, RaftStatus,
};
#[cfg(feature = "etcd")]
pub use etcd_store::EtcdStore;
pub use mem_store::{MemStore, MemStoreConfig};
#[cfg(feature = "raft")]
pub use raft::{MemberConfig, NetworkFaults, RaftMetrics, RaftOptions, RaftStore};
