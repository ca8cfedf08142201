//! Tests against schemas that schemars really generates (OpenAPI 3 settings) for a
//! Pod/Deployment-like tree, plus hand-written schema shapes.

use std::collections::BTreeMap;

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{apply, PatchError, SchemaRef};

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Pod {
    api_version: String,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metadata: Option<ObjectMeta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    spec: Option<PodSpec>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Deployment {
    api_version: String,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metadata: Option<ObjectMeta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    spec: Option<DeploymentSpec>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct DeploymentSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    replicas: Option<i32>,
    /// How pods are replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-patch-strategy" = "retainKeys"))]
    strategy: Option<DeploymentStrategy>,
    /// The pod template.
    template: PodTemplateSpec,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct DeploymentStrategy {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    type_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rolling_update: Option<BTreeMap<String, String>>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct PodTemplateSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metadata: Option<ObjectMeta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    spec: Option<PodSpec>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ObjectMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-patch-strategy" = "merge"))]
    finalizers: Vec<String>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct PodSpec {
    /// The containers.
    #[schemars(extend("x-kubernetes-patch-strategy" = "merge", "x-kubernetes-patch-merge-key" = "name"))]
    containers: Vec<Container>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend(
        "x-kubernetes-patch-strategy" = "merge,retainKeys",
        "x-kubernetes-patch-merge-key" = "name"
    ))]
    volumes: Option<Vec<Volume>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tolerations: Option<Vec<Toleration>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    security_context: Option<PodSecurityContext>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Container {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-patch-strategy" = "merge", "x-kubernetes-patch-merge-key" = "name"))]
    env: Option<Vec<EnvVar>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend(
        "x-kubernetes-patch-strategy" = "merge",
        "x-kubernetes-patch-merge-key" = "containerPort"
    ))]
    ports: Vec<ContainerPort>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    args: Vec<String>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct EnvVar {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ContainerPort {
    container_port: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    protocol: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Toleration {
    key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct PodSecurityContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    run_as_user: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    run_as_group: Option<i64>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Volume {
    name: String,
    #[serde(flatten)]
    source: VolumeSource,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
enum VolumeSource {
    EmptyDir { medium: Option<String> },
    HostPath { path: String },
}

/// The schema of `T` as an OpenAPI v3 document has it: a `$ref` plus the components.
fn openapi<T: JsonSchema>() -> (Value, Map<String, Value>) {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let root = generator.subschema_for::<T>().to_value();
    (root, generator.take_definitions(true))
}

fn patch_as<T: JsonSchema>(original: &Value, patch: &Value) -> Result<Value, PatchError> {
    let (root, components) = openapi::<T>();
    apply(original, patch, SchemaRef { schema: Some(&root), components: &components })
}

fn deployment(pod_spec: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod_spec}}
    })
}

fn pod_spec_patch(patch: Value) -> Value {
    json!({"spec": {"template": {"spec": patch}}})
}

fn pod(metadata: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": {"containers": []}})
}

#[test]
fn generated_schema_shapes() {
    let (root, components) = openapi::<Deployment>();
    println!("{root:#}\n{:#}", Value::Object(components.clone()));
    assert_eq!(root, json!({"$ref": "#/components/schemas/Deployment"}));
    let pod_spec = &components["PodSpec"]["properties"];
    assert_eq!(pod_spec["containers"]["items"], json!({"$ref": "#/components/schemas/Container"}));
    assert_eq!(pod_spec["containers"]["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(pod_spec["volumes"]["nullable"], true);
    assert_eq!(pod_spec["securityContext"]["anyOf"][1], json!({"enum": [null], "nullable": true}));
    let spec = &components["DeploymentSpec"]["properties"];
    assert_eq!(
        spec["template"]["allOf"],
        json!([{"$ref": "#/components/schemas/PodTemplateSpec"}])
    );
    assert_eq!(spec["strategy"]["x-kubernetes-patch-strategy"], "retainKeys");
    assert!(components["Volume"]["oneOf"].is_array());
}

#[test]
fn kubectl_apply_image_change() {
    let original = deployment(json!({
        "containers": [{"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]
    }));
    let patch = json!({
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "..."}},
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "nginx"}],
            "containers": [{"image": "nginx:1.27", "name": "nginx"}]
        }}}
    });
    let mut expected = deployment(json!({
        "containers": [{"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]
    }));
    expected["metadata"]["annotations"] =
        json!({"kubectl.kubernetes.io/last-applied-configuration": "..."});
    assert_eq!(patch_as::<Deployment>(&original, &patch).unwrap(), expected);
}

#[test]
fn pod_spec_cases() {
    let nginx = json!({"name": "nginx", "image": "nginx:1.25"});
    let sidecar = json!({"name": "sidecar", "image": "busybox"});
    let named = |name: &str| json!({"name": name, "image": name});
    #[rustfmt::skip]
    let cases = [
        ("add a container as kubectl apply does",
         json!({"containers": [nginx]}),
         json!({"$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
                "containers": [sidecar]}),
         json!({"containers": [nginx, sidecar]})),
        // Kubernetes' normalizeElementOrder: a bare patch's new element goes first (the
        // "kubectl patch" docs show the added redis container before nginx).
        ("add a container with a bare patch",
         json!({"containers": [nginx]}),
         json!({"containers": [sidecar]}),
         json!({"containers": [sidecar, nginx]})),
        ("delete a container",
         json!({"containers": [nginx, sidecar]}),
         json!({"$setElementOrder/containers": [{"name": "nginx"}],
                "containers": [{"$patch": "delete", "name": "sidecar"}]}),
         json!({"containers": [nginx]})),
        ("replace the container list",
         json!({"containers": [nginx, sidecar]}),
         json!({"containers": [{"$patch": "replace"}, {"name": "only", "env": [{"name": "A"}]}]}),
         json!({"containers": [{"name": "only", "env": [{"name": "A"}]}]})),
        ("env merged by name",
         json!({"containers": [{"name": "app", "env": [{"name": "A", "value": "1"},
                                                       {"name": "B", "value": "2"}]}]}),
         json!({"containers": [{"name": "app", "env": [{"name": "B", "value": "3"},
                                                       {"name": "C", "value": "4"}]}]}),
         json!({"containers": [{"name": "app", "env": [{"name": "A", "value": "1"},
                                                       {"name": "B", "value": "3"},
                                                       {"name": "C", "value": "4"}]}]})),
        ("ports merged by the integer containerPort",
         json!({"containers": [{"name": "app", "ports": [{"containerPort": 80, "protocol": "TCP"},
                                                         {"containerPort": 443}]}]}),
         json!({"containers": [{"name": "app", "ports": [{"containerPort": 80, "name": "http"},
                                                         {"$patch": "delete", "containerPort": 443.0}]}]}),
         json!({"containers": [{"name": "app", "ports": [{"containerPort": 80, "protocol": "TCP",
                                                          "name": "http"}]}]})),
        ("args replaced",
         json!({"containers": [{"name": "app", "args": ["a", "b"]}]}),
         json!({"containers": [{"name": "app", "args": ["c"]}]}),
         json!({"containers": [{"name": "app", "args": ["c"]}]})),
        ("tolerations replaced; $setElementOrder ignored on a list without merge strategy",
         json!({"containers": [], "tolerations": [{"key": "a"}, {"key": "b"}]}),
         json!({"tolerations": [{"key": "c"}], "$setElementOrder/tolerations": [{"key": "c"}]}),
         json!({"containers": [], "tolerations": [{"key": "c"}]})),
        // Kubernetes' "set elements order in a list with server-only items 2/3".
        ("$setElementOrder keeps server-only elements in place",
         json!({"containers": [named("a"), named("b"), named("injected"), named("c"), named("d")]}),
         json!({"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}, {"name": "d"},
                                                {"name": "c"}]}),
         json!({"containers": [named("b"), named("a"), named("injected"), named("d"), named("c")]})),
        ("$setElementOrder with a change and several server-only elements",
         json!({"containers": [named("a"), named("b"), named("x"), named("y"), named("c")]}),
         json!({"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}, {"name": "c"}],
                "containers": [{"name": "a", "image": "new"}]}),
         json!({"containers": [named("b"), {"name": "a", "image": "new"}, named("x"), named("y"),
                               named("c")]})),
        // Kubernetes' "preserve the order from the patch in a merging list 2".
        ("bare patch keeps the patch's order",
         json!({"containers": [named("1"), named("2"), named("3")]}),
         json!({"containers": [{"name": "3", "image": "c"}, {"name": "1", "image": "a"}]}),
         json!({"containers": [named("2"), {"name": "3", "image": "c"},
                               {"name": "1", "image": "a"}]})),
        ("$retainKeys switches a volume from emptyDir to hostPath",
         json!({"containers": [], "volumes": [{"name": "data", "emptyDir": {}},
                                              {"name": "tmp", "emptyDir": {"medium": "Memory"}}]}),
         json!({"$setElementOrder/volumes": [{"name": "data"}, {"name": "tmp"}],
                "volumes": [{"$retainKeys": ["hostPath", "name"], "hostPath": {"path": "/srv"},
                             "name": "data"}]}),
         json!({"containers": [], "volumes": [{"name": "data", "hostPath": {"path": "/srv"}},
                                              {"name": "tmp", "emptyDir": {"medium": "Memory"}}]})),
        ("$patch: replace on a map",
         json!({"containers": [], "securityContext": {"runAsUser": 1, "runAsGroup": 2}}),
         json!({"securityContext": {"$patch": "replace", "runAsUser": 5}}),
         json!({"containers": [], "securityContext": {"runAsUser": 5}})),
        ("$patch: delete on a map",
         json!({"containers": [], "securityContext": {"runAsUser": 1}}),
         json!({"securityContext": {"$patch": "delete"}, "hostNetwork": {"$patch": "delete"}}),
         json!({"containers": []})),
        ("directives are removed from new values",
         json!({"containers": []}),
         json!({"securityContext": {"$patch": "merge", "runAsUser": 1, "runAsGroup": null},
                "containers": [{"name": "n", "env": [{"name": "A", "$patch": "delete"}],
                                "$setElementOrder/env": []}]}),
         json!({"containers": [{"name": "n", "env": []}], "securityContext": {"runAsUser": 1}})),
        ("unknown fields behave as JSON merge patch",
         json!({"containers": [], "extra": {"list": [1, 2], "keep": true, "drop": 1}}),
         json!({"extra": {"list": [3], "drop": null, "new": {"x": null, "y": [null]}}}),
         json!({"containers": [], "extra": {"list": [3], "keep": true, "new": {"y": [null]}}})),
    ];
    for (name, original, patch, expected) in cases {
        let result = patch_as::<Deployment>(&deployment(original), &pod_spec_patch(patch));
        assert_eq!(result, Ok(deployment(expected)), "{name}");
    }
}

