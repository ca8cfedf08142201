//! The public `Store` conformance suite (feature `conformance`).
//!
//! Every implementation of [`Store`] runs the same cases, the way openraft
//! ships a storage test suite: `MemStore`, the Raft store, and an etcd client
//! against a real etcd. Each case takes a fresh store from a factory; cases
//! never assume absolute revisions, so a store that already holds data (a
//! shared etcd) passes too — except that the compaction cases need the store
//! to themselves.
//!
//! The easiest way in is the [`store_conformance_tests!`](crate::store_conformance_tests)
//! macro, which expands to one `#[tokio::test]` per case:
//!
//! ```ignore
//! orch_core::store_conformance_tests!(async { std::sync::Arc::new(orch_store::MemStore::new()) });
//! ```
//!
//! [`check_against_model`] runs random operation sequences against a store
//! and a simple reference model and compares every answer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

use super::*;
use crate::Error;

/// How long a case waits for something that should happen promptly before it
/// fails (a watch event, a lease expiry).
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A unique key prefix for one case, so cases can share a store.
pub fn unique_prefix(case: &str) -> String {
    format!("/conformance/{case}/{}/", uuid::Uuid::new_v4().simple())
}

fn k(prefix: &str, name: &str) -> Bytes {
    Bytes::from(format!("{prefix}{name}"))
}

async fn put(store: &dyn Store, key: &Bytes, value: &str) -> i64 {
    store.put(PutRequest::new(key.clone(), value.to_owned())).await.expect("put").header.revision
}

async fn get(store: &dyn Store, key: &Bytes, revision: i64) -> Option<KeyValue> {
    store
        .range(RangeRequest::new(KeyRange::key(key.clone())).at_revision(revision))
        .await
        .expect("range")
        .kvs
        .into_iter()
        .next()
}

/// Receives watch responses until `n` events have arrived; panics after
/// [`DEADLINE`] or if the stream ends or fails first.
pub async fn collect_events(stream: &mut WatchStream, n: usize) -> Vec<Event> {
    let mut events = Vec::new();
    let fut = async {
        while events.len() < n {
            match stream.next().await {
                Some(Ok(resp)) => events.extend(resp.events),
                Some(Err(e)) => panic!("watch failed after {} events: {e}", events.len()),
                None => panic!("watch ended after {} of {n} events", events.len()),
            }
        }
    };
    tokio::time::timeout(DEADLINE, fut).await.unwrap_or_else(|_| {
        panic!("watch delivered {} of {n} events in {DEADLINE:?}", events.len())
    });
    events
}

mod compaction;
mod kv;
mod lease;
mod model;
mod watch;

pub use compaction::*;
pub use kv::*;
pub use lease::*;
pub use model::*;
pub use watch::*;

/// Runs every case against fresh stores from `make`, in sequence.
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<dyn Store>>,
{
    revision_monotonicity(make().await).await;
    key_versions(make().await).await;
    range_options(make().await).await;
    range_at_old_revisions(make().await).await;
    txn_atomicity(make().await).await;
    cas_conflicts(make().await).await;
    watch_history_then_live(make().await).await;
    watch_ordering_and_completeness(make().await).await;
    watch_restart_from_last_seen(make().await).await;
    watch_slow_consumer_catches_up(make().await).await;
    watch_filters(make().await).await;
    compaction(make().await).await;
    watch_compacted_while_behind(make().await).await;
    lease_expiry_deletes_keys(make().await).await;
    lease_lifecycle(make().await).await;
}

/// Expands to one `#[tokio::test]` per conformance case. The argument is an
/// expression of a future that yields an `Arc<dyn Store>` (or a type that
/// converts into one); it is evaluated once per case.
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance_tests!(@cases $make;
            revision_monotonicity, key_versions, range_options, range_at_old_revisions,
            txn_atomicity, cas_conflicts, watch_history_then_live,
            watch_ordering_and_completeness, watch_restart_from_last_seen,
            watch_slow_consumer_catches_up, watch_filters, compaction,
            watch_compacted_while_behind, lease_expiry_deletes_keys, lease_lifecycle);
    };
    (@cases $make:expr; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store: ::std::sync::Arc<dyn $crate::store::Store> = $make.await;
                $crate::store::conformance::$case(store).await;
            }
        )*
    };
}
