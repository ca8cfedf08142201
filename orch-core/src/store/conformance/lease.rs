//! Cases: leases — expiry deletes their keys; grant, keep-alive, revoke.

use super::*;

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
