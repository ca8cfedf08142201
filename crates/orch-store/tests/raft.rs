//! The Store conformance suite against RaftStore: one member, and three
//! members in one process (the handle used is member 2, so that most calls
//! go through a follower to the leader).
#![cfg(feature = "raft")]

mod one_member {
    use std::sync::Arc;

    use orch_core::store::Store;
    use orch_store::RaftStore;

    async fn store() -> Arc<dyn Store> {
        let members = RaftStore::in_process(1).await.unwrap_or_else(|e| panic!("{e}"));
        Arc::new(members[0].clone())
    }

    orch_core::store_conformance_tests!(store());
}

mod three_members {
    use std::sync::Arc;

    use orch_core::store::Store;
    use orch_store::RaftStore;

    async fn store() -> Arc<dyn Store> {
        let members = RaftStore::in_process(3).await.unwrap_or_else(|e| panic!("{e}"));
        Arc::new(members[1].clone())
    }

    orch_core::store_conformance_tests!(store());
}

/// The leader decides a lease's expiry and revokes it through the log:
/// every member deletes the lease's key at the same revision (seen through
/// each member's own watch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_expiry_deletes_keys_on_every_member_at_one_revision() {
    use std::time::Duration;

    use futures::StreamExt;
    use orch_core::store::{EventType, KeyRange, PutRequest, Store, WatchRequest};
    use orch_store::RaftStore;

    let members = RaftStore::in_process(3).await.unwrap_or_else(|e| panic!("{e}"));
    let lease = members[0].lease_grant(1, 0).await.expect("lease");
    let mut put = PutRequest::new("/leased", "v");
    put.lease = lease.id;
    let written = members[0].put(put).await.expect("put").header.revision;
    let mut deleted_at = Vec::new();
    for m in &members {
        let mut events =
            m.watch(WatchRequest::new(KeyRange::key("/leased"), written + 1)).await.expect("watch");
        let batch = tokio::time::timeout(Duration::from_secs(15), events.next())
            .await
            .unwrap_or_else(|_| panic!("member {} saw no expiry within 15 s", m.id()))
            .expect("a batch")
            .expect("no error");
        let e = &batch.events[0];
        assert_eq!(e.kind, EventType::Delete, "member {}", m.id());
        deleted_at.push(e.kv.mod_revision);
    }
    assert!(deleted_at.iter().all(|r| *r == deleted_at[0]), "{deleted_at:?}");
}
