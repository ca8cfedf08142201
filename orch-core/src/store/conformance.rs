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

/// Every write increments the revision by exactly one; reads and no-op
/// deletes do not.
pub async fn revision_monotonicity(store: Arc<dyn Store>) {
    let p = unique_prefix("revision");
    let first = put(&*store, &k(&p, "a"), "1").await;
    let mut last = first;
    for i in 0..20 {
        let rev = put(&*store, &k(&p, &format!("k{i}")), "v").await;
        assert!(rev > last, "revision went from {last} to {rev}");
        last = rev;
    }
    let read = store.range(RangeRequest::new(KeyRange::prefix(p.clone()))).await.unwrap();
    assert!(read.header.revision >= last);
    let del = store
        .delete_range(DeleteRangeRequest { range: KeyRange::key(k(&p, "missing")), prev_kv: false })
        .await
        .unwrap();
    assert_eq!(del.deleted, 0);
    let del = store
        .delete_range(DeleteRangeRequest { range: KeyRange::key(k(&p, "a")), prev_kv: false })
        .await
        .unwrap();
    assert_eq!(del.deleted, 1);
    assert!(del.header.revision > last);
}

/// create_revision, mod_revision, version and prev_kv follow etcd.
pub async fn key_versions(store: Arc<dyn Store>) {
    let p = unique_prefix("versions");
    let key = k(&p, "a");
    let r1 = put(&*store, &key, "1").await;
    let resp = store.put(PutRequest::new(key.clone(), "2").with_prev_kv()).await.unwrap();
    let r2 = resp.header.revision;
    let prev = resp.prev_kv.expect("prev_kv of an existing key");
    assert_eq!((&prev.value[..], prev.version, prev.mod_revision), (&b"1"[..], 1, r1));
    let kv = get(&*store, &key, 0).await.unwrap();
    assert_eq!(kv.create_revision, r1);
    assert_eq!(kv.mod_revision, r2);
    assert_eq!(kv.version, 2);
    assert_eq!(kv.lease, 0);
    store
        .delete_range(DeleteRangeRequest { range: KeyRange::key(key.clone()), prev_kv: false })
        .await
        .unwrap();
    let r4 = put(&*store, &key, "3").await;
    let kv = get(&*store, &key, 0).await.unwrap();
    assert_eq!((kv.create_revision, kv.version), (r4, 1), "recreated key starts over");
    let fresh = store.put(PutRequest::new(k(&p, "b"), "x").with_prev_kv()).await.unwrap();
    assert!(fresh.prev_kv.is_none());
}

/// Prefix, from-key and bounded ranges; limit, more, count, keys_only, count_only.
pub async fn range_options(store: Arc<dyn Store>) {
    let p = unique_prefix("range");
    for name in ["a", "b", "c", "d", "e"] {
        put(&*store, &k(&p, name), name).await;
    }
    let all = store.range(RangeRequest::new(KeyRange::prefix(p.clone()))).await.unwrap();
    let names: Vec<_> = all.kvs.iter().map(|kv| kv.value.clone()).collect();
    assert_eq!(names, ["a", "b", "c", "d", "e"].map(|s| Bytes::from_static(s.as_bytes())).to_vec());
    assert_eq!((all.count, all.more), (5, false));

    let limited =
        store.range(RangeRequest::new(KeyRange::prefix(p.clone())).with_limit(2)).await.unwrap();
    assert_eq!((limited.kvs.len(), limited.count, limited.more), (2, 5, true));

    let between =
        store.range(RangeRequest::new(KeyRange::between(k(&p, "b"), k(&p, "d")))).await.unwrap();
    assert_eq!(between.kvs.len(), 2);
    assert_eq!(between.kvs[0].key, k(&p, "b"));

    let keys_only = store
        .range(RangeRequest { keys_only: true, ..RangeRequest::new(KeyRange::prefix(p.clone())) })
        .await
        .unwrap();
    assert!(keys_only.kvs.iter().all(|kv| kv.value.is_empty()));
    assert_eq!(keys_only.kvs.len(), 5);

    let count_only = store
        .range(RangeRequest { count_only: true, ..RangeRequest::new(KeyRange::prefix(p.clone())) })
        .await
        .unwrap();
    assert_eq!((count_only.kvs.len(), count_only.count), (0, 5));

    let from_key = store.range(RangeRequest::new(KeyRange::from_key(k(&p, "d")))).await.unwrap();
    assert!(from_key.kvs.len() >= 2, "from-key range includes d and e");
    assert_eq!(from_key.kvs[0].key, k(&p, "d"));

    let missing = store.range(RangeRequest::new(KeyRange::key(k(&p, "zz")))).await.unwrap();
    assert_eq!((missing.kvs.len(), missing.count), (0, 0));
}

