//! Cases: compaction, of reads and of watches that fall behind it.

use super::*;

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
