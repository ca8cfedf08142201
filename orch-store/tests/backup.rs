//! `MemStore::backup` and `MemStore::from_backup`: a round trip keeps every
//! key at its revisions, the history, the compact revision and the leases;
//! a truncated or corrupted backup is refused, never half-loaded.

use orch_core::store::{KeyRange, PutRequest, RangeRequest, Store};
use orch_core::Error;
use orch_store::{MemStore, MemStoreConfig};

#[tokio::test]
async fn a_backup_restores_keys_history_and_leases() {
    let store = MemStore::new();
    store.put(PutRequest::new("/a", "1")).await.expect("put"); // 2
    store.put(PutRequest::new("/b", "2")).await.expect("put"); // 3
    store.put(PutRequest::new("/a", "3")).await.expect("put"); // 4
    store.compact(3).await.expect("compact");
    let lease = store.lease_grant(600, 0).await.expect("lease").id;
    let mut leased = PutRequest::new("/l", "v");
    leased.lease = lease;
    store.put(leased).await.expect("put"); // 5

    let backup = store.backup().expect("backup");
    let restored = MemStore::from_backup(&backup, MemStoreConfig::default()).expect("restore");
    let all = |s: MemStore| async move {
        s.range(RangeRequest::new(KeyRange::prefix("/"))).await.expect("range")
    };
    assert_eq!(all(restored.clone()).await, all(store.clone()).await);
    assert_eq!(restored.compact_revision(), 3);
    let at3 = restored.range(RangeRequest::new(KeyRange::key("/a")).at_revision(3)).await;
    assert_eq!(at3.expect("a read at the compact revision").kvs[0].value, "1");
    assert!(matches!(
        restored.range(RangeRequest::new(KeyRange::key("/a")).at_revision(2)).await,
        Err(Error::Compacted { .. })
    ));
    assert_eq!(restored.leases().await.expect("leases"), vec![lease]);
    let ttl = restored.lease_time_to_live(lease, true).await.expect("ttl");
    assert_eq!((ttl.granted_ttl_seconds, ttl.keys.len()), (600, 1));
    let next = restored.put(PutRequest::new("/c", "x")).await.expect("put");
    assert_eq!(next.header.revision, 6);
}

#[tokio::test]
async fn a_truncated_or_corrupted_backup_is_refused() {
    let store = MemStore::new();
    store.put(PutRequest::new("/a", "1")).await.expect("put");
    let backup = store.backup().expect("backup");
    let truncated = &backup[..backup.len() - 1];
    let mut corrupted = backup.clone();
    let last = corrupted.len() - 1;
    corrupted[last] ^= 0xff;
    for bad in [truncated, &corrupted[..], b"not a backup at all, no"] {
        match MemStore::from_backup(bad, MemStoreConfig::default()) {
            Err(Error::InvalidRequest(why)) => assert!(why.contains("image"), "{why}"),
            other => panic!("a bad backup was accepted: {other:?}"),
        }
    }
}
