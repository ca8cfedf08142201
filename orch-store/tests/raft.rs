//! The Store conformance suite against RaftStore: one member, three
//! members in one process (the handle used is member 2, so that most calls
//! go through a follower to the leader), and three members talking gRPC
//! through a follower; then the failure cases.
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

/// Three members as separate members would run — each with its own data
/// dir, gRPC peer port and durable log — here in the test's process; the
/// handle used is a follower, so every write is forwarded over gRPC and
/// its result (or error) comes back serialized.
mod three_members_over_grpc {
    use std::sync::Arc;

    use async_trait::async_trait;
    use orch_core::store::*;
    use orch_core::Result;
    use orch_store::{MemberConfig, RaftOptions, RaftStore};

    /// A follower of the cluster, keeping the cluster and its data alive.
    struct Cluster {
        follower: RaftStore,
        _members: Vec<RaftStore>,
        _dir: tempfile::TempDir,
    }

    async fn store() -> Arc<dyn Store> {
        let dir = tempfile::tempdir().expect("temp dir");
        let peers: Vec<(String, String)> = (0..3)
            .map(|i| {
                let port =
                    orch_store::testing::free_loopback_port().unwrap_or_else(|e| panic!("{e}"));
                (format!("m{i}"), format!("127.0.0.1:{port}"))
            })
            .collect();
        let mut members = Vec::new();
        for (name, _) in &peers {
            let config = MemberConfig {
                name: name.clone(),
                initial_cluster: peers.clone(),
                listen_peer: None,
                client_urls: Vec::new(),
                data_dir: dir.path().join(name),
                options: RaftOptions::default(),
                join_existing: false,
            };
            members.push(RaftStore::start_member(config).await.unwrap_or_else(|e| panic!("{e}")));
        }
        let leader = members[0].wait_for_leader().await.unwrap_or_else(|e| panic!("{e}"));
        let follower = members.iter().find(|m| m.id() != leader).expect("a follower").clone();
        Arc::new(Cluster { follower, _members: members, _dir: dir })
    }

    #[async_trait]
    impl Store for Cluster {
        async fn range(&self, req: RangeRequest) -> Result<RangeResponse> {
            self.follower.range(req).await
        }
        async fn put(&self, req: PutRequest) -> Result<PutResponse> {
            self.follower.put(req).await
        }
        async fn delete_range(&self, req: DeleteRangeRequest) -> Result<DeleteRangeResponse> {
            self.follower.delete_range(req).await
        }
        async fn txn(&self, req: TxnRequest) -> Result<TxnResponse> {
            self.follower.txn(req).await
        }
        async fn watch(&self, req: WatchRequest) -> Result<WatchStream> {
            self.follower.watch(req).await
        }
        async fn lease_grant(&self, ttl_seconds: i64, id: i64) -> Result<LeaseGrant> {
            self.follower.lease_grant(ttl_seconds, id).await
        }
        async fn lease_keep_alive(&self, id: i64) -> Result<i64> {
            self.follower.lease_keep_alive(id).await
        }
        async fn lease_revoke(&self, id: i64) -> Result<()> {
            self.follower.lease_revoke(id).await
        }
        async fn lease_time_to_live(&self, id: i64, keys: bool) -> Result<LeaseTimeToLive> {
            self.follower.lease_time_to_live(id, keys).await
        }
        async fn leases(&self) -> Result<Vec<i64>> {
            self.follower.leases().await
        }
        async fn compact(&self, revision: i64) -> Result<()> {
            self.follower.compact(revision).await
        }
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

/// The leader of `members` and one of its followers.
async fn leader_and_follower(
    members: &[orch_store::RaftStore],
) -> (&orch_store::RaftStore, &orch_store::RaftStore) {
    let leader_id = members[0].current_leader().await.expect("a leader");
    let leader = members.iter().find(|m| m.id() == leader_id).expect("leader handle");
    let follower = members.iter().find(|m| m.id() != leader_id).expect("a follower");
    (leader, follower)
}

/// The leader stops in the middle of a stream of writes: the other two go
/// on under a new leader, no acknowledged write is lost, and a watch on a
/// surviving member sees every revision once, in order, across the change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_and_a_watch_survive_the_leader_stopping() {
    use orch_core::store::conformance::collect_events;
    use orch_core::store::{KeyRange, PutRequest, RangeRequest, Store, WatchRequest};
    use orch_store::RaftStore;

