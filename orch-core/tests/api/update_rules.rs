//! What an update may not change (Kubernetes' `ValidateUpdate`): refused as
//! `Invalid` naming the field, "field is immutable", with nothing stored
//! changed; and a Secret's write-only `stringData`.

use orch_core::kinds::pod::Toleration;
use orch_core::meta::LabelSelector;
use orch_core::{Deployment, ReplicaSet, Secret};

use super::*;

/// `result` is `Invalid` naming `field` with a reason containing `reason`.
fn assert_invalid<T: std::fmt::Debug>(result: orch_core::Result<T>, field: &str, reason: &str) {
    match &result {
        Err(Error::Invalid { field: f, reason: r, .. }) if f == field && r.contains(reason) => {}
        other => panic!("expected {field}: {reason}, got {other:?}"),
    }
}

fn toleration(key: &str) -> Toleration {
    Toleration { key: Some(key.into()), operator: Some("Exists".into()), ..Default::default() }
}

#[tokio::test]
async fn a_pods_spec_is_fixed_but_for_images_and_added_tolerations() {
    let (store, api) = setup();
    let mut p = pod("web-0");
    p.spec.tolerations = vec![toleration("a")];
    let created = api.create(&p).await.unwrap();

    // Allowed: a new image, an added toleration; metadata changes.
    let mut changed = created.clone();
    changed.spec.containers[0].image = "myapp:1.5.0".into();
    changed.spec.tolerations.push(toleration("b"));
    changed.metadata.labels.insert("tier".into(), "front".into());
    let updated = api.replace(&changed).await.unwrap();
    assert_eq!(updated.spec.containers[0].image, "myapp:1.5.0");
    assert_eq!(updated.spec.tolerations.len(), 2);

    let before = snapshot(&store).await;
    let mut restart = updated.clone();
    restart.spec.restart_policy = Some(orch_core::kinds::pod::RestartPolicy::Never);
    assert_invalid(api.replace(&restart).await, "spec", "field is immutable");
    let mut removed = updated.clone();
    removed.spec.tolerations.remove(0);
    assert_invalid(api.replace(&removed).await, "spec.tolerations", "may not be removed");
    let mut renamed = updated.clone();
    renamed.spec.containers[0].name = "other".into();
    assert_invalid(api.replace(&renamed).await, "spec", "field is immutable");
    let added = json!({"spec": {"nodeSelector": {"disk": "ssd"}}});
    assert_invalid(api.patch("web-0", &added).await, "spec", "field is immutable");
    assert_eq!(snapshot(&store).await, before, "a refused update changed the store");

    // The binding is the one way to set the node; status writes are free.
    api.bind("web-0", "node-1", &Default::default()).await.unwrap();
    let status = json!({"status": {"phase": "Running"}});
    api.patch_status("web-0", &status).await.unwrap();
}

#[tokio::test]
async fn name_and_namespace_are_immutable() {
    let (_, api) = setup();
    api.create(&pod("web-0")).await.unwrap();
    let rename = json!({"metadata": {"name": "web-1"}});
    assert_invalid(api.patch("web-0", &rename).await, "metadata.name", "field is immutable");
    let other = json!({"metadata": {"namespace": "other"}});
    assert_invalid(api.patch("web-0", &other).await, "metadata.namespace", "field is immutable");
    // The uid stays the stored one whatever a patch says.
    let uid = api.get("web-0").await.unwrap().metadata.uid;
    let patched = api.patch("web-0", &json!({"metadata": {"uid": "forged"}})).await.unwrap();
    assert_eq!(patched.metadata.uid, uid);
}

