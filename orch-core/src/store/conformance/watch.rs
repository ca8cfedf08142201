//! Cases: watches — history then live events, order and completeness,
//! restarts, slow consumers, filters.

use super::*;

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