/// Reads at old revisions see the state of that revision, deleted keys included.
pub async fn range_at_old_revisions(store: Arc<dyn Store>) {
    let p = unique_prefix("mvcc");
    let key = k(&p, "a");
    let r1 = put(&*store, &key, "1").await;
    let r2 = put(&*store, &key, "2").await;
    let del = store
        .delete_range(DeleteRangeRequest { range: KeyRange::key(key.clone()), prev_kv: true })
        .await
        .unwrap();
    assert_eq!(del.prev_kvs.len(), 1);
    assert_eq!(&del.prev_kvs[0].value[..], b"2");
    assert_eq!(&get(&*store, &key, r1).await.unwrap().value[..], b"1");
    assert_eq!(&get(&*store, &key, r2).await.unwrap().value[..], b"2");
    assert!(get(&*store, &key, del.header.revision).await.is_none());
    assert!(get(&*store, &key, r1 - 1).await.is_none());
    let future = store
        .range(
            RangeRequest::new(KeyRange::key(key.clone())).at_revision(del.header.revision + 1000),
        )
        .await;
    assert!(
        matches!(future, Err(Error::FutureRevision { .. })),
        "range at a future revision: {future:?}"
    );
}

/// A txn's compares pick its branch; all of its writes land in one revision;
/// a rejected txn writes nothing.
pub async fn txn_atomicity(store: Arc<dyn Store>) {
    let p = unique_prefix("txn");
    let (a, b, c) = (k(&p, "a"), k(&p, "b"), k(&p, "c"));
    let r0 = put(&*store, &a, "1").await;
    let txn = TxnRequest {
        compare: vec![
            Compare::new(a.clone(), CompareResult::Equal, CompareTarget::Value("1".into())),
            Compare::absent(b.clone()),
        ],
        success: vec![
            TxnOp::Put(PutRequest::new(b.clone(), "2")),
            TxnOp::Put(PutRequest::new(c.clone(), "3")),
            TxnOp::DeleteRange(DeleteRangeRequest {
                range: KeyRange::key(a.clone()),
                prev_kv: false,
            }),
            TxnOp::Range(RangeRequest::new(KeyRange::key(b.clone()))),
        ],
        failure: vec![TxnOp::Range(RangeRequest::new(KeyRange::key(a.clone())))],
    };
    let resp = store.txn(txn.clone()).await.unwrap();
    assert!(resp.succeeded);
    assert_eq!(resp.responses.len(), 4);
    let rev = resp.header.revision;
    assert_eq!(get(&*store, &b, 0).await.unwrap().mod_revision, rev);
    assert_eq!(get(&*store, &c, 0).await.unwrap().mod_revision, rev);
    assert!(get(&*store, &a, 0).await.is_none());
    assert!(get(&*store, &a, rev - 1).await.is_some(), "a existed before the txn");
    match &resp.responses[3] {
        TxnOpResponse::Range(r) => {
            assert_eq!(&r.kvs[0].value[..], b"2", "txn reads see its own writes")
        }
        other => panic!("expected a range response, got {other:?}"),
    }
    assert!(rev > r0);

    // Same txn again: the compares fail now; the failure branch runs.
    let resp = store.txn(txn).await.unwrap();
    assert!(!resp.succeeded);
    assert_eq!(resp.responses.len(), 1);

    // A value compare on a missing key always fails.
    let resp = store
        .txn(TxnRequest {
            compare: vec![Compare::new(
                k(&p, "missing"),
                CompareResult::NotEqual,
                CompareTarget::Value("x".into()),
            )],
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!resp.succeeded);

    // A txn that writes one key twice is rejected whole.
    let before = store.range(RangeRequest::new(KeyRange::prefix(p.clone()))).await.unwrap();
    let dup = store
        .txn(TxnRequest {
            compare: vec![],
            success: vec![
                TxnOp::Put(PutRequest::new(k(&p, "d"), "1")),
                TxnOp::Put(PutRequest::new(k(&p, "d"), "2")),
            ],
            failure: vec![],
        })
        .await;
    assert!(matches!(dup, Err(Error::InvalidRequest(_))), "duplicate key: {dup:?}");
    let after = store.range(RangeRequest::new(KeyRange::prefix(p.clone()))).await.unwrap();
    assert_eq!(before.kvs, after.kvs, "a rejected txn writes nothing");
}

/// Concurrent compare-and-swap increments: every success is counted exactly
/// once, every loser sees a failed compare.
pub async fn cas_conflicts(store: Arc<dyn Store>) {
    let p = unique_prefix("cas");
    let key = k(&p, "counter");
    put(&*store, &key, "0").await;
    let tasks = 8;
    let per_task = 25;
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let store = store.clone();
        let key = key.clone();
        handles.push(tokio::spawn(async move {
            let mut won = 0;
            let mut lost = 0;
            while won < per_task {
                let kv = get(&*store, &key, 0).await.unwrap();
                let n: u64 = std::str::from_utf8(&kv.value).unwrap().parse().unwrap();
                let resp = store
                    .txn(TxnRequest {
                        compare: vec![Compare::mod_revision_is(key.clone(), kv.mod_revision)],
                        success: vec![TxnOp::Put(PutRequest::new(
                            key.clone(),
                            (n + 1).to_string(),
                        ))],
                        failure: vec![],
                    })
                    .await
                    .unwrap();
                if resp.succeeded {
                    won += 1;
                } else {
                    lost += 1;
                }
            }
            lost
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let kv = get(&*store, &key, 0).await.unwrap();
    assert_eq!(&kv.value[..], (tasks * per_task).to_string().as_bytes());
    assert_eq!(kv.version, (tasks * per_task + 1) as i64);
}

/// A watch started in the past replays history, then delivers live changes,
/// in revision order, with prev_kv, and each delete as a Delete event.
pub async fn watch_history_then_live(store: Arc<dyn Store>) {
    let p = unique_prefix("watch-replay");
    let first = put(&*store, &k(&p, "a"), "1").await;
    put(&*store, &k(&p, "a"), "2").await;
    store
        .delete_range(DeleteRangeRequest { range: KeyRange::key(k(&p, "a")), prev_kv: false })
        .await
        .unwrap();
    let mut w = store
        .watch(WatchRequest::new(KeyRange::prefix(p.clone()), first).with_prev_kv())
        .await
        .unwrap();
    let live = put(&*store, &k(&p, "b"), "3").await;
    let events = collect_events(&mut w, 4).await;
    let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventType::Put, EventType::Put, EventType::Delete, EventType::Put]);
    assert_eq!(events[0].kv.mod_revision, first);
    assert!(events[0].prev_kv.is_none());
    assert_eq!(&events[1].prev_kv.as_ref().unwrap().value[..], b"1");
    assert_eq!(&events[2].prev_kv.as_ref().unwrap().value[..], b"2");
    assert_eq!(events[2].kv.key, k(&p, "a"));
    assert_eq!(events[3].kv.mod_revision, live);
    assert!(events.windows(2).all(|w| w[0].kv.mod_revision < w[1].kv.mod_revision));
}

/// Concurrent writers and several watchers: each watcher sees every write to
/// its range exactly once, in revision order.
pub async fn watch_ordering_and_completeness(store: Arc<dyn Store>) {
    let p = unique_prefix("watch-complete");
    let writers = 4;
    let per_writer = 200;
    let total = writers * per_writer;
    let mut watchers = Vec::new();
    for _ in 0..3 {
        watchers
            .push(store.watch(WatchRequest::new(KeyRange::prefix(p.clone()), 0)).await.unwrap());
    }
    // A watcher of one writer's keys only.
    let mut narrow =
        store.watch(WatchRequest::new(KeyRange::prefix(format!("{p}w0/")), 0)).await.unwrap();
    let mut handles = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        let p = p.clone();
        handles.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            for i in 0..per_writer {
                revs.push(put(&*store, &k(&p, &format!("w{w}/{}", i % 7)), &i.to_string()).await);
            }
            revs
        }));
    }
    let mut all_revs = Vec::new();
    let mut w0_revs = Vec::new();
    for (i, h) in handles.into_iter().enumerate() {
        let revs = h.await.unwrap();
        if i == 0 {
            w0_revs = revs.clone();
        }
        all_revs.extend(revs);
    }
    all_revs.sort_unstable();
    for w in &mut watchers {
        let events = collect_events(w, total).await;
        let revs: Vec<i64> = events.iter().map(|e| e.kv.mod_revision).collect();
        assert_eq!(revs, all_revs, "every write once, in order");
    }
    let events = collect_events(&mut narrow, per_writer).await;
    let revs: Vec<i64> = events.iter().map(|e| e.kv.mod_revision).collect();
    assert_eq!(revs, w0_revs);
}

