//! Bad input refused with the field named and nothing stored changed, and
//! cluster-scoped kinds.

use super::*;

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
        (
            {
                use orch_core::kinds::pod::{ExecAction, Lifecycle, LifecycleHandler, SleepAction};
                let mut p = pod("x");
                p.spec.containers[0].lifecycle = Some(Lifecycle {
                    post_start: None,
                    pre_stop: Some(LifecycleHandler {
                        exec: Some(ExecAction { command: vec!["true".into()] }),
                        sleep: Some(SleepAction { seconds: 1 }),
                        ..Default::default()
                    }),
                });
                p
            },
            "spec.containers[0].lifecycle.preStop",
        ),
        (
            {
                use orch_core::kinds::pod::{EnvFromRef, EnvFromSource};
                let mut p = pod("x");
                let both = EnvFromRef { name: "a".into(), optional: None };
                p.spec.containers[0].env_from = vec![EnvFromSource {
                    prefix: None,
                    config_map_ref: Some(both.clone()),
                    secret_ref: Some(both),
                }];
                p
            },
            "spec.containers[0].envFrom[0]",
        ),
        (
            {
                use orch_core::kinds::pod::{EnvFromRef, EnvFromSource};
                let mut p = pod("x");
                p.spec.containers[0].env_from = vec![EnvFromSource {
                    prefix: Some("A=".into()),
                    config_map_ref: Some(EnvFromRef { name: "a".into(), optional: None }),
                    secret_ref: None,
                }];
                p
            },
            "spec.containers[0].envFrom[0].prefix",
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
