//! Writes: create (server-set fields, generateName), replace and its
//! optimistic concurrency, the status subresource, merge patch, and the
//! Pod binding.

use super::*;

#[tokio::test]
async fn create_sets_server_fields_and_get_reads_them_back() {
    let (store, api) = setup();
    let created = api.create(&pod("web-0")).await.unwrap();
    let m = &created.metadata;
    assert_eq!(m.namespace, "default");
    assert_eq!(m.generation, 1);
    assert!(!m.uid.is_empty());
    assert!(m.creation_timestamp.is_some());
    assert_eq!(m.resource_version, store.revision().to_string());
    assert_eq!((created.api_version.as_str(), created.kind.as_str()), ("v1", "Pod"));
    assert_eq!(api.get("web-0").await.unwrap(), created);
    // Stored under the documented key, without the resourceVersion.
    let raw = store
        .range(RangeRequest::new(KeyRange::key("/registry/core/pods/default/web-0")))
        .await
        .unwrap();
    let text = std::str::from_utf8(&raw.kvs[0].value).unwrap();
    assert!(!text.contains("resourceVersion"), "{text}");

    let again = api.create(&pod("web-0")).await;
    assert!(
        matches!(&again, Err(Error::AlreadyExists { object }) if object == "pods/default/web-0"),
        "{again:?}"
    );
    let missing = api.get("nope").await;
    assert!(
        matches!(&missing, Err(Error::NotFound { object }) if object == "pods/default/nope"),
        "{missing:?}"
    );
    assert!(api.get_opt("nope").await.unwrap().is_none());
}

#[tokio::test]
async fn generate_name_picks_distinct_names() {
    let (_, api) = setup();
    let mut template = pod("");
    template.metadata.generate_name = "web-".into();
    let a = api.create(&template).await.unwrap();
    let b = api.create(&template).await.unwrap();
    assert!(
        a.metadata.name.starts_with("web-") && a.metadata.name.len() == 9,
        "{}",
        a.metadata.name
    );
    assert_ne!(a.metadata.name, b.metadata.name);
    let nameless = api.create(&pod("")).await;
    assert!(
        matches!(nameless, Err(Error::Invalid { ref field, .. }) if field == "metadata.name"),
        "{nameless:?}"
    );
}