/// A watcher restarted from the revision after its last event continues
/// exactly where it stopped: no gap, no duplicate.
pub async fn watch_restart_from_last_seen(store: Arc<dyn Store>) {
    let p = unique_prefix("watch-restart");
    let start = put(&*store, &k(&p, "x"), "0").await;
    let mut w = store.watch(WatchRequest::new(KeyRange::prefix(p.clone()), start)).await.unwrap();
    let mut expected = vec![start];
    for i in 0..50 {
        expected.push(put(&*store, &k(&p, &format!("k{}", i % 5)), "v").await);
    }
    let mut seen: Vec<i64> = Vec::new();
    while seen.len() < 20 {
        let resp = tokio::time::timeout(DEADLINE, w.next())
            .await
            .expect("event within the deadline")
            .expect("stream open")
            .expect("no error");
        seen.extend(resp.events.iter().map(|e| e.kv.mod_revision));
    }
    drop(w);
    let resume = seen.last().copied().unwrap() + 1;
    let mut w = store.watch(WatchRequest::new(KeyRange::prefix(p.clone()), resume)).await.unwrap();
    for i in 0..10 {
        expected.push(put(&*store, &k(&p, &format!("k{i}")), "w").await);
    }
    let rest = collect_events(&mut w, expected.len() - seen.len()).await;
    seen.extend(rest.iter().map(|e| e.kv.mod_revision));
    assert_eq!(seen, expected);
}

