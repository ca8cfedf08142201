//! Reads: list with selectors and pages, and watch (from a list, with
//! selectors, from a compacted version, bookmarks).

use super::*;

#[tokio::test]
async fn list_filters_by_label_and_field_selectors_and_pages() {
    let store = Arc::new(MemStore::new());
    let api: Api<Pod> = Api::namespaced(store.clone(), "default");
    let other_ns: Api<Pod> = Api::namespaced(store.clone(), "other");
    for i in 0..10 {
        let mut p = pod(&format!("web-{i}"));
        p.metadata.labels.insert("tier".into(), if i % 2 == 0 { "a" } else { "b" }.into());
        if i == 3 {
            p.metadata.labels.insert("canary".into(), "true".into());
        }
        p.spec.node_name = Some(format!("node-{}", i % 3));
        api.create(&p).await.unwrap();
    }
    other_ns.create(&pod("elsewhere")).await.unwrap();

    let all = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(all.items.len(), 10);
    assert!(all.items.iter().all(|p| p.metadata.namespace == "default"));
    assert_eq!(all.resource_version, store.revision().to_string());
    let everywhere: Api<Pod> = Api::all(store.clone());
    assert_eq!(everywhere.list(&ListParams::default()).await.unwrap().items.len(), 11);

    let names = |l: &orch_core::ObjectList<Pod>| {
        l.items.iter().map(|p| p.metadata.name.clone()).collect::<Vec<_>>()
    };
    let b = api.list(&ListParams::default().labels("app=web,tier in (b),!canary")).await.unwrap();
    assert_eq!(names(&b), ["web-1", "web-5", "web-7", "web-9"]);
    let on_node = api
        .list(&ListParams::default().fields("spec.nodeName=node-1,metadata.name!=web-4"))
        .await
        .unwrap();
    assert_eq!(names(&on_node), ["web-1", "web-7"]);

    // Pages, all read at the first page's revision.
    let first = api.list(&ListParams::default().limit(4)).await.unwrap();
    assert_eq!(first.items.len(), 4);
    api.create(&pod("web-99")).await.unwrap();
    let mut seen = names(&first);
    let mut token = first.continue_token.clone();
    while let Some(t) = token {
        let page = api.list(&ListParams::default().limit(4).continue_from(t)).await.unwrap();
        assert_eq!(page.resource_version, first.resource_version);
        seen.extend(names(&page));
        token = page.continue_token;
    }
    assert_eq!(seen, names(&all), "web-99 came after the list's revision");

    let filtered_page = api.list(&ListParams::default().labels("tier=a").limit(2)).await.unwrap();
    assert_eq!(names(&filtered_page), ["web-0", "web-2"]);
    let rest = api
        .list(
            &ListParams::default()
                .labels("tier=a")
                .limit(10)
                .continue_from(filtered_page.continue_token.unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(names(&rest), ["web-4", "web-6", "web-8"]);
    assert!(rest.continue_token.is_none());

    let unsupported = api.list(&ListParams::default().fields("spec.hostname=x")).await;
    assert!(matches!(unsupported, Err(Error::Selector { .. })), "{unsupported:?}");
    let bad = api.list(&ListParams::default().labels("tier in (a")).await;
    assert!(matches!(bad, Err(Error::Selector { .. })), "{bad:?}");
    let forged = api.list(&ListParams::default().continue_from("garbage!")).await;
    assert!(matches!(forged, Err(Error::Invalid { .. })), "{forged:?}");
}

#[tokio::test]
async fn a_continue_token_reads_only_inside_its_own_list() {
    use base64::Engine;
    let (store, default) = setup();
    let other: Api<Pod> = Api::namespaced(store.clone(), "other");
    for name in ["a", "b", "c"] {
        default.create(&pod(name)).await.unwrap();
        other.create(&pod(name)).await.unwrap();
    }
    // A token handed out for `other` is refused by `default`'s list.
    let page = other.list(&ListParams::default().limit(1)).await.unwrap();
    let token = page.continue_token.expect("more pages");
    let reused = default.list(&ListParams::default().continue_from(token)).await;
    assert!(
        matches!(&reused, Err(Error::Invalid { field, .. }) if field == "continue"),
        "{reused:?}"
    );
    // So is a crafted one naming another namespace's (or kind's) keys.
    let revision = page.resource_version;
    for start in ["/registry/pods/other/", "/registry/secrets/default/", "/registry/"] {
        let crafted =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{revision}\n{start}"));
        let read = default.list(&ListParams::default().continue_from(crafted)).await;
        assert!(
            matches!(&read, Err(Error::Invalid { field, .. }) if field == "continue"),
            "{start}: {read:?}"
        );
    }
    // A token of `default`'s own list pages through `default` only.
    let first = default.list(&ListParams::default().limit(1)).await.unwrap();
    let rest = default
        .list(&ListParams::default().continue_from(first.continue_token.unwrap()))
        .await
        .unwrap();
    let namespaces: Vec<&str> =
        first.items.iter().chain(&rest.items).map(|p| p.metadata.namespace.as_str()).collect();
    assert_eq!(namespaces, ["default"; 3]);
}

#[tokio::test]
async fn watch_delivers_added_modified_deleted_from_a_list() {
    let (_, api) = setup();
    api.create(&pod("before")).await.unwrap();
    let list = api.list(&ListParams::default()).await.unwrap();
    let mut w = api.watch(&WatchParams::default(), &list.resource_version).await.unwrap();

    let created = api.create(&pod("web-0")).await.unwrap();
    let changed = api.bind("web-0", "node-1", &Preconditions::default()).await.unwrap();
    // A bound pod is deleted gracefully: marked first, removed by a second,
    // forced delete (the node agent's).
    let marked = api.delete("web-0", &DeleteParams::default()).await.unwrap();
    assert!(!marked.is_deleted());
    let marked = marked.into_object();
    assert_eq!(marked.metadata.deletion_grace_period_seconds, Some(30));
    let force = DeleteParams { grace_period_seconds: Some(0), ..Default::default() };
    assert!(api.delete("web-0", &force).await.unwrap().is_deleted());

    match next_event(&mut w).await {
        WatchEvent::Added(p) => assert_eq!(p, created),
        other => panic!("{other:?}"),
    }
    match next_event(&mut w).await {
        WatchEvent::Modified(p) => assert_eq!(p, changed),
        other => panic!("{other:?}"),
    }
    match next_event(&mut w).await {
        WatchEvent::Modified(p) => assert_eq!(p, marked),
        other => panic!("{other:?}"),
    }
    match next_event(&mut w).await {
        WatchEvent::Deleted(p) => {
            assert_eq!(p.metadata.uid, created.metadata.uid);
            assert_eq!(p.spec.node_name.as_deref(), Some("node-1"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn watch_with_selectors_turns_matching_changes_into_added_and_deleted() {
    let (_, api) = setup();
    let mut w =
        api.watch(&WatchParams::default().fields("status.phase=Running"), "").await.unwrap();
    let p = api.create(&pod("web-0")).await.unwrap();
    let running = json!({"status": {"phase": "Running"}});
    let bound = api.patch_status("web-0", &running).await.unwrap();
    let relabelled =
        api.patch("web-0", &json!({"metadata": {"labels": {"x": "y"}}})).await.unwrap();
    let done = json!({"status": {"phase": "Succeeded"}});
    let moved = api.patch_status("web-0", &done).await.unwrap();
    assert_ne!(p.metadata.resource_version, bound.metadata.resource_version);
    match next_event(&mut w).await {
        WatchEvent::Added(p) => assert_eq!(p, bound, "starts matching: Added"),
        other => panic!("{other:?}"),
    }
    match next_event(&mut w).await {
        WatchEvent::Modified(p) => assert_eq!(p, relabelled),
        other => panic!("{other:?}"),
    }
    match next_event(&mut w).await {
        WatchEvent::Deleted(p) => assert_eq!(p, moved, "stops matching: Deleted"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn watch_from_a_compacted_version_is_gone_and_bookmarks_carry_progress() {
    let store = Arc::new(MemStore::with_config(
        orch_store::MemStoreConfig::default().progress_notify_interval(Duration::from_millis(20)),
    ));
    let api: Api<Pod> = Api::namespaced(store.clone(), "default");
    let first = api.create(&pod("web-0")).await.unwrap();
    api.create(&pod("web-1")).await.unwrap();
    api.create(&pod("web-2")).await.unwrap();
    store.compact(store.revision()).await.unwrap();
    let mut w = api.watch(&WatchParams::default(), &first.metadata.resource_version).await.unwrap();
    let gone = tokio::time::timeout(DEADLINE, w.next()).await.unwrap();
    assert!(matches!(gone, Some(Err(Error::Gone { .. }))), "{gone:?}");

    let mut w = api.watch(&WatchParams::default().bookmarks(), "").await.unwrap();
    match next_event(&mut w).await {
        WatchEvent::Bookmark { resource_version } => {
            assert_eq!(resource_version, store.revision().to_string())
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(api.watch(&WatchParams::default(), "abc").await, Err(Error::Invalid { .. })));
}