#[tokio::test]
async fn replace_is_optimistic_and_bumps_generation_only_for_spec_changes() {
    let (store, api) = setup();
    let v1 = api.create(&pod("web-0")).await.unwrap();

    let mut labels_only = v1.clone();
    labels_only.metadata.labels.insert("tier".into(), "a".into());
    let v2 = api.replace(&labels_only).await.unwrap();
    assert_eq!(v2.metadata.generation, 1, "metadata changes keep the generation");
    assert_eq!(v2.metadata.uid, v1.metadata.uid);

    let mut spec_change = v2.clone();
    spec_change.spec.containers[0].image = "myapp:1.5.0".into();
    let v3 = api.replace(&spec_change).await.unwrap();
    assert_eq!(v3.metadata.generation, 2, "spec changes bump the generation");

    // A stale resourceVersion is a Conflict and changes nothing.
    let before = snapshot(&store).await;
    let mut stale = v1.clone();
    stale.spec.containers[0].image = "evil:0".into();
    match api.replace(&stale).await {
        Err(Error::Conflict { object, expected, actual }) => {
            assert_eq!(object, "pods/default/web-0");
            assert_eq!(expected, v1.metadata.resource_version);
            assert_eq!(actual, v3.metadata.resource_version);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(snapshot(&store).await, before);

    // Without a resourceVersion the write is unconditional.
    let mut blind = v3.clone();
    blind.metadata.resource_version.clear();
    blind.spec.containers[0].image = "myapp:1.6.0".into();
    assert_eq!(api.replace(&blind).await.unwrap().metadata.generation, 3);

    // A replace that changes nothing writes nothing.
    let current = api.get("web-0").await.unwrap();
    let revision = store.revision();
    let same = api.replace(&current).await.unwrap();
    assert_eq!(same.metadata.resource_version, current.metadata.resource_version);
    assert_eq!(store.revision(), revision);

    // Server-set metadata cannot be overwritten.
    let mut forged = api.get("web-0").await.unwrap();
    forged.metadata.generation = 99;
    forged.metadata.creation_timestamp = None;
    let kept = api.replace(&forged).await.unwrap();
    assert_eq!(kept.metadata.generation, 3);
    assert_eq!(kept.metadata.creation_timestamp, v1.metadata.creation_timestamp);
    let mut wrong_uid = api.get("web-0").await.unwrap();
    wrong_uid.metadata.uid = "someone-else".into();
    assert!(api.replace(&wrong_uid).await.unwrap_err().is_conflict());
}

#[tokio::test]
async fn status_is_a_subresource() {
    let (_, api) = setup();
    let created = api.create(&pod("web-0")).await.unwrap();

    let mut with_status = created.clone();
    with_status.status = Some(PodStatus {
        phase: Some(PodPhase::Running),
        pod_ip: Some("127.0.1.5".into()),
        ..Default::default()
    });
    with_status.spec.containers[0].image = "ignored:9".into();
    let updated = api.replace_status(&with_status).await.unwrap();
    assert_eq!(updated.status.as_ref().unwrap().phase, Some(PodPhase::Running));
    assert_eq!(updated.spec.containers[0].image, "myapp:1.4.0", "status writes leave the spec");
    assert_eq!(updated.metadata.generation, 1, "status writes keep the generation");

    let mut spec_write = updated.clone();
    spec_write.status = None;
    spec_write.metadata.labels.insert("x".into(), "y".into());
    let after = api.replace(&spec_write).await.unwrap();
    assert_eq!(after.status, updated.status, "main writes keep the status");

    let patched =
        api.patch_status("web-0", &json!({"status": {"phase": "Succeeded"}})).await.unwrap();
    let status = patched.status.unwrap();
    assert_eq!(status.phase, Some(PodPhase::Succeeded));
    assert_eq!(status.pod_ip.as_deref(), Some("127.0.1.5"), "merge patch keeps other fields");
}

#[tokio::test]
async fn merge_patch_follows_rfc_7386() {
    let (store, api) = setup();
    let created = api.create(&pod("web-0")).await.unwrap();
    let patched = api
        .patch(
            "web-0",
            &json!({
                "metadata": {"labels": {"app": null, "tier": "a"}},
                "spec": {"tolerations": [{"key": "a", "operator": "Exists"}]},
            }),
        )
        .await
        .unwrap();
    assert!(!patched.metadata.labels.contains_key("app"), "null removes");
    assert_eq!(patched.metadata.labels["tier"], "a");
    assert_eq!(patched.spec.tolerations[0].key.as_deref(), Some("a"));
    assert_eq!(patched.spec.containers, created.spec.containers, "untouched fields stay");
    assert_eq!(patched.metadata.generation, 2);

    // A resourceVersion in the patch is a precondition.
    let stale = api
        .patch("web-0", &json!({"metadata": {"resourceVersion": created.metadata.resource_version}, "spec": {"nodeName": "x"}}))
        .await;
    assert!(matches!(stale, Err(Error::Conflict { .. })), "{stale:?}");

    // A patch that breaks the schema names the field; nothing changes.
    let before = snapshot(&store).await;
    match api.patch("web-0", &json!({"spec": {"containers": "not a list"}})).await {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, "spec.containers"),
        other => panic!("{other:?}"),
    }
    match api.patch("web-0", &json!({"metadata": {"name": "renamed"}})).await {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, "metadata.name"),
        other => panic!("{other:?}"),
    }
    assert_eq!(snapshot(&store).await, before);
    assert!(api.patch("nope", &json!({})).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn configmaps_have_no_status_and_round_trip_binary_data() {
    let store = Arc::new(MemStore::new());
    let api: Api<ConfigMap> = Api::namespaced(store, "default");
    let mut cm = ConfigMap { metadata: ObjectMeta::named("cfg"), ..Default::default() };
    cm.data.insert("a".into(), "1".into());
    cm.binary_data.insert("b".into(), orch_core::ByteString(vec![0, 159, 255]));
    let created = api.create(&cm).await.unwrap();
    assert_eq!(api.get("cfg").await.unwrap().binary_data, created.binary_data);
}

#[tokio::test]
async fn binding_sets_the_node_and_pod_scheduled_in_one_write() {
    let (store, api) = setup();
    let created = api.create(&pod("web-0")).await.unwrap();
    let before = store.revision();
    let exactly = |meta: &ObjectMeta| Preconditions {
        uid: Some(meta.uid.clone()),
        resource_version: Some(meta.resource_version.clone()),
    };
    let bound = api.bind("web-0", "node-1", &exactly(&created.metadata)).await.unwrap();
    assert_eq!(store.revision(), before + 1, "one write");
    assert_eq!(bound.spec.node_name.as_deref(), Some("node-1"));
    let status = bound.status.unwrap();
    assert_eq!(status.phase, Some(PodPhase::Pending));
    let scheduled = status.conditions.iter().find(|c| c.type_ == "PodScheduled").unwrap();
    assert_eq!(scheduled.status, "True");
    // Already bound: a second binding conflicts, whatever the node.
    assert!(api
        .bind("web-0", "node-2", &Preconditions::default())
        .await
        .unwrap_err()
        .is_conflict());
    // A stale resourceVersion conflicts too, and nothing changes.
    api.create(&pod("web-1")).await.unwrap();
    api.patch("web-1", &json!({"metadata": {"labels": {"x": "1"}}})).await.unwrap();
    let stale = Preconditions {
        resource_version: Some(created.metadata.resource_version.clone()),
        ..Default::default()
    };
    assert!(api.bind("web-1", "node-1", &stale).await.unwrap_err().is_conflict());
    assert_eq!(api.get("web-1").await.unwrap().spec.node_name, None);
    // A pod re-created under the same name is another pod: a binding for
    // the old one (its uid) conflicts.
    let old = api.get("web-1").await.unwrap();
    api.delete("web-1", &DeleteParams { grace_period_seconds: Some(0), ..Default::default() })
        .await
        .unwrap();
    api.create(&pod("web-1")).await.unwrap();
    let for_old = Preconditions { uid: Some(old.metadata.uid.clone()), ..Default::default() };
    let err = api.bind("web-1", "node-1", &for_old).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(api.get("web-1").await.unwrap().spec.node_name, None);
}