/// A watcher that is not read while many writes happen still gets all of
/// them, in order, once it reads: writers never wait for it.
pub async fn watch_slow_consumer_catches_up(store: Arc<dyn Store>) {
    let p = unique_prefix("watch-slow");
    let mut w = store.watch(WatchRequest::new(KeyRange::prefix(p.clone()), 0)).await.unwrap();
    let n = 5000;
    let mut expected = Vec::with_capacity(n);
    for i in 0..n {
        expected.push(put(&*store, &k(&p, &format!("k{}", i % 50)), "v").await);
    }
    let events = collect_events(&mut w, n).await;
    let revs: Vec<i64> = events.iter().map(|e| e.kv.mod_revision).collect();
    assert_eq!(revs, expected);
}

/// Filters drop puts or deletes; single-key watches see only their key.
pub async fn watch_filters(store: Arc<dyn Store>) {
    let p = unique_prefix("watch-filter");
    let mut no_put = store
        .watch(WatchRequest {
            filters: vec![WatchFilter::NoPut],
            ..WatchRequest::new(KeyRange::prefix(p.clone()), 0)
        })
        .await
        .unwrap();
    let mut single = store.watch(WatchRequest::new(KeyRange::key(k(&p, "b")), 0)).await.unwrap();
    put(&*store, &k(&p, "a"), "1").await;
    put(&*store, &k(&p, "b"), "1").await;
    let del = store
        .delete_range(DeleteRangeRequest { range: KeyRange::prefix(p.clone()), prev_kv: false })
        .await
        .unwrap();
    assert_eq!(del.deleted, 2);
    let events = collect_events(&mut no_put, 2).await;
    assert!(events.iter().all(|e| e.kind == EventType::Delete));
    assert!(
        events.iter().all(|e| e.kv.mod_revision == del.header.revision),
        "one revision for the range delete"
    );
    let events = collect_events(&mut single, 2).await;
    assert!(events.iter().all(|e| e.kv.key == k(&p, "b")));
    assert_eq!(events[1].kind, EventType::Delete);
}