    let members = RaftStore::in_process(3).await.unwrap_or_else(|e| panic!("{e}"));
    let (leader, survivor) = leader_and_follower(&members).await;
    let leader_id = leader.id();
    let mut events =
        survivor.watch(WatchRequest::new(KeyRange::prefix("/f/"), 0)).await.expect("watch");
    let mut acknowledged = Vec::new();
    for i in 0..40 {
        if i == 20 {
            leader.shutdown().await;
        }
        let key = format!("/f/{i:02}");
        let r = survivor.put(PutRequest::new(key.clone(), "v")).await;
        let r = r.unwrap_or_else(|e| panic!("put {key} after the leader stopped: {e}"));
        acknowledged.push((key, r.header.revision));
    }
    assert_ne!(survivor.current_leader().await, Some(leader_id), "a new leader took over");
    // Every acknowledged write is readable from the new leader.
    let all = survivor.range(RangeRequest::new(KeyRange::prefix("/f/"))).await.expect("range");
    assert_eq!(all.kvs.len(), 40);
    // The watch saw each revision once, in order, with no gap.
    let seen: Vec<i64> = collect_events(&mut events, acknowledged.len())
        .await
        .iter()
        .map(|e| e.kv.mod_revision)
        .collect();
    let acked: Vec<i64> = acknowledged.iter().map(|(_, r)| *r).collect();
    assert_eq!(seen, acked, "no gap, no duplicate");
    assert!(acked.windows(2).all(|w| w[1] == w[0] + 1), "one revision per put: {acked:?}");
}

/// A durable cluster stopped and started again on the same directory has
/// every acknowledged write, at the same revisions, and goes on writing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_cluster_recovers_its_writes_after_a_restart() {
    use orch_core::store::{KeyRange, PutRequest, RangeRequest, Store};
    use orch_store::RaftStore;

    let dir = tempfile::tempdir().expect("temp dir");
    for members in [1, 3] {
        let data = dir.path().join(format!("cluster-{members}"));
        let before = {
            let cluster = RaftStore::in_process_durable(members, &data)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            for i in 0..10 {
                cluster[0].put(PutRequest::new(format!("/d/{i}"), "v")).await.expect("put");
            }
            let read = cluster[0].range(RangeRequest::new(KeyRange::prefix("/d/"))).await;
            for m in &cluster {
                m.shutdown().await;
            }
            read.expect("range")
        };
        let cluster = RaftStore::in_process_durable(members, &data)
            .await
            .unwrap_or_else(|e| panic!("restart: {e}"));
        let after = cluster[members - 1]
            .range(RangeRequest::new(KeyRange::prefix("/d/")))
            .await
            .expect("range after restart");
        assert_eq!(after.kvs, before.kvs, "{members} member(s): same keys at the same revisions");
        let next = cluster[0].put(PutRequest::new("/d/next", "v")).await.expect("put after");
        assert!(next.header.revision > before.header.revision);
        for m in &cluster {
            m.shutdown().await;
        }
    }
}

/// With a snapshot every 50 entries: a member cut off while the others
/// take 300 writes comes back through the leader's snapshot (the log it
/// missed is gone) with every key at the same revision, and a watch it
/// served from before sees every write once, in order; every member keeps
/// a snapshot on disk with only the log after it, and the cluster
/// restarted on its directory recovers from snapshot plus log — a
/// linearizable read right after the restart sees every acknowledged write
/// (a restarted leader must win a new term first: the commit index it kept
/// may be older than its last acknowledged write).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_compact_the_log_and_bring_a_lagging_member_back() {
    use std::time::Duration;

    use orch_core::store::conformance::collect_events;
    use orch_core::store::{KeyRange, PutRequest, RangeRequest, Store, WatchRequest};
    use orch_core::testing::wait_for;
    use orch_store::{RaftOptions, RaftStore};

    const WRITES: usize = 300;
    let dir = tempfile::tempdir().expect("temp dir");
    let options = RaftOptions {
        snapshot_entries: 50,
        logs_kept_after_snapshot: 10,
        ..RaftOptions::default()
    };
    let cluster = RaftStore::in_process_with(3, Some(dir.path()), options)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (leader, lagging) = leader_and_follower(&cluster).await;
    let mut events =
        lagging.watch(WatchRequest::new(KeyRange::prefix("/s/"), 0)).await.expect("watch");
    let faults = leader.faults().expect("an in-process network");
    faults.isolate(lagging.id());
    let mut last = 0;
    for i in 0..WRITES {
        last = leader
            .put(PutRequest::new(format!("/s/{i:03}"), "v"))
            .await
            .expect("put")
            .header
            .revision;
    }
    faults.heal();
    let prefix = || {
        let mut r = RangeRequest::new(KeyRange::prefix("/s/"));
        r.serializable = true;
        r
    };
    let own = wait_for("the lagging member to catch up", Duration::from_secs(30), || async {
        let own = lagging.range(prefix()).await.expect("a serializable read");
        if own.count == WRITES as i64 {
            Ok(own)
        } else {
            Err(format!("{} keys", own.count))
        }
    })
    .await;
    assert_eq!(own.header.revision, last, "the same revision as the leader's");
    let seen: Vec<i64> =
        collect_events(&mut events, WRITES).await.iter().map(|e| e.kv.mod_revision).collect();
    let want: Vec<i64> = (last - WRITES as i64 + 1..=last).collect();
    assert_eq!(seen, want, "no gap, no duplicate across the snapshot");
    for m in &cluster {
        let member_dir = dir.path().join(format!("member-{}", m.id()));
        assert!(member_dir.join("snapshot").is_file(), "member {} has a snapshot", m.id());
        // The records, without the zeros the file is preallocated with.
        let log = std::fs::read(member_dir.join("log")).expect("a log file");
        let log = log.len() - log.iter().rev().take_while(|b| **b == 0).count();
        // 300 single-put entries would take well over 20 KiB; after
        // compaction only those since the last snapshot (and 10 more) stay.
        assert!(log < 20 * 1024, "member {}'s log was compacted: {log} bytes", m.id());
        m.shutdown().await;
    }
    let cluster = RaftStore::in_process_with(3, Some(dir.path()), options)
        .await
        .unwrap_or_else(|e| panic!("restart: {e}"));
    let after = cluster[2].range(RangeRequest::new(KeyRange::prefix("/s/"))).await.expect("range");
    assert_eq!((after.count, after.header.revision), (WRITES as i64, last));
    for m in &cluster {
        m.shutdown().await;
    }
}

