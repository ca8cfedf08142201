//! Discovery (a stand-in with the agreed API; the full module is being
//! written on its own branch).

use orch_core::ApiResource;
use serde_json::{json, Value};

/// One resource the server serves, as discovery describes it.
#[derive(Clone, Debug)]
pub struct ResourceInfo {
    pub resource: ApiResource,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub verbs: Vec<String>,
    pub subresources: Vec<SubresourceInfo>,
}

/// A subresource.
#[derive(Clone, Debug)]
pub struct SubresourceInfo {
    pub name: String,
    pub kind: String,
    pub group: String,
    pub version: String,
    pub verbs: Vec<String>,
}

impl ResourceInfo {
    /// The description of a kind.
    pub fn builtin(resource: &ApiResource) -> ResourceInfo {
        ResourceInfo {
            resource: resource.clone(),
            singular: resource.kind.to_lowercase(),
            short_names: Vec::new(),
            categories: Vec::new(),
            verbs: Vec::new(),
            subresources: Vec::new(),
        }
    }
}

/// Aggregated discovery v2's content type.
pub const AGGREGATED_V2: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// The aggregated content type to answer with, if asked for.
pub fn wants_aggregated(_accept: &str) -> Option<&'static str> {
    None
}

/// `GET /version`.
pub fn version() -> Value {
    json!({"major": "1", "minor": "32", "gitVersion": "v1.32.0"})
}

/// Aggregated `/api`.
pub fn aggregated_api(_resources: &[ResourceInfo]) -> Value {
    json!({})
}

/// Aggregated `/apis`.
pub fn aggregated_apis(_resources: &[ResourceInfo]) -> Value {
    json!({})
}

/// Legacy `/api`.
pub fn legacy_api_versions(_server_address: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"]})
}

/// Legacy `/apis`.
pub fn legacy_group_list(_resources: &[ResourceInfo]) -> Value {
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
}

/// Legacy `/apis/<g>`.
pub fn legacy_group(_resources: &[ResourceInfo], _group: &str) -> Option<Value> {
    None
}

/// Legacy `/api/v1`, `/apis/<g>/<v>`.
pub fn resource_list(_resources: &[ResourceInfo], _group: &str, _version: &str) -> Option<Value> {
    None
}