/// After a compaction, reads and watches from older revisions fail with
/// `Compacted`; the compact revision itself stays readable. Needs the store
/// to itself.
pub async fn compaction(store: Arc<dyn Store>) {
    let p = unique_prefix("compact");
    let key = k(&p, "a");
    let r1 = put(&*store, &key, "1").await;
    let r2 = put(&*store, &key, "2").await;
    let r3 = put(&*store, &key, "3").await;
    store.compact(r2).await.unwrap();
    let old = store.range(RangeRequest::new(KeyRange::key(key.clone())).at_revision(r1)).await;
    assert!(matches!(old, Err(Error::Compacted { .. })), "read below compaction: {old:?}");
    assert_eq!(&get(&*store, &key, r2).await.unwrap().value[..], b"2");
    assert_eq!(&get(&*store, &key, r3).await.unwrap().value[..], b"3");

    let mut w = store.watch(WatchRequest::new(KeyRange::prefix(p.clone()), r1)).await.unwrap();
    let first = tokio::time::timeout(DEADLINE, w.next()).await.expect("answer in time");
    match first {
        Some(Err(Error::Compacted { compact_revision, .. })) => assert_eq!(compact_revision, r2),
        other => panic!("watch from a compacted revision: {other:?}"),
    }
    let again = store.compact(r1).await;
    assert!(matches!(again, Err(Error::Compacted { .. })), "compacting backwards: {again:?}");

    // A watcher from the compact revision itself still gets everything from it.
    let mut w = store.watch(WatchRequest::new(KeyRange::prefix(p.clone()), r2)).await.unwrap();
    let events = collect_events(&mut w, 2).await;
    assert_eq!(events[0].kv.mod_revision, r2);
    assert_eq!(events[1].kv.mod_revision, r3);
}

/// A watcher that fell behind and whose history was then compacted ends with
/// `Compacted`, after delivering a gap-free prefix. Needs the store to itself.
pub async fn watch_compacted_while_behind(store: Arc<dyn Store>) {
    let p = unique_prefix("compact-behind");
    let start = put(&*store, &k(&p, "a"), "0").await;
    let mut w = store.watch(WatchRequest::new(KeyRange::prefix(p.clone()), start)).await.unwrap();
    let mut last = start;
    for i in 0..3000 {
        last = put(&*store, &k(&p, &format!("k{}", i % 10)), "v").await;
    }
    store.compact(last).await.unwrap();
    let mut expect = start;
    let outcome = tokio::time::timeout(DEADLINE, async {
        while let Some(resp) = w.next().await {
            match resp {
                Ok(resp) => {
                    for e in resp.events {
                        assert_eq!(e.kv.mod_revision, expect, "gap-free prefix");
                        expect += 1;
                    }
                    if expect > last {
                        return "complete";
                    }
                }
                Err(Error::Compacted { compact_revision, .. }) => {
                    assert_eq!(compact_revision, last);
                    return "compacted";
                }
                Err(e) => panic!("unexpected watch error: {e}"),
            }
        }
        panic!("watch ended without an error at revision {expect}")
    })
    .await
    .expect("watch settles in time");
    assert!(outcome == "compacted" || outcome == "complete");
}

/// Keys attached to a lease go when it expires, all in one revision, and the
/// lease is gone.
pub async fn lease_expiry_deletes_keys(store: Arc<dyn Store>) {
    let p = unique_prefix("lease-expiry");
    let lease = store.lease_grant(1, 0).await.unwrap();
    assert!(lease.id > 0 && lease.ttl_seconds >= 1);
    let mut w = store.watch(WatchRequest::new(KeyRange::prefix(p.clone()), 0)).await.unwrap();
    for name in ["a", "b"] {
        store.put(PutRequest::new(k(&p, name), "v").with_lease(lease.id)).await.unwrap();
    }
    put(&*store, &k(&p, "kept"), "v").await;
    let events = collect_events(&mut w, 5).await;
    let deletes: Vec<&Event> = events.iter().filter(|e| e.kind == EventType::Delete).collect();
    assert_eq!(deletes.len(), 2, "both leased keys deleted: {events:?}");
    assert_eq!(deletes[0].kv.mod_revision, deletes[1].kv.mod_revision, "in one revision");
    assert!(get(&*store, &k(&p, "kept"), 0).await.is_some());
    let ttl = store.lease_time_to_live(lease.id, false).await;
    assert!(matches!(ttl, Err(Error::LeaseNotFound(_))), "expired lease: {ttl:?}");
    let put_on_dead = store.put(PutRequest::new(k(&p, "c"), "v").with_lease(lease.id)).await;
    assert!(matches!(put_on_dead, Err(Error::LeaseNotFound(_))));
}

