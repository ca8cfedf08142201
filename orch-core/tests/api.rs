//! The typed Api over MemStore: Kubernetes' semantics for create, read,
//! update, patch, delete, list and watch, and bad input refused with nothing
//! stored changed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::{Stream, StreamExt};
use orch_core::admission::{
    AdmissionChain, AdmissionRequest, MutatingHook, Operation, ValidatingHook,
};
use orch_core::api::{
    DeleteOutcome, DeleteParams, ListParams, Preconditions, WatchEvent, WatchParams,
};
use orch_core::kinds::pod::{Container, PodPhase, PodSpec, PodStatus};
use orch_core::store::{KeyRange, RangeRequest, Store};
use orch_core::{impl_resource, Api, ConfigMap, Error, Node, ObjectMeta, Pod, Resource};
use orch_store::MemStore;
use serde::{Deserialize, Serialize};
use serde_json::json;

const DEADLINE: Duration = Duration::from_secs(10);

fn pod(name: &str) -> Pod {
    Pod {
        metadata: ObjectMeta::named(name).with_label("app", "web"),
        spec: PodSpec {
            containers: vec![Container {
                name: "web".into(),
                image: "myapp:1.4.0".into(),
                ..Default::default()
            }],
            ..Default::default()
        },
        ..Default::default()
    }
}

fn setup() -> (Arc<MemStore>, Api<Pod>) {
    let store = Arc::new(MemStore::new());
    let api = Api::namespaced(store.clone(), "default");
    (store, api)
}

async fn next_event<S>(stream: &mut S) -> WatchEvent<Pod>
where
    S: Stream<Item = orch_core::Result<WatchEvent<Pod>>> + Unpin,
{
    tokio::time::timeout(DEADLINE, stream.next())
        .await
        .expect("a watch event within the deadline")
        .expect("the stream is open")
        .expect("no watch error")
}