#[tokio::test]
async fn workload_selectors_are_immutable_in_apps_v1() {
    let store = Arc::new(MemStore::new());
    let template = || orch_core::kinds::pod::PodTemplateSpec {
        metadata: ObjectMeta::default().with_label("app", "web"),
        spec: pod("t").spec,
    };
    let selector = |app: &str| LabelSelector {
        match_labels: [("app".to_string(), app.to_string())].into(),
        ..Default::default()
    };
    let deployments: Api<Deployment> = Api::namespaced(store.clone(), "default");
    let mut d = Deployment { metadata: ObjectMeta::named("web"), ..Default::default() };
    d.spec.selector = selector("web");
    d.spec.template = template();
    let d = deployments.create(&d).await.unwrap();
    let mut moved = d.clone();
    moved.spec.selector = selector("api");
    moved.spec.template.metadata.labels.insert("app".into(), "api".into());
    assert_invalid(deployments.replace(&moved).await, "spec.selector", "field is immutable");
    let mut scaled = d.clone();
    scaled.spec.replicas = Some(5);
    deployments.replace(&scaled).await.unwrap();

    let replica_sets: Api<ReplicaSet> = Api::namespaced(store, "default");
    let mut rs = ReplicaSet { metadata: ObjectMeta::named("web-1"), ..Default::default() };
    rs.spec.selector = selector("web");
    rs.spec.template = template();
    replica_sets.create(&rs).await.unwrap();
    // Another selector that still matches the template: refused all the same.
    let extra = json!({"spec": {"selector": {
        "matchLabels": null,
        "matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}],
    }}});
    assert_invalid(
        replica_sets.patch("web-1", &extra).await,
        "spec.selector",
        "field is immutable",
    );
}

#[tokio::test]
async fn immutable_config_maps_and_secrets_refuse_data_changes() {
    let store = Arc::new(MemStore::new());
    let maps: Api<ConfigMap> = Api::namespaced(store.clone(), "default");
    let mut cm = ConfigMap { metadata: ObjectMeta::named("settings"), ..Default::default() };
    cm.data.insert("mode".into(), "fast".into());
    let cm = maps.create(&cm).await.unwrap();
    // Mutable: data changes, then it is made immutable.
    maps.patch("settings", &json!({"data": {"mode": "slow"}})).await.unwrap();
    maps.patch("settings", &json!({"immutable": true})).await.unwrap();
    let before = snapshot(&store).await;
    let when_set = "field is immutable when `immutable` is set";
    assert_invalid(maps.patch("settings", &json!({"data": {"mode": "x"}})).await, "data", when_set);
    assert_invalid(
        maps.patch("settings", &json!({"binaryData": {"b": "AA=="}})).await,
        "binaryData",
        when_set,
    );
    assert_invalid(
        maps.patch("settings", &json!({"immutable": false})).await,
        "immutable",
        when_set,
    );
    assert_eq!(snapshot(&store).await, before);
    // Its metadata still changes, and it can still be deleted.
    maps.patch("settings", &json!({"metadata": {"labels": {"k": "v"}}})).await.unwrap();
    assert!(maps.delete(&cm.metadata.name, &DeleteParams::default()).await.unwrap().is_deleted());

    let secrets: Api<Secret> = Api::namespaced(store.clone(), "default");
    let mut s = Secret {
        metadata: ObjectMeta::named("token"),
        immutable: Some(true),
        ..Default::default()
    };
    s.string_data.insert("token".into(), "abc".into());
    secrets.create(&s).await.unwrap();
    let change = json!({"stringData": {"token": "def"}});
    assert_invalid(secrets.patch("token", &change).await, "data", when_set);
    assert_eq!(secrets.get("token").await.unwrap().data["token"].0, b"abc");
}

#[tokio::test]
async fn secret_string_data_is_merged_into_data_and_not_stored() {
    let store = Arc::new(MemStore::new());
    let secrets: Api<Secret> = Api::namespaced(store.clone(), "default");
    let mut s = Secret { metadata: ObjectMeta::named("db"), ..Default::default() };
    s.data.insert("user".into(), orch_core::ByteString(b"admin".to_vec()));
    s.data.insert("password".into(), orch_core::ByteString(b"old".to_vec()));
    s.string_data.insert("password".into(), "s3cret".into());
    let created = secrets.create(&s).await.unwrap();
    assert!(created.string_data.is_empty(), "{:?}", created.string_data);
    assert_eq!(created.data["user"].0, b"admin");
    assert_eq!(created.data["password"].0, b"s3cret", "stringData wins over data");
    let stored = secrets.get("db").await.unwrap();
    assert!(stored.string_data.is_empty());
    assert_eq!(stored.data, created.data);
    // Raw, the store holds no stringData.
    let raw = snapshot(&store).await;
    assert!(raw.iter().all(|(_, v, _)| !String::from_utf8_lossy(v).contains("stringData")));

    // On update too: a merge patch of stringData changes data.
    let patched = secrets.patch("db", &json!({"stringData": {"user": "root"}})).await.unwrap();
    assert_eq!(patched.data["user"].0, b"root");
    assert!(patched.string_data.is_empty());
}