/// Revoke deletes the lease's keys in one revision; keep-alive, time-to-live
/// and the lease list behave as etcd's.
pub async fn lease_lifecycle(store: Arc<dyn Store>) {
    let p = unique_prefix("lease");
    let lease = store.lease_grant(60, 0).await.unwrap();
    assert!(store.leases().await.unwrap().contains(&lease.id));
    for name in ["a", "b", "c"] {
        store.put(PutRequest::new(k(&p, name), "v").with_lease(lease.id)).await.unwrap();
    }
    // Moving a key off the lease detaches it.
    put(&*store, &k(&p, "c"), "unleased").await;
    let ttl = store.lease_time_to_live(lease.id, true).await.unwrap();
    assert_eq!(ttl.granted_ttl_seconds, lease.ttl_seconds);
    assert!(ttl.ttl_seconds > 0 && ttl.ttl_seconds <= lease.ttl_seconds);
    let mut keys = ttl.keys.clone();
    keys.sort();
    assert_eq!(keys, vec![k(&p, "a"), k(&p, "b")]);
    assert_eq!(store.lease_keep_alive(lease.id).await.unwrap(), lease.ttl_seconds);
    assert_eq!(get(&*store, &k(&p, "a"), 0).await.unwrap().lease, lease.id);

    let before = get(&*store, &k(&p, "a"), 0).await.unwrap().mod_revision;
    store.lease_revoke(lease.id).await.unwrap();
    assert!(get(&*store, &k(&p, "a"), 0).await.is_none());
    assert!(get(&*store, &k(&p, "b"), 0).await.is_none());
    assert!(get(&*store, &k(&p, "c"), 0).await.is_some());
    let deleted_at =
        store.range(RangeRequest::new(KeyRange::key(k(&p, "b")))).await.unwrap().header.revision;
    assert!(deleted_at > before);
    assert!(
        get(&*store, &k(&p, "a"), deleted_at - 1).await.is_some(),
        "a and b went in the same revision"
    );
    assert!(get(&*store, &k(&p, "b"), deleted_at - 1).await.is_some());
    assert!(matches!(store.lease_keep_alive(lease.id).await, Err(Error::LeaseNotFound(_))));
    assert!(matches!(store.lease_revoke(lease.id).await, Err(Error::LeaseNotFound(_))));
    assert!(!store.leases().await.unwrap().contains(&lease.id));
}

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

// ---------------------------------------------------------------------------
// Model-based check

/// One operation of a random sequence.
#[derive(Clone, Debug)]
pub enum ModelOp {
    /// Put `value` at key number `key`.
    Put {
        /// Key number (0..8).
        key: u8,
        /// Value.
        value: u8,
    },
    /// Delete key number `key`.
    Delete {
        /// Key number.
        key: u8,
    },
    /// Delete keys `from..to`.
    DeleteRange {
        /// First key number.
        from: u8,
        /// End key number (exclusive).
        to: u8,
    },
    /// Compare-and-put on key `key`: succeeds if its version is `version`.
    CasPut {
        /// Key number.
        key: u8,
        /// The expected version.
        version: i64,
        /// Value to put.
        value: u8,
    },
    /// Read all keys at `back` revisions before now.
    RangeAt {
        /// How many revisions back.
        back: i64,
        /// Limit (0: none).
        limit: i64,
    },
    /// Compact to `back` revisions before now.
    Compact {
        /// How many revisions back.
        back: i64,
    },
}

fn model_op() -> impl proptest::strategy::Strategy<Value = ModelOp> {
    use proptest::prelude::*;
    prop_oneof![
        4 => (0u8..8, any::<u8>()).prop_map(|(key, value)| ModelOp::Put { key, value }),
        2 => (0u8..8).prop_map(|key| ModelOp::Delete { key }),
        1 => (0u8..8, 0u8..9).prop_map(|(from, to)| ModelOp::DeleteRange { from, to }),
        2 => (0u8..8, 0i64..4, any::<u8>()).prop_map(|(key, version, value)| ModelOp::CasPut { key, version, value }),
        2 => (0i64..12, 0i64..4).prop_map(|(back, limit)| ModelOp::RangeAt { back, limit }),
        1 => (0i64..12).prop_map(|back| ModelOp::Compact { back }),
    ]
}

