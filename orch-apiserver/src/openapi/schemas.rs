//! Component schemas: a kind's, generated from its Rust type
//! ([`schemars::JsonSchema`]) in the form Kubernetes' OpenAPI v3 documents
//! use, and the few meta/v1 and autoscaling/v1 schemas every group-version
//! document refers to (lists, `Status`, `DeleteOptions`, `Patch`, `Scale`).

use orch_core::ApiResource;
use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{json, Map, Value};

/// `#/components/schemas/`, the prefix of every `$ref`.
pub const REF_PREFIX: &str = "#/components/schemas/";

/// A kind's schema and every schema it refers to, keyed by component name
/// (`io.k8s.api.apps.v1.Deployment`, `io.k8s.api.core.v1.Container`, …).
/// List fields carry `x-kubernetes-patch-strategy` and
/// `x-kubernetes-patch-merge-key`, which strategic merge patch reads.
#[derive(Clone, Debug)]
pub struct KindSchema {
    /// The kind's own component name.
    pub name: String,
    /// The components, the kind's among them.
    pub components: Map<String, Value>,
}

impl KindSchema {
    /// The schema of `K`, served as `resource` (whose group, version and
    /// kind go in `x-kubernetes-group-version-kind`, as Kubernetes marks its
    /// top-level kinds).
    pub fn of<K: JsonSchema>(resource: &ApiResource) -> Self {
        let mut generator =
            SchemaSettings::openapi3().with(|s| s.meta_schema = None).into_generator();
        let root = generator.subschema_for::<K>();
        let mut components = generator.take_definitions(true);
        let name = root
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix(REF_PREFIX))
            .map(str::to_owned)
            .unwrap_or_else(|| K::schema_name().into_owned());
        if !components.contains_key(&name) {
            components.insert(name.clone(), root.to_value());
        }
        for schema in components.values_mut() {
            kubernetes_form(schema);
        }
        if let Some(Value::Object(kind)) = components.get_mut(&name) {
            kind.insert("x-kubernetes-group-version-kind".into(), gvk(resource));
        }
        KindSchema { name, components }
    }

    /// The schema of a kind whose type has none (an embedder's kind
    /// registered without [`JsonSchema`]): any object, its fields kept, as a
    /// CustomResourceDefinition with `x-kubernetes-preserve-unknown-fields`.
    pub fn opaque(resource: &ApiResource) -> Self {
        let name = component_name(resource, &resource.kind);
        let schema = json!({
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true,
            "x-kubernetes-group-version-kind": gvk(resource),
        });
        KindSchema { name: name.clone(), components: Map::from_iter([(name, schema)]) }
    }
}

/// `io.k8s.api.<group>.<version>.<type>` for a built-in group, the
/// reversed-domain form (`com.example.v1.GameServer`) for others, as
/// Kubernetes names CRD schemas.
pub fn component_name(resource: &ApiResource, type_name: &str) -> String {
    let group = match resource.group.as_str() {
        "" => "core".to_owned(),
        g if !g.contains('.') || g.ends_with(".k8s.io") => {
            g.trim_end_matches(".k8s.io").trim_end_matches(".authorization").to_owned()
        }
        g => return format!("{}.{}.{type_name}", reverse_domain(g), resource.version),
    };
    format!("io.k8s.api.{group}.{}.{type_name}", resource.version)
}

fn reverse_domain(group: &str) -> String {
    group.split('.').rev().collect::<Vec<_>>().join(".")
}

fn gvk(resource: &ApiResource) -> Value {
    json!([{ "group": resource.group, "kind": resource.kind, "version": resource.version }])
}

