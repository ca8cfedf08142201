//! The Compactor on a MemStore: each round keeps one interval of history,
//! and two compactors on one store compact once per interval between them.

use std::sync::Arc;
use std::time::Duration;

use orch_core::store::{Compactor, KeyRange, PutRequest, RangeRequest, Store};
use orch_core::Error;
use orch_store::MemStore;

async fn put(store: &MemStore, key: &str) -> i64 {
    store.put(PutRequest::new(key.to_string(), "v")).await.expect("put").header.revision
}

async fn read_at(store: &MemStore, revision: i64) -> orch_core::Result<()> {
    let mut req = RangeRequest::new(KeyRange::prefix("/k"));
    req.revision = revision;
    store.range(req).await.map(|_| ())
}

#[tokio::test]
async fn each_round_compacts_to_the_revision_the_previous_round_saw() {
    let store = Arc::new(MemStore::new());
    let mut compactor = Compactor::new(store.clone(), Duration::from_secs(300));
    let early = put(&store, "/k/1").await;
    // The first round only records where the store is.
    assert_eq!(compactor.compact_once().await.expect("round 1"), None);
    let seen = store.revision();
    put(&store, "/k/2").await;
    put(&store, "/k/3").await;
    // The second compacts to what the first saw: older reads fail, the
    // last interval stays readable.
    assert_eq!(compactor.compact_once().await.expect("round 2"), Some(seen));
    assert_eq!(store.compact_revision(), seen);
    assert!(matches!(read_at(&store, early).await, Err(Error::Compacted { .. })));
    read_at(&store, seen).await.expect("the revision compacted to stays readable");
    read_at(&store, store.revision()).await.expect("current reads work");
}

#[tokio::test]
async fn two_compactors_compact_once_per_interval() {
    let store = Arc::new(MemStore::new());
    let mut a = Compactor::new(store.clone(), Duration::from_secs(300));
    let mut b = Compactor::new(store.clone(), Duration::from_secs(300));
    put(&store, "/k/1").await;
    assert_eq!(a.compact_once().await.expect("a1"), None, "a's first round");
    assert_eq!(b.compact_once().await.expect("b1"), None, "b lost the round to a");
    for round in 0..3 {
        put(&store, &format!("/k/{round}")).await;
        let before = store.compact_revision();
        let (ra, rb) = (a.compact_once().await.expect("a"), b.compact_once().await.expect("b"));
        assert_eq!(
            usize::from(ra.is_some()) + usize::from(rb.is_some()),
            1,
            "round {round}: exactly one compaction ({ra:?}, {rb:?})"
        );
        assert!(store.compact_revision() > before, "round {round} compacted");
    }
}

#[tokio::test(start_paused = true)]
async fn run_compacts_every_interval_until_shutdown() {
    let store = Arc::new(MemStore::new());
    let stop = tokio_util::sync::CancellationToken::new();
    let task =
        tokio::spawn(Compactor::new(store.clone(), Duration::from_secs(60)).run(stop.clone()));
    put(&store, "/k/1").await;
    // The paused clock jumps to each timer; these are not waits.
    tokio::time::sleep(Duration::from_secs(61)).await;
    put(&store, "/k/2").await;
    assert_eq!(store.compact_revision(), 0, "the first round does not compact");
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(store.compact_revision() > 0, "the second round compacted");
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("run returns on shutdown")
        .expect("no panic");
}