/// The reference model: the full state at every revision since the start.
#[derive(Debug, Default)]
struct Model {
    base: i64,
    compacted: i64,
    /// `states[i]` is the state at revision `base + i`.
    states: Vec<BTreeMap<u8, KeyValue>>,
}

impl Model {
    fn rev(&self) -> i64 {
        self.base + self.states.len() as i64 - 1
    }

    fn now(&self) -> &BTreeMap<u8, KeyValue> {
        self.states.last().expect("model has a state")
    }

    fn write(&mut self, f: impl FnOnce(&mut BTreeMap<u8, KeyValue>, i64) -> bool) {
        let mut next = self.now().clone();
        let rev = self.rev() + 1;
        if f(&mut next, rev) {
            self.states.push(next);
        }
    }
}

fn model_put(state: &mut BTreeMap<u8, KeyValue>, key: Bytes, k: u8, value: u8, rev: i64) {
    let prev = state.get(&k);
    let kv = KeyValue {
        key,
        value: Bytes::from(vec![value]),
        create_revision: prev.map_or(rev, |p| p.create_revision),
        mod_revision: rev,
        version: prev.map_or(1, |p| p.version + 1),
        lease: 0,
    };
    state.insert(k, kv);
}

/// Runs `cases` random operation sequences against fresh stores from `make`
/// and against the reference model, comparing every answer and, at the end,
/// what a watcher opened at the start received. Panics with the smallest
/// failing sequence proptest finds.
pub fn check_against_model<F>(make: F, cases: u32)
where
    F: Fn() -> Arc<dyn Store>,
{
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    let mut runner = TestRunner::new(Config::with_cases(cases));
    let strategy = proptest::collection::vec(model_op(), 1..40);
    let result = runner.run(&strategy, |ops| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        rt.block_on(run_model_case(make(), ops)).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("store disagrees with the model: {e}");
    }
}

