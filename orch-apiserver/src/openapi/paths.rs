//! The `paths` of a group-version document: for each resource its
//! collection, object and subresource paths, with the operations the
//! server answers, the query parameters it reads (`fieldValidation`,
//! `fieldManager`, `dryRun` on writes; selectors, `limit`, `continue`,
//! `resourceVersion`, `watch` on lists) and the PATCH content types it
//! takes — `kubectl apply` reads the last two to decide whether the server
//! validates and whether it speaks strategic merge patch.

use serde_json::{json, Map, Value};

use super::schemas::{DELETE_OPTIONS, PATCH, REF_PREFIX, SCALE, STATUS};
use crate::discovery::ResourceInfo;

/// The paths of `info`, whose kind's component schema is `kind_name`;
/// `strategic` if PATCH takes `application/strategic-merge-patch+json`.
pub fn resource_paths(
    info: &ResourceInfo,
    kind_name: &str,
    strategic: bool,
) -> Vec<(String, Value)> {
    let r = &info.resource;
    let prefix = if r.group.is_empty() {
        format!("/api/{}", r.version)
    } else {
        format!("/apis/{}/{}", r.group, r.version)
    };
    let gvk = json!({ "group": r.group, "version": r.version, "kind": r.kind });
    let kind_ref = reference(kind_name);
    let list_ref = reference(&format!("{kind_name}List"));
    let group_version = operation_group_version(info);
    let scope = if r.namespaced { "Namespaced" } else { "" };
    let id = format!("{group_version}{scope}{}", r.kind);
    let op = Ops { gvk: &gvk, kind_ref: &kind_ref, list_ref: &list_ref, strategic, id: &id };
    let (collection, namespace_params) = if r.namespaced {
        (format!("{prefix}/namespaces/{{namespace}}/{}", r.plural), vec![path_param("namespace")])
    } else {
        (format!("{prefix}/{}", r.plural), Vec::new())
    };
    let mut paths = Vec::new();
    let verbs = |v: &str| info.verbs.iter().any(|x| x == v);
    let mut ops = Map::new();
    if verbs("list") {
        ops.insert("get".into(), op.list(id.clone()));
    }
    if verbs("create") {
        ops.insert("post".into(), op.create());
    }
    if verbs("deletecollection") {
        ops.insert("delete".into(), op.delete_collection());
    }
    ops.insert("parameters".into(), Value::Array(namespace_params.clone()));
    paths.push((collection.clone(), Value::Object(ops)));
    if r.namespaced && verbs("list") {
        let all = Map::from_iter([
            ("get".into(), op.list(format!("{group_version}{}ForAllNamespaces", r.kind))),
            ("parameters".into(), json!([])),
        ]);
        paths.push((format!("{prefix}/{}", r.plural), Value::Object(all)));
    }
    let mut object_params = vec![path_param("name")];
    object_params.extend(namespace_params);
    let object = format!("{collection}/{{name}}");
    let object_ops = op.object(&object_params, "", op.kind_ref);
    paths.push((object.clone(), object_ops));
    for sub in &info.subresources {
        let path = format!("{object}/{}", sub.name);
        let value = match sub.name.as_str() {
            "status" => op.object(&object_params, "Status", op.kind_ref),
            "scale" => op.object(&object_params, "Scale", &reference(SCALE)),
            "log" => json!({
                "get": {
                    "operationId": format!("read{}Log", op.id),
                    "parameters": LOG_PARAMS.map(query_param),
                    "responses": { "200": { "content": { "text/plain": { "schema": { "type": "string" } } } } },
                    "x-kubernetes-action": "get",
                    "x-kubernetes-group-version-kind": { "group": "", "version": "v1", "kind": "Pod" },
                },
                "parameters": object_params,
            }),
            _ => json!({
                "post": {
                    "operationId": format!("create{}{}", op.id, capitalized(&sub.name)),
                    "requestBody": { "content": { "application/json": { "schema": { "type": "object" } } } },
                    "responses": { "201": { "content": { "application/json": { "schema": reference(STATUS) } } } },
                    "x-kubernetes-action": "post",
                    "x-kubernetes-group-version-kind": { "group": sub.group, "version": sub.version, "kind": sub.kind },
                },
                "parameters": object_params,
            }),
        };
        paths.push((path, value));
    }
    paths
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("{REF_PREFIX}{name}") })
}

fn path_param(name: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string", "uniqueItems": true } })
}

fn query_param(name: &str) -> Value {
    json!({ "name": name, "in": "query", "schema": { "type": "string", "uniqueItems": true } })
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// `AppsV1`: the group-version part of Kubernetes' operation ids
/// (`readAppsV1NamespacedDeployment`, `listCoreV1PodForAllNamespaces`).
fn operation_group_version(info: &ResourceInfo) -> String {
    let r = &info.resource;
    let group: String =
        r.group.split('.').next().unwrap_or("").split('-').map(capitalized).collect();
    let group = if group.is_empty() { "Core".to_owned() } else { group };
    format!("{group}{}", capitalized(&r.version))
}

/// The operations of one resource.
struct Ops<'a> {
    gvk: &'a Value,
    kind_ref: &'a Value,
    list_ref: &'a Value,
    strategic: bool,
    id: &'a str,
}