#[test]
fn metadata_cases() {
    #[rustfmt::skip]
    let cases = [
        ("labels merged, null deletes",
         json!({"name": "p", "labels": {"app": "web", "tier": "fe"}}),
         json!({"labels": {"tier": null, "env": "prod"}}),
         json!({"name": "p", "labels": {"app": "web", "env": "prod"}})),
        ("labels replaced with $patch: replace",
         json!({"name": "p", "labels": {"app": "web"}}),
         json!({"labels": {"$patch": "replace", "only": "1"}}),
         json!({"name": "p", "labels": {"only": "1"}})),
        ("finalizers united, $deleteFromPrimitiveList removes",
         json!({"finalizers": ["a", "b"]}),
         json!({"finalizers": ["b", "c"], "$deleteFromPrimitiveList/finalizers": ["a"]}),
         json!({"finalizers": ["b", "c"]})),
        ("finalizer added as kubectl apply does",
         json!({"finalizers": ["a", "b"]}),
         json!({"$setElementOrder/finalizers": ["a", "b", "c"], "finalizers": ["c"]}),
         json!({"finalizers": ["a", "b", "c"]})),
        ("finalizer added by a bare patch goes first, as in Kubernetes",
         json!({"finalizers": ["a", "b"]}),
         json!({"finalizers": ["c", "a"]}),
         json!({"finalizers": ["c", "a", "b"]})),
        // Kubernetes' "add an item in a list of primitives and preserve order".
        ("$setElementOrder on primitives keeps server-only values in place",
         json!({"finalizers": ["x", "server", "y"]}),
         json!({"$setElementOrder/finalizers": ["new", "x", "y"], "finalizers": ["new"]}),
         json!({"finalizers": ["new", "x", "server", "y"]})),
        ("kubectl apply removing a finalizer",
         json!({"finalizers": ["a", "b", "c"]}),
         json!({"$setElementOrder/finalizers": ["c", "a"],
                "$deleteFromPrimitiveList/finalizers": ["b"]}),
         json!({"finalizers": ["c", "a"]})),
        ("$deleteFromPrimitiveList without the list in the patch",
         json!({"finalizers": ["a", "b", "c"]}),
         json!({"$deleteFromPrimitiveList/finalizers": ["b", "z"]}),
         json!({"finalizers": ["a", "c"]})),
    ];
    for (name, original, patch, expected) in cases {
        let result = patch_as::<Pod>(&pod(original), &json!({"metadata": patch}));
        assert_eq!(result, Ok(pod(expected)), "{name}");
    }
}