/// Rewrites a generated schema as Kubernetes writes its own: an optional
/// field is its type, not "its type or null" (`type: ["integer", "null"]`
/// becomes `type: integer`; `anyOf: [{$ref}, {null}]` becomes
/// `allOf: [{$ref}]`), without `nullable`.
fn kubernetes_form(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    map.remove("nullable");
    if let Some(Value::Array(types)) = map.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            map.insert("type".into(), only);
        }
    }
    for key in ["anyOf", "oneOf"] {
        let Some(Value::Array(alternatives)) = map.get_mut(key) else { continue };
        alternatives.retain(|a| !is_null_schema(a));
        if alternatives.len() == 1 {
            let only = alternatives.remove(0);
            map.remove(key);
            match only {
                Value::Object(o) if o.contains_key("$ref") => {
                    map.insert("allOf".into(), Value::Array(vec![Value::Object(o)]));
                }
                Value::Object(o) => {
                    for (k, v) in o {
                        map.entry(k).or_insert(v);
                    }
                }
                other => {
                    map.insert("allOf".into(), Value::Array(vec![other]));
                }
            }
        }
    }
    for value in map.values_mut() {
        match value {
            Value::Object(_) => kubernetes_form(value),
            Value::Array(items) => items.iter_mut().for_each(kubernetes_form),
            _ => {}
        }
    }
}

fn is_null_schema(schema: &Value) -> bool {
    schema.get("type").is_some_and(|t| t == "null")
        || schema.get("enum").is_some_and(|e| e == &json!([null]))
}

/// `<Kind>List`'s schema: `items` of the kind, `metadata` a ListMeta.
pub fn list_schema(resource: &ApiResource, kind_name: &str) -> Value {
    json!({
        "description": format!("A list of {}.", resource.plural),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": { "type": "string" },
            "kind": { "type": "string" },
            "metadata": { "allOf": [{ "$ref": format!("{REF_PREFIX}{LIST_META}") }] },
            "items": { "type": "array", "items": { "$ref": format!("{REF_PREFIX}{kind_name}") } },
        },
        "x-kubernetes-group-version-kind": [{
            "group": resource.group, "kind": format!("{}List", resource.kind), "version": resource.version,
        }],
    })
}

/// meta/v1 `ListMeta`.
pub const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
/// meta/v1 `Status`.
pub const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
/// meta/v1 `DeleteOptions`.
pub const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
/// meta/v1 `Patch`: any JSON document.
pub const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
/// autoscaling/v1 `Scale`.
pub const SCALE: &str = "io.k8s.api.autoscaling.v1.Scale";

/// The schemas every group-version document shares.
pub fn common() -> Map<String, Value> {
    let string = json!({ "type": "string" });
    let mut m = Map::new();
    m.insert(
        LIST_META.into(),
        json!({ "type": "object", "properties": {
            "resourceVersion": string, "continue": string,
            "remainingItemCount": { "type": "integer", "format": "int64" },
        }}),
    );
    m.insert(
        STATUS.into(),
        json!({ "type": "object", "properties": {
            "apiVersion": string, "kind": string, "status": string, "message": string,
            "reason": string, "code": { "type": "integer", "format": "int32" },
            "details": { "type": "object", "x-kubernetes-preserve-unknown-fields": true },
        }}),
    );
    m.insert(
        DELETE_OPTIONS.into(),
        json!({ "type": "object", "properties": {
            "apiVersion": string, "kind": string, "propagationPolicy": string,
            "gracePeriodSeconds": { "type": "integer", "format": "int64" },
            "preconditions": { "type": "object", "properties": {
                "uid": string, "resourceVersion": string,
            }},
            "dryRun": { "type": "array", "items": string },
        }}),
    );
    m.insert(PATCH.into(), json!({ "type": "object" }));
    m.insert(
        SCALE.into(),
        json!({
            "type": "object",
            "properties": {
                "apiVersion": string, "kind": string,
                "metadata": { "type": "object", "x-kubernetes-preserve-unknown-fields": true },
                "spec": { "type": "object", "properties": {
                    "replicas": { "type": "integer", "format": "int32" },
                }},
                "status": { "type": "object", "properties": {
                    "replicas": { "type": "integer", "format": "int32" }, "selector": string,
                }},
            },
            "x-kubernetes-group-version-kind": [
                { "group": "autoscaling", "kind": "Scale", "version": "v1" },
            ],
        }),
    );
    m
}
