//! Cases: revisions, key versions, ranges, transactions and
//! compare-and-swap, as etcd's KV service gives them.

use super::*;

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