async fn run_model_case(store: Arc<dyn Store>, ops: Vec<ModelOp>) -> Result<(), String> {
    let p = unique_prefix("model");
    let key = |n: u8| Bytes::from(format!("{p}{n}"));
    let range_all = KeyRange::prefix(p.clone());
    let start = store
        .range(RangeRequest::new(range_all.clone()))
        .await
        .map_err(|e| e.to_string())?
        .header
        .revision;
    let mut model = Model { base: start, compacted: 0, states: vec![BTreeMap::new()] };
    let mut watch = store
        .watch(WatchRequest::new(range_all.clone(), start + 1))
        .await
        .map_err(|e| e.to_string())?;
    for (i, op) in ops.iter().enumerate() {
        let ctx = |what: &str| format!("op {i} {op:?}: {what}");
        match *op {
            ModelOp::Put { key: n, value } => {
                let resp = store
                    .put(PutRequest::new(key(n), vec![value]))
                    .await
                    .map_err(|e| ctx(&e.to_string()))?;
                model.write(|s, rev| {
                    model_put(s, key(n), n, value, rev);
                    true
                });
                if resp.header.revision != model.rev() {
                    return Err(ctx(&format!(
                        "revision {} != model {}",
                        resp.header.revision,
                        model.rev()
                    )));
                }
            }
            ModelOp::Delete { key: n } => {
                let resp = store
                    .delete_range(DeleteRangeRequest {
                        range: KeyRange::key(key(n)),
                        prev_kv: false,
                    })
                    .await
                    .map_err(|e| ctx(&e.to_string()))?;
                let mut deleted = 0;
                model.write(|s, _| {
                    deleted = i64::from(s.remove(&n).is_some());
                    deleted > 0
                });
                if resp.deleted != deleted || resp.header.revision != model.rev() {
                    return Err(ctx(&format!(
                        "deleted {} at {} != model {deleted} at {}",
                        resp.deleted,
                        resp.header.revision,
                        model.rev()
                    )));
                }
            }
            ModelOp::DeleteRange { from, to } => {
                let resp = store
                    .delete_range(DeleteRangeRequest {
                        range: KeyRange::between(key(from), key(to)),
                        prev_kv: false,
                    })
                    .await
                    .map_err(|e| ctx(&e.to_string()))?;
                let mut deleted = 0;
                model.write(|s, _| {
                    let doomed: Vec<u8> =
                        s.keys().copied().filter(|k| *k >= from && *k < to).collect();
                    for d in &doomed {
                        s.remove(d);
                    }
                    deleted = doomed.len() as i64;
                    deleted > 0
                });
                if resp.deleted != deleted || resp.header.revision != model.rev() {
                    return Err(ctx(&format!("deleted {} != model {deleted}", resp.deleted)));
                }
            }
            ModelOp::CasPut { key: n, version, value } => {
                let resp = store
                    .txn(TxnRequest {
                        compare: vec![Compare::new(
                            key(n),
                            CompareResult::Equal,
                            CompareTarget::Version(version),
                        )],
                        success: vec![TxnOp::Put(PutRequest::new(key(n), vec![value]))],
                        failure: vec![TxnOp::Range(RangeRequest::new(KeyRange::key(key(n))))],
                    })
                    .await
                    .map_err(|e| ctx(&e.to_string()))?;
                let current_version = model.now().get(&n).map_or(0, |kv| kv.version);
                let expect = current_version == version;
                if expect {
                    model.write(|s, rev| {
                        model_put(s, key(n), n, value, rev);
                        true
                    });
                }
                if resp.succeeded != expect {
                    return Err(ctx(&format!("succeeded {} != model {expect}", resp.succeeded)));
                }
            }
            ModelOp::RangeAt { back, limit } => {
                let rev = (model.rev() - back).max(model.base);
                let resp = store
                    .range(RangeRequest::new(range_all.clone()).at_revision(rev).with_limit(limit))
                    .await;
                if rev < model.compacted {
                    if !matches!(resp, Err(Error::Compacted { .. })) {
                        return Err(ctx(&format!("read at compacted {rev}: {resp:?}")));
                    }
                    continue;
                }
                let resp = resp.map_err(|e| ctx(&e.to_string()))?;
                let state = &model.states[(rev - model.base) as usize];
                let mut want: Vec<KeyValue> = state.values().cloned().collect();
                want.sort_by(|a, b| a.key.cmp(&b.key));
                let count = want.len() as i64;
                if limit > 0 {
                    want.truncate(limit as usize);
                }
                if resp.kvs != want
                    || resp.count != count
                    || resp.more != (count > want.len() as i64)
                {
                    return Err(ctx(&format!(
                        "at {rev}: got {:?} (count {}) want {want:?} (count {count})",
                        resp.kvs, resp.count
                    )));
                }
            }
            ModelOp::Compact { back } => {
                let rev = model.rev() - back;
                if rev <= model.compacted.max(model.base) {
                    continue;
                }
                store.compact(rev).await.map_err(|e| ctx(&e.to_string()))?;
                model.compacted = rev;
            }
        }
    }
    // The watcher saw every change after `start`, in order — or a gap-free
    // prefix of them ended by Compacted.
    let mut want = Vec::new();
    for r in start + 1..=model.rev() {
        let (before, after) = (
            &model.states[(r - model.base - 1) as usize],
            &model.states[(r - model.base) as usize],
        );
        for n in 0u8..8 {
            match (before.get(&n), after.get(&n)) {
                (_, Some(kv)) if kv.mod_revision == r => want.push((EventType::Put, kv.clone())),
                (Some(_), None) => want.push((
                    EventType::Delete,
                    KeyValue { key: key(n), mod_revision: r, ..Default::default() },
                )),
                _ => {}
            }
        }
    }
    let mut got = Vec::new();
    while got.len() < want.len() {
        let resp = tokio::time::timeout(DEADLINE, watch.next())
            .await
            .map_err(|_| format!("watch stalled after {} of {} events", got.len(), want.len()))?;
        match resp {
            Some(Ok(resp)) => got.extend(resp.events.into_iter().map(|e| (e.kind, e.kv))),
            Some(Err(Error::Compacted { .. })) if model.compacted > 0 => break,
            Some(Err(e)) => return Err(format!("watch failed: {e}")),
            None => return Err("watch ended early".into()),
        }
    }
    if got.len() > want.len() || got[..] != want[..got.len()] {
        return Err(format!("watch delivered {got:?}, model says {want:?}"));
    }
    Ok(())
}
