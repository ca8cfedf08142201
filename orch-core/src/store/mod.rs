//! The `Store` trait: etcd v3's data model, so that a real etcd is a drop-in
//! backend.
//!
//! Keys and values are bytes. The store has one global `revision: i64` that
//! every write (a put, a delete that deletes something, a txn that writes, a
//! lease expiry that deletes keys) increments by exactly one; each key carries
//! `create_revision`, `mod_revision`, `version` and `lease`, exactly as etcd's
//! `mvccpb.KeyValue`. Old revisions stay readable until [`Store::compact`].
//!
//! # Watching without missing a change
//!
//! A watch stream delivers every change from its start revision, in order,
//! with no gaps and no duplicates — until the history it needs has been
//! compacted, when it ends with [`Error::Compacted`](crate::Error::Compacted). The client then relists
//! and watches again from the list's revision, as Kubernetes' reflectors do:
//!
//! ```
//! use futures::StreamExt;
//! use orch_core::store::{KeyRange, RangeRequest, Store, WatchRequest};
//! use orch_core::Error;
//!
//! async fn mirror(store: &dyn Store) -> orch_core::Result<()> {
//!     let range = KeyRange::prefix("/registry/core/pods/");
//!     'relist: loop {
//!         let list = store.range(RangeRequest::new(range.clone())).await?;
//!         let mut seen = list.header.revision;
//!         // ... replace the local cache with list.kvs ...
//!         let mut events = store.watch(WatchRequest::new(range.clone(), seen + 1)).await?;
//!         while let Some(batch) = events.next().await {
//!             match batch {
//!                 Ok(batch) => {
//!                     for event in &batch.events {
//!                         seen = event.kv.mod_revision; // resume point
//!                         // ... apply the event ...
//!                     }
//!                 }
//!                 Err(Error::Compacted { .. }) => continue 'relist,
//!                 Err(other) => return Err(other),
//!             }
//!         }
//!         // The stream ended (the store shut down): resume from `seen + 1`.
//!         let _ = seen;
//!         return Ok(());
//!     }
//! }
//! ```
//!
//! The pitfall: resuming a watch from the *list's* revision rather than
//! `revision + 1` delivers the list's last change twice.

mod compactor;
mod types;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use compactor::Compactor;
pub use types::*;

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::Result;

/// A stream of watch responses; see [`Store::watch`].
pub type WatchStream = BoxStream<'static, Result<WatchResponse>>;

/// A key-value store with etcd v3's semantics: MVCC revisions, transactions,
/// watches and leases. Implementations: `orch_store::MemStore` (in-process),
/// the Raft store and an etcd client.
///
/// Implementations are shared as `Arc<dyn Store>`; every method takes `&self`.
/// A client of an API server is a `Store` too, one whose
/// [`object_api`](Store::object_api) answers instead of its keys.
/// The public conformance suite (`orch_core::store::conformance`, feature
/// `conformance`) checks an implementation against these contracts.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Reads a key or range, at the current revision or an older one.
    ///
    /// Errors: [`Error::Compacted`](crate::Error::Compacted) if `revision` is
    /// older than the compact revision, [`Error::FutureRevision`](crate::Error::FutureRevision)
    /// if it is newer than the current one.
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse>;

    /// Writes one key; creates a new revision.
    ///
    /// Errors: [`Error::LeaseNotFound`](crate::Error::LeaseNotFound) if
    /// `lease` is set and does not exist; `InvalidRequest` for an empty key.
    async fn put(&self, req: PutRequest) -> Result<PutResponse>;

    /// Deletes a key or range; creates a new revision if anything was deleted.
    async fn delete_range(&self, req: DeleteRangeRequest) -> Result<DeleteRangeResponse>;

    /// Runs a transaction atomically: compares, then the success or failure
    /// ops. All of its writes share one new revision.
    ///
    /// Errors: `InvalidRequest` if a key is written twice; the errors of the
    /// ops it runs (then nothing is written).
    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse>;

    /// Watches a key or range: history from `start_revision` first, then live
    /// changes. The stream ends with [`Error::Compacted`](crate::Error::Compacted)
    /// if the history it needs is (or becomes) compacted, and ends without an
    /// error when the store shuts down.
    ///
    /// A watcher that cannot keep up never slows writers: it falls back to the
    /// store's history and catches up from there.
    async fn watch(&self, req: WatchRequest) -> Result<WatchStream>;

    /// Grants a lease with a TTL in seconds. `id` 0 lets the store choose.
    ///
    /// Errors: [`Error::LeaseExists`](crate::Error::LeaseExists) if `id` is taken;
    /// `InvalidRequest` for a TTL below 1.
    async fn lease_grant(&self, ttl_seconds: i64, id: i64) -> Result<LeaseGrant>;

    /// Renews a lease to its full granted TTL; returns the TTL in seconds.
    ///
    /// Errors: [`Error::LeaseNotFound`](crate::Error::LeaseNotFound).
    async fn lease_keep_alive(&self, id: i64) -> Result<i64>;

    /// Revokes a lease, deleting every key attached to it in one revision.
    ///
    /// Errors: [`Error::LeaseNotFound`](crate::Error::LeaseNotFound).
    async fn lease_revoke(&self, id: i64) -> Result<()>;

    /// The remaining and granted TTL of a lease, and its keys if `keys` is set.
    ///
    /// Errors: [`Error::LeaseNotFound`](crate::Error::LeaseNotFound).
    async fn lease_time_to_live(&self, id: i64, keys: bool) -> Result<LeaseTimeToLive>;

    /// The IDs of all live leases.
    async fn leases(&self) -> Result<Vec<i64>>;

    /// Discards history older than `revision`: reads at older revisions and
    /// watches from them fail with [`Error::Compacted`](crate::Error::Compacted)
    /// afterwards. Watchers that still need that history are ended with it.
    ///
    /// Errors: `Compacted` if `revision` is not newer than the current compact
    /// revision; `FutureRevision` if it is newer than the current revision.
    async fn compact(&self, revision: i64) -> Result<()>;

    /// The API server this store stands for, when it is not a key-value
    /// store but a client of one (`orch_apiserver::Client`): an
    /// [`Api`](crate::Api) built on it then sends each call to the server
    /// as a REST request ([`ObjectApi`](crate::api::ObjectApi)) instead of
    /// reading and writing keys, and the informers, controllers, the
    /// scheduler and node agents built on that Api follow. `None` (the
    /// default) for every key-value store.
    fn object_api(&self) -> Option<&dyn crate::api::ObjectApi> {
        None
    }
}
