use orch_core::{Deployment, Resource};
use serde_json::{json, Value};

use super::*;
use crate::openapi::KindSchema;

fn schema() -> KindSchema {
    KindSchema::of::<Deployment>(&Deployment::api_resource())
}

fn by<'a>(manager: &'a str, force: bool) -> Applier<'a> {
    Applier { manager, force, api_version: "apps/v1", now: "2026-12-08T00:00:00Z" }
}

fn config(replicas: i64, labels: Value, containers: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": labels},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": containers}}}})
}

fn nginx(image: &str) -> Value {
    json!({"name": "nginx", "image": image})
}

fn run(live: Option<&Value>, config: &Value, applier: Applier<'_>) -> Result<Value, ApplyError> {
    let s = schema();
    let schema = SchemaRef { schema: s.components.get(&s.name), components: &s.components };
    apply(live, config, schema, applier)
}

fn managers(obj: &Value) -> Vec<(String, Value)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["manager"].as_str().unwrap().to_owned(), e["fieldsV1"].clone()))
        .collect()
}

#[test]
fn an_applier_owns_the_fields_it_applies() {
    let obj =
        run(None, &config(2, json!({"a": "1"}), json!([nginx("nginx:1.27")])), by("one", false))
            .unwrap();
    let m = managers(&obj);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].0, "one");
    let fields = &m[0].1;
    assert_eq!(fields["f:spec"]["f:replicas"], json!({}));
    assert_eq!(fields["f:metadata"]["f:labels"]["f:a"], json!({}));
    let container =
        &fields["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"];
    assert_eq!(container, &json!({".": {}, "f:name": {}, "f:image": {}}));
    assert!(fields.get("f:apiVersion").is_none() && fields["f:metadata"].get("f:name").is_none());
    assert_eq!(obj["metadata"]["managedFields"][0]["operation"], "Apply");
}

#[test]
fn changing_another_appliers_field_conflicts_unless_forced() {
    let c = config(2, json!({}), json!([nginx("nginx:1.27")]));
    let live = run(None, &c, by("one", false)).unwrap();
    let mut other = config(5, json!({}), json!([nginx("nginx:1.27")]));
    other["spec"].as_object_mut().unwrap().retain(|k, _| k == "replicas");
    let refused = run(Some(&live), &other, by("two", false)).unwrap_err();
    assert_eq!(
        refused,
        ApplyError::Conflicts(vec![Conflict {
            manager: "one".into(),
            field: ".spec.replicas".into()
        }])
    );
    let forced = run(Some(&live), &other, by("two", true)).unwrap();
    assert_eq!(forced["spec"]["replicas"], 5);
    let m = managers(&forced);
    assert!(m[0].1["f:spec"].get("f:replicas").is_none(), "one lost replicas: {m:?}");
    assert_eq!(m[1].0, "two");
    assert_eq!(m[1].1["f:spec"]["f:replicas"], json!({}));

    // The same value is no conflict: both own it.
    let mut same = other.clone();
    same["spec"]["replicas"] = json!(2);
    let shared = run(Some(&live), &same, by("two", false)).unwrap();
    let m = managers(&shared);
    assert_eq!(m[0].1["f:spec"]["f:replicas"], json!({}));
    assert_eq!(m[1].1["f:spec"]["f:replicas"], json!({}));
}

#[test]
fn what_an_applier_stops_applying_is_removed_unless_another_owns_it() {
    let sidecar = json!({"name": "sidecar", "image": "busybox"});
    let first = config(2, json!({"a": "1", "b": "2"}), json!([nginx("nginx:1.27"), sidecar]));
    let live = run(None, &first, by("one", false)).unwrap();
    let mut label_b = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"b": "2"}}});
    label_b["metadata"]["name"] = json!("web");
    let live = run(Some(&live), &label_b, by("two", false)).unwrap();
    let again = config(2, json!({"a": "1"}), json!([nginx("nginx:1.28")]));
    let out = run(Some(&live), &again, by("one", false)).unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"a": "1", "b": "2"}), "two still owns b");
    let containers = &out["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers, &json!([nginx("nginx:1.28")]), "the sidecar is gone");
    let dropped = config(2, json!({}), json!([nginx("nginx:1.28")]));
    let out = run(Some(&out), &dropped, by("one", false)).unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"b": "2"}));
}

#[test]
fn conflicts_render_as_kubernetes_prints_them() {
    let path: Vec<String> = ["f:spec", "f:containers", "k:{\"name\":\"nginx\"}", "f:image"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(render(&path), ".spec.containers[name=\"nginx\"].image");
}

#[test]
fn an_update_owns_what_it_changed_and_an_apply_then_conflicts_with_it() {
    let s = schema();
    let schema = SchemaRef { schema: s.components.get(&s.name), components: &s.components };
    let live = run(None, &config(2, json!({}), json!([nginx("nginx:1.27")])), by("kubectl", false))
        .unwrap();
    let mut scaled = live.clone();
    scaled["spec"]["replicas"] = json!(5);
    record_update(Some(&live), &mut scaled, schema, by("kubectl-scale", false));
    let m = managers(&scaled);
    assert_eq!(m.len(), 2, "{m:?}");
    assert!(m[0].1["f:spec"].get("f:replicas").is_none(), "the applier lost replicas");
    assert_eq!(m[1].0, "kubectl-scale");
    assert_eq!(m[1].1, json!({"f:spec": {"f:replicas": {}}}), "only what changed");
    assert_eq!(scaled["metadata"]["managedFields"][1]["operation"], "Update");

    let reapplied = config(3, json!({}), json!([nginx("nginx:1.27")]));
    let refused = run(Some(&scaled), &reapplied, by("kubectl", false)).unwrap_err();
    assert_eq!(
        refused,
        ApplyError::Conflicts(vec![Conflict {
            manager: "kubectl-scale".into(),
            field: ".spec.replicas".into()
        }])
    );

    let mut created = config(1, json!({"a": "1"}), json!([nginx("nginx")]));
    record_update(None, &mut created, schema, by("kubectl-create", false));
    let m = managers(&created);
    assert_eq!(m[0].1["f:metadata"]["f:labels"]["f:a"], json!({}), "a create owns every field");
}