#[test]
fn retain_keys_on_deployment_strategy() {
    let mut original = deployment(json!({"containers": []}));
    original["spec"]["strategy"] =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}});
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
    let mut expected = original.clone();
    expected["spec"]["strategy"] = json!({"type": "Recreate"});
    assert_eq!(patch_as::<Deployment>(&original, &patch), Ok(expected));
}

#[test]
fn errors() {
    let original = deployment(json!({"containers": [{"name": "nginx"}],
                                     "volumes": [{"name": "data", "emptyDir": {}}]}));
    #[rustfmt::skip]
    let cases = [
        (pod_spec_patch(json!({"containers": [{"name": "nginx"}, {"image": "x"}]})),
         "spec.template.spec.containers[1]", "does not contain declared merge key: name"),
        (pod_spec_patch(json!({"containers": [{"name": "nginx", "env": [{"value": "1"}]}]})),
         "spec.template.spec.containers[0].env[0]", "does not contain declared merge key: name"),
        (pod_spec_patch(json!({"containers": [{"$patch": "delete"}]})),
         "spec.template.spec.containers[0]", "does not contain declared merge key: name"),
        (pod_spec_patch(json!({"containers": ["nginx"]})),
         "spec.template.spec.containers[0]", "an element of a merged list must be an object"),
        (pod_spec_patch(json!({"containers": [{"$patch": "drop", "name": "nginx"}]})),
         "spec.template.spec.containers[0].$patch", "unknown patch directive \"drop\""),
        (json!({"spec": {"$patch": "remove"}}),
         "spec.$patch", "unknown patch directive \"remove\""),
        (pod_spec_patch(json!({"volumes": [{"name": "data", "$retainKeys": ["name", 1]}]})),
         "spec.template.spec.volumes[0].$retainKeys", "must be a list of strings"),
        (pod_spec_patch(json!({"volumes": [{"name": "data", "$retainKeys": ["name"],
                                            "hostPath": {"path": "/"}}]})),
         "spec.template.spec.volumes[0].$retainKeys", "does not list the patched field \"hostPath\""),
        (pod_spec_patch(json!({"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                               "containers": [{"name": "b"}, {"name": "a"}]})),
         "spec.template.spec.$setElementOrder/containers", "does not match the order of the patch list"),
        (pod_spec_patch(json!({"$setElementOrder/containers": [{"image": "a"}]})),
         "spec.template.spec.$setElementOrder/containers[0]",
         "does not contain declared merge key: name"),
        (json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}),
         "metadata.$deleteFromPrimitiveList/finalizers", "must be a list"),
        (json!({"metadata": {"finalizers": [{"name": "a"}]}}),
         "metadata.finalizers[0]", "cannot merge a list of objects without a merge key"),
        (json!([{"op": "add"}]), "", "patch must be a JSON object"),
        (json!("spec"), "", "patch must be a JSON object"),
    ];
    for (patch, path, message) in cases {
        let error = patch_as::<Deployment>(&original, &patch).unwrap_err();
        assert_eq!(error, PatchError { path: path.into(), message: message.into() }, "{patch}");
    }
}

#[test]
fn error_display() {
    let error = PatchError { path: "spec.containers[1]".into(), message: "bad".into() };
    assert_eq!(error.to_string(), "spec.containers[1]: bad");
    let error = PatchError { path: String::new(), message: "patch must be a JSON object".into() };
    assert_eq!(error.to_string(), "patch must be a JSON object");
}

#[test]
fn original_is_not_modified() {
    let original = deployment(json!({"containers": [{"name": "nginx", "image": "a"}]}));
    let before = original.clone();
    let patch = pod_spec_patch(json!({"containers": [{"name": "nginx", "image": "b"}]}));
    let result = patch_as::<Deployment>(&original, &patch).unwrap();
    assert_eq!(original, before);
    assert_eq!(result["spec"]["template"]["spec"]["containers"][0]["image"], "b");
}

#[test]
fn delete_at_the_root_and_non_object_original() {
    let original = deployment(json!({"containers": []}));
    assert_eq!(patch_as::<Deployment>(&original, &json!({"$patch": "delete"})), Ok(json!({})));
    let result = patch_as::<Deployment>(&Value::Null, &json!({"kind": "Deployment"}));
    assert_eq!(result, Ok(json!({"kind": "Deployment"})));
}

#[test]
fn without_schema_lists_replace() {
    let components = Map::new();
    let original = deployment(json!({"containers": [{"name": "a"}], "volumes": [{"name": "v"}]}));
    let patch = pod_spec_patch(json!({"containers": [{"name": "b"}], "volumes": null}));
    let result = apply(&original, &patch, SchemaRef { schema: None, components: &components });
    assert_eq!(result, Ok(deployment(json!({"containers": [{"name": "b"}]}))));
}

#[test]
fn hand_written_schema_shapes() {
    let components = json!({
        "Obj": {"type": "object", "properties": {
            "nullableList": {"type": ["array", "null"], "items": {"$ref": "#/components/schemas/Item"},
                             "x-kubernetes-patch-strategy": "merge",
                             "x-kubernetes-patch-merge-key": "id"},
            "refWithSiblings": {"$ref": "#/components/schemas/ItemList", "description": "d",
                                "x-kubernetes-patch-strategy": "merge",
                                "x-kubernetes-patch-merge-key": "id"},
            "byName": {"type": "object",
                       "additionalProperties": {"$ref": "#/components/schemas/Holder"}},
            "pointer": {"$ref": "#/components/schemas/Holder/properties/entries"},
            "cycle": {"$ref": "#/components/schemas/Cycle"},
            "junk": {"properties": 5, "items": true, "$ref": 7, "allOf": "x", "oneOf": [true]},
            "elsewhere": {"$ref": "#/definitions/Item", "x-kubernetes-patch-strategy": 1}
        }},
        "ItemList": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}},
        "Item": {"type": "object", "properties": {
            "id": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"},
                     "x-kubernetes-patch-strategy": "merge"}
        }},
        "Holder": {"type": "object", "properties": {"entries": {
            "nullable": true, "type": "array", "items": {"$ref": "#/components/schemas/Item"},
            "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "id"
        }}},
        "Cycle": {"$ref": "#/components/schemas/Cycle",
                  "allOf": [{"$ref": "#/components/schemas/Cycle"},
                            {"$ref": "#/components/schemas/Cycle"}]}
    });
    let components = components.as_object().unwrap();
    let root = json!({"$ref": "#/components/schemas/Obj"});
    let item = |id: i64, extra: Value| {
        let mut item = json!({"id": id});
        item.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        item
    };
    let original = json!({
        "nullableList": [item(1, json!({"tags": ["a"]}))],
        "refWithSiblings": [item(1, json!({"v": 1}))],
        "byName": {"k": {"entries": [item(1, json!({"v": 1}))]}},
        "pointer": [item(1, json!({"v": 1}))],
        "cycle": {"l": [1]},
        "junk": {"l": [1]},
        "elsewhere": [item(1, json!({}))]
    });
    let patch = json!({
        "nullableList": [item(1, json!({"tags": ["a", "b"]}))],
        "refWithSiblings": [item(1, json!({"w": 2}))],
        "byName": {"k": {"entries": [item(1, json!({"w": 2}))]}},
        "pointer": [item(1, json!({"w": 2}))],
        "cycle": {"l": [2]},
        "junk": {"l": [2]},
        "elsewhere": [item(2, json!({}))]
    });
    let expected = json!({
        "nullableList": [item(1, json!({"tags": ["a", "b"]}))],
        "refWithSiblings": [item(1, json!({"v": 1, "w": 2}))],
        "byName": {"k": {"entries": [item(1, json!({"v": 1, "w": 2}))]}},
        "pointer": [item(1, json!({"v": 1, "w": 2}))],
        "cycle": {"l": [2]},
        "junk": {"l": [2]},
        "elsewhere": [item(2, json!({}))]
    });
    let result = apply(&original, &patch, SchemaRef { schema: Some(&root), components });
    assert_eq!(result, Ok(expected));
}
