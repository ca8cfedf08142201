use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use orch_core::{Deployment, Pod, Resource};
use serde_json::Value;

use super::*;
use crate::discovery::ResourceInfo;

fn served() -> OpenApi {
    let kinds: Vec<(ResourceInfo, Option<KindSchema>)> =
        [Pod::api_resource(), Deployment::api_resource()]
            .iter()
            .map(|r| {
                let info = ResourceInfo::builtin(r);
                let schema = if r.kind == "Pod" {
                    KindSchema::of::<Pod>(r)
                } else {
                    KindSchema::of::<Deployment>(r)
                };
                (info, Some(schema))
            })
            .collect();
    OpenApi::new(&kinds)
}

fn doc(openapi: &OpenApi, path: &str) -> Value {
    serde_json::from_slice(openapi.document(path).expect("a document")).expect("JSON")
}

/// Follows `$ref` and `allOf[0]` as kubectl's patch-metadata lookup does.
fn resolve<'a>(doc: &'a Value, mut schema: &'a Value) -> &'a Value {
    loop {
        if let Some(first) = schema.get("allOf").and_then(|a| a.get(0)) {
            schema = first;
        } else if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let name = r.trim_start_matches(REF_PREFIX);
            schema = &doc["components"]["schemas"][name];
        } else {
            return schema;
        }
    }
}

#[test]
fn the_root_lists_each_group_version_with_its_hash() {
    let openapi = served();
    let root: Value = serde_json::from_slice(&openapi.root.body).unwrap();
    let url = root["paths"]["apis/apps/v1"]["serverRelativeURL"].as_str().unwrap();
    assert!(url.starts_with("/openapi/v3/apis/apps/v1?hash="), "{url}");
    assert_eq!(&url[url.len() - 128..], openapi.documents["apis/apps/v1"].hash);
    assert!(root["paths"]["api/v1"].is_object());
}

#[test]
fn a_deployment_patch_operation_tells_kubectl_what_the_server_does() {
    let d = doc(&served(), "apis/apps/v1");
    let item = &d["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
    let patch = &item["patch"];
    assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Deployment");
    let params: Vec<&str> =
        patch["parameters"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    assert!(params.contains(&"fieldValidation"), "{params:?}");
    assert!(patch["requestBody"]["content"]["application/strategic-merge-patch+json"].is_object());
    assert_eq!(
        item["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/io.k8s.api.apps.v1.Deployment"
    );
    assert!(d["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"]
        .is_object());
    assert!(d["paths"]["/apis/apps/v1/deployments"]["get"].is_object(), "all-namespaces list");
}

#[test]
fn component_schemas_carry_the_patch_extensions_kubectl_reads() {
    let d = doc(&served(), "apis/apps/v1");
    let deployment = &d["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"];
    assert_eq!(deployment["x-kubernetes-group-version-kind"][0]["kind"], "Deployment");
    let spec = resolve(&d, &deployment["properties"]["spec"]);
    let template = resolve(&d, &spec["properties"]["template"]);
    let pod_spec = resolve(&d, &template["properties"]["spec"]);
    let containers = &pod_spec["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    let container = resolve(&d, &containers["items"]);
    assert_eq!(container["properties"]["ports"]["x-kubernetes-patch-merge-key"], "containerPort");
    assert_eq!(spec["properties"]["strategy"]["x-kubernetes-patch-strategy"], "retainKeys");
}

#[test]
fn optional_fields_are_written_as_kubernetes_writes_them() {
    let text = String::from_utf8(served().document("apis/apps/v1").unwrap().to_vec()).unwrap();
    assert!(!text.contains("\"null\""), "no null types");
    assert!(!text.contains("nullable"), "no nullable");
    let d: Value = serde_json::from_str(&text).unwrap();
    let spec = &d["components"]["schemas"]["io.k8s.api.apps.v1.DeploymentSpec"];
    assert_eq!(spec["properties"]["replicas"]["type"], "integer");
    assert!(spec["properties"]["strategy"]["allOf"][0]["$ref"].is_string());
}

#[test]
fn a_kind_without_a_schema_is_an_opaque_object_without_strategic_merge_patch() {
    let mut info = ResourceInfo::builtin(&Pod::api_resource());
    info.resource.group = "example.com".into();
    info.resource.kind = "Widget".into();
    info.resource.plural = "widgets".into();
    let d = doc(&OpenApi::new(&[(info, None)]), "apis/example.com/v1");
    let schema = &d["components"]["schemas"]["com.example.v1.Widget"];
    assert_eq!(schema["x-kubernetes-preserve-unknown-fields"], true);
    let patch = &d["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"];
    assert!(patch["requestBody"]["content"]["application/merge-patch+json"].is_object());
    assert!(patch["requestBody"]["content"]
        .get("application/strategic-merge-patch+json")
        .is_none());
}

#[test]
fn a_matching_etag_gets_a_304() {
    let openapi = served();
    let full = openapi.respond(Some("api/v1"), &HeaderMap::new()).unwrap();
    assert_eq!(full.status(), StatusCode::OK);
    let etag = full.headers()[header::ETAG].clone();
    let mut headers = HeaderMap::new();
    headers.insert(header::IF_NONE_MATCH, etag);
    assert_eq!(
        openapi.respond(Some("api/v1"), &headers).unwrap().status(),
        StatusCode::NOT_MODIFIED
    );
    headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
    assert_eq!(openapi.respond(Some("api/v1"), &headers).unwrap().status(), StatusCode::OK);
    assert_eq!(openapi.respond(Some("apis/nope/v1"), &headers).unwrap_err().code, 404);
}