/// The raw bytes of every key under /registry, to show nothing changed.
async fn snapshot(store: &MemStore) -> Vec<(Vec<u8>, Vec<u8>, i64)> {
    store
        .range(RangeRequest::new(KeyRange::prefix("/registry/")))
        .await
        .unwrap()
        .kvs
        .into_iter()
        .map(|kv| (kv.key.to_vec(), kv.value.to_vec(), kv.mod_revision))
        .collect()
}

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
            &json!({"metadata": {"labels": {"app": null, "tier": "a"}}, "spec": {"nodeName": "node-1"}}),
        )
        .await
        .unwrap();
    assert!(!patched.metadata.labels.contains_key("app"), "null removes");
    assert_eq!(patched.metadata.labels["tier"], "a");
    assert_eq!(patched.spec.node_name.as_deref(), Some("node-1"));
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
async fn delete_honours_finalizers() {
    let (_, api) = setup();
    let mut p = pod("web-0");
    p.metadata.finalizers = vec!["example.com/cleanup".into()];
    api.create(&p).await.unwrap();

    let pending = match api.delete("web-0", &DeleteParams::default()).await.unwrap() {
        DeleteOutcome::Finalizing(p) => p,
        other => panic!("{other:?}"),
    };
    assert!(pending.metadata.deletion_timestamp.is_some());
    assert_eq!(pending.metadata.deletion_grace_period_seconds, Some(0));
    assert!(api.get("web-0").await.unwrap().metadata.is_deleting());
    // Deleting again changes nothing.
    assert!(!api.delete("web-0", &DeleteParams::default()).await.unwrap().is_deleted());

    // Removing the last finalizer removes the object.
    let mut done = api.get("web-0").await.unwrap();
    done.metadata.finalizers.clear();
    api.replace(&done).await.unwrap();
    assert!(api.get_opt("web-0").await.unwrap().is_none());

    // Without finalizers, delete removes at once and returns the last state.
    let created = api.create(&pod("web-1")).await.unwrap();
    match api.delete("web-1", &DeleteParams::default()).await.unwrap() {
        DeleteOutcome::Deleted(last) => {
            assert_eq!(last.metadata.uid, created.metadata.uid);
            assert!(
                last.metadata.resource_version.parse::<i64>().unwrap()
                    > created.metadata.resource_version.parse::<i64>().unwrap()
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(api.delete("web-1", &DeleteParams::default()).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn delete_preconditions_and_propagation_policies() {
    let (_, api) = setup();
    let created = api.create(&pod("web-0")).await.unwrap();
    let wrong_uid = DeleteParams {
        preconditions: Some(Preconditions { uid: Some("other".into()), resource_version: None }),
        ..Default::default()
    };
    assert!(api.delete("web-0", &wrong_uid).await.unwrap_err().is_conflict());
    let stale_rv = DeleteParams {
        preconditions: Some(Preconditions { uid: None, resource_version: Some("1".into()) }),
        ..Default::default()
    };
    assert!(api.delete("web-0", &stale_rv).await.unwrap_err().is_conflict());
    assert!(api.get_opt("web-0").await.unwrap().is_some());

    let orphaned = api.delete("web-0", &DeleteParams::orphan()).await.unwrap();
    assert_eq!(orphaned.into_object().metadata.finalizers, ["orphan"]);
    api.create(&pod("web-1")).await.unwrap();
    let foreground = api.delete("web-1", &DeleteParams::foreground()).await.unwrap();
    assert_eq!(foreground.into_object().metadata.finalizers, ["foregroundDeletion"]);
    let exact = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some(created.metadata.uid.clone()),
            resource_version: None,
        }),
        ..Default::default()
    };
    assert!(!api.delete("web-0", &exact).await.unwrap().is_deleted(), "still finalizing");
}

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
async fn watch_delivers_added_modified_deleted_from_a_list() {
    let (_, api) = setup();
    api.create(&pod("before")).await.unwrap();
    let list = api.list(&ListParams::default()).await.unwrap();
    let mut w = api.watch(&WatchParams::default(), &list.resource_version).await.unwrap();

    let created = api.create(&pod("web-0")).await.unwrap();
    let mut changed = created.clone();
    changed.spec.node_name = Some("node-1".into());
    let changed = api.replace(&changed).await.unwrap();
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
        api.watch(&WatchParams::default().fields("spec.nodeName=node-1"), "").await.unwrap();
    let p = api.create(&pod("web-0")).await.unwrap();
    let bound = api.patch("web-0", &json!({"spec": {"nodeName": "node-1"}})).await.unwrap();
    let relabelled =
        api.patch("web-0", &json!({"metadata": {"labels": {"x": "y"}}})).await.unwrap();
    let moved = api.patch("web-0", &json!({"spec": {"nodeName": "node-2"}})).await.unwrap();
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

#[tokio::test]
async fn invalid_objects_are_refused_with_the_field_named_and_nothing_stored() {
    let (store, api) = setup();
    api.create(&pod("keep")).await.unwrap();
    let before = snapshot(&store).await;

    let cases: Vec<(Pod, &str)> = vec![
        (pod("Upper_Case"), "metadata.name"),
        (
            {
                let mut p = pod("x");
                p.metadata.labels.insert("bad key!".into(), "v".into());
                p
            },
            "metadata.labels[\"bad key!\"]",
        ),
        (
            {
                let mut p = pod("x");
                p.metadata.labels.insert("k".into(), "-bad".into());
                p
            },
            "metadata.labels[\"k\"]",
        ),
        (
            {
                let mut p = pod("x");
                p.spec.containers.clear();
                p
            },
            "spec.containers",
        ),
        (
            {
                let mut p = pod("x");
                p.spec.containers[0].name = "Bad_Name".into();
                p
            },
            "spec.containers[0].name",
        ),
        (
            {
                let mut p = pod("x");
                p.spec.containers.push(p.spec.containers[0].clone());
                p
            },
            "spec.containers[1].name",
        ),
        (
            {
                let mut p = pod("x");
                p.metadata.resource_version = "5".into();
                p
            },
            "metadata.resourceVersion",
        ),
        (
            {
                let mut p = pod("x");
                p.api_version = "apps/v1".into();
                p
            },
            "apiVersion",
        ),
        (
            {
                let mut p = pod("x");
                p.metadata.namespace = "other".into();
                p
            },
            "metadata.namespace",
        ),
        (
            {
                let mut p = pod("x");
                p.spec.containers[0].resources =
                    Some(orch_core::kinds::pod::ResourceRequirements {
                        requests: [("cpu".to_string(), "lots".into())].into(),
                        ..Default::default()
                    });
                p
            },
            "spec.containers[0].resources.requests.cpu",
        ),
    ];
    for (bad, field_wanted) in cases {
        match api.create(&bad).await {
            Err(Error::Invalid { object, field, .. }) => {
                assert!(object.starts_with("pods/"), "{object}");
                assert_eq!(field, field_wanted);
            }
            other => panic!("{field_wanted}: expected Invalid, got {other:?}"),
        }
    }

    let mut huge = pod("huge");
    huge.metadata.annotations.insert("blob".into(), "x".repeat(200 * 1024));
    huge.spec.containers[0].args = vec!["y".repeat(1024 * 1024); 2];
    match api.create(&huge).await {
        Err(Error::TooLarge { object, size_bytes, limit_bytes }) => {
            assert_eq!(object, "pods/default/huge");
            assert!(size_bytes > limit_bytes);
            assert_eq!(limit_bytes, 1536 * 1024);
        }
        other => panic!("{other:?}"),
    }
    let mut big_annotations = pod("annotated");
    big_annotations.metadata.annotations.insert("blob".into(), "x".repeat(300 * 1024));
    assert!(
        matches!(api.create(&big_annotations).await, Err(Error::Invalid { ref field, .. }) if field == "metadata.annotations")
    );

    // Bad updates are refused too.
    let mut bad_update = api.get("keep").await.unwrap();
    bad_update.spec.containers[0].image = String::new();
    assert!(
        matches!(api.replace(&bad_update).await, Err(Error::Invalid { ref field, .. }) if field == "spec.containers[0].image")
    );
    assert_eq!(snapshot(&store).await, before, "nothing stored changed");
}

#[tokio::test]
async fn cluster_scoped_kinds_have_no_namespace() {
    let store = Arc::new(MemStore::new());
    let nodes: Api<Node> = Api::all(store.clone());
    let node = Node { metadata: ObjectMeta::named("node-1"), ..Default::default() };
    let created = nodes.create(&node).await.unwrap();
    assert_eq!(created.metadata.namespace, "");
    let raw =
        store.range(RangeRequest::new(KeyRange::key("/registry/core/nodes/node-1"))).await.unwrap();
    assert_eq!(raw.count, 1);
    let mut namespaced = node.clone();
    namespaced.metadata.name = "node-2".into();
    namespaced.metadata.namespace = "default".into();
    // As kube-apiserver, a namespace on a cluster-scoped object is cleared.
    assert_eq!(nodes.create(&namespaced).await.unwrap().metadata.namespace, "");
    assert_eq!(nodes.get("node-2").await.unwrap().metadata.namespace, "");
}

// ---- admission

struct AddTeamLabel;

#[async_trait]
impl MutatingHook for AddTeamLabel {
    fn name(&self) -> &str {
        "add-team-label"
    }
    async fn mutate(
        &self,
        _req: &AdmissionRequest<'_>,
        object: &mut serde_json::Value,
    ) -> Result<(), String> {
        let meta =
            object.pointer_mut("/metadata").and_then(|m| m.as_object_mut()).ok_or("no metadata")?;
        let labels = meta.entry("labels").or_insert_with(|| json!({}));
        labels.as_object_mut().ok_or("labels")?.insert("team".into(), json!("platform"));
        Ok(())
    }
}

struct DenyLatestAndProtected {
    seen: Arc<AtomicUsize>,
}

#[async_trait]
impl ValidatingHook for DenyLatestAndProtected {
    fn name(&self) -> &str {
        "deny-latest"
    }
    async fn validate(
        &self,
        req: &AdmissionRequest<'_>,
        object: Option<&serde_json::Value>,
    ) -> Result<(), String> {
        self.seen.fetch_add(1, Ordering::SeqCst);
        if req.operation == Operation::Delete {
            let protected =
                req.old_object.and_then(|o| o.pointer("/metadata/labels/protected")).is_some();
            return if protected {
                Err("protected objects cannot be deleted".into())
            } else {
                Ok(())
            };
        }
        let image = object
            .and_then(|o| o.pointer("/spec/containers/0/image"))
            .and_then(|i| i.as_str())
            .unwrap_or("");
        if image.ends_with(":latest") {
            return Err(format!("image {image} uses the latest tag"));
        }
        // Mutating hooks ran before validating ones.
        match object.and_then(|o| o.pointer("/metadata/labels/team")) {
            Some(_) => Ok(()),
            None => Err("mutating hooks did not run first".into()),
        }
    }
}

#[tokio::test]
async fn admission_hooks_mutate_then_validate_on_create_update_and_delete() {
    let store = Arc::new(MemStore::new());
    let seen = Arc::new(AtomicUsize::new(0));
    let chain = AdmissionChain::new()
        .mutating(AddTeamLabel)
        .validating(DenyLatestAndProtected { seen: seen.clone() });
    let api: Api<Pod> = Api::namespaced(store.clone(), "default").with_admission(chain);

    let created = api.create(&pod("web-0")).await.unwrap();
    assert_eq!(created.metadata.labels["team"], "platform");
    assert_eq!(api.get("web-0").await.unwrap().metadata.labels["team"], "platform");

    let mut latest = pod("web-1");
    latest.spec.containers[0].image = "myapp:latest".into();
    match api.create(&latest).await {
        Err(Error::AdmissionDenied { hook, operation, object, reason }) => {
            assert_eq!(
                (hook.as_str(), operation.as_str(), object.as_str()),
                ("deny-latest", "CREATE", "pods/default/web-1")
            );
            assert!(reason.contains("latest"));
        }
        other => panic!("{other:?}"),
    }
    assert!(api.get_opt("web-1").await.unwrap().is_none());

    let mut update = created.clone();
    update.spec.containers[0].image = "myapp:latest".into();
    assert!(
        matches!(api.replace(&update).await, Err(Error::AdmissionDenied { ref operation, .. }) if operation == "UPDATE")
    );

    api.patch("web-0", &json!({"metadata": {"labels": {"protected": "yes"}}})).await.unwrap();
    assert!(
        matches!(api.delete("web-0", &DeleteParams::default()).await, Err(Error::AdmissionDenied { ref operation, .. }) if operation == "DELETE")
    );
    assert!(api.get_opt("web-0").await.unwrap().is_some());
    assert!(seen.load(Ordering::SeqCst) >= 5);
}

// ---- an embedder-defined kind (the CRD equivalent)

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GameServer {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    kind: String,
    #[serde(default)]
    metadata: ObjectMeta,
    #[serde(default)]
    spec: GameServerSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<GameServerStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GameServerSpec {
    map: String,
    max_players: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GameServerStatus {
    players: u32,
}

fn game_server_fields(gs: &GameServer, path: &str) -> Option<String> {
    (path == "spec.map").then(|| gs.spec.map.clone())
}

fn validate_game_server(gs: &GameServer, errors: &mut orch_core::validation::FieldErrors) {
    if gs.spec.max_players == 0 {
        errors.push("spec.maxPlayers", "must be at least 1");
    }
}

impl_resource!(GameServer {
    group: "games.example.com",
    version: "v1",
    kind: "GameServer",
    plural: "gameservers",
    namespaced: true,
    status_subresource: true,
    fields: game_server_fields,
    validate: validate_game_server,
});

#[tokio::test]
async fn embedder_defined_kinds_work_like_built_in_ones() {
    let store = Arc::new(MemStore::new());
    let api: Api<GameServer> = Api::namespaced(store.clone(), "games");
    let gs = GameServer {
        metadata: ObjectMeta::named("arena-1"),
        spec: GameServerSpec { map: "dust".into(), max_players: 16 },
        ..Default::default()
    };
    let created = api.create(&gs).await.unwrap();
    assert_eq!(created.api_version, "games.example.com/v1");
    let raw = store
        .range(RangeRequest::new(KeyRange::key(
            "/registry/games.example.com/gameservers/games/arena-1",
        )))
        .await
        .unwrap();
    assert_eq!(raw.count, 1);

    let mut status = created.clone();
    status.status = Some(GameServerStatus { players: 3 });
    api.replace_status(&status).await.unwrap();
    assert_eq!(api.get("arena-1").await.unwrap().status, Some(GameServerStatus { players: 3 }));

    let on_dust = api.list(&ListParams::default().fields("spec.map=dust")).await.unwrap();
    assert_eq!(on_dust.items.len(), 1);

    let empty = GameServer { metadata: ObjectMeta::named("arena-2"), ..Default::default() };
    assert!(
        matches!(api.create(&empty).await, Err(Error::Invalid { ref field, .. }) if field == "spec.maxPlayers")
    );

    // Manifests can name it once registered.
    let mut registry = orch_core::manifest::Registry::builtin();
    registry.register::<GameServer>();
    let docs = orch_core::manifest::parse(
        "apiVersion: games.example.com/v1\nkind: GameServer\nmetadata: {name: arena-3}\nspec: {map: mirage, maxPlayers: 10}\n",
        &registry,
    )
    .unwrap();
    let parsed: GameServer = docs[0].parse().unwrap();
    assert_eq!(parsed.spec.max_players, 10);
    assert_eq!(GameServer::api_resource().plural, "gameservers");
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