const LOG_PARAMS: [&str; 7] =
    ["container", "follow", "previous", "tailLines", "sinceSeconds", "timestamps", "limitBytes"];
const DELETE_PARAMS: [&str; 3] = ["dryRun", "gracePeriodSeconds", "propagationPolicy"];
const WRITE_PARAMS: [&str; 3] = ["dryRun", "fieldManager", "fieldValidation"];
const LIST_PARAMS: [&str; 9] = [
    "allowWatchBookmarks",
    "continue",
    "fieldSelector",
    "labelSelector",
    "limit",
    "resourceVersion",
    "resourceVersionMatch",
    "timeoutSeconds",
    "watch",
];

impl Ops<'_> {
    fn operation(&self, id: String, action: &str, mut op: Value) -> Value {
        op["operationId"] = json!(id);
        op["x-kubernetes-action"] = json!(action);
        op["x-kubernetes-group-version-kind"] = self.gvk.clone();
        op
    }

    fn json_body(schema: &Value) -> Value {
        json!({ "content": { "application/json": { "schema": schema } } })
    }

    fn responses(schema: &Value, codes: &[&str]) -> Value {
        let content = json!({ "content": { "application/json": { "schema": schema } } });
        Value::Object(codes.iter().map(|c| ((*c).to_owned(), content.clone())).collect())
    }

    /// `id`: the operation's name after `list`.
    fn list(&self, id: String) -> Value {
        self.operation(
            format!("list{id}"),
            "list",
            json!({
                "parameters": LIST_PARAMS.map(query_param),
                "responses": Self::responses(self.list_ref, &["200"]),
            }),
        )
    }

    fn create(&self) -> Value {
        self.operation(
            format!("create{}", self.id),
            "post",
            json!({
                "parameters": WRITE_PARAMS.map(query_param),
                "requestBody": Self::json_body(self.kind_ref),
                "responses": Self::responses(self.kind_ref, &["200", "201", "202"]),
            }),
        )
    }

    fn delete_collection(&self) -> Value {
        let mut params: Vec<Value> = LIST_PARAMS.map(query_param).to_vec();
        params.extend(["gracePeriodSeconds", "propagationPolicy"].map(query_param));
        self.operation(
            format!("deletecollection{}", self.id),
            "deletecollection",
            json!({
                "parameters": params,
                "requestBody": Self::json_body(&reference(DELETE_OPTIONS)),
                "responses": Self::responses(&reference(STATUS), &["200"]),
            }),
        )
    }

    /// GET, PUT, PATCH (and DELETE for the object itself: `sub` empty) of
    /// an object or its `sub`resource, whose body is `schema`.
    fn object(&self, params: &[Value], sub: &str, schema: &Value) -> Value {
        let mut patch_types = vec![
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml",
        ];
        if self.strategic {
            patch_types.push("application/strategic-merge-patch+json");
        }
        let patch_body: Map<String, Value> = patch_types
            .into_iter()
            .map(|t| (t.to_owned(), json!({ "schema": reference(PATCH) })))
            .collect();
        let mut patch_params: Vec<Value> = WRITE_PARAMS.map(query_param).to_vec();
        patch_params.push(query_param("force"));
        let mut ops = Map::new();
        ops.insert(
            "get".into(),
            self.operation(
                format!("read{}{sub}", self.id),
                "get",
                json!({ "responses": Self::responses(schema, &["200"]) }),
            ),
        );
        ops.insert(
            "put".into(),
            self.operation(
                format!("replace{}{sub}", self.id),
                "put",
                json!({
                    "parameters": WRITE_PARAMS.map(query_param),
                    "requestBody": Self::json_body(schema),
                    "responses": Self::responses(schema, &["200", "201"]),
                }),
            ),
        );
        ops.insert(
            "patch".into(),
            self.operation(
                format!("patch{}{sub}", self.id),
                "patch",
                json!({
                    "parameters": patch_params,
                    "requestBody": { "content": patch_body },
                    "responses": Self::responses(schema, &["200", "201"]),
                }),
            ),
        );
        if sub.is_empty() {
            ops.insert(
                "delete".into(),
                self.operation(
                    format!("delete{}", self.id),
                    "delete",
                    json!({
                        "parameters": DELETE_PARAMS.map(query_param),
                        "requestBody": Self::json_body(&reference(DELETE_OPTIONS)),
                        "responses": Self::responses(&reference(STATUS), &["200", "202"]),
                    }),
                ),
            );
        }
        ops.insert("parameters".into(), Value::Array(params.to_vec()));
        Value::Object(ops)
    }
}