/// The leader is cut off from the other two (in-process network faults):
/// they elect a new leader and go on taking writes; a linearizable read on
/// the cut-off member never answers with stale data (it waits or fails);
/// once the partition heals, it has the new writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_leader_is_replaced_and_never_serves_stale_reads() {
    use std::time::Duration;

    use orch_core::store::{KeyRange, PutRequest, RangeRequest, Store};
    use orch_core::testing::wait_for;
    use orch_store::RaftStore;

    let members = RaftStore::in_process(3).await.unwrap_or_else(|e| panic!("{e}"));
    let (old, other) = leader_and_follower(&members).await;
    let old_id = old.id();
    other.put(PutRequest::new("/p", "before")).await.expect("put before");
    let faults = old.faults().expect("an in-process network");
    faults.isolate(old_id);
    // The majority side elects a leader of its own and takes the write.
    let written = other.put(PutRequest::new("/p", "after")).await.expect("put after");
    assert_ne!(other.current_leader().await, Some(old_id));
    // The cut-off member cannot confirm its leadership: no stale answer.
    let read = tokio::time::timeout(
        Duration::from_secs(2),
        old.range(RangeRequest::new(KeyRange::key("/p"))),
    )
    .await;
    if let Ok(Ok(r)) = &read {
        panic!("a cut-off member answered a linearizable read: {:?}", r.kvs);
    }
    faults.heal();
    let r = wait_for("an answer after healing", Duration::from_secs(30), || async {
        old.range(RangeRequest::new(KeyRange::key("/p"))).await.map_err(|e| format!("{e:?}"))
    })
    .await;
    assert_eq!(r.kvs[0].value, "after");
    assert_eq!(r.kvs[0].mod_revision, written.header.revision);
    for m in &members {
        m.shutdown().await;
    }
}

/// Five members on a lossy, slow network (one message in ten dropped,
/// each delayed 1 ms) take writes; with two members stopped the other three
/// go on; every acknowledged write is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_members_go_on_with_two_down_on_a_lossy_network() {
    use std::time::Duration;

    use orch_core::store::{KeyRange, PutRequest, RangeRequest, Store};
    use orch_store::RaftStore;

    let members = RaftStore::in_process(5).await.unwrap_or_else(|e| panic!("{e}"));
    let faults = members[0].faults().expect("an in-process network");
    faults.set_drop_rate(0.1);
    faults.set_delay(Duration::from_millis(1));
    for i in 0..30 {
        members[2].put(PutRequest::new(format!("/f/{i:02}"), "v")).await.expect("put");
    }
    // Stop two members that are not the one written through.
    let leader = members[2].current_leader().await.expect("a leader");
    let mut stopped = 0;
    for m in &members {
        if m.id() != members[2].id() && stopped < 2 {
            m.shutdown().await;
            stopped += 1;
        }
    }
    for i in 30..50 {
        let r = members[2].put(PutRequest::new(format!("/f/{i:02}"), "v")).await;
        r.unwrap_or_else(|e| panic!("put {i} with two members down (leader was {leader}): {e}"));
    }
    faults.heal();
    let all = members[2].range(RangeRequest::new(KeyRange::prefix("/f/"))).await.expect("range");
    assert_eq!(all.count, 50);
    for m in &members {
        m.shutdown().await;
    }
}
