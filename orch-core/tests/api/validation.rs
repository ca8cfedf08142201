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
async fn volumes_and_mounts_are_validated_as_kubernetes() {
    use orch_core::kinds::pod::{
        ConfigMapVolumeSource, EmptyDirVolumeSource, KeyToPath, SecretVolumeSource, Volume,
        VolumeMount,
    };
    let (_store, api) = setup();
    let config_map = |items: Vec<KeyToPath>, default_mode| Volume {
        name: "cfg".into(),
        config_map: Some(ConfigMapVolumeSource {
            name: "app".into(),
            items,
            default_mode,
            optional: None,
        }),
        ..Default::default()
    };
    let item = |path: &str, mode| KeyToPath { key: "k".into(), path: path.into(), mode };
    let mount = |name: &str, path: &str| VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        ..Default::default()
    };
    let with = |volumes: Vec<Volume>, mounts: Vec<VolumeMount>| {
        let mut p = pod("v");
        p.spec.volumes = volumes;
        p.spec.containers[0].volume_mounts = mounts;
        p
    };

    // A pod using every supported source is accepted.
    let secret = Volume {
        name: "creds".into(),
        secret: Some(SecretVolumeSource {
            secret_name: "db".into(),
            items: vec![item("nested/dir/pw", Some(0o400))],
            default_mode: Some(0o440),
            optional: Some(true),
        }),
        ..Default::default()
    };
    let scratch = Volume {
        name: "scratch".into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    };
    let good = with(
        vec![config_map(vec![item("app.conf", Some(0o777))], Some(0)), secret, scratch],
        vec![mount("cfg", "/etc/config"), mount("creds", "/etc/creds"), mount("scratch", "/tmp")],
    );
    api.create(&good).await.unwrap();

    let cases: Vec<(Pod, &str, &str)> = vec![
        (
            with(vec![Volume { name: "Bad_Name".into(), ..config_map(vec![], None) }], vec![]),
            "spec.volumes[0].name",
            "lower case alphanumeric",
        ),
        (
            with(vec![config_map(vec![], None), config_map(vec![], None)], vec![]),
            "spec.volumes[1].name",
            "duplicate volume name \"cfg\"",
        ),
        (
            with(vec![Volume { name: "none".into(), ..Default::default() }], vec![]),
            "spec.volumes[0]",
            "must specify a volume type",
        ),
        (
            with(
                vec![Volume { empty_dir: Some(Default::default()), ..config_map(vec![], None) }],
                vec![],
            ),
            "spec.volumes[0]",
            "may not specify more than 1 volume type",
        ),
        (
            with(vec![config_map(vec![], Some(0o1000))], vec![]),
            "spec.volumes[0].configMap.defaultMode",
            "between 0 and 0777",
        ),
        (
            with(vec![config_map(vec![], Some(-1))], vec![]),
            "spec.volumes[0].configMap.defaultMode",
            "between 0 and 0777",
        ),
        (
            with(vec![config_map(vec![item("a", Some(0o1777))], None)], vec![]),
            "spec.volumes[0].configMap.items[0].mode",
            "between 0 and 0777",
        ),
        (
            with(vec![config_map(vec![item("/etc/passwd", None)], None)], vec![]),
            "spec.volumes[0].configMap.items[0].path",
            "must be a relative path",
        ),
        (
            with(vec![config_map(vec![item("a/../../b", None)], None)], vec![]),
            "spec.volumes[0].configMap.items[0].path",
            "must not contain '..'",
        ),
        (
            with(vec![config_map(vec![item("..data", None)], None)], vec![]),
            "spec.volumes[0].configMap.items[0].path",
            "must not start with '..'",
        ),
        (
            with(vec![config_map(vec![item("", None)], None)], vec![]),
            "spec.volumes[0].configMap.items[0].path",
            "required",
        ),
        (
            with(
                vec![config_map(
                    vec![KeyToPath { key: String::new(), path: "p".into(), mode: None }],
                    None,
                )],
                vec![],
            ),
            "spec.volumes[0].configMap.items[0].key",
            "required",
        ),
        (
            with(
                vec![Volume {
                    name: "s".into(),
                    secret: Some(Default::default()),
                    ..Default::default()
                }],
                vec![],
            ),
            "spec.volumes[0].secret.secretName",
            "required",
        ),
        (
            with(vec![config_map(vec![], None)], vec![mount("other", "/x")]),
            "spec.containers[0].volumeMounts[0].name",
            "not found",
        ),
        (
            with(vec![config_map(vec![], None)], vec![mount("cfg", "")]),
            "spec.containers[0].volumeMounts[0].mountPath",
            "required",
        ),
        (
            with(vec![config_map(vec![], None)], vec![mount("cfg", "/x"), mount("cfg", "/x")]),
            "spec.containers[0].volumeMounts[1].mountPath",
            "must be unique",
        ),
        (
            with(
                vec![config_map(vec![], None)],
                vec![VolumeMount { sub_path: Some("../up".into()), ..mount("cfg", "/x") }],
            ),
            "spec.containers[0].volumeMounts[0].subPath",
            "must not contain '..'",
        ),
    ];
    for (bad, field_wanted, reason_wanted) in cases {
        match api.create(&bad).await {
            Err(Error::Invalid { field, reason, .. }) => {
                assert_eq!(field, field_wanted);
                assert!(reason.contains(reason_wanted), "{field}: {reason}");
            }
            other => panic!("{field_wanted}: expected Invalid, got {other:?}"),
        }
    }

    // Volumes are fixed at create, as every other field but images.
    let mut changed = api.get("v").await.unwrap();
    changed.spec.volumes[0].config_map.as_mut().unwrap().default_mode = Some(0o600);
    assert!(
        matches!(api.replace(&changed).await, Err(Error::Invalid { ref field, .. }) if field == "spec")
    );
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
